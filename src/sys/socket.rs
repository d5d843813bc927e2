//! Listening sockets, accept4 and socket options.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use std::time::Duration;

use socket2::{Domain, SockAddr, SockRef, Socket, TcpKeepalive, Type};

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
    /// SO_BINDTODEVICE.
    pub(crate) device: Option<String>,
    /// IP_FREEBIND / IPV6_FREEBIND: bind an address not (yet) configured.
    pub(crate) freebind: bool,
    /// IP_TRANSPARENT: accept connections to any address (needs CAP_NET_ADMIN).
    pub(crate) transparent: bool,
    /// SO_RCVBUF / SO_SNDBUF, set on the listener so accepted sockets
    /// inherit them (the receive window is negotiated at the handshake).
    pub(crate) recv_buffer: Option<usize>,
    pub(crate) send_buffer: Option<usize>,
}

/// Options every accepted or enrolled connection gets.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnOptions {
    pub(crate) nodelay: bool,
    pub(crate) keepalive: Option<(Duration, Duration, u32)>,
    pub(crate) linger_zero: bool,
}

/// Applies `opts` to a fresh connection (`tcp`: the TCP-only ones too).
pub(crate) fn apply_conn_options(fd: BorrowedFd<'_>, tcp: bool, opts: &ConnOptions) {
    let socket = SockRef::from(&fd);
    let result = (|| {
        if tcp && opts.nodelay {
            socket.set_tcp_nodelay(true)?;
        }
        if let (true, Some(k)) = (tcp, opts.keepalive) {
            set_keepalive(fd, Some(k))?;
        }
        if opts.linger_zero {
            socket.set_linger(Some(Duration::ZERO))?;
        }
        io::Result::Ok(())
    })();
    if let Err(e) = result {
        log::debug!("netreactor: setting socket options on a new connection failed: {e}");
    }
}

/// SO_KEEPALIVE with TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT (`None`: off).
pub(crate) fn set_keepalive(fd: BorrowedFd<'_>, keepalive: Option<(Duration, Duration, u32)>) -> io::Result<()> {
    let socket = SockRef::from(&fd);
    match keepalive {
        None => socket.set_keepalive(false),
        Some((idle, interval, retries)) => socket.set_tcp_keepalive(
            &TcpKeepalive::new()
                .with_time(idle)
                .with_interval(interval)
                .with_retries(retries),
        ),
    }
}

/// The keepalive settings in force (`None`: off).
pub(crate) fn keepalive(fd: BorrowedFd<'_>) -> io::Result<Option<(Duration, Duration, u32)>> {
    let socket = SockRef::from(&fd);
    if !socket.keepalive()? {
        return Ok(None);
    }
    Ok(Some((
        socket.tcp_keepalive_time()?,
        socket.tcp_keepalive_interval()?,
        socket.tcp_keepalive_retries()?,
    )))
}

pub(crate) fn set_recv_buffer_size(fd: BorrowedFd<'_>, bytes: usize) -> io::Result<()> {
    SockRef::from(&fd).set_recv_buffer_size(bytes)
}

pub(crate) fn set_send_buffer_size(fd: BorrowedFd<'_>, bytes: usize) -> io::Result<()> {
    SockRef::from(&fd).set_send_buffer_size(bytes)
}

pub(crate) fn recv_buffer_size(fd: BorrowedFd<'_>) -> io::Result<usize> {
    SockRef::from(&fd).recv_buffer_size()
}

pub(crate) fn send_buffer_size(fd: BorrowedFd<'_>) -> io::Result<usize> {
    SockRef::from(&fd).send_buffer_size()
}

/// Starts a non-blocking connect of `fd` (from [`tcp_socket`]) to `addr`;
/// the connection is done when the socket turns writable (then
/// [`take_error`] says how it went). The error returned is a connect that
/// failed at once.
pub(crate) fn tcp_connect(fd: BorrowedFd<'_>, addr: SocketAddr) -> Option<io::Error> {
    match SockRef::from(&fd).connect(&addr.into()) {
        Ok(()) => None,
        Err(e) if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => None,
        Err(e) => Some(e),
    }
}

