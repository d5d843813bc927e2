//! A connection as the handler sees it ([`Conn`], loop thread only), its
//! halves, and as other threads reach it ([`ConnHandle`]).

mod drain;
mod halves;
mod handle;
mod relay;
#[cfg(feature = "tls")]
mod tls;

pub use self::halves::{Reader, Writer};
pub use self::handle::ConnHandle;
pub(crate) use self::handle::HandleShared;
pub use self::relay::RelayOptions;

use std::collections::HashMap;
use std::fmt;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::addr::Origin;
use crate::buffer::outbound::Outbound;
use crate::config::Keepalive;
use crate::error::{CloseReason, Result};
use crate::framing::Framer;
use crate::handle::EngineHandle;
use crate::id::{ConnId, TimerId, TimerKey};
use crate::mailbox::Mailbox;
use crate::options::OUTBOUND_COPY_THRESHOLD_BYTES;
use crate::sys;
use crate::sys::epoll::Interest;

/// A connection, lent to [`EventHandler`](crate::EventHandler) callbacks on
/// the loop thread that owns it.
///
/// Inbound bytes are read with [`peek`](Conn::peek) / [`discard`](Conn::discard)
/// / [`next`](Conn::next); what a callback leaves unconsumed is kept for the
/// next one. Writes are queued and flushed with one system call when the
/// callback returns. To read and write at once without copying, use
/// [`split`](Conn::split) or [`echo_all`](Conn::echo_all).
///
/// Loop thread only: a `Conn` exists only as the `&mut Conn` lent to a
/// callback. Other threads reach the connection through a [`ConnHandle`]
/// ([`Conn::handle`]).
///
/// # Examples
///
/// Reading: [`inbound_len`](Conn::inbound_len), [`peek`](Conn::peek),
/// [`peek_all`](Conn::peek_all), [`discard`](Conn::discard),
/// [`next`](Conn::next) and [`take_inbound`](Conn::take_inbound).
///
/// ```
/// # use std::io::{Read, Write};
/// # use std::time::Duration;
/// use netreactor::{Action, Conn, Engine, EventHandler};
///
/// /// Messages are a length byte and that many bytes; each comes back in
/// /// upper case. At end of file an incomplete one comes back as it is.
/// struct Upper;
/// impl EventHandler for Upper {
///     fn on_traffic(&self, conn: &mut Conn) -> Action {
///         while let Some(&len) = conn.peek(1).first() {
///             if conn.inbound_len() < 1 + len as usize {
///                 break; // wait for the rest; it stays buffered
///             }
///             conn.discard(1);
///             let message = conn.next(len as usize).expect("checked above");
///             conn.write(&message.to_ascii_uppercase());
///         }
///         Action::Continue
///     }
///     fn on_eof(&self, conn: &mut Conn) -> Action {
///         assert_eq!(conn.peek_all(), b"\x02x");
///         let partial = conn.take_inbound();
///         conn.write_bytes(partial);
///         Action::Close
///     }
/// }
///
/// let engine = Engine::builder().event_loops(1).start(Upper, "tcp://127.0.0.1:0")?;
/// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
/// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
/// client.write_all(b"\x03abc\x02x")?;
/// client.shutdown(std::net::Shutdown::Write)?;
/// let mut reply = Vec::new();
/// client.read_to_end(&mut reply)?;
/// assert_eq!(reply, b"ABC\x02x");
/// engine.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Conn {
    pub(crate) fd: OwnedFd,
    pub(crate) id: ConnId,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) inbound: BytesMut,
    pub(crate) outbound: Outbound,
    pub(crate) interest: Interest,
    /// Set once the connection should close when its output has drained.
    pub(crate) close_reason: Option<CloseReason>,
    /// The peer sent FIN; nothing more will be read.
    pub(crate) read_closed: bool,
    /// `on_writable` is owed once the queue is empty: a flush left output
    /// behind (a full socket), or the handler asked (`notify_when_drained`).
    pub(crate) owe_on_writable: bool,
    pub(crate) queued_for_flush: bool,
    /// `on_close` has run: handles made now are dead from the start.
    pub(crate) closed: bool,
    /// A UDP socket (not a connection: no `on_open`/`on_close`).
    pub(crate) datagram: bool,
    /// A dialed connection whose connect has not finished (no `on_open` yet).
    pub(crate) connecting: bool,
    /// The handler paused reading (`pause_reading`).
    pub(crate) reading_paused: bool,
    /// The peer has sent at least one byte (a drain spares a new connection
    /// that has not yet: its first request is on its way).
    pub(crate) heard: bool,
    /// Queued output was thrown away (`close_now`, a panic): the close
    /// resets the connection so the peer sees the stream was cut.
    pub(crate) output_dropped: bool,
    /// Closing with output queued: the linger deadline is armed (it lives
    /// in `timing`, allocated then, so idle connections stay small).
    pub(crate) lingering: bool,
    pub(crate) max_outbound: usize,
    pub(crate) write_side: WriteSide,
    /// Below the high watermark (as last reported to the handler).
    pub(crate) writable: bool,
    pub(crate) codec: Option<Framer>,
    /// Timer state; allocated only when timeouts are configured or a timer
    /// is scheduled, so an idle connection without them stays small.
    pub(crate) timing: Option<Box<Timing>>,
    /// Bytes this connection's partial inbound message holds, as counted in
    /// the engine's inbound budget (saturating at 4 GiB, which is over any
    /// sane budget, so such a holder is still the first to go; a u32 keeps
    /// an idle connection's slot within its memory budget).
    pub(crate) held: u32,
    /// Where it came from (`Origin::to_raw`).
    pub(crate) origin: u16,
    /// Bytes sent by `Conn::flush` calls, for the loop's counters.
    pub(crate) sent_by_flush: u64,
    /// UDP: datagrams `Conn::flush` and `Conn::send_to` sent, and those
    /// the kernel refused or that had no destination, for the counters.
    pub(crate) datagrams_sent: u16,
    pub(crate) datagrams_failed: u16,
    /// Shared with the connection's handles, once one exists.
    pub(crate) shared: Option<Arc<HandleShared>>,
    /// The engine (`Conn::engine`).
    pub(crate) engine: EngineHandle,
    /// Which bound service serves it (0 in an engine of one).
    pub(crate) service: u16,
    /// Relayed to another connection on this loop (`relay_to`); boxed, so
    /// the connections that are not relayed stay small.
    pub(crate) relay: Option<Box<RelayLink>>,
    /// The TLS layer of a TLS connection (`None`: plain).
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<Box<crate::tls::TlsConn>>,
}

