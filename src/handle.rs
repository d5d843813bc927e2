//! The engine's shared state (what the loops, the acceptor and handles all
//! read) and [`EngineHandle`], the way any thread controls a running engine.

use std::any::{Any, TypeId};
use std::cell::Cell;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use std::os::fd::{AsFd, OwnedFd};

pub use self::listener_stats::ListenerStats;
use crate::addr::{Address, Origin};
use crate::deadline;
use crate::drain::DrainState;
use crate::error::{Error, Result};
use crate::listeners::Listeners;
use crate::mailbox::{DialRequest, Incoming, Mailbox, Task};
use crate::stats::{LoopCounters, Stats};
use crate::sys;

thread_local! {
    /// The engine this thread serves (the address of its shared state; 0:
    /// none), so `stop` can tell its own threads from any other engine's.
    static SERVING: Cell<usize> = const { Cell::new(0) };
}

/// Marks the current thread as one of `shared`'s until the guard drops
/// (engine threads keep theirs for life; `on_boot`'s caller only during it).
pub(crate) fn serve(shared: &Arc<EngineShared>) -> ServingGuard {
    let previous = SERVING.with(|c| c.replace(Arc::as_ptr(shared) as usize));
    ServingGuard { previous }
}

/// Restores the thread's previous engine when dropped.
#[derive(Debug)]
pub(crate) struct ServingGuard {
    previous: usize,
}

impl Drop for ServingGuard {
    fn drop(&mut self) {
        SERVING.with(|c| c.set(self.previous));
    }
}

/// Where a dialed connection goes, which service serves it and what state
/// it starts with: for [`EngineHandle::dial_with`].
#[derive(Debug, Default)]
pub struct DialOptions {
    event_loop: Option<usize>,
    service: Option<String>,
    state: Option<(Box<dyn Any + Send>, &'static str)>,
    /// A TLS dial (`DialOptions::tls`).
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::tls::ClientStart>,
}

impl DialOptions {
    /// The balancer picks the loop; the engine's first service; its
    /// state's `Default`. Any thread.
    ///
    /// See the example on [`EngineHandle::dial_with`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Connect on loop `i` (for a proxy: the inbound connection's own loop,
    /// `conn.id().event_loop()`, so the pair never crosses threads).
    ///
    /// See the example on [`EngineHandle::dial_with`].
    pub fn on_loop(mut self, i: usize) -> Self {
        self.event_loop = Some(i);
        self
    }

    /// The connection's state from the start (instead of its `Default`):
    /// it must be the serving service's [`Service::State`](crate::Service::State)
    /// type, which `dial_with` checks before anything is sent.
    ///
    /// See the example on [`EngineHandle::dial_with`].
    pub fn state<T: Any + Send>(mut self, value: T) -> Self {
        self.state = Some((Box::new(value), std::any::type_name::<T>()));
        self
    }

