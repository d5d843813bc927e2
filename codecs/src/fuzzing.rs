//! Checks shared by the fuzz targets (`codecs/fuzz`) and the `corpus_replay`
//! test; not part of the stable API.
//!
//! Each `check_*` function reads a codec configuration from the front of its
//! input, then split points, then the byte stream, and asserts (panics if not):
//!
//! - decoding never panics and always makes progress;
//! - decoding the stream fed in pieces (at the split points, and one byte at a
//!   time for short streams) yields exactly the frames and errors decoding it
//!   whole does;
//! - buffer capacity stays within `2 * (stream length + MAX_RESERVE_STEP_BYTES)`,
//!   whatever length a header claims;
//! - decoded frames respect the configured maximum;
//! - encoding pieces of the stream and decoding the result gives the pieces
//!   back (or the encoder refuses them with the documented error).

use bytes::{Buf, Bytes, BytesMut};

use crate::{
    CodecError, Decoder, DelimiterCodec, Encoder, FixedLengthCodec, FrameSpan, LengthFieldCodec, LineCodec, LineEnding,
    DEFAULT_MAX_FRAME_LEN_BYTES, MAX_RESERVE_STEP_BYTES,
};

/// One decode result: a frame or an error.
pub type Event = Result<Bytes, CodecError>;

/// Number of configuration bytes [`check_length_field`] reads.
pub const LENGTH_FIELD_CONFIG_BYTES: usize = 6;
/// Number of configuration bytes [`check_line`] reads.
pub const LINE_CONFIG_BYTES: usize = 3;
/// Number of configuration bytes [`check_fixed`] reads.
pub const FIXED_CONFIG_BYTES: usize = 3;
/// Streams up to this long are also decoded one byte at a time.
pub const BYTEWISE_CHECK_MAX_STREAM_BYTES: usize = 512;

/// Reads fuzz input front to back, yielding zeros once it runs out.
#[derive(Debug)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Wraps raw fuzz input.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// The next byte, or 0.
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// The next `n` bytes (fewer if the input runs out).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// Up to 15 split points (byte offsets into the stream, any order), then the
    /// rest of the input as the stream.
    pub fn cuts_and_stream(mut self) -> (Vec<usize>, &'a [u8]) {
        let n = usize::from(self.byte() % 16);
        let raw: Vec<u16> = (0..n).map(|_| u16::from_le_bytes([self.byte(), self.byte()])).collect();
        let stream = self.data;
        let cuts = raw.into_iter().map(|c| usize::from(c) % (stream.len() + 1)).collect();
        (cuts, stream)
    }
}

/// The result of feeding a stream to a decoder.
#[derive(Debug)]
pub struct Run {
    /// Every frame and error, in order, including those from `decode_eof`.
    pub events: Vec<Event>,
    /// The largest `capacity()` the buffer reached.
    pub max_capacity: usize,
}

/// Feeds `stream` to `codec` in the pieces `cuts` delimit (`cuts` may be
/// unsorted and repeat), draining frames and errors after each piece, then
/// calls `decode_eof` until it returns `Ok(None)`.
///
/// # Panics
///
/// If the decoder yields more results than there are bytes (no progress).
pub fn decode_in_pieces<D>(codec: D, stream: &[u8], cuts: &[usize]) -> Run
where
    D: Decoder<Item = Bytes, Error = CodecError>,
{
    feed_in_pieces(codec, stream, cuts, |codec, src, eof| {
        if eof {
            codec.decode_eof(src)
        } else {
            codec.decode(src)
        }
    })
}