impl Conn {
    /// Its loop's mailbox (through the engine: one pointer fewer per slot).
    #[inline]
    pub(crate) fn mailbox(&self) -> &Arc<Mailbox> {
        &self.engine.shared.loops[self.id.event_loop()].mailbox
    }

    /// The relay this connection is a side of, if any.
    #[inline]
    pub(crate) fn relay_link(&self) -> Option<RelayLink> {
        self.relay.as_deref().copied()
    }
}

/// One side of a relay (`Conn::relay_to`): the other side, and whether
/// this is the dialed upstream, which no callback ever sees.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RelayLink {
    pub(crate) peer: ConnId,
    pub(crate) upstream: bool,
    /// A TLS upstream whose handshake is still going: the relay connects
    /// when it finishes.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) handshaking: bool,
}

/// A framed handler's reply in one line: `conn.write_frame(&reply).into()`
/// continues when the frame was queued and closes the connection when the
/// codec could not encode it (the connection then closes with
/// `CloseReason::Codec`, as `write_frame` already arranged).
///
/// Any thread (a plain conversion).
///
/// # Examples
///
/// ```
/// # use std::io::{Read, Write};
/// # use std::time::Duration;
/// use netreactor::codec::LineCodec;
/// use netreactor::{Action, Conn, Engine, EventHandler, Frame};
///
/// /// Answers every line with its length.
/// struct Length;
/// impl EventHandler for Length {
///     fn on_frame(&self, conn: &mut Conn, line: Frame<'_>) -> Action {
///         conn.write_frame(line.len().to_string().as_bytes()).into()
///     }
/// }
///
/// let engine = Engine::builder().event_loops(1).codec(LineCodec::new()).start(Length, "tcp://127.0.0.1:0")?;
/// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
/// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
/// client.write_all(b"hello\nhi\n")?;
/// let mut reply = [0; 4];
/// client.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"5\n2\n");
/// engine.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl From<Result<()>> for crate::action::Action {
    fn from(written: Result<()>) -> Self {
        match written {
            Ok(()) => crate::action::Action::Continue,
            Err(_) => crate::action::Action::Close,
        }
    }
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("id", &self.id)
            .field("fd", &self.fd.as_raw_fd())
            .field("peer", &self.peer)
            .field("inbound_len", &self.inbound.len())
            .field("outbound_len", &self.outbound.len())
            .finish_non_exhaustive()
    }
}

/// A connection's timestamps and pending timer requests.
#[derive(Debug)]
pub(crate) struct Timing {
    /// When bytes last arrived / the kernel last took queued output.
    pub(crate) last_read: Instant,
    pub(crate) last_progress: Instant,
    /// When the unconsumed (partial) input started waiting.
    pub(crate) partial_since: Option<Instant>,
    /// The deadline of this connection's armed idle timer entry.
    pub(crate) idle_timer: Option<Instant>,
    /// When a closing connection stops waiting for its output to drain
    /// (`None`: the linger is unbounded).
    pub(crate) linger_deadline: Option<Instant>,
    /// Timers scheduled in the current callback: (delay, token, id).
    pub(crate) new_timers: Vec<(Duration, u64, TimerId)>,
    /// Timers on the loop's wheel, by id, so they can be cancelled (and are
    /// when the connection closes).
    pub(crate) armed: HashMap<TimerId, TimerKey>,
    /// Wheel entries to remove after the current callback.
    pub(crate) cancelled: Vec<TimerKey>,
    /// The next `TimerId` this connection hands out.
    pub(crate) next_timer: u64,
}

impl Timing {
    pub(crate) fn new(now: Instant) -> Box<Timing> {
        Box::new(Timing {
            last_read: now,
            last_progress: now,
            partial_since: None,
            idle_timer: None,
            linger_deadline: None,
            new_timers: Vec::new(),
            armed: HashMap::new(),
            cancelled: Vec::new(),
            next_timer: 0,
        })
    }
}

/// Who is at the other end of a Unix socket: [`Conn::peer_credentials`].
///
/// Any thread (a plain value). See the example on
/// [`Conn::peer_credentials`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerCredentials {
    /// The peer's process id.
    pub pid: i32,
    /// Its effective user id.
    pub uid: u32,
    /// Its effective group id.
    pub gid: u32,
}

/// The state of our sending side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteSide {
    Open,
    /// `shutdown_write` was called: send what is queued, then FIN.
    ShutdownPending,
    /// FIN sent.
    Shut,
    /// `close_now`: queued output dropped, nothing more is sent.
    Discarding,
}

