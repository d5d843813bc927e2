//! Sorted set commands: ZADD, ZINCRBY, ZPOPMIN, ZPOPMAX, ZCARD, ZSCORE,
//! ZCOUNT, ZRANK, ZREVRANK, ZREM, ZREMRANGEBYRANK, ZREMRANGEBYSCORE, and
//! the range family (ZRANGE with BYSCORE, BYLEX, REV, LIMIT; ZREVRANGE,
//! Z[REV]RANGEBYSCORE, Z[REV]RANGEBYLEX), parsed and checked in the order
//! of Redis 7.0's `zrangeGenericCommand`.

use super::super::exec::{Args, Ctx};
use super::super::long_double::{strtod, strtod_range};
use super::super::reply::{Proto, Reply};
use super::super::resp::parse_i64;
use super::super::shard::Ttl;
use super::super::value::{Bytes, SortedSet, Value};
use super::{clamp_range, int_arg};

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
        match strtod(args.get(i)) {
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

/// How a range is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    Rank,
    Score,
    Lex,
}

/// One end of a BYSCORE range: a score, exclusive after "(".
#[derive(Debug, Clone, Copy)]
struct ScoreBound {
    value: f64,
    exclusive: bool,
}

/// Redis's `zslParseRange` for one end.
fn score_bound(arg: &[u8]) -> Option<ScoreBound> {
    let (exclusive, text) = match arg.strip_prefix(b"(") {
        Some(rest) => (true, rest),
        None => (false, arg),
    };
    Some(ScoreBound {
        value: strtod_range(text)?,
        exclusive,
    })
}

impl ScoreBound {
    fn above_min(self, s: f64) -> bool {
        if self.exclusive {
            s > self.value
        } else {
            s >= self.value
        }
    }

    fn below_max(self, s: f64) -> bool {
        if self.exclusive {
            s < self.value
        } else {
            s <= self.value
        }
    }
}

/// The members with scores between `min` and `max`, in order.
fn score_range(z: &SortedSet, min: ScoreBound, max: ScoreBound) -> impl Iterator<Item = (&Bytes, f64)> {
    z.up_from_score(min.value)
        .skip_while(move |&(_, s)| !min.above_min(s))
        .take_while(move |&(_, s)| max.below_max(s))
}

/// One end of a BYLEX range: "-", "+", or "[" / "(" and a member.
#[derive(Debug, Clone, Copy)]
enum LexBound<'a> {
    Min,
    Max,
    Inclusive(&'a [u8]),
    Exclusive(&'a [u8]),
}

fn lex_bound(arg: &[u8]) -> Option<LexBound<'_>> {
    match arg.first()? {
        b'-' if arg.len() == 1 => Some(LexBound::Min),
        b'+' if arg.len() == 1 => Some(LexBound::Max),
        b'[' => Some(LexBound::Inclusive(&arg[1..])),
        b'(' => Some(LexBound::Exclusive(&arg[1..])),
        _ => None,
    }
}

impl<'a> LexBound<'a> {
    /// Where the bound sorts ("-" first, "+" last) and if it is exclusive.
    fn order_key(self) -> (u8, &'a [u8], bool) {
        match self {
            LexBound::Min => (0, b"", false),
            LexBound::Max => (2, b"", false),
            LexBound::Inclusive(m) => (1, m, false),
            LexBound::Exclusive(m) => (1, m, true),
        }
    }

    fn above_min(self, m: &[u8]) -> bool {
        match self {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Inclusive(b) => m >= b,
            LexBound::Exclusive(b) => m > b,
        }
    }

    fn below_max(self, m: &[u8]) -> bool {
        match self {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Inclusive(b) => m <= b,
            LexBound::Exclusive(b) => m < b,
        }
    }
}

