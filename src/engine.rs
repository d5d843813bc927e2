//! Building, starting and stopping an engine.

use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::addr::Address;
use crate::balancer::{LoadBalancer, LoadBalancing};
use crate::codec::{Decoder, Encoder};
use crate::config::{Config, MaxConnectionsPolicy};
use crate::error::{panic_message, Error, Result};
use crate::framing::CodecPrototype;
use crate::handle::{self, EngineHandle, EngineShared, LoopShared};
use crate::handler::{Action, EventHandler};
use crate::mailbox::{self, Task};
use crate::options::*;
use crate::reactor::acceptor::Coordinator;
use crate::reactor::event_loop::EventLoop;
use crate::sys;

/// Entry point: `Engine::builder()`.
#[derive(Debug)]
pub struct Engine(());

impl Engine {
    /// A builder with every option at its default.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use netreactor::{Action, Conn, Engine, EventHandler, LoadBalancing};
    ///
    /// struct Echo;
    /// impl EventHandler for Echo {
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         conn.echo_all();
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// fn main() -> netreactor::Result<()> {
    ///     Engine::builder()
    ///         .event_loops(4)
    ///         .load_balancing(LoadBalancing::LeastConnections)
    ///         .run(Echo, "tcp://127.0.0.1:9000")
    /// }
    /// ```
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }
}

/// Configures and starts an engine. Every option has a default; see
/// docs/limits.md for the reasoning behind each.
#[derive(Debug, Clone)]
pub struct EngineBuilder {
    event_loops: usize,
    load_balancing: LoadBalancing,
    pin_threads: bool,
    reuse_port: bool,
    ipv6_only: bool,
    handle_signals: bool,
    shutdown_deadline: Duration,
    cfg: Config,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        EngineBuilder {
            event_loops: std::thread::available_parallelism().map_or(1, |n| n.get()),
            load_balancing: LoadBalancing::default(),
            pin_threads: false,
            reuse_port: false,
            ipv6_only: false,
            handle_signals: false,
            shutdown_deadline: DEFAULT_SHUTDOWN_DEADLINE,
            cfg: Config {
                read_buffer_bytes: DEFAULT_READ_BUFFER_BYTES,
                max_inbound_bytes: DEFAULT_MAX_INBOUND_BYTES,
                max_outbound_bytes: DEFAULT_MAX_OUTBOUND_BYTES,
                events_per_wait: DEFAULT_EVENTS_PER_WAIT,
                tasks_per_iteration: DEFAULT_TASKS_PER_ITERATION,
                close_linger: DEFAULT_CLOSE_LINGER,
                tcp_nodelay: true,
                high_watermark: DEFAULT_HIGH_WATERMARK_BYTES,
                low_watermark: DEFAULT_LOW_WATERMARK_BYTES,
                pause_reading_when_unwritable: true,
                read_idle_timeout: None,
                write_idle_timeout: None,
                frame_timeout: Some(DEFAULT_FRAME_TIMEOUT),
                inbound_budget: DEFAULT_INBOUND_BUDGET_BYTES,
                max_connections: None,
                ticker: false,
                codec: None,
            },
        }
    }
}

impl EngineBuilder {
    /// Number of event-loop threads (default: available cores), in
    /// `1..=`[`MAX_EVENT_LOOPS`]; `start` refuses other values.
    pub fn event_loops(mut self, n: usize) -> Self {
        self.event_loops = n;
        self
    }

    /// How accepted connections are spread over the loops (default round robin).
    pub fn load_balancing(mut self, lb: LoadBalancing) -> Self {
        self.load_balancing = lb;
        self
    }

    /// Uses a balancer of your own.
    pub fn load_balancer(self, lb: impl LoadBalancer) -> Self {
        self.load_balancing(LoadBalancing::Custom(Arc::new(lb)))
    }

    /// Pins loop `i` to core `i` (modulo the core count). Default off.
    pub fn pin_threads(mut self, on: bool) -> Self {
        self.pin_threads = on;
        self
    }

