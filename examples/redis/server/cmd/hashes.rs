//! Hash commands: HSET, HSETNX, HGET, HDEL, HGETALL, HLEN, HEXISTS,
//! HSTRLEN, HINCRBY, HINCRBYFLOAT, HRANDFIELD.

use hashbrown::HashMap;

use super::super::exec::{wrong_arity, Args, Ctx};
use super::super::long_double::{LongDouble, Parsed};
use super::super::reply::{write_i64, Proto, Reply};
use super::super::resp::parse_i64;
use super::super::shard::Ttl;
use super::super::table;
use super::super::value::{Bytes, Value};
use super::{int_arg, nonmin_i64_arg, random_picks, random_u64, spend};

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

/// The hash at `key`, created empty if absent: None after replying WRONGTYPE.
fn hash_or_new<'s>(ctx: &'s mut Ctx<'_>, key: &[u8], out: &mut Reply<'_>) -> Option<&'s mut HashMap<Bytes, Bytes>> {
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    if shard.get(h, key, clock).is_none() {
        shard.insert_new(h, key, Value::Hash(Box::default()), Ttl::Clear);
    }
    match shard.get(h, key, clock).map(|e| &mut e.value) {
        Some(Value::Hash(m)) => Some(m),
        _ => {
            out.wrong_type();
            None
        }
    }
}

pub(crate) fn hsetnx(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let Some(hash) = hash_or_new(ctx, args.get(1), out) else {
        return;
    };
    let field = args.get(2);
    if hash.contains_key(field) {
        return out.int(0);
    }
    hash.insert(field.into(), args.get(3).into());
    ctx.db.shard(args.get(1)).0.touch(args.get(1));
    out.int(1);
}

pub(crate) fn hincrby(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let Some(delta) = int_arg(args.get(3), out) else { return };
    let Some(hash) = hash_or_new(ctx, args.get(1), out) else {
        return;
    };
    let field = args.get(2);
    let current = match hash.get(field) {
        None => 0,
        Some(v) => match parse_i64(v) {
            Some(n) => n,
            None => return out.error(b"ERR hash value is not an integer"),
        },
    };
    let Some(new) = current.checked_add(delta) else {
        return out.error(b"ERR increment or decrement would overflow");
    };
    let mut buf = [0u8; 20];
    let len = write_i64(new, &mut buf);
    hash.insert(field.into(), buf[..len].into());
    ctx.db.shard(args.get(1)).0.touch(args.get(1));
    out.int(new);
}

/// HINCRBYFLOAT: in `long double`, as Redis computes it (and INCRBYFLOAT).
pub(crate) fn hincrbyfloat(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let delta = match LongDouble::parse(args.get(3)) {
        None => return out.error(b"ERR value is not a valid float"),
        Some(Parsed::Infinite) => return out.error(b"ERR value is NaN or Infinity"),
        Some(Parsed::Finite(d)) => d,
    };
    let Some(hash) = hash_or_new(ctx, args.get(1), out) else {
        return;
    };
    let field = args.get(2);
    let current = match hash.get(field) {
        None => Parsed::Finite(LongDouble::from_i64(0)),
        Some(v) => match LongDouble::parse(v) {
            Some(n) => n,
            None => return out.error(b"ERR hash value is not a float"),
        },
    };
    let sum = match current {
        Parsed::Finite(current) => current.add(delta),
        Parsed::Infinite => None,
    };
    let Some(sum) = sum else {
        return out.error(b"ERR increment would produce NaN or Infinity");
    };
    let text = sum.to_human();
    hash.insert(field.into(), text.as_bytes().into());
    ctx.db.shard(args.get(1)).0.touch(args.get(1));
    out.bulk(text.as_bytes());
}

pub(crate) fn hstrlen(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    match shard.get(h, key, clock).map(|e| &e.value) {
        None => out.int(0),
        Some(Value::Hash(m)) => out.int(m.get(args.get(2)).map_or(0, |v| v.len() as i64)),
        Some(_) => out.wrong_type(),
    }
}

pub(crate) fn hrandfield(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let count = if args.len() >= 3 {
        let Some(n) = nonmin_i64_arg(args.get(2), out) else {
            return;
        };
        let with_values = match args.len() {
            3 => false,
            4 if args.get(3).eq_ignore_ascii_case(b"WITHVALUES") => true,
            _ => return out.syntax_error(),
        };
        if with_values && n < -(i64::MAX / 2) {
            return out.error(b"ERR value is out of range");
        }
        Some((n, with_values))
    } else {
        None
    };
    let key = args.get(1);
    let clock = ctx.db.clock;
    let limit = ctx.server.config.output_limit;
    let (shard, h) = ctx.db.shard(key);
    let hash = match shard.get(h, key, clock).map(|e| &e.value) {
        None => return if count.is_some() { out.array(0) } else { out.null() },
        Some(Value::Hash(m)) => m,
        Some(_) => return out.wrong_type(),
    };
    let Some((n, with_values)) = count else {
        let f = hash.keys().nth(random_u64() as usize % hash.len());
        return out.bulk(f.expect("an index below the length"));
    };
    let entries: Vec<(&Bytes, &Bytes)> = hash.iter().collect();
    let (len, picks) = random_picks(entries.len(), n);
    let nested = with_values && out.proto == Proto::Resp3;
    out.array(if with_values && !nested { 2 * len } else { len });
    let mut budget = limit;
    for i in picks {
        let (f, v) = entries[i];
        if !spend(&mut budget, f.len() + if with_values { v.len() } else { 0 }) {
            // More than the connection may queue (Redis would build it
            // all): stop, and close the connection.
            ctx.client.closing = true;
            return;
        }
        if nested {
            out.array(2);
        }
        out.bulk(f);
        if with_values {
            out.bulk(v);
        }
    }
}
