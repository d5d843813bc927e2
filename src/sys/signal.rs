//! SIGINT/SIGTERM through a signalfd, for graceful shutdown on Ctrl-C.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// A non-blocking signalfd for SIGINT and SIGTERM.
#[derive(Debug)]
pub(crate) struct SignalReader {
    fd: SignalFd,
}

impl SignalReader {
    /// Blocks SIGINT and SIGTERM on the calling thread (threads it spawns
    /// inherit the mask) and opens a signalfd that receives them.
    pub(crate) fn block_and_open() -> io::Result<Self> {
        let mut set = SigSet::empty();
        set.add(Signal::SIGINT);
        set.add(Signal::SIGTERM);
        nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(SignalReader { fd })
    }

    /// The signal number received, if any.
    pub(crate) fn read(&self) -> Option<u32> {
        self.fd.read_signal().ok().flatten().map(|s| s.ssi_signo)
    }
}

impl AsFd for SignalReader {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
