//! Sans-IO frame codecs: cut a byte stream into frames and back.
//!
//! The traits are shaped like `tokio-util`'s so Rust users feel at home; the
//! length-field codec follows Netty's `LengthFieldBasedFrameDecoder`.
//!
//! netreactor re-exports this crate as `netreactor::codec` (and `Bytes`,
//! `BytesMut` as `netreactor::Bytes`, `netreactor::BytesMut`): the examples
//! here are written with those paths, as a netreactor user writes them. With
//! this crate alone, write `netreactor_codecs::LineCodec` and
//! `bytes::BytesMut` instead.
//!
//! Every item may be used on any thread: a codec is a plain value
//! (`Send + Sync`) that does no I/O. An engine clones one per connection and
//! calls it on that connection's loop thread.
//!
//! # Examples
//!
//! ```
//! # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
//! use netreactor::BytesMut;
//! use netreactor::codec::{Decoder, Encoder, LineCodec};
//!
//! let mut codec = LineCodec::new();
//! let mut wire = BytesMut::new();
//! codec.encode("hello", &mut wire)?;
//! codec.encode("world", &mut wire)?;
//! assert_eq!(&codec.decode(&mut wire)?.unwrap()[..], b"hello");
//! assert_eq!(&codec.decode(&mut wire)?.unwrap()[..], b"world");
//! assert_eq!(codec.decode(&mut wire)?, None);
//! # Ok::<(), netreactor::codec::CodecError>(())
//! ```

#![forbid(unsafe_code)]

use bytes::BytesMut;

/// The `Encoder` impls every codec here has, each a call to the codec's
/// `encode_slice`: for `Bytes`, `&Bytes` and `&[u8]` (the one the engine
/// uses, so inlined across the crate boundary).
macro_rules! slice_encoders {
    ($codec:ty) => {
        impl $crate::Encoder<bytes::Bytes> for $codec {
            type Error = $crate::CodecError;

            fn encode(&mut self, item: bytes::Bytes, dst: &mut bytes::BytesMut) -> Result<(), $crate::CodecError> {
                self.encode_slice(&item, dst)
            }

            fn frame_overhead(&self) -> usize {
                self.overhead_bytes()
            }

            fn prefix_rule(&self) -> Option<$crate::PrefixRule> {
                self.rule()
            }
        }

        impl $crate::Encoder<&bytes::Bytes> for $codec {
            type Error = $crate::CodecError;

            fn encode(&mut self, item: &bytes::Bytes, dst: &mut bytes::BytesMut) -> Result<(), $crate::CodecError> {
                self.encode_slice(item, dst)
            }

            fn frame_overhead(&self) -> usize {
                self.overhead_bytes()
            }

            fn prefix_rule(&self) -> Option<$crate::PrefixRule> {
                self.rule()
            }
        }

        impl $crate::Encoder<&[u8]> for $codec {
            type Error = $crate::CodecError;

            #[inline]
            fn encode(&mut self, item: &[u8], dst: &mut bytes::BytesMut) -> Result<(), $crate::CodecError> {
                self.encode_slice(item, dst)
            }

            fn frame_overhead(&self) -> usize {
                self.overhead_bytes()
            }

            fn prefix_rule(&self) -> Option<$crate::PrefixRule> {
                self.rule()
            }
        }
    };
}

mod delimiter;
mod error;
mod fixed;
#[doc(hidden)]
pub mod fuzzing;
mod length_field;
mod line;
mod prefix;
mod search;

pub use delimiter::{DelimiterCodec, DEFAULT_MAX_DELIMITED_FRAME_LEN_BYTES};
pub use error::CodecError;
pub use fixed::FixedLengthCodec;
pub use length_field::{LengthFieldCodec, LengthFieldCodecBuilder, DEFAULT_MAX_FRAME_LEN_BYTES, MAX_DISCARD_BYTES};
pub use line::{LineCodec, LineEnding, DEFAULT_MAX_LINE_LEN_BYTES};
pub use prefix::{Prefix, PrefixRule};

/// The most bytes a decoder asks `BytesMut::reserve` for in one step while it
/// waits for the rest of a frame.
///
/// A header that announces a huge frame therefore costs nothing until the
/// bytes actually arrive: buffer growth follows the data received, never the
/// length a peer claims.
///
/// # Examples
///
/// ```
/// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
/// assert_eq!(netreactor::codec::MAX_RESERVE_STEP_BYTES, 64 * 1024);
/// ```
pub const MAX_RESERVE_STEP_BYTES: usize = 64 * 1024;

