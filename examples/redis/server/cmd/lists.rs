//! List commands: pushes and pops, ranges, indices, LINSERT, LREM, LTRIM,
//! LPOS, and moves between lists (LMOVE, RPOPLPUSH).

use std::collections::VecDeque;

use super::super::exec::{Args, Ctx};
use super::super::keyspace::Db;
use super::super::reply::Reply;
use super::super::resp::parse_i64;
use super::super::shard::{Entry, Ttl};
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

/// The list at `key` for a command that changes it: None after replying
/// (`missing` when there is no such key, WRONGTYPE for another type).
fn list_mut<'s>(
    ctx: &'s mut Ctx<'_>,
    key: &[u8],
    missing: impl FnOnce(&mut Reply<'_>),
    out: &mut Reply<'_>,
) -> Option<&'s mut VecDeque<Bytes>> {
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    match shard.get(h, key, clock).map(|e| &mut e.value) {
        None => {
            missing(out);
            None
        }
        Some(Value::List(l)) => Some(l),
        Some(_) => {
            out.wrong_type();
            None
        }
    }
}

/// After a command took elements out of the list at `key`: deletes the
/// key if the list is empty, else records the change (for WATCH).
fn after_removal(db: &mut Db<'_>, key: &[u8]) {
    let clock = db.clock;
    let (shard, h) = db.shard(key);
    let empty = matches!(shard.get(h, key, clock).map(|e| &e.value), Some(Value::List(l)) if l.is_empty());
    if empty {
        shard.remove(h, key, clock);
    } else {
        shard.touch(key);
    }
}

/// A list index as Redis reads it (negative from the end); None when out of range.
fn list_index(index: i64, len: usize) -> Option<usize> {
    let i = if index < 0 { len as i64 + index } else { index };
    (0..len as i64).contains(&i).then_some(i as usize)
}

pub(crate) fn lindex(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let Some(list) = list_mut(ctx, args.get(1), |out| out.null(), out) else {
        return;
    };
    let Some(index) = int_arg(args.get(2), out) else { return };
    match list_index(index, list.len()) {
        Some(i) => out.bulk(&list[i]),
        None => out.null(),
    }
}

pub(crate) fn lset(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let key = args.get(1);
    let Some(list) = list_mut(ctx, key, |out| out.error(b"ERR no such key"), out) else {
        return;
    };
    let Some(index) = int_arg(args.get(2), out) else { return };
    let Some(i) = list_index(index, list.len()) else {
        return out.error(b"ERR index out of range");
    };
    list[i] = args.get(3).into();
    ctx.db.shard(key).0.touch(key);
    out.ok();
}

pub(crate) fn linsert(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let after = match args.get(2).to_ascii_uppercase().as_slice() {
        b"BEFORE" => false,
        b"AFTER" => true,
        _ => return out.syntax_error(),
    };
    let key = args.get(1);
    let Some(list) = list_mut(ctx, key, |out| out.int(0), out) else {
        return;
    };
    let Some(at) = list.iter().position(|e| **e == *args.get(3)) else {
        return out.int(-1);
    };
    list.insert(at + usize::from(after), args.get(4).into());
    let len = list.len();
    ctx.db.shard(key).0.touch(key);
    out.int(len as i64);
}

pub(crate) fn lrem(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let Some(count) = int_arg(args.get(2), out) else { return };
    let key = args.get(1);
    let Some(list) = list_mut(ctx, key, |out| out.int(0), out) else {
        return;
    };
    let element = args.get(3);
    let limit = if count == 0 {
        usize::MAX
    } else {
        count.unsigned_abs() as usize
    };
    let mut removed = 0;
    if count >= 0 {
        list.retain(|e| {
            let drop = removed < limit && **e == *element;
            removed += usize::from(drop);
            !drop
        });
    } else {
        let mut i = list.len();
        while i > 0 && removed < limit {
            i -= 1;
            if *list[i] == *element {
                list.remove(i);
                removed += 1;
            }
        }
    }
    if removed > 0 {
        after_removal(&mut ctx.db, key);
    }
    out.int(removed as i64);
}

pub(crate) fn ltrim(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let Some(start) = int_arg(args.get(2), out) else { return };
    let Some(end) = int_arg(args.get(3), out) else { return };
    let key = args.get(1);
    let Some(list) = list_mut(ctx, key, |out| out.ok(), out) else {
        return;
    };
    match clamp_range(start, end, list.len()) {
        None => list.clear(),
        Some((from, to)) => {
            list.truncate(to + 1);
            list.drain(..from);
        }
    }
    after_removal(&mut ctx.db, key);
    out.ok();
}

