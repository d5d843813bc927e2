//! Length-prefixed frames, with Netty's `LengthFieldBasedFrameDecoder` semantics.

use bytes::{Buf, Bytes, BytesMut};

use crate::{reserve_bounded, CodecError, Decoder, FrameSpan, PrefixRule};

/// The default maximum length of a frame, counting its header (as Netty's
/// `maxFrameLength` does): 8 MiB. With the default 4-byte length field, that
/// admits payloads of up to 8 MiB - 4 bytes.
///
/// # Examples
///
/// ```
/// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
/// use netreactor::codec::{LengthFieldCodec, DEFAULT_MAX_FRAME_LEN_BYTES};
///
/// assert_eq!(DEFAULT_MAX_FRAME_LEN_BYTES, 8 * 1024 * 1024);
/// assert_eq!(LengthFieldCodec::new().max_frame_length(), DEFAULT_MAX_FRAME_LEN_BYTES);
/// ```
pub const DEFAULT_MAX_FRAME_LEN_BYTES: usize = 8 * 1024 * 1024;

/// An announced frame longer than this (1 TiB) is reported as corrupt at
/// once instead of being discarded as too long: no header can make a
/// connection swallow its input for longer than a 1 TiB transfer takes.
/// Every value a 1- to 4-byte field can hold stays below it.
///
/// # Examples
///
/// ```
/// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
/// use netreactor::BytesMut;
/// use netreactor::codec::{CodecError, Decoder, LengthFieldCodec, MAX_DISCARD_BYTES};
///
/// assert_eq!(MAX_DISCARD_BYTES, 1 << 40);
/// let mut codec = LengthFieldCodec::builder().length_field_length(8).build()?;
/// let mut src = BytesMut::from(&(MAX_DISCARD_BYTES * 2).to_be_bytes()[..]); // announces 2 TiB
/// assert!(matches!(codec.decode(&mut src), Err(CodecError::CorruptFrame(_))));
/// let mut src = BytesMut::from(&(1u64 << 30).to_be_bytes()[..]); // 1 GiB: only too long
/// assert!(matches!(codec.decode(&mut src), Err(CodecError::FrameTooLong { .. })));
/// # Ok::<(), CodecError>(())
/// ```
pub const MAX_DISCARD_BYTES: u64 = 1 << 40;

/// The default width of the length field: 4 bytes.
const DEFAULT_LENGTH_FIELD_LEN_BYTES: usize = 4;

/// Cuts frames whose length is carried in a header field, and prepends that
/// field on encode.
///
/// Decoding follows Netty's `LengthFieldBasedFrameDecoder` exactly:
///
/// ```text
/// frame_len = length_field_offset + length_field_length + <length value> + length_adjustment
/// ```
///
/// - An 8-byte length field is a signed long, as Netty reads it: a negative
///   value is a [`CodecError::CorruptFrame`] and the header bytes are
///   skipped. Narrower fields are unsigned.
/// - `frame_len` smaller than `length_field_offset + length_field_length`
///   (negative included) is a [`CodecError::CorruptFrame`]; the header bytes
///   are skipped.
/// - `frame_len` beyond [`MAX_DISCARD_BYTES`] (1 TiB, only an 8-byte field
///   can say so) is a [`CodecError::CorruptFrame`] too, header skipped:
///   discarding it would swallow the connection's input for good.
/// - `frame_len > max_frame_length` is a [`CodecError::FrameTooLong`],
///   detected as soon as the header is readable, before any payload is
///   buffered. The codec then discards the frame's bytes as they arrive; with
///   `fail_fast` (the default) the error is returned at once, otherwise only
///   after the whole frame has been discarded. A caller that keeps decoding
///   after the error resumes at the next frame.
/// - `initial_bytes_to_strip` bytes are removed from the front of the frame;
///   more than `frame_len` is a [`CodecError::CorruptFrame`] (reported once the
///   frame has arrived, which is then skipped).
///
/// Frames are produced without copying (`split_to(..).freeze()`). While a frame
/// is incomplete the decoder reserves buffer space in steps of at most
/// [`MAX_RESERVE_STEP_BYTES`](crate::MAX_RESERVE_STEP_BYTES), never the length
/// a header claims.
///
/// Encoding (like Netty's `LengthFieldPrepender`) writes the length field and
/// then the payload. The value written is the inverse of decoding with the
/// same configuration, `payload.len() - length_adjustment` (plus
/// `length_field_length` when [`length_includes_length_field`] is set), so a
/// codec decodes what it encodes. A value that is negative or does not fit in
/// the field is a [`CodecError::LengthFieldOverflow`], and a frame the decoder
/// side would reject as too long is a [`CodecError::FrameTooLong`]. The
/// encoder never writes the `length_field_offset` bytes that precede the
/// field: with an offset, the caller writes those header bytes itself before
/// the encoded length field and payload.
///
/// [`length_includes_length_field`]: LengthFieldCodecBuilder::length_includes_length_field
///
/// Any thread: a plain value (`Send + Sync`); an engine keeps one per connection.
///
/// # Examples
///
/// ```
/// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
/// use netreactor::{Bytes, BytesMut};
/// use netreactor::codec::{Decoder, Encoder, LengthFieldCodec};
///
/// let mut codec = LengthFieldCodec::new(); // 4-byte big-endian payload length
/// let mut wire = BytesMut::new();
/// codec.encode(Bytes::from_static(b"hello"), &mut wire).unwrap();
/// assert_eq!(&wire[..], b"\x00\x00\x00\x05hello");
///
/// assert_eq!(codec.decode(&mut wire).unwrap(), Some(Bytes::from_static(b"hello")));
/// assert!(wire.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct LengthFieldCodec {
    big_endian: bool,
    length_field_offset: usize,
    length_field_length: usize,
    length_adjustment: i64,
    initial_bytes_to_strip: usize,
    max_frame_length: usize,
    fail_fast: bool,
    length_includes_length_field: bool,
    /// `length_field_offset + length_field_length`, checked at build time.
    header_len: usize,
    /// The field `encode` writes before a payload, and the payload lengths
    /// it accepts (both limits folded into one range at build time, so
    /// encoding checks two integers).
    rule: PrefixRule,
    /// The raw field values (as read, unsigned) of a whole, valid frame
    /// that `decode_spans` may hand out: every check of the one-at-a-time
    /// path folded into one range at build time. Empty when `lo > hi`.
    spannable: (u64, u64),
    /// What a spannable field value adds up to as a frame length: the
    /// header and the adjustments, modulo 2^64 (exact inside `spannable`).
    frame_base: u64,
    /// How the length field is laid out, for a load without a width match.
    layout: FieldLayout,
    state: DecodeState,
}

