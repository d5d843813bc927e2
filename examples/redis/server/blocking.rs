//! Clients blocked on list keys (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH).
//!
//! No thread ever waits. A client that blocks leaves a [`Block`] in the
//! queue of each of its keys (kept in the key's shard, so that a push
//! sees it under the lock it already holds) and stops reading commands;
//! its loop carries on with other connections. A command that makes one
//! of those keys a list marks it ready in its shard; once that command
//! (or EXEC) has released its locks, its own loop serves the clients
//! queued on the key, in the order they blocked, as Redis does: it locks
//! the key's shard (and a BLMOVE's destination) through [`Db::acquire`],
//! in the key's database (the one the client had selected), pops the
//! element for the client, leaves it in the client's `Block`, and wakes
//! the client's connection through its `ConnHandle`, on whatever loop it
//! lives. The client's loop then writes the reply and goes on with the
//! commands that arrived meanwhile. A timeout is a timer on the client's
//! own connection; a disconnect withdraws the block. The `Block`'s state
//! decides races: exactly one of served, timed out or gone wins.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use netreactor::{ConnHandle, TimerId};

use super::cmd::lists::{move_element, pop_one, End};
use super::keyspace::{Db, Want};
use super::reply::Reply;
use super::shard::Clock;
use super::stats::LoopStats;
use super::value::{Bytes, Value};
use super::Server;

/// One blocked command, shared by the queues of its keys.
#[derive(Debug)]
pub(crate) struct Block {
    handle: ConnHandle,
    /// The database of its keys (the client's, when it blocked).
    db: usize,
    /// The keys it waits on, each once.
    keys: Vec<Bytes>,
    /// The end it pops from.
    from: End,
    /// BLMOVE's destination and the end it pushes to.
    to: Option<(Bytes, End)>,
    state: Mutex<State>,
}

#[derive(Debug)]
enum State {
    Waiting,
    Served(Served),
    /// Timed out, or the client went away.
    Withdrawn,
}

/// What a served client is owed.
#[derive(Debug)]
enum Served {
    /// BLPOP / BRPOP: the key and the element.
    Popped(Bytes, Bytes),
    /// BLMOVE: the element moved.
    Moved(Bytes),
    /// BLMOVE whose destination turned out not to be a list.
    WrongType,
}

impl Block {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a blocked client keeps on its connection.
#[derive(Debug)]
pub(crate) struct Blocked {
    block: Arc<Block>,
    /// None: no timeout.
    deadline: Option<Instant>,
    /// The timer armed for the deadline (the token is the block's serial).
    timer: Option<TimerId>,
    serial: u64,
}

impl Blocked {
    /// The timer to arm, as (delay, token), if none is armed yet.
    pub(crate) fn timer_due(&self) -> Option<(std::time::Duration, u64)> {
        match (self.deadline, self.timer) {
            (Some(at), None) => Some((at.saturating_duration_since(Instant::now()), self.serial)),
            _ => None,
        }
    }

    pub(crate) fn timer_armed(&mut self, timer: TimerId) {
        self.timer = Some(timer);
    }

    /// The timer with `token` fired: true if it was this block's.
    pub(crate) fn timer_fired(&mut self, token: u64) -> bool {
        let mine = token == self.serial && self.timer.is_some();
        if mine {
            self.timer = None;
        }
        mine
    }

