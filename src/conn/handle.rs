//! [`ConnHandle`]: a connection as any thread reaches it.

use std::any::Any;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use super::Conn;
use crate::action::Action;
use crate::error::{Error, Result};
use crate::id::ConnId;
use crate::mailbox::{CallFn, Mailbox, Task};

/// What a connection shares with its handles; allocated by the first
/// [`Conn::handle`](crate::Conn::handle) call, so connections nobody holds a
/// handle to pay nothing for it.
///
/// One counter holds the bytes in flight: what handles posted and the loop
/// has not taken, plus the connection's queued output as the loop last
/// published it. Handles add with a compare-and-swap that never passes the
/// limit; the loop moves bytes from "posted" to "queued" and drops what was
/// sent in single signed adjustments, so no reader ever sees bytes counted
/// twice or a reservation that is taken back.
#[derive(Debug)]
pub(crate) struct HandleShared {
    alive: AtomicBool,
    in_flight: AtomicUsize,
    /// The queued output included in `in_flight` (written by the loop only).
    published: AtomicUsize,
    /// Bytes in flight past which writes are refused.
    limit: usize,
    /// The bytes the connection's codec adds to every frame
    /// (`Encoder::frame_overhead`), reserved with each `async_write_frame`.
    frame_overhead: usize,
    /// A UDP socket: writes need a destination (`send_to`), and no handle
    /// may close it.
    datagram: bool,
}

impl HandleShared {
    pub(crate) fn new(alive: bool, limit: usize, frame_overhead: usize, datagram: bool) -> Arc<Self> {
        Arc::new(HandleShared {
            alive: AtomicBool::new(alive),
            in_flight: AtomicUsize::new(0),
            published: AtomicUsize::new(0),
            limit,
            frame_overhead,
            datagram,
        })
    }

    /// The connection has closed: every handle fails from now on.
    pub(crate) fn mark_closed(&self) {
        self.alive.store(false, Ordering::Release);
    }

    /// Loop thread: the connection's queued output is now `outbound` bytes,
    /// and `taken` posted bytes have left the mailbox (they are part of it).
    pub(crate) fn update(&self, outbound: usize, taken: usize) {
        let before = self.published.swap(outbound, Ordering::Relaxed);
        let delta = outbound.wrapping_sub(before).wrapping_sub(taken);
        if delta != 0 {
            // Wrapping arithmetic: a negative change is a large add.
            self.in_flight.fetch_add(delta, Ordering::AcqRel);
        }
    }

    fn queued(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Counts `n` more bytes in flight, or refuses them (counting nothing)
    /// if that would pass the limit.
    fn reserve(&self, n: usize) -> Result<()> {
        if n > self.limit {
            return Err(Error::TooLarge {
                len: n,
                limit: self.limit,
            });
        }
        let mut queued = self.in_flight.load(Ordering::Acquire);
        loop {
            if queued.saturating_add(n) > self.limit {
                return Err(Error::QueueFull {
                    queued,
                    limit: self.limit,
                });
            }
            match self
                .in_flight
                .compare_exchange_weak(queued, queued + n, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(()),
                Err(now) => queued = now,
            }
        }
    }

    /// Gives back a reservation whose task could not be posted.
    fn unreserve(&self, n: usize) {
        self.in_flight.fetch_sub(n, Ordering::AcqRel);
    }
}

/// A connection as seen from any thread: cheap to clone, `Send + Sync`.
///
/// Each call posts a task to the owning loop. A handle whose connection has
/// closed returns [`Error::ConnectionClosed`]; it can never reach a newer
/// connection that reused the slot or the file descriptor. Bytes in flight
/// to a connection (posted and not yet sent) are capped at the engine's
/// [`max_outbound_buffer`](crate::EngineBuilder::max_outbound_buffer): past
/// it writes fail at once with [`Error::QueueFull`], and
/// [`queued_bytes`](ConnHandle::queued_bytes) tells a producer how far
/// behind the peer is.
///
/// Handles compare equal when they point to the same connection, and hash
/// by its [`ConnId`], so they can key a map or fill a set. (Clippy's
/// `mutable_key_type` lint flags such a map because a handle holds atomics;
/// they take no part in hashing or equality: allow the lint, or list
/// `netreactor::ConnHandle` under `ignore-interior-mutability` in
/// clippy.toml, as this repository does.)
///
/// Any thread: every method may be called from any thread, the
/// connection's own loop thread included (the task then runs after the
/// current callback).
///
/// # Examples
///
/// ```
/// use std::io::Read;
/// use std::sync::mpsc;
/// use netreactor::{Action, Conn, ConnHandle, Engine, EventHandler};
///
/// /// Hands every new connection's handle to another thread.
/// struct Publish(mpsc::SyncSender<ConnHandle>);
/// impl EventHandler for Publish {
///     fn on_open(&self, conn: &mut Conn) -> Action {
///         let _ = self.0.send(conn.handle());
///         Action::Continue
///     }
/// }
///
/// let (tx, rx) = mpsc::sync_channel(1);
/// let engine = Engine::builder().event_loops(1).start(Publish(tx), "tcp://127.0.0.1:0")?;
/// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
/// let handle = rx.recv()?;
/// // Any thread: queued on the connection's loop, sent from there.
/// std::thread::spawn(move || handle.async_write("hello from another thread")).join().unwrap()?;
/// let mut buf = [0; 25];
/// client.read_exact(&mut buf)?;
/// assert_eq!(&buf, b"hello from another thread");
/// engine.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ConnHandle {
    pub(super) id: ConnId,
    pub(super) mailbox: Arc<Mailbox>,
    pub(super) shared: Arc<HandleShared>,
}

