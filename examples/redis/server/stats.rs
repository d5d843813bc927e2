//! Counters for INFO, kept per event loop so that counting costs no shared
//! cache line: each loop thread writes only its own [`LoopStats`], INFO
//! adds them up.
//!
//! The keyspace's shard locks are measured here too: every acquisition is
//! counted, with how many found the lock taken (contention), and one in
//! [`HOLD_SAMPLE_EVERY`] records how long the lock was held, into a log2
//! histogram (INFO `locks`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One acquisition in this many has its hold time measured (two clock
/// reads), so the measurement costs almost nothing.
pub(crate) const HOLD_SAMPLE_EVERY: u64 = 64;

/// Histogram buckets: bucket i counts holds of [2^i, 2^(i+1)) ns.
pub(crate) const HOLD_BUCKETS: usize = 40;

/// A counter written by one thread and read by any.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning loop thread writes, so a plain load and
    /// store suffice (no locked read-modify-write).
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.0.store(self.0.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn max(&self, v: u64) {
        if v > self.get() {
            self.0.store(v, Ordering::Relaxed);
        }
    }
}

/// What one event loop counted.
#[derive(Debug)]
pub(crate) struct LoopStats {
    pub(crate) commands: Counter,
    pub(crate) hits: Counter,
    pub(crate) misses: Counter,
    pub(crate) error_replies: Counter,
    pub(crate) expired_keys: Counter,
    pub(crate) lock_acquired: Counter,
    pub(crate) lock_contended: Counter,
    pub(crate) lock_wait_ns: Counter,
    pub(crate) hold_samples: Counter,
    pub(crate) hold_total_ns: Counter,
    pub(crate) hold_max_ns: Counter,
    pub(crate) hold_hist: [Counter; HOLD_BUCKETS],
}

impl Default for LoopStats {
    fn default() -> Self {
        LoopStats {
            commands: Counter::default(),
            hits: Counter::default(),
            misses: Counter::default(),
            error_replies: Counter::default(),
            expired_keys: Counter::default(),
            lock_acquired: Counter::default(),
            lock_contended: Counter::default(),
            lock_wait_ns: Counter::default(),
            hold_samples: Counter::default(),
            hold_total_ns: Counter::default(),
            hold_max_ns: Counter::default(),
            hold_hist: std::array::from_fn(|_| Counter::default()),
        }
    }
}

impl LoopStats {
    /// Counts an acquisition; true when this one's hold time is sampled.
    #[inline]
    pub(crate) fn acquired(&self, waited: Option<Duration>) -> bool {
        let n = self.lock_acquired.get();
        self.lock_acquired.add(1);
        if let Some(w) = waited {
            self.lock_contended.add(1);
            self.lock_wait_ns.add(w.as_nanos() as u64);
        }
        n.is_multiple_of(HOLD_SAMPLE_EVERY)
    }

    pub(crate) fn record_hold(&self, since: Instant) {
        let ns = since.elapsed().as_nanos() as u64;
        self.hold_samples.add(1);
        self.hold_total_ns.add(ns);
        self.hold_max_ns.max(ns);
        let bucket = (64 - ns.max(1).leading_zeros() as usize - 1).min(HOLD_BUCKETS - 1);
        self.hold_hist[bucket].add(1);
    }
}

/// The sum of every loop's counters.
#[derive(Debug, Default, Clone)]
pub(crate) struct Totals {
    pub(crate) commands: u64,
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    pub(crate) error_replies: u64,
    pub(crate) expired_keys: u64,
    pub(crate) lock_acquired: u64,
    pub(crate) lock_contended: u64,
    pub(crate) lock_wait_ns: u64,
    pub(crate) hold_samples: u64,
    pub(crate) hold_total_ns: u64,
    pub(crate) hold_max_ns: u64,
    pub(crate) hold_hist: Vec<u64>,
}

impl Totals {
    pub(crate) fn sum<'a>(loops: impl IntoIterator<Item = &'a LoopStats>) -> Totals {
        let mut t = Totals {
            hold_hist: vec![0; HOLD_BUCKETS],
            ..Totals::default()
        };
        for l in loops {
            t.commands += l.commands.get();
            t.hits += l.hits.get();
            t.misses += l.misses.get();
            t.error_replies += l.error_replies.get();
            t.expired_keys += l.expired_keys.get();
            t.lock_acquired += l.lock_acquired.get();
            t.lock_contended += l.lock_contended.get();
            t.lock_wait_ns += l.lock_wait_ns.get();
            t.hold_samples += l.hold_samples.get();
            t.hold_total_ns += l.hold_total_ns.get();
            t.hold_max_ns = t.hold_max_ns.max(l.hold_max_ns.get());
            for (a, b) in t.hold_hist.iter_mut().zip(&l.hold_hist) {
                *a += b.get();
            }
        }
        t
    }

    /// The sampled hold time at quantile `q` (0..=1), as the upper edge of
    /// its histogram bucket, in ns.
    pub(crate) fn hold_quantile_ns(&self, q: f64) -> u64 {
        let want = (self.hold_samples as f64 * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &n) in self.hold_hist.iter().enumerate() {
            seen += n;
            if seen >= want {
                return 1u64 << (i + 1);
            }
        }
        0
    }
}
