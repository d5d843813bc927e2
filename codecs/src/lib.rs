//! Sans-IO frame codecs: cut a byte stream into frames and back.
//!
//! The traits are shaped like `tokio-util`'s so Rust users feel at home; the
//! length-field codec follows Netty's `LengthFieldBasedFrameDecoder`.

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
        }

        impl $crate::Encoder<&bytes::Bytes> for $codec {
            type Error = $crate::CodecError;

            fn encode(&mut self, item: &bytes::Bytes, dst: &mut bytes::BytesMut) -> Result<(), $crate::CodecError> {
                self.encode_slice(item, dst)
            }
        }

        impl $crate::Encoder<&[u8]> for $codec {
            type Error = $crate::CodecError;

            #[inline]
            fn encode(&mut self, item: &[u8], dst: &mut bytes::BytesMut) -> Result<(), $crate::CodecError> {
                self.encode_slice(item, dst)
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
mod search;

pub use delimiter::{DelimiterCodec, DEFAULT_MAX_DELIMITED_FRAME_LEN_BYTES};
pub use error::CodecError;
pub use fixed::FixedLengthCodec;
pub use length_field::{LengthFieldCodec, LengthFieldCodecBuilder, DEFAULT_MAX_FRAME_LEN_BYTES, MAX_DISCARD_BYTES};
pub use line::{LineCodec, LineEnding, DEFAULT_MAX_LINE_LEN_BYTES};

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
/// assert_eq!(netreactor_codecs::MAX_RESERVE_STEP_BYTES, 64 * 1024);
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
pub trait Decoder {
    /// The decoded frame.
    type Item;
    /// The error a corrupt or oversize frame yields.
    type Error;

    /// Decodes one frame from the front of `src`, or returns `Ok(None)` when
    /// `src` does not yet hold a whole frame.
    ///
    /// # Errors
    /// The bytes can never form a valid frame (corrupt or oversize).
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error>;

    /// Called once the stream has ended; by default the same as `decode`.
    ///
    /// # Errors
    /// As [`Decoder::decode`].
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
    /// # Errors
    /// As [`Decoder::decode`], inside the `Some`.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::{Buf, BytesMut};
    /// use netreactor_codecs::{Decoder, LineCodec};
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
    ///
    /// An engine uses this to find all the frames of one read in one call.
    /// Returning 0 is always correct; that is the default.
    ///
    /// # Examples
    ///
    /// ```
    /// use netreactor_codecs::{Decoder, FrameSpan, LengthFieldCodec};
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
    pub fn take(self, src: &mut BytesMut) -> bytes::Bytes {
        use bytes::Buf;
        src.advance(self.start);
        let frame = src.split_to(self.end - self.start).freeze();
        src.advance(self.consumed - self.end);
        frame
    }
}

/// Turns an item into bytes appended to `dst`.
pub trait Encoder<Item> {
    /// The error an item that cannot be encoded yields.
    type Error;

    /// Appends the encoding of `item` to `dst`.
    ///
    /// # Errors
    /// The item cannot be encoded (for example its length does not fit the field).
    fn encode(&mut self, item: Item, dst: &mut BytesMut) -> Result<(), Self::Error>;
}
