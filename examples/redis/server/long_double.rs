//! INCRBYFLOAT's arithmetic, exactly as Redis 7.0 does it on x86-64: the
//! value and the increment are read with `strtold` into an x87 80-bit
//! `long double` (64-bit mantissa), added with one rounding, and printed
//! with `%.17Lf`, trailing zeros trimmed (`ld2string`'s human mode).
//!
//! Rust has no 80-bit float, and neither f64 nor a decimal type gives
//! Redis's answers (0.1 + 0.2 is 0.3 in Redis because the 80-bit error is
//! below the 17th decimal; 3000 + 1.6 is 3001.60000000000000009 because it
//! is not). So this emulates the format exactly: each step is computed on
//! exact big integers and rounded once, to nearest, ties to even, as the
//! x87 and glibc's `strtold` and `printf` do. Slow next to hardware floats
//! (microseconds, big integers of up to ~17,000 bits for extreme
//! exponents), which one command that parses text anyway can afford, and
//! it needs no dependency.

use std::cmp::Ordering;

/// A binary floating-point format: mantissa bits, and the exponents of a
/// mantissa's last bit for the smallest (subnormal) and the largest values.
#[derive(Debug, Clone, Copy)]
struct Format {
    bits: u32,
    emin: i64,
    emax: i64,
}

/// x87 extended: (2^64-1) * 2^16320 is the largest finite value.
const F80: Format = Format {
    bits: 64,
    emin: -16445,
    emax: 16320,
};
/// IEEE double.
const F64: Format = Format {
    bits: 53,
    emin: -1074,
    emax: 971,
};
/// Redis's `MAX_LONG_DOUBLE_CHARS`: longer input is refused.
const MAX_CHARS: usize = 5 * 1024;

/// A finite long double: (-1)^neg * m * 2^e.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LongDouble {
    neg: bool,
    m: u64,
    e: i64,
}

/// What `strtold` makes of a number: finite, or an infinity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parsed {
    Finite(LongDouble),
    Infinite,
}

impl LongDouble {
    pub(crate) fn from_i64(n: i64) -> LongDouble {
        let mag = Big::from_u64(n.unsigned_abs());
        round(F80, n < 0, &mag, &Big::from_u64(1), 0).expect("an i64 fits")
    }

    /// Redis's `string2ld`: `strtold` over the whole text (up to a NUL),
    /// refusing empty or over-long text, a leading blank, trailing bytes,
    /// NaN, and a value out of range (overflow, or underflow to zero).
    pub(crate) fn parse(text: &[u8]) -> Option<Parsed> {
        if text.len() >= MAX_CHARS {
            return None;
        }
        // strtold stops at a NUL, which Redis then takes for the end.
        let text = &text[..text.iter().position(|&b| b == 0).unwrap_or(text.len())];
        parse(F80, text)
    }

    /// The sum, rounded once; None if it overflows.
    pub(crate) fn add(self, other: LongDouble) -> Option<LongDouble> {
        if self.m == 0 {
            return Some(if other.m == 0 {
                LongDouble {
                    neg: self.neg && other.neg,
                    ..other
                }
            } else {
                other
            });
        }
        if other.m == 0 {
            return Some(self);
        }
        let e = self.e.min(other.e);
        let a = Big::from_u64(self.m).shl((self.e - e) as usize);
        let b = Big::from_u64(other.m).shl((other.e - e) as usize);
        let one = Big::from_u64(1);
        if self.neg == other.neg {
            return round(F80, self.neg, &a.add(&b), &one, e);
        }
        match a.cmp(&b) {
            Ordering::Equal => Some(LongDouble { neg: false, m: 0, e: 0 }),
            Ordering::Greater => round(F80, self.neg, &a.sub(&b), &one, e),
            Ordering::Less => round(F80, other.neg, &b.sub(&a), &one, e),
        }
    }

