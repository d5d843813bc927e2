//! Frames of one fixed length.

use bytes::{BufMut, Bytes, BytesMut};

use crate::{reserve_bounded, CodecError, Decoder, FrameSpan};

/// Cuts a byte stream into frames of exactly `frame_length` bytes.
///
/// Decoding never fails: it yields a frame whenever `frame_length` bytes are
/// buffered (without copying) and otherwise waits, reserving buffer space in
/// steps of at most [`MAX_RESERVE_STEP_BYTES`](crate::MAX_RESERVE_STEP_BYTES).
/// Trailing bytes at end of stream are left in the buffer. The encoder writes
/// the item unchanged and rejects an item of any other length with
/// [`CodecError::FrameLengthMismatch`].
///
/// Any thread: a plain value (`Send + Sync`); an engine keeps one per connection.
///
/// # Examples
///
/// ```
/// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
/// use netreactor::{Bytes, BytesMut};
/// use netreactor::codec::{Decoder, Encoder, FixedLengthCodec};
///
/// let mut codec = FixedLengthCodec::new(3);
/// let mut src = BytesMut::from(&b"abcdefg"[..]);
/// assert_eq!(&codec.decode(&mut src).unwrap().unwrap()[..], b"abc");
/// assert_eq!(&codec.decode(&mut src).unwrap().unwrap()[..], b"def");
/// assert_eq!(codec.decode(&mut src).unwrap(), None);
///
/// let mut dst = BytesMut::new();
/// assert!(codec.encode(Bytes::from_static(b"xyz"), &mut dst).is_ok());
/// assert!(codec.encode(Bytes::from_static(b"xy"), &mut dst).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct FixedLengthCodec {
    frame_length: usize,
}

impl FixedLengthCodec {
    /// Creates a codec for frames of `frame_length` bytes.
    ///
    /// Any thread.
    ///
    /// # Panics
    ///
    /// If `frame_length` is 0; [`try_new`](Self::try_new) returns an error instead.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// let codec = netreactor::codec::FixedLengthCodec::new(16);
    /// assert_eq!(codec.frame_length(), 16);
    /// ```
    pub fn new(frame_length: usize) -> Self {
        match Self::try_new(frame_length) {
            Ok(codec) => codec,
            Err(_) => panic!("FixedLengthCodec frame length must be greater than 0"),
        }
    }

    /// Creates a codec for frames of `frame_length` bytes, if that is not 0.
    ///
    /// Any thread.
    ///
    /// # Errors
    ///
    /// [`CodecError::InvalidConfig`] if `frame_length` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use netreactor::codec::FixedLengthCodec;
    ///
    /// assert!(FixedLengthCodec::try_new(0).is_err());
    /// assert!(FixedLengthCodec::try_new(8).is_ok());
    /// ```
    pub fn try_new(frame_length: usize) -> Result<Self, CodecError> {
        if frame_length == 0 {
            return Err(CodecError::InvalidConfig("fixed frame length must be greater than 0"));
        }
        Ok(Self { frame_length })
    }

    /// The frame length in bytes.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// assert_eq!(netreactor::codec::FixedLengthCodec::new(4).frame_length(), 4);
    /// ```
    pub fn frame_length(&self) -> usize {
        self.frame_length
    }

    /// Frames are sent as they are.
    fn overhead_bytes(&self) -> usize {
        0
    }

    /// Nothing before an item of exactly the frame length (see
    /// `Encoder::prefix_rule`).
    fn rule(&self) -> Option<crate::PrefixRule> {
        Some(crate::PrefixRule::none(self.frame_length..=self.frame_length))
    }

    fn encode_slice(&self, item: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        if item.len() != self.frame_length {
            return Err(CodecError::FrameLengthMismatch {
                expected: self.frame_length,
                actual: item.len(),
            });
        }
        dst.reserve(item.len());
        dst.put_slice(item);
        Ok(())
    }
}

impl Decoder for FixedLengthCodec {
    type Item = Bytes;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        Ok(self.span(src).map(|s| s.take(src)))
    }

    #[inline]
    fn decode_span(&mut self, src: &mut BytesMut, _eof: bool) -> Option<Result<Option<FrameSpan>, CodecError>> {
        Some(Ok(self.span(src)))
    }

    #[inline]
    fn decode_spans(&mut self, src: &[u8], out: &mut [FrameSpan]) -> usize {
        let len = self.frame_length;
        let n = (src.len() / len).min(out.len());
        for (i, span) in out[..n].iter_mut().enumerate() {
            *span = FrameSpan {
                start: i * len,
                end: (i + 1) * len,
                consumed: (i + 1) * len,
            };
        }
        n
    }
}

impl FixedLengthCodec {
    fn span(&self, src: &mut BytesMut) -> Option<FrameSpan> {
        if src.len() < self.frame_length {
            reserve_bounded(src, self.frame_length - src.len());
            return None;
        }
        Some(FrameSpan {
            start: 0,
            end: self.frame_length,
            consumed: self.frame_length,
        })
    }
}

slice_encoders!(FixedLengthCodec);