/// Reserves room for at most [`MAX_RESERVE_STEP_BYTES`] of the `missing` bytes.
fn reserve_bounded(src: &mut BytesMut, missing: usize) {
    let step = missing.min(MAX_RESERVE_STEP_BYTES);
    if src.capacity() - src.len() < step {
        src.reserve(step);
    }
}

/// Cuts frames out of a byte stream.
///
/// Any thread: a decoder is a plain value; it keeps the state of one stream.
///
/// # Examples
///
/// A decoder of your own:
///
/// ```
/// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
/// use bytes::Buf;
/// use netreactor::{Bytes, BytesMut};
/// use netreactor::codec::Decoder;
///
/// /// Frames are a length byte and that many bytes.
/// struct ByteLen;
/// impl Decoder for ByteLen {
///     type Item = Bytes;
///     type Error = std::convert::Infallible;
///
///     fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, Self::Error> {
///         let Some(&len) = src.first() else { return Ok(None) };
///         if src.len() < 1 + len as usize {
///             return Ok(None); // wait for the rest
///         }
///         src.advance(1);
///         Ok(Some(src.split_to(len as usize).freeze()))
///     }
/// }
///
/// let mut src = BytesMut::from(&b"\x02hi\x03ab"[..]);
/// assert_eq!(ByteLen.decode(&mut src), Ok(Some(Bytes::from_static(b"hi"))));
/// assert_eq!(ByteLen.decode(&mut src), Ok(None)); // 2 of 3 bytes
/// assert_eq!(&src[..], b"\x03ab");
/// ```
pub trait Decoder {
    /// The decoded frame.
    type Item;
    /// The error a corrupt or oversize frame yields.
    type Error;

    /// Decodes one frame from the front of `src`, or returns `Ok(None)` when
    /// `src` does not yet hold a whole frame.
    ///
    /// Any thread.
    ///
    /// # Errors
    /// The bytes can never form a valid frame (corrupt or oversize).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use netreactor::{Bytes, BytesMut};
    /// use netreactor::codec::{Decoder, LineCodec};
    ///
    /// let mut codec = LineCodec::new();
    /// let mut src = BytesMut::from(&b"par"[..]);
    /// assert_eq!(codec.decode(&mut src)?, None); // not a whole line yet
    /// src.extend_from_slice(b"t\n");
    /// assert_eq!(codec.decode(&mut src)?, Some(Bytes::from_static(b"part")));
    /// assert!(src.is_empty());
    /// # Ok::<(), netreactor::codec::CodecError>(())
    /// ```
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error>;

