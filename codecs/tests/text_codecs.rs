//! `LineCodec`, `DelimiterCodec` and `FixedLengthCodec`: limits, recovery and
//! encoder checks.

use bytes::{Bytes, BytesMut};
use netreactor_codecs::{
    CodecError, Decoder, DelimiterCodec, Encoder, FixedLengthCodec, LineCodec, LineEnding,
    DEFAULT_MAX_DELIMITED_FRAME_LEN_BYTES, DEFAULT_MAX_LINE_LEN_BYTES, MAX_RESERVE_STEP_BYTES,
};

fn drain<D: Decoder<Item = Bytes, Error = CodecError>>(
    codec: &mut D,
    src: &mut BytesMut,
) -> Vec<Result<Bytes, CodecError>> {
    let mut out = Vec::new();
    loop {
        match codec.decode(src) {
            Ok(Some(frame)) => out.push(Ok(frame)),
            Ok(None) => return out,
            Err(e) => out.push(Err(e)),
        }
    }
}

fn ok(s: &'static [u8]) -> Result<Bytes, CodecError> {
    Ok(Bytes::from_static(s))
}

#[test]
fn line_default_limit_is_bounded() {
    let mut codec = LineCodec::new();
    let mut src = BytesMut::from(&vec![b'a'; DEFAULT_MAX_LINE_LEN_BYTES + 1][..]);
    assert_eq!(codec.decode(&mut src), Ok(None)); // might still be "...\r\n"
    src.extend_from_slice(b"a");
    assert_eq!(
        codec.decode(&mut src),
        Err(CodecError::LineTooLong {
            max: DEFAULT_MAX_LINE_LEN_BYTES
        })
    );
    // Nothing of the long line is kept while it is being discarded.
    for _ in 0..100 {
        src.extend_from_slice(&[b'a'; 1000]);
        assert_eq!(codec.decode(&mut src), Ok(None));
        assert!(src.is_empty());
    }
    src.extend_from_slice(b"tail\r\nnext\n");
    assert_eq!(drain(&mut codec, &mut src), [ok(b"next")]);
}

#[test]
fn line_exactly_max_is_accepted_with_either_ending() {
    let mut codec = LineCodec::new().with_max_length(5);
    let mut src = BytesMut::from(&b"12345\n12345\r\n123456\n"[..]);
    assert_eq!(
        drain(&mut codec, &mut src),
        [ok(b"12345"), ok(b"12345"), Err(CodecError::LineTooLong { max: 5 })]
    );
}

#[test]
fn line_eof_returns_unterminated_tail() {
    let mut codec = LineCodec::new();
    let mut src = BytesMut::from(&b"a\nlast\r"[..]);
    assert_eq!(codec.decode_eof(&mut src), Ok(Some(Bytes::from_static(b"a"))));
    assert_eq!(codec.decode_eof(&mut src), Ok(Some(Bytes::from_static(b"last"))));
    assert_eq!(codec.decode_eof(&mut src), Ok(None));
    // A too-long tail is an error at end of stream too.
    let mut codec = LineCodec::new().with_max_length(2);
    let mut src = BytesMut::from(&b"abc"[..]);
    assert_eq!(codec.decode_eof(&mut src), Err(CodecError::LineTooLong { max: 2 }));
    assert_eq!(codec.decode_eof(&mut src), Ok(None));
}

#[test]
fn line_encoder_endings() {
    let mut dst = BytesMut::new();
    LineCodec::new().encode("a", &mut dst).unwrap();
    LineCodec::new()
        .with_line_ending(LineEnding::CrLf)
        .encode(String::from("b"), &mut dst)
        .unwrap();
    LineCodec::new().encode(Bytes::from_static(b"c"), &mut dst).unwrap();
    assert_eq!(&dst[..], b"a\nb\r\nc\n");
    assert_eq!(drain(&mut LineCodec::new(), &mut dst), [ok(b"a"), ok(b"b"), ok(b"c")]);
}

