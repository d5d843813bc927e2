//! Two searches over the short strings of a request head (a path, a field
//! name), eight bytes at a time: byte by byte they cost four to eight
//! instructions a byte, and at depth 16 they were a tenth of a request's
//! user-space instructions.

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The eight bytes of `s` from `at` as one word (byte `at` lowest).
fn word(s: &[u8], at: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&s[at..at + 8]);
    u64::from_le_bytes(bytes)
}

/// The lowest byte of `x` that is zero, if one is.
///
/// `(x - 0x01..) & !x & 0x80..` sets the high bit of every zero byte, and
/// may set it in a byte above a zero one (a borrow runs up), never below
/// the lowest: its lowest set bit is exact.
fn first_zero_byte(x: u64) -> Option<usize> {
    let found = x.wrapping_sub(LOW_BITS) & !x & HIGH_BITS;
    (found != 0).then(|| found.trailing_zeros() as usize / 8)
}

/// The first position of `byte` in `s`, like `s.iter().position(..)`.
pub(crate) fn position_of(s: &[u8], byte: u8) -> Option<usize> {
    if s.len() < 8 {
        return s.iter().position(|&b| b == byte);
    }
    let pattern = LOW_BITS * u64::from(byte);
    let mut at = 0;
    while at + 8 <= s.len() {
        if let Some(i) = first_zero_byte(word(s, at) ^ pattern) {
            return Some(at + i);
        }
        at += 8;
    }
    // The last word overlaps the one before, whose bytes did not match.
    let last = s.len() - 8;
    first_zero_byte(word(s, last) ^ pattern).map(|i| last + i)
}

/// Whether the header field name `name` is `lower` in any case, where
/// `lower` is lower-case letters and `-` and `name` is a token (httparse
/// checked it).
///
/// Setting bit 5 (`| 0x20`) lower-cases a letter and leaves `-` as it is.
/// The token characters it turns into a lower-case letter are that letter's
/// two cases, and into `-` only `-` itself (the other, CR, is no token
/// character), so one OR and one comparison per eight bytes decide it.
pub(crate) fn token_is(name: &[u8], lower: &[u8]) -> bool {
    debug_assert!(lower.iter().all(|&b| b.is_ascii_lowercase() || b == b'-'));
    if name.len() != lower.len() {
        return false;
    }
    let n = name.len();
    if n < 8 {
        return name.iter().zip(lower).all(|(&a, &b)| a | 0x20 == b);
    }
    let same = |at: usize| word(name, at) | (LOW_BITS * 0x20) == word(lower, at);
    (0..n / 8).all(|i| same(i * 8)) && same(n - 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_of_finds_the_first_byte_at_every_length_and_place() {
        for len in 0..40 {
            for needle_at in (0..len).map(Some).chain([None]) {
                for byte in [b'?', 0x00, 0x80, 0xFF, 0x01] {
                    // Bytes one apart from the needle (and 0x00/0xFF
                    // around it) are where a borrow would mislead.
                    let mut s: Vec<u8> = (0..len).map(|i| byte.wrapping_add(1 + (i % 3) as u8)).collect();
                    if let Some(at) = needle_at {
                        s[at] = byte;
                        if at + 1 < len {
                            s[at + 1] = byte; // a second one after it
                        }
                    }
                    assert_eq!(position_of(&s, byte), s.iter().position(|&b| b == byte), "{s:?} {byte}");
                }
            }
        }
    }

    #[test]
    fn token_is_matches_eq_ignore_ascii_case_over_every_token_byte() {
        let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        for lower in [
            "host",
            "expect",
            "connection",
            "content-length",
            "transfer-encoding",
            "a",
            "-",
        ] {
            let lower = lower.as_bytes();
            assert!(token_is(&lower.to_ascii_uppercase(), lower));
            assert!(!token_is(&lower[1..], lower));
            // Every token byte in every place: a match exactly when the
            // byte is that place's letter in either case.
            for at in 0..lower.len() {
                for b in (0..=255u8).filter(|&b| tchar(b)) {
                    let mut name = lower.to_vec();
                    name[at] = b;
                    assert_eq!(token_is(&name, lower), name.eq_ignore_ascii_case(lower), "{name:?}");
                }
            }
        }
    }
}
