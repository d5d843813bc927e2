//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! EXEC locks every shard its queued commands (and the watched keys)
//! touch, in ascending order, before running the first of them, and
//! releases them after the last: no other client sees a state in between,
//! which is what Redis's single thread gives for free. The queued commands
//! then run holding those locks, so they take none themselves
//! ([`Db::acquire`](super::super::keyspace::Db::acquire) checks that the
//! set covers what each wants).

use std::sync::atomic::Ordering;

use super::super::client::{Client, Multi, Watched};
use super::super::exec::{self, db_index, wants, watched_shards, Args, Ctx};
use super::super::keyspace::{Db, Want, SHARDS};
use super::super::reply::Reply;
use super::super::table::Lock;

pub(crate) fn multi(ctx: &mut Ctx<'_>, _args: &Args<'_>, out: &mut Reply<'_>) {
    if ctx.client.multi.is_some() {
        return out.error(b"ERR MULTI calls can not be nested");
    }
    ctx.client.multi = Some(Box::default());
    ctx.client.info.multi.store(0, Ordering::Relaxed);
    out.ok();
}

pub(crate) fn discard(ctx: &mut Ctx<'_>, _args: &Args<'_>, out: &mut Reply<'_>) {
    if ctx.client.multi.take().is_none() {
        return out.error(b"ERR DISCARD without MULTI");
    }
    ctx.client.info.multi.store(-1, Ordering::Relaxed);
    unwatch_all(&mut ctx.db, ctx.client);
    out.ok();
}

pub(crate) fn exec(ctx: &mut Ctx<'_>, _args: &Args<'_>, out: &mut Reply<'_>) {
    let Some(multi) = ctx.client.multi.take() else {
        return out.error(b"ERR EXEC without MULTI");
    };
    ctx.client.info.multi.store(-1, Ordering::Relaxed);
    if multi.failed {
        unwatch_all(&mut ctx.db, ctx.client);
        return out.error(b"EXECABORT Transaction discarded because of previous errors.");
    }
    let want = transaction_wants(ctx, &multi);
    let locked_here = ctx.db.acquire(want);
    if watched_key_changed(ctx) {
        out.null_array();
    } else {
        out.array(multi.queued.len());
        ctx.client.in_exec = true;
        for q in &multi.queued {
            let args = Args::new(&q.data, &q.spans);
            exec::run(ctx, q.spec, &args, out);
        }
        ctx.client.in_exec = false;
    }
    unwatch_all(&mut ctx.db, ctx.client);
    if locked_here {
        ctx.db.release();
    }
}

/// EXEC with arguments, inside MULTI or not: the transaction (if any) is
/// discarded and its watches dropped, with Redis's EXECABORT text.
pub(crate) fn exec_rejected(db: &mut Db<'_>, client: &mut Client, out: &mut Reply<'_>) {
    client.multi = None;
    client.info.multi.store(-1, Ordering::Relaxed);
    unwatch_all(db, client);
    out.error(b"EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command");
}

/// What the transaction needs locked: the shards of the watched keys and
/// whatever each queued command wants, in the database a queued SELECT
/// will have chosen by the time it runs; every shard if one of them walks
/// the keyspace.
fn transaction_wants(ctx: &mut Ctx<'_>, multi: &Multi) -> Want {
    let mut set = Vec::new();
    let mut everything = watched_shards(&ctx.db, ctx.client).add_to(&mut set);
    let mut index = ctx.db.index;
    let mut selected = Vec::new();
    for q in &multi.queued {
        let args = Args::new(&q.data, &q.spans);
        everything |= q.spec.lock == Lock::EachInTurn;
        everything |= wants(&ctx.db, ctx.client, q.spec, &args, index).add_to(&mut set);
        if q.spec.name == "select" {
            index = db_index(args.get(1)).unwrap_or(index);
            selected.push(index);
        }
    }
    if !everything {
        return Want::Set(set);
    }
    // Every shard: first make each database the transaction names, so
    // that "every database made" includes them.
    for db in set.into_iter().map(|g| g / SHARDS).chain(selected) {
        ctx.server.keyspace.make(db);
    }
    Want::Everything
}

/// True if a watched key was written (or expired) since WATCH.
fn watched_key_changed(ctx: &mut Ctx<'_>) -> bool {
    let clock = ctx.db.clock;
    for w in &ctx.client.watched {
        let (shard, h) = ctx.db.shard_in(w.db, &w.key);
        // A key past its deadline is deleted now, which counts as a change.
        shard.get(h, &w.key, clock);
        if shard.watch_version(&w.key) != w.version {
            return true;
        }
    }
    false
}

pub(crate) fn watch(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    if ctx.client.multi.is_some() {
        return out.error(b"ERR WATCH inside MULTI is not allowed");
    }
    let clock = ctx.db.clock;
    let db = ctx.db.index;
    for key in args.from(1) {
        if ctx.client.watched.iter().any(|w| w.db == db && &*w.key == key) {
            continue;
        }
        let (shard, h) = ctx.db.shard(key);
        shard.get(h, key, clock);
        let version = shard.watch(h, key);
        ctx.client.watched.push(Watched {
            db,
            key: key.into(),
            version,
        });
    }
    out.ok();
}

pub(crate) fn unwatch(ctx: &mut Ctx<'_>, _args: &Args<'_>, out: &mut Reply<'_>) {
    unwatch_all(&mut ctx.db, ctx.client);
    out.ok();
}

/// Forgets every key `client` watches, through `db`: with the locks it
/// holds (inside EXEC, which holds the watched keys' shards), or taking
/// them.
pub(crate) fn unwatch_all(db: &mut Db<'_>, client: &mut Client) {
    if client.watched.is_empty() {
        return;
    }
    let locked_here = db.acquire(watched_shards(db, client));
    for w in client.watched.drain(..) {
        db.shard_in(w.db, &w.key).0.unwatch(&w.key);
    }
    if locked_here {
        db.release();
    }
}
