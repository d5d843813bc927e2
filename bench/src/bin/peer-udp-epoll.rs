//! Peer: the UDP floor. A minimal raw-epoll UDP echo with libc and nothing
//! else: `--threads N` threads, each with its own `SO_REUSEPORT` socket and
//! epoll instance; on readiness it echoes datagrams with `recvfrom` and
//! `sendto` until `EAGAIN`. Prints `pid=PID addr=IP:PORT` when listening.

use std::os::fd::{AsRawFd, OwnedFd};

use netreactor_bench::serve_raw_udp;

const USAGE: &str = "peer-udp-epoll --addr IP:PORT --threads N";

fn serve(socket: OwnedFd) {
    let fd = socket.as_raw_fd();
    // SAFETY: plain syscalls on descriptors this thread owns.
    unsafe {
        let epfd = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        assert!(epfd >= 0, "epoll_create1");
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: 0,
        };
        libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev);
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 8];
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if libc::epoll_wait(epfd, events.as_mut_ptr(), events.len() as i32, -1) < 0 {
                continue;
            }
            loop {
                let mut from: libc::sockaddr_storage = std::mem::zeroed();
                let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                let n = libc::recvfrom(
                    fd,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    0,
                    (&mut from as *mut libc::sockaddr_storage).cast(),
                    &mut len,
                );
                if n < 0 {
                    break; // EAGAIN (or an error: wait for the next event)
                }
                libc::sendto(
                    fd,
                    buf.as_ptr().cast(),
                    n as usize,
                    libc::MSG_DONTWAIT,
                    (&from as *const libc::sockaddr_storage).cast(),
                    len,
                );
            }
        }
    }
}

fn main() {
    serve_raw_udp("peer-udp-epoll", USAGE, serve);
}
