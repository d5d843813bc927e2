//! String commands: SET and GET and their relatives, counters, MGET/MSET.

use super::super::exec::{wrong_arity, Args, Ctx};
use super::super::long_double::{LongDouble, Parsed};
use super::super::reply::{write_i64, Reply};
use super::super::resp::parse_i64;
use super::super::shard::{Shard, Ttl};
use super::super::value::Value;
use super::int_arg;

/// A string value's bytes (an integer is formatted into `buf`); None for
/// another type.
pub(crate) fn string_bytes<'v>(value: &'v Value, buf: &'v mut [u8; 20]) -> Option<&'v [u8]> {
    match value {
        Value::Str(s) => Some(s),
        Value::Int(n) => {
            let len = write_i64(*n, buf);
            Some(&buf[..len])
        }
        _ => None,
    }
}

/// Writes a string value as a bulk reply, or WRONGTYPE.
fn reply_string(value: &Value, out: &mut Reply<'_>) {
    match value {
        Value::Str(s) => out.bulk(s),
        Value::Int(n) => out.bulk_i64(*n),
        _ => out.wrong_type(),
    }
}

pub(crate) fn get(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let key = args.get(1);
    let clock = ctx.db.clock;
    let stats = ctx.db.stats();
    let (shard, h) = ctx.db.shard(key);
    match shard.get(h, key, clock) {
        Some(e) => {
            stats.hits.add(1);
            reply_string(&e.value, out);
        }
        None => {
            stats.misses.add(1);
            out.null();
        }
    }
}

/// How an expiry option counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// EX, PX: from now, in seconds / ms.
    Seconds,
    Millis,
    /// EXAT, PXAT: unix time in seconds / ms.
    UnixSeconds,
    UnixMillis,
}

/// SET's and GETEX's options.
#[derive(Debug, Default)]
struct Options<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    expire: Option<(Unit, &'a [u8])>,
}

/// Parses SET (`getex` false) or GETEX options from `args[from..]` as
/// Redis's `parseExtendedStringArgumentsOrReply` does: an option may be
/// repeated (the last expiry value counts), only conflicting ones are a
/// syntax error. None after replying it.
fn parse_options<'a>(args: &Args<'a>, from: usize, getex: bool, out: &mut Reply<'_>) -> Option<Options<'a>> {
    let mut o = Options::default();
    let mut i = from;
    while i < args.len() {
        let opt = args.get(i).to_ascii_uppercase();
        let unit = match opt.as_slice() {
            b"EX" => Some(Unit::Seconds),
            b"PX" => Some(Unit::Millis),
            b"EXAT" => Some(Unit::UnixSeconds),
            b"PXAT" => Some(Unit::UnixMillis),
            _ => None,
        };
        let other_unit = |u: Unit| o.expire.is_some_and(|(set, _)| set != u);
        match (opt.as_slice(), unit) {
            (_, Some(unit)) if !o.keepttl && !o.persist && !other_unit(unit) && i + 1 < args.len() => {
                o.expire = Some((unit, args.get(i + 1)));
                i += 1;
            }
            (b"NX", _) if !getex && !o.xx => o.nx = true,
            (b"XX", _) if !getex && !o.nx => o.xx = true,
            (b"GET", _) if !getex => o.get = true,
            (b"KEEPTTL", _) if !getex && o.expire.is_none() => o.keepttl = true,
            (b"PERSIST", _) if getex && o.expire.is_none() => o.persist = true,
            _ => {
                out.syntax_error();
                return None;
            }
        }
        i += 1;
    }
    Some(o)
}

/// The deadline an expiry option asks for, in unix ms, or None after
/// replying Redis's "invalid expire time" (or not-an-integer) error.
fn deadline(unit: Unit, arg: &[u8], now_ms: impl FnOnce() -> u64, command: &str, out: &mut Reply<'_>) -> Option<u64> {
    let n = int_arg(arg, out)?;
    let invalid = |out: &mut Reply<'_>| out.error_str(&format!("ERR invalid expire time in '{command}' command"));
    let seconds = matches!(unit, Unit::Seconds | Unit::UnixSeconds);
    if n <= 0 || (seconds && n > i64::MAX / 1000) {
        invalid(out);
        return None;
    }
    let mut ms = if seconds { n * 1000 } else { n };
    if matches!(unit, Unit::Seconds | Unit::Millis) {
        match ms.checked_add(now_ms() as i64) {
            Some(at) => ms = at,
            None => {
                invalid(out);
                return None;
            }
        }
    }
    Some(ms as u64)
}

