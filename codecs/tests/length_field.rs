//! `LengthFieldCodec`: every layout of Netty's `LengthFieldBasedFrameDecoder`
//! javadoc byte for byte, the tokio-util bugs this codec must not have, and
//! the error and recovery behaviour.

use bytes::{Bytes, BytesMut};
use netreactor_codecs::{
    CodecError, Decoder, Encoder, LengthFieldCodec, DEFAULT_MAX_FRAME_LEN_BYTES, MAX_DISCARD_BYTES,
    MAX_RESERVE_STEP_BYTES,
};

const HELLO: &[u8] = b"HELLO, WORLD";

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn codec(offset: usize, width: usize, adjustment: i64, strip: usize) -> LengthFieldCodec {
    LengthFieldCodec::builder()
        .length_field_offset(offset)
        .length_field_length(width)
        .length_adjustment(adjustment)
        .initial_bytes_to_strip(strip)
        .build()
        .unwrap()
}

/// Decodes `before` whole and one byte at a time; both must yield exactly
/// `after` and consume everything.
fn assert_decodes(codec: &LengthFieldCodec, before: &[u8], after: &[u8]) {
    let mut whole = codec.clone();
    let mut src = BytesMut::from(before);
    assert_eq!(whole.decode(&mut src), Ok(Some(Bytes::copy_from_slice(after))));
    assert!(src.is_empty());
    assert_eq!(whole.decode(&mut src), Ok(None));

    let mut bytewise = codec.clone();
    let mut src = BytesMut::new();
    let mut frames = Vec::new();
    for &b in before {
        src.extend_from_slice(&[b]);
        if let Some(frame) = bytewise.decode(&mut src).unwrap() {
            frames.push(frame);
        }
    }
    assert_eq!(frames, [Bytes::copy_from_slice(after)]);

    // A second frame right behind the first is decoded the same way.
    let mut twice = codec.clone();
    let mut src = BytesMut::from(&cat(&[before, before])[..]);
    assert_eq!(twice.decode(&mut src).unwrap().as_deref(), Some(after));
    assert_eq!(twice.decode(&mut src).unwrap().as_deref(), Some(after));
    assert!(src.is_empty());
}

// --- Netty javadoc layouts --------------------------------------------------

#[test]
fn netty_2_byte_length_offset_0_no_strip() {
    // lengthFieldOffset 0, lengthFieldLength 2, lengthAdjustment 0, initialBytesToStrip 0
    let before = cat(&[b"\x00\x0C", HELLO]);
    assert_eq!(before.len(), 14);
    assert_decodes(&codec(0, 2, 0, 0), &before, &before);
}

#[test]
fn netty_2_byte_length_offset_0_strip_header() {
    // lengthFieldOffset 0, lengthFieldLength 2, lengthAdjustment 0, initialBytesToStrip 2
    let before = cat(&[b"\x00\x0C", HELLO]);
    assert_decodes(&codec(0, 2, 0, 2), &before, HELLO);
}

#[test]
fn netty_2_byte_length_includes_header() {
    // lengthFieldOffset 0, lengthFieldLength 2, lengthAdjustment -2, initialBytesToStrip 0
    let before = cat(&[b"\x00\x0E", HELLO]);
    assert_decodes(&codec(0, 2, -2, 0), &before, &before);
    // The same layout through length_includes_length_field.
    let includes = LengthFieldCodec::builder()
        .length_field_length(2)
        .length_includes_length_field(true)
        .initial_bytes_to_strip(0)
        .build()
        .unwrap();
    assert_decodes(&includes, &before, &before);
}

#[test]
fn netty_3_byte_length_at_end_of_5_byte_header() {
    // lengthFieldOffset 2, lengthFieldLength 3, lengthAdjustment 0, initialBytesToStrip 0
    let before = cat(&[b"\xCA\xFE", b"\x00\x00\x0C", HELLO]);
    assert_eq!(before.len(), 17);
    assert_decodes(&codec(2, 3, 0, 0), &before, &before);
}

