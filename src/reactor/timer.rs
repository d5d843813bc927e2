//! A hashed timer wheel, one per loop.
//!
//! Slots of [`TICK`] each; a timer lands in the slot of its deadline tick and
//! stays there for as many revolutions as it needs (each entry keeps its exact
//! deadline). A bitmap of occupied slots gives the next slot to wake for in a
//! few word scans, so `epoll_wait` sleeps until then instead of ticking.
//! An entry can be cancelled by the key `insert` returned, which names its
//! slot: removal scans that one slot. The engine's own timers (idle, linger)
//! are cancelled lazily instead: the owner ignores entries it no longer
//! expects, and they leave at their deadline.

use std::cell::Cell;
use std::time::{Duration, Instant};

use crate::id::TimerKey;

/// Wheel resolution (`next_timeout` counts ticks as milliseconds).
pub(crate) const TICK: Duration = Duration::from_millis(1);
const _: () = assert!(TICK.as_nanos() == 1_000_000);
const SLOTS: usize = 1024;
const WORDS: usize = SLOTS / 64;

#[derive(Debug)]
pub(crate) struct TimerWheel<T> {
    origin: Instant,
    /// The last tick processed.
    current: u64,
    /// When the tick after `current` has wholly passed (`origin` plus
    /// `current + 1` ticks; `None` past the end of time): before it
    /// `expire` has nothing to do, known by comparing two instants rather
    /// than turning `now` into ticks (a third of the wheel's cost per loop
    /// iteration in the relay's profile).
    next_tick_at: Option<Instant>,
    slots: Vec<Vec<Entry<T>>>,
    occupied: [u64; WORDS],
    len: usize,
    /// Numbers the entries, for their keys.
    next_seq: u64,
    /// The last `next_timeout` scan: the tick of the first occupied slot it
    /// found and when that tick ends. Still the answer until an entry is
    /// added or removed or the wheel turns past it, so a busy loop scans
    /// once per change, not once per iteration.
    wake: Cell<Option<(u64, Instant)>>,
}

#[derive(Debug)]
struct Entry<T> {
    at: Instant,
    key: TimerKey,
    item: T,
}

/// The slot a key names: keys are a sequence number times `SLOTS` plus the
/// entry's slot.
fn slot_of(key: TimerKey) -> usize {
    (key.0 % SLOTS as u64) as usize
}

