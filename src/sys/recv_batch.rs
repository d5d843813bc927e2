//! `recvmmsg(2)`: up to a batch of datagrams in one system call, each into a
//! buffer of its own and each with its sender. It never waits: it takes what
//! the socket holds now (`MSG_DONTWAIT`), so a batch is never held back for
//! datagrams that have not arrived.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};

use bytes::BytesMut;
use nix::libc::{self, c_long};

use super::io::raw_syscall;
use super::sockaddr;

/// The kernel's message headers for one `recvmmsg`, kept between calls so a
/// batch allocates nothing.
pub(crate) struct RecvBatch {
    hdrs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    names: Vec<libc::sockaddr_storage>,
    /// Room offered to each datagram in the last call.
    room: Vec<usize>,
}

// SAFETY: the raw pointers in `hdrs` and `iovs` are written just before each
// `recvmmsg` and read only within `recv`; none outlives the call, so the
// batch may move to another thread with its loop.
unsafe impl Send for RecvBatch {}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch").field("capacity", &self.hdrs.len()).finish()
    }
}

/// What one slot of the last batch holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// `len` bytes appended to the slot's buffer, from `from`.
    Datagram { len: usize, from: Option<SocketAddr> },
    /// A datagram of `len` bytes did not fit its buffer and was dropped.
    Truncated { len: usize, from: Option<SocketAddr> },
}

impl RecvBatch {
    /// Headers for batches of up to `capacity` datagrams.
    pub(crate) fn new(capacity: usize) -> RecvBatch {
        RecvBatch {
            // SAFETY: mmsghdr and iovec are plain old data; the pointers are
            // set before every use.
            hdrs: (0..capacity).map(|_| unsafe { std::mem::zeroed() }).collect(),
            // SAFETY: as above.
            iovs: (0..capacity).map(|_| unsafe { std::mem::zeroed() }).collect(),
            names: (0..capacity).map(|_| sockaddr::zeroed()).collect(),
            room: vec![0; capacity],
        }
    }

    /// Receives what is waiting, up to one datagram per buffer in `bufs`
    /// (at most the batch's capacity), datagram `i` appended to `bufs[i]`'s
    /// spare room, at most `max` bytes of it. Returns how many slots were
    /// filled (`0`: nothing was waiting); [`slot`](Self::slot) says what
    /// each holds. A datagram longer than its room is not delivered cut
    /// short: its slot says `Truncated` and its buffer is left as it was.
    pub(crate) fn recv(&mut self, fd: BorrowedFd<'_>, bufs: &mut [BytesMut], max: usize) -> io::Result<usize> {
        let n = bufs.len().min(self.hdrs.len());
        for (i, buf) in bufs[..n].iter_mut().enumerate() {
            buf.reserve(max);
            let spare = buf.spare_capacity_mut();
            let want = spare.len().min(max);
            self.room[i] = want;
            self.iovs[i] = libc::iovec {
                iov_base: spare.as_mut_ptr().cast(),
                iov_len: want,
            };
            let hdr = &mut self.hdrs[i].msg_hdr;
            hdr.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_iov = &mut self.iovs[i];
            hdr.msg_iovlen = 1;
            hdr.msg_control = std::ptr::null_mut();
            hdr.msg_controllen = 0;
            hdr.msg_flags = 0;
            self.hdrs[i].msg_len = 0;
        }
        // MSG_TRUNC: each message's length is the datagram's real length,
        // so one that did not fit shows.
        let flags = (libc::MSG_DONTWAIT | libc::MSG_TRUNC) as c_long;
        let got = loop {
            // SAFETY: the first `n` headers point at live name slots and at
            // iovecs that describe spare room owned by `bufs`, which outlive
            // the call; the kernel writes at most that much.
            let r = unsafe {
                raw_syscall(
                    libc::SYS_recvmmsg,
                    [
                        fd.as_raw_fd() as c_long,
                        self.hdrs.as_mut_ptr() as c_long,
                        n as c_long,
                        flags,
                        0,
                        0,
                    ],
                )
            };
            if r >= 0 {
                break r as usize;
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Ok(0),
                _ => return Err(err),
            }
        };
        for (i, buf) in bufs[..got].iter_mut().enumerate() {
            if let Slot::Datagram { len, .. } = self.slot(i) {
                // SAFETY: the kernel initialised the first `len <= room`
                // bytes of the spare room it was given.
                unsafe { buf.set_len(buf.len() + len) };
            }
        }
        Ok(got)
    }

    /// Slot `i` of the last [`recv`](Self::recv) (`i` below what it returned).
    pub(crate) fn slot(&self, i: usize) -> Slot {
        let hdr = &self.hdrs[i];
        let len = hdr.msg_len as usize;
        let from = sockaddr::read(&self.names[i]);
        if len > self.room[i] || hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
            Slot::Truncated { len, from }
        } else {
            Slot::Datagram { len, from }
        }
    }
}