#[test]
fn netty_3_byte_length_at_start_of_5_byte_header() {
    // lengthFieldOffset 0, lengthFieldLength 3, lengthAdjustment 2, initialBytesToStrip 0
    let before = cat(&[b"\x00\x00\x0C", b"\xCA\xFE", HELLO]);
    assert_decodes(&codec(0, 3, 2, 0), &before, &before);
}

#[test]
fn netty_offset_1_strip_3_hdr1_hdr2() {
    // lengthFieldOffset 1, lengthFieldLength 2, lengthAdjustment 1, initialBytesToStrip 3
    let before = cat(&[b"\xCA", b"\x00\x0C", b"\xFE", HELLO]);
    assert_eq!(before.len(), 16);
    let after = cat(&[b"\xFE", HELLO]);
    assert_eq!(after.len(), 13);
    assert_decodes(&codec(1, 2, 1, 3), &before, &after);
}

#[test]
fn netty_offset_1_strip_3_length_of_whole_message() {
    // lengthFieldOffset 1, lengthFieldLength 2, lengthAdjustment -3, initialBytesToStrip 3
    let before = cat(&[b"\xCA", b"\x00\x10", b"\xFE", HELLO]);
    let after = cat(&[b"\xFE", HELLO]);
    assert_decodes(&codec(1, 2, -3, 3), &before, &after);
}

#[test]
fn encoder_inverts_netty_layouts() {
    // Length includes the header: the encoder writes payload + 2.
    let mut c = codec(0, 2, -2, 2);
    let mut dst = BytesMut::new();
    c.encode(HELLO, &mut dst).unwrap();
    assert_eq!(&dst[..], &cat(&[b"\x00\x0E", HELLO])[..]);
    assert_eq!(c.decode(&mut dst).unwrap().as_deref(), Some(HELLO));

    // Two header bytes after the length: the item carries them; value = item - 2.
    let mut c = codec(0, 3, 2, 3);
    let item = cat(&[b"\xCA\xFE", HELLO]);
    let mut dst = BytesMut::new();
    c.encode(&item[..], &mut dst).unwrap();
    assert_eq!(&dst[..], &cat(&[b"\x00\x00\x0C", b"\xCA\xFE", HELLO])[..]);

    // With an offset the encoder writes only the field and payload; the caller
    // puts the bytes before the field in front.
    let mut c = codec(1, 2, 1, 3);
    let mut dst = BytesMut::from(&b"\xCA"[..]);
    c.encode(&cat(&[b"\xFE", HELLO])[..], &mut dst).unwrap();
    assert_eq!(&dst[..], &cat(&[b"\xCA", b"\x00\x0C", b"\xFE", HELLO])[..]);
}

// --- peer bugs ----------------------------------------------------------------

/// tokio-rs/tokio#4815: tokio-util compares the raw length value with the
/// maximum before applying the adjustment. Here the limit is on the adjusted
/// whole frame, like Netty.
#[test]
fn max_checked_after_adjustment() {
    let build = |adjustment| {
        LengthFieldCodec::builder()
            .length_field_length(2)
            .length_adjustment(adjustment)
            .initial_bytes_to_strip(0)
            .max_frame_length(16)
            .build()
            .unwrap()
    };
    // Raw value 5 is small, but the adjusted frame is 2 + 5 + 10 = 17 bytes.
    let mut c = build(10);
    let mut src = BytesMut::from(&b"\x00\x05"[..]);
    assert_eq!(c.decode(&mut src), Err(CodecError::FrameTooLong { len: 17, max: 16 }));
    // Raw value 16 counts the header: the frame is 2 + 16 - 2 = 16 bytes, allowed.
    let mut c = build(-2);
    let frame = cat(&[b"\x00\x10", &[7u8; 14]]);
    let mut src = BytesMut::from(&frame[..]);
    assert_eq!(c.decode(&mut src).unwrap().as_deref(), Some(&frame[..]));
    // ...and one more is not.
    let mut src = BytesMut::from(&b"\x00\x11"[..]);
    assert_eq!(c.decode(&mut src), Err(CodecError::FrameTooLong { len: 17, max: 16 }));
}

