//! Byte searching without a `memchr` dependency.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Index of the first `needle` in `hay`, scanning eight bytes at a time.
pub(crate) fn find_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    let pattern = LO.wrapping_mul(u64::from(needle));
    let mut chunks = hay.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ pattern;
        // Borrows only propagate upwards, so the lowest flagged byte is exact.
        let zero = x.wrapping_sub(LO) & !x & HI;
        if zero != 0 {
            return Some(offset + (zero.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks.remainder().iter().position(|&b| b == needle).map(|p| offset + p)
}

/// Index of the first complete occurrence of the non-empty `needle` in `hay`.
pub(crate) fn find_slice(needle: &[u8], hay: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let last_start = hay.len().checked_sub(needle.len())?;
    let mut from = 0;
    while from <= last_start {
        let i = from + find_byte(first, &hay[from..=last_start])?;
        if hay[i + 1..i + needle.len()] == *rest {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_byte_matches_naive() {
        let hay: Vec<u8> = (0..300u32).map(|i| (i * 7 % 251) as u8).collect();
        for start in 0..40 {
            for needle in [0u8, 1, 7, 128, 250, 255] {
                let h = &hay[start..];
                assert_eq!(find_byte(needle, h), h.iter().position(|&b| b == needle));
            }
        }
        assert_eq!(find_byte(b'\n', b""), None);
        assert_eq!(find_byte(0x80, &[0x00, 0x01, 0x80, 0x80]), Some(2));
        assert_eq!(
            find_byte(0x01, &[0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01]),
            Some(7)
        );
    }

    #[test]
    fn find_slice_matches_naive() {
        let hay = b"abcabcabdabd\r\n\r\nxyz";
        for needle in [&b"abd"[..], b"\r\n", b"\r\n\r\n", b"z", b"xyzz", b"cab"] {
            let naive = hay.windows(needle.len()).position(|w| w == needle);
            assert_eq!(find_slice(needle, hay), naive, "{needle:?}");
        }
        assert_eq!(find_slice(b"", hay), None);
    }
}
