//! Turning a user's duration into a deadline without ever overflowing.
//!
//! Users say "never" with `Duration::MAX` (or any huge value); `Instant +
//! Duration` panics when the sum does not fit. Every deadline in the engine
//! is made here: durations of [`NEVER`] or more mean no deadline at all, and
//! everything shorter always fits.

use std::time::{Duration, Instant};

/// Durations at or past this (about a century) mean "never".
pub(crate) const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// `now + d`, or `None` when `d` means never.
#[inline]
pub(crate) fn after(now: Instant, d: Duration) -> Option<Instant> {
    if d >= NEVER {
        None
    } else {
        now.checked_add(d)
    }
}

/// The earlier of two deadlines, where `None` is never.
#[inline]
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_durations_mean_never_and_nothing_overflows() {
        let now = Instant::now();
        assert_eq!(after(now, Duration::MAX), None);
        assert_eq!(after(now, NEVER), None);
        assert_eq!(after(now, Duration::from_secs(u64::MAX / 2)), None);
        assert_eq!(after(now, Duration::ZERO), Some(now));
        let almost = NEVER - Duration::from_nanos(1);
        assert_eq!(after(now, almost), Some(now + almost));
    }
}
