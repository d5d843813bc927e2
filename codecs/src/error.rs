//! The one error type every codec in this crate returns.

use std::fmt;
use std::io;

/// Why a frame could not be decoded or an item could not be encoded.
///
/// Every decoder in this crate reports a broken or oversize frame with one of
/// these variants instead of panicking; the engine closes the one connection
/// whose stream produced it and passes the error to `on_close`.
///
/// Any thread (a plain value, `Send + Sync`).
///
/// # Examples
///
/// ```
/// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
/// use netreactor::codec::CodecError;
///
/// let err = CodecError::FrameTooLong { len: 10_000, max: 1024 };
/// assert_eq!(err.to_string(), "frame of 10000 bytes exceeds the maximum of 1024 bytes");
/// let io: std::io::Error = err.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::InvalidData);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecError {
    /// A length-prefixed frame (header included, after the length adjustment)
    /// is longer than the configured maximum.
    FrameTooLong {
        /// The frame length the header announced, after adjustment
        /// (saturated at `u64::MAX`).
        len: u64,
        /// The configured maximum frame length in bytes.
        max: usize,
    },
    /// The bytes cannot be a valid frame: the adjusted length is negative or
    /// shorter than the header, or the frame is shorter than the bytes to strip.
    CorruptFrame(String),
    /// The value to write into a length field on encode is negative or does
    /// not fit in the field (it is never silently truncated).
    LengthFieldOverflow {
        /// The value that should have been written.
        value: i128,
        /// The width of the length field in bytes.
        field_bytes: usize,
    },
    /// A line (terminator excluded) is longer than the configured maximum.
    LineTooLong {
        /// The configured maximum line length in bytes.
        max: usize,
    },
    /// A delimited frame (delimiter excluded) is longer than the configured maximum.
    DelimitedFrameTooLong {
        /// The configured maximum frame length in bytes.
        max: usize,
    },
    /// An item handed to a fixed-length encoder does not have the fixed length.
    FrameLengthMismatch {
        /// The fixed frame length in bytes.
        expected: usize,
        /// The length of the item in bytes.
        actual: usize,
    },
    /// An item handed to a line or delimiter encoder contains (or, with its
    /// last bytes, would form) a terminator, so the peer would not decode it as
    /// exactly that one frame.
    ItemContainsDelimiter,
    /// A codec was configured with parameters that cannot work.
    InvalidConfig(&'static str),
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FrameTooLong { len, max } => {
                write!(f, "frame of {len} bytes exceeds the maximum of {max} bytes")
            }
            Self::CorruptFrame(why) => write!(f, "corrupt frame: {why}"),
            Self::LengthFieldOverflow { value, field_bytes } => write!(
                f,
                "length value {value} does not fit in a {field_bytes}-byte length field"
            ),
            Self::LineTooLong { max } => {
                write!(f, "line exceeds the maximum of {max} bytes")
            }
            Self::DelimitedFrameTooLong { max } => {
                write!(f, "delimited frame exceeds the maximum of {max} bytes")
            }
            Self::FrameLengthMismatch { expected, actual } => write!(
                f,
                "item of {actual} bytes given to a fixed-length codec of {expected} bytes"
            ),
            Self::ItemContainsDelimiter => {
                f.write_str("item contains or ends in part of the frame delimiter and would be decoded differently")
            }
            Self::InvalidConfig(why) => write!(f, "invalid codec configuration: {why}"),
        }
    }
}

impl std::error::Error for CodecError {}

impl From<CodecError> for io::Error {
    fn from(err: CodecError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, err)
    }
}