impl Conn {
    /// This connection's id, unique among the live connections of the
    /// engine; it names the loop that owns the connection.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on [`ConnId`].
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The raw file descriptor (for socket options this crate does not wrap).
    /// Do not close it or change its blocking mode.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Read;
    /// # use std::time::Duration;
    /// use std::os::fd::BorrowedFd;
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// /// Turns TCP keepalive on, and Nagle's algorithm back on, for each client.
    /// struct Tuned;
    /// impl EventHandler for Tuned {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         // SAFETY: the descriptor stays open for as long as `conn` is lent.
    ///         let fd = unsafe { BorrowedFd::borrow_raw(conn.fd()) };
    ///         let socket = socket2::SockRef::from(&fd);
    ///         socket.set_keepalive(true).expect("setsockopt");
    ///         assert!(socket.tcp_nodelay().expect("getsockopt")); // the engine's default
    ///         conn.set_nodelay(false).expect("setsockopt");
    ///         assert!(!socket.tcp_nodelay().expect("getsockopt"));
    ///         conn.write(b"tuned");
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(1).start(Tuned, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// let mut reply = [0; 5];
    /// client.read_exact(&mut reply)?; // the asserts above held
    /// assert_eq!(&reply, b"tuned");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The peer's address, as accept reported it.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Read;
    /// # use std::time::Duration;
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// /// Tells each client both ends of its connection.
    /// struct WhoAmI;
    /// impl EventHandler for WhoAmI {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         let (peer, local) = (conn.peer_addr().unwrap(), conn.local_addr().unwrap());
    ///         conn.write(format!("{peer} {local}").as_bytes());
    ///         Action::Close
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(1).start(WhoAmI, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// let mut reply = String::new();
    /// client.read_to_string(&mut reply)?;
    /// assert_eq!(reply, format!("{} {}", client.local_addr()?, engine.local_addr()));
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Where the connection came from: which listener accepted it, or
    /// whether it was enrolled. Loop thread only (inside a callback).
    ///
    /// ```
    /// use netreactor::{Action, Conn, EventHandler, Origin};
    ///
    /// /// A public port and an admin socket in one engine: only the admin
    /// /// socket (listener 1) may send "shutdown".
    /// struct Server;
    /// impl EventHandler for Server {
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         let admin = conn.origin() == Origin::Accepted { listener: 1 };
    ///         if admin && conn.peek_all() == b"shutdown" {
    ///             return Action::Shutdown;
    ///         }
    ///         conn.echo_all();
    ///         Action::Continue
    ///     }
    /// }
    /// ```
    pub fn origin(&self) -> Origin {
        Origin::from_raw(self.origin)
    }

    /// The process, user and group of the peer of a Unix socket connection
    /// (SO_PEERCRED: as they were when it connected). Loop thread only.
    ///
    /// # Errors
    /// The connection is not a Unix socket (`InvalidInput`), or the call failed.
    ///
    /// See the example in the guide, "Unix sockets and several listeners".
    ///
    /// ```
    /// use std::io::Read;
    /// use std::os::unix::net::UnixStream;
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// /// Tells each Unix peer its own uid.
    /// struct WhoAmI;
    /// impl EventHandler for WhoAmI {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         let uid = conn.peer_credentials().map_or(u32::MAX, |c| c.uid);
    ///         conn.write(format!("{uid}").as_bytes());
    ///         Action::Close
    ///     }
    /// }
    ///
    /// let path = std::env::temp_dir().join(format!("nr-doc-cred-{}.sock", std::process::id()));
    /// let engine = Engine::builder().start(WhoAmI, format!("unix://{}", path.display()))?;
    /// let mut answer = String::new();
    /// UnixStream::connect(&path)?.read_to_string(&mut answer)?;
    /// assert!(answer.parse::<u32>().is_ok());
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn peer_credentials(&self) -> io::Result<PeerCredentials> {
        if !sys::socket::is_unix(self.fd.as_fd()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no peer credentials: not a Unix socket",
            ));
        }
        let (pid, uid, gid) = sys::socket::peer_credentials(self.fd.as_fd())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("no peer credentials: {e}")))?;
        Ok(PeerCredentials { pid, uid, gid })
    }

    /// The local address of the connection (one `getsockname` call).
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on [`Conn::peer_addr`].
    pub fn local_addr(&self) -> Option<SocketAddr> {
        sys::socket::local_addr(self.fd.as_fd())
    }

    /// Splits into the inbound and outbound halves, so received bytes can be
    /// written back without copying them out first.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// # use std::time::Duration;
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// struct Upper;
    /// impl EventHandler for Upper {
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         let (mut rx, mut tx) = conn.split();
    ///         tx.write(&rx.peek_all().to_ascii_uppercase());
    ///         let n = rx.len();
    ///         rx.discard(n);
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(1).start(Upper, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// client.write_all(b"shout")?;
    /// let mut reply = [0; 5];
    /// client.read_exact(&mut reply)?;
    /// assert_eq!(&reply, b"SHOUT");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn split(&mut self) -> (Reader<'_>, Writer<'_>) {
        (
            Reader { buf: &mut self.inbound },
            Writer {
                out: &mut self.outbound,
                max: self.max_outbound,
                open: self.write_side == WriteSide::Open,
                close_reason: &mut self.close_reason,
                codec: self.codec.as_mut(),
            },
        )
    }

    fn reader(&mut self) -> Reader<'_> {
        self.split().0
    }

    #[inline]
    fn writer(&mut self) -> Writer<'_> {
        self.split().1
    }

    /// Bytes received and not yet consumed.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on [`Conn`].
    pub fn inbound_len(&self) -> usize {
        self.inbound.len()
    }

    /// Up to `n` bytes from the front of the inbound data, not consumed.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on [`Conn`].
    pub fn peek(&self, n: usize) -> &[u8] {
        &self.inbound[..n.min(self.inbound.len())]
    }

    /// All inbound data, not consumed.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on [`Conn`].
    pub fn peek_all(&self) -> &[u8] {
        &self.inbound
    }

    /// Consumes up to `n` inbound bytes; returns how many.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on [`Conn`].
    pub fn discard(&mut self, n: usize) -> usize {
        self.reader().discard(n)
    }

    /// Takes exactly `n` inbound bytes without copying, or `None` if fewer
    /// have arrived.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on [`Conn`].
    pub fn next(&mut self, n: usize) -> Option<Bytes> {
        self.reader().next(n)
    }

    /// Takes all inbound bytes without copying.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on [`Conn`].
    pub fn take_inbound(&mut self) -> Bytes {
        self.reader().take_all()
    }

    /// Writes every inbound byte back to the peer: from
    /// [`OUTBOUND_COPY_THRESHOLD_BYTES`](crate::options::OUTBOUND_COPY_THRESHOLD_BYTES)
    /// (2 KiB) up without copying (split off the read buffer and queued by
    /// reference), below it copied into the outbound queue, which is
    /// cheaper at that size.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// # use std::time::Duration;
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// struct Echo;
    /// impl EventHandler for Echo {
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         conn.echo_all();
    ///         assert_eq!(conn.inbound_len(), 0); // all consumed
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(1).start(Echo, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// let big = vec![7u8; 100_000]; // sent by reference, not copied
    /// client.write_all(&big)?;
    /// let mut reply = vec![0; big.len()];
    /// client.read_exact(&mut reply)?;
    /// assert_eq!(reply, big);
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn echo_all(&mut self) {
        if self.inbound.len() < OUTBOUND_COPY_THRESHOLD_BYTES {
            // Cheaper than splitting a `Bytes` off the buffer only to copy it.
            let (reader, mut writer) = self.split();
            writer.write(reader.buf);
            reader.buf.clear();
            return;
        }
        let data = self.take_inbound();
        self.write_bytes(data);
    }

    /// Queues a copy of `data`; it is sent when the callback returns.
    ///
    /// Writes after [`close_now`](Conn::close_now) or
    /// [`shutdown_write`](Conn::shutdown_write) are dropped; one that would
    /// take the queue past
    /// [`max_outbound_buffer`](crate::EngineBuilder::max_outbound_buffer)
    /// closes the connection ([`CloseReason::OutboundOverflow`]).
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// # Examples
    ///
    /// [`write`](Conn::write), [`write_bytes`](Conn::write_bytes) and
    /// [`write_vectored`](Conn::write_vectored) queue in call order:
    ///
    /// ```
    /// # use std::io::Read;
    /// # use std::time::Duration;
    /// use std::io::IoSlice;
    /// use netreactor::{Action, Bytes, Conn, Engine, EventHandler};
    ///
    /// static BANNER: Bytes = Bytes::from_static(b"netreactor ready\n");
    ///
    /// struct Hello;
    /// impl EventHandler for Hello {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         conn.write(b"200 ");
    ///         conn.write_bytes(BANNER.clone()); // by reference, no copy of a large one
    ///         conn.write_vectored(&[IoSlice::new(b"a: 1\n"), IoSlice::new(b"b: 2\n")]);
    ///         assert_eq!(conn.outbound_len(), 31); // all queued, sent when this returns
    ///         Action::Close
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(1).start(Hello, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// let mut reply = String::new();
    /// client.read_to_string(&mut reply)?;
    /// assert_eq!(reply, "200 netreactor ready\na: 1\nb: 2\n");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write(&mut self, data: &[u8]) {
        self.writer().write(data);
    }

    /// Queues `data` by reference (small ones are copied; large ones are
    /// sent straight from the `Bytes`).
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on [`Conn::write`].
    pub fn write_bytes(&mut self, data: impl Into<Bytes>) {
        self.writer().write_bytes(data.into());
    }

    /// Queues several slices, in order.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on [`Conn::write`].
    pub fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) {
        self.writer().write_vectored(bufs);
    }

    /// Encodes `frame` with the engine's codec and queues it.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// # Errors
    /// [`Error::Encode`](crate::Error::Encode): no codec is set (or
    /// [`end_decoding`](Conn::end_decoding) removed it), or the codec
    /// rejects the frame; nothing is queued then.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// # use std::time::Duration;
    /// use netreactor::codec::LengthFieldCodec;
    /// use netreactor::{Action, Conn, Engine, Error, EventHandler, Frame};
    ///
    /// struct FrameEcho;
    /// impl EventHandler for FrameEcho {
    ///     fn on_frame(&self, conn: &mut Conn, frame: Frame<'_>) -> Action {
    ///         // 300 bytes do not fit a 1-byte length field.
    ///         assert!(matches!(conn.write_frame(&[0; 300]), Err(Error::Encode(_))));
    ///         conn.write_frame(&frame).into()
    ///     }
    /// }
    ///
    /// let codec = LengthFieldCodec::builder().length_field_length(1).build()?;
    /// let engine = Engine::builder().event_loops(1).codec(codec).start(FrameEcho, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// client.write_all(b"\x02hi")?;
    /// let mut reply = [0; 3];
    /// client.read_exact(&mut reply)?;
    /// assert_eq!(&reply, b"\x02hi");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn write_frame(&mut self, frame: &[u8]) -> Result<()> {
        self.writer().write_frame(frame)
    }

    /// Stops decoding frames on this connection, for a protocol switch (an
    /// HTTP-style upgrade, a tunnel after a handshake). Once the current
    /// `on_frame` returns no more frames are delivered: the bytes after
    /// that frame, and everything received later, go to `on_traffic`, at
    /// once if some are already here. `write_frame` then fails with
    /// [`Error::Encode`](crate::Error::Encode); `write` and the rest work as before. Does nothing
    /// on a connection without a codec.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// # use std::time::Duration;
    /// use netreactor::codec::LineCodec;
    /// use netreactor::{Action, Conn, Engine, EventHandler, Frame};
    ///
    /// /// Line commands until "RAW", then a raw echo.
    /// struct Upgrade;
    /// impl EventHandler for Upgrade {
    ///     fn on_frame(&self, conn: &mut Conn, line: Frame<'_>) -> Action {
    ///         if &line[..] == b"RAW" {
    ///             conn.end_decoding();
    ///         }
    ///         Action::Continue
    ///     }
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         conn.echo_all();
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let engine = Engine::builder()
    ///     .event_loops(1)
    ///     .codec(LineCodec::new())
    ///     .start(Upgrade, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// client.write_all(b"RAW\nno\nlines\n")?; // after "RAW", newlines are just bytes
    /// let mut reply = [0; 9];
    /// client.read_exact(&mut reply)?;
    /// assert_eq!(&reply, b"no\nlines\n");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn end_decoding(&mut self) {
        self.codec = None;
    }

    /// Bytes queued and not yet accepted by the kernel.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on [`Conn::flush`].
    pub fn outbound_len(&self) -> usize {
        self.outbound.len()
    }

    /// Sends queued bytes now instead of when the callback returns. What
    /// the socket does not take stays queued (see
    /// [`outbound_len`](Conn::outbound_len)).
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// # Errors
    /// The socket failed (the queued output is dropped and the connection
    /// will close with that reason).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Read;
    /// # use std::time::Duration;
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// /// Sends a status line before some slow work.
    /// struct Early;
    /// impl EventHandler for Early {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         conn.write(b"working\n");
    ///         assert_eq!(conn.outbound_len(), 8);
    ///         if conn.flush().is_err() {
    ///             return Action::Close;
    ///         }
    ///         assert_eq!(conn.outbound_len(), 0); // a fresh socket takes 8 bytes at once
    ///         // ... slow work ...
    ///         conn.write(b"done\n");
    ///         Action::Close
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(1).start(Early, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// let mut reply = String::new();
    /// client.read_to_string(&mut reply)?;
    /// assert_eq!(reply, "working\ndone\n");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush(&mut self) -> io::Result<()> {
        if self.datagram {
            return self.flush_datagram();
        }
        #[cfg(feature = "tls")]
        self.seal_tls();
        match self.outbound.flush(self.fd.as_fd()) {
            Ok(f) => {
                self.sent_by_flush += f.sent as u64;
                if let Some(t) = self.timing.as_mut().filter(|_| f.sent > 0) {
                    t.last_progress = Instant::now();
                }
                self.owe_on_writable |= !f.all;
                Ok(())
            }
            Err(e) => {
                self.outbound.clear();
                let copy = io::Error::new(e.kind(), e.to_string());
                self.close_reason.get_or_insert(CloseReason::from_io(e));
                Err(copy)
            }
        }
    }

    /// On a UDP socket: sends what was written so far as one datagram to
    /// the datagram's sender now; what is written after makes another.
    fn flush_datagram(&mut self) -> io::Result<()> {
        let Some(to) = self.peer else {
            self.outbound.clear();
            self.datagrams_failed = self.datagrams_failed.saturating_add(1);
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no datagram to answer in this turn: use send_to",
            ));
        };
        let sent = self.outbound.send_datagram(self.fd.as_fd(), to);
        self.count_datagram(sent).map(drop)
    }

    /// Sends `data` as one datagram to `to`, now, from this UDP socket: a
    /// reply to someone other than the sender, or a write from `on_timer`
    /// or [`ConnHandle::call`] (which have no sender). A full socket buffer
    /// is `WouldBlock`: the datagram is not sent, as UDP does.
    ///
    /// Loop thread only (inside a callback on this socket).
    ///
    /// # Errors
    /// `InvalidInput` on a stream connection (it has one peer: use
    /// [`write`](Conn::write)); the system call's error otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// use std::net::UdpSocket;
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// /// Forwards every datagram to the address written in it.
    /// struct Forward;
    /// impl EventHandler for Forward {
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         let text = String::from_utf8_lossy(conn.peek_all()).into_owned();
    ///         if let Ok(to) = text.parse() {
    ///             let _ = conn.send_to(to, b"forwarded");
    ///         }
    ///         conn.discard(usize::MAX);
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(1).start(Forward, "udp://127.0.0.1:0")?;
    /// let (sender, target) = (UdpSocket::bind("127.0.0.1:0")?, UdpSocket::bind("127.0.0.1:0")?);
    /// target.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// let server = engine.local_addrs()[0].socket_addr().unwrap();
    /// sender.send_to(target.local_addr()?.to_string().as_bytes(), server)?;
    /// let mut buf = [0; 16];
    /// let n = target.recv(&mut buf)?;
    /// assert_eq!(&buf[..n], b"forwarded");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_to(&mut self, to: SocketAddr, data: &[u8]) -> io::Result<usize> {
        if !self.datagram {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "send_to needs a UDP socket; a stream connection has one peer: use write",
            ));
        }
        let sent = sys::socket::send_datagram(self.fd.as_fd(), &[IoSlice::new(data)], to);
        self.count_datagram(sent)
    }

    /// Counts a datagram sent from a callback (for `Stats`).
    fn count_datagram(&mut self, sent: io::Result<usize>) -> io::Result<usize> {
        match &sent {
            Ok(n) => {
                self.sent_by_flush += *n as u64;
                self.datagrams_sent = self.datagrams_sent.saturating_add(1);
            }
            Err(_) => self.datagrams_failed = self.datagrams_failed.saturating_add(1),
        }
        sent
    }

    /// Closes the connection once everything queued has been sent (bounded
    /// by the [linger deadline](crate::EngineBuilder::close_linger)).
    /// `on_close` follows with [`CloseReason::Local`]. Returning
    /// [`Action::Close`](crate::Action::Close) does the same.
    ///
    /// On a UDP socket: ends this datagram's handling (the reply written so
    /// far is still sent); the socket stays open for the next datagram.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// # use std::time::Duration;
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// /// Answers one message, then hangs up.
    /// struct OneShot;
    /// impl EventHandler for OneShot {
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         conn.echo_all();
    ///         conn.close();
    ///         assert!(conn.is_closing());
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(1).start(OneShot, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// client.write_all(b"once")?;
    /// let mut reply = Vec::new();
    /// client.read_to_end(&mut reply)?; // the echo, then end of file
    /// assert_eq!(reply, b"once");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&mut self) {
        self.close_reason.get_or_insert(CloseReason::Local);
    }

    /// Closes the connection as [`close`](Conn::close) does (after its
    /// output is sent), with a reason of the handler's own: `on_close`
    /// gets [`CloseReason::User`] with it, so the server can log or count
    /// why in one place, and the engine logs it (`info`). If the connection
    /// is already closing, its first reason stands.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// # use std::time::Duration;
    /// use std::sync::mpsc;
    /// use netreactor::{Action, CloseReason, Conn, Engine, EventHandler};
    ///
    /// /// Takes one command; anything but "hello" ends the conversation.
    /// struct Strict(mpsc::Sender<CloseReason>);
    /// impl EventHandler for Strict {
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         if conn.peek_all() != b"hello" {
    ///             conn.write(b"bye\n");
    ///             conn.close_with("unknown greeting");
    ///         }
    ///         conn.discard(usize::MAX);
    ///         Action::Continue
    ///     }
    ///     fn on_close(&self, _conn: &mut Conn, reason: CloseReason) {
    ///         let _ = self.0.send(reason);
    ///     }
    /// }
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let engine = Engine::builder().event_loops(1).start(Strict(tx), "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// client.write_all(b"howdy")?;
    /// let mut reply = String::new();
    /// client.read_to_string(&mut reply)?;
    /// assert_eq!(reply, "bye\n");
    /// let reason = rx.recv_timeout(Duration::from_secs(10))?;
    /// assert_eq!(reason, CloseReason::User("unknown greeting".into()));
    /// assert_eq!(reason.to_string(), "closed by the handler: unknown greeting");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close_with(&mut self, reason: impl Into<String>) {
        if self.close_reason.is_none() {
            self.close_reason = Some(CloseReason::User(reason.into()));
        }
    }

    /// Closes the connection when the callback returns, dropping queued
    /// output; if some was dropped, the peer sees a reset rather than an end
    /// of file. `on_close` follows with [`CloseReason::Local`].
    ///
    /// On a UDP socket: drops this datagram's reply; the socket stays open
    /// and the next datagram is served as usual.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Read;
    /// # use std::time::Duration;
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// struct Abort;
    /// impl EventHandler for Abort {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         conn.write(b"never sent");
    ///         conn.close_now();
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(1).start(Abort, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// let mut got = Vec::new();
    /// let _ = client.read_to_end(&mut got); // a reset (an error) or an end of file
    /// assert!(got.is_empty());
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close_now(&mut self) {
        self.output_dropped |= !self.outbound.is_empty();
        self.outbound.clear();
        self.write_side = WriteSide::Discarding;
        self.close_reason.get_or_insert(CloseReason::Local);
    }

    /// Ends the connection with a reset (RST) when the callback returns,
    /// dropping queued output, whether or not any was queued: how a peer
    /// learns its stream was cut (a relay whose other side failed, a
    /// protocol error mid-message), where [`close`](Conn::close) and
    /// [`close_now`](Conn::close_now) with nothing queued end in a FIN that
    /// says the stream ended whole. `on_close` follows with
    /// [`CloseReason::Local`].
    ///
    /// On a UDP socket: as [`close_now`](Conn::close_now) (a datagram has
    /// no stream to cut).
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::{ErrorKind, Read};
    /// # use std::time::Duration;
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// struct Refuse;
    /// impl EventHandler for Refuse {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         conn.reset();
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(1).start(Refuse, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// let err = client.read(&mut [0; 1]).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reset(&mut self) {
        self.close_now();
        self.output_dropped = !self.datagram;
    }

    /// Half-closes: sends what is queued, then a FIN; the peer sees end of
    /// file but may keep sending, and reading goes on. Later writes are dropped.
    /// The connection closes once the peer's end of file has arrived too.
    ///
    /// On a UDP socket: this datagram's reply is sent as written and later
    /// writes in the same turn are dropped; the next datagram starts anew.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// # use std::time::Duration;
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// /// Sends everything it has to say at once, then only listens.
    /// struct Announce;
    /// impl EventHandler for Announce {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         conn.write(b"all I have to say");
    ///         conn.shutdown_write();
    ///         Action::Continue
    ///     }
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         conn.discard(usize::MAX);
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(1).start(Announce, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// let mut said = String::new();
    /// client.read_to_string(&mut said)?; // end of file, though the connection is open
    /// assert_eq!(said, "all I have to say");
    /// client.write_all(b"still listening?")?; // the server may still read
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown_write(&mut self) {
        if self.write_side == WriteSide::Open {
            self.write_side = WriteSide::ShutdownPending;
        }
    }

    /// Asks for [`on_writable`](crate::EventHandler::on_writable) once
    /// everything queued on this connection has been sent: right after this
    /// callback if the flush that ends it empties the queue, or later when
    /// the socket has drained. The reliable way to wait for a connection to
    /// catch up (a relay pausing its other side, the proxy pattern), where
    /// `on_writable` alone runs only after the socket was full. Loop thread
    /// only.
    ///
    /// On a UDP socket it does nothing (a reply is sent whole, at once).
    ///
    /// See the proxy pattern in the guide (`examples/proxy/relay.rs` uses it).
    pub fn notify_when_drained(&mut self) {
        self.owe_on_writable = true;
    }

    /// Stops reading from the peer until [`resume_reading`](Conn::resume_reading):
    /// what it sends waits in the kernel, and TCP's flow control slows it
    /// down. Bytes already received stay in the inbound buffer. For a relay
    /// whose other side is not keeping up (the proxy pattern). Loop thread
    /// only.
    ///
    /// On a UDP socket it does nothing: each datagram is a turn of its own,
    /// and the socket keeps reading.
    ///
    /// See the proxy pattern in the guide (`examples/proxy/relay.rs` uses it).
    pub fn pause_reading(&mut self) {
        self.reading_paused = true;
    }

    /// Reads again after [`pause_reading`](Conn::pause_reading). Loop thread only.
    ///
    /// See the proxy pattern in the guide (`examples/proxy/relay.rs` uses it).
    pub fn resume_reading(&mut self) {
        self.reading_paused = false;
    }

    /// True while the handler has paused reading. Loop thread only.
    ///
    /// See the proxy pattern in the guide (`examples/proxy/relay.rs` uses it).
    pub fn is_reading_paused(&self) -> bool {
        self.reading_paused
    }

    /// False while queued output is above the high watermark (from the
    /// flush that crossed it until one brings it down to the low watermark).
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on
    /// [`EventHandler::on_writability_changed`](crate::EventHandler::on_writability_changed).
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// Calls [`EventHandler::on_timer`](crate::EventHandler::on_timer) with
    /// `token` after `delay`, on this connection's loop, unless the timer is
    /// cancelled or the connection closes first (its timers go with it).
    /// `delay` may be anything: `Duration::MAX` (or anything over a century)
    /// means never.
    ///
    /// On a UDP socket the timer belongs to the socket, not to the sender of
    /// the datagram being served: `on_timer` runs with no `peer_addr`, so it
    /// writes with [`send_to`](Conn::send_to).
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// use std::time::{Duration, Instant};
    /// use netreactor::{Action, Conn, Engine, Service, TimerId};
    ///
    /// /// Echoes, and closes a connection 50 ms after its last message; each
    /// /// message re-arms the timer (the one armed is the state).
    /// struct Quiet;
    /// impl Service for Quiet {
    ///     type State = Option<TimerId>;
    ///     fn on_traffic(&self, conn: &mut Conn, armed: &mut Option<TimerId>) -> Action {
    ///         conn.echo_all();
    ///         if let Some(old) = armed.take() {
    ///             conn.cancel_timer(old);
    ///         }
    ///         *armed = Some(conn.schedule(Duration::from_millis(50), 0));
    ///         Action::Continue
    ///     }
    ///     fn on_timer(&self, _conn: &mut Conn, _: &mut Option<TimerId>, _token: u64) -> Action {
    ///         Action::Close
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(1).start(Quiet, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// let sent = Instant::now();
    /// client.write_all(b"hi")?;
    /// client.read_exact(&mut [0; 2])?;
    /// assert_eq!(client.read(&mut [0; 1])?, 0); // closed by the timer...
    /// assert!(sent.elapsed() >= Duration::from_millis(45)); // ...not before it was due
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn schedule(&mut self, delay: Duration, token: u64) -> TimerId {
        let timing = self.timing.get_or_insert_with(|| Timing::new(Instant::now()));
        let id = TimerId(timing.next_timer);
        timing.next_timer += 1;
        timing.new_timers.push((delay, token, id));
        id
    }

    /// Cancels a timer set with [`schedule`](Conn::schedule): its
    /// `on_timer` will not run. Returns false if it already ran (or was
    /// cancelled).
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Read;
    /// use std::time::Duration;
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// /// Sets two timers and cancels the earlier one: only "late" is said.
    /// struct Timers;
    /// impl EventHandler for Timers {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         let early = conn.schedule(Duration::from_millis(1), 1);
    ///         let late = conn.schedule(Duration::from_millis(20), 2);
    ///         assert_ne!(early, late);
    ///         assert!(conn.cancel_timer(early));
    ///         assert!(!conn.cancel_timer(early)); // already cancelled
    ///         Action::Continue
    ///     }
    ///     fn on_timer(&self, conn: &mut Conn, token: u64) -> Action {
    ///         conn.write(if token == 1 { b"early" } else { b"late" });
    ///         Action::Close
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(1).start(Timers, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// let mut said = String::new();
    /// client.read_to_string(&mut said)?;
    /// assert_eq!(said, "late");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cancel_timer(&mut self, timer: TimerId) -> bool {
        let Some(timing) = self.timing.as_deref_mut() else {
            return false;
        };
        if let Some(i) = timing.new_timers.iter().position(|&(_, _, t)| t == timer) {
            timing.new_timers.swap_remove(i);
            return true;
        }
        match timing.armed.remove(&timer) {
            Some(key) => {
                timing.cancelled.push(key);
                true
            }
            None => false,
        }
    }

    /// True once the connection is closing (no more callbacks but `on_close`).
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on [`Conn::close`].
    pub fn is_closing(&self) -> bool {
        self.close_reason.is_some()
    }

    /// Turns Nagle's algorithm off (`true`, the engine's default) or on.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// # Errors
    /// The `setsockopt` call failed.
    ///
    /// See the example on [`Conn::fd`].
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        sys::socket::set_nodelay(self.fd.as_fd(), nodelay)
    }

    /// Turns TCP keepalive probes on with these settings, or off (`None`).
    /// Loop thread only (inside a callback on this connection).
    ///
    /// # Errors
    /// The `setsockopt` calls failed (for example, not a TCP connection).
    ///
    /// ```
    /// use std::time::Duration;
    /// use netreactor::{Action, Conn, EventHandler, Keepalive};
    ///
    /// /// Long-lived clients get probed after a minute of silence.
    /// struct Probed;
    /// impl EventHandler for Probed {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         let probes = Keepalive { idle: Duration::from_secs(60), interval: Duration::from_secs(10), retries: 6 };
    ///         let _ = conn.set_keepalive(Some(probes));
    ///         Action::Continue
    ///     }
    /// }
    /// ```
    pub fn set_keepalive(&self, probes: Option<Keepalive>) -> io::Result<()> {
        sys::socket::set_keepalive(self.fd.as_fd(), probes.map(Keepalive::to_parts))
    }

    /// The keepalive settings in force (`None`: off). Loop thread only.
    ///
    /// # Errors
    /// The `getsockopt` calls failed.
    ///
    /// See the example on [`set_keepalive`](Conn::set_keepalive).
    pub fn keepalive(&self) -> io::Result<Option<Keepalive>> {
        Ok(
            sys::socket::keepalive(self.fd.as_fd())?.map(|(idle, interval, retries)| Keepalive {
                idle,
                interval,
                retries,
            }),
        )
    }

    /// Sets SO_RCVBUF (the kernel doubles the value for its bookkeeping,
    /// and caps it at `net.core.rmem_max`). Loop thread only.
    ///
    /// # Errors
    /// The `setsockopt` call failed.
    ///
    /// See the example on [`set_keepalive`](Conn::set_keepalive).
    pub fn set_recv_buffer_size(&self, bytes: usize) -> io::Result<()> {
        sys::socket::set_recv_buffer_size(self.fd.as_fd(), bytes)
    }

    /// Sets SO_SNDBUF (doubled and capped by the kernel, as
    /// [`set_recv_buffer_size`](Conn::set_recv_buffer_size)). Loop thread only.
    ///
    /// # Errors
    /// The `setsockopt` call failed.
    ///
    /// See the example on [`set_keepalive`](Conn::set_keepalive).
    pub fn set_send_buffer_size(&self, bytes: usize) -> io::Result<()> {
        sys::socket::set_send_buffer_size(self.fd.as_fd(), bytes)
    }

    /// SO_RCVBUF as the kernel reports it. Loop thread only.
    ///
    /// # Errors
    /// The `getsockopt` call failed.
    ///
    /// See the example on [`set_keepalive`](Conn::set_keepalive).
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        sys::socket::recv_buffer_size(self.fd.as_fd())
    }

    /// SO_SNDBUF as the kernel reports it. Loop thread only.
    ///
    /// # Errors
    /// The `getsockopt` call failed.
    ///
    /// See the example on [`set_keepalive`](Conn::set_keepalive).
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        sys::socket::send_buffer_size(self.fd.as_fd())
    }

    /// A handle other threads can use to write to or close this connection.
    /// Handles are cheap to clone; every handle of one connection is equal.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on [`ConnHandle`].
    pub fn handle(&mut self) -> ConnHandle {
        let (closed, limit, datagram) = (self.closed, self.max_outbound, self.datagram);
        let overhead = self.codec.as_ref().map_or(0, |c| c.frame_overhead());
        let shared = self
            .shared
            .get_or_insert_with(|| HandleShared::new(!closed, limit, overhead, datagram))
            .clone();
        shared.update(self.outbound.len(), 0);
        ConnHandle {
            id: self.id,
            mailbox: self.mailbox().clone(),
            shared,
        }
    }

    /// The engine this connection belongs to: to dial from a callback, read
    /// [`stats`](EngineHandle::stats) for an admin command, or stop it.
    ///
    /// Loop thread only (inside a callback on this connection); the handle
    /// itself may be cloned and sent anywhere.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// # use std::time::Duration;
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// /// Answers every connection with the number open.
    /// struct Census;
    /// impl EventHandler for Census {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         let open = conn.engine().connection_count();
    ///         conn.write(format!("{open} open\n").as_bytes());
    ///         Action::Close
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().start(Census, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// let mut reply = String::new();
    /// client.read_to_string(&mut reply)?;
    /// assert_eq!(reply, "1 open\n");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn engine(&self) -> &EngineHandle {
        &self.engine
    }
}

/// The connection's socket, for socket options this crate does not wrap
/// (with `socket2::SockRef::from(conn)` or `nix`), without `unsafe`. Loop
/// thread only; do not close it or change its blocking mode.
///
/// ```
/// use std::os::fd::AsFd;
/// use netreactor::{Action, Conn, EventHandler};
///
/// struct Tos;
/// impl EventHandler for Tos {
///     fn on_open(&self, conn: &mut Conn) -> Action {
///         let _ = nix::sys::socket::setsockopt(&conn.as_fd(), nix::sys::socket::sockopt::IpTos, &0x10);
///         Action::Continue
///     }
/// }
/// ```
impl AsFd for Conn {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl io::Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Conn::write(self, buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Conn::flush(self)
    }
}