/// The length field's width and byte order, resolved at build time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldLayout {
    U32Be,
    U32Le,
    U16Be,
    U16Le,
    U8,
    /// 3 or 8 bytes: read byte by byte.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecodeState {
    /// Waiting for (or about to read) a length field.
    Head,
    /// The header announced a valid frame of this many bytes.
    Data { frame_len: usize },
    /// Dropping the rest of an oversize frame.
    Discarding {
        /// Bytes of the frame still to drop.
        remaining: u128,
        /// The announced frame length, for the error.
        frame_len: u64,
    },
}

/// Configures a [`LengthFieldCodec`]; every setting has a default.
///
/// Defaults: big endian, `length_field_offset` 0, `length_field_length` 4,
/// `length_adjustment` 0, `initial_bytes_to_strip` = the whole header
/// (`length_field_offset + length_field_length`, so decoded frames are
/// payloads), `max_frame_length` [`DEFAULT_MAX_FRAME_LEN_BYTES`], `fail_fast`
/// true, `length_includes_length_field` false. With the defaults,
/// `build()` gives the same codec as [`LengthFieldCodec::new`].
///
/// Any thread (a plain value, `Send + Sync`); build it before the codec is used.
///
/// # Examples
///
/// ```
/// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
/// use netreactor::BytesMut;
/// use netreactor::codec::{Decoder, LengthFieldCodec};
///
/// // Netty's "length includes the header" layout: 2-byte length counting itself.
/// let mut codec = LengthFieldCodec::builder()
///     .length_field_length(2)
///     .length_adjustment(-2)
///     .initial_bytes_to_strip(0)
///     .build()
///     .unwrap();
/// let mut src = BytesMut::from(&b"\x00\x07hello"[..]);
/// assert_eq!(&codec.decode(&mut src).unwrap().unwrap()[..], b"\x00\x07hello");
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until build() is called"]
pub struct LengthFieldCodecBuilder {
    big_endian: bool,
    length_field_offset: usize,
    length_field_length: usize,
    length_adjustment: i64,
    initial_bytes_to_strip: Option<usize>,
    max_frame_length: usize,
    fail_fast: bool,
    length_includes_length_field: bool,
}

impl Default for LengthFieldCodecBuilder {
    fn default() -> Self {
        Self {
            big_endian: true,
            length_field_offset: 0,
            length_field_length: DEFAULT_LENGTH_FIELD_LEN_BYTES,
            length_adjustment: 0,
            initial_bytes_to_strip: None,
            max_frame_length: DEFAULT_MAX_FRAME_LEN_BYTES,
            fail_fast: true,
            length_includes_length_field: false,
        }
    }
}

impl LengthFieldCodecBuilder {
    /// Reads and writes the length field most significant byte first (the default).
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// let codec = netreactor::codec::LengthFieldCodec::builder().big_endian().build().unwrap();
    /// assert!(codec.is_big_endian());
    /// ```
    pub fn big_endian(mut self) -> Self {
        self.big_endian = true;
        self
    }

    /// Reads and writes the length field least significant byte first.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use netreactor::{Bytes, BytesMut};
    /// use netreactor::codec::{Encoder, LengthFieldCodec};
    ///
    /// let mut codec = LengthFieldCodec::builder().little_endian().length_field_length(2).build().unwrap();
    /// let mut dst = BytesMut::new();
    /// codec.encode(Bytes::from_static(b"abc"), &mut dst).unwrap();
    /// assert_eq!(&dst[..], b"\x03\x00abc");
    /// ```
    pub fn little_endian(mut self) -> Self {
        self.big_endian = false;
        self
    }

