//! Listening sockets, accept4 and socket options.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use socket2::{Domain, SockAddr, SockRef, Socket, Type};

/// Used when /proc/sys/net/core/somaxconn cannot be read.
const FALLBACK_BACKLOG: i32 = 4096;
/// The kernel stores the backlog in a u16 on older kernels.
const MAX_BACKLOG: i32 = 65535;

/// The accept queue length: the system's `somaxconn`, clamped to 65535.
pub(crate) fn listen_backlog() -> i32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(FALLBACK_BACKLOG)
        .min(MAX_BACKLOG)
}

/// How a listener is set up.
#[derive(Debug, Clone)]
pub(crate) struct ListenOptions {
    pub(crate) reuse_port: bool,
    pub(crate) backlog: i32,
    /// IPV6_V6ONLY on IPv6 listeners (off: dual-stack, as the OS defaults).
    pub(crate) ipv6_only: bool,
}

/// A non-blocking, close-on-exec TCP listener with SO_REUSEADDR (and
/// SO_REUSEPORT when asked, so several loops can each own one).
pub(crate) fn tcp_listener(addr: SocketAddr, opts: &ListenOptions) -> io::Result<OwnedFd> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM.nonblocking().cloexec(), None)?;
    socket.set_reuse_address(true)?;
    if opts.reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        // Set either way: the system default (bindv6only) may differ.
        socket.set_only_v6(opts.ipv6_only)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(opts.backlog)?;
    Ok(socket.into())
}

/// SO_LINGER with a zero timeout: `close` then resets the connection (RST)
/// instead of a FIN after whatever was queued.
pub(crate) fn set_linger_zero(fd: BorrowedFd<'_>) -> io::Result<()> {
    SockRef::from(&fd).set_linger(Some(std::time::Duration::ZERO))
}

/// Outcome of one accept4 call.
#[derive(Debug)]
pub(crate) enum Accepted {
    Conn(OwnedFd, Option<SocketAddr>),
    /// Nothing left in the queue.
    WouldBlock,
    /// The peer gave up before we accepted (ECONNABORTED) or a signal
    /// arrived: try again at once.
    Retry,
}

/// `accept4(NONBLOCK | CLOEXEC)`, returning the peer address from the same
/// syscall (no getpeername).
pub(crate) fn accept(listener: BorrowedFd<'_>) -> io::Result<Accepted> {
    let raw = listener.as_raw_fd();
    // SAFETY: `try_init` hands us a zeroed sockaddr_storage and its length;
    // accept4 writes at most `len` bytes into it and updates `len`.
    let res = unsafe {
        SockAddr::try_init(|storage, len| {
            let fd = nix::libc::accept4(
                raw,
                storage.cast(),
                len,
                nix::libc::SOCK_NONBLOCK | nix::libc::SOCK_CLOEXEC,
            );
            if fd < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(fd)
            }
        })
    };
    match res {
        // SAFETY: accept4 returned a fresh descriptor that nothing else owns.
        Ok((fd, peer)) => Ok(Accepted::Conn(unsafe { OwnedFd::from_raw_fd(fd) }, peer.as_socket())),
        Err(e) => match e.raw_os_error() {
            Some(nix::libc::EAGAIN) => Ok(Accepted::WouldBlock),
            Some(nix::libc::EINTR) | Some(nix::libc::ECONNABORTED) | Some(nix::libc::EPROTO) => Ok(Accepted::Retry),
            _ => Err(e),
        },
    }
}

/// True for the errors that mean "out of file descriptors".
pub(crate) fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(nix::libc::EMFILE) | Some(nix::libc::ENFILE))
}

/// Opens a placeholder descriptor (`/dev/null`) kept in reserve so that, when
/// the process runs out of descriptors, we can free one, accept and close the
/// pending connection, and so drain the queue instead of spinning (libuv's trick).
pub(crate) fn reserve_fd() -> Option<OwnedFd> {
    std::fs::File::open("/dev/null").ok().map(OwnedFd::from)
}

pub(crate) fn set_nodelay(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    SockRef::from(&fd).set_tcp_nodelay(on)
}

pub(crate) fn local_addr(fd: BorrowedFd<'_>) -> Option<SocketAddr> {
    SockRef::from(&fd).local_addr().ok().and_then(|a| a.as_socket())
}

/// Shuts down the write half (the peer reads end of file).
pub(crate) fn shutdown_write(fd: BorrowedFd<'_>) -> io::Result<()> {
    SockRef::from(&fd).shutdown(std::net::Shutdown::Write)
}

/// The error pending on the socket (SO_ERROR), if any.
pub(crate) fn take_error(fd: BorrowedFd<'_>) -> Option<io::Error> {
    SockRef::from(&fd).take_error().ok().flatten()
}