    /// Gives every loop its own `SO_REUSEPORT` listener, so the kernel
    /// balances connections and no acceptor thread hands them over. The load
    /// balancer is then unused. Default off.
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self
    }

    /// Sets TCP_NODELAY on accepted connections (default on).
    pub fn tcp_nodelay(mut self, on: bool) -> Self {
        self.cfg.tcp_nodelay = on;
        self
    }

    /// Bytes one read takes, and the size of each loop's read buffer
    /// (default [`DEFAULT_READ_BUFFER_BYTES`]), in
    /// [`MIN_READ_BUFFER_BYTES`]`..=`[`MAX_READ_BUFFER_BYTES`]; `start`
    /// refuses other values.
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.cfg.read_buffer_bytes = bytes;
        self
    }

    /// Unconsumed inbound bytes at which a connection is closed
    /// (default [`DEFAULT_MAX_INBOUND_BYTES`]; at least 1).
    pub fn max_inbound_buffer(mut self, bytes: usize) -> Self {
        self.cfg.max_inbound_bytes = bytes;
        self
    }

    /// Queued outbound bytes at which a connection is closed, and the most
    /// a [`ConnHandle`](crate::ConnHandle) may have in flight to one
    /// connection (default [`DEFAULT_MAX_OUTBOUND_BYTES`]; at least 1).
    pub fn max_outbound_buffer(mut self, bytes: usize) -> Self {
        self.cfg.max_outbound_bytes = bytes;
        self
    }

    /// Sets IPV6_V6ONLY on an IPv6 listener: `true` serves IPv6 clients
    /// only; `false` (the default, as the OS and `std` do) lets a
    /// `tcp://[::]:port` listener take IPv4 clients too.
    pub fn ipv6_only(mut self, on: bool) -> Self {
        self.ipv6_only = on;
        self
    }

    /// How long `close` waits for queued output (default [`DEFAULT_CLOSE_LINGER`]).
    pub fn close_linger(mut self, d: Duration) -> Self {
        self.cfg.close_linger = d;
        self
    }

    /// How long [`EngineHandle::stop`] lets connections flush
    /// (default [`DEFAULT_SHUTDOWN_DEADLINE`]).
    pub fn shutdown_deadline(mut self, d: Duration) -> Self {
        self.shutdown_deadline = d;
        self
    }

    /// Makes SIGINT and SIGTERM stop the engine gracefully (as
    /// [`EngineHandle::stop`]). Installs signal handlers for the engine's
    /// lifetime and restores the previous ones when it stops; works whatever
    /// the other threads' signal masks are. One engine at a time may do this
    /// (`start` fails otherwise). Default off.
    pub fn handle_signals(mut self, on: bool) -> Self {
        self.handle_signals = on;
        self
    }

    /// Cuts each connection's byte stream into frames with `codec` (cloned
    /// once per connection): `on_frame` receives each frame, `write_frame`
    /// encodes. A decoding error closes only that connection, with
    /// `CloseReason::Codec`.
    ///
    /// # Examples
    ///
    /// ```
    /// use netreactor::codec::LengthFieldCodec;
    /// use netreactor::{Action, Conn, Engine, EventHandler, Frame};
    ///
    /// struct FrameEcho;
    /// impl EventHandler for FrameEcho {
    ///     fn on_frame(&self, conn: &mut Conn, frame: Frame<'_>) -> Action {
    ///         conn.write_frame(&frame).map_or(Action::Close, |_| Action::Continue)
    ///     }
    /// }
    /// let engine = Engine::builder().codec(LengthFieldCodec::new()).start(FrameEcho, "127.0.0.1:0")?;
    /// engine.stop();
    /// # Ok::<(), netreactor::Error>(())
    /// ```
    pub fn codec<C>(mut self, codec: C) -> Self
    where
        C: Decoder<Item = Bytes> + for<'a> Encoder<&'a [u8]> + Clone + Send + Sync + 'static,
        <C as Decoder>::Error: fmt::Display,
        for<'a> <C as Encoder<&'a [u8]>>::Error: fmt::Display,
    {
        self.cfg.codec = Some(CodecPrototype(Box::new(codec)));
        self
    }

    /// Outbound watermarks: above `high` a connection turns unwritable,
    /// at or below `low` writable again (defaults 64 KiB / 32 KiB). `start`
    /// refuses `low > high` and `high == 0`.
    pub fn write_watermarks(mut self, low: usize, high: usize) -> Self {
        self.cfg.high_watermark = high;
        self.cfg.low_watermark = low;
        self
    }

    /// Pause reading a connection while it is unwritable (default on), so
    /// a peer that sends but never reads cannot make us buffer its replies.
    pub fn pause_reading_when_unwritable(mut self, on: bool) -> Self {
        self.cfg.pause_reading_when_unwritable = on;
        self
    }

    /// Close connections that receive nothing for `d` (default: never).
    pub fn read_idle_timeout(mut self, d: Duration) -> Self {
        self.cfg.read_idle_timeout = Some(d);
        self
    }

    /// Close connections whose queued output makes no progress for `d`
    /// (the peer is not reading; default: never).
    pub fn write_idle_timeout(mut self, d: Duration) -> Self {
        self.cfg.write_idle_timeout = Some(d);
        self
    }

    /// Close connections whose incomplete frame (or, without a codec,
    /// unconsumed input) is still incomplete `d` after its first byte
    /// arrived: the slowloris guard (default: never).
    ///
    /// Default [`DEFAULT_FRAME_TIMEOUT`] (60 s, as nginx's header and body
    /// timeouts); `Duration::MAX` turns it off.
    pub fn frame_timeout(mut self, d: Duration) -> Self {
        self.cfg.frame_timeout = Some(d);
        self
    }

    /// Bytes all connections together may hold in incomplete inbound
    /// messages (a frame, or unconsumed input, waiting for the rest)
    /// (default [`DEFAULT_INBOUND_BUDGET_BYTES`]; at least 1). Past it, each
    /// loop that sees the budget exceeded closes its connection holding the
    /// most with [`CloseReason::InboundBudget`](crate::CloseReason::InboundBudget)
    /// until the total is back under, so slow senders of huge messages
    /// cannot exhaust memory together (each is also capped by
    /// [`max_inbound_buffer`](EngineBuilder::max_inbound_buffer)).
    pub fn inbound_budget(mut self, bytes: usize) -> Self {
        self.cfg.inbound_budget = bytes;
        self
    }

    /// At most `n` open connections (at least 1); beyond that `policy`
    /// applies.
    pub fn max_connections(mut self, n: usize, policy: MaxConnectionsPolicy) -> Self {
        self.cfg.max_connections = Some((n, policy));
        self
    }

    /// Calls [`EventHandler::on_tick`] on loop 0 (default off).
    pub fn ticker(mut self, on: bool) -> Self {
        self.cfg.ticker = on;
        self
    }

    /// Starts the engine and blocks until it has stopped.
    ///
    /// # Errors
    /// As [`EngineBuilder::start`], and [`Error::EngineFailed`] when the
    /// engine stopped because one of its threads ended unexpectedly.
    pub fn run<H: EventHandler>(self, handler: H, addr: &str) -> Result<()> {
        self.start(handler, addr)?.wait()
    }

    /// Starts the engine in the background and returns a handle to it.
    ///
    /// # Errors
    /// As [`EngineBuilder::run`].
    ///
    /// # Examples
    ///
    /// ```
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
    /// client.write_all(b"ping")?;
    /// let mut buf = [0; 4];
    /// client.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"ping");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start<H: EventHandler>(self, handler: H, addr: &str) -> Result<EngineHandle> {
        self.validate()?;
        let Address::Tcp(addr) = Address::parse(addr)?;
        let n = self.event_loops;
        let listen = sys::socket::ListenOptions {
            reuse_port: self.reuse_port,
            backlog: sys::socket::listen_backlog(),
            ipv6_only: self.ipv6_only,
        };

        // Listeners: one, or one per loop sharing the port.
        let mut listeners: Vec<OwnedFd> = Vec::new();
        let first = sys::socket::tcp_listener(addr, &listen)?;
        let bound = sys::socket::local_addr(first.as_fd()).unwrap_or(addr);
        listeners.push(first);
        if self.reuse_port {
            for _ in 1..n {
                listeners.push(sys::socket::tcp_listener(bound, &listen)?);
            }
        }

        let signals = if self.handle_signals {
            Some(sys::signal::SignalReader::install()?)
        } else {
            None
        };

        let mut loops = Vec::with_capacity(n);
        let mut inboxes = Vec::with_capacity(n);
        for _ in 0..n {
            let (mailbox, inbox) = mailbox::mailbox()?;
            loops.push(LoopShared::new(mailbox));
            inboxes.push(inbox);
        }
        let (coord_mailbox, coord_inbox) = mailbox::mailbox()?;
        let shared = Arc::new(EngineShared::new(
            loops,
            vec![bound],
            coord_mailbox,
            self.shutdown_deadline,
        ));
        let handle = EngineHandle::from_shared(shared.clone());
        let handler = Arc::new(handler);
        let boot = {
            // `stop()` in on_boot must only ask: nothing runs yet to wait for.
            let _serving = handle::serve(&shared);
            catch_unwind(AssertUnwindSafe(|| handler.on_boot(&handle)))
        };
        let boot = boot.map_err(|p| Error::EngineFailed(format!("on_boot panicked: {}", panic_message(p.as_ref()))))?;

        let cfg = Arc::new(self.cfg);
        let cores = if self.pin_threads {
            core_affinity::get_core_ids().unwrap_or_default()
        } else {
            Vec::new()
        };
        let mut loop_threads = Vec::with_capacity(n);
        let acceptor_listener = if self.reuse_port { None } else { listeners.pop() };
        let mut own_listeners = listeners.into_iter();
        for (i, inbox) in inboxes.into_iter().enumerate() {
            let core = (!cores.is_empty()).then(|| cores[i % cores.len()]);
            let spawned = EventLoop::new(
                i,
                handler.clone(),
                inbox,
                shared.clone(),
                cfg.clone(),
                own_listeners.next(),
            )
            .and_then(|lp| {
                let shared = shared.clone();
                std::thread::Builder::new().name(format!("nr-loop-{i}")).spawn(move || {
                    let _serving = handle::serve(&shared);
                    if let Some(core) = core {
                        core_affinity::set_for_current(core);
                    }
                    // Everything user code does on the loop is guarded; this
                    // catches the rest, so the engine stops whole instead of
                    // limping on without this loop.
                    if let Err(p) = catch_unwind(AssertUnwindSafe(move || lp.run())) {
                        shared.loops[i].forget_connections();
                        shared.fail(format!(
                            "event loop {i} (thread nr-loop-{i}) panicked: {}",
                            panic_message(p.as_ref())
                        ));
                    }
                })
            });
            match spawned {
                Ok(t) => loop_threads.push(t),
                Err(e) => {
                    abort_start(&shared, loop_threads);
                    return Err(e.into());
                }
            }
        }

        let coordinator = Coordinator::new(
            acceptor_listener,
            signals,
            coord_inbox,
            shared.clone(),
            self.load_balancing.into_balancer(),
            cfg.clone(),
            handler,
            loop_threads,
        );
        let spawned = coordinator.and_then(|c| {
            let shared = shared.clone();
            std::thread::Builder::new().name("nr-accept".into()).spawn(move || {
                let _serving = handle::serve(&shared);
                if let Err(p) = catch_unwind(AssertUnwindSafe(move || c.run())) {
                    // Its shutdown sequence failed: stop the loops by message.
                    shared.fail(format!(
                        "the coordinator (thread nr-accept) panicked while stopping: {}",
                        panic_message(p.as_ref())
                    ));
                    for l in &shared.loops {
                        let _ = l.mailbox.post(Task::Stop(Some(Instant::now())));
                    }
                    shared.mark_done();
                }
            })
        });
        let t = match spawned {
            Ok(t) => t,
            Err(e) => {
                // The loop threads went with the coordinator: stop them by message.
                abort_start(&shared, Vec::new());
                return Err(e.into());
            }
        };
        shared.set_coordinator_thread(t);
        if boot == Action::Shutdown {
            handle.request_stop(Duration::ZERO);
        }
        Ok(handle)
    }
}