impl fmt::Debug for ConnHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnHandle")
            .field("id", &self.id)
            .field("alive", &self.is_alive())
            .field("queued_bytes", &self.queued_bytes())
            .finish()
    }
}

impl PartialEq for ConnHandle {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && Arc::ptr_eq(&self.mailbox, &other.mailbox)
    }
}

impl Eq for ConnHandle {}

impl Hash for ConnHandle {
    fn hash<S: Hasher>(&self, state: &mut S) {
        self.id.hash(state);
    }
}

impl ConnHandle {
    /// The connection's id (unique within its engine), as
    /// [`Conn::id`](crate::Conn::id) gives it.
    ///
    /// Any thread.
    ///
    /// See the example on [`ConnHandle::close`].
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// False once the connection has closed (set before `on_close` runs).
    ///
    /// Any thread.
    ///
    /// See the example on [`ConnHandle::close`].
    pub fn is_alive(&self) -> bool {
        self.shared.alive.load(Ordering::Acquire)
    }

    /// Bytes in flight to the connection: posted through handles and not
    /// yet taken by its loop, plus its queued output as the loop last
    /// flushed it. A producer can pace itself on this.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Read;
    /// # use std::time::Duration;
    /// use std::sync::mpsc;
    /// use netreactor::{Action, Conn, ConnHandle, Engine, Error, EventHandler};
    ///
    /// struct Publish(mpsc::Sender<ConnHandle>);
    /// impl EventHandler for Publish {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         let _ = self.0.send(conn.handle());
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let engine = Engine::builder()
    ///     .event_loops(1)
    ///     .max_outbound_buffer(1024)
    ///     .start(Publish(tx), "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// let handle = rx.recv_timeout(Duration::from_secs(10))?;
    /// assert_eq!(handle.queued_bytes(), 0);
    /// // More than may ever be in flight: refused at once, nothing queued.
    /// match handle.async_write(vec![0u8; 2048]) {
    ///     Err(Error::TooLarge { len, limit }) => assert_eq!((len, limit), (2048, 1024)),
    ///     other => panic!("expected TooLarge, got {other:?}"),
    /// }
    /// handle.async_write(vec![1u8; 1000])?; // fits
    /// let mut data = [0; 1000];
    /// client.read_exact(&mut data)?;
    /// assert!(data.iter().all(|&b| b == 1));
    /// let deadline = std::time::Instant::now() + Duration::from_secs(10);
    /// while handle.queued_bytes() > 0 && std::time::Instant::now() < deadline {
    ///     std::thread::yield_now(); // the loop updates the count just after its write
    /// }
    /// assert_eq!(handle.queued_bytes(), 0);
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn queued_bytes(&self) -> usize {
        self.shared.queued()
    }

    /// Refuses a call that needs a connection on a UDP socket.
    fn stream_only(&self, why: &'static str) -> Result<()> {
        if self.shared.datagram {
            return Err(Error::Unsupported(why));
        }
        Ok(())
    }

    fn post(&self, task: Task) -> Result<()> {
        if !self.is_alive() {
            return Err(Error::ConnectionClosed);
        }
        self.mailbox.post(task).map_err(|_| Error::EngineStopped)
    }

    fn post_bytes(&self, n: usize, task: Task) -> Result<()> {
        if !self.is_alive() {
            return Err(Error::ConnectionClosed);
        }
        self.shared.reserve(n)?;
        self.mailbox.post(task).map_err(|_| {
            self.shared.unreserve(n);
            Error::EngineStopped
        })
    }

