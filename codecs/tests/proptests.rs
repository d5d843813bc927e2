//! Property tests: encode/decode round trips against an independent reference
//! framing, and "decoding a stream split at random points gives exactly the
//! same frames and errors as decoding it whole" for every codec.

use bytes::{Bytes, BytesMut};
use netreactor_codecs::fuzzing::{check_split_equivalence, decode_in_pieces};
use netreactor_codecs::{
    CodecError, Decoder, DelimiterCodec, Encoder, FixedLengthCodec, LengthFieldCodec, LineCodec, LineEnding,
};
use proptest::collection::vec;
use proptest::prelude::*;

/// A length-field layout plus the settings the test needs to frame by hand.
#[derive(Debug, Clone)]
struct Layout {
    little_endian: bool,
    width: usize,
    offset: usize,
    adjustment: i64,
    includes: bool,
    strip_header: bool,
    fail_fast: bool,
    max: usize,
}

impl Layout {
    fn header(&self) -> usize {
        self.offset + self.width
    }

    fn codec(&self) -> LengthFieldCodec {
        let b = LengthFieldCodec::builder()
            .length_field_offset(self.offset)
            .length_field_length(self.width)
            .length_adjustment(self.adjustment)
            .length_includes_length_field(self.includes)
            .initial_bytes_to_strip(if self.strip_header { self.header() } else { 0 })
            .fail_fast(self.fail_fast)
            .max_frame_length(self.max);
        let b = if self.little_endian {
            b.little_endian()
        } else {
            b.big_endian()
        };
        b.build().unwrap()
    }

    /// The length value for a payload, computed independently of the codec:
    /// decoding takes offset + width + value + adjustment (- width if the
    /// value includes the field) bytes, which must be offset + width + payload.
    fn value(&self, payload_len: usize) -> i128 {
        let includes = if self.includes { self.width as i128 } else { 0 };
        payload_len as i128 - i128::from(self.adjustment) + includes
    }

    /// One frame by hand: `offset` filler bytes, the field, the payload.
    fn frame(&self, filler: u8, payload: &[u8]) -> Option<Vec<u8>> {
        let value = u64::try_from(self.value(payload.len())).ok()?;
        if self.width < 8 && value >> (8 * self.width) != 0 {
            return None;
        }
        let mut out = vec![filler; self.offset];
        let bytes = value.to_be_bytes();
        let field = &bytes[8 - self.width..];
        if self.little_endian {
            out.extend(field.iter().rev());
        } else {
            out.extend_from_slice(field);
        }
        out.extend_from_slice(payload);
        Some(out)
    }
}

fn layout() -> impl Strategy<Value = Layout> {
    (
        any::<bool>(),
        prop::sample::select(vec![1usize, 2, 3, 4, 8]),
        0usize..4,
        -8i64..=8,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(netreactor_codecs::DEFAULT_MAX_FRAME_LEN_BYTES), 16usize..200],
    )
        .prop_map(
            |(little_endian, width, offset, adjustment, includes, strip_header, fail_fast, max)| {
                // Keep the adjustment consistent with the layout: a value
                // that includes the header never goes below it.
                let adjustment = if includes { adjustment.min(0) } else { adjustment };
                Layout {
                    little_endian,
                    width,
                    offset,
                    adjustment,
                    includes,
                    strip_header,
                    fail_fast,
                    max: max.max(offset + width),
                }
            },
        )
}

fn cuts() -> impl Strategy<Value = Vec<usize>> {
    vec(0usize..2000, 0..12)
}

