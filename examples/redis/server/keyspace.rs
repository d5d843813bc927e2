//! The keyspace: [`SHARDS`] shards, each behind its own mutex, so event
//! loops working on different keys rarely meet on a lock; and [`Db`], the
//! view of the keyspace one command (or one EXEC) runs against, holding
//! exactly the shard locks it needs.
//!
//! A key's shard comes from bits 40..50 of its 64-bit hash (seeded
//! foldhash). hashbrown uses the low bits for the bucket and the top seven
//! as tags, so the shard bits leave both alone. Rotated left by 14, the
//! hash puts the shard bits on top: SCAN walks keys in that order, and its
//! cursor is simply the next rotated hash to visit.
//!
//! Deadlock freedom: a command that needs several shards locks them all
//! before it starts, in ascending shard order; nothing ever waits for a
//! lock while holding a higher one.

use std::hash::BuildHasher;
use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Instant;

use hashbrown::DefaultHashBuilder;

use super::shard::{Clock, Shard};
use super::stats::LoopStats;
use super::value::Bytes;

/// log2 of the shard count.
pub(crate) const SHARD_BITS: u32 = 10;
/// Shards in the keyspace.
pub(crate) const SHARDS: usize = 1 << SHARD_BITS;
const SHARD_SHIFT: u32 = 40;
/// Rotation that moves the shard bits to the top (SCAN's order).
const SCAN_ROTATION: u32 = 64 - SHARD_SHIFT - SHARD_BITS;

/// Every key, in shards.
#[derive(Debug)]
pub(crate) struct Keyspace {
    shards: Box<[Mutex<Shard>]>,
    hasher: DefaultHashBuilder,
}

impl Default for Keyspace {
    fn default() -> Self {
        Keyspace {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: DefaultHashBuilder::default(),
        }
    }
}

/// The shard a hash belongs to.
#[inline]
pub(crate) fn shard_of(h: u64) -> usize {
    ((h >> SHARD_SHIFT) as usize) & (SHARDS - 1)
}

/// A hash's place in SCAN order (shard first).
#[inline]
pub(crate) fn scan_order(h: u64) -> u64 {
    h.rotate_left(SCAN_ROTATION)
}

/// The shard of a SCAN cursor.
pub(crate) fn shard_of_scan(cursor: u64) -> usize {
    (cursor >> (64 - SHARD_BITS)) as usize
}

impl Keyspace {
    #[inline]
    pub(crate) fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Locks shard `i`, counting the acquisition (and any wait) in `stats`.
    pub(crate) fn lock<'a>(&'a self, i: usize, stats: &'a LoopStats) -> ShardGuard<'a> {
        let (guard, waited) = match self.shards[i].try_lock() {
            Ok(g) => (g, None),
            Err(TryLockError::WouldBlock) => {
                let t0 = Instant::now();
                let g = self.shards[i].lock().unwrap_or_else(|e| e.into_inner());
                (g, Some(t0.elapsed()))
            }
            // A panic under the lock left the shard as it was at the panic;
            // every shard operation keeps it consistent, so go on.
            Err(TryLockError::Poisoned(e)) => (e.into_inner(), None),
        };
        let sample = stats.acquired(waited).then(|| (Instant::now(), stats));
        ShardGuard { guard, sample }
    }
}

/// A held shard lock; one in [`HOLD_SAMPLE_EVERY`](super::stats::HOLD_SAMPLE_EVERY)
/// times how long it is held.
pub(crate) struct ShardGuard<'a> {
    guard: MutexGuard<'a, Shard>,
    sample: Option<(Instant, &'a LoopStats)>,
}

impl Drop for ShardGuard<'_> {
    fn drop(&mut self) {
        if let Some((since, stats)) = self.sample {
            stats.record_hold(since);
        }
    }
}

impl Deref for ShardGuard<'_> {
    type Target = Shard;
    fn deref(&self) -> &Shard {
        &self.guard
    }
}

impl DerefMut for ShardGuard<'_> {
    fn deref_mut(&mut self) -> &mut Shard {
        &mut self.guard
    }
}

