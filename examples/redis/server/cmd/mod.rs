//! The commands, by group, and the argument parsing they share.

pub(crate) mod blocking;
pub(crate) mod connection;
pub(crate) mod hashes;
pub(crate) mod keys;
pub(crate) mod lists;
pub(crate) mod server;
pub(crate) mod sets;
pub(crate) mod strings;
pub(crate) mod tx;
pub(crate) mod zsets;

use super::exec::{Args, Ctx};
use super::reply::Reply;
use super::resp::parse_i64;
use super::value::Value;

/// Replies the size of the collection at `args[1]` (HLEN, LLEN, SCARD): 0
/// when the key is absent, WRONGTYPE when `size` does not know its type.
pub(crate) fn collection_len(
    ctx: &mut Ctx<'_>,
    args: &Args<'_>,
    out: &mut Reply<'_>,
    size: fn(&Value) -> Option<usize>,
) {
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    match shard.get(h, key, clock).map(|e| size(&e.value)) {
        None => out.int(0),
        Some(Some(n)) => out.int(n as i64),
        Some(None) => out.wrong_type(),
    }
}

/// An integer argument, or None after replying Redis's error.
pub(crate) fn int_arg(arg: &[u8], out: &mut Reply<'_>) -> Option<i64> {
    let v = parse_i64(arg);
    if v.is_none() {
        out.not_an_integer();
    }
    v
}

/// A float argument as Redis's `string2ld`/`strtold` reads it (no
/// blanks, no NaN), or None after replying `err`.
pub(crate) fn float_arg(arg: &[u8], out: &mut Reply<'_>, err: &str) -> Option<f64> {
    let v = parse_f64(arg);
    if v.is_none() {
        out.error_str(err);
    }
    v
}

/// Parses a float: decimal or exponent form, "inf"/"-inf"; no NaN, no
/// surrounding blanks.
pub(crate) fn parse_f64(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s.len() > 5000 || s[0].is_ascii_whitespace() || s[s.len() - 1].is_ascii_whitespace() {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    let v: f64 = match text.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        t if t.contains("inf") || t.contains("nan") => return None,
        _ => text.parse().ok()?,
    };
    (!v.is_nan()).then_some(v)
}

/// As [`parse_f64`], and hexadecimal integers ("0x1f", "-0X10") too, as
/// C's `strtod`/`strtold` read them (hexadecimal fractions are refused).
pub(crate) fn parse_f64_or_hex(s: &[u8]) -> Option<f64> {
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    match digits.strip_prefix(b"0x").or_else(|| digits.strip_prefix(b"0X")) {
        Some(hex) if !hex.is_empty() && hex.iter().all(u8::is_ascii_hexdigit) => {
            let v = hex
                .iter()
                .fold(0.0, |v, d| v * 16.0 + f64::from((*d as char).to_digit(16).unwrap_or(0)));
            Some(if negative { -v } else { v })
        }
        _ => parse_f64(s),
    }
}

/// Redis's list/range index rule: negative counts from the end; the range
/// is clamped; None when it is empty.
pub(crate) fn clamp_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { (len + start).max(0) } else { start };
    let stop = if stop < 0 { len + stop } else { stop.min(len - 1) };
    (start <= stop && start < len).then_some((start as usize, stop as usize))
}

/// A pseudo-random number (SPOP's pick): xorshift64*, seeded per thread
/// from the std's randomly keyed hasher.
pub(crate) fn random_u64() -> u64 {
    use std::cell::Cell;
    use std::hash::{BuildHasher, Hasher};
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            std::collections::hash_map::RandomState::new().build_hasher().finish() | 1,
        );
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// An argument in -i64::MAX..=i64::MAX (Redis's `-LONG_MAX, LONG_MAX`
/// range: SRANDMEMBER's and HRANDFIELD's count), or None
/// after replying Redis's error.
pub(crate) fn nonmin_i64_arg(arg: &[u8], out: &mut Reply<'_>) -> Option<i64> {
    let n = int_arg(arg, out)?;
    if n == i64::MIN {
        out.error(b"ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807");
        return None;
    }
    Some(n)
}

/// Takes a reply element of `len` bytes (and its framing) out of
/// `budget`: false once the budget is spent (a reply past the
/// connection's output limit is not built).
pub(crate) fn spend(budget: &mut usize, len: usize) -> bool {
    match budget.checked_sub(len + 16) {
        Some(left) => {
            *budget = left;
            true
        }
        None => false,
    }
}

/// Indices into a collection of `len` (> 0) for a random pick of
/// `count`: distinct ones when `count` >= 0 (all of them, in order, when
/// it covers the collection), `-count` with repeats when negative.
/// Returns how many, and the indices (lazily: a huge negative count
/// costs nothing until it is sent).
pub(crate) fn random_picks(len: usize, count: i64) -> (usize, Box<dyn Iterator<Item = usize>>) {
    if count < 0 {
        let n = count.unsigned_abs() as usize;
        return (n, Box::new((0..n).map(move |_| random_u64() as usize % len)));
    }
    let n = count as usize;
    if n >= len {
        return (len, Box::new(0..len));
    }
    // A partial Fisher-Yates shuffle of 0..len.
    let mut all: Vec<usize> = (0..len).collect();
    for i in 0..n {
        let j = i + random_u64() as usize % (len - i);
        all.swap(i, j);
    }
    all.truncate(n);
    (n, Box::new(all.into_iter()))
}
