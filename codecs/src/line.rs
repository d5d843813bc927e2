//! Newline-terminated lines (LF or CRLF).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::search::find_byte;
use crate::{CodecError, Decoder, Encoder, FrameSpan};

/// The default maximum line length, terminator excluded: 64 KiB.
///
/// # Examples
///
/// ```
/// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
/// use netreactor::codec::{LineCodec, DEFAULT_MAX_LINE_LEN_BYTES};
///
/// assert_eq!(DEFAULT_MAX_LINE_LEN_BYTES, 64 * 1024);
/// assert_eq!(LineCodec::new().max_length(), DEFAULT_MAX_LINE_LEN_BYTES);
/// ```
pub const DEFAULT_MAX_LINE_LEN_BYTES: usize = 64 * 1024;

/// The terminator [`LineCodec`] appends on encode.
///
/// Any thread (a plain value).
///
/// # Examples
///
/// ```
/// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
/// use netreactor::codec::LineEnding;
///
/// assert_eq!(LineEnding::CrLf.as_bytes(), b"\r\n");
/// assert_eq!(LineEnding::default(), LineEnding::Lf);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LineEnding {
    /// `"\n"` (the default).
    #[default]
    Lf,
    /// `"\r\n"`.
    CrLf,
}

impl LineEnding {
    /// The terminator's bytes.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// assert_eq!(netreactor::codec::LineEnding::Lf.as_bytes(), b"\n");
    /// ```
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            Self::Lf => b"\n",
            Self::CrLf => b"\r\n",
        }
    }
}

/// Splits a byte stream into lines ending in `"\n"` or `"\r\n"`.
///
/// A decoded line is a [`Bytes`] without its terminator (a `'\r'` just before
/// the `'\n'` is removed too); it is not checked to be UTF-8. A line longer
/// than `max_length` bytes (terminator excluded; default
/// [`DEFAULT_MAX_LINE_LEN_BYTES`]) yields one [`CodecError::LineTooLong`] as
/// soon as that is certain, and its bytes are then dropped up to and including
/// the next `'\n'`, so a caller that keeps decoding resumes at the next line.
/// Memory use is bounded by `max_length` whatever the peer sends, and each byte
/// is scanned once however it is split across reads.
///
/// At end of stream ([`Decoder::decode_eof`]) unterminated trailing bytes are
/// returned as a last line.
///
/// The encoder writes the item followed by the [`LineEnding`] (default
/// `"\n"`). An item containing `'\n'` (or, with the `"\n"` ending, ending in
/// `'\r'`, which the peer would strip) is a [`CodecError::ItemContainsDelimiter`]
/// and one longer than `max_length` a [`CodecError::LineTooLong`], so that the
/// peer decodes exactly the line that was encoded.
///
/// Any thread: a plain value (`Send + Sync`); an engine keeps one per connection.
///
/// # Examples
///
/// ```
/// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
/// use netreactor::BytesMut;
/// use netreactor::codec::{Decoder, Encoder, LineCodec};
///
/// let mut codec = LineCodec::new();
/// let mut src = BytesMut::from(&b"hello\r\nworld\npart"[..]);
/// assert_eq!(&codec.decode(&mut src).unwrap().unwrap()[..], b"hello");
/// assert_eq!(&codec.decode(&mut src).unwrap().unwrap()[..], b"world");
/// assert_eq!(codec.decode(&mut src).unwrap(), None);
/// assert_eq!(&codec.decode_eof(&mut src).unwrap().unwrap()[..], b"part");
///
/// let mut dst = BytesMut::new();
/// codec.encode("bye", &mut dst).unwrap();
/// assert_eq!(&dst[..], b"bye\n");
/// ```
#[derive(Debug, Clone)]
pub struct LineCodec {
    max_length: usize,
    ending: LineEnding,
    /// How many bytes at the front of the buffer are known to hold no `'\n'`.
    scanned: usize,
    /// Dropping the rest of an over-long line.
    discarding: bool,
}

impl Default for LineCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl LineCodec {
    /// Creates a codec with lines of at most [`DEFAULT_MAX_LINE_LEN_BYTES`]
    /// that encodes with `"\n"`.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// let codec = netreactor::codec::LineCodec::new();
    /// assert_eq!(codec.max_length(), 64 * 1024);
    /// ```
    pub fn new() -> Self {
        Self {
            max_length: DEFAULT_MAX_LINE_LEN_BYTES,
            ending: LineEnding::Lf,
            scanned: 0,
            discarding: false,
        }
    }