    /// Called once the stream has ended; by default the same as `decode`.
    ///
    /// Any thread.
    ///
    /// # Errors
    /// As [`Decoder::decode`].
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use netreactor::{Bytes, BytesMut};
    /// use netreactor::codec::{Decoder, LineCodec};
    ///
    /// let mut codec = LineCodec::new();
    /// let mut src = BytesMut::from(&b"last words"[..]); // no newline: the peer hung up
    /// assert_eq!(codec.decode(&mut src)?, None);
    /// assert_eq!(codec.decode_eof(&mut src)?, Some(Bytes::from_static(b"last words")));
    /// # Ok::<(), netreactor::codec::CodecError>(())
    /// ```
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        self.decode(src)
    }

    /// Finds the next frame as [`Decoder::decode`] (or, with `eof`,
    /// [`Decoder::decode_eof`]) would, but leaves it in `src`: the frame is
    /// `src[span.start..span.end]`, and the caller removes `span.consumed`
    /// bytes from the front of `src` once it is done with it (for example
    /// with [`FrameSpan::take`], which is what `decode` does).
    ///
    /// An engine uses this to lend frames to a callback without the
    /// reference-counted split a `Bytes` costs. Decoders that cannot keep
    /// the frame in place keep the default, `None`, and are called through
    /// `decode` instead; every decoder in this crate implements it.
    ///
    /// Any thread.
    ///
    /// # Errors
    /// As [`Decoder::decode`], inside the `Some`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use bytes::Buf;
    /// use netreactor::BytesMut;
    /// use netreactor::codec::{Decoder, LineCodec};
    ///
    /// let mut codec = LineCodec::new();
    /// let mut src = BytesMut::from(&b"hello\r\nrest"[..]);
    /// let span = codec.decode_span(&mut src, false).unwrap().unwrap().unwrap();
    /// assert_eq!(&src[span.start..span.end], b"hello");
    /// src.advance(span.consumed);
    /// assert_eq!(&src[..], b"rest");
    /// ```
    fn decode_span(&mut self, src: &mut BytesMut, eof: bool) -> Option<Result<Option<FrameSpan>, Self::Error>> {
        let _ = (src, eof);
        None
    }

    /// Finds the whole frames at the front of `src`, one after another,
    /// without changing anything: writes their spans to `out` (offsets
    /// from the start of `src`; a frame's `consumed` is where the next one
    /// begins) and returns how many it found. It stops at the first
    /// incomplete, corrupt or oversize frame, or when `out` is full; the
    /// caller removes the frames it used and then goes on with
    /// [`Decoder::decode_span`], which handles whatever stopped the batch.
    /// When the batch took everything and the stream goes on, netreactor's
    /// loop does not call `decode_span` on the empty buffer (a decoder must
    /// not find a frame in no bytes).
    ///
    /// An engine uses this to find all the frames of one read in one call.
    /// Returning 0 is always correct; that is the default.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use netreactor::codec::{Decoder, FrameSpan, LengthFieldCodec};
    ///
    /// let mut codec = LengthFieldCodec::new();
    /// let src = b"\x00\x00\x00\x02hi\x00\x00\x00\x01!\x00\x00";
    /// let mut out = [FrameSpan::default(); 8];
    /// assert_eq!(codec.decode_spans(src, &mut out), 2);
    /// assert_eq!(&src[out[0].start..out[0].end], b"hi");
    /// assert_eq!(&src[out[1].start..out[1].end], b"!");
    /// assert_eq!(out[1].consumed, 11); // then half a header
    /// ```
    fn decode_spans(&mut self, src: &[u8], out: &mut [FrameSpan]) -> usize {
        let _ = (src, out);
        0
    }
}

/// Where [`Decoder::decode_span`] found a frame in its buffer.
///
/// Any thread (a plain value).
///
/// # Examples
///
/// ```
/// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
/// use netreactor::BytesMut;
/// use netreactor::codec::{Decoder, FrameSpan, LineCodec};
///
/// let mut codec = LineCodec::new();
/// let mut src = BytesMut::from(&b"hi\r\nnext"[..]);
/// let span = codec.decode_span(&mut src, false).unwrap()?.unwrap();
/// assert_eq!(span, FrameSpan { start: 0, end: 2, consumed: 4 }); // "\r\n" is not in the frame
/// let frame = span.take(&mut src);
/// assert_eq!(&frame[..], b"hi");
/// assert_eq!(&src[..], b"next");
/// # Ok::<(), netreactor::codec::CodecError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameSpan {
    /// Offset of the frame's first byte (after a stripped header).
    pub start: usize,
    /// Offset just past the frame's last byte (before a stripped terminator).
    pub end: usize,
    /// Bytes the frame occupies in the stream, header and terminator
    /// included: what to remove from the front of the buffer after it.
    pub consumed: usize,
}

impl FrameSpan {
    /// Removes the frame's `consumed` bytes from the front of `src` and
    /// returns the frame itself, without copying.
    ///
    /// Any thread.
    ///
    /// # Panics
    /// If the span does not lie in `src` in order (`start <= end <=
    /// consumed <= src.len()`); a span [`Decoder::decode_span`] just found
    /// in this very buffer always does.
    ///
    /// See the example on [`FrameSpan`].
    pub fn take(self, src: &mut BytesMut) -> bytes::Bytes {
        use bytes::Buf;
        src.advance(self.start);
        let frame = src.split_to(self.end - self.start).freeze();
        src.advance(self.consumed - self.end);
        frame
    }
}