/// Which shard locks a [`Db`] holds.
enum Held<'a> {
    /// None: the command locks shards one at a time itself
    /// ([`Db::each_shard`]), or touches no key.
    Nothing,
    One(usize, ShardGuard<'a>),
    /// Several, in ascending shard order.
    Several(Vec<(usize, ShardGuard<'a>)>),
    /// All of them, indexed by shard.
    All(Vec<ShardGuard<'a>>),
}

/// The keyspace as one command (or one EXEC) sees it: the shards it needs,
/// locked before it starts and released when it ends.
pub(crate) struct Db<'a> {
    ks: &'a Keyspace,
    stats: &'a LoopStats,
    held: Held<'a>,
    pub(crate) clock: &'a Clock,
    /// Keys that became lists while clients were blocked on them, taken
    /// from the shards as their locks are released; served after the
    /// command (see `blocking`).
    ready: Vec<(u64, Bytes)>,
}

impl<'a> Db<'a> {
    /// A view holding no lock.
    pub(crate) fn unlocked(ks: &'a Keyspace, stats: &'a LoopStats, clock: &'a Clock) -> Db<'a> {
        Db {
            ks,
            stats,
            held: Held::Nothing,
            clock,
            ready: Vec::new(),
        }
    }

    /// Locks the shards of `shards` (any order, duplicates allowed).
    pub(crate) fn lock_shards(&mut self, mut shards: Vec<usize>) {
        debug_assert!(matches!(self.held, Held::Nothing));
        shards.sort_unstable();
        shards.dedup();
        self.held = match shards.as_slice() {
            [] => Held::Nothing,
            [one] => Held::One(*one, self.ks.lock(*one, self.stats)),
            _ if shards.len() == SHARDS => return self.lock_all(),
            _ => Held::Several(shards.iter().map(|&i| (i, self.ks.lock(i, self.stats))).collect()),
        };
    }

    /// Locks the shard of `key`.
    #[inline]
    pub(crate) fn lock_key(&mut self, key: &[u8]) {
        debug_assert!(matches!(self.held, Held::Nothing));
        let i = shard_of(self.ks.hash(key));
        self.held = Held::One(i, self.ks.lock(i, self.stats));
    }

    /// Locks every shard (commands that must see the keyspace at one instant).
    pub(crate) fn lock_all(&mut self) {
        debug_assert!(matches!(self.held, Held::Nothing));
        self.held = Held::All((0..SHARDS).map(|i| self.ks.lock(i, self.stats)).collect());
    }

    pub(crate) fn hash(&self, key: &[u8]) -> u64 {
        self.ks.hash(key)
    }

    pub(crate) fn holds_locks(&self) -> bool {
        !matches!(self.held, Held::Nothing)
    }

    /// Releases every lock held, keeping the keys the shards marked ready.
    pub(crate) fn unlock(&mut self) {
        let ready = &mut self.ready;
        match &mut self.held {
            Held::Nothing => {}
            Held::One(_, g) => g.take_ready(ready),
            Held::Several(v) => v.iter_mut().for_each(|(_, g)| g.take_ready(ready)),
            Held::All(v) => v.iter_mut().for_each(|g| g.take_ready(ready)),
        }
        self.held = Held::Nothing;
    }

    /// The keys that became ready for blocked clients since the last
    /// call, in the order they became ready.
    pub(crate) fn take_ready(&mut self) -> Vec<Bytes> {
        if self.ready.is_empty() {
            return Vec::new();
        }
        let mut ready = std::mem::take(&mut self.ready);
        ready.sort_unstable_by_key(|(seq, _)| *seq);
        ready.into_iter().map(|(_, key)| key).collect()
    }

    /// The shard of `key` (its lock is held) and the key's hash.
    ///
    /// # Panics
    /// If the command did not lock that shard: a bug in its key positions.
    #[inline]
    pub(crate) fn shard(&mut self, key: &[u8]) -> (&mut Shard, u64) {
        let h = self.ks.hash(key);
        let i = shard_of(h);
        let shard: &mut Shard = match &mut self.held {
            Held::One(j, g) if *j == i => g,
            Held::Several(v) => match v.binary_search_by_key(&i, |(j, _)| *j) {
                Ok(k) => &mut v[k].1,
                Err(_) => panic!("shard {i} not locked"),
            },
            Held::All(v) => &mut v[i],
            _ => panic!("shard {i} not locked"),
        };
        (shard, h)
    }

    /// Runs `f` on every shard in order, until it returns false. Holding
    /// all locks, it uses them; holding none, it locks each shard in turn.
    pub(crate) fn each_shard(&mut self, from: usize, mut f: impl FnMut(usize, &mut Shard) -> bool) {
        match &mut self.held {
            Held::All(v) => {
                for (i, g) in v.iter_mut().enumerate().skip(from) {
                    if !f(i, g) {
                        return;
                    }
                }
            }
            Held::Nothing => {
                for i in from..SHARDS {
                    let mut g = self.ks.lock(i, self.stats);
                    if !f(i, &mut g) {
                        return;
                    }
                }
            }
            _ => panic!("each_shard needs all shards or none locked"),
        }
    }

    pub(crate) fn stats(&self) -> &'a LoopStats {
        self.stats
    }
}