impl<T> TimerWheel<T> {
    pub(crate) fn new(now: Instant) -> Self {
        TimerWheel {
            origin: now,
            current: 0,
            next_tick_at: now.checked_add(TICK),
            slots: (0..SLOTS).map(|_| Vec::new()).collect(),
            occupied: [0; WORDS],
            len: 0,
            next_seq: 0,
            wake: Cell::new(None),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The tick a deadline falls in, rounded up so nothing fires early.
    fn tick_of(&self, at: Instant) -> u64 {
        let d = at.saturating_duration_since(self.origin);
        // Ticks are milliseconds: whole seconds, then the rest rounded up
        // (u64 arithmetic; dividing the u128 of `as_nanos` costs more).
        millis(d.as_secs(), d.subsec_nanos().div_ceil(1_000_000))
    }

    /// The ticks wholly passed at `at` (rounded down).
    fn whole_ticks(&self, at: Instant) -> u64 {
        let d = at.saturating_duration_since(self.origin);
        millis(d.as_secs(), d.subsec_millis())
    }

    pub(crate) fn insert(&mut self, at: Instant, item: T) -> TimerKey {
        let tick = self.tick_of(at).max(self.current + 1);
        let slot = (tick % SLOTS as u64) as usize;
        let key = TimerKey(self.next_seq * SLOTS as u64 + slot as u64);
        self.next_seq = (self.next_seq + 1) % (u64::MAX / SLOTS as u64);
        self.slots[slot].push(Entry { at, key, item });
        self.occupied[slot / 64] |= 1 << (slot % 64);
        self.len += 1;
        self.wake.set(None);
        key
    }

    /// Removes the entry `key` names; false if it has fired or was removed.
    pub(crate) fn cancel(&mut self, key: TimerKey) -> bool {
        let slot = slot_of(key);
        let entries = &mut self.slots[slot];
        let Some(i) = entries.iter().position(|e| e.key == key) else {
            return false;
        };
        entries.swap_remove(i);
        if entries.is_empty() {
            self.occupied[slot / 64] &= !(1 << (slot % 64));
        }
        self.len -= 1;
        self.wake.set(None);
        true
    }

    /// Moves every entry due at `now` into `fired`.
    pub(crate) fn expire(&mut self, now: Instant, fired: &mut Vec<T>) {
        // Only ticks that have wholly passed: the slot of the tick `now` is
        // in may still hold entries due later in that tick, and a slot is
        // not visited again for a whole revolution once passed.
        if self.next_tick_at.is_some_and(|at| now < at) {
            return; // no tick has passed since the last call
        }
        let target = self.whole_ticks(now);
        if self.len == 0 || target <= self.current {
            self.turn_to(self.current.max(target));
            return;
        }
        // After a long sleep every slot is visited once, not once per tick.
        let steps = (target - self.current).min(SLOTS as u64);
        for step in 1..=steps {
            let slot = ((self.current + step) % SLOTS as u64) as usize;
            if self.occupied[slot / 64] & (1 << (slot % 64)) == 0 {
                continue;
            }
            let entries = &mut self.slots[slot];
            let mut i = 0;
            while i < entries.len() {
                if entries[i].at <= now {
                    fired.push(entries.swap_remove(i).item);
                    self.len -= 1;
                    self.wake.set(None);
                } else {
                    i += 1;
                }
            }
            if entries.is_empty() {
                self.occupied[slot / 64] &= !(1 << (slot % 64));
            }
        }
        self.turn_to(target);
    }

    /// `tick` is the last processed.
    fn turn_to(&mut self, tick: u64) {
        self.current = tick;
        self.next_tick_at = tick
            .checked_add(1)
            .and_then(|next| self.origin.checked_add(Duration::from_millis(next)));
    }

    /// How long until the next occupied slot comes round (`None`: no timers).
    /// Entries there may belong to a later revolution; waking early is harmless.
    pub(crate) fn next_timeout(&self, now: Instant) -> Option<Duration> {
        if self.len == 0 {
            return None;
        }
        if let Some((tick, at)) = self.wake.get().filter(|&(tick, _)| tick > self.current) {
            debug_assert_eq!(Some(tick), self.scan_wake_tick());
            return Some(at.saturating_duration_since(now));
        }
        let wake_tick = self.scan_wake_tick()?;
        // Ticks are milliseconds; a u64 of them spans 584 million years, so
        // this never saturates (a u32 did, after 49.7 days of uptime, and
        // turned every pending timer into a zero timeout: a busy spin).
        let wake_at = self.origin.checked_add(Duration::from_millis(wake_tick))?;
        self.wake.set(Some((wake_tick, wake_at)));
        Some(wake_at.saturating_duration_since(now))
    }

    /// The tick of the next occupied slot after the current one.
    fn scan_wake_tick(&self) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        let start = ((self.current + 1) % SLOTS as u64) as usize;
        let mut distance = 0;
        // Word by word from `start`; the last round wraps onto start's own
        // word to catch slots just before it.
        for i in 0..=WORDS {
            let wi = (start / 64 + i) % WORDS;
            let mut word = self.occupied[wi];
            if i == 0 {
                word &= u64::MAX << (start % 64);
            }
            if word != 0 {
                let slot = wi * 64 + word.trailing_zeros() as usize;
                distance = ((slot + SLOTS - start) % SLOTS) as u64;
                break;
            }
        }
        Some(self.current + 1 + distance)
    }
}

/// `secs` seconds and `ms` milliseconds in milliseconds, saturating.
fn millis(secs: u64, ms: u32) -> u64 {
    secs.saturating_mul(1000).saturating_add(u64::from(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_deadline_order_and_never_early() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0);
        w.insert(t0 + Duration::from_millis(5), "b");
        w.insert(t0 + Duration::from_millis(2), "a");
        w.insert(t0 + Duration::from_millis(3000), "late"); // three revolutions away
        let mut fired = Vec::new();
        w.expire(t0 + Duration::from_millis(1), &mut fired);
        assert!(fired.is_empty());
        w.expire(t0 + Duration::from_millis(2), &mut fired);
        assert_eq!(fired, ["a"]);
        w.expire(t0 + Duration::from_millis(1500), &mut fired);
        assert_eq!(fired, ["a", "b"]);
        assert_eq!(w.len(), 1);
        w.expire(t0 + Duration::from_millis(2999), &mut fired);
        assert_eq!(w.len(), 1);
        w.expire(t0 + Duration::from_millis(3000), &mut fired);
        assert_eq!(fired, ["a", "b", "late"]);
        assert_eq!(w.len(), 0);
        assert_eq!(w.next_timeout(t0), None);
    }

    #[test]
    fn timeout_points_at_the_next_occupied_slot() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0);
        w.insert(t0 + Duration::from_micros(7300), ());
        let d = w.next_timeout(t0).unwrap();
        assert!(
            d >= Duration::from_micros(7300) && d <= Duration::from_millis(8),
            "{d:?}"
        );
    }

    /// Regression: after 2^32 ms (49.7 days) of a loop's uptime the wake-up
    /// time saturated to a moment long past, so every pending timer made a
    /// zero timeout and the loop spun. The clock is injected: the wheel's
    /// origin is "boot", `now` is 50 and then 2,000 days later.
    #[test]
    fn the_remembered_wake_follows_inserts_cancels_and_turns() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0);
        let far = w.insert(t0 + Duration::from_millis(500), "far");
        assert_eq!(w.next_timeout(t0), Some(Duration::from_millis(500)));
        // Asked again, the same answer (from the cache), counted from `now`.
        assert_eq!(
            w.next_timeout(t0 + Duration::from_millis(100)),
            Some(Duration::from_millis(400))
        );
        // A nearer entry shortens it; cancelling that one lengthens it again.
        let near = w.insert(t0 + Duration::from_millis(20), "near");
        assert_eq!(w.next_timeout(t0), Some(Duration::from_millis(20)));
        assert!(w.cancel(near));
        assert_eq!(w.next_timeout(t0), Some(Duration::from_millis(500)));
        // The wheel turns short of it: still right; past it (fired): none.
        let mut fired = Vec::new();
        w.expire(t0 + Duration::from_millis(300), &mut fired);
        assert!(fired.is_empty());
        assert_eq!(
            w.next_timeout(t0 + Duration::from_millis(300)),
            Some(Duration::from_millis(200))
        );
        w.expire(t0 + Duration::from_millis(501), &mut fired);
        assert_eq!(fired, ["far"]);
        assert_eq!(w.next_timeout(t0 + Duration::from_millis(501)), None);
        assert!(!w.cancel(far));
    }

    #[test]
    fn timeouts_stay_right_after_49_7_days_of_uptime() {
        let boot = Instant::now();
        let mut w = TimerWheel::new(boot);
        for days in [50u64, 2_000] {
            let now = boot + Duration::from_secs(days * 24 * 3600);
            let mut fired = Vec::new();
            w.expire(now, &mut fired);
            w.insert(now + Duration::from_millis(500), days);
            let timeout = w.next_timeout(now).unwrap();
            assert!(
                timeout >= Duration::from_millis(500) && timeout <= Duration::from_millis(501),
                "after {days} days the loop would sleep {timeout:?} for a timer 500 ms away"
            );
            w.expire(now + Duration::from_millis(499), &mut fired);
            assert!(fired.is_empty(), "fired early after {days} days");
            w.expire(now + Duration::from_millis(500), &mut fired);
            assert_eq!(fired, [days]);
        }
    }

    /// Regression (issue 14, item 9): timers could not be cancelled, so
    /// 100,000 dead one-hour timers kept waking an idle loop. Cancelled
    /// entries leave the wheel at once: nothing to wake for.
    #[test]
    fn cancelled_entries_leave_the_wheel_at_once() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0);
        let hour = Duration::from_secs(3600);
        let keys: Vec<_> = (0..100_000)
            .map(|i| w.insert(t0 + hour + Duration::from_millis(i % 5000), i))
            .collect();
        let keep = w.insert(t0 + Duration::from_millis(3), u64::MAX);
        assert_eq!(w.len(), 100_001);
        for &k in &keys {
            assert!(w.cancel(k));
        }
        assert!(!w.cancel(keys[0]), "cancelled twice");
        assert_eq!(w.len(), 1);
        assert!(w.next_timeout(t0).unwrap() <= Duration::from_millis(3));
        let mut fired = Vec::new();
        w.expire(t0 + Duration::from_millis(3), &mut fired);
        assert_eq!(fired, [u64::MAX]);
        assert!(!w.cancel(keep), "a fired entry cannot be cancelled");
        assert_eq!(w.next_timeout(t0), None, "nothing left to wake for");
    }

    /// Regression (found by the HTTP example's tests): `expire` took the
    /// tick of `now` rounded up as done, so an entry due later in that same
    /// tick was skipped for a whole revolution (a 300 ms frame timeout fired
    /// after 1.32 s).
    #[test]
    fn an_entry_fires_on_the_first_expire_after_its_tick_has_wholly_passed() {
        // `expire` skips the tick arithmetic until the next tick boundary:
        // one nanosecond before it nothing fires, at it the entry does, also
        // after calls that found nothing to do, and after a call with an
        // instant before the last one.
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0);
        let mut fired = Vec::new();
        w.expire(t0 + Duration::from_micros(1500), &mut fired); // tick 1 passes
        w.insert(t0 + Duration::from_micros(4200), "in tick 5");
        for at in [4_999_999, 4_000_000, 3, 4_999_999] {
            w.expire(t0 + Duration::from_nanos(at), &mut fired);
            assert!(fired.is_empty(), "fired at {at} ns");
        }
        w.expire(t0 + Duration::from_millis(5), &mut fired);
        assert_eq!(fired, ["in tick 5"]);
        assert_eq!(w.len(), 0);
        w.insert(t0 + Duration::from_millis(5), "due at once");
        w.expire(t0 + Duration::from_millis(5), &mut fired);
        assert_eq!(fired.len(), 1, "its tick has not wholly passed");
        w.expire(t0 + Duration::from_millis(6), &mut fired);
        assert_eq!(fired, ["in tick 5", "due at once"]);
    }

    #[test]
    fn an_entry_due_later_in_the_current_tick_is_not_skipped() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0);
        w.insert(t0 + Duration::from_micros(2500), "late in tick 3");
        let mut fired = Vec::new();
        w.expire(t0 + Duration::from_micros(2200), &mut fired);
        assert!(fired.is_empty());
        assert!(w.next_timeout(t0 + Duration::from_micros(2200)).unwrap() <= Duration::from_millis(1));
        w.expire(t0 + Duration::from_micros(3100), &mut fired);
        assert_eq!(fired, ["late in tick 3"]);
    }

    #[test]
    fn entries_in_the_past_fire_on_the_next_expire() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0);
        let mut fired = Vec::new();
        w.expire(t0 + Duration::from_millis(10), &mut fired);
        w.insert(t0, 1);
        w.expire(t0 + Duration::from_millis(11), &mut fired);
        assert_eq!(fired, [1]);
    }
}