/// As [`decode_in_pieces`], but through [`Decoder::decode_span`], the way an
/// engine lends frames: each frame is copied out of the buffer, then its
/// `consumed` bytes are removed.
///
/// # Panics
///
/// As [`decode_in_pieces`]; also if the decoder does not lend spans or
/// returns a span outside the buffer.
pub fn decode_spans_in_pieces<D>(codec: D, stream: &[u8], cuts: &[usize]) -> Run
where
    D: Decoder<Item = Bytes, Error = CodecError>,
{
    feed_in_pieces(codec, stream, cuts, |codec, src, eof| {
        let found = codec.decode_span(src, eof).expect("the decoder lends spans")?;
        Ok(found.map(|span| {
            assert!(
                span.start <= span.end && span.end <= span.consumed && span.consumed <= src.len(),
                "span {span:?} outside a {}-byte buffer",
                src.len()
            );
            let frame = Bytes::copy_from_slice(&src[span.start..span.end]);
            src.advance(span.consumed);
            frame
        }))
    })
}

/// As [`decode_spans_in_pieces`], but the way netreactor's loop takes a
/// whole read: first [`Decoder::decode_spans`] (into a small array, so its
/// limit is reached too); once the batch's frames are taken, nothing more
/// if the buffer is empty (and the stream goes on), else
/// [`Decoder::decode_span`] for what stopped a short batch, or another
/// batch after a full one.
///
/// # Panics
///
/// As [`decode_spans_in_pieces`]; also if a batch returns overlapping or
/// out-of-order spans.
pub fn decode_batched_in_pieces<D>(codec: D, stream: &[u8], cuts: &[usize]) -> Run
where
    D: Decoder<Item = Bytes, Error = CodecError>,
{
    let mut pending: std::collections::VecDeque<Bytes> = std::collections::VecDeque::new();
    // Set after a batch: whether it came back short.
    let mut after_batch: Option<bool> = None;
    feed_in_pieces(codec, stream, cuts, move |codec, src, eof| {
        if let Some(frame) = pending.pop_front() {
            return Ok(Some(frame));
        }
        let short = match after_batch.take() {
            Some(_) if src.is_empty() && !eof => return Ok(None),
            Some(short) => short,
            None => false,
        };
        let mut out = [FrameSpan::default(); 3];
        let n = if short { 0 } else { codec.decode_spans(src, &mut out) };
        if n > 0 {
            let mut prev_end = 0;
            for span in &out[..n] {
                assert!(
                    prev_end <= span.start
                        && span.start <= span.end
                        && span.end <= span.consumed
                        && span.consumed <= src.len(),
                    "batch span {span:?} after offset {prev_end} in a {}-byte buffer",
                    src.len()
                );
                prev_end = span.consumed;
                pending.push_back(Bytes::copy_from_slice(&src[span.start..span.end]));
            }
            src.advance(prev_end);
            after_batch = Some(n < out.len());
            return Ok(pending.pop_front());
        }
        let found = codec.decode_span(src, eof).expect("the decoder lends spans")?;
        Ok(found.map(|span| {
            let frame = Bytes::copy_from_slice(&src[span.start..span.end]);
            src.advance(span.consumed);
            frame
        }))
    })
}

fn feed_in_pieces<D>(
    mut codec: D,
    stream: &[u8],
    cuts: &[usize],
    mut step: impl FnMut(&mut D, &mut BytesMut, bool) -> Result<Option<Bytes>, CodecError>,
) -> Run {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(stream.len())).collect();
    cuts.push(stream.len());
    cuts.sort_unstable();
    cuts.dedup();
    let mut src = BytesMut::new();
    let mut events = Vec::new();
    let mut max_capacity = 0;
    let mut start = 0;
    let limit = stream.len() + 1;
    for &end in &cuts {
        src.extend_from_slice(&stream[start..end]);
        start = end;
        loop {
            let result = step(&mut codec, &mut src, false);
            max_capacity = max_capacity.max(src.capacity());
            match result {
                Ok(Some(frame)) => events.push(Ok(frame)),
                Ok(None) => break,
                Err(e) => {
                    let _ = e.to_string();
                    events.push(Err(e));
                }
            }
            assert!(events.len() <= limit, "decoder makes no progress");
        }
    }
    loop {
        let result = step(&mut codec, &mut src, true);
        max_capacity = max_capacity.max(src.capacity());
        match result {
            Ok(Some(frame)) => events.push(Ok(frame)),
            Ok(None) => break,
            Err(e) => events.push(Err(e)),
        }
        assert!(events.len() <= limit, "decoder makes no progress at end of stream");
    }
    Run { events, max_capacity }
}

