//! One shard of the keyspace: its keys, their deadlines, and the versions
//! of keys that clients WATCH. Always used under the shard's lock.
//!
//! Expiry is lazy (a key past its deadline is deleted when touched) plus an
//! active sweep: every deadline is also pushed on a min-heap of
//! (deadline, key hash), which the sweep pops. A heap entry made stale by a
//! later change of the deadline simply finds no key to delete; the heap is
//! rebuilt when stale entries outnumber live ones, so it stays bounded.

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hashbrown::{HashMap, HashTable};

use super::blocking::Block;
use super::value::{Bytes, Value};

/// A key and its value.
#[derive(Debug)]
pub(crate) struct Entry {
    hash: u64,
    key: Bytes,
    /// Unix time in ms at which the key expires; 0: never.
    expire_at: u64,
    pub(crate) value: Value,
}

impl Entry {
    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }

    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }

    pub(crate) fn expire_at(&self) -> u64 {
        self.expire_at
    }

    pub(crate) fn is_expired(&self, clock: &Clock) -> bool {
        clock.is_past(self.expire_at)
    }
}

/// What a write does to the key's deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ttl {
    /// Keep the deadline it had (KEEPTTL; none for a new key).
    Keep,
    /// No deadline (a plain SET).
    Clear,
    /// Expire at this unix time in ms.
    At(u64),
}

#[derive(Debug)]
struct Watch {
    watchers: u32,
    version: u64,
    /// The key's hash (to find it in the table).
    hash: u64,
}

/// The next place in the order in which keys become ready for blocked
/// clients (served in that order, as Redis does, whatever their shards).
fn next_ready_seq() -> u64 {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Bumps the version of `key` if a client watches it.
#[inline]
fn touch(watched: &mut HashMap<Bytes, Watch>, key: &[u8]) {
    if !watched.is_empty() {
        if let Some(w) = watched.get_mut(key) {
            w.version += 1;
        }
    }
}

/// The time that expiry is judged by during one batch of commands, read
/// from the system clock only if a key with a deadline is met, and the
/// keys that turned out expired meanwhile (for INFO's `expired_keys`).
#[derive(Debug, Default)]
pub(crate) struct Clock {
    now_ms: Cell<u64>,
    expired: Cell<u64>,
}

impl Clock {
    /// A clock fixed at `ms`.
    #[cfg(test)]
    pub(crate) fn at(ms: u64) -> Clock {
        Clock {
            now_ms: Cell::new(ms),
            expired: Cell::new(0),
        }
    }

    /// Unix time in ms.
    pub(crate) fn now_ms(&self) -> u64 {
        if self.now_ms.get() == 0 {
            self.now_ms.set(unix_ms());
        }
        self.now_ms.get()
    }

    /// True when `deadline` (0: none) has passed.
    #[inline]
    pub(crate) fn is_past(&self, deadline: u64) -> bool {
        deadline != 0 && deadline <= self.now_ms()
    }

    fn count_expired(&self) {
        self.expired.set(self.expired.get() + 1);
    }

    /// Keys found expired since the last call.
    pub(crate) fn take_expired(&self) -> u64 {
        self.expired.replace(0)
    }
}

/// The system clock as unix time in ms.
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_millis() as u64)
}

/// Keys whose hash falls into this shard.
#[derive(Debug, Default)]
pub(crate) struct Shard {
    table: HashTable<Entry>,
    deadlines: BinaryHeap<Reverse<(u64, u64)>>,
    /// Keys with a deadline.
    volatile: usize,
    /// Only keys some client WATCHes; empty almost always, so a write
    /// checks it with one branch.
    watched: HashMap<Bytes, Watch>,
    /// Clients blocked on keys of this shard (BLPOP and kin), in arrival
    /// order per key, with the key's hash; empty almost always.
    blocked: HashMap<Bytes, (u64, VecDeque<Arc<Block>>)>,
    /// Keys with blocked clients that became lists since the last look,
    /// each with its place in the order keys became ready.
    ready: Vec<(u64, Bytes)>,
}