pub(crate) fn lpos(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0usize);
    let mut i = 3;
    while i < args.len() {
        let more = i + 1 < args.len();
        let opt = args.get(i).to_ascii_uppercase();
        match opt.as_slice() {
            b"RANK" if more => {
                let Some(r) = int_arg(args.get(i + 1), out) else { return };
                if r == 0 {
                    return out.error(b"ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
                }
                rank = r;
            }
            b"COUNT" | b"MAXLEN" if more => {
                let Some(n) = int_arg(args.get(i + 1), out) else { return };
                if n < 0 {
                    return out.error_str(&format!("ERR {} can't be negative", String::from_utf8_lossy(&opt)));
                }
                if opt == b"COUNT" {
                    count = Some(n as usize);
                } else {
                    maxlen = n as usize;
                }
            }
            _ => return out.syntax_error(),
        }
        i += 2;
    }
    let missing = |out: &mut Reply<'_>| if count.is_some() { out.array(0) } else { out.null() };
    let Some(list) = list_mut(ctx, args.get(1), missing, out) else {
        return;
    };
    let element = args.get(2);
    let len = list.len();
    let scan = if maxlen == 0 { len } else { maxlen.min(len) };
    // Redis negates i64::MIN into itself: the first match from the tail.
    let skip = if rank == i64::MIN {
        0
    } else {
        rank.unsigned_abs() as usize - 1
    };
    let positions = (0..scan).map(|n| if rank < 0 { len - 1 - n } else { n });
    let mut found = positions.filter(|&at| *list[at] == *element).skip(skip);
    match count {
        None => match found.next() {
            Some(at) => out.int(at as i64),
            None => out.null(),
        },
        Some(n) => {
            let hits: Vec<usize> = found.take(if n == 0 { usize::MAX } else { n }).collect();
            out.array(hits.len());
            for at in hits {
                out.int(at as i64);
            }
        }
    }
}

/// Which end of a list (LMOVE's LEFT / RIGHT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Left,
    Right,
}

impl End {
    pub(crate) fn parse(arg: &[u8]) -> Option<End> {
        match arg.to_ascii_uppercase().as_slice() {
            b"LEFT" => Some(End::Left),
            b"RIGHT" => Some(End::Right),
            _ => None,
        }
    }
}

/// Whether `key` holds a list, or nothing: false after replying WRONGTYPE.
pub(crate) fn list_or_absent(ctx: &mut Ctx<'_>, key: &[u8], out: &mut Reply<'_>) -> bool {
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    match shard.get(h, key, clock).map(|e| &e.value) {
        None | Some(Value::List(_)) => true,
        Some(_) => {
            out.wrong_type();
            false
        }
    }
}

/// Pushes `element` at `end` of the list at `key`, creating it (the key
/// holds a list or nothing: checked by the caller).
pub(crate) fn push_one(db: &mut Db<'_>, key: &[u8], element: Bytes, end: End) {
    let clock = db.clock;
    let (shard, h) = db.shard(key);
    let list = match shard.get(h, key, clock) {
        Some(Entry {
            value: Value::List(l), ..
        }) => l,
        _ => {
            let e = shard.insert_new(h, key, Value::List(Box::default()), Ttl::Clear);
            let Value::List(l) = &mut e.value else {
                unreachable!("inserted a list")
            };
            l
        }
    };
    match end {
        End::Left => list.push_front(element),
        End::Right => list.push_back(element),
    }
    shard.touch(key);
}

/// Pops an element from `end` of the list at `key`, deleting the key if
/// that empties it; None if there is no list there.
pub(crate) fn pop_one(db: &mut Db<'_>, key: &[u8], end: End) -> Option<Bytes> {
    let clock = db.clock;
    let (shard, h) = db.shard(key);
    let Some(Entry {
        value: Value::List(list),
        ..
    }) = shard.get(h, key, clock)
    else {
        return None;
    };
    let element = match end {
        End::Left => list.pop_front(),
        End::Right => list.pop_back(),
    }?;
    after_removal(db, key);
    Some(element)
}

/// LMOVE's work once both keys are known to hold lists (or nothing):
/// the element moved, or None when the source is empty.
pub(crate) fn move_element(db: &mut Db<'_>, from: &[u8], to: &[u8], from_end: End, to_end: End) -> Option<Bytes> {
    if from == to {
        // A rotation: the key stays (with its deadline).
        let clock = db.clock;
        let (shard, h) = db.shard(from);
        let Some(Entry {
            value: Value::List(list),
            ..
        }) = shard.get(h, from, clock)
        else {
            return None;
        };
        let element = match from_end {
            End::Left => list.pop_front(),
            End::Right => list.pop_back(),
        }?;
        match to_end {
            End::Left => list.push_front(element.clone()),
            End::Right => list.push_back(element.clone()),
        }
        shard.touch(from);
        return Some(element);
    }
    let element = pop_one(db, from, from_end)?;
    push_one(db, to, element.clone(), to_end);
    Some(element)
}

fn lmove_generic(ctx: &mut Ctx<'_>, args: &Args<'_>, from_end: End, to_end: End, out: &mut Reply<'_>) {
    let (from, to) = (args.get(1), args.get(2));
    let Some(list) = list_mut(ctx, from, |out| out.null(), out) else {
        return;
    };
    if list.is_empty() {
        return out.null();
    }
    if !list_or_absent(ctx, to, out) {
        return;
    }
    match move_element(&mut ctx.db, from, to, from_end, to_end) {
        Some(element) => out.bulk(&element),
        None => out.null(),
    }
}

pub(crate) fn lmove(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let (Some(from_end), Some(to_end)) = (End::parse(args.get(3)), End::parse(args.get(4))) else {
        return out.syntax_error();
    };
    lmove_generic(ctx, args, from_end, to_end, out);
}

pub(crate) fn rpoplpush(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    lmove_generic(ctx, args, End::Right, End::Left, out);
}