pub(crate) fn set(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let clock = ctx.db.clock;
    let ttl = if args.len() == 3 {
        Ttl::Clear
    } else {
        let Some(o) = parse_options(args, 3, false, out) else {
            return;
        };
        let ttl = match o.expire {
            Some((unit, arg)) => match deadline(unit, arg, || clock.now_ms(), "set", out) {
                Some(at) => Ttl::At(at),
                None => return,
            },
            None if o.keepttl => Ttl::Keep,
            None => Ttl::Clear,
        };
        if o.nx || o.xx || o.get {
            return set_conditional(ctx, args, &o, ttl, out);
        }
        ttl
    };
    let (key, value) = (args.get(1), args.get(2));
    let (shard, h) = ctx.db.shard(key);
    shard.put_str(h, key, value, ttl, clock);
    out.ok();
}

/// SET with NX, XX or GET.
fn set_conditional(ctx: &mut Ctx<'_>, args: &Args<'_>, o: &Options<'_>, ttl: Ttl, out: &mut Reply<'_>) {
    let (key, value) = (args.get(1), args.get(2));
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    let exists = match shard.get(h, key, clock) {
        Some(e) if o.get => {
            if !matches!(e.value, Value::Str(_) | Value::Int(_)) {
                return out.wrong_type();
            }
            reply_string(&e.value, out);
            true
        }
        Some(_) => true,
        None => {
            if o.get {
                out.null();
            }
            false
        }
    };
    if (o.nx && exists) || (o.xx && !exists) {
        if !o.get {
            out.null();
        }
        return;
    }
    shard.put_str(h, key, value, ttl, clock);
    if !o.get {
        out.ok();
    }
}

pub(crate) fn setnx(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let (key, value) = (args.get(1), args.get(2));
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    if shard.get(h, key, clock).is_some() {
        return out.int(0);
    }
    shard.insert_new(h, key, Value::Str(value.to_vec()), Ttl::Clear);
    out.int(1);
}

pub(crate) fn getdel(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    match shard.get(h, key, clock) {
        None => out.null(),
        Some(e) => {
            if !matches!(e.value, Value::Str(_) | Value::Int(_)) {
                return out.wrong_type();
            }
            reply_string(&e.value, out);
            shard.remove(h, key, clock);
        }
    }
}

/// GETEX key [EX|PX|EXAT|PXAT time | PERSIST], in Redis's order: the
/// options' syntax, then the key (nil, WRONGTYPE), then the time.
pub(crate) fn getex(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let clock = ctx.db.clock;
    let Some(o) = parse_options(args, 2, true, out) else {
        return;
    };
    let key = args.get(1);
    let (shard, h) = ctx.db.shard(key);
    let Some(e) = shard.get(h, key, clock) else {
        return out.null();
    };
    if !matches!(e.value, Value::Str(_) | Value::Int(_)) {
        return out.wrong_type();
    }
    let new_deadline = match o.expire {
        Some((unit, arg)) => match deadline(unit, arg, || clock.now_ms(), "getex", out) {
            Some(at) => Some(at),
            None => return,
        },
        None if o.persist => Some(0),
        None => None,
    };
    reply_string(&e.value, out);
    match new_deadline {
        Some(at) if clock.is_past(at) => {
            shard.remove(h, key, clock);
        }
        Some(at) => {
            shard.set_expire(h, key, at, clock);
        }
        None => {}
    }
}

/// The integer a string value holds, or None after replying the error.
fn integer_value(value: &Value, out: &mut Reply<'_>) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        Value::Str(s) => {
            let n = parse_i64(s);
            if n.is_none() {
                out.not_an_integer();
            }
            n
        }
        _ => {
            out.wrong_type();
            None
        }
    }
}

/// Adds `delta` to the integer at `key` (0 if absent).
fn incr_by(ctx: &mut Ctx<'_>, key: &[u8], delta: i64, out: &mut Reply<'_>) {
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    let Some(e) = shard.get(h, key, clock) else {
        shard.insert_new(h, key, Value::Int(delta), Ttl::Clear);
        return out.int(delta);
    };
    let Some(current) = integer_value(&e.value, out) else {
        return;
    };
    let Some(new) = current.checked_add(delta) else {
        return out.error(b"ERR increment or decrement would overflow");
    };
    e.value = Value::Int(new);
    shard.touch(key);
    out.int(new);
}