impl EngineBuilder {
    /// Every option in range, or the first that is not, by name.
    fn validate(&self) -> Result<()> {
        let cfg = &self.cfg;
        let invalid = |what: String| Err(Error::InvalidConfig(what));
        if !(1..=MAX_EVENT_LOOPS).contains(&self.event_loops) {
            return invalid(format!(
                "event_loops must be 1..={MAX_EVENT_LOOPS}, got {}",
                self.event_loops
            ));
        }
        if !(MIN_READ_BUFFER_BYTES..=MAX_READ_BUFFER_BYTES).contains(&cfg.read_buffer_bytes) {
            return invalid(format!(
                "read_buffer_size must be {MIN_READ_BUFFER_BYTES}..={MAX_READ_BUFFER_BYTES} bytes, got {}",
                cfg.read_buffer_bytes
            ));
        }
        if cfg.max_inbound_bytes == 0 {
            return invalid("max_inbound_buffer must be at least 1 byte".into());
        }
        if cfg.max_outbound_bytes == 0 {
            return invalid("max_outbound_buffer must be at least 1 byte".into());
        }
        if cfg.high_watermark == 0 || cfg.low_watermark > cfg.high_watermark {
            return invalid(format!(
                "write_watermarks needs 0 < high and low <= high, got low {} high {}",
                cfg.low_watermark, cfg.high_watermark
            ));
        }
        if cfg.inbound_budget == 0 {
            return invalid("inbound_budget must be at least 1 byte".into());
        }
        if cfg.max_connections.is_some_and(|(n, _)| n == 0) {
            return invalid("max_connections must be at least 1".into());
        }
        Ok(())
    }
}