    /// `ld2string(.., LD_STR_HUMAN)`: `%.17Lf` with the trailing zeros (and
    /// a bare point) trimmed, and "-0" written "0".
    pub(crate) fn to_human(self) -> String {
        const DECIMALS: usize = 17;
        // The value times 10^17, rounded to an integer, half to even.
        let scaled = Big::from_u64(self.m).mul_pow10(DECIMALS as u32);
        let units = if self.e >= 0 {
            scaled.shl(self.e as usize)
        } else {
            let s = (-self.e) as usize;
            let mut q = scaled.shr(s);
            let rest = scaled.sub(&q.shl(s));
            let half = Big::from_u64(1).shl(s - 1);
            let up = match rest.cmp(&half) {
                Ordering::Greater => true,
                Ordering::Equal => q.is_odd(),
                Ordering::Less => false,
            };
            if up {
                q = q.add(&Big::from_u64(1));
            }
            q
        };
        let mut digits = units.to_decimal();
        if digits.len() <= DECIMALS {
            digits = format!("{}{digits}", "0".repeat(DECIMALS + 1 - digits.len()));
        }
        let (int, frac) = digits.split_at(digits.len() - DECIMALS);
        let frac = frac.trim_end_matches('0');
        let mut text = String::with_capacity(digits.len() + 2);
        if self.neg {
            text.push('-');
        }
        text.push_str(int);
        if !frac.is_empty() {
            text.push('.');
            text.push_str(frac);
        }
        if text == "-0" {
            text.remove(0);
        }
        text
    }
}

/// Redis's `getDoubleFromObject` (ZADD's scores, ranges): `strtod` over
/// the whole text, refusing empty text, a leading blank, trailing bytes
/// (a NUL included), NaN, and a value out of range (overflow, or
/// underflow to zero). Hex (`0x1p3`) and infinities are accepted.
pub(crate) fn strtod(text: &[u8]) -> Option<f64> {
    if text.is_empty() || text[0].is_ascii_whitespace() || text.contains(&0) {
        return None;
    }
    let body = text
        .strip_prefix(b"-")
        .or_else(|| text.strip_prefix(b"+"))
        .unwrap_or(text);
    if (body.len() > 1 && body[1].eq_ignore_ascii_case(&b'x'))
        || body
            .iter()
            .any(|b| b.is_ascii_alphabetic() && !b.eq_ignore_ascii_case(&b'e'))
    {
        // Hex or an infinity (NaN and other letters fail in `parse`).
        return match parse(F64, text)? {
            Parsed::Infinite if text[0] == b'-' => Some(f64::NEG_INFINITY),
            Parsed::Infinite => Some(f64::INFINITY),
            Parsed::Finite(v) => {
                // Exact: m has at most 53 bits and e is within the double
                // range; each half-power is a normal double.
                let pow2 = |i: i64| f64::from_bits(((i + 1023) as u64) << 52);
                let mag = v.m as f64 * pow2(v.e / 2) * pow2(v.e - v.e / 2);
                Some(if v.neg { -mag } else { mag })
            }
        };
    }
    // Decimal: Rust's parser rounds as strtod does; it only differs in
    // saying inf for overflow and 0 for underflow, which strtod flags.
    let v: f64 = std::str::from_utf8(text).ok()?.parse().ok()?;
    let mantissa = body.split(|&b| b == b'e' || b == b'E').next().unwrap_or(b"");
    let underflow = v == 0.0 && mantissa.iter().any(|b| (b'1'..=b'9').contains(b));
    (!v.is_infinite() && !underflow).then_some(v)
}

