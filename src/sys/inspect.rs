//! What a socket made elsewhere is (inherited from systemd or handed over
//! by another process): its kind and the address it is bound to, and
//! whether it listens.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::PathBuf;

use socket2::{Domain, SockRef, Type};

/// The kind of an inherited socket and the address it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BoundTo {
    /// A listening TCP socket.
    Tcp(SocketAddr),
    /// A UDP socket.
    Udp(SocketAddr),
    /// A listening Unix stream socket bound to a path.
    UnixPath(PathBuf),
    /// A listening Unix stream socket with an abstract name (no leading NUL).
    UnixAbstract(Vec<u8>),
}

/// What `fd` is. A stream socket must be listening (a connected one, as
/// systemd passes with `Accept=yes`, is refused), a datagram socket must be
/// UDP; anything else (a Unix datagram socket, SOCK_SEQPACKET, an unbound
/// socket) is an error that says what it is.
pub(crate) fn bound_to(fd: BorrowedFd<'_>) -> io::Result<BoundTo> {
    let s = SockRef::from(&fd);
    let raw = fd.as_raw_fd();
    let unsupported = |what: String| io::Error::new(io::ErrorKind::InvalidInput, format!("fd {raw}: {what}"));
    let domain = s.domain()?;
    let ty = s.r#type()?;
    let local = s.local_addr()?;
    if ty == Type::STREAM {
        if !s.is_listener()? {
            return Err(unsupported(
                "a stream socket that is not listening (a connection, as systemd passes with Accept=yes?)".into(),
            ));
        }
        if domain == Domain::UNIX {
            if let Some(path) = local.as_pathname() {
                return Ok(BoundTo::UnixPath(path.to_owned()));
            }
            if let Some(name) = local.as_abstract_namespace() {
                return Ok(BoundTo::UnixAbstract(name.to_vec()));
            }
            return Err(unsupported("an unnamed Unix socket".into()));
        }
        if let Some(a) = local.as_socket() {
            return Ok(BoundTo::Tcp(a));
        }
    } else if ty == Type::DGRAM {
        if let Some(a) = local.as_socket() {
            if a.port() == 0 {
                return Err(unsupported("an unbound UDP socket".into()));
            }
            return Ok(BoundTo::Udp(a));
        }
    }
    Err(unsupported(format!(
        "a socket of type {ty:?} in domain {domain:?}; only TCP and Unix stream listeners and UDP sockets are served"
    )))
}