fn events(frames: &[&[u8]]) -> Vec<Result<Bytes, CodecError>> {
    frames.iter().map(|f| Ok(Bytes::copy_from_slice(f))).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Hand-framed payloads decode to the payloads (strip header) or to the
    /// whole frames (strip nothing); the codec's encoder writes the same bytes
    /// as the hand framing minus the filler before the field.
    #[test]
    fn length_field_round_trip(
        layout in layout(),
        payloads in vec(vec(any::<u8>(), 0..150), 0..8),
        filler in any::<u8>(),
        cuts in cuts(),
    ) {
        let codec = layout.codec();
        let mut wire = Vec::new();
        let mut expected_frames: Vec<Vec<u8>> = Vec::new();
        let mut expected_errors = 0;
        for p in &payloads {
            let Some(frame) = layout.frame(filler, p) else {
                // The value cannot be represented: the encoder must refuse too.
                let mut enc = codec.clone();
                let mut dst = BytesMut::new();
                prop_assert!(
                    matches!(
                        enc.encode(&p[..], &mut dst),
                        Err(CodecError::LengthFieldOverflow { .. } | CodecError::FrameTooLong { .. })
                    ),
                    "encoder accepted an unrepresentable value"
                );
                continue;
            };
            let mut enc = codec.clone();
            let mut dst = BytesMut::new();
            if frame.len() > layout.max {
                prop_assert!(
                    matches!(enc.encode(&p[..], &mut dst), Err(CodecError::FrameTooLong { .. })),
                    "encoder accepted an oversize frame"
                );
                wire.extend_from_slice(&frame);
                expected_errors += 1;
                continue;
            }
            enc.encode(&p[..], &mut dst).unwrap();
            prop_assert_eq!(&dst[..], &frame[layout.offset..]);
            wire.extend_from_slice(&frame);
            expected_frames.push(if layout.strip_header { p.clone() } else { frame });
        }
        let decoded = check_split_equivalence(&codec, &wire, &cuts);
        let frames: Vec<&[u8]> = decoded.iter().flatten().map(|b| &b[..]).collect();
        let expected: Vec<&[u8]> = expected_frames.iter().map(|f| &f[..]).collect();
        prop_assert_eq!(frames, expected);
        let errors = decoded.iter().filter(|e| e.is_err()).count();
        prop_assert_eq!(errors, expected_errors);
    }

    /// `Encoder::prefix_rule` agrees with `encode` for every payload
    /// length: a prefix exactly when encoding succeeds, and then the
    /// encoding is the prefix followed by the payload.
    #[test]
    fn length_field_prefix_rule_is_the_encoding_minus_the_payload(
        layout in layout(),
        len in prop_oneof![0usize..300, 65_530usize..65_545, Just(usize::MAX)],
    ) {
        let mut codec = layout.codec();
        let rule = Encoder::<&[u8]>::prefix_rule(&codec).expect("a length field has a rule");
        let prefix = rule.prefix(len);
        if len == usize::MAX {
            prop_assert!(prefix.is_none(), "{} bytes cannot be framed", len);
            return Ok(());
        }
        let payload = vec![0xa5; len];
        let mut dst = BytesMut::new();
        match (codec.encode(&payload[..], &mut dst), prefix) {
            (Ok(()), Some(p)) => {
                prop_assert_eq!(&dst[..p.len()], p.as_bytes());
                prop_assert_eq!(&dst[p.len()..], &payload[..]);
            }
            (Err(_), None) => prop_assert!(dst.is_empty()),
            (res, p) => prop_assert!(false, "encode {:?} but prefix {:?}", res, p),
        }
    }

    /// Valid frames mixed with garbage: split decoding equals whole decoding,
    /// frames and errors alike, and memory stays bounded.
    #[test]
    fn length_field_split_equivalence(
        layout in layout(),
        chunks in vec(prop_oneof![
            vec(any::<u8>(), 0..40).prop_map(|p| (true, p)),
            vec(any::<u8>(), 0..12).prop_map(|g| (false, g)),
        ], 0..10),
        cuts in cuts(),
    ) {
        let codec = layout.codec();
        let mut wire = Vec::new();
        for (valid, bytes) in &chunks {
            match (valid, layout.frame(0xAB, bytes)) {
                (true, Some(frame)) => wire.extend_from_slice(&frame),
                _ => wire.extend_from_slice(bytes),
            }
        }
        check_split_equivalence(&codec, &wire, &cuts);
    }

    #[test]
    fn line_split_equivalence(
        max in prop_oneof![0usize..12, Just(netreactor_codecs::DEFAULT_MAX_LINE_LEN_BYTES)],
        stream in vec(prop::sample::select(b"ab\r\n\n".to_vec()), 0..300),
        cuts in cuts(),
    ) {
        let codec = LineCodec::new().with_max_length(max);
        let decoded = check_split_equivalence(&codec, &stream, &cuts);
        for line in decoded.iter().flatten() {
            prop_assert!(line.len() <= max);
        }
    }

    #[test]
    fn line_round_trip(
        lines in vec(vec(prop::sample::select(b"ab\rc".to_vec()), 0..20), 0..10),
        crlf in any::<bool>(),
        cuts in cuts(),
    ) {
        let ending = if crlf { LineEnding::CrLf } else { LineEnding::Lf };
        let mut codec = LineCodec::new().with_line_ending(ending);
        let mut wire = BytesMut::new();
        let mut expected = Vec::new();
        for line in &lines {
            match codec.encode(&line[..], &mut wire) {
                Ok(()) => expected.push(&line[..]),
                Err(e) => {
                    prop_assert_eq!(e, CodecError::ItemContainsDelimiter);
                    prop_assert!(!crlf && line.last() == Some(&b'\r'));
                }
            }
        }
        let decoded = decode_in_pieces(LineCodec::new(), &wire, &cuts).events;
        prop_assert_eq!(decoded, events(&expected));
    }

    #[test]
    fn delimiter_split_equivalence(
        delimiters in vec(vec(prop::sample::select(b"ab\r\n".to_vec()), 1..4), 1..4),
        strip in any::<bool>(),
        max in prop_oneof![0usize..12, Just(netreactor_codecs::DEFAULT_MAX_DELIMITED_FRAME_LEN_BYTES)],
        stream in vec(prop::sample::select(b"abc\r\n".to_vec()), 0..300),
        cuts in cuts(),
    ) {
        let codec = DelimiterCodec::new(&delimiters)
            .unwrap()
            .with_strip_delimiter(strip)
            .with_max_length(max);
        check_split_equivalence(&codec, &stream, &cuts);
    }

    #[test]
    fn delimiter_round_trip(
        delimiters in vec(vec(prop::sample::select(b"ab\r\n".to_vec()), 1..4), 1..4),
        items in vec(vec(prop::sample::select(b"abc\r\n".to_vec()), 0..10), 0..10),
        cuts in cuts(),
    ) {
        let mut codec = DelimiterCodec::new(&delimiters).unwrap();
        let mut wire = BytesMut::new();
        let mut expected = Vec::new();
        for item in &items {
            match codec.encode(&item[..], &mut wire) {
                Ok(()) => expected.push(&item[..]),
                Err(e) => prop_assert_eq!(e, CodecError::ItemContainsDelimiter),
            }
        }
        let decoded = decode_in_pieces(codec, &wire, &cuts).events;
        prop_assert_eq!(decoded, events(&expected));
    }

    #[test]
    fn fixed_split_equivalence(
        n in prop_oneof![1usize..10, 1usize..100_000],
        stream in vec(any::<u8>(), 0..300),
        cuts in cuts(),
    ) {
        let codec = FixedLengthCodec::new(n);
        let decoded = check_split_equivalence(&codec, &stream, &cuts);
        let expected: Vec<&[u8]> = stream.chunks_exact(n).collect();
        prop_assert_eq!(decoded, events(&expected));
    }
}

/// The decoder trait object-safety and `decode_eof` default still work.
#[test]
fn decoders_are_usable_as_trait_objects() {
    let mut codecs: Vec<Box<dyn Decoder<Item = Bytes, Error = CodecError>>> = vec![
        Box::new(LengthFieldCodec::new()),
        Box::new(LineCodec::new()),
        Box::new(DelimiterCodec::new([b"\n"]).unwrap()),
        Box::new(FixedLengthCodec::new(1)),
    ];
    for codec in &mut codecs {
        let mut src = BytesMut::new();
        assert_eq!(codec.decode_eof(&mut src), Ok(None));
    }
}