    /// Sets how many bytes precede the length field (default 0).
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use netreactor::BytesMut;
    /// use netreactor::codec::{Decoder, LengthFieldCodec};
    ///
    /// // One tag byte, then a 1-byte length; strip tag and length.
    /// let mut codec = LengthFieldCodec::builder()
    ///     .length_field_offset(1)
    ///     .length_field_length(1)
    ///     .build()
    ///     .unwrap();
    /// let mut src = BytesMut::from(&b"\x07\x02hi"[..]);
    /// assert_eq!(&codec.decode(&mut src).unwrap().unwrap()[..], b"hi");
    /// ```
    pub fn length_field_offset(mut self, bytes: usize) -> Self {
        self.length_field_offset = bytes;
        self
    }

    /// Sets the width of the length field: 1, 2, 3, 4 (the default) or 8
    /// bytes; any other width makes [`build`](Self::build) fail.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use netreactor::codec::LengthFieldCodec;
    ///
    /// assert!(LengthFieldCodec::builder().length_field_length(3).build().is_ok());
    /// assert!(LengthFieldCodec::builder().length_field_length(5).build().is_err());
    /// ```
    pub fn length_field_length(mut self, bytes: usize) -> Self {
        self.length_field_length = bytes;
        self
    }

    /// Sets the value added to the length field to get the number of bytes
    /// that follow the field (default 0); the encoder subtracts it.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use netreactor::{Bytes, BytesMut};
    /// use netreactor::codec::{Decoder, Encoder, LengthFieldCodec};
    ///
    /// // The 2-byte length counts itself.
    /// let mut codec = LengthFieldCodec::builder()
    ///     .length_field_length(2)
    ///     .length_adjustment(-2)
    ///     .build()
    ///     .unwrap();
    /// let mut wire = BytesMut::new();
    /// codec.encode(Bytes::from_static(b"hey"), &mut wire).unwrap();
    /// assert_eq!(&wire[..], b"\x00\x05hey");
    /// assert_eq!(&codec.decode(&mut wire).unwrap().unwrap()[..], b"hey");
    /// ```
    pub fn length_adjustment(mut self, adjustment: i64) -> Self {
        self.length_adjustment = adjustment;
        self
    }

    /// Sets how many bytes to remove from the front of each decoded frame
    /// (default: the whole header, `length_field_offset + length_field_length`).
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use netreactor::BytesMut;
    /// use netreactor::codec::{Decoder, LengthFieldCodec};
    ///
    /// let mut codec = LengthFieldCodec::builder()
    ///     .length_field_length(2)
    ///     .initial_bytes_to_strip(0)
    ///     .build()
    ///     .unwrap();
    /// let mut src = BytesMut::from(&b"\x00\x02hi"[..]);
    /// assert_eq!(&codec.decode(&mut src).unwrap().unwrap()[..], b"\x00\x02hi");
    /// ```
    pub fn initial_bytes_to_strip(mut self, bytes: usize) -> Self {
        self.initial_bytes_to_strip = Some(bytes);
        self
    }

    /// Sets the largest frame accepted, in bytes, **counting the header**:
    /// `length_field_offset + length_field_length + payload`, the whole
    /// frame after the length adjustment, as Netty's `maxFrameLength` counts
    /// (default [`DEFAULT_MAX_FRAME_LEN_BYTES`]). It is not a payload limit:
    /// to accept payloads of up to `p` bytes, set `p` plus the header, that
    /// is `max_frame_length(p + 4)` with the default 4-byte field and no
    /// offset. A frame over it is a [`CodecError::FrameTooLong`] on decode
    /// (as soon as its header is read) and on encode.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use netreactor::BytesMut;
    /// use netreactor::codec::{CodecError, Decoder, LengthFieldCodec};
    ///
    /// // Payloads of up to 12 bytes: 12 + the 4-byte header.
    /// let mut codec = LengthFieldCodec::builder().max_frame_length(12 + 4).build().unwrap();
    /// let mut src = BytesMut::from(&b"\x00\x00\x00\x0cHELLO, WORLD"[..]); // 4 + 12 = 16 bytes
    /// assert_eq!(&codec.decode(&mut src).unwrap().unwrap()[..], b"HELLO, WORLD");
    /// let mut src = BytesMut::from(&b"\x00\x00\x00\x0d"[..]); // 4 + 13 = 17 bytes
    /// assert_eq!(codec.decode(&mut src), Err(CodecError::FrameTooLong { len: 17, max: 16 }));
    /// ```
    pub fn max_frame_length(mut self, bytes: usize) -> Self {
        self.max_frame_length = bytes;
        self
    }

    /// Chooses when an oversize frame is reported: as soon as its header is
    /// read (`true`, the default) or after all its bytes have been discarded.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use netreactor::BytesMut;
    /// use netreactor::codec::{CodecError, Decoder, LengthFieldCodec};
    ///
    /// let mut codec = LengthFieldCodec::builder()
    ///     .length_field_length(1)
    ///     .max_frame_length(4)
    ///     .fail_fast(false)
    ///     .build()
    ///     .unwrap();
    /// let mut src = BytesMut::from(&b"\x05abc"[..]); // announces 6 bytes, 4 arrived
    /// assert_eq!(codec.decode(&mut src), Ok(None)); // discarding silently
    /// src.extend_from_slice(b"de\x01z");
    /// assert_eq!(codec.decode(&mut src), Err(CodecError::FrameTooLong { len: 6, max: 4 }));
    /// assert_eq!(&codec.decode(&mut src).unwrap().unwrap()[..], b"z");
    /// ```
    pub fn fail_fast(mut self, fail_fast: bool) -> Self {
        self.fail_fast = fail_fast;
        self
    }

