//! Frames ended by one of several delimiter byte strings.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::search::find_slice;
use crate::{CodecError, Decoder, FrameSpan};

/// The default maximum delimited frame length, delimiter excluded: 64 KiB.
///
/// # Examples
///
/// ```
/// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
/// use netreactor::codec::{DelimiterCodec, DEFAULT_MAX_DELIMITED_FRAME_LEN_BYTES};
///
/// assert_eq!(DEFAULT_MAX_DELIMITED_FRAME_LEN_BYTES, 64 * 1024);
/// let codec = DelimiterCodec::new([b"\0"]).unwrap();
/// assert_eq!(codec.max_length(), DEFAULT_MAX_DELIMITED_FRAME_LEN_BYTES);
/// ```
pub const DEFAULT_MAX_DELIMITED_FRAME_LEN_BYTES: usize = 64 * 1024;

/// Splits a byte stream at any of one or more delimiters, like Netty's
/// `DelimiterBasedFrameDecoder`.
///
/// The delimiter that ends the frame is the one whose match starts earliest
/// (the shortest frame wins); when two start at the same byte, the one listed
/// first wins, so list `"\r\n"` before `"\n"`. A match is only accepted once
/// no delimiter listed earlier could still complete at an earlier or equal
/// position, so the frames never depend on how the stream was split into
/// reads.
///
/// Decoded frames exclude the delimiter unless `strip_delimiter` is turned
/// off. A frame longer than `max_length` bytes (delimiter excluded; default
/// [`DEFAULT_MAX_DELIMITED_FRAME_LEN_BYTES`]) yields one
/// [`CodecError::DelimitedFrameTooLong`] as soon as that is certain, and its
/// bytes are then dropped up to and including the next delimiter, so a caller
/// that keeps decoding resumes at the next frame. At end of stream
/// ([`Decoder::decode_eof`]) unterminated trailing bytes are returned as a last
/// frame.
///
/// The encoder writes the item followed by the first delimiter. An item that
/// contains a delimiter, or whose last bytes would form an earlier-starting
/// delimiter together with the appended one, is a
/// [`CodecError::ItemContainsDelimiter`], and one longer than `max_length` a
/// [`CodecError::DelimitedFrameTooLong`]: the peer decodes exactly the item.
///
/// Any thread: a plain value (`Send + Sync`); an engine keeps one per connection.
///
/// # Examples
///
/// ```
/// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
/// use netreactor::{Bytes, BytesMut};
/// use netreactor::codec::{Decoder, DelimiterCodec, Encoder};
///
/// let mut codec = DelimiterCodec::new([&b"\r\n"[..], b";"]).unwrap();
/// let mut src = BytesMut::from(&b"a;b\r\nc"[..]);
/// assert_eq!(&codec.decode(&mut src).unwrap().unwrap()[..], b"a");
/// assert_eq!(&codec.decode(&mut src).unwrap().unwrap()[..], b"b");
/// assert_eq!(codec.decode(&mut src).unwrap(), None);
///
/// let mut dst = BytesMut::new();
/// codec.encode(Bytes::from_static(b"x"), &mut dst).unwrap();
/// assert_eq!(&dst[..], b"x\r\n");
/// ```
#[derive(Debug, Clone)]
pub struct DelimiterCodec {
    delimiters: Vec<Box<[u8]>>,
    longest_delimiter: usize,
    strip_delimiter: bool,
    max_length: usize,
    /// How many bytes at the front of the buffer cannot start a delimiter.
    scanned: usize,
    /// Dropping the rest of an over-long frame.
    discarding: bool,
}

/// What a search of the buffer found.
enum Search {
    /// A delimiter (index into the list) that certainly ends the frame at `at`.
    Found { at: usize, delimiter: usize },
    /// No frame end yet; no delimiter can start before `before`.
    Pending { before: usize },
}

