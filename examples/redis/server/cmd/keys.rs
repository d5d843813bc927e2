//! Commands on keys of any type: DEL, EXISTS, TYPE, expiry, KEYS, SCAN,
//! RENAME, COPY, OBJECT.

use super::super::exec::{Args, Ctx};
use super::super::glob;
use super::super::keyspace::{scan_order, shard_of_scan, SHARDS, SHARD_BITS};
use super::super::reply::Reply;
use super::super::shard::Ttl;
use super::super::value::Value;
use super::connection::help;
use super::int_arg;

fn delete(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let clock = ctx.db.clock;
    let mut removed = 0;
    for key in args.from(1) {
        let (shard, h) = ctx.db.shard(key);
        removed += i64::from(shard.remove(h, key, clock).is_some());
    }
    out.int(removed);
}

pub(crate) fn del(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    delete(ctx, args, out);
}

/// As DEL: values are freed at once (they are freed off the loop in
/// Redis; here, a big one costs its loop that time).
pub(crate) fn unlink(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    delete(ctx, args, out);
}

pub(crate) fn exists(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let clock = ctx.db.clock;
    let mut found = 0;
    for key in args.from(1) {
        let (shard, h) = ctx.db.shard(key);
        found += i64::from(shard.get(h, key, clock).is_some());
    }
    out.int(found);
}

pub(crate) fn type_(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    let name = shard.get(h, key, clock).map_or("none", |e| e.value.type_name());
    out.status(name.as_bytes());
}

/// EXPIRE and friends: `unit_ms` 1000 for seconds; `relative` from now.
fn expire_generic(
    ctx: &mut Ctx<'_>,
    args: &Args<'_>,
    unit_ms: i64,
    relative: bool,
    command: &str,
    out: &mut Reply<'_>,
) {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in args.from(3) {
        match opt.to_ascii_uppercase().as_slice() {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"GT" => gt = true,
            b"LT" => lt = true,
            _ => {
                let mut m = b"ERR Unsupported option ".to_vec();
                m.extend_from_slice(opt);
                return out.error(&m);
            }
        }
    }
    if nx && (xx || gt || lt) {
        return out.error(b"ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return out.error(b"ERR GT and LT options at the same time are not compatible");
    }
    let Some(when) = int_arg(args.get(2), out) else { return };
    let invalid = |out: &mut Reply<'_>| out.error_str(&format!("ERR invalid expire time in '{command}' command"));
    let Some(when) = when.checked_mul(unit_ms) else {
        return invalid(out);
    };
    let clock = ctx.db.clock;
    let base = if relative { clock.now_ms() as i64 } else { 0 };
    let Some(when) = when.checked_add(base) else {
        return invalid(out);
    };
    let key = args.get(1);
    let (shard, h) = ctx.db.shard(key);
    let Some(e) = shard.get(h, key, clock) else {
        return out.int(0);
    };
    let current = e.expire_at();
    let refused = (nx && current != 0)
        || (xx && current == 0)
        || (gt && (current == 0 || when <= current as i64))
        || (lt && current != 0 && when >= current as i64);
    if refused {
        return out.int(0);
    }
    if when <= clock.now_ms() as i64 {
        shard.remove(h, key, clock);
    } else {
        shard.set_expire(h, key, when as u64, clock);
    }
    out.int(1);
}

pub(crate) fn expire(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    expire_generic(ctx, args, 1000, true, "expire", out);
}

pub(crate) fn pexpire(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    expire_generic(ctx, args, 1, true, "pexpire", out);
}

pub(crate) fn expireat(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    expire_generic(ctx, args, 1000, false, "expireat", out);
}

pub(crate) fn pexpireat(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    expire_generic(ctx, args, 1, false, "pexpireat", out);
}

/// MOVE key db: the key, with its deadline, to database `db`, unless it
/// is there already (0).
pub(crate) fn move_(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let Some(dst) = super::db_arg(args.get(2), out, None) else {
        return;
    };
    if dst == ctx.db.index {
        return out.error(b"ERR source and destination objects are the same");
    }
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (src, h) = ctx.db.shard(key);
    if src.get(h, key, clock).is_none() {
        return out.int(0);
    }
    if ctx.db.shard_in(dst, key).0.get(h, key, clock).is_some() {
        return out.int(0);
    }
    let entry = ctx.db.shard(key).0.remove(h, key, clock).expect("found live above");
    let ttl = Ttl::At(entry.expire_at());
    ctx.db.shard_in(dst, key).0.insert_new(h, key, entry.value, ttl);
    out.int(1);
}

pub(crate) fn persist(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    let had_deadline = shard.get(h, key, clock).is_some_and(|e| e.expire_at() != 0);
    if had_deadline {
        shard.set_expire(h, key, 0, clock);
    }
    out.int(i64::from(had_deadline));
}

fn ttl_generic(ctx: &mut Ctx<'_>, args: &Args<'_>, in_ms: bool, out: &mut Reply<'_>) {
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    let Some(e) = shard.get(h, key, clock) else {
        return out.int(-2);
    };
    if e.expire_at() == 0 {
        return out.int(-1);
    }
    let left = e.expire_at().saturating_sub(clock.now_ms()) as i64;
    out.int(if in_ms { left } else { (left + 500) / 1000 });
}

pub(crate) fn ttl(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    ttl_generic(ctx, args, false, out);
}

pub(crate) fn pttl(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    ttl_generic(ctx, args, true, out);
}

/// KEYS runs with every shard locked: it sees one instant, as in Redis
/// (and, as there, it is O(keys): not for production traffic).
pub(crate) fn keys(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let pattern = args.get(1);
    let clock = ctx.db.clock;
    let proto = out.proto;
    let mut body = Vec::new();
    let mut n = 0;
    {
        let mut listed = Reply::new(&mut body, proto);
        if glob::is_literal(pattern) {
            let (shard, h) = ctx.db.shard(pattern);
            if shard.get(h, pattern, clock).is_some() {
                listed.bulk(pattern);
                n = 1;
            }
        } else {
            ctx.db.each_shard(0, |_, shard| {
                for e in shard.entries() {
                    if !e.is_expired(clock) && glob::matches(pattern, e.key(), false) {
                        listed.bulk(e.key());
                        n += 1;
                    }
                }
                true
            });
        }
    }
    out.array(n);
    out.raw(&body);
}

/// SCAN's options.
struct ScanOptions<'a> {
    count: usize,
    pattern: Option<&'a [u8]>,
    type_name: Option<Vec<u8>>,
}