    /// Queues `data` (`Bytes`, `Vec<u8>`, `String`, `&'static [u8]` or
    /// `&'static str`) for the connection; its loop sends it in order with
    /// the other writes from this thread.
    ///
    /// Any thread.
    ///
    /// # Errors
    /// [`Error::QueueFull`] (nothing queued: retry once
    /// [`queued_bytes`](ConnHandle::queued_bytes) has fallen),
    /// [`Error::TooLarge`] (more than the whole limit: it can never be
    /// queued, do not retry), [`Error::ConnectionClosed`] or
    /// [`Error::EngineStopped`]; [`Error::Unsupported`] on a UDP socket
    /// (use [`send_to`](ConnHandle::send_to)). A write that races with the
    /// close may be accepted here and then dropped.
    ///
    /// # Examples
    ///
    /// See the example on [`ConnHandle`], and on
    /// [`queued_bytes`](ConnHandle::queued_bytes) for [`Error::QueueFull`].
    pub fn async_write(&self, data: impl Into<Bytes>) -> Result<()> {
        self.stream_only("async_write on a UDP socket has no destination: use send_to")?;
        let data = data.into();
        self.post_bytes(data.len(), Task::Write(self.id, data))
    }

    /// Queues several buffers, sent back to back, as one write (all are
    /// refused, or none).
    ///
    /// Any thread.
    ///
    /// # Errors
    /// As [`ConnHandle::async_write`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Read;
    /// # use std::time::Duration;
    /// use std::sync::mpsc;
    /// use netreactor::{Action, Bytes, Conn, ConnHandle, Engine, EventHandler};
    ///
    /// struct Publish(mpsc::Sender<ConnHandle>);
    /// impl EventHandler for Publish {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         let _ = self.0.send(conn.handle());
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let engine = Engine::builder().event_loops(1).start(Publish(tx), "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// let handle = rx.recv_timeout(Duration::from_secs(10))?;
    /// let body = Bytes::from(vec![b'x'; 1000]); // shared, not copied
    /// handle.async_write_vectored([Bytes::from_static(b"len 1000\n"), body.clone()])?;
    /// let mut reply = vec![0; 9 + 1000];
    /// client.read_exact(&mut reply)?;
    /// assert!(reply.starts_with(b"len 1000\n") && reply.ends_with(&body));
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn async_write_vectored<I>(&self, data: I) -> Result<()>
    where
        I: IntoIterator,
        I::Item: Into<Bytes>,
    {
        self.stream_only("async_write_vectored on a UDP socket has no destination: use send_to")?;
        let data: Vec<Bytes> = data.into_iter().map(Into::into).collect();
        let n = data.iter().map(Bytes::len).fold(0, usize::saturating_add);
        self.post_bytes(n, Task::WriteVectored(self.id, data))
    }

    /// Encodes `frame` with the engine's codec on the connection's loop and
    /// queues it. An encoding error (or a panic in the encoder) there
    /// closes the connection (`CloseReason::Codec` / `HandlerPanic`), and so
    /// does a frame written to a connection without a codec.
    ///
    /// Any thread.
    ///
    /// The frame counts against the queue limit with what the codec adds to
    /// it ([`Encoder::frame_overhead`](crate::codec::Encoder::frame_overhead):
    /// a length field, a delimiter), so a flood of small frames is refused
    /// with [`Error::QueueFull`] at the limit, never queued past it.
    ///
    /// # Errors
    /// As [`ConnHandle::async_write`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Read;
    /// # use std::time::Duration;
    /// use std::sync::mpsc;
    /// use netreactor::codec::LineCodec;
    /// use netreactor::{Action, Conn, ConnHandle, Engine, EventHandler};
    ///
    /// struct Publish(mpsc::Sender<ConnHandle>);
    /// impl EventHandler for Publish {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         let _ = self.0.send(conn.handle());
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let engine = Engine::builder()
    ///     .event_loops(1)
    ///     .codec(LineCodec::new())
    ///     .start(Publish(tx), "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// let handle = rx.recv_timeout(Duration::from_secs(10))?;
    /// handle.async_write_frame("news")?; // encoded on the loop: "news\n"
    /// handle.async_write_frame("two\nlines")?; // accepted here, rejected by the encoder there
    /// let mut got = Vec::new();
    /// let _ = client.read_to_end(&mut got); // the connection is closed (maybe reset)
    /// assert_eq!(got, b"news\n");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn async_write_frame(&self, frame: impl Into<Bytes>) -> Result<()> {
        self.stream_only("async_write_frame on a UDP socket has no destination: use send_to")?;
        let frame = frame.into();
        // What the encoder will queue: the payload and its header or delimiter.
        let encoded = frame.len().saturating_add(self.shared.frame_overhead);
        self.post_bytes(encoded, Task::WriteFrame(self.id, frame, encoded))
    }