/// A BYSCORE/ZCOUNT bound as Redis's `zslParseRange` reads it with bare
/// `strtod`: leading blanks skipped, out of range saturating (to ±inf or
/// 0), empty text reading as 0, text up to a NUL; NaN and trailing bytes
/// refused.
pub(crate) fn strtod_range(text: &[u8]) -> Option<f64> {
    let text = &text[..text.iter().position(|&b| b == 0).unwrap_or(text.len())];
    if text.is_empty() {
        return Some(0.0);
    }
    let text = &text[text.iter().position(|b| !b" \t\n\x0b\x0c\r".contains(b))?..];
    strtod(text).or_else(|| {
        // Out of range: decimal text that Rust reads as inf or 0.
        let body = text
            .strip_prefix(b"-")
            .or_else(|| text.strip_prefix(b"+"))
            .unwrap_or(text);
        if body
            .iter()
            .any(|b| b.is_ascii_alphabetic() && !b.eq_ignore_ascii_case(&b'e'))
        {
            return None;
        }
        std::str::from_utf8(text).ok()?.parse::<f64>().ok()
    })
}

/// `strtod`/`strtold`'s text, rounded to `fmt`.
fn parse(fmt: Format, text: &[u8]) -> Option<Parsed> {
    if text.is_empty() || text[0].is_ascii_whitespace() {
        return None;
    }
    let (neg, body) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    if lower == b"inf" || lower == b"infinity" {
        return Some(Parsed::Infinite);
    }
    let value = if lower.starts_with(b"0x") {
        parse_hex(fmt, neg, &lower[2..])?
    } else {
        parse_decimal(fmt, neg, &lower)?
    };
    Some(Parsed::Finite(value))
}

