//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! EXEC locks every shard its queued commands (and the watched keys)
//! touch, in ascending order, before running the first of them, and
//! releases them after the last: no other client sees a state in between,
//! which is what Redis's single thread gives for free.

use std::sync::atomic::Ordering;

use super::super::client::{Client, Multi, Watched};
use super::super::exec::{self, key_positions, Args, Ctx};
use super::super::keyspace::shard_of;
use super::super::reply::Reply;
use super::super::stats::LoopStats;
use super::super::table::Lock;
use super::super::Server;

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
    unwatch_all(ctx.server, ctx.client, ctx.db.stats());
    out.ok();
}

pub(crate) fn exec(ctx: &mut Ctx<'_>, _args: &Args<'_>, out: &mut Reply<'_>) {
    let Some(multi) = ctx.client.multi.take() else {
        return out.error(b"ERR EXEC without MULTI");
    };
    ctx.client.info.multi.store(-1, Ordering::Relaxed);
    if multi.failed {
        unwatch_all(ctx.server, ctx.client, ctx.db.stats());
        return out.error(b"EXECABORT Transaction discarded because of previous errors.");
    }
    lock_transaction(ctx, &multi);
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
    ctx.db.unlock();
    unwatch_all(ctx.server, ctx.client, ctx.db.stats());
}

/// Locks what the transaction needs: every shard if one of its commands
/// needs them all (or walks them), else the shards of its keys and of the
/// watched keys.
fn lock_transaction(ctx: &mut Ctx<'_>, multi: &Multi) {
    let needs_all = multi
        .queued
        .iter()
        .any(|q| matches!(q.spec.lock, Lock::All | Lock::EachInTurn));
    if needs_all {
        return ctx.db.lock_all();
    }
    let mut shards: Vec<usize> = ctx
        .client
        .watched
        .iter()
        .map(|w| shard_of(ctx.db.hash(&w.key)))
        .collect();
    for q in &multi.queued {
        let args = Args::new(&q.data, &q.spans);
        shards.extend(key_positions(q.spec, args.len()).map(|i| shard_of(ctx.db.hash(args.get(i)))));
    }
    ctx.db.lock_shards(shards);
}

/// True if a watched key was written (or expired) since WATCH.
fn watched_key_changed(ctx: &mut Ctx<'_>) -> bool {
    let clock = ctx.db.clock;
    for w in &ctx.client.watched {
        let (shard, h) = ctx.db.shard(&w.key);
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
    for key in args.from(1) {
        if ctx.client.watched.iter().any(|w| &*w.key == key) {
            continue;
        }
        let (shard, h) = ctx.db.shard(key);
        shard.get(h, key, clock);
        let version = shard.watch(key);
        ctx.client.watched.push(Watched {
            key: key.into(),
            version,
        });
    }
    out.ok();
}

pub(crate) fn unwatch(ctx: &mut Ctx<'_>, _args: &Args<'_>, out: &mut Reply<'_>) {
    unwatch_all(ctx.server, ctx.client, ctx.db.stats());
    out.ok();
}

/// Forgets every key `client` watches (each shard locked in turn; the
/// caller holds no lock).
pub(crate) fn unwatch_all(server: &Server, client: &mut Client, stats: &LoopStats) {
    for w in client.watched.drain(..) {
        let i = shard_of(server.keyspace.hash(&w.key));
        server.keyspace.lock(i, stats).unwatch(&w.key);
    }
}