/// A non-blocking, close-on-exec TCP socket for a dial to `addr`.
pub(crate) fn tcp_socket(addr: SocketAddr) -> io::Result<OwnedFd> {
    Ok(Socket::new(Domain::for_address(addr), Type::STREAM.nonblocking().cloexec(), None)?.into())
}

/// Fails with `AddrInUse` if any socket, of this process or another, is
/// bound to the UDP address `addr` (a port of 0 always passes): a probe bound
/// without SO_REUSEADDR or SO_REUSEPORT, closed at once. Returns the address
/// the probe got, so a port of 0 becomes a free port.
///
/// The engine binds its per-loop SO_REUSEPORT sockets right after; a process
/// that binds the port in between with SO_REUSEPORT of its own (same user)
/// would still join them. That window is a few system calls long.
pub(crate) fn udp_port_is_free(addr: SocketAddr, opts: &ListenOptions) -> io::Result<SocketAddr> {
    let probe = Socket::new(Domain::for_address(addr), Type::DGRAM.cloexec(), None)?;
    if addr.is_ipv6() {
        probe.set_only_v6(opts.ipv6_only)?;
    }
    if let Some(device) = &opts.device {
        probe.bind_device(Some(device.as_bytes()))?;
    }
    probe.bind(&addr.into()).map_err(|e| {
        if e.kind() == io::ErrorKind::AddrInUse {
            io::Error::new(
                io::ErrorKind::AddrInUse,
                "the UDP port is already bound by another socket (set reuse_port(true) to share it)",
            )
        } else {
            e
        }
    })?;
    Ok(probe.local_addr()?.as_socket().unwrap_or(addr))
}

/// A non-blocking, close-on-exec UDP socket bound to `addr` with
/// SO_REUSEPORT, so each loop can own one on the same port (the kernel
/// spreads senders over them by address).
pub(crate) fn udp_socket(addr: SocketAddr, opts: &ListenOptions) -> io::Result<OwnedFd> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM.nonblocking().cloexec(), None)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(opts.ipv6_only)?;
    }
    if let Some(device) = &opts.device {
        socket.bind_device(Some(device.as_bytes()))?;
    }
    set_buffer_sizes(&socket, opts)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Sends `slices` as one datagram to `to`.
pub(crate) fn send_datagram(fd: BorrowedFd<'_>, slices: &[std::io::IoSlice<'_>], to: SocketAddr) -> io::Result<usize> {
    SockRef::from(&fd).send_to_vectored_with_flags(
        slices,
        &to.into(),
        nix::libc::MSG_NOSIGNAL | nix::libc::MSG_DONTWAIT,
    )
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
    if let Some(device) = &opts.device {
        socket.bind_device(Some(device.as_bytes()))?;
    }
    if opts.freebind {
        if addr.is_ipv6() {
            socket.set_freebind_v6(true)?;
        } else {
            socket.set_freebind_v4(true)?;
        }
    }
    if opts.transparent {
        if addr.is_ipv6() {
            socket.set_ip_transparent_v6(true)?;
        } else {
            socket.set_ip_transparent_v4(true)?;
        }
    }
    set_buffer_sizes(&socket, opts)?;
    socket.bind(&addr.into())?;
    socket.listen(opts.backlog)?;
    Ok(socket.into())
}

fn set_buffer_sizes(socket: &Socket, opts: &ListenOptions) -> io::Result<()> {
    if let Some(n) = opts.recv_buffer {
        socket.set_recv_buffer_size(n)?;
    }
    if let Some(n) = opts.send_buffer {
        socket.set_send_buffer_size(n)?;
    }
    Ok(())
}

/// SO_LINGER with a zero timeout: `close` then resets the connection (RST)
/// instead of a FIN after whatever was queued.
pub(crate) fn set_linger_zero(fd: BorrowedFd<'_>) -> io::Result<()> {
    SockRef::from(&fd).set_linger(Some(std::time::Duration::ZERO))
}