impl Shard {
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    pub(crate) fn volatile(&self) -> usize {
        self.volatile
    }

    /// The live entry for `key`, deleting it first if it has expired.
    pub(crate) fn get(&mut self, h: u64, key: &[u8], clock: &Clock) -> Option<&mut Entry> {
        let found = self.table.find_entry(h, |e| e.hash == h && &*e.key == key).ok()?;
        if clock.is_past(found.get().expire_at) {
            let (entry, _) = found.remove();
            self.volatile -= 1;
            clock.count_expired();
            touch(&mut self.watched, &entry.key);
            return None;
        }
        Some(found.into_mut())
    }

    /// Records that `key` is about to change, for WATCH.
    #[inline]
    pub(crate) fn touch(&mut self, key: &[u8]) {
        touch(&mut self.watched, key);
    }

    /// Inserts `key`, which must not be in the table (a `get` just missed).
    pub(crate) fn insert_new(&mut self, h: u64, key: &[u8], value: Value, ttl: Ttl) -> &mut Entry {
        self.touch(key);
        if !self.blocked.is_empty() && matches!(value, Value::List(_)) && self.blocked.contains_key(key) {
            self.ready.push((next_ready_seq(), key.into()));
        }
        let expire_at = match ttl {
            Ttl::At(at) => at,
            Ttl::Keep | Ttl::Clear => 0,
        };
        if expire_at != 0 {
            self.volatile += 1;
            self.push_deadline(expire_at, h);
        }
        let entry = Entry {
            hash: h,
            key: key.into(),
            expire_at,
            value,
        };
        self.table.insert_unique(h, entry, |e| e.hash).into_mut()
    }

    /// Stores `value` under `key`, returning the value it replaces (an
    /// expired one counts as absent). The caller has `touch`ed nothing.
    pub(crate) fn put(&mut self, h: u64, key: &[u8], value: Value, ttl: Ttl, clock: &Clock) -> Option<Value> {
        match self.get(h, key, clock) {
            None => {
                self.insert_new(h, key, value, ttl);
                None
            }
            Some(e) => {
                let old = std::mem::replace(&mut e.value, value);
                let before = e.expire_at;
                let after = match ttl {
                    Ttl::Keep => before,
                    Ttl::Clear => 0,
                    Ttl::At(at) => at,
                };
                e.expire_at = after;
                self.deadline_changed(h, before, after);
                self.touch(key);
                Some(old)
            }
        }
    }

