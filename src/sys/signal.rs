//! SIGINT/SIGTERM for graceful shutdown: a `sigaction` handler that writes an
//! eventfd the coordinator polls.
//!
//! A handler, unlike a signalfd, works whatever the other threads' signal
//! masks are: with a signalfd, a signal delivered to any thread that had not
//! blocked it (a logger, a test harness) would still kill the process. One
//! engine at a time may handle signals; its previous dispositions are
//! restored when it stops.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicUsize, Ordering};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal};

use super::waker::Waker;

const SIGNALS: [Signal; 2] = [Signal::SIGINT, Signal::SIGTERM];

/// The eventfd the handler writes, or -1.
static TARGET_FD: AtomicI32 = AtomicI32::new(-1);
/// Handlers currently running (the fd must not close under them).
static IN_HANDLER: AtomicUsize = AtomicUsize::new(0);
/// The last signal received.
static LAST_SIGNAL: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_signal(signo: nix::libc::c_int) {
    // Only async-signal-safe work: atomics and write(2).
    IN_HANDLER.fetch_add(1, Ordering::SeqCst);
    LAST_SIGNAL.store(signo as u32, Ordering::SeqCst);
    let fd = TARGET_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live local to an eventfd that stays
        // open while IN_HANDLER is non-zero (see `Drop`). Errors (a full
        // counter) are harmless: it is readable already.
        unsafe { nix::libc::write(fd, (&one as *const u64).cast(), 8) };
    }
    IN_HANDLER.fetch_sub(1, Ordering::SeqCst);
}

/// Receives SIGINT and SIGTERM while it lives.
#[derive(Debug)]
pub(crate) struct SignalReader {
    waker: Waker,
    previous: Vec<(Signal, SigAction)>,
}

impl SignalReader {
    /// Installs the handlers.
    ///
    /// # Errors
    /// Another engine already handles signals, or `sigaction` failed.
    pub(crate) fn install() -> io::Result<Self> {
        let waker = Waker::new()?;
        let fd = waker.as_fd().as_raw_fd();
        if TARGET_FD
            .compare_exchange(-1, fd, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(io::Error::other("another engine already handles SIGINT/SIGTERM"));
        }
        let action = SigAction::new(SigHandler::Handler(on_signal), SaFlags::SA_RESTART, SigSet::empty());
        let mut reader = SignalReader {
            waker,
            previous: Vec::new(),
        };
        for sig in SIGNALS {
            // SAFETY: `on_signal` is async-signal-safe (atomics and write(2)).
            match unsafe { nix::sys::signal::sigaction(sig, &action) } {
                Ok(old) => reader.previous.push((sig, old)),
                Err(e) => return Err(e.into()), // Drop restores what was installed
            }
        }
        Ok(reader)
    }

    /// The signal number received since the last call, if any.
    pub(crate) fn read(&self) -> Option<u32> {
        self.waker.drain();
        Some(LAST_SIGNAL.swap(0, Ordering::SeqCst)).filter(|&s| s != 0)
    }
}

impl AsFd for SignalReader {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.waker.as_fd()
    }
}

impl Drop for SignalReader {
    fn drop(&mut self) {
        for (sig, old) in self.previous.drain(..) {
            // SAFETY: restores the disposition that was in place before.
            let _ = unsafe { nix::sys::signal::sigaction(sig, &old) };
        }
        TARGET_FD.store(-1, Ordering::SeqCst);
        // A handler that loaded the fd before the store is still counted.
        while IN_HANDLER.load(Ordering::SeqCst) != 0 {
            std::hint::spin_loop();
        }
    }
}