/// A Unix socket file this process bound: removed when dropped, but only if
/// the path still names that same socket (a file someone put there since
/// is left alone).
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
    /// Set: the socket went to another process, whose file it now is.
    handed_off: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl SocketFile {
    /// The socket file at `path` as it is now (a socket handed over by the
    /// process that bound it): removed when dropped, like one bound here.
    pub(crate) fn existing(path: &Path) -> io::Result<SocketFile> {
        let meta = std::fs::symlink_metadata(path)?;
        Ok(SocketFile {
            path: path.to_owned(),
            dev: meta.dev(),
            ino: meta.ino(),
            handed_off: None,
        })
    }

    /// The file is left in place if `flag` is set by the time it drops.
    pub(crate) fn keep_if(&mut self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) {
        self.handed_off = Some(flag);
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if self
            .handed_off
            .as_ref()
            .is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst))
        {
            return;
        }
        if let Ok(meta) = std::fs::symlink_metadata(&self.path) {
            if meta.dev() == self.dev && meta.ino() == self.ino {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// A non-blocking, close-on-exec Unix stream listener at `path`. A socket
/// file already there is removed only if it is a socket nobody listens on
/// (a stale one, left by a process that died); a socket in use is
/// `AddrInUse`, and anything else (a regular file, a directory) is refused,
/// never removed.
pub(crate) fn unix_listener(path: &Path, opts: &ListenOptions) -> io::Result<(OwnedFd, SocketFile)> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket; refusing to replace it", path.display()),
            ));
        }
        // A non-blocking connect answers at once: accepted or queued
        // (EAGAIN: a live listener whose backlog is full) means in use;
        // refused means nobody listens, a stale file to replace.
        let probe = Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)?;
        match probe.connect(&SockAddr::unix(path)?) {
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => std::fs::remove_file(path)?,
            Ok(()) => return Err(in_use(path)),
            Err(e) if matches!(e.raw_os_error(), Some(nix::libc::EAGAIN) | Some(nix::libc::EINPROGRESS)) => {
                return Err(in_use(path))
            }
            Err(e) => return Err(e),
        }
    } else if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("the directory {} of the Unix socket path does not exist", dir.display()),
            ));
        }
    }
    let socket = Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)?;
    set_buffer_sizes(&socket, opts)?;
    socket.bind(&SockAddr::unix(path)?)?;
    let meta = std::fs::symlink_metadata(path)?;
    let file = SocketFile {
        path: path.to_owned(),
        dev: meta.dev(),
        ino: meta.ino(),
        handed_off: None,
    };
    socket.listen(opts.backlog)?;
    Ok((socket.into(), file))
}

fn in_use(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::AddrInUse,
        format!("{} is in use by a listening socket", path.display()),
    )
}

/// A non-blocking, close-on-exec Unix stream listener with a Linux abstract
/// name (no file).
pub(crate) fn unix_abstract_listener(name: &[u8], opts: &ListenOptions) -> io::Result<OwnedFd> {
    let mut path = Vec::with_capacity(name.len() + 1);
    path.push(0);
    path.extend_from_slice(name);
    let socket = Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)?;
    set_buffer_sizes(&socket, opts)?;
    socket.bind(&SockAddr::unix(std::ffi::OsStr::from_bytes(&path))?)?;
    socket.listen(opts.backlog)?;
    Ok(socket.into())
}

/// True for a Unix-domain socket (SO_DOMAIN).
pub(crate) fn is_unix(fd: BorrowedFd<'_>) -> bool {
    SockRef::from(&fd).domain().is_ok_and(|d| d == Domain::UNIX)
}

/// The peer's process, user and group (SO_PEERCRED on a Unix socket).
pub(crate) fn peer_credentials(fd: BorrowedFd<'_>) -> io::Result<(i32, u32, u32)> {
    let cred = nix::sys::socket::getsockopt(&fd, nix::sys::socket::sockopt::PeerCredentials)?;
    Ok((cred.pid(), cred.uid(), cred.gid()))
}

/// Makes a socket from elsewhere fit for a loop: non-blocking and
/// close-on-exec (gnet forgot the latter, #743).
pub(crate) fn adopt(fd: BorrowedFd<'_>) -> io::Result<()> {
    let socket = SockRef::from(&fd);
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)
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

/// True when the peer has sent bytes this side has not read yet (a request
/// already on its way in must not be cut off by an idle close).
pub(crate) fn has_unread_input(fd: BorrowedFd<'_>) -> bool {
    let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    // 0 (end of file) and errors mean nothing to serve.
    SockRef::from(&fd).peek(&mut probe).is_ok_and(|n| n > 0)
}