/// Redis's walk over a BYSCORE or BYLEX range: from the first member where
/// `starts` holds (which must also be `in_range`, else nothing), `offset`
/// members skipped whatever they are, then members while `in_range`, at
/// most `count` of them (negative: no limit; a negative offset: nothing).
fn walk<'z>(
    it: impl Iterator<Item = (&'z Bytes, f64)>,
    starts: impl Fn(&[u8], f64) -> bool,
    in_range: impl Fn(&[u8], f64) -> bool,
    offset: i64,
    count: i64,
    items: &mut Vec<(Bytes, f64)>,
) {
    let Ok(offset) = usize::try_from(offset) else {
        return;
    };
    let mut it = it.skip_while(|&(m, s)| !starts(m, s)).peekable();
    if !it.peek().is_some_and(|&(m, s)| in_range(m, s)) {
        return;
    }
    let limit = usize::try_from(count).unwrap_or(usize::MAX);
    let it = it.skip(offset).take_while(|&(m, s)| in_range(m, s)).take(limit);
    items.extend(it.map(|(m, s)| (m.clone(), s)));
}

/// Redis's `zslIsInLexRange`: false when min is above max, or the last
/// member is below min, or the first above max (with members of mixed
/// scores, not in lexical order, this decides the answer as it does in
/// Redis).
fn lex_range_possible(z: &SortedSet, min: LexBound<'_>, max: LexBound<'_>) -> bool {
    let ((a, am, aex), (b, bm, bex)) = (min.order_key(), max.order_key());
    match (a, am).cmp(&(b, bm)) {
        std::cmp::Ordering::Greater => return false,
        std::cmp::Ordering::Equal if aex || bex => return false,
        _ => {}
    }
    let mut all = z.iter();
    let (Some((first, _)), Some((last, _))) = (all.next(), z.iter().next_back()) else {
        return false;
    };
    min.above_min(last) && max.below_max(first)
}

/// A long argument (LIMIT, ranks), or None after Redis's error.
fn long_arg(arg: &[u8], out: &mut Reply<'_>) -> Option<i64> {
    int_arg(arg, out)
}