    /// Sends `data` as one datagram to `to` from this UDP socket, on its
    /// loop: how a UDP service writes outside the datagram it is answering
    /// (a reply from another thread, a notification to a known peer). The
    /// bytes count against the same bounded queue as `async_write`; a
    /// datagram the kernel cannot take at once (a full socket buffer) is
    /// dropped, as UDP does, and counted in `Stats::datagrams_dropped`.
    ///
    /// Any thread.
    ///
    /// # Errors
    /// [`Error::Unsupported`] on a stream connection (use
    /// [`async_write`](ConnHandle::async_write)), [`Error::QueueFull`],
    /// [`Error::TooLarge`], [`Error::ConnectionClosed`] (the socket closed
    /// with the engine) or [`Error::EngineStopped`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// use std::net::UdpSocket;
    /// use std::sync::mpsc;
    /// use netreactor::{Action, Conn, ConnHandle, Engine, EventHandler};
    ///
    /// /// Hands its socket's handle out with the first datagram's sender.
    /// struct Register(mpsc::Sender<(ConnHandle, std::net::SocketAddr)>);
    /// impl EventHandler for Register {
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         let peer = conn.peer_addr().expect("a datagram has a sender");
    ///         let _ = self.0.send((conn.handle(), peer));
    ///         conn.discard(usize::MAX);
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let engine = Engine::builder().event_loops(1).start(Register(tx), "udp://127.0.0.1:0")?;
    /// let client = UdpSocket::bind("127.0.0.1:0")?;
    /// client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// client.send_to(b"hello", engine.local_addrs()[0].socket_addr().unwrap())?;
    /// let (handle, peer) = rx.recv_timeout(Duration::from_secs(10))?;
    /// handle.send_to(peer, "news")?; // from this thread, later
    /// let mut buf = [0; 16];
    /// let n = client.recv(&mut buf)?;
    /// assert_eq!(&buf[..n], b"news");
    /// assert!(handle.async_write("no destination").is_err()); // Error::Unsupported
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_to(&self, to: std::net::SocketAddr, data: impl Into<Bytes>) -> Result<()> {
        if !self.shared.datagram {
            return Err(Error::Unsupported(
                "send_to needs a UDP socket; a stream connection has one peer: use async_write",
            ));
        }
        let data = data.into();
        self.post_bytes(data.len(), Task::SendTo(self.id, to, data))
    }

