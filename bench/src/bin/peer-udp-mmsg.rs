//! Peer: the batching UDP floor. A raw-epoll UDP echo with libc and nothing
//! else, like `peer-udp-epoll`, but it takes up to 32 datagrams per
//! `recvmmsg` and answers them with one `sendmmsg`: `--threads N` threads,
//! each with its own `SO_REUSEPORT` socket and epoll instance. A short batch
//! means the queue is empty, so it goes back to `epoll_wait` without a
//! further call that would only say `EAGAIN`. Prints `pid=PID addr=IP:PORT`
//! when listening.

use std::os::fd::{AsRawFd, OwnedFd};

use netreactor_bench::serve_raw_udp;

const USAGE: &str = "peer-udp-mmsg --addr IP:PORT --threads N";

/// Datagrams per `recvmmsg`/`sendmmsg`.
const BATCH: usize = 32;
/// Room for one datagram: the largest UDP payload rounds up to this.
const SLOT_BYTES: usize = 64 * 1024;

fn serve(socket: OwnedFd) {
    let fd = socket.as_raw_fd();
    let mut bufs = vec![0u8; BATCH * SLOT_BYTES];
    // SAFETY: plain syscalls on descriptors this thread owns; every pointer
    // in the message headers points into `bufs`, `iovs` or `addrs`, which
    // live (and do not move) for the whole loop.
    unsafe {
        let epfd = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        assert!(epfd >= 0, "epoll_create1");
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: 0,
        };
        libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev);
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 8];
        let mut addrs: Vec<libc::sockaddr_storage> = vec![std::mem::zeroed(); BATCH];
        let mut iovs: Vec<libc::iovec> = (0..BATCH)
            .map(|i| libc::iovec {
                iov_base: bufs.as_mut_ptr().add(i * SLOT_BYTES).cast(),
                iov_len: SLOT_BYTES,
            })
            .collect();
        let mut msgs: Vec<libc::mmsghdr> = vec![std::mem::zeroed(); BATCH];
        loop {
            if libc::epoll_wait(epfd, events.as_mut_ptr(), events.len() as i32, -1) < 0 {
                continue;
            }
            loop {
                for i in 0..BATCH {
                    iovs[i].iov_len = SLOT_BYTES;
                    let h = &mut msgs[i].msg_hdr;
                    h.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
                    h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                    h.msg_iov = &mut iovs[i];
                    h.msg_iovlen = 1;
                }
                let n = libc::recvmmsg(
                    fd,
                    msgs.as_mut_ptr(),
                    BATCH as u32,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                );
                if n <= 0 {
                    break; // EAGAIN (or an error: wait for the next event)
                }
                let n = n as usize;
                // Each reply is its datagram, back to its sender (msg_name
                // and its length are as recvmmsg left them).
                for i in 0..n {
                    iovs[i].iov_len = msgs[i].msg_len as usize;
                }
                let mut sent = 0;
                while sent < n {
                    let k = libc::sendmmsg(fd, msgs.as_mut_ptr().add(sent), (n - sent) as u32, libc::MSG_DONTWAIT);
                    if k <= 0 {
                        break; // a full send buffer drops the rest, as sendto would
                    }
                    sent += k as usize;
                }
                if n < BATCH {
                    break;
                }
            }
        }
    }
}

fn main() {
    serve_raw_udp("peer-udp-mmsg", USAGE, serve);
}