    /// Makes the length value count the length field itself too (default
    /// false), like Netty's `LengthFieldPrepender(lengthIncludesLengthFieldLength)`.
    ///
    /// It applies to both directions: the encoder adds `length_field_length`
    /// to the value it writes and the decoder subtracts it, which is the same
    /// as a further `length_adjustment` of `-length_field_length`.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use netreactor::{Bytes, BytesMut};
    /// use netreactor::codec::{Decoder, Encoder, LengthFieldCodec};
    ///
    /// let mut codec = LengthFieldCodec::builder()
    ///     .length_field_length(2)
    ///     .length_includes_length_field(true)
    ///     .build()
    ///     .unwrap();
    /// let mut wire = BytesMut::new();
    /// codec.encode(Bytes::from_static(b"hey"), &mut wire).unwrap();
    /// assert_eq!(&wire[..], b"\x00\x05hey");
    /// assert_eq!(&codec.decode(&mut wire).unwrap().unwrap()[..], b"hey");
    /// ```
    pub fn length_includes_length_field(mut self, includes: bool) -> Self {
        self.length_includes_length_field = includes;
        self
    }

    /// Checks the configuration and creates the codec.
    ///
    /// Any thread.
    ///
    /// # Errors
    ///
    /// [`CodecError::InvalidConfig`] if the length field is not 1, 2, 3, 4 or
    /// 8 bytes wide, or the header (`length_field_offset +
    /// length_field_length`) does not fit in `max_frame_length`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use netreactor::codec::{CodecError, LengthFieldCodec};
    ///
    /// let err = LengthFieldCodec::builder().max_frame_length(2).build().unwrap_err();
    /// assert!(matches!(err, CodecError::InvalidConfig(_)));
    /// ```
    pub fn build(self) -> Result<LengthFieldCodec, CodecError> {
        if !matches!(self.length_field_length, 1 | 2 | 3 | 4 | 8) {
            return Err(CodecError::InvalidConfig(
                "length_field_length must be 1, 2, 3, 4 or 8 bytes",
            ));
        }
        let header_len = self
            .length_field_offset
            .checked_add(self.length_field_length)
            .filter(|&h| h <= self.max_frame_length)
            .ok_or(CodecError::InvalidConfig(
                "length_field_offset + length_field_length exceeds max_frame_length",
            ))?;
        Ok(LengthFieldCodec {
            big_endian: self.big_endian,
            length_field_offset: self.length_field_offset,
            length_field_length: self.length_field_length,
            length_adjustment: self.length_adjustment,
            initial_bytes_to_strip: self.initial_bytes_to_strip.unwrap_or(header_len),
            max_frame_length: self.max_frame_length,
            fail_fast: self.fail_fast,
            length_includes_length_field: self.length_includes_length_field,
            header_len,
            rule: PrefixRule::none(0..=0), // set by with_derived_constants
            spannable: (1, 0),
            frame_base: 0,
            layout: FieldLayout::Other,
            state: DecodeState::Head,
        }
        .with_derived_constants())
    }
}

impl Default for LengthFieldCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl LengthFieldCodec {
    /// Creates the common layout: a 4-byte big-endian payload length, then the
    /// payload; decoding yields the payload, encoding prepends the length.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use netreactor::BytesMut;
    /// use netreactor::codec::{Decoder, LengthFieldCodec};
    ///
    /// let mut codec = LengthFieldCodec::new();
    /// let mut src = BytesMut::from(&b"\x00\x00\x00\x02hi\x00\x00"[..]);
    /// assert_eq!(&codec.decode(&mut src).unwrap().unwrap()[..], b"hi");
    /// assert_eq!(codec.decode(&mut src).unwrap(), None); // half a header
    /// ```
    pub fn new() -> Self {
        Self {
            big_endian: true,
            length_field_offset: 0,
            length_field_length: DEFAULT_LENGTH_FIELD_LEN_BYTES,
            length_adjustment: 0,
            initial_bytes_to_strip: DEFAULT_LENGTH_FIELD_LEN_BYTES,
            max_frame_length: DEFAULT_MAX_FRAME_LEN_BYTES,
            fail_fast: true,
            length_includes_length_field: false,
            header_len: DEFAULT_LENGTH_FIELD_LEN_BYTES,
            rule: PrefixRule::none(0..=0), // set by with_derived_constants
            spannable: (1, 0),
            frame_base: 0,
            layout: FieldLayout::Other,
            state: DecodeState::Head,
        }
        .with_derived_constants()
    }

