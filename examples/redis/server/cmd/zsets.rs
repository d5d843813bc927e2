//! Sorted set commands: ZADD, ZINCRBY, ZPOPMIN, ZPOPMAX, ZCARD, ZSCORE,
//! ZRANK, ZREVRANK, ZRANGE (by index), ZREM, ZREMRANGEBYRANK,
//! ZREMRANGEBYSCORE.

use super::super::exec::{Args, Ctx};
use super::super::reply::{Proto, Reply};
use super::super::resp::parse_i64;
use super::super::shard::Ttl;
use super::super::value::{SortedSet, Value};
use super::{clamp_range, int_arg, parse_f64, parse_f64_or_hex};

pub(crate) fn zadd(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) = (false, false, false, false, false, false);
    let mut at = 2;
    while at < args.len() {
        match args.get(at).to_ascii_uppercase().as_slice() {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"GT" => gt = true,
            b"LT" => lt = true,
            b"CH" => ch = true,
            b"INCR" => incr = true,
            _ => break,
        }
        at += 1;
    }
    let pairs = args.len() - at;
    if pairs == 0 || !pairs.is_multiple_of(2) {
        return out.syntax_error();
    }
    if nx && xx {
        return out.error(b"ERR XX and NX options at the same time are not compatible");
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return out.error(b"ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if incr && pairs > 2 {
        return out.error(b"ERR INCR option supports a single increment-element pair");
    }
    let flags = AddFlags {
        nx,
        xx,
        gt,
        lt,
        ch,
        incr,
    };
    zadd_pairs(ctx, args, at, flags, out);
}

/// ZADD's options.
#[derive(Debug, Clone, Copy, Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// ZADD's work on the (score, member) pairs at `args[at..]`, once its
/// options are checked.
fn zadd_pairs(ctx: &mut Ctx<'_>, args: &Args<'_>, at: usize, flags: AddFlags, out: &mut Reply<'_>) {
    let AddFlags {
        nx,
        xx,
        gt,
        lt,
        ch,
        incr,
    } = flags;
    let mut scores = Vec::with_capacity((args.len() - at) / 2);
    for i in (at..args.len()).step_by(2) {
        match parse_f64(args.get(i)) {
            Some(s) => scores.push((s, args.get(i + 1))),
            None => return out.error(b"ERR value is not a valid float"),
        }
    }
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    let zset = match shard.get(h, key, clock) {
        Some(e) => match &mut e.value {
            Value::ZSet(z) => z,
            _ => return out.wrong_type(),
        },
        None if xx => return if incr { out.null() } else { out.int(0) },
        None => {
            let e = shard.insert_new(h, key, Value::ZSet(Box::default()), Ttl::Clear);
            let Value::ZSet(z) = &mut e.value else {
                unreachable!("inserted a sorted set")
            };
            z
        }
    };
    let (mut added, mut updated) = (0, 0);
    let mut incr_result = None;
    for (score, member) in scores {
        let current = zset.score(member);
        if (nx && current.is_some()) || (xx && current.is_none()) {
            continue;
        }
        let new = match (incr, current) {
            (true, Some(c)) => c + score,
            _ => score,
        };
        if new.is_nan() {
            return out.error(b"ERR resulting score is not a number (NaN)");
        }
        if let Some(c) = current {
            if (gt && new <= c) || (lt && new >= c) {
                continue;
            }
        }
        incr_result = Some(new);
        if zset.insert(member, new) {
            added += 1;
        } else if current != Some(new) {
            updated += 1;
        }
    }
    let now_empty = zset.len() == 0;
    if now_empty {
        shard.remove(h, key, clock);
    } else {
        shard.touch(key);
    }
    if incr {
        match incr_result {
            Some(s) => out.double(s),
            None => out.null(),
        }
    } else {
        out.int(if ch { added + updated } else { added });
    }
}

/// A (member, score) pair: nested arrays in RESP3 when `nested`, flat
/// with the score as a bulk string in RESP2.
fn pair(out: &mut Reply<'_>, member: &[u8], score: f64, nested: bool) {
    if nested && out.proto == Proto::Resp3 {
        out.array(2);
    }
    out.bulk(member);
    out.double(score);
}

pub(crate) fn zincrby(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let flags = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    zadd_pairs(ctx, args, 2, flags, out);
}

pub(crate) fn zpopmin(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    zpop(ctx, args, false, out);
}

pub(crate) fn zpopmax(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    zpop(ctx, args, true, out);
}

/// ZPOPMIN (`max` false) and ZPOPMAX.
fn zpop(ctx: &mut Ctx<'_>, args: &Args<'_>, max: bool, out: &mut Reply<'_>) {
    if args.len() > 3 {
        return out.syntax_error();
    }
    let count = if args.len() == 3 {
        match parse_i64(args.get(2)).filter(|&n| n >= 0) {
            Some(n) => Some(n as usize),
            None => return out.error(b"ERR value is out of range, must be positive"),
        }
    } else {
        None
    };
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    let Some(e) = shard.get(h, key, clock) else {
        return out.array(0);
    };
    let Value::ZSet(zset) = &mut e.value else {
        return out.wrong_type();
    };
    let n = count.unwrap_or(1).min(zset.len());
    let nested = count.is_some();
    let resp3_nested = nested && out.proto == Proto::Resp3;
    out.array(if resp3_nested { n } else { 2 * n });
    for _ in 0..n {
        let (m, s) = if max { zset.pop_max() } else { zset.pop_min() }.expect("counted");
        pair(out, &m, s, nested);
    }
    let now_empty = zset.len() == 0;
    if now_empty {
        shard.remove(h, key, clock);
    } else if n > 0 {
        shard.touch(key);
    }
}

