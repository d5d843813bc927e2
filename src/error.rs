//! The crate's one error type and the reasons a connection closes.

use std::fmt;
use std::io;
use std::mem;
use std::sync::Arc;

/// What can go wrong when starting, stopping or talking to an engine.
///
/// Any thread (`Send + Sync`).
///
/// # Examples
///
/// ```
/// use netreactor::{Address, Engine, Error, EventHandler};
///
/// struct Nothing;
/// impl EventHandler for Nothing {}
///
/// let err = Engine::builder().event_loops(0).start(Nothing, "tcp://127.0.0.1:0").unwrap_err();
/// assert!(matches!(err, Error::InvalidConfig(_)));
/// assert_eq!(err.to_string(), "invalid configuration: event_loops must be 1..=1024, got 0");
///
/// assert!(matches!(Address::parse("sctp://127.0.0.1:53"), Err(Error::InvalidAddress(_))));
///
/// let engine = Engine::builder().event_loops(1).start(Nothing, "tcp://127.0.0.1:0")?;
/// let taken = engine.local_addr().to_string();
/// let err = Engine::builder().event_loops(1).start(Nothing, &taken).unwrap_err();
/// assert!(matches!(err, Error::Io(ref e) if e.kind() == std::io::ErrorKind::AddrInUse));
/// assert!(std::error::Error::source(&err).is_some()); // the io::Error
/// engine.stop();
/// # Ok::<(), netreactor::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A system call failed; the `io::Error` is kept as the source.
    Io(io::Error),
    /// An address string could not be parsed or resolved.
    InvalidAddress(String),
    /// A builder option is out of range.
    InvalidConfig(String),
    /// The connection a handle points to has closed.
    ConnectionClosed,
    /// The engine (or the loop owning the connection) has stopped.
    EngineStopped,
    /// The codec could not encode a frame.
    Encode(String),
    /// The engine stopped because one of its threads ended unexpectedly, or
    /// `on_boot` panicked; the message names the thread and the panic.
    EngineFailed(String),
    /// A [`ConnHandle`](crate::ConnHandle) write was refused: the bytes in
    /// flight to that connection would pass its limit (the engine's
    /// `max_outbound_buffer`). Nothing was queued; the connection is fine.
    /// Retry once `ConnHandle::queued_bytes` has fallen.
    QueueFull {
        /// Bytes in flight when the write was refused.
        queued: usize,
        /// The limit, in bytes.
        limit: usize,
    },
    /// A [`ConnHandle`](crate::ConnHandle) write larger than the
    /// connection's whole limit (the engine's `max_outbound_buffer`): it
    /// can never be queued, so retrying is pointless. Nothing was queued;
    /// the connection is fine. Split the data, or raise the limit.
    TooLarge {
        /// The bytes the write would queue (for a frame: with the codec's
        /// header or delimiter).
        len: usize,
        /// The limit, in bytes.
        limit: usize,
    },
    /// The call does not apply to this kind of socket (for example
    /// `ConnHandle::async_write` on a UDP socket, which has no peer to write
    /// to: use `ConnHandle::send_to`). The message says which call and why.
    Unsupported(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::InvalidAddress(s) => write!(f, "invalid address: {s}"),
            Error::InvalidConfig(s) => write!(f, "invalid configuration: {s}"),
            Error::ConnectionClosed => f.write_str("connection closed"),
            Error::EngineStopped => f.write_str("engine stopped"),
            Error::Encode(m) => write!(f, "cannot encode frame: {m}"),
            Error::EngineFailed(why) => write!(f, "engine failed: {why}"),
            Error::QueueFull { queued, limit } => {
                write!(f, "connection's queue is full: {queued} bytes in flight, limit {limit}")
            }
            Error::TooLarge { len, limit } => {
                write!(
                    f,
                    "a write of {len} bytes can never fit the connection's {limit}-byte queue limit"
                )
            }
            Error::Unsupported(what) => write!(f, "unsupported: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// The message of a caught panic, for logs and close reasons.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// Shorthand for `std::result::Result<T, netreactor::Error>`.
///
/// Any thread.
///
/// # Examples
///
/// ```
/// use netreactor::{Engine, EventHandler};
///
/// struct Nothing;
/// impl EventHandler for Nothing {}
///
/// fn serve_briefly() -> netreactor::Result<u16> {
///     let engine = Engine::builder().event_loops(1).start(Nothing, "tcp://127.0.0.1:0")?;
///     let port = engine.local_addr().port();
///     engine.stop();
///     Ok(port)
/// }
/// assert_ne!(serve_briefly()?, 0);
/// # Ok::<(), netreactor::Error>(())
/// ```
pub type Result<T> = std::result::Result<T, Error>;

/// Why a connection closed; passed to [`EventHandler::on_close`](crate::EventHandler::on_close).
///
/// Reasons compare equal when they are the same kind with the same details
/// (two `Io` reasons: the same error kind, OS code and message).
///
/// Any thread (a plain value, `Send + Sync`).
///
/// # Examples
///
/// ```
/// use netreactor::CloseReason;
/// let r = CloseReason::OutboundOverflow { limit: 1024 };
/// assert_eq!(r.clone(), r);
/// assert_ne!(r, CloseReason::OutboundOverflow { limit: 2048 });
/// assert!(!r.is_local());
/// assert!(CloseReason::Local.is_local() && CloseReason::Shutdown.is_local());
/// assert_eq!(r.to_string(), "outbound buffer over 1024 bytes");
/// ```
///
/// [`EventHandler::on_close`](crate::EventHandler::on_close) shows one
/// arriving from an engine.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer closed its side (read returned end of file).
    PeerEof,
    /// The peer reset the connection (ECONNRESET, EPIPE).
    PeerReset,
    /// A read or write failed with another error (shared, so the reason
    /// can be cloned).
    Io(Arc<io::Error>),
    /// Closed by this side: `Conn::close`, `Action::Close` or `ConnHandle::close`.
    Local,
    /// The engine is shutting down.
    Shutdown,
    /// A callback panicked; the panic message.
    HandlerPanic(String),
    /// The inbound buffer reached its limit without the handler consuming it.
    InboundOverflow {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The engine-wide budget for bytes held in incomplete inbound messages
    /// was exceeded, and this connection held the most on its loop.
    InboundBudget {
        /// The budget, in bytes.
        limit: usize,
    },
    /// The outbound buffer reached its hard cap.
    OutboundOverflow {
        /// The limit, in bytes.
        limit: usize,
    },
    /// Queued output could not be flushed before the linger deadline.
    LingerTimeout,
    /// An idle or frame timeout expired.
    Timeout(TimeoutKind),
    /// The codec rejected the byte stream (malformed or oversize frame).
    Codec(String),
    /// A dialed connection never connected: refused, unreachable, or not
    /// done within its timeout (`ErrorKind::TimedOut`). `on_open` never ran.
    ConnectFailed(Arc<io::Error>),
    /// The handler closed the connection with a reason of its own
    /// ([`Conn::close_with`](crate::Conn::close_with)): the reason a server
    /// logs or counts in `on_close`, where the decision's context is gone.
    /// Counted with `Local` in `Stats`.
    User(String),
    /// The TLS layer ended the connection: a failed, garbled or timed-out
    /// handshake (`on_open` never ran), a protocol error or alert after it,
    /// or a stream cut without `close_notify`. Counted in `Stats` as
    /// `closed_tls_handshake` or `closed_tls_error`.
    Tls(TlsFailure),
}

/// Why the TLS layer closed a connection (see [`CloseReason::Tls`]).
///
/// Any thread (a plain value).
///
/// # Examples
///
/// ```
/// use netreactor::{CloseReason, TlsFailure};
///
/// let r = CloseReason::Tls(TlsFailure::HandshakeTimeout);
/// assert_eq!(r.to_string(), "TLS: handshake not done before its deadline");
/// assert!(TlsFailure::HandshakeTimeout.during_handshake());
/// assert!(!TlsFailure::Truncated.during_handshake());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The handshake did not finish before its deadline
    /// (`EngineBuilder::tls_handshake_timeout`).
    HandshakeTimeout,
    /// The peer sent more than `limit` bytes without finishing the handshake.
    HandshakeTooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The peer closed (FIN) before the handshake finished.
    HandshakeEof,
    /// The handshake failed: the peer's fatal alert, a garbled record, a
    /// certificate that did not verify, no protocol in common. The text is
    /// rustls's description of the error.
    Handshake(String),
    /// A protocol error or fatal alert after the handshake.
    Protocol(String),
    /// The peer's TCP stream ended (FIN) without a TLS `close_notify`: the
    /// data may have been cut short by an attacker or a crash, so it is
    /// never reported as a clean end of stream (`on_eof`).
    Truncated,
}

impl TlsFailure {
    /// True when the connection never finished its handshake (the handler
    /// never saw it: no `on_open`).
    pub fn during_handshake(&self) -> bool {
        !matches!(self, TlsFailure::Protocol(_) | TlsFailure::Truncated)
    }
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsFailure::HandshakeTimeout => f.write_str("handshake not done before its deadline"),
            TlsFailure::HandshakeTooLarge { limit } => {
                write!(f, "handshake over {limit} bytes")
            }
            TlsFailure::HandshakeEof => f.write_str("peer closed during the handshake"),
            TlsFailure::Handshake(e) => write!(f, "handshake failed: {e}"),
            TlsFailure::Protocol(e) => write!(f, "protocol error: {e}"),
            TlsFailure::Truncated => f.write_str("stream truncated (FIN without close_notify)"),
        }
    }
}