    /// The bound service ([`Bind`](crate::Bind)) named `name` serves the
    /// connection (default: the first bound).
    ///
    /// See the example on [`Bind::dialing`](crate::Bind::dialing).
    pub fn service(mut self, name: impl Into<String>) -> Self {
        self.service = Some(name.into());
        self
    }
}

/// What a service's connections are made with: its name and state type, so
/// a dial is checked on the caller's thread.
#[derive(Debug, Clone)]
pub(crate) struct ServiceInfo {
    pub(crate) name: String,
    pub(crate) state: TypeId,
    pub(crate) state_name: &'static str,
    /// `size_of` the state: it is made on a loop's stack (`loop_stack_bytes`).
    pub(crate) state_size: usize,
}

/// A connected socket [`EngineHandle::enroll`] can adopt:
/// `std::net::TcpStream` or `std::os::unix::net::UnixStream`.
///
/// Any thread. See the example on [`EngineHandle::enroll`].
pub trait Enroll: sealed::Sealed {
    /// The descriptor, the peer's IP address and whether it is TCP.
    #[doc(hidden)]
    fn into_parts(self) -> std::io::Result<(OwnedFd, Option<SocketAddr>, bool)>;
}

mod drain;
mod hand_off;
mod listener_stats;
#[cfg(feature = "tls")]
mod tls;

mod sealed {
    pub trait Sealed {}
    impl Sealed for std::net::TcpStream {}
    impl Sealed for std::os::unix::net::UnixStream {}
}

impl Enroll for std::net::TcpStream {
    fn into_parts(self) -> std::io::Result<(OwnedFd, Option<SocketAddr>, bool)> {
        let peer = self.peer_addr().ok();
        Ok((self.into(), peer, true))
    }
}

impl Enroll for std::os::unix::net::UnixStream {
    fn into_parts(self) -> std::io::Result<(OwnedFd, Option<SocketAddr>, bool)> {
        Ok((self.into(), None, false))
    }
}

/// Per-loop state other threads may read.
#[derive(Debug)]
pub(crate) struct LoopShared {
    pub(crate) mailbox: Arc<Mailbox>,
    /// Connections this loop owns or has been handed.
    conns: AtomicUsize,
    /// Shared with the loop itself, which keeps its own handle on them.
    pub(crate) counters: Arc<LoopCounters>,
    /// The bytes this loop's biggest holder of a partial inbound message
    /// holds (kept by the loop), so a loop over the engine-wide inbound
    /// budget can ask the loop with the biggest holder to shed it.
    pub(crate) largest_held: AtomicUsize,
}

impl LoopShared {
    pub(crate) fn new(mailbox: Mailbox) -> Self {
        LoopShared {
            mailbox: Arc::new(mailbox),
            conns: AtomicUsize::new(0),
            counters: Arc::default(),
            largest_held: AtomicUsize::new(0),
        }
    }
}

impl LoopShared {
    pub(crate) fn connections(&self) -> usize {
        self.conns.load(Ordering::Relaxed)
    }

    pub(crate) fn add_connection(&self) {
        self.conns.fetch_add(1, Ordering::Relaxed);
    }

    /// The loop died with its connections (their descriptors closed as it
    /// unwound): they are gone.
    pub(crate) fn forget_connections(&self) {
        self.conns.store(0, Ordering::Relaxed);
    }

    pub(crate) fn remove_connection(&self) {
        self.conns.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Debug)]
pub(crate) struct EngineShared {
    pub(crate) loops: Vec<LoopShared>,
    local_addrs: Vec<Address>,
    /// Each listener's counters, in `local_addrs` order.
    listener_counts: Vec<listener_stats::ListenerCounters>,
    pub(crate) coordinator: Mailbox,
    shutdown_deadline: Duration,
    /// Connections refused by `max_connections`.
    pub(crate) rejected: AtomicU64,
    /// Bytes all connections hold in partial inbound messages.
    pub(crate) inbound_held: AtomicUsize,
    join: Mutex<Option<JoinHandle<()>>>,
    done: Mutex<bool>,
    done_cv: Condvar,
    /// Why an engine thread ended unexpectedly, if one did.
    failure: Mutex<Option<String>>,
    /// The listening sockets, for `hand_off_listeners`.
    pub(crate) listeners: Listeners,
    /// The services, by number (`Bind` order; one for `start`).
    pub(crate) services: Vec<ServiceInfo>,
    /// Each listener's TLS config (`reload_tls` swaps one).
    #[cfg(feature = "tls")]
    pub(crate) tls_servers: crate::tls::ServerConfigs,
    pub(crate) drain: DrainState,
}

impl EngineShared {
    pub(crate) fn new(
        loops: Vec<LoopShared>,
        local_addrs: Vec<Address>,
        coordinator: Mailbox,
        shutdown_deadline: Duration,
        services: Vec<ServiceInfo>,
    ) -> Self {
        EngineShared {
            loops,
            listener_counts: local_addrs.iter().map(|_| Default::default()).collect(),
            local_addrs,
            coordinator,
            shutdown_deadline,
            rejected: AtomicU64::new(0),
            inbound_held: AtomicUsize::new(0),
            join: Mutex::new(None),
            done: Mutex::new(false),
            done_cv: Condvar::new(),
            failure: Mutex::new(None),
            listeners: Listeners::default(),
            services,
            #[cfg(feature = "tls")]
            tls_servers: crate::tls::ServerConfigs::default(),
            drain: DrainState::default(),
        }
    }