/// Decodes `stream` whole, at `cuts`, and (if short) byte by byte; asserts
/// the results agree and capacity stays bounded; returns the whole-stream events.
///
/// # Panics
///
/// If any of those properties does not hold.
pub fn check_split_equivalence<D>(codec: &D, stream: &[u8], cuts: &[usize]) -> Vec<Event>
where
    D: Decoder<Item = Bytes, Error = CodecError> + Clone,
{
    let bound = 2 * (stream.len() + MAX_RESERVE_STEP_BYTES) + 64;
    let whole = decode_in_pieces(codec.clone(), stream, &[]);
    assert!(
        whole.max_capacity <= bound,
        "capacity {} exceeds {bound} for a {}-byte stream (whole)",
        whole.max_capacity,
        stream.len()
    );
    let split = decode_in_pieces(codec.clone(), stream, cuts);
    assert_eq!(whole.events, split.events, "split at {cuts:?}");
    assert!(
        split.max_capacity <= bound,
        "capacity {} exceeds {bound} for a {}-byte stream (split)",
        split.max_capacity,
        stream.len()
    );
    if codec.clone().decode_span(&mut BytesMut::new(), false).is_some() {
        let spans = decode_spans_in_pieces(codec.clone(), stream, cuts);
        assert_eq!(split.events, spans.events, "through decode_span, split at {cuts:?}");
        let batched = decode_batched_in_pieces(codec.clone(), stream, cuts);
        assert_eq!(split.events, batched.events, "through decode_spans, split at {cuts:?}");
    }
    if stream.len() <= BYTEWISE_CHECK_MAX_STREAM_BYTES {
        let all: Vec<usize> = (0..stream.len()).collect();
        let bytewise = decode_in_pieces(codec.clone(), stream, &all);
        assert_eq!(whole.events, bytewise.events, "fed one byte at a time");
        assert!(bytewise.max_capacity <= bound);
    }
    whole.events
}

/// Splits `stream` at `cuts` into pieces (used as items to encode).
pub fn pieces<'a>(stream: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(stream.len())).collect();
    cuts.push(stream.len());
    cuts.sort_unstable();
    let mut start = 0;
    cuts.into_iter()
        .map(|end| {
            let piece = &stream[start..end];
            start = end;
            piece
        })
        .collect()
}

