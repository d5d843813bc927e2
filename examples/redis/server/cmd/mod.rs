//! The commands, by group, and the argument parsing they share.

pub(crate) mod blocking;
pub(crate) mod connection;
pub(crate) mod hashes;
pub(crate) mod keys;
pub(crate) mod lists;
pub(crate) mod pubsub;
pub(crate) mod server;
pub(crate) mod sets;
pub(crate) mod strings;
pub(crate) mod tx;
pub(crate) mod zsets;

use super::exec::{db_index, Args, Ctx};
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

/// An integer argument as Redis's `getIntFromObjectOrReply` reads it (an
/// `int`), or None after replying its error, or `err` in place of both.
pub(crate) fn int32_arg(arg: &[u8], out: &mut Reply<'_>, err: Option<&str>) -> Option<i64> {
    let v = parse_i64(arg);
    match (v, err) {
        (Some(n), _) if i32::try_from(n).is_ok() => Some(n),
        (_, Some(err)) => {
            out.error_str(err);
            None
        }
        (Some(_), None) => {
            out.error(b"ERR value is out of range, value must between -2147483648 and 2147483647");
            None
        }
        (None, None) => {
            out.not_an_integer();
            None
        }
    }
}

/// A database index argument (SELECT, MOVE, SWAPDB): an `int` first (else
/// Redis's error, or `err`), then one of the databases (else "DB index
/// is out of range"); None after replying.
pub(crate) fn db_arg(arg: &[u8], out: &mut Reply<'_>, err: Option<&str>) -> Option<usize> {
    int32_arg(arg, out, err)?;
    let db = db_index(arg);
    if db.is_none() {
        out.error(b"ERR DB index is out of range");
    }
    db
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