/// Redis's `zrangeGenericCommand`: options (WITHSCORES, LIMIT, and REV,
/// BYSCORE, BYLEX where the command leaves them open), their conflicts,
/// the range, and only then the key.
fn zrange_generic(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>, by: Option<By>, rev: Option<bool>) {
    let (mut by, mut rev) = (by, rev);
    let mut with_scores = false;
    // Redis keeps LIMIT as (offset 0, count -1) when absent, and only a
    // count other than -1 marks it as given.
    let (mut offset, mut count): (i64, i64) = (0, -1);
    let mut j = 4;
    while j < args.len() {
        let opt = args.get(j);
        let left = args.len() - j - 1;
        if opt.eq_ignore_ascii_case(b"WITHSCORES") {
            with_scores = true;
        } else if opt.eq_ignore_ascii_case(b"LIMIT") && left >= 2 {
            let Some(o) = long_arg(args.get(j + 1), out) else {
                return;
            };
            let Some(c) = long_arg(args.get(j + 2), out) else {
                return;
            };
            (offset, count) = (o, c);
            j += 2;
        } else if rev.is_none() && opt.eq_ignore_ascii_case(b"REV") {
            rev = Some(true);
        } else if by.is_none() && opt.eq_ignore_ascii_case(b"BYLEX") {
            by = Some(By::Lex);
        } else if by.is_none() && opt.eq_ignore_ascii_case(b"BYSCORE") {
            by = Some(By::Score);
        } else {
            return out.syntax_error();
        }
        j += 1;
    }
    let (by, rev) = (by.unwrap_or(By::Rank), rev.unwrap_or(false));
    if count != -1 && by == By::Rank {
        return out.error(b"ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
    }
    if with_scores && by == By::Lex {
        return out.error(b"ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    }
    // BYSCORE and BYLEX reversed give the range as max, min.
    let (lo, hi) = if rev && by != By::Rank {
        (args.get(3), args.get(2))
    } else {
        (args.get(2), args.get(3))
    };
    let mut items: Vec<(Bytes, f64)> = Vec::new();
    match by {
        By::Rank => {
            let Some(start) = long_arg(lo, out) else { return };
            let Some(stop) = long_arg(hi, out) else { return };
            let Some(z) = read_zset(ctx, args.get(1), |out| out.array(0), out) else {
                return;
            };
            let len = z.len() as i64;
            let start = if start < 0 { (len + start).max(0) } else { start };
            let stop = if stop < 0 { len + stop } else { stop };
            if start > stop || start >= len {
                return out.array(0);
            }
            let (start, stop) = (start as usize, stop.min(len - 1) as usize);
            let n = stop - start + 1;
            if rev {
                items.extend(z.iter().rev().skip(start).take(n).map(|(m, s)| (m.clone(), s)));
            } else {
                items.extend(z.iter().skip(start).take(n).map(|(m, s)| (m.clone(), s)));
            }
        }
        By::Score => {
            let (Some(min), Some(max)) = (score_bound(lo), score_bound(hi)) else {
                return out.error(b"ERR min or max is not a float");
            };
            let Some(z) = read_zset(ctx, args.get(1), |out| out.array(0), out) else {
                return;
            };
            if rev {
                let it = z.down_from_score(max.value);
                walk(
                    it,
                    |_, s| max.below_max(s),
                    |_, s| min.above_min(s),
                    offset,
                    count,
                    &mut items,
                );
            } else {
                let it = z.up_from_score(min.value);
                walk(
                    it,
                    |_, s| min.above_min(s),
                    |_, s| max.below_max(s),
                    offset,
                    count,
                    &mut items,
                );
            }
        }
        By::Lex => {
            let (Some(min), Some(max)) = (lex_bound(lo), lex_bound(hi)) else {
                return out.error(b"ERR min or max not valid string range item");
            };
            let Some(z) = read_zset(ctx, args.get(1), |out| out.array(0), out) else {
                return;
            };
            if !lex_range_possible(z, min, max) {
                return out.array(0);
            }
            if rev {
                let it = z.iter().rev();
                walk(
                    it,
                    |m, _| max.below_max(m),
                    |m, _| min.above_min(m),
                    offset,
                    count,
                    &mut items,
                );
            } else {
                walk(
                    z.iter(),
                    |m, _| min.above_min(m),
                    |m, _| max.below_max(m),
                    offset,
                    count,
                    &mut items,
                );
            }
        }
    }
    let resp3_nested = with_scores && out.proto == Proto::Resp3;
    out.array(if with_scores && !resp3_nested {
        2 * items.len()
    } else {
        items.len()
    });
    for (m, s) in &items {
        if with_scores {
            pair(out, m, *s, true);
        } else {
            out.bulk(m);
        }
    }
}

pub(crate) fn zrange(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    zrange_generic(ctx, args, out, None, None);
}

pub(crate) fn zrevrange(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    zrange_generic(ctx, args, out, Some(By::Rank), Some(true));
}

pub(crate) fn zrangebyscore(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    zrange_generic(ctx, args, out, Some(By::Score), Some(false));
}

pub(crate) fn zrevrangebyscore(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    zrange_generic(ctx, args, out, Some(By::Score), Some(true));
}

pub(crate) fn zrangebylex(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    zrange_generic(ctx, args, out, Some(By::Lex), Some(false));
}

pub(crate) fn zrevrangebylex(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    zrange_generic(ctx, args, out, Some(By::Lex), Some(true));
}

/// ZCOUNT key min max: the range first, then the key.
pub(crate) fn zcount(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let (Some(min), Some(max)) = (score_bound(args.get(2)), score_bound(args.get(3))) else {
        return out.error(b"ERR min or max is not a float");
    };
    if let Some(z) = read_zset(ctx, args.get(1), |out| out.int(0), out) {
        let n = score_range(z, min, max).count();
        out.int(n as i64);
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
    let (Some(min), Some(max)) = (score_bound(args.get(2)), score_bound(args.get(3))) else {
        return out.error(b"ERR min or max is not a float");
    };
    zremrange(ctx, args, out, |z| {
        let doomed: Vec<Bytes> = score_range(z, min, max).map(|(m, _)| m.clone()).collect();
        doomed.iter().filter(|m| z.remove(m)).count()
    });
}
