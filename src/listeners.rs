//! The engine's listening sockets as a hand-off sees them: each one's
//! descriptor number and address, valid while the engine accepts, and the
//! flag that tells Unix socket files they were handed to another process
//! (so the old one does not remove them).
//!
//! No descriptor is duplicated: the numbers stay valid because the only
//! ones who close listeners (the coordinator at a stop, the loops on
//! `Stop` or `StopAccepting`) close them after `close` here, or on the
//! hand-off's own request once it has sent them.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::addr::Address;

/// The listeners of one engine; `None` once it stopped accepting.
#[derive(Debug, Default)]
pub(crate) struct Listeners {
    sockets: Mutex<Option<Vec<(RawFd, Address)>>>,
    handed_off: Arc<AtomicBool>,
}

impl Listeners {
    /// Records the listeners `start` opened (or inherited).
    pub(crate) fn record(&self, sockets: Vec<(RawFd, Address)>) {
        *self.lock() = Some(sockets);
    }

    /// The engine stops accepting: the numbers are about to be closed.
    pub(crate) fn close(&self) {
        *self.lock() = None;
    }

    /// The listeners, locked: none closes while the guard is held (the
    /// closers call `close` first). `None`: the engine no longer accepts.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Option<Vec<(RawFd, Address)>>> {
        self.sockets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Set when the listeners went to another process: their Unix socket
    /// files are now that process's to remove.
    pub(crate) fn handed_off_flag(&self) -> Arc<AtomicBool> {
        self.handed_off.clone()
    }

    pub(crate) fn mark_handed_off(&self) {
        self.handed_off.store(true, Ordering::SeqCst);
    }
}