    /// Fills in what is worked out once from the settings: the encoder's
    /// `rule`, whose lengths are the payloads whose frame fits
    /// `max_frame_length` and whose length value (`len - adjustment`) fits
    /// the field; and the decoder's constants.
    fn with_derived_constants(mut self) -> Self {
        let adjustment = self.total_adjustment();
        let payload_max = self.max_frame_length - self.header_len;
        self.rule = PrefixRule::length_field(self.length_field_length, self.big_endian, adjustment, 0..=payload_max)
            .expect("the width was checked at build time");
        let header = self.header_len as i128;
        self.frame_base = (header + adjustment) as u64;
        // A frame `decode_spans` hands out: a non-negative value (the field's
        // maximum excludes negative 8-byte ones), a length of at least the
        // header and of what is stripped, at most max_frame_length.
        let shortest = header.max(self.initial_bytes_to_strip as i128);
        let lo = (shortest - header - adjustment).max(0);
        let hi = (self.max_frame_length as i128 - header - adjustment).min(i128::from(self.field_max_value()));
        self.spannable = if hi < lo { (1, 0) } else { (lo as u64, hi as u64) };
        self.layout = match (self.length_field_length, self.big_endian) {
            (4, true) => FieldLayout::U32Be,
            (4, false) => FieldLayout::U32Le,
            (2, true) => FieldLayout::U16Be,
            (2, false) => FieldLayout::U16Le,
            (1, _) => FieldLayout::U8,
            _ => FieldLayout::Other,
        };
        self
    }

    /// Starts configuring a codec; see [`LengthFieldCodecBuilder`] for the defaults.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use netreactor::codec::LengthFieldCodec;
    ///
    /// let codec = LengthFieldCodec::builder()
    ///     .little_endian()
    ///     .length_field_length(2)
    ///     .max_frame_length(1024)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(codec.length_field_length(), 2);
    /// ```
    pub fn builder() -> LengthFieldCodecBuilder {
        LengthFieldCodecBuilder::default()
    }

    /// Whether the length field is big endian.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// assert!(netreactor::codec::LengthFieldCodec::new().is_big_endian());
    /// ```
    pub fn is_big_endian(&self) -> bool {
        self.big_endian
    }

    /// The number of bytes before the length field.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// assert_eq!(netreactor::codec::LengthFieldCodec::new().length_field_offset(), 0);
    /// ```
    pub fn length_field_offset(&self) -> usize {
        self.length_field_offset
    }

    /// The width of the length field in bytes.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// assert_eq!(netreactor::codec::LengthFieldCodec::new().length_field_length(), 4);
    /// ```
    pub fn length_field_length(&self) -> usize {
        self.length_field_length
    }

    /// The value added to the length field to get the bytes after it.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// assert_eq!(netreactor::codec::LengthFieldCodec::new().length_adjustment(), 0);
    /// ```
    pub fn length_adjustment(&self) -> i64 {
        self.length_adjustment
    }

    /// The number of bytes removed from the front of each decoded frame.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// assert_eq!(netreactor::codec::LengthFieldCodec::new().initial_bytes_to_strip(), 4);
    /// ```
    pub fn initial_bytes_to_strip(&self) -> usize {
        self.initial_bytes_to_strip
    }

    /// The largest frame accepted, in bytes, counting the header (see
    /// [`LengthFieldCodecBuilder::max_frame_length`]).
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// let codec = netreactor::codec::LengthFieldCodec::new();
    /// assert_eq!(codec.max_frame_length(), 8 * 1024 * 1024);
    /// ```
    pub fn max_frame_length(&self) -> usize {
        self.max_frame_length
    }

    /// Whether an oversize frame is reported as soon as its header is read.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// assert!(netreactor::codec::LengthFieldCodec::new().is_fail_fast());
    /// ```
    pub fn is_fail_fast(&self) -> bool {
        self.fail_fast
    }

    /// Whether the length value also counts the length field.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// assert!(!netreactor::codec::LengthFieldCodec::new().length_includes_length_field());
    /// ```
    pub fn length_includes_length_field(&self) -> bool {
        self.length_includes_length_field
    }

    /// Reads the unsigned length field that starts at `src[at]`.
    #[inline]
    fn read_length(&self, src: &[u8], at: usize) -> u64 {
        let field = &src[at..at + self.length_field_length];
        // The usual widths as single loads; 3 bytes byte by byte.
        match (field, self.big_endian) {
            (&[a, b, c, d], true) => u64::from(u32::from_be_bytes([a, b, c, d])),
            (&[a, b, c, d], false) => u64::from(u32::from_le_bytes([a, b, c, d])),
            (&[a, b], true) => u64::from(u16::from_be_bytes([a, b])),
            (&[a, b], false) => u64::from(u16::from_le_bytes([a, b])),
            (&[a], _) => u64::from(a),
            (_, true) => field.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
            (_, false) => field.iter().rev().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
        }
    }

    /// The whole frame's length (header included) that the header at the
    /// front of `src` announces, after the adjustments; not yet checked.
    #[inline]
    fn announced_frame_len(&self, src: &[u8]) -> i128 {
        // Negative 8-byte values are rejected before this is used.
        self.header_len as i128 + self.length_value(src) + self.total_adjustment()
    }

    /// The length field's value. An 8-byte field is a signed long, as Netty
    /// reads it (`getLong`); the narrower ones are unsigned.
    #[inline]
    fn length_value(&self, src: &[u8]) -> i128 {
        let value = self.read_length(src, self.length_field_offset);
        if self.length_field_length == 8 {
            i128::from(value as i64)
        } else {
            i128::from(value)
        }
    }