/// tokio-rs/tokio#5080: tokio-util silently truncated a length that does not
/// fit the field. Here it is an error and nothing is written.
#[test]
fn encode_6mb_with_2_byte_field_is_error() {
    let mut c = LengthFieldCodec::builder().length_field_length(2).build().unwrap();
    let payload = Bytes::from(vec![0u8; 6_000_000]);
    let mut dst = BytesMut::new();
    assert_eq!(
        c.encode(payload, &mut dst),
        Err(CodecError::LengthFieldOverflow {
            value: 6_000_000,
            field_bytes: 2
        })
    );
    assert!(dst.is_empty());
    // The largest value that fits is fine.
    c.encode(&[0u8; 65_535][..], &mut dst).unwrap();
    assert_eq!(&dst[..2], b"\xFF\xFF");
    // Over the maximum frame length is an error too.
    let mut dst = BytesMut::new();
    let mut c = LengthFieldCodec::builder()
        .length_field_length(8)
        .max_frame_length(1000)
        .build()
        .unwrap();
    assert_eq!(
        c.encode(&[0u8; 993][..], &mut dst),
        Err(CodecError::FrameTooLong { len: 1001, max: 1000 })
    );
    assert!(c.encode(&[0u8; 992][..], &mut dst).is_ok());
}

/// tokio-util reserves the whole announced frame as soon as it reads the
/// header. A lying header must cost nothing here.
#[test]
fn lying_header_does_not_reserve_max_frame() {
    let mut c = LengthFieldCodec::new();
    // Announces exactly the maximum (8 MiB frame), which is allowed...
    let announced = (DEFAULT_MAX_FRAME_LEN_BYTES - 4) as u32;
    let mut src = BytesMut::new();
    src.extend_from_slice(&announced.to_be_bytes());
    src.extend_from_slice(b"abc");
    assert_eq!(c.decode(&mut src), Ok(None));
    assert!(src.capacity() < 128 * 1024, "capacity {}", src.capacity());
    // ...and keeps costing only what actually arrives.
    for _ in 0..32 {
        src.extend_from_slice(&[0u8; 1024]);
        assert_eq!(c.decode(&mut src), Ok(None));
    }
    // Growth is ordinary amortised doubling of what arrived plus one step.
    let received = src.len();
    assert!(
        src.capacity() <= 2 * (received + MAX_RESERVE_STEP_BYTES),
        "capacity {} after {received} bytes",
        src.capacity()
    );

    // An oversize claim is refused at the header, with nothing buffered.
    let mut c = LengthFieldCodec::new();
    let mut src = BytesMut::from(&b"\xFF\xFF\xFF\xFFabc"[..]);
    assert_eq!(
        c.decode(&mut src),
        Err(CodecError::FrameTooLong {
            len: 4 + 0xFFFF_FFFF,
            max: DEFAULT_MAX_FRAME_LEN_BYTES
        })
    );
    assert!(src.capacity() < 128 * 1024);
}

// --- errors and recovery --------------------------------------------------------

#[test]
fn partial_header_and_body_wait() {
    let mut c = LengthFieldCodec::new();
    let mut src = BytesMut::from(&b"\x00\x00"[..]);
    assert_eq!(c.decode(&mut src), Ok(None));
    src.extend_from_slice(b"\x00\x03ab");
    assert_eq!(c.decode(&mut src), Ok(None));
    src.extend_from_slice(b"c\x00");
    assert_eq!(c.decode(&mut src).unwrap().as_deref(), Some(&b"abc"[..]));
    assert_eq!(&src[..], b"\x00");
}

#[test]
fn empty_payload_frame() {
    let mut c = LengthFieldCodec::new();
    let mut dst = BytesMut::new();
    c.encode(Bytes::new(), &mut dst).unwrap();
    assert_eq!(&dst[..], b"\x00\x00\x00\x00");
    assert_eq!(c.decode(&mut dst), Ok(Some(Bytes::new())));
}

#[test]
fn little_endian_widths() {
    let mut c = LengthFieldCodec::builder()
        .little_endian()
        .length_field_length(3)
        .build()
        .unwrap();
    let mut src = BytesMut::from(&b"\x02\x00\x00hi"[..]);
    assert_eq!(c.decode(&mut src).unwrap().as_deref(), Some(&b"hi"[..]));
    let mut c = LengthFieldCodec::builder()
        .little_endian()
        .length_field_length(8)
        .build()
        .unwrap();
    let mut dst = BytesMut::new();
    c.encode(&b"hey"[..], &mut dst).unwrap();
    assert_eq!(&dst[..], b"\x03\x00\x00\x00\x00\x00\x00\x00hey");
}