fn scan_options<'a>(args: &Args<'a>, out: &mut Reply<'_>) -> Option<ScanOptions<'a>> {
    let mut o = ScanOptions {
        count: 10,
        pattern: None,
        type_name: None,
    };
    let mut i = 2;
    while i < args.len() {
        if i + 1 >= args.len() {
            out.syntax_error();
            return None;
        }
        let value = args.get(i + 1);
        match args.get(i).to_ascii_uppercase().as_slice() {
            b"COUNT" => {
                let n = int_arg(value, out)?;
                if n < 1 {
                    out.syntax_error();
                    return None;
                }
                o.count = n as usize;
            }
            b"MATCH" => o.pattern = Some(value),
            b"TYPE" => o.type_name = Some(value.to_ascii_lowercase()),
            _ => {
                out.syntax_error();
                return None;
            }
        }
        i += 2;
    }
    Some(o)
}

/// SCAN walks keys in the order of their rotated hash (shard first, see
/// `keyspace`); the cursor is the next position to visit, so every key
/// present for the whole iteration is returned exactly once, even while
/// shards grow. One call looks at one shard at a time, holding only its
/// lock, and costs O(keys in the shards it visits).
pub(crate) fn scan(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let Some(cursor) = std::str::from_utf8(args.get(1))
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return out.error(b"ERR invalid cursor");
    };
    let Some(o) = scan_options(args, out) else { return };
    let clock = ctx.db.clock;
    let mut picked: Vec<(u64, Vec<u8>, &'static str)> = Vec::new();
    let mut next = 0;
    let first = shard_of_scan(cursor);
    ctx.db.each_shard(first, |i, shard| {
        let from = if i == first {
            cursor
        } else {
            (i as u64) << (64 - SHARD_BITS)
        };
        let mut here: Vec<(u64, &[u8], &'static str)> = shard
            .entries()
            .map(|e| (scan_order(e.hash()), e))
            .filter(|(pos, e)| *pos >= from && !e.is_expired(clock))
            .map(|(pos, e)| (pos, e.key(), e.value.type_name()))
            .collect();
        here.sort_unstable_by_key(|(pos, ..)| *pos);
        let room = o.count.saturating_sub(picked.len());
        // Never split keys that share a position between two calls.
        let mut take = room.min(here.len());
        while take < here.len() && take > 0 && here[take].0 == here[take - 1].0 {
            take += 1;
        }
        picked.extend(here[..take].iter().map(|(pos, k, t)| (*pos, k.to_vec(), *t)));
        if take < here.len() {
            next = here[take].0;
            return false;
        }
        if picked.len() >= o.count {
            next = if i + 1 < SHARDS {
                ((i + 1) as u64) << (64 - SHARD_BITS)
            } else {
                0
            };
            return false;
        }
        true
    });
    let keys: Vec<&[u8]> = picked
        .iter()
        .filter(|(_, k, _)| o.pattern.is_none_or(|p| glob::matches(p, k, false)))
        .filter(|(_, _, t)| o.type_name.as_deref().is_none_or(|want| want == t.as_bytes()))
        .map(|(_, k, _)| k.as_slice())
        .collect();
    out.array(2);
    out.bulk(next.to_string().as_bytes());
    out.array(keys.len());
    for k in keys {
        out.bulk(k);
    }
}

pub(crate) fn expiretime(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    deadline_of(ctx, args, false, out);
}

pub(crate) fn pexpiretime(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    deadline_of(ctx, args, true, out);
}

/// EXPIRETIME and PEXPIRETIME: the key's deadline as unix time (seconds
/// rounded as Redis rounds them), -1 for none, -2 for no key.
fn deadline_of(ctx: &mut Ctx<'_>, args: &Args<'_>, in_ms: bool, out: &mut Reply<'_>) {
    let key = args.get(1);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    match shard.get(h, key, clock).map(|e| e.expire_at()) {
        None => out.int(-2),
        Some(0) => out.int(-1),
        Some(at) if in_ms => out.int(at as i64),
        Some(at) => out.int((at as i64 + 500) / 1000),
    }
}

/// RENAME (`nx` false) and RENAMENX: the value moves with its deadline.
fn rename_generic(ctx: &mut Ctx<'_>, args: &Args<'_>, nx: bool, out: &mut Reply<'_>) {
    let (from, to) = (args.get(1), args.get(2));
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(from);
    if shard.get(h, from, clock).is_none() {
        return out.error(b"ERR no such key");
    }
    if from == to {
        return if nx { out.int(0) } else { out.ok() };
    }
    let (dest, h2) = ctx.db.shard(to);
    if nx && dest.get(h2, to, clock).is_some() {
        return out.int(0);
    }
    let (shard, h) = ctx.db.shard(from);
    let entry = shard.remove(h, from, clock).expect("looked up above");
    let expire_at = entry.expire_at();
    store_new(ctx, to, entry.value, expire_at);
    if nx {
        out.int(1);
    } else {
        out.ok();
    }
}

/// Stores `value` under `key` as a new key (replacing any), with the
/// deadline `expire_at` (0: none).
fn store_new(ctx: &mut Ctx<'_>, key: &[u8], value: Value, expire_at: u64) {
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    shard.remove(h, key, clock);
    let ttl = if expire_at == 0 { Ttl::Clear } else { Ttl::At(expire_at) };
    shard.insert_new(h, key, value, ttl);
}

pub(crate) fn rename(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    rename_generic(ctx, args, false, out);
}

pub(crate) fn renamenx(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    rename_generic(ctx, args, true, out);
}

/// COPY source destination [DB db] [REPLACE], checked in the order of
/// Redis's `copyCommand`; the copy keeps the deadline.
pub(crate) fn copy(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let mut replace = false;
    let mut dst = ctx.db.index;
    let mut i = 3;
    while i < args.len() {
        let opt = args.get(i);
        if opt.eq_ignore_ascii_case(b"REPLACE") {
            replace = true;
        } else if opt.eq_ignore_ascii_case(b"DB") && i + 1 < args.len() {
            let Some(db) = super::db_arg(args.get(i + 1), out, None) else {
                return;
            };
            dst = db;
            i += 1;
        } else {
            return out.syntax_error();
        }
        i += 1;
    }
    let (from, to) = (args.get(1), args.get(2));
    if dst == ctx.db.index && from == to {
        return out.error(b"ERR source and destination objects are the same");
    }
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(from);
    let Some(e) = shard.get(h, from, clock) else {
        return out.int(0);
    };
    let (value, expire_at) = (e.value.clone(), e.expire_at());
    let (dest, h2) = ctx.db.shard_in(dst, to);
    if dest.get(h2, to, clock).is_some() {
        if !replace {
            return out.int(0);
        }
        dest.remove(h2, to, clock);
    }
    let ttl = if expire_at == 0 { Ttl::Clear } else { Ttl::At(expire_at) };
    dest.insert_new(h2, to, value, ttl);
    out.int(1);
}

pub(crate) fn object_encoding(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let key = args.get(2);
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(key);
    match shard.get(h, key, clock) {
        Some(e) => out.bulk(e.value.encoding().as_bytes()),
        None => out.null(),
    }
}

pub(crate) fn object_help(_ctx: &mut Ctx<'_>, _args: &Args<'_>, out: &mut Reply<'_>) {
    help(
        out,
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
        ],
    );
}
