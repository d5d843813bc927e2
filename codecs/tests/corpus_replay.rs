//! Replays a deterministic, generated corpus through the same checks the fuzz
//! targets run (see `netreactor_codecs::fuzzing`), so CI covers the fuzz
//! properties without a nightly toolchain: no panic, decoding split at any
//! points equals decoding whole, buffer capacity bounded, encode/decode round
//! trip.

use bytes::BytesMut;
use netreactor_codecs::fuzzing::{self, Input};
use netreactor_codecs::Encoder;

/// Cases generated per codec.
const CASES_PER_CODEC: usize = 2000;

/// xorshift64* — tiny, deterministic, good enough to generate test input.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }

    fn pick_from(&mut self, alphabet: &[u8], n: usize) -> Vec<u8> {
        (0..n).map(|_| alphabet[self.below(alphabet.len())]).collect()
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Appends the split points and the stream in the layout the checks read.
fn assemble(rng: &mut Rng, mut data: Vec<u8>, stream: &[u8]) -> Vec<u8> {
    let n = rng.below(16);
    data.push(n as u8);
    for _ in 0..n {
        let cut = rng.below(stream.len() + 1) as u16;
        data.extend_from_slice(&cut.to_le_bytes());
    }
    data.extend_from_slice(stream);
    data
}

/// Occasionally flips, drops or inserts a byte.
fn mutate(rng: &mut Rng, stream: &mut Vec<u8>) {
    for _ in 0..rng.below(3) {
        if stream.is_empty() {
            return;
        }
        let at = rng.below(stream.len());
        match rng.below(3) {
            0 => stream[at] ^= 1 << rng.below(8),
            1 => {
                stream.remove(at);
            }
            _ => stream.insert(at, rng.byte()),
        }
    }
}

fn length_field_case(rng: &mut Rng) -> Vec<u8> {
    let mut cfg = rng.bytes(fuzzing::LENGTH_FIELD_CONFIG_BYTES);
    // Mostly small adjustments and offsets that make sense.
    if !rng.chance(8) {
        cfg[1] &= 0x3f;
        cfg[2] = match rng.below(3) {
            0 => 0,
            1 => (rng.below(9) as i8 - 4) as u8,
            _ => cfg[2],
        };
    }
    if rng.chance(2) {
        cfg[4] |= 0x80; // default 8 MiB maximum: lying headers must cost nothing
    } else {
        cfg[4] &= 0x03; // maximum below 1 KiB: oversize frames are common
    }
    let Ok(codec) = fuzzing::length_field_config(&cfg) else {
        return assemble(rng, cfg, &[]);
    };
    let mut encoder = codec.clone();
    let mut stream = Vec::new();
    if rng.chance(10) {
        stream = {
            let n = rng.below(600);
            rng.bytes(n)
        };
    } else {
        for _ in 0..rng.below(12) {
            stream.extend(rng.bytes(codec.length_field_offset()));
            let payload = {
                let n = rng.below(300);
                rng.bytes(n)
            };
            let mut wire = BytesMut::new();
            if rng.chance(8) || encoder.encode(&payload[..], &mut wire).is_err() {
                // A header announcing something else entirely.
                wire.clear();
                wire.extend_from_slice(&rng.bytes(codec.length_field_length()));
                if rng.chance(2) {
                    wire[0] = 0x7f;
                }
                wire.extend_from_slice(&payload);
            }
            stream.extend_from_slice(&wire);
        }
        mutate(rng, &mut stream);
    }
    assemble(rng, cfg, &stream)
}

fn line_case(rng: &mut Rng) -> Vec<u8> {
    let max = if rng.chance(4) {
        rng.below(70_000)
    } else {
        rng.below(40)
    };
    let mut cfg = vec![rng.byte()];
    cfg.extend_from_slice(&(max as u16).to_le_bytes());
    let len = rng.below(700);
    let stream = if rng.chance(10) {
        rng.bytes(len)
    } else {
        rng.pick_from(b"aaaabbbb\r\n\n", len)
    };
    assemble(rng, cfg, &stream)
}

fn delimiter_case(rng: &mut Rng) -> Vec<u8> {
    const ALPHABET: &[u8] = b"abc\r\n\0";
    let mut cfg = vec![rng.byte()];
    let count = 1 + usize::from(cfg[0] % 3);
    for _ in 0..count {
        let len = 1 + rng.below(4);
        cfg.push((len - 1) as u8);
        cfg.extend(rng.pick_from(ALPHABET, len));
    }
    let max = if rng.chance(4) {
        rng.below(70_000)
    } else {
        rng.below(40)
    };
    cfg.extend_from_slice(&(max as u16).to_le_bytes());
    let len = rng.below(700);
    let stream = if rng.chance(10) {
        rng.bytes(len)
    } else {
        rng.pick_from(ALPHABET, len)
    };
    // Sanity: the generated configuration parses as intended.
    let mut input = Input::new(&cfg);
    assert_eq!(fuzzing::delimiter_config(&mut input).delimiters().count(), count);
    assemble(rng, cfg, &stream)
}

fn fixed_case(rng: &mut Rng) -> Vec<u8> {
    let n = if rng.chance(4) {
        rng.below(65_535)
    } else {
        rng.below(20)
    } as u16;
    let mut cfg = n.to_le_bytes().to_vec();
    cfg.push(rng.byte());
    let stream = {
        let n = rng.below(700);
        rng.bytes(n)
    };
    assemble(rng, cfg, &stream)
}

fn replay(seed: u64, case: fn(&mut Rng) -> Vec<u8>, check: fn(&[u8])) {
    let mut rng = Rng::new(seed);
    for i in 0..CASES_PER_CODEC {
        let data = case(&mut rng);
        let outcome = std::panic::catch_unwind(|| check(&data));
        if outcome.is_err() {
            panic!("case {i} (seed {seed}) failed; input: {data:?}");
        }
    }
}

#[test]
fn corpus_replay_length_field() {
    replay(1, length_field_case, fuzzing::check_length_field);
}

#[test]
fn corpus_replay_line() {
    replay(2, line_case, fuzzing::check_line);
}

#[test]
fn corpus_replay_delimiter() {
    replay(3, delimiter_case, fuzzing::check_delimiter);
}

#[test]
fn corpus_replay_fixed() {
    replay(4, fixed_case, fuzzing::check_fixed);
}

#[test]
fn corpus_replay_raw_bytes() {
    // Arbitrary bytes straight into every check, as a fuzzer starts out.
    let mut rng = Rng::new(5);
    for _ in 0..CASES_PER_CODEC {
        let data = {
            let n = rng.below(400);
            rng.bytes(n)
        };
        fuzzing::check_length_field(&data);
        fuzzing::check_line(&data);
        fuzzing::check_delimiter(&data);
        fuzzing::check_fixed(&data);
    }
}