impl CloseReason {
    /// True when this side chose to close (not the peer, not an error):
    /// `Local`, `User` and `Shutdown`.
    ///
    /// Any thread.
    ///
    /// See the example on [`CloseReason`].
    pub fn is_local(&self) -> bool {
        matches!(self, CloseReason::Local | CloseReason::Shutdown | CloseReason::User(_))
    }

    pub(crate) fn from_io(e: io::Error) -> CloseReason {
        match e.kind() {
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionAborted => {
                CloseReason::PeerReset
            }
            _ => CloseReason::Io(Arc::new(e)),
        }
    }
}

impl PartialEq for CloseReason {
    fn eq(&self, other: &Self) -> bool {
        use CloseReason::*;
        match (self, other) {
            (Io(a), Io(b)) | (ConnectFailed(a), ConnectFailed(b)) => {
                a.kind() == b.kind() && a.raw_os_error() == b.raw_os_error() && a.to_string() == b.to_string()
            }
            (HandlerPanic(a), HandlerPanic(b)) | (Codec(a), Codec(b)) | (User(a), User(b)) => a == b,
            (InboundOverflow { limit: a }, InboundOverflow { limit: b })
            | (InboundBudget { limit: a }, InboundBudget { limit: b })
            | (OutboundOverflow { limit: a }, OutboundOverflow { limit: b }) => a == b,
            (Timeout(a), Timeout(b)) => a == b,
            (Tls(a), Tls(b)) => a == b,
            (a, b) => mem::discriminant(a) == mem::discriminant(b) && !a.has_details(),
        }
    }
}