fn abort_start(shared: &EngineShared, threads: Vec<JoinHandle<()>>) {
    let deadline = Instant::now();
    for l in &shared.loops {
        let _ = l.mailbox.post(Task::Stop(Some(deadline)));
    }
    for t in threads {
        let _ = t.join();
    }
}

#[cfg(test)]
mod tests {
    //! Defence in depth: a panic outside every guard (injected here, as a bug
    //! in the engine would cause one) stops the whole engine, and `wait`
    //! says which thread died and why. Needs the crate's internals, so it
    //! lives here rather than in tests/.

    use std::io::Read;
    use std::net::TcpStream;
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::conn::Conn;
    use crate::error::CloseReason;

    use std::sync::Mutex;

    struct Recorder(Mutex<mpsc::Sender<CloseReason>>);
    impl EventHandler for Recorder {
        fn on_close(&self, _conn: &mut Conn, reason: CloseReason) {
            let _ = self.0.lock().unwrap().send(reason);
        }
    }

    fn engine(loops: usize) -> (EngineHandle, mpsc::Receiver<CloseReason>) {
        let (tx, rx) = mpsc::channel();
        let engine = Engine::builder()
            .event_loops(loops)
            .load_balancing(LoadBalancing::RoundRobin)
            .start(Recorder(Mutex::new(tx)), "tcp://127.0.0.1:0")
            .unwrap();
        (engine, rx)
    }

