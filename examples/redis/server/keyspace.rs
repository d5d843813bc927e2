//! The keyspace: [`DATABASES`] numbered databases of [`SHARDS`] shards
//! each, every shard behind its own mutex, so event loops working on
//! different keys rarely meet on a lock; and [`Db`], the view of the
//! keyspace one command (or one EXEC) runs against, holding exactly the
//! shard locks it needs.
//!
//! A key's shard comes from bits 40..50 of its 64-bit hash (seeded
//! foldhash). hashbrown uses the low bits for the bucket and the top seven
//! as tags, so the shard bits leave both alone. Rotated left by 14, the
//! hash puts the shard bits on top: SCAN walks keys in that order, and its
//! cursor is simply the next rotated hash to visit. A shard is named
//! everywhere by its global index, `db * SHARDS + shard`.
//!
//! Deadlock freedom, by construction: [`Db::acquire`] is the only place
//! that takes shard locks (the keyspace's `lock` is private to this file),
//! and it knows the set a `Db` holds. Holding nothing, it locks what is
//! wanted in ascending global order, all before the command starts.
//! Holding locks already (a command run by EXEC, which locked what its
//! whole transaction needs), it takes none: what is wanted must be held,
//! and a command wanting one that is not is a bug in a lock set, reported
//! by a panic (which closes that connection and releases its locks)
//! rather than by a thread that waits for ever. So no thread ever waits
//! for a lock while holding one it took later in the order, or one it
//! already holds.

use std::hash::BuildHasher;
use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard, OnceLock, TryLockError};
use std::time::Instant;

use hashbrown::DefaultHashBuilder;

use super::shard::{Clock, Shard};
use super::stats::LoopStats;
use super::value::Bytes;

/// Numbered databases (Redis's `databases` default).
pub(crate) const DATABASES: usize = 16;
/// log2 of the shard count.
pub(crate) const SHARD_BITS: u32 = 10;
/// Shards in the keyspace.
pub(crate) const SHARDS: usize = 1 << SHARD_BITS;
const SHARD_SHIFT: u32 = 40;
/// Rotation that moves the shard bits to the top (SCAN's order).
const SCAN_ROTATION: u32 = 64 - SHARD_SHIFT - SHARD_BITS;

/// Every key, in databases of shards. Database 0 exists from the start;
/// another is made the first time a command names it, so a server whose
/// clients never SELECT pays nothing for the other fifteen.
#[derive(Debug)]
pub(crate) struct Keyspace {
    dbs: Box<[OnceLock<Shards>]>,
    hasher: DefaultHashBuilder,
}

/// One database's shards.
type Shards = Box<[Mutex<Shard>]>;

fn new_db() -> Shards {
    (0..SHARDS).map(|_| Mutex::default()).collect()
}

