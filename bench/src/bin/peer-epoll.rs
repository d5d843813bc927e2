//! Peer: the floor. A minimal raw-epoll echo server with libc and nothing
//! else: `--threads N` threads, each with its own `SO_REUSEPORT` listener
//! and epoll instance, level-triggered, one `read` and one `write` per
//! event. Bytes go back unchanged, which for the length-field mode is the
//! same as echoing whole frames. Prints `pid=PID addr=IP:PORT` when
//! listening.
//!
//! `--et 1` registers connections edge-triggered instead (`EPOLLET`), and
//! treats a read shorter than the buffer as "drained" (as tokio does), so
//! it still makes one `read` and one `write` per event; an experiment on
//! the kernel's cost of level-triggered re-polling.

use std::os::fd::{IntoRawFd, RawFd};

use netreactor_bench::{announce, parse_addr, raise_nofile_limit, reuseport_listeners, Flags};

const USAGE: &str = "peer-epoll --addr IP:PORT --threads N [--et 0|1]";
const LISTENER: u64 = u64::MAX;

fn ctl(epfd: RawFd, op: i32, fd: RawFd, events: i32) {
    let mut ev = libc::epoll_event {
        events: events as u32,
        u64: fd as u64,
    };
    // SAFETY: `ev` is valid for the call.
    unsafe { libc::epoll_ctl(epfd, op, fd, &mut ev) };
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Per-connection state: bytes a short write left behind (rare).
#[derive(Default)]
struct Slot {
    open: bool,
    pending: Vec<u8>,
    off: usize,
}

fn close(epfd: RawFd, slots: &mut [Slot], fd: RawFd) {
    ctl(epfd, libc::EPOLL_CTL_DEL, fd, 0);
    // SAFETY: an fd we accepted and close once (`open` is cleared).
    unsafe { libc::close(fd) };
    let s = &mut slots[fd as usize];
    s.open = false;
    s.pending = Vec::new();
    s.off = 0;
}

fn serve(lfd: RawFd, et: bool) {
    let read_events = if et {
        libc::EPOLLIN | libc::EPOLLET
    } else {
        libc::EPOLLIN
    };
    // SAFETY: plain syscall.
    let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(epfd >= 0, "epoll_create1");
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: LISTENER,
    };
    // SAFETY: valid fds and event.
    unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, lfd, &mut ev) };
    let mut slots: Vec<Slot> = Vec::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: `events` is a valid writable array.
        let n = unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), events.len() as i32, -1) };
        if n < 0 {
            continue; // EINTR
        }
        for ev in &events[..n as usize] {
            let (flags, data) = (ev.events, ev.u64);
            if data == LISTENER {
                loop {
                    // SAFETY: null address pointers are allowed.
                    let fd = unsafe {
                        libc::accept4(
                            lfd,
                            std::ptr::null_mut(),
                            std::ptr::null_mut(),
                            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                        )
                    };
                    if fd < 0 {
                        break;
                    }
                    let one: libc::c_int = 1;
                    // SAFETY: `one` is a valid c_int option value.
                    unsafe {
                        libc::setsockopt(
                            fd,
                            libc::IPPROTO_TCP,
                            libc::TCP_NODELAY,
                            (&one as *const libc::c_int).cast(),
                            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                        )
                    };
                    if slots.len() <= fd as usize {
                        slots.resize_with(fd as usize + 1, Slot::default);
                    }
                    slots[fd as usize].open = true;
                    ctl(epfd, libc::EPOLL_CTL_ADD, fd, read_events);
                }
                continue;
            }
            let fd = data as RawFd;
            if !slots[fd as usize].open {
                continue;
            }
            if flags & libc::EPOLLOUT as u32 != 0 {
                let s = &mut slots[fd as usize];
                let rest = &s.pending[s.off..];
                // SAFETY: valid readable slice.
                let w = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
                if w < 0 {
                    if errno() != libc::EAGAIN {
                        close(epfd, &mut slots, fd);
                    }
                    continue;
                }
                s.off += w as usize;
                if s.off == s.pending.len() {
                    s.pending.clear();
                    s.off = 0;
                    ctl(epfd, libc::EPOLL_CTL_MOD, fd, read_events);
                }
                continue;
            }
            loop {
                // SAFETY: valid writable buffer.
                let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
                if r <= 0 {
                    if r == 0 || errno() != libc::EAGAIN {
                        close(epfd, &mut slots, fd);
                    }
                    break;
                }
                let r = r as usize;
                // SAFETY: valid readable slice.
                let w = unsafe { libc::write(fd, buf.as_ptr().cast(), r) };
                let w = if w < 0 {
                    if errno() != libc::EAGAIN {
                        close(epfd, &mut slots, fd);
                        break;
                    }
                    0
                } else {
                    w as usize
                };
                if w < r {
                    // Short write: keep the rest and stop reading until it is out.
                    let s = &mut slots[fd as usize];
                    s.pending.extend_from_slice(&buf[w..r]);
                    ctl(epfd, libc::EPOLL_CTL_MOD, fd, libc::EPOLLOUT);
                    break;
                }
                // Level-triggered: one read per event. Edge-triggered: a full
                // buffer may have left data behind, so read again.
                if !et || r < buf.len() {
                    break;
                }
            }
        }
    }
}

fn main() {
    let flags = Flags::parse(USAGE, &[]);
    flags.only(&["addr", "threads", "loops", "et"]);
    let et = flags.or("et", 0u8) == 1;
    let addr = parse_addr(flags.get("addr").unwrap_or("127.0.0.1:0")).unwrap_or_else(|| flags.fail("bad --addr"));
    let threads: usize = flags.or("threads", flags.or("loops", 1usize)).max(1);
    raise_nofile_limit();
    let listeners = reuseport_listeners(addr, threads).expect("bind");
    let bound = listeners[0].local_addr().expect("local addr");
    let mut handles = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        l.set_nonblocking(true).expect("nonblocking");
        let lfd = l.into_raw_fd();
        handles.push(
            std::thread::Builder::new()
                .name(format!("epoll-{i}"))
                .spawn(move || serve(lfd, et))
                .expect("spawn"),
        );
    }
    announce("peer-epoll", bound);
    for h in handles {
        let _ = h.join();
    }
}
