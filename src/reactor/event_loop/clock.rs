//! The loop's idea of "now": read from the system at most once per
//! iteration, and only when something asks (a connection with timing
//! state, a timer, a linger). A loop that serves connections without any
//! deadline never reads the clock at all.

use std::cell::Cell;
use std::time::Instant;

/// The time of the current iteration, read on first use.
#[derive(Debug, Default)]
pub(super) struct Clock(Cell<Option<Instant>>);

impl Clock {
    /// The time of this iteration: the clock is read by the first call
    /// after [`Clock::tick`] and the same instant is returned until the next.
    #[inline]
    pub(super) fn now(&self) -> Instant {
        match self.0.get() {
            Some(now) => now,
            None => self.read(),
        }
    }

    #[cold]
    #[inline(never)]
    fn read(&self) -> Instant {
        let now = Instant::now();
        self.0.set(Some(now));
        now
    }

    /// A new iteration begins: the next [`Clock::now`] reads the clock.
    #[inline]
    pub(super) fn tick(&self) {
        self.0.set(None);
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn one_reading_per_iteration() {
        let clock = Clock::default();
        let a = clock.now();
        assert_eq!(clock.now(), a, "the same instant within an iteration");
        clock.tick();
        let b = clock.now();
        assert!(b >= a);
        assert_eq!(clock.now(), b);
    }
}