#[test]
fn not_fail_fast_reports_after_discarding_across_calls() {
    let mut c = LengthFieldCodec::builder()
        .length_field_length(2)
        .max_frame_length(8)
        .fail_fast(false)
        .build()
        .unwrap();
    let mut src = BytesMut::from(&b"\x00\x0A0123"[..]); // 12-byte frame
    assert_eq!(c.decode(&mut src), Ok(None));
    assert!(src.is_empty());
    src.extend_from_slice(b"4567");
    assert_eq!(c.decode(&mut src), Ok(None));
    src.extend_from_slice(b"89\x00\x02ok");
    assert_eq!(c.decode(&mut src), Err(CodecError::FrameTooLong { len: 12, max: 8 }));
    assert_eq!(c.decode(&mut src).unwrap().as_deref(), Some(&b"ok"[..]));
}

#[test]
fn oversize_frame_already_buffered_is_skipped_whole() {
    for fail_fast in [true, false] {
        let mut c = LengthFieldCodec::builder()
            .length_field_length(1)
            .max_frame_length(4)
            .fail_fast(fail_fast)
            .build()
            .unwrap();
        let mut src = BytesMut::from(&b"\x05abcde\x01z"[..]);
        assert_eq!(c.decode(&mut src), Err(CodecError::FrameTooLong { len: 6, max: 4 }));
        assert_eq!(c.decode(&mut src).unwrap().as_deref(), Some(&b"z"[..]));
    }
}

#[test]
fn corrupt_frames_are_errors_not_panics() {
    // Negative after adjustment.
    let mut c = codec(0, 1, -10, 1);
    let mut src = BytesMut::from(&b"\x03abc"[..]);
    assert!(matches!(c.decode(&mut src), Err(CodecError::CorruptFrame(m)) if m.contains("negative")));
    // Shorter than the header.
    let mut c = codec(2, 2, -4, 0);
    let mut src = BytesMut::from(&b"xx\x00\x01"[..]);
    assert!(matches!(c.decode(&mut src), Err(CodecError::CorruptFrame(_))));
    // Stripping more than the frame.
    let mut c = codec(0, 1, 0, 5);
    let mut src = BytesMut::from(&b"\x02ab"[..]);
    assert!(matches!(c.decode(&mut src), Err(CodecError::CorruptFrame(m)) if m.contains("initial_bytes_to_strip")));
    assert!(src.is_empty());
    // Extreme values on an 8-byte field.
    for adjustment in [i64::MIN, i64::MAX, -1, 0] {
        let mut c = codec(3, 8, adjustment, 0);
        let mut src = BytesMut::from(&[0xFFu8; 16][..]);
        assert!(c.decode(&mut src).is_err());
    }
}

#[test]
fn builder_rejects_bad_configs() {
    for width in [0, 5, 6, 7, 9, 16] {
        assert!(matches!(
            LengthFieldCodec::builder().length_field_length(width).build(),
            Err(CodecError::InvalidConfig(_))
        ));
    }
    assert!(LengthFieldCodec::builder()
        .length_field_offset(usize::MAX)
        .build()
        .is_err());
    assert!(LengthFieldCodec::builder()
        .length_field_offset(4)
        .max_frame_length(7)
        .build()
        .is_err());
    assert!(LengthFieldCodec::builder()
        .length_field_offset(4)
        .max_frame_length(8)
        .build()
        .is_ok());
}

#[test]
fn defaults_match_new() {
    let a = LengthFieldCodec::builder().build().unwrap();
    let b = LengthFieldCodec::new();
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    assert_eq!(b.initial_bytes_to_strip(), 4);
    assert!(b.is_big_endian() && b.is_fail_fast());
    // The default strip follows the header length.
    let c = LengthFieldCodec::builder()
        .length_field_offset(3)
        .length_field_length(2)
        .build()
        .unwrap();
    assert_eq!(c.initial_bytes_to_strip(), 5);
}