    /// The largest value the length field can hold.
    fn field_max_value(&self) -> u64 {
        crate::prefix::field_max_value(self.length_field_length)
    }

    /// The part of the adjustment that does not depend on the length value.
    fn total_adjustment(&self) -> i128 {
        let includes = if self.length_includes_length_field {
            self.length_field_length as i128
        } else {
            0
        };
        i128::from(self.length_adjustment) - includes
    }

    /// Starts dropping an oversize frame of `frame_len` bytes.
    fn too_long(&mut self, src: &mut BytesMut, frame_len: i128) -> Result<Option<FrameSpan>, CodecError> {
        let len = u64::try_from(frame_len).unwrap_or(u64::MAX);
        let err = CodecError::FrameTooLong {
            len,
            max: self.max_frame_length,
        };
        let buffered = src.len() as i128;
        if frame_len <= buffered {
            // The whole frame is already here: drop it and report, either way.
            src.advance(frame_len as usize);
            return Err(err);
        }
        src.clear();
        self.state = DecodeState::Discarding {
            remaining: (frame_len - buffered) as u128,
            frame_len: len,
        };
        if self.fail_fast {
            Err(err)
        } else {
            Ok(None)
        }
    }

    /// What every encoding adds: the length field (written alone, with no
    /// bytes before it).
    fn overhead_bytes(&self) -> usize {
        self.length_field_length
    }

    /// The field before a payload (see `Encoder::prefix_rule`).
    fn rule(&self) -> Option<PrefixRule> {
        Some(self.rule)
    }

    #[inline]
    fn encode_slice(&self, payload: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        let Some(prefix) = self.rule.prefix(payload.len()) else {
            return Err(self.encode_error(payload.len()));
        };
        prefix.write(payload, dst);
        Ok(())
    }

    /// Why a payload of `len` bytes cannot be encoded.
    #[cold]
    fn encode_error(&self, len: usize) -> CodecError {
        let frame_len = self.header_len as u128 + len as u128;
        if frame_len > self.max_frame_length as u128 {
            return CodecError::FrameTooLong {
                len: u64::try_from(frame_len).unwrap_or(u64::MAX),
                max: self.max_frame_length,
            };
        }
        CodecError::LengthFieldOverflow {
            value: len as i128 - self.total_adjustment(),
            field_bytes: self.length_field_length,
        }
    }
}

impl Decoder for LengthFieldCodec {
    type Item = Bytes;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        Ok(self.span(src)?.map(|s| s.take(src)))
    }

    #[inline]
    fn decode_span(&mut self, src: &mut BytesMut, _eof: bool) -> Option<Result<Option<FrameSpan>, CodecError>> {
        Some(self.span(src))
    }

    #[inline]
    fn decode_spans(&mut self, src: &[u8], out: &mut [FrameSpan]) -> usize {
        // Only between frames; a frame in progress or being discarded, and
        // any frame that is not whole and valid, is left to `decode_span`.
        if self.state != DecodeState::Head {
            return 0;
        }
        // One loop per field layout, each with its load inlined.
        match self.layout {
            FieldLayout::U32Be => self.spans(src, out, |f| f.first_chunk().map(|b| u32::from_be_bytes(*b).into())),
            FieldLayout::U32Le => self.spans(src, out, |f| f.first_chunk().map(|b| u32::from_le_bytes(*b).into())),
            FieldLayout::U16Be => self.spans(src, out, |f| f.first_chunk().map(|b| u16::from_be_bytes(*b).into())),
            FieldLayout::U16Le => self.spans(src, out, |f| f.first_chunk().map(|b| u16::from_le_bytes(*b).into())),
            FieldLayout::U8 => self.spans(src, out, |f| f.first().map(|&b| b.into())),
            FieldLayout::Other => {
                let width = self.length_field_length;
                self.spans(src, out, |f| (f.len() >= width).then(|| self.read_length(f, 0)))
            }
        }
    }
}

impl LengthFieldCodec {
    /// [`Decoder::decode_spans`] with the field read by `read` (given the
    /// bytes from the field's start; `None` if too few): the frames whose
    /// field value lies in `spannable`, which are exactly the whole, valid
    /// ones (but for frames over `MAX_DISCARD_BYTES`, which `span` calls
    /// corrupt: a buffer that holds one whole is past any real memory).
    #[inline(always)]
    fn spans(&self, src: &[u8], out: &mut [FrameSpan], read: impl Fn(&[u8]) -> Option<u64>) -> usize {
        let (lo, hi) = self.spannable;
        let (mut off, mut n) = (0, 0);
        while n < out.len() {
            let rest = &src[off..];
            // Too short for the field (so for the header): wait for more.
            let Some(value) = rest.get(self.length_field_offset..).and_then(&read) else {
                break;
            };
            if value < lo || value > hi {
                break;
            }
            let frame_len = value.wrapping_add(self.frame_base) as usize;
            if rest.len() < frame_len {
                break;
            }
            out[n] = FrameSpan {
                start: off + self.initial_bytes_to_strip,
                end: off + frame_len,
                consumed: off + frame_len,
            };
            off += frame_len;
            n += 1;
        }
        n
    }