    /// The timer to cancel once the block ends.
    pub(crate) fn armed_timer(&self) -> Option<TimerId> {
        self.timer
    }
}

/// Blocks the client of `handle` on `keys` (their shards are locked by
/// the command): queues it behind those already waiting on each key.
pub(crate) fn block(
    db: &mut Db<'_>,
    handle: ConnHandle,
    keys: impl Iterator<Item = Bytes>,
    from: End,
    to: Option<(Bytes, End)>,
    deadline: Option<Instant>,
    serial: u64,
) -> Blocked {
    let mut unique: Vec<Bytes> = Vec::new();
    for key in keys {
        if !unique.contains(&key) {
            unique.push(key);
        }
    }
    let block = Arc::new(Block {
        handle,
        db: db.index,
        keys: unique,
        from,
        to,
        state: Mutex::new(State::Waiting),
    });
    for key in &block.keys {
        let (shard, h) = db.shard(key);
        shard.block_on(h, key, block.clone());
    }
    Blocked {
        block,
        deadline,
        timer: None,
        serial,
    }
}

/// Ends the block of a client if it was served or its deadline passed
/// (or at once when `gone`: the client disconnected), writing the reply
/// to `out` (unless gone) and taking the block out of its keys' queues.
/// Returns false while it still waits.
pub(crate) fn try_finish(
    server: &Server,
    blocked: &Blocked,
    stats: &LoopStats,
    gone: bool,
    out: &mut Reply<'_>,
) -> bool {
    let block = &blocked.block;
    {
        let mut state = block.state();
        let timed_out = blocked.deadline.is_some_and(|at| Instant::now() >= at) || server.draining();
        match &*state {
            State::Waiting if !(gone || timed_out) => return false,
            State::Waiting => {
                *state = State::Withdrawn;
                if !gone {
                    out.null_array();
                }
            }
            State::Served(_) if gone => {}
            State::Served(Served::Popped(key, element)) => {
                out.array(2);
                out.bulk(key);
                out.bulk(element);
            }
            State::Served(Served::Moved(element)) => out.bulk(element),
            State::Served(Served::WrongType) => out.wrong_type(),
            State::Withdrawn => {}
        }
    }
    let clock = Clock::default();
    let mut db = Db::new(&server.keyspace, stats, &clock, block.db);
    let shards = block.keys.iter().map(|key| db.shard_index(block.db, key)).collect();
    db.acquire(Want::Set(shards));
    for key in &block.keys {
        db.shard(key).0.unblock(key, block);
    }
    db.release();
    true
}

/// Serves the clients blocked on the keys that the last command (which
/// holds no lock any more) made ready, one client at a time, each under
/// the locks of its key and destination, in the key's database.
pub(crate) fn serve_ready(db: &mut Db<'_>) {
    let selected = db.index;
    loop {
        // Serving a BLMOVE can make its destination ready in turn.
        let ready = db.take_ready();
        if ready.is_empty() {
            break;
        }
        for (index, key) in ready {
            db.index = index;
            while serve_first(db, &key) {}
        }
    }
    db.index = selected;
}

/// Serves the first client blocked on `key` (in the selected database),
/// if the key holds a list. Returns false when there is nothing more to
/// do for the key.
fn serve_first(db: &mut Db<'_>, key: &[u8]) -> bool {
    let index = db.index;
    let at = db.shard_index(index, key);
    db.acquire(Want::One(at));
    let Some(block) = db.shard(key).0.first_blocked(key).cloned() else {
        db.release();
        return false;
    };
    if let Some((dest, _)) = &block.to {
        let dest_at = db.shard_index(index, dest);
        if dest_at != at {
            // Both shards, in ascending order: let go of the one held.
            db.release();
            db.acquire(Want::Set(vec![at, dest_at]));
            let still_first = db
                .shard(key)
                .0
                .first_blocked(key)
                .is_some_and(|f| Arc::ptr_eq(f, &block));
            if !still_first {
                db.release();
                return true;
            }
        }
    }
    let more = serve(db, key, &block);
    db.release();
    more
}

/// Hands the client of `block` an element of the list at `key` (both
/// locked); false if there is no list there.
fn serve(db: &mut Db<'_>, key: &[u8], block: &Arc<Block>) -> bool {
    let clock = db.clock;
    let (shard, h) = db.shard(key);
    if !matches!(shard.get(h, key, clock).map(|e| &e.value), Some(Value::List(_))) {
        return false;
    }
    shard.unblock(key, block);
    let mut state = block.state();
    if !matches!(*state, State::Waiting) {
        return true;
    }
    let served = match &block.to {
        None => Served::Popped(key.into(), pop_one(db, key, block.from).expect("a list is never empty")),
        Some((dest, to_end)) => {
            let (shard, h) = db.shard(dest);
            match shard.get(h, dest, clock).map(|e| &e.value) {
                None | Some(Value::List(_)) => {
                    let element = move_element(db, key, dest, block.from, *to_end);
                    Served::Moved(element.expect("a list is never empty"))
                }
                Some(_) => Served::WrongType,
            }
        }
    };
    *state = State::Served(served);
    drop(state);
    // Gone already: its on_close withdraws the block and drops the element.
    let _ = block.handle.wake();
    true
}