#[test]
fn error_converts_to_invalid_data() {
    let err = CodecError::CorruptFrame("x".into());
    let io: std::io::Error = err.clone().into();
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidData);
    assert_eq!(io.to_string(), err.to_string());
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<CodecError>();
    assert_send_sync::<LengthFieldCodec>();
}

// --- 8-byte length fields: signed, as Netty reads them ------------------------

/// Regression (issue 14, item 13): Netty reads an 8-byte length field as a
/// signed long. For offset 0, length 8, strip 8, max 64 and
/// `ffffffffffffffff 0000000000000002 6869`, Netty reports a negative length
/// (skipping the 8 header bytes) and then delivers `hi`; this codec used to
/// read 2^64-1, report FrameTooLong and, without fail-fast, discard about
/// 2^63 bytes: the connection swallowed its input forever.
#[test]
fn eight_byte_length_of_2_pow_63_or_more_is_corrupt_as_in_netty() {
    let input = cat(&[&[0xff; 8], &[0, 0, 0, 0, 0, 0, 0, 2], b"hi"]);
    for fail_fast in [true, false] {
        let mut c = LengthFieldCodec::builder()
            .length_field_length(8)
            .initial_bytes_to_strip(8)
            .max_frame_length(64)
            .fail_fast(fail_fast)
            .build()
            .unwrap();
        let mut src = BytesMut::from(&input[..]);
        match c.decode(&mut src) {
            Err(CodecError::CorruptFrame(m)) => assert!(m.contains("negative"), "{m}"),
            other => panic!("fail_fast {fail_fast}: expected a corrupt frame, got {other:?}"),
        }
        assert_eq!(c.decode(&mut src), Ok(Some(Bytes::from_static(b"hi"))));
        assert!(src.is_empty());
    }
    // 2^63 exactly, big- and little-endian.
    for big_endian in [true, false] {
        let builder = LengthFieldCodec::builder().length_field_length(8);
        let builder = if big_endian {
            builder.big_endian()
        } else {
            builder.little_endian()
        };
        let mut c = builder.build().unwrap();
        let value = 1u64 << 63;
        let header = if big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        };
        let mut src = BytesMut::from(&header[..]);
        assert!(matches!(c.decode(&mut src), Err(CodecError::CorruptFrame(_))));
        assert!(src.is_empty(), "the header is skipped");
    }
}

/// No header value can put a connection into an endless discard: a positive
/// 8-byte length beyond `MAX_DISCARD_BYTES` is corrupt at once (header
/// skipped), with or without fail-fast; one just under the bound is
/// discarded as too long, as before.
#[test]
fn no_length_value_starts_an_endless_discard() {
    for fail_fast in [true, false] {
        let build = || {
            LengthFieldCodec::builder()
                .length_field_length(8)
                .max_frame_length(64)
                .fail_fast(fail_fast)
                .build()
                .unwrap()
        };
        for value in [MAX_DISCARD_BYTES, i64::MAX as u64, 1 << 62] {
            let mut c = build();
            let mut src = BytesMut::from(&cat(&[&value.to_be_bytes(), &[0, 0, 0, 0, 0, 0, 0, 2], b"ok"])[..]);
            match c.decode(&mut src) {
                Err(CodecError::CorruptFrame(m)) => assert!(m.contains("discard"), "{m}"),
                other => panic!("value {value}: expected a corrupt frame, got {other:?}"),
            }
            // The stream goes on right after the bad header (the default
            // strips the length field).
            assert_eq!(c.decode(&mut src), Ok(Some(Bytes::from_static(b"ok"))));
        }
        // Just under the bound: an ordinary too-long frame, discarded.
        let mut c = build();
        let mut src = BytesMut::from(&(MAX_DISCARD_BYTES - 8).to_be_bytes()[..]);
        let first = c.decode(&mut src);
        if fail_fast {
            assert!(matches!(first, Err(CodecError::FrameTooLong { .. })), "{first:?}");
        } else {
            assert_eq!(first, Ok(None));
        }
    }
}
