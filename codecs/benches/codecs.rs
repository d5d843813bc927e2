//! Decode throughput of every codec for 64 B, 1 KiB and 64 KiB frames.
//!
//! Each iteration decodes a ~1 MiB stream of back-to-back frames from a fresh
//! buffer (the copy into the buffer is set-up, not measured).

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use netreactor_codecs::{CodecError, Decoder, DelimiterCodec, Encoder, FixedLengthCodec, LengthFieldCodec, LineCodec};

/// Bytes of frames per iteration.
const STREAM_TARGET_BYTES: usize = 1 << 20;
/// Frame sizes benchmarked.
const FRAME_SIZES_BYTES: [usize; 3] = [64, 1024, 64 * 1024];

/// A payload of `len` bytes that contains neither '\n' nor '\r'.
fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

/// Encodes `payload` repeatedly until about `STREAM_TARGET_BYTES`.
fn stream<E>(mut encoder: E, payload: &[u8]) -> (Vec<u8>, usize)
where
    E: for<'a> Encoder<&'a [u8], Error = CodecError>,
{
    let mut wire = BytesMut::new();
    let mut frames = 0;
    while wire.len() < STREAM_TARGET_BYTES {
        encoder.encode(payload, &mut wire).unwrap();
        frames += 1;
    }
    (wire.to_vec(), frames)
}

fn bench_decoder<D>(c: &mut Criterion, group: &str, size: usize, codec: D, wire: &[u8], frames: usize)
where
    D: Decoder<Item = Bytes, Error = CodecError> + Clone,
{
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_with_input(BenchmarkId::from_parameter(size), &wire, |b, wire| {
        b.iter_batched(
            || (codec.clone(), BytesMut::from(&wire[..])),
            |(mut codec, mut src)| {
                let mut n = 0;
                while let Some(frame) = codec.decode(&mut src).unwrap() {
                    black_box(&frame);
                    n += 1;
                }
                assert_eq!(n, frames);
            },
            BatchSize::LargeInput,
        );
    });
    g.finish();
}

fn decoders(c: &mut Criterion) {
    for size in FRAME_SIZES_BYTES {
        let p = payload(size);

        let codec = LengthFieldCodec::new();
        let (wire, frames) = stream(codec.clone(), &p);
        bench_decoder(c, "decode/length_field", size, codec, &wire, frames);

        let codec = LineCodec::new().with_max_length(size);
        let (wire, frames) = stream(codec.clone(), &p);
        bench_decoder(c, "decode/line", size, codec, &wire, frames);

        let codec = DelimiterCodec::new([&b"\r\n"[..], b"\n"])
            .unwrap()
            .with_max_length(size);
        let (wire, frames) = stream(codec.clone(), &p);
        bench_decoder(c, "decode/delimiter", size, codec, &wire, frames);

        let codec = FixedLengthCodec::new(size);
        let (wire, frames) = stream(codec.clone(), &p);
        bench_decoder(c, "decode/fixed", size, codec, &wire, frames);
    }
}

criterion_group!(benches, decoders);
criterion_main!(benches);