/// Encodes each piece, asserts refusals are `allowed`, and returns the
/// accepted pieces and the encoded bytes.
fn encode_pieces<'a, E>(
    codec: &mut E,
    pieces: &[&'a [u8]],
    allowed: impl Fn(&CodecError) -> bool,
) -> (Vec<&'a [u8]>, Vec<u8>)
where
    E: for<'b> Encoder<&'b [u8], Error = CodecError>,
{
    let mut wire = BytesMut::new();
    let mut accepted = Vec::new();
    for &piece in pieces {
        let before = wire.len();
        match codec.encode(piece, &mut wire) {
            Ok(()) => accepted.push(piece),
            Err(e) => {
                assert!(allowed(&e), "unexpected encode error {e:?}");
                assert_eq!(wire.len(), before, "a failed encode wrote bytes");
            }
        }
    }
    (accepted, wire.to_vec())
}

/// Builds a [`LengthFieldCodec`] from [`LENGTH_FIELD_CONFIG_BYTES`] bytes.
///
/// # Errors
///
/// The configuration the bytes describe is invalid.
pub fn length_field_config(cfg: &[u8]) -> Result<LengthFieldCodec, CodecError> {
    let mut input = Input::new(cfg);
    let b0 = input.byte();
    let b1 = input.byte();
    let adj = input.byte();
    let strip = input.byte();
    let max = [input.byte(), input.byte()];
    let width = [1, 2, 3, 4, 8][usize::from((b0 >> 1) & 0x07) % 5];
    let offset = usize::from(b1 & 0x07);
    let adjustment = match b1 >> 6 {
        3 if adj & 1 == 0 => i64::MIN,
        3 => i64::MAX,
        2 => i64::from(adj as i8) * 1000,
        _ => i64::from(adj as i8),
    };
    let mut builder = LengthFieldCodec::builder()
        .length_field_offset(offset)
        .length_field_length(width)
        .length_adjustment(adjustment)
        .fail_fast(b0 & 0x10 != 0)
        .length_includes_length_field(b0 & 0x20 != 0)
        .max_frame_length(if max[0] & 0x80 != 0 {
            DEFAULT_MAX_FRAME_LEN_BYTES
        } else {
            usize::from(u16::from_le_bytes([max[0], max[1]]))
        });
    builder = if b0 & 1 == 0 {
        builder.big_endian()
    } else {
        builder.little_endian()
    };
    builder = match b0 >> 6 {
        1 => builder.initial_bytes_to_strip(0),
        2 => builder.initial_bytes_to_strip(usize::from(strip)),
        _ => builder,
    };
    builder.build()
}

/// The length-field check; see the module docs.
///
/// # Panics
///
/// If the codec misbehaves on this input.
pub fn check_length_field(data: &[u8]) {
    let mut input = Input::new(data);
    let cfg = input.take(LENGTH_FIELD_CONFIG_BYTES);
    let (cuts, stream) = input.cuts_and_stream();
    let codec = match length_field_config(cfg) {
        Ok(codec) => codec,
        Err(e) => {
            assert!(matches!(e, CodecError::InvalidConfig(_)));
            return;
        }
    };
    let events = check_split_equivalence(&codec, stream, &cuts);
    for frame in events.iter().flatten() {
        assert!(frame.len() <= codec.max_frame_length());
    }

    // Round trip: with no bytes before the field and the whole header
    // stripped, decoding what was encoded gives the items back.
    let header = codec.length_field_offset() + codec.length_field_length();
    if codec.length_field_offset() == 0 && codec.initial_bytes_to_strip() == header {
        let mut encoder = codec.clone();
        let (accepted, wire) = encode_pieces(&mut encoder, &pieces(stream, &cuts), |e| {
            matches!(
                e,
                CodecError::FrameTooLong { .. } | CodecError::LengthFieldOverflow { .. }
            )
        });
        let decoded = decode_in_pieces(codec, &wire, &cuts).events;
        let expected: Vec<Event> = accepted.into_iter().map(|p| Ok(Bytes::copy_from_slice(p))).collect();
        assert_eq!(decoded, expected, "round trip");
    }
}

/// Builds a [`LineCodec`] from [`LINE_CONFIG_BYTES`] bytes.
pub fn line_config(cfg: &[u8]) -> LineCodec {
    let mut input = Input::new(cfg);
    let b0 = input.byte();
    let max = usize::from(u16::from_le_bytes([input.byte(), input.byte()]));
    let ending = if b0 & 1 == 0 { LineEnding::Lf } else { LineEnding::CrLf };
    LineCodec::new().with_max_length(max).with_line_ending(ending)
}

/// The line check; see the module docs.
///
/// # Panics
///
/// If the codec misbehaves on this input.
pub fn check_line(data: &[u8]) {
    let mut input = Input::new(data);
    let codec = line_config(input.take(LINE_CONFIG_BYTES));
    let (cuts, stream) = input.cuts_and_stream();
    let events = check_split_equivalence(&codec, stream, &cuts);
    for frame in events.iter().flatten() {
        assert!(frame.len() <= codec.max_length());
    }
    let mut encoder = codec.clone();
    let (accepted, wire) = encode_pieces(&mut encoder, &pieces(stream, &cuts), |e| {
        matches!(e, CodecError::LineTooLong { .. } | CodecError::ItemContainsDelimiter)
    });
    let decoded = decode_in_pieces(codec, &wire, &cuts).events;
    let expected: Vec<Event> = accepted.into_iter().map(|p| Ok(Bytes::copy_from_slice(p))).collect();
    assert_eq!(decoded, expected, "round trip");
}

/// Builds a [`DelimiterCodec`] from the front of `input`: a byte giving the
/// delimiter count (1 to 3) and whether to strip, each delimiter as a length
/// byte (1 to 4) and its bytes, then two bytes of maximum length.
pub fn delimiter_config(input: &mut Input<'_>) -> DelimiterCodec {
    let b0 = input.byte();
    let count = 1 + usize::from(b0 % 3);
    let delimiters: Vec<Vec<u8>> = (0..count)
        .map(|_| {
            let len = 1 + usize::from(input.byte() % 4);
            (0..len).map(|_| input.byte()).collect()
        })
        .collect();
    let max = usize::from(u16::from_le_bytes([input.byte(), input.byte()]));
    match DelimiterCodec::new(delimiters) {
        Ok(codec) => codec.with_strip_delimiter(b0 & 0x80 == 0).with_max_length(max),
        Err(e) => unreachable!("delimiters are never empty here: {e}"),
    }
}

/// The delimiter check; see the module docs.
///
/// # Panics
///
/// If the codec misbehaves on this input.
pub fn check_delimiter(data: &[u8]) {
    let mut input = Input::new(data);
    let codec = delimiter_config(&mut input);
    let (cuts, stream) = input.cuts_and_stream();
    let events = check_split_equivalence(&codec, stream, &cuts);
    let longest = codec.delimiters().map(<[u8]>::len).max().unwrap_or(0);
    for frame in events.iter().flatten() {
        assert!(frame.len() <= codec.max_length() + longest);
    }
    let mut encoder = codec.clone();
    let (accepted, wire) = encode_pieces(&mut encoder, &pieces(stream, &cuts), |e| {
        matches!(
            e,
            CodecError::DelimitedFrameTooLong { .. } | CodecError::ItemContainsDelimiter
        )
    });
    let first: Vec<u8> = codec.delimiters().next().unwrap_or_default().to_vec();
    let strip = codec.strip_delimiter();
    let decoded = decode_in_pieces(codec, &wire, &cuts).events;
    let expected: Vec<Event> = accepted
        .into_iter()
        .map(|p| {
            let mut frame = p.to_vec();
            if !strip {
                frame.extend_from_slice(&first);
            }
            Ok(Bytes::from(frame))
        })
        .collect();
    assert_eq!(decoded, expected, "round trip");
}

/// Builds a [`FixedLengthCodec`] from [`FIXED_CONFIG_BYTES`] bytes (frame
/// lengths from 1 up to about 16 MiB).
pub fn fixed_config(cfg: &[u8]) -> FixedLengthCodec {
    let mut input = Input::new(cfg);
    let small = usize::from(u16::from_le_bytes([input.byte(), input.byte()]));
    let scale = if input.byte() & 1 == 0 { 1 } else { 256 };
    FixedLengthCodec::new(1 + small * scale)
}

/// The fixed-length check; see the module docs.
///
/// # Panics
///
/// If the codec misbehaves on this input.
pub fn check_fixed(data: &[u8]) {
    let mut input = Input::new(data);
    let codec = fixed_config(input.take(FIXED_CONFIG_BYTES));
    let (cuts, stream) = input.cuts_and_stream();
    let events = check_split_equivalence(&codec, stream, &cuts);
    let n = codec.frame_length();
    assert_eq!(events.len(), stream.len() / n);
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.as_deref(), Ok(&stream[i * n..(i + 1) * n]));
    }
    let mut encoder = codec.clone();
    let (accepted, wire) = encode_pieces(&mut encoder, &pieces(stream, &cuts), |e| {
        matches!(e, CodecError::FrameLengthMismatch { .. })
    });
    assert!(accepted.iter().all(|p| p.len() == n));
    assert_eq!(wire, accepted.concat());
}