/// `[digits][.digits][e[+-]digits]`, at least one digit before the exponent.
fn parse_decimal(fmt: Format, neg: bool, s: &[u8]) -> Option<LongDouble> {
    let mut at = 0;
    let mut mantissa = Big::default();
    let mut digits = 0usize;
    let mut exp10: i64 = 0;
    let mut seen_point = false;
    // Digits gather in `chunk` and join the mantissa nine at a time.
    let (mut chunk, mut in_chunk) = (0u64, 0u32);
    while at < s.len() {
        match s[at] {
            d @ b'0'..=b'9' => {
                // Leading zeros add nothing; the rest are all kept (exactly).
                if digits > 0 || d != b'0' {
                    chunk = chunk * 10 + u64::from(d - b'0');
                    in_chunk += 1;
                    if in_chunk == 9 {
                        mantissa = mantissa.mul_small(1_000_000_000).add(&Big::from_u64(chunk));
                        (chunk, in_chunk) = (0, 0);
                    }
                    digits += 1;
                }
                if seen_point {
                    exp10 -= 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => break,
        }
        at += 1;
    }
    if in_chunk > 0 {
        mantissa = mantissa.mul_small(10u32.pow(in_chunk)).add(&Big::from_u64(chunk));
    }
    let had_digit = s[..at].iter().any(u8::is_ascii_digit);
    if !had_digit {
        return None;
    }
    exp10 += exponent(&s[at..], b'e')?;
    if digits == 0 {
        return Some(LongDouble { neg, m: 0, e: 0 });
    }
    // The value is below 10^magnitude and at least 10^(magnitude-1).
    let magnitude = digits as i64 + exp10;
    if magnitude > 4934 {
        return None; // overflow
    }
    if magnitude < -4952 {
        return None; // underflow to zero
    }
    let value = if exp10 >= 0 {
        round(fmt, neg, &mantissa.mul_pow10(exp10 as u32), &Big::from_u64(1), 0)?
    } else {
        round(fmt, neg, &mantissa, &Big::from_u64(1).mul_pow10((-exp10) as u32), 0)?
    };
    (value.m != 0).then_some(value)
}

/// What follows the digits: nothing (0), or `marker`, a sign and decimal
/// digits (saturating far beyond any exponent that can matter).
fn exponent(rest: &[u8], marker: u8) -> Option<i64> {
    let Some((&first, rest)) = rest.split_first() else {
        return Some(0);
    };
    if first != marker {
        return None;
    }
    let (neg, digits) = match rest.first() {
        Some(b'-') => (true, &rest[1..]),
        Some(b'+') => (false, &rest[1..]),
        _ => (false, rest),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0i64, |n, &d| (n * 10 + i64::from(d - b'0')).min(1 << 40));
    Some(if neg { -n } else { n })
}

/// After "0x": `[hex][.hex][p[+-]digits]`, at least one hex digit.
fn parse_hex(fmt: Format, neg: bool, s: &[u8]) -> Option<LongDouble> {
    let mut at = 0;
    let mut mantissa = Big::default();
    let mut any = false;
    let mut exp2: i64 = 0;
    let mut seen_point = false;
    while at < s.len() {
        match s[at] {
            d if d.is_ascii_hexdigit() => {
                let v = (d as char).to_digit(16).expect("a hex digit");
                mantissa = mantissa.mul_small(16).add(&Big::from_u64(u64::from(v)));
                any = true;
                if seen_point {
                    exp2 -= 4;
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => break,
        }
        at += 1;
    }
    if !any {
        return None;
    }
    exp2 += exponent(&s[at..], b'p')?;
    if mantissa.is_zero() {
        return Some(LongDouble { neg, m: 0, e: 0 });
    }
    let top = mantissa.bits() as i64 + exp2;
    if !(-16500..=16385).contains(&top) {
        return None;
    }
    let value = round(fmt, neg, &mantissa, &Big::from_u64(1), exp2)?;
    (value.m != 0).then_some(value)
}

/// num / den * 2^exp2 rounded to `fmt` (to nearest, ties to even, with
/// subnormals); None if it overflows.
fn round(fmt: Format, neg: bool, num: &Big, den: &Big, exp2: i64) -> Option<LongDouble> {
    let top = i64::from(fmt.bits) - 1;
    if num.is_zero() {
        return Some(LongDouble { neg, m: 0, e: 0 });
    }
    // Choose k so that num * 2^k / den lies in [2^top, 2^bits).
    let mut k = top - (num.bits() as i64 - den.bits() as i64);
    let scaled = |k: i64| {
        if k >= 0 {
            (num.shl(k as usize), den.clone())
        } else {
            (num.clone(), den.shl((-k) as usize))
        }
    };
    let (n, d) = scaled(k);
    if n.cmp(&d.shl(top as usize)) == Ordering::Less {
        k += 1;
    }
    let mut e = exp2 - k;
    if e < fmt.emin {
        k = exp2 - fmt.emin;
        e = fmt.emin;
    }
    let (n, d) = scaled(k);
    let (mut q, rest) = n.div_small_quotient(&d);
    let twice = rest.shl(1);
    let up = match twice.cmp(&d) {
        Ordering::Greater => true,
        Ordering::Equal => q & 1 == 1,
        Ordering::Less => false,
    };
    if up {
        q += 1;
    }
    if q == 1 << fmt.bits {
        q = 1 << top;
        e += 1;
    }
    if e > fmt.emax {
        return None;
    }
    Some(LongDouble {
        neg,
        m: u64::try_from(q).expect("below 2^64"),
        e,
    })
}

/// An unsigned big integer, 32-bit limbs, least significant first, no
/// high zero limbs. Just what the conversions above need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn from_u64(n: u64) -> Big {
        let mut b = Big(vec![n as u32, (n >> 32) as u32]);
        b.trim();
        b
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn is_odd(&self) -> bool {
        self.0.first().is_some_and(|l| l & 1 == 1)
    }

    fn bits(&self) -> usize {
        self.0
            .last()
            .map_or(0, |top| 32 * self.0.len() - top.leading_zeros() as usize)
    }

    fn mul_small(&self, by: u32) -> Big {
        let mut carry = 0u64;
        let mut out: Vec<u32> = self
            .0
            .iter()
            .map(|&l| {
                let v = u64::from(l) * u64::from(by) + carry;
                carry = v >> 32;
                v as u32
            })
            .collect();
        if carry > 0 {
            out.push(carry as u32);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    fn mul_pow10(&self, mut n: u32) -> Big {
        let mut b = self.clone();
        while n >= 9 {
            b = b.mul_small(1_000_000_000);
            n -= 9;
        }
        b.mul_small(10u32.pow(n))
    }

    fn add(&self, other: &Big) -> Big {
        let len = self.0.len().max(other.0.len());
        let mut out = Vec::with_capacity(len + 1);
        let mut carry = 0u64;
        for i in 0..len {
            let v = u64::from(*self.0.get(i).unwrap_or(&0)) + u64::from(*other.0.get(i).unwrap_or(&0)) + carry;
            out.push(v as u32);
            carry = v >> 32;
        }
        if carry > 0 {
            out.push(carry as u32);
        }
        Big(out)
    }

    /// self - other; other must not be larger.
    fn sub(&self, other: &Big) -> Big {
        let mut out = Vec::with_capacity(self.0.len());
        let mut borrow = 0i64;
        for i in 0..self.0.len() {
            let mut v = i64::from(self.0[i]) - i64::from(*other.0.get(i).unwrap_or(&0)) - borrow;
            borrow = i64::from(v < 0);
            if v < 0 {
                v += 1 << 32;
            }
            out.push(v as u32);
        }
        debug_assert_eq!(borrow, 0, "sub underflow");
        let mut b = Big(out);
        b.trim();
        b
    }

    fn shl(&self, bits: usize) -> Big {
        if self.is_zero() {
            return Big::default();
        }
        let (limbs, bits) = (bits / 32, bits % 32);
        let mut out = vec![0u32; limbs];
        let mut carry = 0u32;
        for &l in &self.0 {
            if bits == 0 {
                out.push(l);
            } else {
                out.push((l << bits) | carry);
                carry = l >> (32 - bits);
            }
        }
        if carry > 0 {
            out.push(carry);
        }
        Big(out)
    }

    fn shr(&self, bits: usize) -> Big {
        let (limbs, bits) = (bits / 32, bits % 32);
        if limbs >= self.0.len() {
            return Big::default();
        }
        let src = &self.0[limbs..];
        let mut out: Vec<u32> = (0..src.len())
            .map(|i| {
                let hi = src.get(i + 1).copied().unwrap_or(0);
                if bits == 0 {
                    src[i]
                } else {
                    (src[i] >> bits) | (hi << (32 - bits))
                }
            })
            .collect();
        while out.last() == Some(&0) {
            out.pop();
        }
        Big(out)
    }

    /// (self / d, self % d) for a quotient below 2^66.
    fn div_small_quotient(&self, d: &Big) -> (u128, Big) {
        let mut rest = self.clone();
        let mut part = d.shl(65);
        let mut q = 0u128;
        for bit in (0..66).rev() {
            if rest.cmp(&part) != Ordering::Less {
                rest.sub_assign(&part);
                q |= 1 << bit;
            }
            part.shr1();
        }
        (q, rest)
    }

    /// self -= other, in place; other must not be larger.
    fn sub_assign(&mut self, other: &Big) {
        let mut borrow = 0u64;
        for (i, l) in self.0.iter_mut().enumerate() {
            let sub = u64::from(*other.0.get(i).unwrap_or(&0)) + borrow;
            let (v, under) = u64::from(*l).overflowing_sub(sub);
            *l = v as u32;
            borrow = u64::from(under);
        }
        debug_assert_eq!(borrow, 0, "sub underflow");
        self.trim();
    }

    /// self >>= 1, in place.
    fn shr1(&mut self) {
        let mut carry = 0u32;
        for l in self.0.iter_mut().rev() {
            let next = *l << 31;
            *l = (*l >> 1) | carry;
            carry = next;
        }
        self.trim();
    }

    /// Decimal digits ("0" for zero).
    fn to_decimal(&self) -> String {
        let mut chunks = Vec::new();
        let mut b = self.clone();
        while !b.is_zero() {
            let mut rem = 0u64;
            for l in b.0.iter_mut().rev() {
                let v = (rem << 32) | u64::from(*l);
                *l = (v / 1_000_000_000) as u32;
                rem = v % 1_000_000_000;
            }
            b.trim();
            chunks.push(rem as u32);
        }
        let Some((top, rest)) = chunks.split_last() else {
            return "0".into();
        };
        let mut s = top.to_string();
        for c in rest.iter().rev() {
            s.push_str(&format!("{c:09}"));
        }
        s
    }
}

impl PartialOrd for Big {
    fn partial_cmp(&self, other: &Big) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Big {
    fn cmp(&self, other: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incr(value: &str, by: &str) -> Option<String> {
        let (Some(Parsed::Finite(a)), Some(Parsed::Finite(b))) =
            (LongDouble::parse(value.as_bytes()), LongDouble::parse(by.as_bytes()))
        else {
            return None;
        };
        Some(a.add(b)?.to_human())
    }

    /// Pairs whose answers were taken from redis-server 7.0.15.
    #[test]
    fn sums_print_as_redis_prints_them() {
        for (a, b, want) in [
            ("0.1", "0.2", "0.3"),
            ("3.0e3", "1.6", "3001.60000000000000009"),
            ("0", "1e20", "100000000000000000000"),
            ("0", "0x10", "16"),
            ("0", "0x1p-3", "0.125"),
            ("0", "-0.0", "0"),
            ("0", "1e-20", "0"),
            ("0", "123456789012345678901234567890", "123456789012345678899921813504"),
            ("10.5", "0.1", "10.6"),
            ("5.0e3", "2.0e2", "5200"),
        ] {
            assert_eq!(incr(a, b).as_deref(), Some(want), "{a} + {b}");
        }
        assert!(incr("0", "1e400")
            .unwrap()
            .starts_with("10000000000000000000281880683947586514586"));
    }

    #[test]
    fn parse_refuses_what_string2ld_refuses() {
        for bad in [
            "", " 1", "1 ", "nan", "-nan", "1e", "1e+", "e5", ".", "0x", "0xp1", "1e-5000", "1e5000", "abc", "1.2.3",
        ] {
            assert_eq!(LongDouble::parse(bad.as_bytes()), None, "{bad:?}");
        }
        for inf in ["inf", "-INF", "Infinity", "+infinity"] {
            assert_eq!(LongDouble::parse(inf.as_bytes()), Some(Parsed::Infinite), "{inf}");
        }
        for good in ["1.", ".5", "+.5e-3", "0X1.8P1", "1\0junk", "0e99999999999"] {
            assert!(
                matches!(LongDouble::parse(good.as_bytes()), Some(Parsed::Finite(_))),
                "{good:?}"
            );
        }
        assert_eq!(LongDouble::parse(&vec![b'1'; MAX_CHARS]), None);
    }

    #[test]
    fn strtod_reads_what_getdoublefromobject_reads() {
        for (text, want) in [
            ("1.5", 1.5),
            ("0x10", 16.0),
            ("-0x1.8p1", -3.0),
            ("inf", f64::INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
            ("1e308", 1e308),
            ("4.9e-324", 4.9e-324),
            ("0x1p-1074", 4.9e-324),
            (".5", 0.5),
            ("5.", 5.0),
            ("0e999", 0.0),
        ] {
            assert_eq!(strtod(text.as_bytes()), Some(want), "{text}");
        }
        for bad in [
            "1e309",
            "-1e309",
            "1e-400",
            "nan",
            " 1",
            "1 ",
            "",
            "1\0",
            "0x",
            "abc",
            "1e",
            "0x1p99999",
        ] {
            assert_eq!(strtod(bad.as_bytes()), None, "{bad:?}");
        }
    }
}