impl Default for Keyspace {
    fn default() -> Self {
        let dbs: Box<[OnceLock<Shards>]> = (0..DATABASES).map(|_| OnceLock::new()).collect();
        let _ = dbs[0].set(new_db());
        Keyspace {
            dbs,
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

/// The global index of shard `shard` of database `db`.
#[inline]
pub(crate) fn global(db: usize, shard: usize) -> usize {
    db * SHARDS + shard
}

impl Keyspace {
    #[inline]
    pub(crate) fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The global index of the shard of `key` in database `db`.
    #[inline]
    pub(crate) fn shard_index(&self, db: usize, key: &[u8]) -> usize {
        global(db, shard_of(self.hash(key)))
    }

    /// True if database `db` has been made (a command named it).
    pub(crate) fn exists(&self, db: usize) -> bool {
        self.dbs[db].get().is_some()
    }

    /// Makes database `db` if it is not yet (before taking every lock for a
    /// transaction that names it).
    pub(crate) fn make(&self, db: usize) {
        self.dbs[db].get_or_init(new_db);
    }

    fn mutex(&self, g: usize) -> &Mutex<Shard> {
        &self.dbs[g / SHARDS].get_or_init(new_db)[g % SHARDS]
    }

    /// Locks the shard with global index `g`, counting the acquisition (and
    /// any wait) in `stats`. Private: [`Db::acquire`] is its only caller.
    fn lock<'a>(&'a self, g: usize, stats: &'a LoopStats) -> ShardGuard<'a> {
        let mutex = self.mutex(g);
        let (guard, waited) = match mutex.try_lock() {
            Ok(g) => (g, None),
            Err(TryLockError::WouldBlock) => {
                let t0 = Instant::now();
                let g = mutex.lock().unwrap_or_else(|e| e.into_inner());
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

/// The shards a command (or a transaction) needs locked, by global index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Want {
    Nothing,
    One(usize),
    /// Any order, duplicates allowed.
    Set(Vec<usize>),
    /// Every shard of one database (the command sees it at one instant).
    Db(usize),
    /// Every shard of two databases (SWAPDB).
    TwoDbs(usize, usize),
    /// Every shard of every database made so far (FLUSHALL; EXEC of a
    /// transaction that walks the keyspace). A database made later was
    /// empty when these locks were taken, which is when such a command
    /// happens.
    Everything,
}

impl Want {
    /// Adds the shards `self` names to `set`; true if it wants everything.
    pub(crate) fn add_to(self, set: &mut Vec<usize>) -> bool {
        match self {
            Want::Nothing => {}
            Want::One(g) => set.push(g),
            Want::Set(v) => set.extend(v),
            Want::Db(db) => set.extend((0..SHARDS).map(|s| global(db, s))),
            Want::TwoDbs(a, b) => set.extend((0..SHARDS).flat_map(|s| [global(a, s), global(b, s)])),
            Want::Everything => return true,
        }
        false
    }
}

/// The shard locks a [`Db`] holds.
enum Held<'a> {
    Nothing,
    /// One lock (the common case: no allocation).
    One(usize, ShardGuard<'a>),
    /// Several, in ascending global order; `everything` when they are
    /// every shard of every database.
    Several {
        guards: Vec<(usize, ShardGuard<'a>)>,
        everything: bool,
    },
}

/// The keyspace as one command (or one EXEC) sees it: the selected
/// database, and the shards it needs, locked before it starts and
/// released when it ends.
pub(crate) struct Db<'a> {
    ks: &'a Keyspace,
    stats: &'a LoopStats,
    held: Held<'a>,
    pub(crate) clock: &'a Clock,
    /// The selected database (SELECT changes it, also inside EXEC).
    pub(crate) index: usize,
    /// Keys that became lists while clients were blocked on them, as
    /// (order, database, key), taken from the shards as their locks are
    /// released; served after the command (see `blocking`).
    ready: Vec<(u64, usize, Bytes)>,
}

impl<'a> Db<'a> {
    /// A view of database `index` holding no lock.
    pub(crate) fn new(ks: &'a Keyspace, stats: &'a LoopStats, clock: &'a Clock, index: usize) -> Db<'a> {
        Db {
            ks,
            stats,
            held: Held::Nothing,
            clock,
            index,
            ready: Vec::new(),
        }
    }

    /// The one place shard locks are taken. Holding nothing, it locks
    /// what `want` names, in ascending global order, and returns true (the
    /// caller then calls [`release`](Db::release)). Holding locks already,
    /// it takes none and returns false.
    ///
    /// # Panics
    /// If locks are held and `want` names one that is not among them: a
    /// transaction's lock set that missed what one of its commands needs.
    pub(crate) fn acquire(&mut self, want: Want) -> bool {
        if !matches!(self.held, Held::Nothing) {
            assert!(
                self.covers(&want),
                "a command wants shard locks its transaction does not hold: {want:?}"
            );
            return false;
        }
        let ks = self.ks;
        let stats = self.stats;
        let lock_all = |set: &[usize]| set.iter().map(|&g| (g, ks.lock(g, stats))).collect();
        self.held = match want {
            Want::Nothing => return false,
            Want::One(g) => Held::One(g, ks.lock(g, stats)),
            Want::Set(mut set) => {
                set.sort_unstable();
                set.dedup();
                if let [g] = set[..] {
                    Held::One(g, ks.lock(g, stats))
                } else {
                    Held::Several {
                        guards: lock_all(&set),
                        everything: false,
                    }
                }
            }
            Want::Db(db) => Held::Several {
                guards: lock_all(&(global(db, 0)..global(db + 1, 0)).collect::<Vec<_>>()),
                everything: false,
            },
            Want::TwoDbs(a, b) => {
                let (lo, hi) = (a.min(b), a.max(b));
                let set: Vec<usize> = (global(lo, 0)..global(lo + 1, 0))
                    .chain((a != b).then(|| global(hi, 0)..global(hi + 1, 0)).into_iter().flatten())
                    .collect();
                Held::Several {
                    guards: lock_all(&set),
                    everything: false,
                }
            }
            Want::Everything => Held::Several {
                guards: lock_all(
                    &(0..DATABASES * SHARDS)
                        .filter(|&g| ks.exists(g / SHARDS))
                        .collect::<Vec<_>>(),
                ),
                everything: true,
            },
        };
        true
    }

    /// Releases every lock held, keeping the keys the shards marked ready.
    pub(crate) fn release(&mut self) {
        let ready = &mut self.ready;
        let mut take = |g: usize, shard: &mut Shard| shard.take_ready(g / SHARDS, ready);
        match &mut self.held {
            Held::Nothing => {}
            Held::One(g, guard) => take(*g, guard),
            Held::Several { guards, .. } => guards.iter_mut().for_each(|(g, guard)| take(*g, guard)),
        }
        self.held = Held::Nothing;
    }

    /// The keys that became ready for blocked clients since the last
    /// call, as (database, key), in the order they became ready.
    pub(crate) fn take_ready(&mut self) -> Vec<(usize, Bytes)> {
        if self.ready.is_empty() {
            return Vec::new();
        }
        let mut ready = std::mem::take(&mut self.ready);
        ready.sort_unstable_by_key(|(seq, _, _)| *seq);
        ready.into_iter().map(|(_, db, key)| (db, key)).collect()
    }

    /// True if every shard `want` names is held.
    fn covers(&self, want: &Want) -> bool {
        match want {
            Want::Nothing => true,
            Want::One(g) => self.held_shard(*g).is_some(),
            Want::Set(set) => set.iter().all(|&g| self.held_shard(g).is_some()),
            Want::Db(db) => (0..SHARDS).all(|s| self.held_shard(global(*db, s)).is_some()),
            Want::TwoDbs(a, b) => self.covers(&Want::Db(*a)) && self.covers(&Want::Db(*b)),
            Want::Everything => matches!(self.held, Held::Several { everything: true, .. }),
        }
    }

    /// Where in `guards` the lock of shard `g` is, if held.
    fn held_shard(&self, g: usize) -> Option<usize> {
        match &self.held {
            Held::One(j, _) => (*j == g).then_some(0),
            Held::Several { guards, .. } => guards.binary_search_by_key(&g, |(j, _)| *j).ok(),
            Held::Nothing => None,
        }
    }

    /// The global index of the shard of `key` in database `db`.
    pub(crate) fn shard_index(&self, db: usize, key: &[u8]) -> usize {
        self.ks.shard_index(db, key)
    }

    /// The held shard with global index `g`.
    ///
    /// # Panics
    /// If it is not held: a bug in the command's key positions.
    #[inline]
    pub(crate) fn shard_at(&mut self, g: usize) -> &mut Shard {
        match &mut self.held {
            Held::One(j, guard) if *j == g => guard,
            Held::Several { guards, .. } => match guards.binary_search_by_key(&g, |(j, _)| *j) {
                Ok(k) => &mut guards[k].1,
                Err(_) => panic!("shard {g} not locked"),
            },
            _ => panic!("shard {g} not locked"),
        }
    }

    /// The shard of `key` in the selected database (its lock is held) and
    /// the key's hash.
    ///
    /// # Panics
    /// If the command did not lock that shard: a bug in its key positions.
    #[inline]
    pub(crate) fn shard(&mut self, key: &[u8]) -> (&mut Shard, u64) {
        self.shard_in(self.index, key)
    }

    /// As [`shard`](Db::shard), in database `db`.
    #[inline]
    pub(crate) fn shard_in(&mut self, db: usize, key: &[u8]) -> (&mut Shard, u64) {
        let h = self.ks.hash(key);
        (self.shard_at(global(db, shard_of(h))), h)
    }

    /// Runs `f` on every shard of the selected database in order, from
    /// shard `from`, until it returns false.
    pub(crate) fn each_shard(&mut self, from: usize, f: impl FnMut(usize, &mut Shard) -> bool) {
        self.each_shard_of(self.index, from, f);
    }

    /// Runs `f` on every shard of database `db` in order, from shard
    /// `from`, until it returns false. Holding all of its locks, it uses
    /// them; holding none, it locks each shard in turn (through
    /// [`acquire`](Db::acquire)). A database never made has no keys, and
    /// is left unmade; so is one made after this view took every lock.
    ///
    /// # Panics
    /// If some locks are held but not all of that database's.
    pub(crate) fn each_shard_of(&mut self, db: usize, from: usize, mut f: impl FnMut(usize, &mut Shard) -> bool) {
        if matches!(self.held, Held::Nothing) {
            if !self.ks.exists(db) {
                return;
            }
            for s in from..SHARDS {
                self.acquire(Want::One(global(db, s)));
                let go_on = f(s, self.shard_at(global(db, s)));
                self.release();
                if !go_on {
                    return;
                }
            }
            return;
        }
        let everything = matches!(self.held, Held::Several { everything: true, .. });
        if everything && self.held_shard(global(db, 0)).is_none() {
            return;
        }
        assert!(
            self.covers(&Want::Db(db)),
            "each_shard needs all shards of the database or none locked"
        );
        for s in from..SHARDS {
            if !f(s, self.shard_at(global(db, s))) {
                return;
            }
        }
    }

    /// Runs `f` on shard `i` of databases `a` and `b` (a != b), for
    /// every `i`.
    ///
    /// # Panics
    /// Unless every shard of both databases is held.
    pub(crate) fn each_shard_pair(&mut self, a: usize, b: usize, mut f: impl FnMut(&mut Shard, &mut Shard)) {
        let (lo, hi) = (a.min(b), a.max(b));
        assert!(
            self.covers(&Want::Db(lo)) && self.covers(&Want::Db(hi)),
            "each_shard_pair needs both databases locked"
        );
        let (Some(at_lo), Some(at_hi)) = (self.held_shard(global(lo, 0)), self.held_shard(global(hi, 0))) else {
            unreachable!("covered");
        };
        let Held::Several { guards, .. } = &mut self.held else {
            unreachable!("two databases are several locks");
        };
        let (low, high) = guards.split_at_mut(at_hi);
        for s in 0..SHARDS {
            let (x, y) = (&mut low[at_lo + s], &mut high[s]);
            debug_assert_eq!((x.0, y.0), (global(lo, s), global(hi, s)));
            f(&mut x.1, &mut y.1);
        }
    }

    pub(crate) fn stats(&self) -> &'a LoopStats {
        self.stats
    }
}