    /// The next frame, left in `src` (see [`Decoder::decode_span`]).
    #[inline]
    fn span(&mut self, src: &mut BytesMut) -> Result<Option<FrameSpan>, CodecError> {
        if let DecodeState::Discarding { remaining, frame_len } = self.state {
            let n = remaining.min(src.len() as u128);
            src.advance(n as usize);
            let remaining = remaining - n;
            if remaining > 0 {
                self.state = DecodeState::Discarding { remaining, frame_len };
                return Ok(None);
            }
            self.state = DecodeState::Head;
            if !self.fail_fast {
                return Err(CodecError::FrameTooLong {
                    len: frame_len,
                    max: self.max_frame_length,
                });
            }
        }

        let frame_len = match self.state {
            DecodeState::Data { frame_len } => frame_len,
            _ => {
                if src.len() < self.header_len {
                    reserve_bounded(src, self.header_len - src.len());
                    return Ok(None);
                }
                let value = self.length_value(src);
                if value < 0 {
                    // Netty's failOnNegativeLengthField: skip the header.
                    src.advance(self.header_len);
                    return Err(CodecError::CorruptFrame(format!(
                        "negative pre-adjustment length field ({value})"
                    )));
                }
                let frame_len = self.announced_frame_len(src);
                if frame_len > MAX_DISCARD_BYTES as i128 {
                    // No real peer sends this much: the header is garbage, and
                    // discarding it would swallow the stream for years.
                    src.advance(self.header_len);
                    return Err(CodecError::CorruptFrame(format!(
                        "announced frame length ({frame_len}) is beyond any frame worth discarding ({MAX_DISCARD_BYTES} bytes)"
                    )));
                }
                if frame_len < self.header_len as i128 {
                    src.advance(self.header_len);
                    return Err(CodecError::CorruptFrame(if frame_len < 0 {
                        format!("adjusted frame length ({frame_len}) is negative")
                    } else {
                        format!(
                            "adjusted frame length ({frame_len}) is less than the length field end offset ({})",
                            self.header_len
                        )
                    }));
                }
                if frame_len > self.max_frame_length as i128 {
                    return self.too_long(src, frame_len);
                }
                // At most max_frame_length, so it fits in usize.
                frame_len as usize
            }
        };

        if src.len() < frame_len {
            self.state = DecodeState::Data { frame_len };
            reserve_bounded(src, frame_len - src.len());
            return Ok(None);
        }
        self.state = DecodeState::Head;
        if self.initial_bytes_to_strip > frame_len {
            src.advance(frame_len);
            return Err(CodecError::CorruptFrame(format!(
                "frame length ({frame_len}) is less than initial_bytes_to_strip ({})",
                self.initial_bytes_to_strip
            )));
        }
        Ok(Some(FrameSpan {
            start: self.initial_bytes_to_strip,
            end: frame_len,
            consumed: frame_len,
        }))
    }
}