    /// The service a dial names (by number) and its state, checked against
    /// that service's state type.
    fn check_dial(
        &self,
        name: Option<&str>,
        state: Option<(Box<dyn Any + Send>, &'static str)>,
    ) -> Result<(usize, Option<Box<dyn Any + Send>>)> {
        let service = match name {
            None => 0,
            Some(name) => self.services.iter().position(|s| s.name == name).ok_or_else(|| {
                let names: Vec<&str> = self.services.iter().map(|s| s.name.as_str()).collect();
                Error::InvalidConfig(format!(
                    "dial_with: no service named {name:?} (the engine has {names:?})"
                ))
            })?,
        };
        let Some((state, type_name)) = state else {
            return Ok((service, None));
        };
        match self.services.get(service) {
            Some(s) if s.state != (*state).type_id() => Err(Error::InvalidConfig(format!(
                "dial_with: the state is a {type_name}, but service {:?} keeps a {}",
                s.name, s.state_name
            ))),
            _ => Ok((service, Some(state))),
        }
    }

    /// Hands over the coordinator thread, which `EngineHandle::wait` joins.
    pub(crate) fn set_coordinator_thread(&self, t: JoinHandle<()>) {
        *self.join.lock().unwrap_or_else(|e| e.into_inner()) = Some(t);
    }

    /// Asks the coordinator to stop the engine; returns at once.
    pub(crate) fn request_stop(&self, deadline: Duration) {
        let _ = self
            .coordinator
            .post(Task::Stop(deadline::after(Instant::now(), deadline)));
    }

    pub(crate) fn connection_count(&self) -> usize {
        self.loops.iter().map(LoopShared::connections).sum()
    }

    pub(crate) fn shutdown_deadline(&self) -> Duration {
        self.shutdown_deadline
    }

    /// An engine thread ended unexpectedly: record why (the first reason
    /// wins), log it, and stop the whole engine rather than limp on.
    pub(crate) fn fail(&self, why: String) {
        log::error!("netreactor: {why}; stopping the engine");
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(why);
        self.request_stop(self.shutdown_deadline);
    }

    pub(crate) fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Called by the coordinator as its very last act.
    pub(crate) fn mark_done(&self) {
        *self.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.done_cv.notify_all();
    }
}

/// Controls a running engine from any thread: `Send + Sync`, cheap to clone.
///
/// Any thread ([`wait`](EngineHandle::wait) excepted on the engine's own).
///
/// # Examples
///
/// ```
/// use netreactor::{Engine, EventHandler};
///
/// struct Nothing;
/// impl EventHandler for Nothing {}
///
/// let engine = Engine::builder().event_loops(1).start(Nothing, "tcp://127.0.0.1:0")?;
/// let remote = engine.clone();
/// std::thread::spawn(move || remote.stop()).join().unwrap();
/// assert!(engine.is_stopped()); // every clone controls the same engine
/// # Ok::<(), netreactor::Error>(())
/// ```
#[derive(Clone)]
pub struct EngineHandle {
    pub(crate) shared: Arc<EngineShared>,
}

impl fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineHandle")
            .field("local_addrs", &self.shared.local_addrs)
            .field("loops", &self.shared.loops.len())
            .field("connections", &self.connection_count())
            .finish()
    }
}

impl EngineHandle {
    pub(crate) fn from_shared(shared: Arc<EngineShared>) -> Self {
        EngineHandle { shared }
    }

