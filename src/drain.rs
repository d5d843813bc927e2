//! An engine's drain state: set once when a drain (or a stop) begins, read
//! by handles, `Stats`, the metrics and the coordinator that ends it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::deadline;

/// When the engine began to drain and by when every connection is closed.
#[derive(Debug, Default)]
pub(crate) struct DrainState {
    /// `Some(deadline)` once draining (or stopping) began.
    deadline: Mutex<Option<Instant>>,
    /// `deadline` is set (read on the accept path without the lock).
    active: AtomicBool,
}

impl DrainState {
    /// Starts draining with `deadline`; false when a drain or stop already
    /// began (an earlier deadline wins: a stop may cut a drain short).
    pub(crate) fn begin(&self, deadline: Instant) -> bool {
        let mut d = self.deadline.lock().unwrap_or_else(|e| e.into_inner());
        match *d {
            Some(earlier) => {
                *d = Some(earlier.min(deadline));
                false
            }
            None => {
                *d = Some(deadline);
                self.active.store(true, Ordering::Release);
                true
            }
        }
    }

    /// True once draining (or stopping) began.
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// The hard deadline, once draining began.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        *self.deadline.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The deadline `grace` from now (one too far to compute, a year: as good
/// as none).
pub(crate) fn deadline_after(grace: Duration) -> Instant {
    let now = Instant::now();
    deadline::after(now, grace).unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}