impl Eq for CloseReason {}

impl CloseReason {
    /// True for the kinds that carry nothing but their kind.
    fn has_details(&self) -> bool {
        !matches!(
            self,
            CloseReason::PeerEof
                | CloseReason::PeerReset
                | CloseReason::Local
                | CloseReason::Shutdown
                | CloseReason::LingerTimeout
        )
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::PeerEof => f.write_str("peer closed the connection"),
            CloseReason::PeerReset => f.write_str("peer reset the connection"),
            CloseReason::Io(e) => write!(f, "I/O error: {e}"),
            CloseReason::Local => f.write_str("closed locally"),
            CloseReason::Shutdown => f.write_str("engine shutdown"),
            CloseReason::HandlerPanic(m) => write!(f, "handler panicked: {m}"),
            CloseReason::InboundOverflow { limit } => {
                write!(f, "inbound buffer over {limit} bytes")
            }
            CloseReason::InboundBudget { limit } => {
                write!(
                    f,
                    "engine-wide budget of {limit} bytes for partial inbound messages exceeded"
                )
            }
            CloseReason::OutboundOverflow { limit } => {
                write!(f, "outbound buffer over {limit} bytes")
            }
            CloseReason::LingerTimeout => f.write_str("queued output not flushed before the linger deadline"),
            CloseReason::Timeout(k) => write!(f, "{k} timeout"),
            CloseReason::Codec(m) => write!(f, "codec error: {m}"),
            CloseReason::ConnectFailed(e) => write!(f, "connect failed: {e}"),
            CloseReason::User(m) => write!(f, "closed by the handler: {m}"),
            CloseReason::Tls(t) => write!(f, "TLS: {t}"),
        }
    }
}

/// Which timeout closed a connection.
///
/// Any thread (a plain value).
///
/// # Examples
///
/// ```
/// use netreactor::{CloseReason, TimeoutKind};
///
/// assert_eq!(CloseReason::Timeout(TimeoutKind::Frame).to_string(), "frame timeout");
/// assert_eq!(TimeoutKind::ReadIdle.to_string(), "read idle");
/// ```
///
/// [`EngineBuilder::read_idle_timeout`](crate::EngineBuilder::read_idle_timeout),
/// [`write_idle_timeout`](crate::EngineBuilder::write_idle_timeout) and
/// [`frame_timeout`](crate::EngineBuilder::frame_timeout) show each arriving
/// from an engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// Nothing was received for the read-idle timeout.
    ReadIdle,
    /// Queued output made no progress (the peer read nothing) for the
    /// write-idle timeout.
    WriteIdle,
    /// A frame (or, without a codec, unconsumed input) stayed incomplete
    /// for the frame timeout after its first byte arrived.
    Frame,
}

impl fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutKind::ReadIdle => "read idle",
            TimeoutKind::WriteIdle => "write idle",
            TimeoutKind::Frame => "frame",
        })
    }
}
