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

/// The kernel's message headers for one `recvmmsg` and a buffer for each
/// datagram, kept between calls so a batch allocates nothing.
///
/// A slot stays set up between calls until its buffer may have changed
/// (it was lent out with [`buf_mut`](Self::buf_mut)) or the kernel wrote to
/// its header (it was filled): a batch that brings two datagrams sets up two
/// slots for the next call, not the whole batch.
pub(crate) struct RecvBatch {
    hdrs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    names: Vec<libc::sockaddr_storage>,
    bufs: Vec<BytesMut>,
    /// Bit `i`: slot `i` must be set up before it is offered again.
    stale: u64,
    /// The `max` the slots were set up for.
    armed_max: usize,
}

// SAFETY: the raw pointers in `hdrs` and `iovs` point into the batch's own
// vectors and buffers, which move with it; the kernel follows them only
// within `recv`, so the batch may move to another thread with its loop.
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
    /// A batch of up to `capacity` datagrams (at most 64), each slot with a
    /// buffer of its own.
    pub(crate) fn new(capacity: usize) -> RecvBatch {
        assert!(capacity <= 64, "a receive batch holds at most 64 datagrams");
        let mut batch = RecvBatch {
            // SAFETY: mmsghdr and iovec are plain old data; the pointers are
            // set below, the iovecs before a slot is first offered.
            hdrs: (0..capacity).map(|_| unsafe { std::mem::zeroed() }).collect(),
            // SAFETY: as above.
            iovs: (0..capacity).map(|_| unsafe { std::mem::zeroed() }).collect(),
            names: (0..capacity).map(|_| sockaddr::zeroed()).collect(),
            bufs: (0..capacity).map(|_| BytesMut::new()).collect(),
            stale: u64::MAX,
            armed_max: 0,
        };
        // Each header points at its own name slot and iovec for good: the
        // vectors never grow, so their elements never move.
        for i in 0..capacity {
            let hdr = &mut batch.hdrs[i].msg_hdr;
            hdr.msg_name = (&mut batch.names[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_iov = &mut batch.iovs[i];
            hdr.msg_iovlen = 1;
        }
        batch
    }

    /// Slot `i`'s buffer, to lend out (swap with a connection's) or change:
    /// the slot is set up again before it is next offered.
    pub(crate) fn buf_mut(&mut self, i: usize) -> &mut BytesMut {
        self.stale |= 1 << i;
        &mut self.bufs[i]
    }

    /// Sets slot `i` up to take a datagram into its buffer's spare room
    /// (at most `max` bytes, reserved first).
    #[inline]
    fn arm(&mut self, i: usize, max: usize) {
        let buf = &mut self.bufs[i];
        // A slot starts each call empty: one filled but not served (the
        // loop stopped mid-batch) must not reach the next turn merged with
        // the datagram after it.
        buf.clear();
        buf.reserve(max);
        let spare = buf.spare_capacity_mut();
        let want = spare.len().min(max);
        // The iovec's length is the room the datagram is offered.
        self.iovs[i] = libc::iovec {
            iov_base: spare.as_mut_ptr().cast(),
            iov_len: want,
        };
        // The kernel wrote the last sender's length here.
        self.hdrs[i].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    }

    /// Receives what is waiting, up to `want` datagrams (at most the
    /// batch's capacity), datagram `i` appended to slot `i`'s buffer, at
    /// most `max` bytes of it. Returns how many slots were filled (`0`:
    /// nothing was waiting); [`slot`](Self::slot) says what each holds. A
    /// datagram longer than its room is not delivered cut short: its slot
    /// says `Truncated` and its buffer is left as it was.
    pub(crate) fn recv(&mut self, fd: BorrowedFd<'_>, want: usize, max: usize) -> io::Result<usize> {
        let n = want.min(self.hdrs.len());
        if max != self.armed_max {
            self.armed_max = max;
            self.stale = u64::MAX;
        }
        let mut due = self.stale & low_bits(n);
        while due != 0 {
            let i = due.trailing_zeros() as usize;
            due &= due - 1;
            self.arm(i, max);
        }
        self.stale &= !low_bits(n);
        for (i, buf) in self.bufs[..n].iter().enumerate() {
            let spare = buf.as_ptr().wrapping_add(buf.len());
            debug_assert_eq!(
                self.iovs[i].iov_base.cast_const(),
                spare.cast(),
                "slot {i} set up for another buffer"
            );
            debug_assert!(
                self.iovs[i].iov_len <= buf.capacity() - buf.len(),
                "slot {i} offers more than its room"
            );
            debug_assert_eq!(
                self.hdrs[i].msg_hdr.msg_namelen as usize,
                std::mem::size_of::<libc::sockaddr_storage>(),
                "slot {i}'s address length left as the kernel wrote it"
            );
        }
        // MSG_TRUNC: each message's length is the datagram's real length,
        // so one that did not fit shows.
        let flags = (libc::MSG_DONTWAIT | libc::MSG_TRUNC) as c_long;
        let got = loop {
            // SAFETY: the first `n` headers point at live name slots and at
            // iovecs that describe spare room of the slots' buffers (set up
            // since each buffer last changed), which outlive the call; the
            // kernel writes at most that much.
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
        // The kernel wrote these slots' headers (and their buffers grow).
        self.stale |= low_bits(got);
        for i in 0..got {
            if let Some(len) = self.delivered(i) {
                let buf = &mut self.bufs[i];
                // SAFETY: the kernel initialised the first `len <= room`
                // bytes of the spare room it was given.
                unsafe { buf.set_len(buf.len() + len) };
            }
        }
        Ok(got)
    }

    /// Slot `i` of the last [`recv`](Self::recv) (`i` below what it returned).
    pub(crate) fn slot(&self, i: usize) -> Slot {
        let from = sockaddr::read(&self.names[i]);
        match self.delivered(i) {
            Some(len) => Slot::Datagram { len, from },
            None => Slot::Truncated {
                len: self.hdrs[i].msg_len as usize,
                from,
            },
        }
    }

    /// Slot `i`'s buffer, read without marking it changed.
    #[cfg(test)]
    fn buf(&self, i: usize) -> &BytesMut {
        &self.bufs[i]
    }

    /// The length of slot `i`'s datagram if it fit its room whole.
    #[inline]
    fn delivered(&self, i: usize) -> Option<usize> {
        let hdr = &self.hdrs[i];
        let len = hdr.msg_len as usize;
        (len <= self.iovs[i].iov_len && hdr.msg_hdr.msg_flags & libc::MSG_TRUNC == 0).then_some(len)
    }
}

/// The lowest `n` bits set (`n` at most 64).
fn low_bits(n: usize) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1 << n) - 1
    }
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::os::fd::AsFd;
    use std::time::{Duration, Instant};

    use super::*;

    fn pair() -> (UdpSocket, UdpSocket) {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        (server, client)
    }

    /// Receives into `batch` until something arrives (loopback delivers
    /// within the send, so the first call nearly always does), by deadline.
    fn recv_some(batch: &mut RecvBatch, server: &UdpSocket, max: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let n = batch.recv(server.as_fd(), 8, max).unwrap();
            if n > 0 {
                return n;
            }
            assert!(Instant::now() < deadline, "no datagram arrived");
        }
    }

    /// Sends `msgs` and receives them, taking each slot's bytes out with
    /// `buf_mut` (as a handler's turn does) when `lend`, or only reading
    /// them when not; returns each datagram's bytes.
    fn round(
        batch: &mut RecvBatch,
        (server, client): (&UdpSocket, &UdpSocket),
        msgs: &[&[u8]],
        lend: bool,
    ) -> Vec<Vec<u8>> {
        for m in msgs {
            client.send_to(m, server.local_addr().unwrap()).unwrap();
        }
        let mut got = Vec::new();
        while got.len() < msgs.len() {
            let n = recv_some(batch, server, 1024);
            for i in 0..n {
                let from = Some(client.local_addr().unwrap());
                assert_eq!(
                    batch.slot(i),
                    Slot::Datagram {
                        len: msgs[got.len()].len(),
                        from
                    }
                );
                if lend {
                    let buf = batch.buf_mut(i);
                    got.push(buf.to_vec());
                    buf.clear();
                } else {
                    got.push(batch.buf(i).to_vec());
                }
            }
        }
        got
    }

    fn owned(msgs: &[&[u8]]) -> Vec<Vec<u8>> {
        msgs.iter().map(|m| m.to_vec()).collect()
    }

    #[test]
    fn slots_left_alone_keep_their_set_up_and_changed_ones_are_set_up_again() {
        let (server, client) = pair();
        let sockets = (&server, &client);
        let mut batch = RecvBatch::new(8);
        let two: [&[u8]; 2] = [b"one", b"two"];
        assert_eq!(round(&mut batch, sockets, &two, true), owned(&two));
        // Slot 5 was set up by the first call and not filled; its buffer
        // replaced by one with no room, it must be set up again (reserved),
        // not written through the old buffer's pointer.
        *batch.buf_mut(5) = BytesMut::new();
        let six: [&[u8]; 6] = [b"a", b"bb", b"ccc", b"dddd", b"eeeee", b"ffffff"];
        assert_eq!(round(&mut batch, sockets, &six, true), owned(&six));
        // Slots filled but never lent out (a truncated datagram's, or one
        // the loop did not reach) are set up again too: the next datagram
        // starts its slot afresh, not after the last one's bytes.
        let three: [&[u8]; 3] = [b"x", b"yy", b"zzz"];
        assert_eq!(round(&mut batch, sockets, &three, false), owned(&three));
        assert_eq!(round(&mut batch, sockets, &three, false), owned(&three));
    }

    #[test]
    fn a_smaller_max_sets_every_slot_up_again() {
        let (server, client) = pair();
        let sockets = (&server, &client);
        let mut batch = RecvBatch::new(8);
        let one: [&[u8]; 1] = [b"warm"];
        assert_eq!(round(&mut batch, sockets, &one, true), owned(&one));
        // Slots 1..8 were set up for 1,024 bytes and not touched since; with
        // `max` 10 a 100-byte datagram landing in slot 3 is reported
        // truncated, not delivered.
        let to = server.local_addr().unwrap();
        for m in [&b"1"[..], b"2", b"3"] {
            client.send_to(m, to).unwrap();
        }
        client.send_to(&[7; 100], to).unwrap();
        let mut seen = 0;
        while seen < 4 {
            let n = recv_some(&mut batch, &server, 10);
            for i in 0..n {
                if seen + i == 3 {
                    assert!(
                        matches!(batch.slot(i), Slot::Truncated { len: 100, .. }),
                        "{:?}",
                        batch.slot(i)
                    );
                    assert!(
                        batch.buf(i).is_empty(),
                        "a truncated datagram leaves its buffer as it was"
                    );
                } else {
                    assert!(matches!(batch.slot(i), Slot::Datagram { len: 1, .. }));
                }
            }
            seen += n;
        }
    }
}
