//! `sendmmsg(2)`: the replies of one batch in one system call, and UDP GSO
//! (`UDP_SEGMENT`): a run of equal-sized datagrams to one address goes down
//! the stack as one message that is cut into datagrams at the bottom, so the
//! per-datagram cost of the send path is paid once per run.
//!
//! A kernel or device that refuses GSO (`EIO`, `EINVAL`: no checksum
//! offload, `SO_NO_CHECK`, a segment larger than the path's MTU) gets that
//! run again as separate datagrams, and the caller is told so it stops
//! asking: nothing is lost to the attempt.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::libc::{self, c_long};

use super::io::raw_syscall;
use super::sockaddr;

/// Most datagrams in one GSO message (the kernel's `UDP_MAX_SEGMENTS`).
const GSO_MAX_SEGMENTS: usize = 64;
/// Most payload bytes in one GSO message: an IPv4 packet's 65,535 bytes
/// less its IP and UDP headers (IPv6 allows a little more).
const GSO_MAX_BYTES: usize = 65_535 - 20 - 8;
/// Room for one control message carrying a `u16` (`CMSG_SPACE(2)`).
const CMSG_WORDS: usize = 3;

/// One datagram to send: its destination and its bytes, in up to two pieces.
pub(crate) type Datagram<'a> = (SocketAddr, [&'a [u8]; 2]);

/// Kernel message headers kept between calls, so a batch allocates nothing.
pub(crate) struct SendBatch {
    hdrs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    names: Vec<libc::sockaddr_storage>,
    cmsgs: Vec<[u64; CMSG_WORDS]>,
    /// For each message: its first datagram and how many it carries.
    runs: Vec<(usize, usize)>,
}

// SAFETY: the raw pointers in `hdrs` and `iovs` are written inside `send`
// and used only there; none outlives the call.
unsafe impl Send for SendBatch {}

impl std::fmt::Debug for SendBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendBatch").field("capacity", &self.hdrs.len()).finish()
    }
}

/// What one [`SendBatch::send`] did.
#[derive(Debug, Default)]
pub(crate) struct Sent {
    pub(crate) datagrams: usize,
    pub(crate) bytes: usize,
    /// Datagrams the kernel refused (a full buffer, an unreachable
    /// address): dropped, as UDP does.
    pub(crate) dropped: usize,
    /// The first refusal, for the log.
    pub(crate) error: Option<io::Error>,
    /// The kernel refused a GSO message (sent again datagram by datagram).
    pub(crate) gso_refused: bool,
}

impl SendBatch {
    /// Headers for batches of up to `capacity` datagrams.
    pub(crate) fn new(capacity: usize) -> SendBatch {
        SendBatch {
            // SAFETY: plain old data; the pointers are set before every use.
            hdrs: (0..capacity).map(|_| unsafe { std::mem::zeroed() }).collect(),
            // SAFETY: as above.
            iovs: (0..capacity * 2).map(|_| unsafe { std::mem::zeroed() }).collect(),
            names: (0..capacity).map(|_| sockaddr::zeroed()).collect(),
            cmsgs: vec![[0; CMSG_WORDS]; capacity],
            runs: Vec::with_capacity(capacity),
        }
    }