pub(crate) fn incr(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    incr_by(ctx, args.get(1), 1, out);
}

pub(crate) fn decr(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    incr_by(ctx, args.get(1), -1, out);
}

pub(crate) fn incrby(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let Some(delta) = int_arg(args.get(2), out) else { return };
    incr_by(ctx, args.get(1), delta, out);
}

pub(crate) fn decrby(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let Some(delta) = int_arg(args.get(2), out) else { return };
    if delta == i64::MIN {
        return out.error(b"ERR decrement would overflow");
    }
    incr_by(ctx, args.get(1), -delta, out);
}

/// INCRBYFLOAT key increment, in Redis's order: WRONGTYPE, then the
/// stored value, then the increment; computed as Redis computes it, in an
/// 80-bit `long double` (see `long_double`).
pub(crate) fn incrbyfloat(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    const NOT_FLOAT: &str = "ERR value is not a valid float";
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    let current = match shard.get(h, key, clock).map(|e| &e.value) {
        None => Some(Parsed::Finite(LongDouble::from_i64(0))),
        Some(Value::Int(n)) => Some(Parsed::Finite(LongDouble::from_i64(*n))),
        Some(Value::Str(s)) => LongDouble::parse(s),
        Some(_) => return out.wrong_type(),
    };
    let Some(current) = current else {
        return out.error_str(NOT_FLOAT);
    };
    let Some(delta) = LongDouble::parse(args.get(2)) else {
        return out.error_str(NOT_FLOAT);
    };
    let sum = match (current, delta) {
        (Parsed::Finite(a), Parsed::Finite(b)) => a.add(b),
        _ => None,
    };
    let Some(sum) = sum else {
        return out.error(b"ERR increment would produce NaN or Infinity");
    };
    let text = sum.to_human();
    out.bulk(text.as_bytes());
    shard.put(h, key, Value::Str(text.into_bytes()), Ttl::Keep, clock);
}

