//! Peer: the UDP floor. A minimal raw-epoll UDP echo with libc and nothing
//! else: `--threads N` threads, each with its own `SO_REUSEPORT` socket and
//! epoll instance; on readiness it echoes datagrams with `recvfrom` and
//! `sendto` until `EAGAIN`. Prints `pid=PID addr=IP:PORT` when listening.

use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};

use netreactor_bench::{announce, parse_addr, reuseport_udp_sockets, Flags};

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
    let flags = Flags::parse(USAGE, &[]);
    flags.only(&["addr", "threads", "loops"]);
    let addr = flags.get("addr").unwrap_or("127.0.0.1:0");
    let addr = parse_addr(addr.trim_start_matches("udp://")).unwrap_or_else(|| flags.fail("bad --addr"));
    let threads: usize = flags.or("threads", flags.or("loops", 1usize)).max(1);
    let sockets = reuseport_udp_sockets(addr, threads).expect("bind");
    let bound = sockets[0].local_addr().expect("local addr");
    let handles: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            // SAFETY: the descriptor comes straight from the socket we own.
            let fd = unsafe { OwnedFd::from_raw_fd(s.into_raw_fd()) };
            std::thread::Builder::new()
                .name(format!("udp-epoll-{i}"))
                .spawn(move || serve(fd))
                .expect("spawn")
        })
        .collect();
    announce("peer-udp-epoll", bound);
    for h in handles {
        let _ = h.join();
    }
}
