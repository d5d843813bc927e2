//! A level-triggered epoll poller keyed by 64-bit tokens.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

use nix::libc::{self, c_long};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

use super::io::raw_syscall;

/// The kernel's sigset size (epoll_pwait ignores it when the mask is null,
/// as here; passed correctly anyway).
const SIGSET_BYTES: c_long = 8;

/// What a registration waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Interest {
    pub(crate) read: bool,
    pub(crate) write: bool,
}

impl Interest {
    pub(crate) const READ: Interest = Interest {
        read: true,
        write: false,
    };
    pub(crate) const WRITE: Interest = Interest {
        read: false,
        write: true,
    };
    pub(crate) const NONE: Interest = Interest {
        read: false,
        write: false,
    };

    fn flags(self) -> EpollFlags {
        // RDHUP only with read interest: it stays raised after the peer's
        // FIN, so keeping it while only waiting to write would spin.
        let mut f = EpollFlags::empty();
        if self.read {
            f |= EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP;
        }
        if self.write {
            f |= EpollFlags::EPOLLOUT;
        }
        f
    }
}

/// One readiness report.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event {
    pub(crate) token: u64,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// Hang-up or error: the next read or write reports what happened.
    pub(crate) hangup: bool,
}

/// An epoll instance plus its event array.
#[derive(Debug)]
pub(crate) struct Poller {
    epoll: Epoll,
    events: Vec<EpollEvent>,
}

impl Poller {
    pub(crate) fn new(capacity: usize) -> io::Result<Self> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        Ok(Poller {
            epoll,
            events: vec![EpollEvent::empty(); capacity.max(1)],
        })
    }

    pub(crate) fn add(&self, fd: BorrowedFd<'_>, token: u64, interest: Interest) -> io::Result<()> {
        Ok(self.epoll.add(fd, EpollEvent::new(interest.flags(), token))?)
    }

    pub(crate) fn modify(&self, fd: BorrowedFd<'_>, token: u64, interest: Interest) -> io::Result<()> {
        let mut ev = EpollEvent::new(interest.flags(), token);
        Ok(self.epoll.modify(fd, &mut ev)?)
    }

    /// Removes `fd` from the interest list. Needed before closing a socket
    /// whose open file description another descriptor (in this process or
    /// another: an inherited or handed-off listener) keeps alive, which
    /// closing alone would leave registered.
    pub(crate) fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        Ok(self.epoll.delete(fd)?)
    }

    /// Waits up to `timeout` (`None`: forever) and returns how many events
    /// are ready; read them with [`Poller::event`]. EINTR counts as zero.
    #[inline]
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        let timeout = match timeout {
            None => EpollTimeout::NONE,
            Some(d) => EpollTimeout::try_from(millis_rounded_up(d)).unwrap_or(EpollTimeout::MAX),
        };
        let timeout: i32 = timeout.into();
        let epfd = self.epoll.0.as_raw_fd() as c_long;
        let (events, max) = (self.events.as_mut_ptr() as c_long, self.events.len() as c_long);
        // epoll_pwait with no signal mask is epoll_wait, entered without
        // glibc's cancellation-point wrapper (see `sys::io`).
        // SAFETY: EpollEvent is `repr(transparent)` over `epoll_event`; the
        // array holds `max` of them and outlives the call.
        let n = unsafe {
            raw_syscall(
                libc::SYS_epoll_pwait,
                [epfd, events, max, timeout as c_long, 0, SIGSET_BYTES],
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        match io::Error::last_os_error() {
            e if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            e => Err(e),
        }
    }

    #[inline]
    pub(crate) fn event(&self, i: usize) -> Event {
        let ev = &self.events[i];
        let f = ev.events();
        Event {
            token: ev.data(),
            readable: f.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP),
            writable: f.contains(EpollFlags::EPOLLOUT),
            hangup: f.intersects(EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR),
        }
    }
}

impl AsFd for Poller {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.0.as_fd()
    }
}

/// Milliseconds for epoll, rounded up so a 0.3 ms timer never becomes a busy
/// zero-timeout poll; clamped to `i32::MAX`.
pub(crate) fn millis_rounded_up(d: Duration) -> i32 {
    // u64 arithmetic: dividing the u128 of `as_nanos` costs more.
    let ms = d
        .as_secs()
        .saturating_mul(1000)
        .saturating_add(u64::from(d.subsec_nanos().div_ceil(1_000_000)));
    i32::try_from(ms).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_millisecond_timeouts_round_up() {
        assert_eq!(millis_rounded_up(Duration::from_micros(300)), 1);
        assert_eq!(millis_rounded_up(Duration::from_millis(2)), 2);
        assert_eq!(millis_rounded_up(Duration::ZERO), 0);
        assert_eq!(millis_rounded_up(Duration::from_secs(u64::MAX)), i32::MAX);
    }
}