    /// Runs `f` on the connection's loop with the connection, as if it were
    /// a callback: its writes are flushed when it returns, its `Action`
    /// applies, a panic closes only this connection. This is how another
    /// thread (or another connection's callback) acts on a connection
    /// directly: write to it, pause or resume its reading, close it. `f` gets
    /// the `Conn`, not the service's state (for that, `wake` the connection
    /// and let its `on_traffic` pick up the work).
    /// Nothing runs if the connection closes first. Any thread.
    ///
    /// On a UDP socket `f` runs as a turn of its own, like a datagram's: it
    /// has no sender (`peer_addr` is `None`), so what it writes has no
    /// destination and is dropped (counted in `Stats::datagrams_dropped`;
    /// use [`Conn::send_to`](crate::Conn::send_to)), and whatever it does to
    /// the socket's `Conn` ends with it.
    ///
    /// # Errors
    /// [`Error::ConnectionClosed`] or [`Error::EngineStopped`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// use std::sync::mpsc;
    /// use netreactor::{Action, Conn, ConnHandle, Engine, EventHandler};
    ///
    /// struct Publish(mpsc::SyncSender<ConnHandle>);
    /// impl EventHandler for Publish {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         let _ = self.0.send(conn.handle());
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let (tx, rx) = mpsc::sync_channel(1);
    /// let engine = Engine::builder().start(Publish(tx), "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// let handle = rx.recv()?;
    /// handle.call(|conn| {
    ///     conn.write(b"bye");
    ///     Action::Close
    /// })?;
    /// let mut reply = String::new();
    /// client.read_to_string(&mut reply)?; // "bye", then the close
    /// assert_eq!(reply, "bye");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn call(&self, f: impl FnOnce(&mut Conn) -> Action + Send + 'static) -> Result<()> {
        let f = CallFn(Box::new(move |conn: &mut dyn Any| {
            f(conn.downcast_mut::<Conn>().expect("the loop passes the connection"))
        }));
        self.post(Task::Call(self.id, f))
    }

    /// Runs `on_traffic` for the connection on its loop, even with no new
    /// bytes (not once the connection is closing).
    ///
    /// Any thread.
    ///
    /// # Errors
    /// [`Error::ConnectionClosed`] or [`Error::EngineStopped`];
    /// [`Error::Unsupported`] on a UDP socket (its `on_traffic` is one
    /// datagram's; use [`call`](ConnHandle::call)).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Read;
    /// # use std::time::Duration;
    /// use std::sync::mpsc;
    /// use netreactor::{Action, Conn, ConnHandle, Engine, EventHandler};
    ///
    /// /// Echoes; a wake with nothing received sends "woken".
    /// struct Wakeable(mpsc::Sender<ConnHandle>);
    /// impl EventHandler for Wakeable {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         let _ = self.0.send(conn.handle());
    ///         Action::Continue
    ///     }
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         if conn.inbound_len() == 0 {
    ///             conn.write(b"woken\n");
    ///         }
    ///         conn.echo_all();
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let engine = Engine::builder().event_loops(1).start(Wakeable(tx), "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// let handle = rx.recv_timeout(Duration::from_secs(10))?;
    /// handle.wake()?;
    /// let mut reply = [0; 6];
    /// client.read_exact(&mut reply)?;
    /// assert_eq!(&reply, b"woken\n");
    /// engine.stop();
    /// assert!(handle.wake().is_err()); // the connection closed with the engine
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wake(&self) -> Result<()> {
        self.stream_only("wake on a UDP socket: on_traffic is per datagram; use call")?;
        self.post(Task::Wake(self.id))
    }

    /// Closes the connection after flushing what is queued (as
    /// [`Conn::close`](crate::Conn::close)).
    ///
    /// Any thread.
    ///
    /// # Errors
    /// [`Error::ConnectionClosed`] or [`Error::EngineStopped`];
    /// [`Error::Unsupported`] on a UDP socket, which is not a connection:
    /// only the engine's stop closes it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Read;
    /// # use std::time::Duration;
    /// use std::sync::mpsc;
    /// use netreactor::{Action, Conn, ConnHandle, Engine, Error, EventHandler};
    ///
    /// struct Publish(mpsc::Sender<ConnHandle>);
    /// impl EventHandler for Publish {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         let _ = self.0.send(conn.handle());
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let engine = Engine::builder().event_loops(1).start(Publish(tx), "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// let handle = rx.recv_timeout(Duration::from_secs(10))?;
    /// assert!(handle.is_alive());
    /// assert_eq!(handle.id().event_loop(), 0);
    /// handle.async_write("bye")?;
    /// handle.close()?; // after "bye" is sent
    /// let mut got = Vec::new();
    /// client.read_to_end(&mut got)?;
    /// assert_eq!(got, b"bye");
    /// assert!(!handle.is_alive());
    /// assert!(matches!(handle.async_write("late"), Err(Error::ConnectionClosed)));
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&self) -> Result<()> {
        self.stream_only("a UDP socket is not a connection: a handle cannot close it (stopping the engine does)")?;
        self.post(Task::Close(self.id))
    }

    /// Ends the connection with a reset (RST), dropping what is queued for
    /// it, as [`Conn::reset`](crate::Conn::reset) does: for a peer that does
    /// not read (a slow subscriber past its limit, where `close` would wait
    /// for the linger deadline first), or to pass a cut stream on as cut.
    ///
    /// Any thread.
    ///
    /// # Errors
    /// As [`close`](ConnHandle::close).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::{ErrorKind, Read};
    /// # use std::time::Duration;
    /// use std::sync::mpsc;
    /// use netreactor::{Action, Conn, ConnHandle, Engine, EventHandler};
    ///
    /// struct Publish(mpsc::Sender<ConnHandle>);
    /// impl EventHandler for Publish {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         let _ = self.0.send(conn.handle());
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let engine = Engine::builder().event_loops(1).start(Publish(tx), "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// let handle = rx.recv_timeout(Duration::from_secs(10))?;
    /// handle.reset()?;
    /// let err = client.read(&mut [0; 1]).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reset(&self) -> Result<()> {
        self.stream_only("a UDP socket is not a connection: a handle cannot reset it")?;
        self.post(Task::Reset(self.id))
    }
}
