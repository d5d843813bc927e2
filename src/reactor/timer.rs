//! A hashed timer wheel, one per loop.
//!
//! Slots of [`TICK`] each; a timer lands in the slot of its deadline tick and
//! stays there for as many revolutions as it needs (each entry keeps its exact
//! deadline). A bitmap of occupied slots gives the next slot to wake for in a
//! few word scans, so `epoll_wait` sleeps until then instead of ticking.
//! Cancellation is lazy: the owner ignores entries it no longer expects.

use std::time::{Duration, Instant};

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
    slots: Vec<Vec<(Instant, T)>>,
    occupied: [u64; WORDS],
    len: usize,
}

impl<T> TimerWheel<T> {
    pub(crate) fn new(now: Instant) -> Self {
        TimerWheel {
            origin: now,
            current: 0,
            slots: (0..SLOTS).map(|_| Vec::new()).collect(),
            occupied: [0; WORDS],
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The tick a deadline falls in, rounded up so nothing fires early.
    fn tick_of(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(nanos.div_ceil(TICK.as_nanos())).unwrap_or(u64::MAX)
    }

    pub(crate) fn insert(&mut self, at: Instant, item: T) {
        let tick = self.tick_of(at).max(self.current + 1);
        let slot = (tick % SLOTS as u64) as usize;
        self.slots[slot].push((at, item));
        self.occupied[slot / 64] |= 1 << (slot % 64);
        self.len += 1;
    }

    /// Moves every entry due at `now` into `fired`.
    pub(crate) fn expire(&mut self, now: Instant, fired: &mut Vec<T>) {
        let target = self.tick_of(now);
        if self.len == 0 || target <= self.current {
            self.current = self.current.max(target);
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
                if entries[i].0 <= now {
                    fired.push(entries.swap_remove(i).1);
                    self.len -= 1;
                } else {
                    i += 1;
                }
            }
            if entries.is_empty() {
                self.occupied[slot / 64] &= !(1 << (slot % 64));
            }
        }
        self.current = target;
    }

    /// How long until the next occupied slot comes round (`None`: no timers).
    /// Entries there may belong to a later revolution; waking early is harmless.
    pub(crate) fn next_timeout(&self, now: Instant) -> Option<Duration> {
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
        let wake_tick = self.current + 1 + distance;
        // Ticks are milliseconds; a u64 of them spans 584 million years, so
        // this never saturates (a u32 did, after 49.7 days of uptime, and
        // turned every pending timer into a zero timeout: a busy spin).
        let wake_at = self.origin.checked_add(Duration::from_millis(wake_tick))?;
        Some(wake_at.saturating_duration_since(now))
    }
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