    /// Sets the longest line accepted, in bytes, terminator excluded.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use netreactor::BytesMut;
    /// use netreactor::codec::{CodecError, Decoder, LineCodec};
    ///
    /// let mut codec = LineCodec::new().with_max_length(3);
    /// let mut src = BytesMut::from(&b"abcdef\nok\n"[..]);
    /// assert_eq!(codec.decode(&mut src), Err(CodecError::LineTooLong { max: 3 }));
    /// assert_eq!(&codec.decode(&mut src).unwrap().unwrap()[..], b"ok");
    /// ```
    #[must_use]
    pub fn with_max_length(mut self, max_length: usize) -> Self {
        self.max_length = max_length;
        self
    }

    /// Sets the terminator the encoder appends.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use netreactor::BytesMut;
    /// use netreactor::codec::{Encoder, LineCodec, LineEnding};
    ///
    /// let mut codec = LineCodec::new().with_line_ending(LineEnding::CrLf);
    /// let mut dst = BytesMut::new();
    /// codec.encode("hi", &mut dst).unwrap();
    /// assert_eq!(&dst[..], b"hi\r\n");
    /// ```
    #[must_use]
    pub fn with_line_ending(mut self, ending: LineEnding) -> Self {
        self.ending = ending;
        self
    }

    /// The longest line accepted, in bytes, terminator excluded.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// assert_eq!(netreactor::codec::LineCodec::new().with_max_length(80).max_length(), 80);
    /// ```
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The terminator the encoder appends.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use netreactor::codec::{LineCodec, LineEnding};
    ///
    /// assert_eq!(LineCodec::new().line_ending(), LineEnding::Lf);
    /// ```
    pub fn line_ending(&self) -> LineEnding {
        self.ending
    }

    /// Splits off a line of `len` bytes plus `terminator_len` bytes.
    /// The line of `len` bytes (a trailing '\r' not counted) and its
    /// terminator, as a span; an overlong one is removed and reported.
    fn line_span(&self, src: &mut BytesMut, len: usize, terminator_len: usize) -> Result<FrameSpan, CodecError> {
        let content = if len > 0 && src[len - 1] == b'\r' { len - 1 } else { len };
        if content > self.max_length {
            src.advance(len + terminator_len);
            return Err(CodecError::LineTooLong { max: self.max_length });
        }
        Ok(FrameSpan {
            start: 0,
            end: content,
            consumed: len + terminator_len,
        })
    }

    /// The next line, left in `src` (see [`Decoder::decode_span`]).
    fn span(&mut self, src: &mut BytesMut, eof: bool) -> Result<Option<FrameSpan>, CodecError> {
        if let Some(line) = self.span_before_eof(src)? {
            return Ok(Some(line));
        }
        if !eof {
            return Ok(None);
        }
        self.scanned = 0;
        if self.discarding {
            self.discarding = false;
            src.clear();
            return Ok(None);
        }
        if src.is_empty() {
            return Ok(None);
        }
        let len = src.len();
        self.line_span(src, len, 0).map(Some)
    }

    fn span_before_eof(&mut self, src: &mut BytesMut) -> Result<Option<FrameSpan>, CodecError> {
        loop {
            let start = self.scanned.min(src.len());
            let Some(i) = find_byte(b'\n', &src[start..]).map(|p| start + p) else {
                self.scanned = src.len();
                if self.discarding {
                    src.clear();
                    self.scanned = 0;
                    return Ok(None);
                }
                // Even if the last byte turns out to be a '\r' before the '\n',
                // the line is already longer than allowed.
                if src.len() > self.max_length.saturating_add(1) {
                    src.clear();
                    self.scanned = 0;
                    self.discarding = true;
                    return Err(CodecError::LineTooLong { max: self.max_length });
                }
                return Ok(None);
            };
            self.scanned = 0;
            if self.discarding {
                src.advance(i + 1);
                self.discarding = false;
                continue;
            }
            return self.line_span(src, i, 1).map(Some);
        }
    }

    /// What every encoding adds: the line ending.
    fn overhead_bytes(&self) -> usize {
        self.ending.as_bytes().len()
    }

    /// A line ends with a suffix: no prefix rule (see `Encoder::prefix_rule`).
    fn rule(&self) -> Option<crate::PrefixRule> {
        None
    }