    /// Sends datagrams `0..n` (`datagram(i)` gives each; `n` at most the
    /// capacity) with as few `sendmmsg` calls as the kernel allows, in
    /// order. With `gso`, each run of datagrams of one size to one address
    /// (the last may be shorter) goes as one GSO message.
    pub(crate) fn send<'a>(
        &mut self,
        fd: BorrowedFd<'_>,
        n: usize,
        gso: bool,
        datagram: impl Fn(usize) -> Datagram<'a>,
    ) -> Sent {
        let n = n.min(self.hdrs.len());
        self.runs.clear();
        let mut iov = 0;
        let mut i = 0;
        // Each datagram is asked for once: the one after a run is looked
        // at to end it and then starts the next.
        let mut ahead = (n > 0).then(|| datagram(0));
        while let Some((to, first)) = ahead.take() {
            let size = first[0].len() + first[1].len();
            let first_iov = iov;
            let mut count = 0;
            let mut total = 0;
            let mut pieces = first;
            // A run: same address, same size; a shorter one ends it.
            loop {
                for piece in pieces.iter().filter(|p| !p.is_empty()) {
                    self.iovs[iov] = libc::iovec {
                        iov_base: piece.as_ptr() as *mut libc::c_void,
                        iov_len: piece.len(),
                    };
                    iov += 1;
                }
                let len = pieces[0].len() + pieces[1].len();
                total += len;
                count += 1;
                ahead = (i + count < n).then(|| datagram(i + count));
                if !gso || len < size || size == 0 || count == GSO_MAX_SEGMENTS {
                    break;
                }
                match ahead {
                    Some((next_to, next))
                        if next_to == to
                            && next[0].len() + next[1].len() <= size
                            && total + next[0].len() + next[1].len() <= GSO_MAX_BYTES =>
                    {
                        pieces = next; // the loop asks for the datagram after it
                    }
                    _ => break,
                }
            }
            let m = self.runs.len();
            let namelen = sockaddr::write(to, &mut self.names[m]);
            let hdr = &mut self.hdrs[m].msg_hdr;
            hdr.msg_name = (&mut self.names[m] as *mut libc::sockaddr_storage).cast();
            hdr.msg_namelen = namelen;
            hdr.msg_iov = &mut self.iovs[first_iov];
            hdr.msg_iovlen = (iov - first_iov) as _;
            hdr.msg_flags = 0;
            if count > 1 {
                let space = &mut self.cmsgs[m];
                *space = [0; CMSG_WORDS];
                hdr.msg_control = space.as_mut_ptr().cast();
                // SAFETY: CMSG_SPACE/CMSG_LEN are pure arithmetic.
                hdr.msg_controllen = unsafe { libc::CMSG_SPACE(2) } as _;
                // SAFETY: the control buffer is CMSG_SPACE(2) bytes long and
                // aligned for cmsghdr (u64 words); CMSG_FIRSTHDR points at
                // its start and CMSG_DATA at room for the u16 within it.
                unsafe {
                    let cmsg = libc::CMSG_FIRSTHDR(hdr);
                    (*cmsg).cmsg_level = libc::SOL_UDP;
                    (*cmsg).cmsg_type = libc::UDP_SEGMENT;
                    (*cmsg).cmsg_len = libc::CMSG_LEN(2) as _;
                    std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), size as u16);
                }
            } else {
                hdr.msg_control = std::ptr::null_mut();
                hdr.msg_controllen = 0;
            }
            self.runs.push((i, count));
            i += count;
        }

        let mut sent = Sent::default();
        let mut start = 0;
        let messages = self.runs.len();
        let flags = (libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) as c_long;
        while start < messages {
            // SAFETY: headers `start..messages` point at live name slots,
            // control buffers and iovecs, which describe the bytes that
            // `datagram` lent for `'a` (outliving this call).
            let r = unsafe {
                raw_syscall(
                    libc::SYS_sendmmsg,
                    [
                        fd.as_raw_fd() as c_long,
                        self.hdrs.as_mut_ptr().add(start) as c_long,
                        (messages - start) as c_long,
                        flags,
                        0,
                        0,
                    ],
                )
            };
            if r > 0 {
                for m in start..start + r as usize {
                    sent.datagrams += self.runs[m].1;
                    sent.bytes += self.hdrs[m].msg_len as usize;
                }
                start += r as usize;
                continue;
            }
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            // The message at `start` was refused.
            let (first, count) = self.runs[start];
            let gso_refused = count > 1 && matches!(err.raw_os_error(), Some(libc::EIO) | Some(libc::EINVAL));
            if gso_refused {
                sent.gso_refused = true;
                for k in first..first + count {
                    let (to, p) = datagram(k);
                    match super::socket::send_datagram(fd, &[IoSlice::new(p[0]), IoSlice::new(p[1])], to) {
                        Ok(b) => {
                            sent.datagrams += 1;
                            sent.bytes += b;
                        }
                        Err(e) => {
                            sent.dropped += 1;
                            sent.error.get_or_insert(e);
                        }
                    }
                }
            } else {
                sent.dropped += count;
            }
            sent.error.get_or_insert(err);
            start += 1;
        }
        sent
    }
}
