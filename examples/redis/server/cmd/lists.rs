//! List commands: LPUSH, RPUSH, LPOP, RPOP, LRANGE, LLEN.

use std::collections::VecDeque;

use super::super::exec::{Args, Ctx};
use super::super::reply::Reply;
use super::super::resp::parse_i64;
use super::super::shard::Ttl;
use super::super::value::{Bytes, Value};
use super::{clamp_range, int_arg};

fn push(ctx: &mut Ctx<'_>, args: &Args<'_>, front: bool, out: &mut Reply<'_>) {
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    let list = match shard.get(h, key, clock) {
        Some(e) => match &mut e.value {
            Value::List(l) => l,
            _ => return out.wrong_type(),
        },
        None => {
            let e = shard.insert_new(h, key, Value::List(Box::default()), Ttl::Clear);
            let Value::List(l) = &mut e.value else {
                unreachable!("inserted a list")
            };
            l
        }
    };
    for el in args.from(2) {
        if front {
            list.push_front(el.into());
        } else {
            list.push_back(el.into());
        }
    }
    let len = list.len();
    shard.touch(key);
    out.int(len as i64);
}

pub(crate) fn lpush(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    push(ctx, args, true, out);
}

pub(crate) fn rpush(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    push(ctx, args, false, out);
}

fn pop(ctx: &mut Ctx<'_>, args: &Args<'_>, front: bool, out: &mut Reply<'_>) {
    let count = if args.len() > 3 {
        return super::super::exec::wrong_arity(ctx_spec(front), out);
    } else if args.len() == 3 {
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
        return if count.is_some() { out.null_array() } else { out.null() };
    };
    let Value::List(list) = &mut e.value else {
        return out.wrong_type();
    };
    let take_one = |l: &mut VecDeque<_>| if front { l.pop_front() } else { l.pop_back() };
    match count {
        None => {
            let el: Bytes = take_one(list).expect("lists are never empty");
            out.bulk(&el);
        }
        Some(n) => {
            let n = n.min(list.len());
            out.array(n);
            for _ in 0..n {
                let el: Bytes = take_one(list).expect("counted");
                out.bulk(&el);
            }
        }
    }
    let now_empty = list.is_empty();
    if now_empty {
        shard.remove(h, key, clock);
    } else {
        shard.touch(key);
    }
}

fn ctx_spec(front: bool) -> &'static super::super::table::Spec {
    super::super::table::lookup(if front { b"lpop" } else { b"rpop" }).expect("in the table")
}

pub(crate) fn lpop(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    pop(ctx, args, true, out);
}

pub(crate) fn rpop(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    pop(ctx, args, false, out);
}

pub(crate) fn lrange(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let Some(start) = int_arg(args.get(2), out) else { return };
    let Some(stop) = int_arg(args.get(3), out) else { return };
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    let Some(e) = shard.get(h, key, clock) else {
        return out.array(0);
    };
    let Value::List(list) = &e.value else {
        return out.wrong_type();
    };
    match clamp_range(start, stop, list.len()) {
        None => out.array(0),
        Some((from, to)) => {
            out.array(to - from + 1);
            for el in list.range(from..=to) {
                out.bulk(el);
            }
        }
    }
}

pub(crate) fn llen(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    super::collection_len(ctx, args, out, |v| match v {
        Value::List(c) => Some(c.len()),
        _ => None,
    });
}
