//! The crate's one error type and the reasons a connection closes.

use std::fmt;
use std::io;

/// What can go wrong when starting, stopping or talking to an engine.
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

/// Shorthand for `std::result::Result<T, netreactor::Error>`.
pub type Result<T> = std::result::Result<T, Error>;

/// Why a connection closed; passed to [`EventHandler::on_close`](crate::EventHandler::on_close).
#[derive(Debug)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer closed its side (read returned end of file).
    PeerEof,
    /// The peer reset the connection (ECONNRESET, EPIPE).
    PeerReset,
    /// A read or write failed with another error.
    Io(io::Error),
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
}

impl CloseReason {
    /// True when this side chose to close (not the peer, not an error).
    pub fn is_local(&self) -> bool {
        matches!(self, CloseReason::Local | CloseReason::Shutdown)
    }

    pub(crate) fn from_io(e: io::Error) -> CloseReason {
        match e.kind() {
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionAborted => {
                CloseReason::PeerReset
            }
            _ => CloseReason::Io(e),
        }
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
            CloseReason::OutboundOverflow { limit } => {
                write!(f, "outbound buffer over {limit} bytes")
            }
            CloseReason::LingerTimeout => f.write_str("queued output not flushed before the linger deadline"),
            CloseReason::Timeout(k) => write!(f, "{k} timeout"),
            CloseReason::Codec(m) => write!(f, "codec error: {m}"),
        }
    }
}

/// Which timeout closed a connection.
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
