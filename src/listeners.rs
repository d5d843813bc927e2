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
    /// Who has stopped accepting: the acceptor (0) and each loop (1 + i).
    /// Once all have, every connection the engine will ever accept is
    /// counted in its loops' connection counts.
    stopped: Mutex<Vec<bool>>,
}

impl Listeners {
    /// Records the listeners `start` opened (or inherited), for an engine
    /// of `loops` loops.
    pub(crate) fn record(&self, sockets: Vec<(RawFd, Address)>, loops: usize) {
        *self.lock() = Some(sockets);
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = vec![false; 1 + loops];
    }

    /// `party` (0: the acceptor, 1 + i: loop i) accepts no more.
    pub(crate) fn stopped_accepting(&self, party: usize) {
        if let Some(s) = self.stopped.lock().unwrap_or_else(|e| e.into_inner()).get_mut(party) {
            *s = true;
        }
    }

    /// True once the acceptor and every loop accept no more.
    pub(crate) fn all_stopped_accepting(&self) -> bool {
        self.stopped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .all(|&s| s)
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

    /// The listeners went to another process (which accepts what waits in
    /// their queues).
    pub(crate) fn is_handed_off(&self) -> bool {
        self.handed_off.load(Ordering::SeqCst)
    }

    pub(crate) fn mark_handed_off(&self) {
        self.handed_off.store(true, Ordering::SeqCst);
    }
}
