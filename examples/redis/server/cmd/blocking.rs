//! The blocking list commands: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH. With
//! an element at hand they answer at once, as their plain forms; inside
//! MULTI they never block (as in Redis); otherwise the client blocks
//! (see `blocking`), its reply written when it is served or times out.

use std::time::{Duration, Instant};

use super::super::blocking;
use super::super::exec::{Args, Ctx};
use super::super::long_double::strtod;
use super::super::reply::Reply;
use super::super::value::Value;
use super::lists::{list_or_absent, move_element, pop_one, End};

/// A timeout in seconds (fractions allowed, hexadecimal too, no blanks)
/// as Redis's `string2ld` reads it, within a double's range: None for
/// "forever" (0, or more than this process can count), or Err after
/// replying the error.
fn timeout_arg(arg: &[u8], out: &mut Reply<'_>) -> Result<Option<Instant>, ()> {
    let Some(seconds) = strtod(arg) else {
        out.error(b"ERR timeout is not a float or out of range");
        return Err(());
    };
    // Redis: (long long)(seconds * 1000), where a value out of range
    // (infinity included) converts to LLONG_MIN on x86-64: negative.
    let ms = seconds * 1000.0;
    let ms = if ms.is_finite() && ms.abs() < 9.223_372_036_854_775e18 {
        ms.trunc() as i64
    } else {
        i64::MIN
    };
    if ms < 0 {
        out.error(b"ERR timeout is negative");
        return Err(());
    }
    Ok((ms > 0)
        .then(|| Instant::now().checked_add(Duration::from_millis(ms as u64)))
        .flatten())
}

/// BLPOP and BRPOP.
fn bpop(ctx: &mut Ctx<'_>, args: &Args<'_>, from: End, out: &mut Reply<'_>) {
    let Ok(deadline) = timeout_arg(args.get(args.len() - 1), out) else {
        return;
    };
    let keys = 1..args.len() - 1;
    let clock = ctx.db.clock;
    for key in keys.clone().map(|i| args.get(i)) {
        let (shard, h) = ctx.db.shard(key);
        match shard.get(h, key, clock).map(|e| &e.value) {
            None => {}
            Some(Value::List(_)) => {
                let element = pop_one(&mut ctx.db, key, from).expect("a list is never empty");
                out.array(2);
                out.bulk(key);
                return out.bulk(&element);
            }
            Some(_) => return out.wrong_type(),
        }
    }
    if ctx.client.in_exec {
        return out.null_array();
    }
    block(ctx, keys.map(|i| args.get(i)), from, None, deadline);
}

/// Blocks the client (see `blocking::block`).
fn block<'k>(
    ctx: &mut Ctx<'_>,
    keys: impl Iterator<Item = &'k [u8]>,
    from: End,
    to: Option<(&[u8], End)>,
    deadline: Option<Instant>,
) {
    ctx.client.block_serial += 1;
    let blocked = blocking::block(
        &mut ctx.db,
        ctx.client.handle.clone(),
        keys.map(Into::into),
        from,
        to.map(|(key, end)| (key.into(), end)),
        deadline,
        ctx.client.block_serial,
    );
    ctx.client.blocked = Some(Box::new(blocked));
    ctx.client
        .info
        .blocked
        .store(true, std::sync::atomic::Ordering::Relaxed);
    ctx.server
        .blocked_clients
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

pub(crate) fn blpop(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    bpop(ctx, args, End::Left, out);
}

pub(crate) fn brpop(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    bpop(ctx, args, End::Right, out);
}

/// BLMOVE and BRPOPLPUSH, the timeout at `args[timeout_at]`.
fn bmove(ctx: &mut Ctx<'_>, args: &Args<'_>, from_end: End, to_end: End, timeout_at: usize, out: &mut Reply<'_>) {
    let Ok(deadline) = timeout_arg(args.get(timeout_at), out) else {
        return;
    };
    let (from, to) = (args.get(1), args.get(2));
    let clock = ctx.db.clock;
    let (shard, h) = ctx.db.shard(from);
    match shard.get(h, from, clock).map(|e| &e.value) {
        None => {}
        Some(Value::List(_)) => {
            if list_or_absent(ctx, to, out) {
                let element = move_element(&mut ctx.db, from, to, from_end, to_end);
                out.bulk(&element.expect("a list is never empty"));
            }
            return;
        }
        Some(_) => return out.wrong_type(),
    }
    if ctx.client.in_exec {
        return out.null();
    }
    block(ctx, std::iter::once(from), from_end, Some((to, to_end)), deadline);
}

pub(crate) fn blmove(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let (Some(from_end), Some(to_end)) = (End::parse(args.get(3)), End::parse(args.get(4))) else {
        return out.syntax_error();
    };
    bmove(ctx, args, from_end, to_end, 5, out);
}

pub(crate) fn brpoplpush(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    bmove(ctx, args, End::Right, End::Left, 3, out);
}