/// Turns an item into bytes appended to `dst`.
///
/// Any thread: an encoder is a plain value.
///
/// # Examples
///
/// An encoder of your own:
///
/// ```
/// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
/// use bytes::BufMut;
/// use netreactor::BytesMut;
/// use netreactor::codec::Encoder;
///
/// /// Writes each item after a length byte.
/// struct ByteLen;
/// impl Encoder<&[u8]> for ByteLen {
///     type Error = &'static str;
///
///     fn encode(&mut self, item: &[u8], dst: &mut BytesMut) -> Result<(), Self::Error> {
///         let len = u8::try_from(item.len()).map_err(|_| "over 255 bytes")?;
///         dst.put_u8(len);
///         dst.put_slice(item);
///         Ok(())
///     }
/// }
///
/// let mut dst = BytesMut::new();
/// ByteLen.encode(&b"hi"[..], &mut dst).unwrap();
/// assert_eq!(&dst[..], b"\x02hi");
/// assert_eq!(ByteLen.encode(&[0; 300][..], &mut dst), Err("over 255 bytes"));
/// ```
pub trait Encoder<Item> {
    /// The error an item that cannot be encoded yields.
    type Error;

    /// Appends the encoding of `item` to `dst`.
    ///
    /// Any thread.
    ///
    /// # Errors
    /// The item cannot be encoded (for example its length does not fit the
    /// field). Every encoder in this crate then appends nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use netreactor::BytesMut;
    /// use netreactor::codec::{Encoder, LengthFieldCodec};
    ///
    /// let mut codec = LengthFieldCodec::builder().length_field_length(1).build()?;
    /// let mut dst = BytesMut::new();
    /// codec.encode(&b"hi"[..], &mut dst)?;
    /// assert_eq!(&dst[..], b"\x02hi");
    /// assert!(codec.encode(&[0u8; 300][..], &mut dst).is_err()); // 300 does not fit one byte
    /// assert_eq!(&dst[..], b"\x02hi"); // nothing appended
    /// # Ok::<(), netreactor::codec::CodecError>(())
    /// ```
    fn encode(&mut self, item: Item, dst: &mut BytesMut) -> Result<(), Self::Error>;

    /// The bytes every encoding adds to the item's own (a header, a
    /// delimiter), when that is the same for every item; 0, the default,
    /// when it adds none or varies. netreactor's `ConnHandle::async_write_frame`
    /// reserves the payload plus this much of the connection's queue limit
    /// before the frame is encoded on its loop, so an encoder that states
    /// its overhead keeps handles' writes within that limit exactly (one
    /// that does not is counted exactly once encoded).
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use netreactor::codec::{Encoder, LengthFieldCodec, LineCodec, LineEnding};
    ///
    /// let four = LengthFieldCodec::builder().build()?; // a 4-byte length field
    /// assert_eq!(Encoder::<&[u8]>::frame_overhead(&four), 4);
    /// let crlf = LineCodec::new().with_line_ending(LineEnding::CrLf);
    /// assert_eq!(Encoder::<&[u8]>::frame_overhead(&crlf), 2);
    /// # Ok::<(), netreactor::codec::CodecError>(())
    /// ```
    fn frame_overhead(&self) -> usize {
        0
    }

    /// When every encoding is a prefix that depends only on the item's
    /// length (nothing, or a length field) followed by the item's own bytes,
    /// unchanged: the rule that gives the prefix. A caller can then frame
    /// items itself, with no call into the encoder per item (netreactor's
    /// `Conn::write_frame` does); an item the rule does not frame goes to
    /// `encode`, which says why it cannot be encoded. `None`, the default:
    /// call `encode` for every item. An encoder whose output depends on
    /// anything else (its state, the item's bytes) must return `None`.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use netreactor::codec::{Encoder, FixedLengthCodec, LengthFieldCodec, LineCodec};
    ///
    /// let four = LengthFieldCodec::new();
    /// let rule = Encoder::<&[u8]>::prefix_rule(&four).unwrap();
    /// assert_eq!(rule.prefix(5).unwrap().as_bytes(), b"\x00\x00\x00\x05");
    /// let one = LengthFieldCodec::builder().length_field_length(1).build()?;
    /// assert!(Encoder::<&[u8]>::prefix_rule(&one).unwrap().prefix(300).is_none()); // encode says why
    /// let fixed = FixedLengthCodec::new(3);
    /// assert!(Encoder::<&[u8]>::prefix_rule(&fixed).unwrap().prefix(3).unwrap().is_empty());
    /// assert!(Encoder::<&[u8]>::prefix_rule(&LineCodec::new()).is_none()); // a suffix
    /// # Ok::<(), netreactor::codec::CodecError>(())
    /// ```
    fn prefix_rule(&self) -> Option<PrefixRule> {
        None
    }
}