    fn encode_slice(&self, line: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        if line.len() > self.max_length {
            return Err(CodecError::LineTooLong { max: self.max_length });
        }
        // A trailing '\r' would be taken for part of a CRLF terminator.
        let trailing_cr = self.ending == LineEnding::Lf && line.last() == Some(&b'\r');
        if trailing_cr || find_byte(b'\n', line).is_some() {
            return Err(CodecError::ItemContainsDelimiter);
        }
        let ending = self.ending.as_bytes();
        dst.reserve(line.len() + ending.len());
        dst.put_slice(line);
        dst.put_slice(ending);
        Ok(())
    }
}

impl Decoder for LineCodec {
    type Item = Bytes;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        Ok(self.span(src, false)?.map(|s| s.take(src)))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        Ok(self.span(src, true)?.map(|s| s.take(src)))
    }

    #[inline]
    fn decode_span(&mut self, src: &mut BytesMut, eof: bool) -> Option<Result<Option<FrameSpan>, CodecError>> {
        Some(self.span(src, eof))
    }
}

slice_encoders!(LineCodec);

impl Encoder<&str> for LineCodec {
    type Error = CodecError;

    fn encode(&mut self, item: &str, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encode_slice(item.as_bytes(), dst)
    }

    fn frame_overhead(&self) -> usize {
        self.overhead_bytes()
    }
}

impl Encoder<String> for LineCodec {
    type Error = CodecError;

    fn encode(&mut self, item: String, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encode_slice(item.as_bytes(), dst)
    }

    fn frame_overhead(&self) -> usize {
        self.overhead_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_and_lf_and_empty_lines() {
        let mut codec = LineCodec::new();
        let mut src = BytesMut::from(&b"a\r\n\n\r\nb\rc\n"[..]);
        let mut out = Vec::new();
        while let Some(line) = codec.decode(&mut src).unwrap() {
            out.push(line);
        }
        assert_eq!(out, [&b"a"[..], b"", b"", b"b\rc"]);
    }

    #[test]
    fn max_length_counts_content_not_cr() {
        let mut codec = LineCodec::new().with_max_length(3);
        let mut src = BytesMut::from(&b"abc\r"[..]);
        assert_eq!(codec.decode(&mut src), Ok(None));
        src.extend_from_slice(b"\n");
        assert_eq!(codec.decode(&mut src), Ok(Some(Bytes::from_static(b"abc"))));
        let mut src = BytesMut::from(&b"abcd\r\n"[..]);
        assert_eq!(codec.decode(&mut src), Err(CodecError::LineTooLong { max: 3 }));
        assert!(src.is_empty());
    }

    #[test]
    fn over_long_line_reported_once_across_reads() {
        let mut codec = LineCodec::new().with_max_length(4);
        let mut src = BytesMut::from(&b"0123456"[..]);
        assert_eq!(codec.decode(&mut src), Err(CodecError::LineTooLong { max: 4 }));
        src.extend_from_slice(b"789");
        assert_eq!(codec.decode(&mut src), Ok(None));
        src.extend_from_slice(b"abc\nnext\n");
        assert_eq!(codec.decode(&mut src), Ok(Some(Bytes::from_static(b"next"))));
    }

    #[test]
    fn scan_position_is_remembered() {
        let mut codec = LineCodec::new();
        let mut src = BytesMut::new();
        for _ in 0..1000 {
            src.extend_from_slice(b"x");
            assert_eq!(codec.decode(&mut src), Ok(None));
            assert_eq!(codec.scanned, src.len());
        }
        src.extend_from_slice(b"\n");
        assert_eq!(codec.decode(&mut src).unwrap().unwrap().len(), 1000);
    }

    #[test]
    fn encoder_rejects_newline_and_over_long() {
        let mut codec = LineCodec::new().with_max_length(4);
        let mut dst = BytesMut::new();
        assert_eq!(codec.encode("a\nb", &mut dst), Err(CodecError::ItemContainsDelimiter));
        assert_eq!(codec.encode("abcde", &mut dst), Err(CodecError::LineTooLong { max: 4 }));
        assert_eq!(codec.encode("ab\r", &mut dst), Err(CodecError::ItemContainsDelimiter));
        let mut crlf = LineCodec::new().with_line_ending(LineEnding::CrLf);
        crlf.encode("ab\r", &mut dst).unwrap();
        assert_eq!(crlf.decode(&mut dst), Ok(Some(Bytes::from_static(b"ab\r"))));
        assert!(dst.is_empty());
    }
}