pub(crate) fn append(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let (key, more) = (args.get(1), args.get(2));
    let max = ctx.server.config.limits.max_bulk_len;
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    let Some(e) = shard.get(h, key, clock) else {
        shard.insert_new(h, key, Value::Str(more.to_vec()), Ttl::Clear);
        return out.int(more.len() as i64);
    };
    let mut buf = [0u8; 20];
    let Some(current_len) = string_bytes(&e.value, &mut buf).map(<[u8]>::len) else {
        return out.wrong_type();
    };
    if current_len + more.len() > max {
        return out.error(b"ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    if let Value::Int(n) = e.value {
        e.value = Value::Str(n.to_string().into_bytes());
    }
    let Value::Str(s) = &mut e.value else {
        unreachable!("made a string above")
    };
    s.extend_from_slice(more);
    let len = s.len();
    shard.touch(key);
    out.int(len as i64);
}

pub(crate) fn strlen(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    let Some(e) = shard.get(h, key, clock) else {
        return out.int(0);
    };
    let mut buf = [0u8; 20];
    match string_bytes(&e.value, &mut buf) {
        Some(s) => out.int(s.len() as i64),
        None => out.wrong_type(),
    }
}

pub(crate) fn mget(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let clock = ctx.db.clock;
    let stats = ctx.db.stats();
    out.array(args.len() - 1);
    for key in args.from(1) {
        let (shard, h) = ctx.db.shard(key);
        match shard.get(h, key, clock) {
            Some(e) => {
                stats.hits.add(1);
                match &e.value {
                    Value::Str(_) | Value::Int(_) => reply_string(&e.value, out),
                    _ => out.null(),
                }
            }
            None => {
                stats.misses.add(1);
                out.null();
            }
        }
    }
}

/// Stores every pair of MSET / MSETNX.
fn store_pairs(ctx: &mut Ctx<'_>, args: &Args<'_>) {
    let clock = ctx.db.clock;
    for i in (1..args.len()).step_by(2) {
        let (key, value) = (args.get(i), args.get(i + 1));
        let (shard, h): (&mut Shard, u64) = ctx.db.shard(key);
        shard.put_str(h, key, value, Ttl::Clear, clock);
    }
}

pub(crate) fn mset(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    if args.len().is_multiple_of(2) {
        return wrong_arity(super::super::table::lookup(b"mset").expect("in the table"), out);
    }
    store_pairs(ctx, args);
    out.ok();
}

pub(crate) fn msetnx(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    if args.len().is_multiple_of(2) {
        return wrong_arity(super::super::table::lookup(b"msetnx").expect("in the table"), out);
    }
    let clock = ctx.db.clock;
    for i in (1..args.len()).step_by(2) {
        let key = args.get(i);
        let (shard, h) = ctx.db.shard(key);
        if shard.get(h, key, clock).is_some() {
            return out.int(0);
        }
    }
    store_pairs(ctx, args);
    out.int(1);
}

/// SETEX and PSETEX: SET with a relative deadline (`unit` seconds or ms).
fn set_with_deadline(ctx: &mut Ctx<'_>, args: &Args<'_>, unit: Unit, command: &str, out: &mut Reply<'_>) {
    let clock = ctx.db.clock;
    let Some(at) = deadline(unit, args.get(2), || clock.now_ms(), command, out) else {
        return;
    };
    let (key, value) = (args.get(1), args.get(3));
    let (shard, h) = ctx.db.shard(key);
    shard.put_str(h, key, value, Ttl::At(at), clock);
    out.ok();
}

pub(crate) fn setex(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    set_with_deadline(ctx, args, Unit::Seconds, "setex", out);
}

pub(crate) fn psetex(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    set_with_deadline(ctx, args, Unit::Millis, "psetex", out);
}

/// GETSET: SET ... GET, clearing any deadline.
pub(crate) fn getset(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let o = Options {
        get: true,
        ..Options::default()
    };
    set_conditional(ctx, args, &o, Ttl::Clear, out);
}

pub(crate) fn getrange(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let Some(start) = int_arg(args.get(2), out) else { return };
    let Some(end) = int_arg(args.get(3), out) else { return };
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    let Some(e) = shard.get(h, key, clock) else {
        return out.bulk(b"");
    };
    let mut buf = [0u8; 20];
    let Some(s) = string_bytes(&e.value, &mut buf) else {
        return out.wrong_type();
    };
    // Redis's getrangeCommand, step by step.
    if start < 0 && end < 0 && start > end {
        return out.bulk(b"");
    }
    let len = s.len() as i64;
    let start = if start < 0 { (len + start).max(0) } else { start };
    let end = if end < 0 { (len + end).max(0) } else { end.min(len - 1) };
    if start > end || len == 0 {
        return out.bulk(b"");
    }
    out.bulk(&s[start as usize..=end as usize]);
}

pub(crate) fn setrange(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let Some(offset) = int_arg(args.get(2), out) else {
        return;
    };
    if offset < 0 {
        return out.error(b"ERR offset is out of range");
    }
    let (key, value) = (args.get(1), args.get(3));
    let max = ctx.server.config.limits.max_bulk_len;
    let too_long = |out: &mut Reply<'_>| {
        let fits = (offset as u64)
            .checked_add(value.len() as u64)
            .is_some_and(|n| n <= max as u64);
        if !fits {
            out.error(b"ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        }
        !fits
    };
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    let Some(e) = shard.get(h, key, clock) else {
        if value.is_empty() {
            return out.int(0);
        }
        if too_long(out) {
            return;
        }
        let mut s = vec![0; offset as usize];
        s.extend_from_slice(value);
        let len = s.len();
        shard.insert_new(h, key, Value::Str(s), Ttl::Clear);
        return out.int(len as i64);
    };
    let mut buf = [0u8; 20];
    let Some(current_len) = string_bytes(&e.value, &mut buf).map(<[u8]>::len) else {
        return out.wrong_type();
    };
    if value.is_empty() {
        return out.int(current_len as i64);
    }
    if too_long(out) {
        return;
    }
    if let Value::Int(n) = e.value {
        e.value = Value::Str(n.to_string().into_bytes());
    }
    let Value::Str(s) = &mut e.value else {
        unreachable!("made a string above")
    };
    let (offset, end) = (offset as usize, offset as usize + value.len());
    if s.len() < end {
        s.resize(end, 0);
    }
    s[offset..end].copy_from_slice(value);
    let len = s.len();
    shard.touch(key);
    out.int(len as i64);
}