    /// Stops gracefully with the builder's shutdown deadline: stop accepting,
    /// `on_shutdown`, flush and close every connection (`on_close` once
    /// each), join every thread. Blocks until done, except when called on
    /// one of the engine's own threads, where it only requests the stop.
    /// Stopping a stopped engine does nothing.
    ///
    /// Any thread (from a callback it only asks, as [`Action::Shutdown`](crate::Action::Shutdown) does).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// use std::io::Read;
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// struct Greet;
    /// impl EventHandler for Greet {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         conn.write(b"hi");
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(1).start(Greet, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// client.read_exact(&mut [0; 2])?;
    /// engine.stop(); // returns once everything has stopped
    /// assert!(engine.is_stopped());
    /// assert_eq!(client.read(&mut [0; 1])?, 0); // the connection was closed
    /// assert_eq!(engine.stats().closed_shutdown, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stop(&self) {
        self.stop_with_deadline(self.shared.shutdown_deadline);
    }

    /// As [`stop`](EngineHandle::stop), letting connections flush for at
    /// most `deadline` before they are closed regardless (output still
    /// queued then is dropped, and they close with
    /// [`CloseReason::LingerTimeout`](crate::CloseReason::LingerTimeout)).
    ///
    /// Any thread (from a callback it only asks).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use std::time::{Duration, Instant};
    /// use netreactor::{Action, CloseReason, Conn, Engine, EventHandler};
    ///
    /// /// Sends more than a client that never reads can take.
    /// struct Flood(mpsc::Sender<CloseReason>);
    /// impl EventHandler for Flood {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         conn.write_bytes(vec![0u8; 16 << 20]);
    ///         Action::Continue
    ///     }
    ///     fn on_close(&self, _conn: &mut Conn, reason: CloseReason) {
    ///         let _ = self.0.send(reason);
    ///     }
    /// }
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let engine = Engine::builder().event_loops(1).start(Flood(tx), "tcp://127.0.0.1:0")?;
    /// let _client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # let deadline = Instant::now() + Duration::from_secs(10);
    /// # while engine.stats().accepted == 0 && Instant::now() < deadline {
    /// #     std::thread::yield_now();
    /// # }
    /// let started = Instant::now();
    /// engine.stop_with_deadline(Duration::from_millis(20));
    /// assert!(started.elapsed() < Duration::from_secs(4)); // not the 5 s default
    /// assert_eq!(rx.recv_timeout(Duration::from_secs(10))?, CloseReason::LingerTimeout);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stop_with_deadline(&self, deadline: Duration) {
        self.request_stop(deadline);
        let own_thread = SERVING.with(Cell::get) == Arc::as_ptr(&self.shared) as usize;
        if !own_thread {
            // A failure is reported by `wait` and `run`; `stop` only ends it.
            let _ = self.wait();
        }
    }

    pub(crate) fn request_stop(&self, deadline: Duration) {
        self.shared.request_stop(deadline);
    }

    /// Blocks until the engine has stopped and all its threads have ended.
    ///
    /// Any thread but the engine's own (in a callback it would wait for
    /// itself, forever).
    ///
    /// # Errors
    /// [`Error::EngineFailed`] when the engine stopped because one of its
    /// threads ended unexpectedly (it names the thread and the panic).
    ///
    /// # Examples
    ///
    /// ```
    /// use netreactor::{Action, Engine, EngineHandle, EventHandler};
    ///
    /// /// Stops the engine as soon as it has started.
    /// struct Once;
    /// impl EventHandler for Once {
    ///     fn on_boot(&self, engine: &EngineHandle) -> Action {
    ///         engine.stop(); // on the engine's own thread: only asks
    ///         Action::Continue
    ///     }
    /// }
    /// let engine = Engine::builder().start(Once, "tcp://127.0.0.1:0")?;
    /// engine.wait()?;
    /// assert!(engine.is_stopped());
    /// # Ok::<(), netreactor::Error>(())
    /// ```
    pub fn wait(&self) -> Result<()> {
        let join = self.shared.join.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = join {
            if t.join().is_err() {
                self.shared
                    .fail("the coordinator thread (nr-accept) ended by a panic".into());
                self.shared.mark_done();
            }
        }
        let mut done = self.shared.done.lock().unwrap_or_else(|e| e.into_inner());
        while !*done {
            done = self.shared.done_cv.wait(done).unwrap_or_else(|e| e.into_inner());
        }
        drop(done);
        match self.shared.failure() {
            Some(why) => Err(Error::EngineFailed(why)),
            None => Ok(()),
        }
    }

    /// True once the engine has stopped completely.
    ///
    /// Any thread.
    ///
    /// See the example on [`EngineHandle::wait`].
    pub fn is_stopped(&self) -> bool {
        *self.shared.done.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The addresses the engine listens on, in the order given to `start`
    /// (with the real port when bound to port 0). A connection's
    /// [`Origin::Accepted`](crate::Origin::Accepted) indexes this list. Any
    /// thread.
    ///
    /// ```
    /// use netreactor::{Address, Engine, EventHandler};
    /// struct Nothing;
    /// impl EventHandler for Nothing {}
    /// let engine = Engine::builder().start(Nothing, ["tcp://127.0.0.1:0", "unix://@nr-doc-addrs"])?;
    /// assert!(matches!(engine.local_addrs()[0], Address::Tcp(a) if a.port() != 0));
    /// assert_eq!(engine.local_addrs()[1], Address::UnixAbstract(b"nr-doc-addrs".to_vec()));
    /// engine.stop();
    /// # Ok::<(), netreactor::Error>(())
    /// ```
    pub fn local_addrs(&self) -> &[Address] {
        &self.shared.local_addrs
    }

    /// The first TCP address the engine listens on (or, with no TCP
    /// listener, its first UDP address): what a test connects or sends to.
    /// Any thread.
    ///
    /// # Panics
    /// If the engine listens on Unix sockets only (use
    /// [`local_addrs`](EngineHandle::local_addrs)).
    pub fn local_addr(&self) -> SocketAddr {
        let addrs = &self.shared.local_addrs;
        let tcp = addrs.iter().find_map(|a| match a {
            Address::Tcp(a) => Some(*a),
            _ => None,
        });
        tcp.or_else(|| addrs.iter().find_map(Address::socket_addr))
            .expect("EngineHandle::local_addr: the engine has no TCP or UDP listener (see local_addrs)")
    }

    /// Adopts a connected socket made elsewhere (`std::net::TcpStream` or
    /// `std::os::unix::net::UnixStream`): it is made non-blocking and
    /// close-on-exec, the balancer places it on a loop, and it is served as
    /// if accepted: `on_open` on that loop, with
    /// [`Origin::Enrolled`](crate::Origin::Enrolled). Any thread.
    ///
    /// # Errors
    /// [`Error::EngineStopped`] (the socket is closed), or the socket could
    /// not be set up.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::os::unix::net::UnixStream;
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// struct Echo;
    /// impl EventHandler for Echo {
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         conn.echo_all();
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().start(Echo, "tcp://127.0.0.1:0")?;
    /// // A socket pair: one end served by the engine, the other ours.
    /// let (ours, theirs) = UnixStream::pair()?;
    /// engine.enroll(theirs)?;
    /// let mut ours = ours;
    /// ours.write_all(b"adopted")?;
    /// let mut buf = [0; 7];
    /// ours.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"adopted");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn enroll(&self, socket: impl Enroll) -> Result<()> {
        let (fd, peer, tcp) = socket.into_parts()?;
        sys::socket::adopt(fd.as_fd())?;
        let incoming = Incoming {
            fd,
            peer,
            origin: Origin::Enrolled,
        };
        self.shared
            .coordinator
            .post(Task::Enroll(incoming, tcp))
            .map_err(|_| Error::EngineStopped)
    }

    /// Opens a TCP connection to `addr` (`tcp://host:port` or `host:port`)
    /// on a loop the balancer picks, without blocking: success arrives as
    /// `on_open` on that loop (with [`Origin::Dialed`](crate::Origin::Dialed)),
    /// failure as `on_close` with
    /// [`CloseReason::ConnectFailed`](crate::CloseReason::ConnectFailed)
    /// (`ErrorKind::TimedOut` when `timeout` passed first; `on_open` never
    /// runs then). Any thread, callbacks included. A host name is resolved
    /// here, which blocks: inside a callback pass an IP address.
    ///
    /// A dial that returns `Ok` always ends in `on_close`, after `on_open`
    /// if it connected: one made while the engine stops (from `on_shutdown`,
    /// say) is answered by `on_close` with `ConnectFailed`, or `Shutdown`
    /// if the stop found it still connecting, never dropped.
    ///
    /// # Errors
    /// [`Error::InvalidAddress`]; [`Error::Io`] when no socket can be made
    /// for it (out of file descriptors: the socket is made here, so the
    /// caller learns it at once); [`Error::EngineStopped`] once the engine
    /// has stopped. No callback follows an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::time::Duration;
    /// use netreactor::{Action, Conn, Engine, EventHandler, Origin};
    ///
    /// /// Says hello to whoever it dials.
    /// struct Greeter;
    /// impl EventHandler for Greeter {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         if conn.origin() == Origin::Dialed {
    ///             conn.write(b"hello upstream");
    ///         }
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let upstream = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let engine = Engine::builder().start(Greeter, "tcp://127.0.0.1:0")?;
    /// engine.dial(&upstream.local_addr()?.to_string(), Duration::from_secs(5))?;
    /// let (mut conn, _) = upstream.accept()?;
    /// let mut buf = [0; 14];
    /// conn.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"hello upstream");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dial(&self, addr: &str, timeout: Duration) -> Result<()> {
        self.dial_with(addr, timeout, DialOptions::default())
    }

    /// As [`dial`](EngineHandle::dial), with a given loop, service, and
    /// state the connection starts with (to tell in `on_open`, or in
    /// `on_close` when the connect failed, which dial it was). Any thread.
    ///
    /// # Errors
    /// As [`dial`](EngineHandle::dial); [`Error::InvalidConfig`] for a loop
    /// or a service the engine does not have, or a state of another type
    /// than the service's (`Service::State`): checked here, before any
    /// connect, so a wrong type is an error, not a state that is not there.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    /// use netreactor::{Action, CloseReason, Conn, DialOptions, Engine, Error, Service};
    ///
    /// struct Report(mpsc::SyncSender<(u32, String)>);
    /// impl Service for Report {
    ///     type State = u32; // which dial
    ///     fn on_close(&self, _conn: &mut Conn, which: &mut u32, reason: CloseReason) {
    ///         let _ = self.0.send((*which, reason.to_string()));
    ///     }
    /// }
    ///
    /// let (tx, rx) = mpsc::sync_channel(1);
    /// let engine = Engine::builder().event_loops(2).start(Report(tx), "tcp://127.0.0.1:0")?;
    /// // Nobody listens on this port: the connect is refused.
    /// let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    /// let to = closed.to_string();
    /// engine.dial_with(&to, Duration::from_secs(5), DialOptions::new().on_loop(1).state(7u32))?;
    /// let (which, why) = rx.recv_timeout(Duration::from_secs(10))?;
    /// assert_eq!(which, 7);
    /// assert!(why.starts_with("connect failed"), "{why}");
    /// // A state of another type is refused at once.
    /// let wrong = engine.dial_with(&to, Duration::from_secs(5), DialOptions::new().state(7usize));
    /// assert!(matches!(wrong, Err(Error::InvalidConfig(_))), "{wrong:?}");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dial_with(&self, addr: &str, timeout: Duration, options: DialOptions) -> Result<()> {
        let addr = match Address::parse(addr)? {
            Address::Tcp(a) => a,
            other => return Err(Error::InvalidAddress(format!("dial takes a TCP address, not {other}"))),
        };
        // The socket is made here, so a caller out of descriptors hears it.
        let (service, state) = self.shared.check_dial(options.service.as_deref(), options.state)?;
        let fd = sys::socket::tcp_socket(addr)?;
        let req = DialRequest {
            fd,
            addr,
            timeout,
            service,
            state,
            #[cfg(feature = "tls")]
            tls: options.tls,
        };
        let mailbox = match options.event_loop {
            None => &self.shared.coordinator,
            Some(i) => match self.shared.loops.get(i) {
                Some(l) => &*l.mailbox,
                None => {
                    return Err(Error::InvalidConfig(format!(
                        "dial_with: loop {i} does not exist ({} loops)",
                        self.shared.loops.len()
                    )))
                }
            },
        };
        mailbox
            .post(Task::Dial(Box::new(req)))
            .map_err(|_| Error::EngineStopped)
    }

    /// Connections open now, over all loops (including ones being handed over).
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use netreactor::{Engine, EventHandler};
    ///
    /// struct Nothing;
    /// impl EventHandler for Nothing {}
    ///
    /// let engine = Engine::builder().event_loops(2).start(Nothing, "tcp://127.0.0.1:0")?;
    /// let clients = [
    ///     std::net::TcpStream::connect(engine.local_addr())?,
    ///     std::net::TcpStream::connect(engine.local_addr())?,
    /// ];
    /// let deadline = Instant::now() + Duration::from_secs(10);
    /// while engine.connection_count() < 2 && Instant::now() < deadline {
    ///     std::thread::yield_now(); // accepting takes a moment
    /// }
    /// assert_eq!(engine.connection_count(), 2);
    /// assert_eq!(engine.loop_connection_counts(), [1, 1]); // round robin
    /// drop(clients);
    /// while engine.connection_count() > 0 && Instant::now() < deadline {
    ///     std::thread::yield_now();
    /// }
    /// assert_eq!(engine.connection_count(), 0);
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn connection_count(&self) -> usize {
        self.shared.connection_count()
    }

    /// Counters of each loop, in loop order (read without locking the loops;
    /// `rejected` and `partial_inbound_bytes` are engine-wide and 0 here).
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// use std::io::{Read, Write};
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// struct Echo;
    /// impl EventHandler for Echo {
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         conn.echo_all();
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(2).start(Echo, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// client.write_all(b"hello")?;
    /// client.read_exact(&mut [0; 5])?;
    /// let loops = engine.loop_stats();
    /// assert_eq!(loops.len(), 2);
    /// assert_eq!(loops.iter().map(|s| s.bytes_in).collect::<Vec<_>>(), [5, 0]); // loop 0 served it
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn loop_stats(&self) -> Vec<Stats> {
        self.shared
            .loops
            .iter()
            .map(|l| l.counters.snapshot(l.connections() as u64))
            .collect()
    }

    /// Counters summed over all loops.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// use std::io::{Read, Write};
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// struct Echo;
    /// impl EventHandler for Echo {
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         conn.echo_all();
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(2).start(Echo, "127.0.0.1:0")?;
    /// assert_eq!(engine.stats().accepted, 0);
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// client.write_all(b"hello")?;
    /// client.read_exact(&mut [0; 5])?;
    /// let stats = engine.stats();
    /// assert_eq!((stats.accepted, stats.open, stats.bytes_in), (1, 1, 5));
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> Stats {
        let mut total = self.loop_stats().into_iter().fold(Stats::default(), |a, b| a + b);
        total.rejected = self.shared.rejected.load(Ordering::Relaxed);
        total.partial_inbound_bytes = self.shared.inbound_held.load(Ordering::Relaxed) as u64;
        total.draining = self.is_draining();
        total
    }

    /// Connections owned by each loop, in loop order.
    ///
    /// Any thread.
    ///
    /// See the example on [`EngineHandle::connection_count`].
    pub fn loop_connection_counts(&self) -> Vec<usize> {
        self.shared.loops.iter().map(LoopShared::connections).collect()
    }
}

const _: () = {
    const fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<EngineHandle>();
    is_send_sync::<crate::ConnHandle>();
};
