//! Set commands: SADD, SREM, SPOP, SCARD, SISMEMBER, SMEMBERS, SMOVE,
//! SRANDMEMBER, and SINTER, SUNION, SDIFF with their STORE forms.

use super::super::exec::{Args, Ctx};
use super::super::reply::Reply;
use super::super::resp::parse_i64;
use super::super::shard::Ttl;
use super::super::value::{Bytes, MemberSet, Value};
use super::{nonmin_i64_arg, random_picks, random_u64, spend};

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

/// The set at `key` (None: absent), or Err after replying WRONGTYPE.
fn read_set<'s>(ctx: &'s mut Ctx<'_>, key: &[u8], out: &mut Reply<'_>) -> Result<Option<&'s mut MemberSet>, ()> {
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    match shard.get(h, key, clock).map(|e| &mut e.value) {
        None => Ok(None),
        Some(Value::Set(s)) => Ok(Some(s)),
        Some(_) => {
            out.wrong_type();
            Err(())
        }
    }
}

pub(crate) fn smove(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let (from, to, member) = (args.get(1), args.get(2), args.get(3));
    let Ok(src) = read_set(ctx, from, out) else { return };
    let Some(src) = src else {
        return out.int(0);
    };
    let in_src = src.contains(member);
    if read_set(ctx, to, out).is_err() {
        return;
    }
    if from == to || !in_src {
        return out.int(i64::from(in_src));
    }
    if let Ok(Some(src)) = read_set(ctx, from, out) {
        src.remove(member);
    }
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(from);
    if matches!(shard.get(h, from, clock).map(|e| &e.value), Some(Value::Set(s)) if s.len() == 0) {
        shard.remove(h, from, clock);
    } else {
        shard.touch(from);
    }
    add_members(ctx, to, std::iter::once(member));
    out.int(1);
}

/// Adds `members` to the set at `key` (a set or nothing), creating it.
fn add_members<'m>(ctx: &mut Ctx<'_>, key: &[u8], members: impl Iterator<Item = &'m [u8]>) -> usize {
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    if shard.get(h, key, clock).is_none() {
        shard.insert_new(h, key, Value::Set(Box::default()), Ttl::Clear);
    }
    let Some(Value::Set(set)) = shard.get(h, key, clock).map(|e| &mut e.value) else {
        unreachable!("a set is there")
    };
    let added = members.filter(|m| set.insert(m)).count();
    shard.touch(key);
    added
}

pub(crate) fn srandmember(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    if args.len() > 3 {
        return out.syntax_error();
    }
    let count = if args.len() == 3 {
        let Some(n) = nonmin_i64_arg(args.get(2), out) else {
            return;
        };
        Some(n)
    } else {
        None
    };
    let limit = ctx.server.config.output_limit;
    let Ok(set) = read_set(ctx, args.get(1), out) else {
        return;
    };
    let Some(set) = set else {
        return if count.is_some() { out.array(0) } else { out.null() };
    };
    let Some(n) = count else {
        return out.bulk(&set.members()[random_u64() as usize % set.len()]);
    };
    let (len, picks) = random_picks(set.len(), n);
    out.array(len);
    let mut budget = limit;
    for i in picks {
        let m = &set.members()[i];
        if !spend(&mut budget, m.len()) {
            // More than the connection may queue: stop, and close it.
            ctx.client.closing = true;
            return;
        }
        out.bulk(m);
    }
}

/// SINTER, SUNION and SDIFF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Inter,
    Union,
    Diff,
}

/// The result of `op` over the sets at `keys` (absent keys are empty
/// sets), or None after replying WRONGTYPE. Every key is checked for its
/// type first, as Redis does.
fn combine(ctx: &mut Ctx<'_>, op: SetOp, keys: &[&[u8]], out: &mut Reply<'_>) -> Option<MemberSet> {
    let mut sizes = Vec::new();
    for key in keys {
        let Ok(set) = read_set(ctx, key, out) else { return None };
        sizes.push(set.map_or(0, |s| s.len()));
    }
    let mut result = MemberSet::default();
    match op {
        SetOp::Inter => {
            if sizes.contains(&0) {
                return Some(result);
            }
            let smallest = (0..keys.len()).min_by_key(|&i| sizes[i]).expect("one key at least");
            let Ok(Some(first)) = read_set(ctx, keys[smallest], out) else {
                unreachable!("checked above")
            };
            let mut candidates: Vec<Bytes> = first.members().to_vec();
            for (i, key) in keys.iter().enumerate() {
                if i != smallest {
                    let Ok(Some(other)) = read_set(ctx, key, out) else {
                        unreachable!("checked above")
                    };
                    candidates.retain(|m| other.contains(m));
                }
            }
            for m in &candidates {
                result.insert(m);
            }
        }
        SetOp::Union => {
            for key in keys {
                if let Ok(Some(s)) = read_set(ctx, key, out) {
                    for m in s.members() {
                        result.insert(m);
                    }
                }
            }
        }
        SetOp::Diff => {
            if let Ok(Some(s)) = read_set(ctx, keys[0], out) {
                for m in s.members() {
                    result.insert(m);
                }
            }
            for key in &keys[1..] {
                if result.len() == 0 {
                    break;
                }
                if let Ok(Some(s)) = read_set(ctx, key, out) {
                    for m in s.members() {
                        result.remove(m);
                    }
                }
            }
        }
    }
    Some(result)
}

fn set_op_reply(ctx: &mut Ctx<'_>, args: &Args<'_>, op: SetOp, out: &mut Reply<'_>) {
    let keys: Vec<&[u8]> = args.from(1).collect();
    if let Some(result) = combine(ctx, op, &keys, out) {
        out.set(result.len());
        for m in result.members() {
            out.bulk(m);
        }
    }
}

/// The STORE forms: the result replaces `args[1]` (any type, deadline
/// cleared), or deletes it when empty.
fn set_op_store(ctx: &mut Ctx<'_>, args: &Args<'_>, op: SetOp, out: &mut Reply<'_>) {
    let keys: Vec<&[u8]> = args.from(2).collect();
    let Some(result) = combine(ctx, op, &keys, out) else {
        return;
    };
    let dest = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(dest);
    let n = result.len();
    if n == 0 {
        shard.remove(h, dest, clock);
    } else {
        shard.remove(h, dest, clock);
        shard.insert_new(h, dest, Value::Set(Box::new(result)), Ttl::Clear);
    }
    out.int(n as i64);
}

pub(crate) fn sinter(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    set_op_reply(ctx, args, SetOp::Inter, out);
}

pub(crate) fn sunion(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    set_op_reply(ctx, args, SetOp::Union, out);
}

pub(crate) fn sdiff(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    set_op_reply(ctx, args, SetOp::Diff, out);
}

pub(crate) fn sinterstore(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    set_op_store(ctx, args, SetOp::Inter, out);
}

pub(crate) fn sunionstore(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    set_op_store(ctx, args, SetOp::Union, out);
}

pub(crate) fn sdiffstore(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    set_op_store(ctx, args, SetOp::Diff, out);
}
