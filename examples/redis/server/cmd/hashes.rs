//! Hash commands: HSET, HGET, HDEL, HGETALL, HLEN, HEXISTS.

use super::super::exec::{wrong_arity, Args, Ctx};
use super::super::reply::Reply;
use super::super::shard::Ttl;
use super::super::table;
use super::super::value::Value;

pub(crate) fn hset(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    if !args.len().is_multiple_of(2) {
        return wrong_arity(table::lookup(b"hset").expect("in the table"), out);
    }
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    let hash = match shard.get(h, key, clock) {
        Some(e) => match &mut e.value {
            Value::Hash(m) => m,
            _ => return out.wrong_type(),
        },
        None => {
            let e = shard.insert_new(h, key, Value::Hash(Box::default()), Ttl::Clear);
            let Value::Hash(m) = &mut e.value else {
                unreachable!("inserted a hash")
            };
            m
        }
    };
    let mut added = 0;
    for i in (2..args.len()).step_by(2) {
        let (field, value) = (args.get(i), args.get(i + 1));
        match hash.get_mut(field) {
            Some(v) => *v = value.into(),
            None => {
                hash.insert(field.into(), value.into());
                added += 1;
            }
        }
    }
    shard.touch(key);
    out.int(added);
}

pub(crate) fn hget(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    match shard.get(h, key, clock).map(|e| &e.value) {
        None => out.null(),
        Some(Value::Hash(m)) => match m.get(args.get(2)) {
            Some(v) => out.bulk(v),
            None => out.null(),
        },
        Some(_) => out.wrong_type(),
    }
}

pub(crate) fn hdel(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    let Some(e) = shard.get(h, key, clock) else {
        return out.int(0);
    };
    let Value::Hash(m) = &mut e.value else {
        return out.wrong_type();
    };
    let removed = args.from(2).filter(|f| m.remove(*f).is_some()).count();
    let now_empty = m.is_empty();
    if now_empty {
        shard.remove(h, key, clock);
    } else if removed > 0 {
        shard.touch(key);
    }
    out.int(removed as i64);
}

pub(crate) fn hgetall(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    match shard.get(h, key, clock).map(|e| &e.value) {
        None => out.map(0),
        Some(Value::Hash(m)) => {
            out.map(m.len());
            for (f, v) in m.iter() {
                out.bulk(f);
                out.bulk(v);
            }
        }
        Some(_) => out.wrong_type(),
    }
}

pub(crate) fn hlen(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    super::collection_len(ctx, args, out, |v| match v {
        Value::Hash(c) => Some(c.len()),
        _ => None,
    });
}

pub(crate) fn hexists(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    match shard.get(h, key, clock).map(|e| &e.value) {
        None => out.int(0),
        Some(Value::Hash(m)) => out.int(i64::from(m.contains_key(args.get(2)))),
        Some(_) => out.wrong_type(),
    }
}