/// The sorted set at `key`: None after replying (`missing` for no key).
fn read_zset<'s>(
    ctx: &'s mut Ctx<'_>,
    key: &[u8],
    missing: impl FnOnce(&mut Reply<'_>),
    out: &mut Reply<'_>,
) -> Option<&'s SortedSet> {
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    match shard.get(h, key, clock).map(|e| &e.value) {
        None => {
            missing(out);
            None
        }
        Some(Value::ZSet(z)) => Some(z),
        Some(_) => {
            out.wrong_type();
            None
        }
    }
}

pub(crate) fn zcard(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    if let Some(z) = read_zset(ctx, args.get(1), |out| out.int(0), out) {
        out.int(z.len() as i64);
    }
}

pub(crate) fn zscore(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    if let Some(z) = read_zset(ctx, args.get(1), |out| out.null(), out) {
        match z.score(args.get(2)) {
            Some(s) => out.double(s),
            None => out.null(),
        }
    }
}

/// ZRANGE by index only: BYSCORE, BYLEX, REV and LIMIT are not
/// implemented and get a syntax error.
pub(crate) fn zrange(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let with_scores = match args.len() {
        4 => false,
        5 if args.get(4).eq_ignore_ascii_case(b"WITHSCORES") => true,
        _ => return out.syntax_error(),
    };
    let Some(start) = int_arg(args.get(2), out) else { return };
    let Some(stop) = int_arg(args.get(3), out) else { return };
    let Some(z) = read_zset(ctx, args.get(1), |out| out.array(0), out) else {
        return;
    };
    let Some((from, to)) = clamp_range(start, stop, z.len()) else {
        return out.array(0);
    };
    let n = to - from + 1;
    let resp3_nested = with_scores && out.proto == Proto::Resp3;
    out.array(if with_scores && !resp3_nested { 2 * n } else { n });
    for (m, s) in z.range(from, to) {
        if with_scores {
            pair(out, m, s, true);
        } else {
            out.bulk(m);
        }
    }
}

pub(crate) fn zrem(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    let Some(e) = shard.get(h, key, clock) else {
        return out.int(0);
    };
    let Value::ZSet(z) = &mut e.value else {
        return out.wrong_type();
    };
    let removed = args.from(2).filter(|m| z.remove(m)).count();
    let now_empty = z.len() == 0;
    if now_empty {
        shard.remove(h, key, clock);
    } else if removed > 0 {
        shard.touch(key);
    }
    out.int(removed as i64);
}

fn zrank_generic(ctx: &mut Ctx<'_>, args: &Args<'_>, reverse: bool, out: &mut Reply<'_>) {
    if let Some(z) = read_zset(ctx, args.get(1), |out| out.null(), out) {
        match z.rank(args.get(2)) {
            Some(r) if reverse => out.int((z.len() - 1 - r) as i64),
            Some(r) => out.int(r as i64),
            None => out.null(),
        }
    }
}

pub(crate) fn zrank(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    zrank_generic(ctx, args, false, out);
}

pub(crate) fn zrevrank(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    zrank_generic(ctx, args, true, out);
}

/// One end of a score range: "(" makes it exclusive.
#[derive(Debug, Clone, Copy)]
struct Bound {
    score: f64,
    exclusive: bool,
}

impl Bound {
    fn parse(arg: &[u8]) -> Option<Bound> {
        let (exclusive, text) = match arg.split_first() {
            Some((b'(', rest)) => (true, rest),
            _ => (false, arg),
        };
        Some(Bound {
            score: parse_strtod(text)?,
            exclusive,
        })
    }
}

/// A score bound as C's `strtod` reads it where Redis requires the
/// whole text to be used: leading blanks are skipped, an empty text is
/// 0, and hexadecimal integers ("0x1f") are accepted besides decimals.
fn parse_strtod(text: &[u8]) -> Option<f64> {
    if text.is_empty() {
        return Some(0.0);
    }
    let start = text.iter().position(|b| !b.is_ascii_whitespace())?;
    parse_f64_or_hex(&text[start..])
}

/// Removes the members of the sorted set at `args[1]` that `remove`
/// picks; replies how many, deleting the key if it empties.
fn zremrange(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>, remove: impl FnOnce(&mut SortedSet) -> usize) {
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    let Some(e) = shard.get(h, key, clock) else {
        return out.int(0);
    };
    let Value::ZSet(z) = &mut e.value else {
        return out.wrong_type();
    };
    let removed = remove(z);
    let now_empty = z.len() == 0;
    if now_empty {
        shard.remove(h, key, clock);
    } else if removed > 0 {
        shard.touch(key);
    }
    out.int(removed as i64);
}

pub(crate) fn zremrangebyrank(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let Some(start) = int_arg(args.get(2), out) else { return };
    let Some(stop) = int_arg(args.get(3), out) else { return };
    zremrange(ctx, args, out, |z| match clamp_range(start, stop, z.len()) {
        Some((from, to)) => z.remove_ranks(from, to),
        None => 0,
    });
}

pub(crate) fn zremrangebyscore(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let (Some(min), Some(max)) = (Bound::parse(args.get(2)), Bound::parse(args.get(3))) else {
        return out.error(b"ERR min or max is not a float");
    };
    zremrange(ctx, args, out, |z| {
        let above_min = |s: f64| if min.exclusive { s > min.score } else { s >= min.score };
        let past_max = |s: f64| if max.exclusive { s >= max.score } else { s > max.score };
        z.remove_scores(above_min, past_max)
    });
}