impl DelimiterCodec {
    /// Creates a codec splitting at any of `delimiters` (earliest match wins,
    /// ties go to the one listed first).
    ///
    /// Any thread.
    ///
    /// # Errors
    ///
    /// [`CodecError::InvalidConfig`] if there is no delimiter or one is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use netreactor::codec::{CodecError, DelimiterCodec};
    ///
    /// assert!(DelimiterCodec::new([b"\r\n", b"\n\n"]).is_ok());
    /// assert!(matches!(DelimiterCodec::new([b""]), Err(CodecError::InvalidConfig(_))));
    /// assert!(DelimiterCodec::new(Vec::<Vec<u8>>::new()).is_err());
    /// ```
    pub fn new<I, D>(delimiters: I) -> Result<Self, CodecError>
    where
        I: IntoIterator<Item = D>,
        D: AsRef<[u8]>,
    {
        let delimiters: Vec<Box<[u8]>> = delimiters.into_iter().map(|d| Box::from(d.as_ref())).collect();
        if delimiters.is_empty() {
            return Err(CodecError::InvalidConfig("at least one delimiter is needed"));
        }
        if delimiters.iter().any(|d| d.is_empty()) {
            return Err(CodecError::InvalidConfig("a delimiter cannot be empty"));
        }
        let longest_delimiter = delimiters.iter().map(|d| d.len()).max().unwrap_or(1);
        Ok(Self {
            delimiters,
            longest_delimiter,
            strip_delimiter: true,
            max_length: DEFAULT_MAX_DELIMITED_FRAME_LEN_BYTES,
            scanned: 0,
            discarding: false,
        })
    }

    /// Chooses whether decoded frames exclude their delimiter (default true).
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use netreactor::BytesMut;
    /// use netreactor::codec::{Decoder, DelimiterCodec};
    ///
    /// let mut codec = DelimiterCodec::new([b"|"]).unwrap().with_strip_delimiter(false);
    /// let mut src = BytesMut::from(&b"ab|"[..]);
    /// assert_eq!(&codec.decode(&mut src).unwrap().unwrap()[..], b"ab|");
    /// ```
    #[must_use]
    pub fn with_strip_delimiter(mut self, strip: bool) -> Self {
        self.strip_delimiter = strip;
        self
    }

    /// Sets the longest frame accepted, in bytes, delimiter excluded.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// use netreactor::BytesMut;
    /// use netreactor::codec::{CodecError, Decoder, DelimiterCodec};
    ///
    /// let mut codec = DelimiterCodec::new([b"|"]).unwrap().with_max_length(2);
    /// let mut src = BytesMut::from(&b"abc|ok|"[..]);
    /// assert_eq!(codec.decode(&mut src), Err(CodecError::DelimitedFrameTooLong { max: 2 }));
    /// assert_eq!(&codec.decode(&mut src).unwrap().unwrap()[..], b"ok");
    /// ```
    #[must_use]
    pub fn with_max_length(mut self, max_length: usize) -> Self {
        self.max_length = max_length;
        self
    }

    /// The delimiters, in priority order.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// let codec = netreactor::codec::DelimiterCodec::new([b"\r\n", b"\n\0"]).unwrap();
    /// assert_eq!(codec.delimiters().next(), Some(&b"\r\n"[..]));
    /// ```
    pub fn delimiters(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.delimiters.iter().map(|d| &d[..])
    }

    /// Whether decoded frames exclude their delimiter.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// assert!(netreactor::codec::DelimiterCodec::new([b","]).unwrap().strip_delimiter());
    /// ```
    pub fn strip_delimiter(&self) -> bool {
        self.strip_delimiter
    }

    /// The longest frame accepted, in bytes, delimiter excluded.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod netreactor { pub mod codec { pub use netreactor_codecs::*; } pub use bytes::{Bytes, BytesMut}; } // the paths a netreactor user writes
    /// let codec = netreactor::codec::DelimiterCodec::new([b","]).unwrap().with_max_length(9);
    /// assert_eq!(codec.max_length(), 9);
    /// ```
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Looks for the delimiter ending the frame at the front of `buf`, at or
    /// after `from`. Unless `eof`, a match that a longer or higher-priority
    /// delimiter could still pre-empt once more bytes arrive is not accepted.
    fn search(&self, buf: &[u8], from: usize, eof: bool) -> Search {
        let mut best: Option<(usize, usize)> = None;
        for (k, d) in self.delimiters.iter().enumerate() {
            // Only a match strictly before the best one can replace it.
            let end = match best {
                Some((at, _)) => (at + d.len()).min(buf.len()),
                None => buf.len(),
            };
            if from >= end {
                continue;
            }
            if let Some(p) = find_slice(d, &buf[from..end]) {
                let at = from + p;
                if best.is_none_or(|(b, _)| at < b) {
                    best = Some((at, k));
                }
            }
        }
        if eof {
            return match best {
                Some((at, delimiter)) => Search::Found { at, delimiter },
                None => Search::Pending { before: buf.len() },
            };
        }
        // The earliest position where a delimiter might start but has not
        // fully arrived yet; any such start at or before the best match (with
        // priority on ties) must be resolved first.
        let mut partial = buf.len();
        for (k, d) in self.delimiters.iter().enumerate() {
            let first = buf.len().saturating_sub(d.len() - 1).max(from);
            for j in first..buf.len() {
                if j >= partial {
                    break;
                }
                let blocks = match best {
                    Some((at, bk)) => j < at || (j == at && k < bk),
                    None => true,
                };
                if blocks && d.starts_with(&buf[j..]) {
                    partial = j;
                    break;
                }
            }
        }
        match best {
            Some((at, delimiter)) if partial == buf.len() => Search::Found { at, delimiter },
            Some((at, _)) => Search::Pending {
                before: partial.min(at),
            },
            None => Search::Pending { before: partial },
        }
    }

