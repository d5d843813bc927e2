//! Set commands: SADD, SREM, SPOP, SCARD, SISMEMBER, SMEMBERS.

use super::super::exec::{Args, Ctx};
use super::super::reply::Reply;
use super::super::resp::parse_i64;
use super::super::shard::Ttl;
use super::super::value::{MemberSet, Value};
use super::random_u64;

pub(crate) fn sadd(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    let set = match shard.get(h, key, clock) {
        Some(e) => match &mut e.value {
            Value::Set(s) => s,
            _ => return out.wrong_type(),
        },
        None => {
            let e = shard.insert_new(h, key, Value::Set(Box::default()), Ttl::Clear);
            let Value::Set(s) = &mut e.value else {
                unreachable!("inserted a set")
            };
            s
        }
    };
    let added = args.from(2).filter(|m| set.insert(m)).count();
    shard.touch(key);
    out.int(added as i64);
}

/// The set at `key` for a command that removes members: None after
/// replying (`missing` when there is no such key).
fn set_for_removal<'s>(
    shard: &'s mut super::super::shard::Shard,
    h: u64,
    key: &[u8],
    clock: &super::super::shard::Clock,
    missing: impl FnOnce(&mut Reply<'_>),
    out: &mut Reply<'_>,
) -> Option<&'s mut MemberSet> {
    match shard.get(h, key, clock) {
        None => {
            missing(out);
            None
        }
        Some(e) => match &mut e.value {
            Value::Set(s) => Some(s),
            _ => {
                out.wrong_type();
                None
            }
        },
    }
}

pub(crate) fn srem(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    let Some(set) = set_for_removal(shard, h, key, clock, |out| out.int(0), out) else {
        return;
    };
    let removed = args.from(2).filter(|m| set.remove(m)).count();
    let now_empty = set.len() == 0;
    if now_empty {
        shard.remove(h, key, clock);
    } else if removed > 0 {
        shard.touch(key);
    }
    out.int(removed as i64);
}

pub(crate) fn spop(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
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
    let missing = |out: &mut Reply<'_>| if count.is_some() { out.set(0) } else { out.null() };
    let Some(set) = set_for_removal(shard, h, key, clock, missing, out) else {
        return;
    };
    match count {
        None => {
            let m = set.remove_at(random_u64() as usize % set.len());
            out.bulk(&m);
        }
        Some(n) => {
            let n = n.min(set.len());
            out.set(n);
            for _ in 0..n {
                let m = set.remove_at(random_u64() as usize % set.len());
                out.bulk(&m);
            }
        }
    }
    let now_empty = set.len() == 0;
    if now_empty {
        shard.remove(h, key, clock);
    } else {
        shard.touch(key);
    }
}

pub(crate) fn scard(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    super::collection_len(ctx, args, out, |v| match v {
        Value::Set(c) => Some(c.len()),
        _ => None,
    });
}

pub(crate) fn sismember(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    match shard.get(h, key, clock).map(|e| &e.value) {
        None => out.int(0),
        Some(Value::Set(s)) => out.int(i64::from(s.contains(args.get(2)))),
        Some(_) => out.wrong_type(),
    }
}

pub(crate) fn smembers(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    match shard.get(h, key, clock).map(|e| &e.value) {
        None => out.set(0),
        Some(Value::Set(s)) => {
            out.set(s.len());
            for m in s.members() {
                out.bulk(m);
            }
        }
        Some(_) => out.wrong_type(),
    }
}