    fn connect(engine: &EngineHandle, n: usize) -> Vec<TcpStream> {
        let clients: Vec<_> = (0..n)
            .map(|_| TcpStream::connect(engine.local_addr()).unwrap())
            .collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        while engine.stats().accepted < n as u64 {
            assert!(Instant::now() < deadline, "connections not registered");
            std::thread::yield_now();
        }
        clients
    }

    #[test]
    fn a_dead_loop_stops_the_whole_engine_and_wait_names_it() {
        let (engine, closes) = engine(2);
        let mut clients = connect(&engine, 2); // one on each loop (round robin)
        engine.shared.loops[1].mailbox.post(Task::Crash).unwrap();
        let err = engine.wait().expect_err("the engine must report the dead loop");
        let msg = err.to_string();
        assert!(
            msg.contains("nr-loop-1") && msg.contains("injected crash on loop 1"),
            "{msg}"
        );
        assert!(engine.is_stopped());
        // The other loop's connection was closed with a reason, as at a stop.
        assert_eq!(
            closes.recv_timeout(Duration::from_secs(5)).unwrap(),
            CloseReason::Shutdown
        );
        // Both peers see their connection end.
        for c in &mut clients {
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            assert!(matches!(c.read(&mut [0; 1]), Ok(0) | Err(_)));
        }
        assert_eq!(engine.connection_count(), 0);
    }

    #[test]
    fn a_dead_acceptor_stops_the_whole_engine_and_wait_names_it() {
        let (engine, closes) = engine(1);
        let _client = connect(&engine, 1);
        engine.shared.coordinator.post(Task::Crash).unwrap();
        let msg = engine
            .wait()
            .expect_err("the engine must report the dead acceptor")
            .to_string();
        assert!(
            msg.contains("nr-accept") && msg.contains("injected crash on the acceptor"),
            "{msg}"
        );
        assert_eq!(
            closes.recv_timeout(Duration::from_secs(5)).unwrap(),
            CloseReason::Shutdown
        );
        assert!(
            TcpStream::connect(engine.local_addr()).is_err(),
            "the listener must be closed"
        );
    }
}
