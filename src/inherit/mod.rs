//! Listening sockets this process did not bind: taken from systemd (socket
//! activation) or from the process this one replaces (`hand_off`), and matched to the addresses the user asked for. An address
//! that matches an inherited socket's bound address is served on that
//! socket instead of being bound; an inherited socket that matches no
//! address is refused (a unit file and a command line that disagree are a
//! mistake to report, not a socket to leave unserved or to close quietly).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

use crate::addr::Address;
use crate::error::{Error, Result};
use crate::options::MAX_LISTEN_FDS;
use crate::sys;
use crate::sys::inspect::BoundTo;

pub(crate) mod hand_off;

/// A socket made elsewhere, ready to serve: non-blocking, close-on-exec,
/// with the address it is bound to.
#[derive(Debug)]
pub(crate) struct Inherited {
    pub(crate) fd: OwnedFd,
    pub(crate) addr: Address,
    /// Where it came from, for messages ("systemd socket \"web\" (fd 3)").
    pub(crate) from: String,
    /// A handed-off Unix socket's file, removed when the listener closes
    /// (systemd's stay: systemd owns them).
    pub(crate) file: Option<sys::socket::SocketFile>,
}

/// What the builder asked to inherit.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sources {
    /// Adopt systemd's sockets (`LISTEN_FDS`).
    pub(crate) systemd: bool,
    /// Leave `LISTEN_PID`/`LISTEN_FDS`/`LISTEN_FDNAMES` set after adopting.
    pub(crate) keep_systemd_env: bool,
    /// Take the listeners of the process serving a hand-off at this path.
    pub(crate) hand_off: Option<PathBuf>,
}

/// The inherited sockets for each of `addrs` (same order; empty where the
/// address is to be bound as usual), and the hand-off to confirm once the
/// engine serves. Fails if an inherited socket matches none of them,
/// naming it and the addresses; every socket taken is then closed.
pub(crate) fn collect(sources: &Sources, addrs: &[Address]) -> Result<(Vec<Vec<Inherited>>, Option<hand_off::Ack>)> {
    let mut inherited = Vec::new();
    let mut ack = None;
    if let Some(path) = &sources.hand_off {
        let (sockets, a) = hand_off::receive(path)?;
        inherited.extend(sockets);
        ack = Some(a);
    }
    if sources.systemd {
        let fds = sys::listen_fds::take(!sources.keep_systemd_env, MAX_LISTEN_FDS)
            .map_err(|e| Error::Io(std::io::Error::new(e.kind(), format!("socket activation: {e}"))))?;
        for f in fds {
            let from = format!("systemd socket {:?} (fd {})", f.name, f.fd.as_raw_fd());
            inherited.push(describe(f.fd, from)?);
        }
    }
    Ok((match_addresses(addrs, inherited)?, ack))
}

/// Reads what `fd` is bound to and makes it fit for a loop.
fn describe(fd: OwnedFd, from: String) -> Result<Inherited> {
    let io = |e: std::io::Error| Error::Io(std::io::Error::new(e.kind(), format!("{from}: {e}")));
    let addr = match sys::inspect::bound_to(fd.as_fd()).map_err(io)? {
        BoundTo::Tcp(a) => Address::Tcp(a),
        BoundTo::Udp(a) => Address::Udp(a),
        BoundTo::UnixPath(p) => Address::Unix(p),
        BoundTo::UnixAbstract(n) => Address::UnixAbstract(n),
    };
    sys::socket::adopt(fd.as_fd()).map_err(io)?;
    Ok(Inherited {
        fd,
        addr,
        from,
        file: None,
    })
}

/// Sorts `inherited` by the address each matches (several sockets may
/// match one address: a previous engine's per-loop `SO_REUSEPORT` sockets).
fn match_addresses(addrs: &[Address], inherited: Vec<Inherited>) -> Result<Vec<Vec<Inherited>>> {
    let mut by_addr: Vec<Vec<Inherited>> = addrs.iter().map(|_| Vec::new()).collect();
    let mut unmatched = Vec::new();
    for i in inherited {
        match addrs.iter().position(|a| same_socket(a, &i.addr)) {
            Some(k) => by_addr[k].push(i),
            None => unmatched.push(format!("{} bound to {}", i.from, i.addr)),
        }
    }
    if !unmatched.is_empty() {
        let asked: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        return Err(Error::InvalidConfig(format!(
            "inherited sockets match none of the listen addresses [{}]: {}; \
             listen on each inherited socket's exact address (or remove it from the unit)",
            asked.join(", "),
            unmatched.join("; ")
        )));
    }
    Ok(by_addr)
}

/// Whether an inherited socket bound to `b` serves address `a`: equal
/// addresses, or `tcp://` and `tls://` of one socket address (the kernel's
/// socket is TCP either way; TLS is the engine's layer over it, so whether
/// a listener speaks TLS is the serving engine's own setting, as in nginx).
pub(crate) fn same_socket(a: &Address, b: &Address) -> bool {
    match (a, b) {
        (Address::Tcp(x) | Address::Tls(x), Address::Tcp(y) | Address::Tls(y)) => x == y,
        _ => a == b,
    }
}