    /// SET's store: as [`put`](Shard::put) with a string, reusing the old
    /// string's allocation when the new one fits it snugly, so overwriting
    /// a value with one of a similar size allocates nothing. Returns the
    /// type the key had (None: absent).
    pub(crate) fn put_str(
        &mut self,
        h: u64,
        key: &[u8],
        bytes: &[u8],
        ttl: Ttl,
        clock: &Clock,
    ) -> Option<&'static str> {
        if let Some(e) = self.get(h, key, clock) {
            if let Value::Str(old) = &mut e.value {
                if old.capacity() >= bytes.len() && old.capacity() <= 2 * bytes.len().max(32) {
                    old.clear();
                    old.extend_from_slice(bytes);
                    let before = e.expire_at;
                    let after = match ttl {
                        Ttl::Keep => before,
                        Ttl::Clear => 0,
                        Ttl::At(at) => at,
                    };
                    e.expire_at = after;
                    self.deadline_changed(h, before, after);
                    self.touch(key);
                    return Some("string");
                }
            }
        }
        self.put(h, key, Value::Str(bytes.to_vec()), ttl, clock)
            .map(|old| old.type_name())
    }

    /// Deletes `key` if it is live; returns its entry.
    pub(crate) fn remove(&mut self, h: u64, key: &[u8], clock: &Clock) -> Option<Entry> {
        let found = self.table.find_entry(h, |e| e.hash == h && &*e.key == key).ok()?;
        let expired = clock.is_past(found.get().expire_at);
        let (entry, _) = found.remove();
        if entry.expire_at != 0 {
            self.volatile -= 1;
        }
        touch(&mut self.watched, key);
        if expired {
            clock.count_expired();
            return None;
        }
        Some(entry)
    }

    /// Sets the deadline of live `key` (0: none); false if there is no such key.
    pub(crate) fn set_expire(&mut self, h: u64, key: &[u8], at: u64, clock: &Clock) -> bool {
        let Some(e) = self.get(h, key, clock) else {
            return false;
        };
        let before = e.expire_at;
        e.expire_at = at;
        self.deadline_changed(h, before, at);
        self.touch(key);
        true
    }

    fn deadline_changed(&mut self, h: u64, before: u64, after: u64) {
        match (before != 0, after != 0) {
            (false, true) => self.volatile += 1,
            (true, false) => self.volatile -= 1,
            _ => {}
        }
        if after != 0 && after != before {
            self.push_deadline(after, h);
        }
    }

    fn push_deadline(&mut self, at: u64, h: u64) {
        self.deadlines.push(Reverse((at, h)));
        if self.deadlines.len() > 2 * self.volatile + 64 {
            self.deadlines = self
                .table
                .iter()
                .filter(|e| e.expire_at != 0)
                .map(|e| Reverse((e.expire_at, e.hash)))
                .collect();
        }
    }

    /// The active expiry sweep: deletes keys whose deadline has passed,
    /// looking at no more than `budget` deadlines. Returns (deadlines
    /// looked at, keys deleted).
    pub(crate) fn sweep(&mut self, now_ms: u64, budget: usize) -> (usize, u64) {
        let (mut looked, mut deleted) = (0, 0);
        while looked < budget {
            let Some(&Reverse((at, h))) = self.deadlines.peek() else {
                break;
            };
            if at > now_ms {
                break;
            }
            self.deadlines.pop();
            looked += 1;
            while let Ok(found) = self
                .table
                .find_entry(h, |e| e.hash == h && e.expire_at != 0 && e.expire_at <= now_ms)
            {
                let (entry, _) = found.remove();
                self.volatile -= 1;
                deleted += 1;
                self.touch(&entry.key);
            }
        }
        (looked, deleted)
    }

    /// Deletes every key (FLUSHALL); watched keys that existed count as changed.
    pub(crate) fn clear(&mut self) {
        if !self.watched.is_empty() {
            for e in self.table.iter() {
                if let Some(w) = self.watched.get_mut(&*e.key) {
                    w.version += 1;
                }
            }
        }
        self.table = HashTable::new();
        self.deadlines = BinaryHeap::new();
        self.volatile = 0;
    }

    /// Trades keys and deadlines with `other` (the same shard of another
    /// database: SWAPDB); each keeps its watchers, and a watched key that
    /// exists on either side counts as changed (Redis's
    /// `touchAllWatchedKeysInDb`).
    pub(crate) fn swap_data(&mut self, other: &mut Shard) {
        std::mem::swap(&mut self.table, &mut other.table);
        std::mem::swap(&mut self.deadlines, &mut other.deadlines);
        std::mem::swap(&mut self.volatile, &mut other.volatile);
        let (a, b) = (&self.table, &other.table);
        for watched in [&mut self.watched, &mut other.watched] {
            for (key, w) in watched.iter_mut() {
                let found = |t: &HashTable<Entry>| t.find(w.hash, |e| e.hash == w.hash && e.key == *key).is_some();
                if found(a) || found(b) {
                    w.version += 1;
                }
            }
        }
        self.mark_blocked_lists_ready();
        other.mark_blocked_lists_ready();
    }

    /// Marks ready every key with blocked clients that now holds a list
    /// (after SWAPDB, as Redis's `scanDatabaseForReadyLists`).
    fn mark_blocked_lists_ready(&mut self) {
        for (key, (h, _)) in &self.blocked {
            let is_list = |e: &Entry| e.hash == *h && e.key == *key && matches!(e.value, Value::List(_));
            if self.table.find(*h, is_list).is_some() {
                self.ready.push((next_ready_seq(), key.clone()));
            }
        }
    }

    /// Every entry, expired or not (callers skip the expired).
    pub(crate) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.table.iter()
    }

    /// Queues `block` behind the clients already blocked on `key` (hash `h`).
    pub(crate) fn block_on(&mut self, h: u64, key: &[u8], block: Arc<Block>) {
        self.blocked
            .entry(key.into())
            .or_insert_with(|| (h, VecDeque::new()))
            .1
            .push_back(block);
    }

    /// Takes `block` out of `key`'s queue (it was served, timed out or
    /// its client left).
    pub(crate) fn unblock(&mut self, key: &[u8], block: &Arc<Block>) {
        if let Some((_, q)) = self.blocked.get_mut(key) {
            q.retain(|b| !Arc::ptr_eq(b, block));
            if q.is_empty() {
                self.blocked.remove(key);
            }
        }
    }

    /// The first client blocked on `key`.
    pub(crate) fn first_blocked(&self, key: &[u8]) -> Option<&Arc<Block>> {
        self.blocked.get(key).and_then(|(_, q)| q.front())
    }

    /// Moves the keys made ready since the last call to `into`, tagged
    /// with this shard's database `db`.
    pub(crate) fn take_ready(&mut self, db: usize, into: &mut Vec<(u64, usize, Bytes)>) {
        into.extend(self.ready.drain(..).map(|(seq, key)| (seq, db, key)));
    }

    /// Starts watching `key` (hash `h`); returns its current version.
    pub(crate) fn watch(&mut self, h: u64, key: &[u8]) -> u64 {
        let w = self.watched.entry(key.into()).or_insert(Watch {
            watchers: 0,
            version: 0,
            hash: h,
        });
        w.watchers += 1;
        w.version
    }

    pub(crate) fn watch_version(&self, key: &[u8]) -> u64 {
        self.watched.get(key).map_or(0, |w| w.version)
    }

    pub(crate) fn unwatch(&mut self, key: &[u8]) {
        if let Some(w) = self.watched.get_mut(key) {
            w.watchers -= 1;
            if w.watchers == 0 {
                self.watched.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(ms: u64) -> Clock {
        Clock::at(ms)
    }

    #[test]
    fn lazy_and_active_expiry() {
        let mut s = Shard::default();
        let c = clock(100);
        s.insert_new(1, b"a", Value::Int(1), Ttl::At(100));
        s.insert_new(2, b"b", Value::Int(2), Ttl::At(200));
        s.insert_new(3, b"c", Value::Int(3), Ttl::Clear);
        assert_eq!(s.volatile(), 2);
        assert!(s.get(1, b"a", &clock(99)).is_some());
        assert!(s.get(1, b"a", &c).is_none());
        assert_eq!((c.take_expired(), s.len(), s.volatile()), (1, 2, 1));
        // b's deadline moves later: the old heap entry finds nothing.
        assert!(s.set_expire(2, b"b", 300, &clock(1)));
        assert_eq!(s.sweep(250, 100), (2, 0));
        assert_eq!(s.sweep(300, 100), (1, 1));
        assert_eq!((s.len(), s.volatile()), (1, 0));
    }

    #[test]
    fn stale_deadlines_stay_bounded() {
        let mut s = Shard::default();
        s.insert_new(9, b"k", Value::Int(0), Ttl::Clear);
        for i in 1..10_000 {
            s.set_expire(9, b"k", 1_000_000 + i, &clock(1));
        }
        assert!(s.deadlines.len() <= 2 * s.volatile() + 65, "{}", s.deadlines.len());
    }

    #[test]
    fn watch_versions_move_on_writes_only() {
        let mut s = Shard::default();
        let v0 = s.watch(6, b"w");
        s.insert_new(5, b"other", Value::Int(0), Ttl::Clear);
        assert_eq!(s.watch_version(b"w"), v0);
        s.put(6, b"w", Value::Int(1), Ttl::Clear, &clock(1));
        assert_ne!(s.watch_version(b"w"), v0);
        s.unwatch(b"w");
        assert!(s.watched.is_empty());
    }
}