    /// The next frame, left in `src` (see [`Decoder::decode_span`]).
    fn span(&mut self, src: &mut BytesMut, eof: bool) -> Result<Option<FrameSpan>, CodecError> {
        loop {
            let from = self.scanned.min(src.len());
            match self.search(src, from, eof) {
                Search::Found { at, delimiter } => {
                    self.scanned = 0;
                    let dlen = self.delimiters[delimiter].len();
                    if self.discarding {
                        self.discarding = false;
                        src.advance(at + dlen);
                        continue;
                    }
                    if at > self.max_length {
                        src.advance(at + dlen);
                        return Err(CodecError::DelimitedFrameTooLong { max: self.max_length });
                    }
                    return Ok(Some(FrameSpan {
                        start: 0,
                        end: if self.strip_delimiter { at } else { at + dlen },
                        consumed: at + dlen,
                    }));
                }
                Search::Pending { before } => {
                    // Positions before `len - (longest - 1)` have been fully
                    // checked; rescanning starts there (or earlier if a
                    // partial delimiter starts earlier).
                    let settled = src.len().saturating_sub(self.longest_delimiter - 1);
                    self.scanned = settled.min(before);
                    if eof {
                        self.scanned = 0;
                        if self.discarding {
                            self.discarding = false;
                            src.clear();
                            return Ok(None);
                        }
                        if src.is_empty() {
                            return Ok(None);
                        }
                        if src.len() > self.max_length {
                            src.clear();
                            return Err(CodecError::DelimitedFrameTooLong { max: self.max_length });
                        }
                        let len = src.len();
                        return Ok(Some(FrameSpan {
                            start: 0,
                            end: len,
                            consumed: len,
                        }));
                    }
                    if self.discarding {
                        src.advance(before);
                        self.scanned -= before.min(self.scanned);
                        return Ok(None);
                    }
                    if before > self.max_length {
                        // The frame is at least `before` bytes long.
                        src.advance(before);
                        self.scanned -= before.min(self.scanned);
                        self.discarding = true;
                        return Err(CodecError::DelimitedFrameTooLong { max: self.max_length });
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// What every encoding adds: the first delimiter.
    fn overhead_bytes(&self) -> usize {
        self.delimiters[0].len()
    }

    /// A frame ends with a delimiter: no prefix rule (see `Encoder::prefix_rule`).
    fn rule(&self) -> Option<crate::PrefixRule> {
        None
    }

    fn encode_slice(&self, item: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        if item.len() > self.max_length {
            return Err(CodecError::DelimitedFrameTooLong { max: self.max_length });
        }
        let delimiter = &self.delimiters[0];
        if self
            .delimiters
            .iter()
            .any(|d| find_slice(d, item).is_some() || straddles(d, item, delimiter))
        {
            return Err(CodecError::ItemContainsDelimiter);
        }
        dst.reserve(item.len() + delimiter.len());
        dst.put_slice(item);
        dst.put_slice(delimiter);
        Ok(())
    }
}

/// Whether `d` could start inside `item` and run on into `tail` (and maybe
/// into whatever is written after `tail`): then the peer would see `d`, which
/// starts earlier, instead of `tail` as the end of the frame.
fn straddles(d: &[u8], item: &[u8], tail: &[u8]) -> bool {
    let first = item.len().saturating_sub(d.len() - 1);
    (first..item.len()).any(|j| {
        let head = &item[j..];
        let rest = &d[head.len()..];
        let n = rest.len().min(tail.len());
        d.starts_with(head) && rest[..n] == tail[..n]
    })
}

impl Decoder for DelimiterCodec {
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

slice_encoders!(DelimiterCodec);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Encoder;

    fn frames(codec: &mut DelimiterCodec, bytes: &[u8]) -> Vec<Result<Bytes, CodecError>> {
        let mut src = BytesMut::from(bytes);
        let mut out = Vec::new();
        loop {
            match codec.decode(&mut src) {
                Ok(Some(f)) => out.push(Ok(f)),
                Ok(None) => break,
                Err(e) => out.push(Err(e)),
            }
        }
        out
    }

    #[test]
    fn earliest_match_wins_and_ties_go_to_first_listed() {
        let mut codec = DelimiterCodec::new([&b"\r\n"[..], b"\n"]).unwrap();
        let out = frames(&mut codec, b"a\r\nb\nc\r\n");
        assert_eq!(
            out,
            [
                Ok(Bytes::from_static(b"a")),
                Ok(Bytes::from_static(b"b")),
                Ok(Bytes::from_static(b"c"))
            ]
        );
        // Netty's example: shortest frame wins even if its delimiter is listed later.
        let mut codec = DelimiterCodec::new([&b"ABC"[..], b"DEF"]).unwrap();
        let out = frames(&mut codec, b"+-DEF+ABC");
        assert_eq!(out, [Ok(Bytes::from_static(b"+-")), Ok(Bytes::from_static(b"+"))]);
    }

    #[test]
    fn partial_higher_priority_delimiter_defers_match() {
        let mut codec = DelimiterCodec::new([&b"\r\n"[..], b"\r"]).unwrap();
        let mut src = BytesMut::from(&b"ab\r"[..]);
        assert_eq!(codec.decode(&mut src), Ok(None));
        src.extend_from_slice(b"\ncd\rx");
        assert_eq!(codec.decode(&mut src), Ok(Some(Bytes::from_static(b"ab"))));
        assert_eq!(codec.decode(&mut src), Ok(Some(Bytes::from_static(b"cd"))));
        assert_eq!(codec.decode(&mut src), Ok(None));
        assert_eq!(codec.decode_eof(&mut src), Ok(Some(Bytes::from_static(b"x"))));
    }

    #[test]
    fn earlier_partial_delimiter_defers_later_match() {
        let mut codec = DelimiterCodec::new([&b"abc"[..], b"b"]).unwrap();
        let mut src = BytesMut::from(&b"xab"[..]);
        assert_eq!(codec.decode(&mut src), Ok(None));
        src.extend_from_slice(b"c");
        assert_eq!(codec.decode(&mut src), Ok(Some(Bytes::from_static(b"x"))));
        // At end of stream the partial cannot complete any more.
        let mut src = BytesMut::from(&b"xab"[..]);
        assert_eq!(codec.decode_eof(&mut src), Ok(Some(Bytes::from_static(b"xa"))));
    }

    #[test]
    fn over_long_frame_discarded_until_delimiter() {
        let mut codec = DelimiterCodec::new([b"||"]).unwrap().with_max_length(3);
        let mut src = BytesMut::from(&b"abcde|"[..]);
        assert_eq!(
            codec.decode(&mut src),
            Err(CodecError::DelimitedFrameTooLong { max: 3 })
        );
        assert_eq!(&src[..], b"|");
        src.extend_from_slice(b"x||ok||");
        assert_eq!(codec.decode(&mut src), Ok(Some(Bytes::from_static(b"ok"))));
    }

    #[test]
    fn encoder_checks_item() {
        let mut codec = DelimiterCodec::new([&b"\r\n"[..], b"\0"]).unwrap();
        let mut dst = BytesMut::new();
        assert_eq!(
            codec.encode(&b"a\0b"[..], &mut dst),
            Err(CodecError::ItemContainsDelimiter)
        );
        codec.encode(&b"a\rb"[..], &mut dst).unwrap();
        assert_eq!(&dst[..], b"a\rb\r\n");
        // "a" + "b" would be decoded as an empty frame ended by "ab".
        let mut codec = DelimiterCodec::new([&b"b"[..], b"ab"]).unwrap();
        assert_eq!(
            codec.encode(&b"a"[..], &mut dst),
            Err(CodecError::ItemContainsDelimiter)
        );
    }
}
