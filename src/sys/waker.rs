//! eventfd: how other threads wake a parked loop.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::eventfd::{EfdFlags, EventFd};

/// A non-blocking, close-on-exec eventfd.
#[derive(Debug)]
pub(crate) struct Waker {
    fd: EventFd,
}

impl Waker {
    pub(crate) fn new() -> io::Result<Self> {
        let fd = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?;
        Ok(Waker { fd })
    }

    /// Makes the eventfd readable. A full counter (EAGAIN) is already readable.
    pub(crate) fn wake(&self) -> io::Result<()> {
        match self.fd.write(1) {
            Ok(_) | Err(nix::errno::Errno::EAGAIN) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Resets the counter so level-triggered epoll stops reporting it.
    pub(crate) fn drain(&self) {
        let _ = self.fd.read();
    }
}

impl AsFd for Waker {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