slice_encoders!(LengthFieldCodec);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Encoder;

    /// `encode` accepts exactly the payloads the two limits allow, computed
    /// the long way (as before the range was folded at build time), and
    /// writes the exact length value.
    #[test]
    fn encodable_range_matches_the_limits_exactly() {
        for field in [1usize, 2, 3, 4, 8] {
            for offset in [0usize, 3] {
                for adjustment in [-300i64, -5, -1, 0, 1, 7, 300] {
                    for includes in [false, true] {
                        for max in [offset + field, offset + field + 10, 300, 70_000] {
                            let Ok(mut c) = LengthFieldCodec::builder()
                                .length_field_offset(offset)
                                .length_field_length(field)
                                .length_adjustment(adjustment)
                                .length_includes_length_field(includes)
                                .max_frame_length(max)
                                .build()
                            else {
                                continue;
                            };
                            let adj = i128::from(adjustment) - if includes { field as i128 } else { 0 };
                            let field_max = if field == 8 {
                                i64::MAX as u64
                            } else {
                                (1u64 << (8 * field)) - 1
                            };
                            let edges = [0i128, 1, 2, 254, 255, 256, 257, 65_535, 65_536, 65_537];
                            let near = [adj - 1, adj, adj + 1, (max - offset - field) as i128];
                            let lens = edges
                                .iter()
                                .chain(&near)
                                .flat_map(|&l| [l - 1, l, l + 1])
                                .filter(|&l| (0..=70_000).contains(&l));
                            for len in lens {
                                let len = len as usize;
                                let value = len as i128 - adj;
                                let ok = offset + field + len <= max
                                    && value >= 0
                                    && u64::try_from(value).is_ok_and(|v| v <= field_max);
                                let mut dst = BytesMut::new();
                                let res = c.encode(&vec![7u8; len][..], &mut dst);
                                assert_eq!(res.is_ok(), ok, "field {field} offset {offset} adj {adjustment} includes {includes} max {max} len {len}");
                                if ok {
                                    assert_eq!(c.read_length(&dst, 0), value as u64);
                                    assert_eq!(dst.len(), field + len);
                                } else {
                                    assert!(dst.is_empty());
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn decode_all(codec: &mut LengthFieldCodec, bytes: &[u8]) -> Vec<Result<Bytes, CodecError>> {
        let mut src = BytesMut::from(bytes);
        let mut out = Vec::new();
        for _ in 0..=bytes.len() {
            match codec.decode(&mut src) {
                Ok(Some(frame)) => out.push(Ok(frame)),
                Ok(None) => break,
                Err(e) => out.push(Err(e)),
            }
        }
        out
    }

    #[test]
    fn field_widths_round_trip_both_orders() {
        for n in [1usize, 2, 3, 4, 8] {
            for le in [false, true] {
                let b = LengthFieldCodec::builder().length_field_length(n);
                let b = if le { b.little_endian() } else { b.big_endian() };
                let mut codec = b.build().unwrap();
                let mut dst = BytesMut::new();
                codec.encode(&b"xyz"[..], &mut dst).unwrap();
                assert_eq!(dst.len(), n + 3);
                let field = &dst[..n];
                let expect_at = if le { 0 } else { n - 1 };
                assert_eq!(field[expect_at], 3);
                assert_eq!(field.iter().map(|&b| b as usize).sum::<usize>(), 3);
                assert_eq!(decode_all(&mut codec, &dst), vec![Ok(Bytes::from_static(b"xyz"))]);
            }
        }
    }

    #[test]
    fn eight_byte_field_huge_value_does_not_overflow() {
        // The largest positive long plus the largest adjustment: computed in
        // i128 without overflow, and far past anything worth discarding.
        let mut codec = LengthFieldCodec::builder()
            .length_field_length(8)
            .length_adjustment(i64::MAX)
            .build()
            .unwrap();
        let mut src = BytesMut::from(&i64::MAX.to_be_bytes()[..]);
        assert!(matches!(
            codec.decode(&mut src),
            Err(CodecError::CorruptFrame(m)) if m.contains("discard")
        ));
        // All ones is -1 as a long: negative, as in Netty.
        let mut src = BytesMut::from(&[0xff; 8][..]);
        assert!(matches!(
            codec.decode(&mut src),
            Err(CodecError::CorruptFrame(m)) if m.contains("negative")
        ));
    }

    #[test]
    fn negative_adjusted_length_is_corrupt_and_skips_header() {
        let mut codec = LengthFieldCodec::builder()
            .length_field_length(1)
            .length_adjustment(-5)
            .build()
            .unwrap();
        let out = decode_all(&mut codec, b"\x01\x09abcd");
        assert!(matches!(&out[0], Err(CodecError::CorruptFrame(m)) if m.contains("negative")));
        // Header skipped; "\x09" then announces 9 - 5 = 4 bytes: "abcd".
        assert_eq!(out[1], Ok(Bytes::from_static(b"abcd")));
    }

    #[test]
    fn short_adjusted_length_is_corrupt() {
        let mut codec = LengthFieldCodec::builder()
            .length_field_offset(2)
            .length_field_length(2)
            .length_adjustment(-6)
            .build()
            .unwrap();
        // frame_len = 4 + 3 - 6 = 1 < 4
        let out = decode_all(&mut codec, b"ab\x00\x03");
        assert!(
            matches!(&out[0], Err(CodecError::CorruptFrame(m)) if m.contains("less than the length field end offset"))
        );
    }

    #[test]
    fn strip_more_than_frame_is_corrupt_after_frame_arrives() {
        let mut codec = LengthFieldCodec::builder()
            .length_field_length(1)
            .initial_bytes_to_strip(4)
            .build()
            .unwrap();
        let mut src = BytesMut::from(&b"\x02a"[..]);
        assert_eq!(codec.decode(&mut src), Ok(None));
        src.extend_from_slice(b"b\x03xyz");
        assert!(matches!(codec.decode(&mut src), Err(CodecError::CorruptFrame(_))));
        assert_eq!(codec.decode(&mut src), Ok(Some(Bytes::from_static(b""))));
    }

    #[test]
    fn fail_fast_reports_at_header_then_recovers() {
        let mut codec = LengthFieldCodec::builder()
            .length_field_length(1)
            .max_frame_length(4)
            .build()
            .unwrap();
        let mut src = BytesMut::from(&b"\x09abc"[..]);
        assert_eq!(
            codec.decode(&mut src),
            Err(CodecError::FrameTooLong { len: 10, max: 4 })
        );
        assert!(src.is_empty());
        src.extend_from_slice(b"defghi");
        assert_eq!(codec.decode(&mut src), Ok(None));
        assert!(src.is_empty());
        src.extend_from_slice(b"\x02ok");
        assert_eq!(codec.decode(&mut src), Ok(Some(Bytes::from_static(b"ok"))));
    }

    #[test]
    fn encode_rejects_negative_value() {
        let mut codec = LengthFieldCodec::builder()
            .length_field_length(1)
            .length_adjustment(10)
            .build()
            .unwrap();
        let mut dst = BytesMut::new();
        assert_eq!(
            codec.encode(&b"abc"[..], &mut dst),
            Err(CodecError::LengthFieldOverflow {
                value: -7,
                field_bytes: 1
            })
        );
        assert!(dst.is_empty());
    }
}
