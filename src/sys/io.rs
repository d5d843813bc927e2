//! The two syscalls of the hot path: read into a `BytesMut`, and send a
//! gather list without raising SIGPIPE.

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, BorrowedFd};

use bytes::BytesMut;

/// Outcome of one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadOutcome {
    Data(usize),
    Eof,
    WouldBlock,
}

/// One `read(2)` of at most `max` bytes appended to `buf` (reserving first).
pub(crate) fn read_into(fd: BorrowedFd<'_>, buf: &mut BytesMut, max: usize) -> io::Result<ReadOutcome> {
    buf.reserve(max);
    let spare = buf.spare_capacity_mut();
    let want = spare.len().min(max);
    loop {
        // SAFETY: `spare` is writable, uninitialised memory of at least `want`
        // bytes owned by `buf`; read(2) initialises the first `n` of them.
        let n = unsafe { nix::libc::read(fd.as_raw_fd(), spare.as_mut_ptr().cast(), want) };
        if n > 0 {
            let n = n as usize;
            // SAFETY: the kernel initialised `n <= want` bytes past `len`.
            unsafe { buf.set_len(buf.len() + n) };
            return Ok(ReadOutcome::Data(n));
        }
        if n == 0 {
            return Ok(ReadOutcome::Eof);
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(ReadOutcome::WouldBlock),
            _ => return Err(err),
        }
    }
}

/// One `send`/`sendmsg` with MSG_NOSIGNAL: a peer that reset the connection
/// yields EPIPE instead of killing the process. Returns bytes written;
/// `Ok(0)` for EAGAIN when `slices` is non-empty.
pub(crate) fn send_vectored(fd: BorrowedFd<'_>, slices: &[IoSlice<'_>]) -> io::Result<usize> {
    let flags = nix::libc::MSG_NOSIGNAL | nix::libc::MSG_DONTWAIT;
    loop {
        let n = if slices.len() == 1 {
            // SAFETY: the pointer and length describe one live, initialised slice.
            unsafe { nix::libc::send(fd.as_raw_fd(), slices[0].as_ptr().cast(), slices[0].len(), flags) }
        } else {
            // SAFETY: IoSlice is ABI-compatible with iovec; the array lives for
            // the call and msghdr is zeroed except for the gather list.
            unsafe {
                let mut msg: nix::libc::msghdr = std::mem::zeroed();
                msg.msg_iov = slices.as_ptr() as *mut nix::libc::iovec;
                msg.msg_iovlen = slices.len() as _;
                nix::libc::sendmsg(fd.as_raw_fd(), &msg, flags)
            }
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(0),
            _ => return Err(err),
        }
    }
}