#[test]
fn delimiter_netty_style_multiple_delimiters() {
    // Netty's lineDelimiter(): "\r\n" then "\n".
    let mut codec = DelimiterCodec::new([&b"\r\n"[..], b"\n"]).unwrap();
    let mut src = BytesMut::from(&b"one\r\ntwo\nthree\r\n"[..]);
    assert_eq!(drain(&mut codec, &mut src), [ok(b"one"), ok(b"two"), ok(b"three")]);
    // nulDelimiter().
    let mut codec = DelimiterCodec::new([b"\0"]).unwrap();
    let mut src = BytesMut::from(&b"a\0\0b\0"[..]);
    assert_eq!(drain(&mut codec, &mut src), [ok(b"a"), ok(b""), ok(b"b")]);
}

#[test]
fn delimiter_keep_delimiter() {
    let mut codec = DelimiterCodec::new([&b"\r\n"[..], b"\n"])
        .unwrap()
        .with_strip_delimiter(false);
    let mut src = BytesMut::from(&b"a\r\nb\n"[..]);
    assert_eq!(drain(&mut codec, &mut src), [ok(b"a\r\n"), ok(b"b\n")]);
}

#[test]
fn delimiter_default_limit_and_recovery() {
    let mut codec = DelimiterCodec::new([b"\0"]).unwrap();
    assert_eq!(codec.max_length(), DEFAULT_MAX_DELIMITED_FRAME_LEN_BYTES);
    let mut src = BytesMut::from(&vec![b'x'; DEFAULT_MAX_DELIMITED_FRAME_LEN_BYTES + 1][..]);
    assert_eq!(
        codec.decode(&mut src),
        Err(CodecError::DelimitedFrameTooLong {
            max: DEFAULT_MAX_DELIMITED_FRAME_LEN_BYTES
        })
    );
    src.extend_from_slice(b"xx\0ok\0");
    assert_eq!(drain(&mut codec, &mut src), [ok(b"ok")]);
}

#[test]
fn delimiter_long_delimiter_split_across_reads() {
    let mut codec = DelimiterCodec::new([b"\r\n\r\n"]).unwrap();
    let mut src = BytesMut::new();
    let mut frames = Vec::new();
    for &b in b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody" {
        src.extend_from_slice(&[b]);
        frames.extend(drain(&mut codec, &mut src));
    }
    assert_eq!(frames, [ok(b"GET / HTTP/1.1\r\nHost: x")]);
    assert_eq!(&src[..], b"body");
}

#[test]
fn delimiter_config_errors() {
    assert!(DelimiterCodec::new(Vec::<&[u8]>::new()).is_err());
    assert!(DelimiterCodec::new([&b"a"[..], b""]).is_err());
}

#[test]
fn fixed_frames_and_reserve() {
    let mut codec = FixedLengthCodec::new(4);
    let mut src = BytesMut::from(&b"abcdefghij"[..]);
    assert_eq!(drain(&mut codec, &mut src), [ok(b"abcd"), ok(b"efgh")]);
    assert_eq!(&src[..], b"ij");
    assert_eq!(codec.decode_eof(&mut src), Ok(None));
    assert_eq!(&src[..], b"ij");

    // A huge frame length reserves in bounded steps only.
    let mut codec = FixedLengthCodec::new(100 * 1024 * 1024);
    let mut src = BytesMut::from(&b"abc"[..]);
    assert_eq!(codec.decode(&mut src), Ok(None));
    assert!(src.capacity() <= 2 * MAX_RESERVE_STEP_BYTES);
}

#[test]
fn fixed_encoder_checks_length() {
    let mut codec = FixedLengthCodec::new(3);
    let mut dst = BytesMut::new();
    assert_eq!(
        codec.encode(&b"ab"[..], &mut dst),
        Err(CodecError::FrameLengthMismatch { expected: 3, actual: 2 })
    );
    codec.encode(&Bytes::from_static(b"abc"), &mut dst).unwrap();
    assert_eq!(&dst[..], b"abc");
    assert!(FixedLengthCodec::try_new(0).is_err());
    assert!(std::panic::catch_unwind(|| FixedLengthCodec::new(0)).is_err());
}

#[test]
fn codecs_are_send_and_clone() {
    fn assert_send<T: Send + Clone + std::fmt::Debug>() {}
    assert_send::<LineCodec>();
    assert_send::<DelimiterCodec>();
    assert_send::<FixedLengthCodec>();
}
