//! A listening socket as a reactor holds it: accept until the queue is
//! empty, the admission rule of `max_connections`, and pausing with backoff
//! when the process runs out of descriptors. Used by the acceptor and, in
//! `reuse_port` mode, by every event loop.

use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::addr::Origin;
use crate::config::{Config, MaxConnectionsPolicy};
use crate::handle::EngineShared;
use crate::mailbox::Incoming;
use crate::options::{ACCEPT_BACKOFF_MAX, ACCEPT_BACKOFF_START, MAX_CONNECTIONS_RECHECK};
use crate::sys;
use crate::sys::epoll::{Interest, Poller};
use crate::sys::socket::Accepted;

/// Whether the next connection may come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    Accept,
    /// Accept and close at once (`max_connections` with `Reject`).
    Reject,
    /// Leave it in the backlog; try again shortly.
    Pause,
}

/// The admission rule of `max_connections` over the engine's total.
pub(crate) fn admission(cfg: &Config, shared: &EngineShared) -> Admission {
    match cfg.max_connections {
        Some((max, policy)) if shared.connection_count() >= max => match policy {
            MaxConnectionsPolicy::Reject => Admission::Reject,
            MaxConnectionsPolicy::Pause => Admission::Pause,
        },
        _ => Admission::Accept,
    }
}

/// A bound, listening socket on its way to the reactor that accepts on it.
#[derive(Debug)]
pub(crate) struct ListenSocket {
    pub(crate) fd: OwnedFd,
    /// Its place in the engine's address list (`Origin::Accepted`).
    pub(crate) index: usize,
    /// TCP (not Unix): accepted sockets get the TCP options.
    pub(crate) tcp: bool,
    /// A UDP socket: not a listener, served by its loop as datagrams.
    pub(crate) udp: bool,
    /// The socket file to remove when the listener closes (Unix paths).
    pub(crate) file: Option<sys::socket::SocketFile>,
}

/// A listening socket with its pause state and reserve descriptor.
#[derive(Debug)]
pub(crate) struct Listener {
    fd: OwnedFd,
    token: u64,
    index: usize,
    tcp: bool,
    /// Dropped with the listener, after its descriptor closed.
    _file: Option<sys::socket::SocketFile>,
    reserve: Option<OwnedFd>,
    paused_until: Option<Instant>,
    backoff: Duration,
    exhausted: bool,
}

impl Listener {
    /// Removes the listener from `poller` before it closes: its open file
    /// description may live on in another process (handed off, or
    /// systemd's), and closing alone would leave it registered and ready.
    pub(crate) fn deregister(&self, poller: &Poller) {
        if let Err(e) = poller.delete(self.fd.as_fd()) {
            log::debug!("netreactor: removing listener {} from epoll: {e}", self.index);
        }
    }

    pub(crate) fn register(socket: ListenSocket, token: u64, poller: &Poller) -> std::io::Result<Self> {
        poller.add(socket.fd.as_fd(), token, Interest::READ)?;
        Ok(Listener {
            fd: socket.fd,
            token,
            index: socket.index,
            tcp: socket.tcp,
            _file: socket.file,
            reserve: sys::socket::reserve_fd(),
            paused_until: None,
            backoff: ACCEPT_BACKOFF_START,
            exhausted: false,
        })
    }

    /// The socket options every connection accepted here gets, and where it
    /// came from.
    fn incoming(&self, fd: OwnedFd, peer: Option<SocketAddr>, cfg: &Config) -> Incoming {
        sys::socket::apply_conn_options(fd.as_fd(), self.tcp, &cfg.conn_options);
        Incoming {
            fd,
            peer,
            origin: Origin::Accepted { listener: self.index },
        }
    }

    /// Accepts until the queue is empty or admission says pause.
    ///
    /// Out of descriptors (EMFILE/ENFILE), it frees the reserve descriptor,
    /// accepts one pending connection and closes it (that client learns at
    /// once instead of hanging), takes the reserve again, and pauses the
    /// listener with exponential backoff: nothing spins and the engine keeps
    /// serving (libuv's trick; gnet stops the engine instead, #367). The
    /// condition is logged once per episode.
    pub(crate) fn accept_ready(
        &mut self,
        poller: &Poller,
        cfg: &Config,
        mut admit: impl FnMut() -> Admission,
        mut deliver: impl FnMut(Incoming),
        mut rejected: impl FnMut(),
    ) {
        loop {
            let admission = admit();
            if admission == Admission::Pause {
                return self.pause(poller, MAX_CONNECTIONS_RECHECK);
            }
            match sys::socket::accept(self.fd.as_fd()) {
                Ok(Accepted::Conn(fd, peer)) => {
                    if self.exhausted {
                        log::warn!("netreactor: file descriptors available again; accepting");
                        self.exhausted = false;
                        self.backoff = ACCEPT_BACKOFF_START;
                    }
                    if admission == Admission::Reject {
                        rejected();
                    } else {
                        deliver(self.incoming(fd, peer, cfg));
                    }
                }
                Ok(Accepted::WouldBlock) => return,
                Ok(Accepted::Retry) => continue,
                Err(e) => {
                    if sys::socket::is_fd_exhaustion(&e) {
                        if !self.exhausted {
                            log::error!(
                                "netreactor: out of file descriptors ({e}); pausing accept until connections close"
                            );
                            self.exhausted = true;
                        }
                        if self.reserve.take().is_some() {
                            if let Ok(Accepted::Conn(fd, _)) = sys::socket::accept(self.fd.as_fd()) {
                                drop(fd);
                            }
                            self.reserve = sys::socket::reserve_fd();
                        }
                    } else {
                        log::error!("netreactor: accept failed: {e}; pausing accept");
                    }
                    let backoff = self.backoff;
                    self.backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    return self.pause(poller, backoff);
                }
            }
        }
    }

    fn pause(&mut self, poller: &Poller, d: Duration) {
        if self.paused_until.is_none() {
            if let Err(e) = poller.modify(self.fd.as_fd(), self.token, Interest::NONE) {
                log::error!("netreactor: cannot pause the listener: {e}");
            }
        }
        self.paused_until = Some(Instant::now() + d);
    }

    /// True while accepting is paused (out of descriptors, or
    /// `max_connections` with `Pause`).
    pub(crate) fn is_paused(&self) -> bool {
        self.paused_until.is_some()
    }

    /// How long until a paused listener should be re-armed.
    pub(crate) fn timeout(&self, now: Instant) -> Option<Duration> {
        self.paused_until.map(|t| t.saturating_duration_since(now))
    }

    /// Re-arms a paused listener whose pause is over.
    pub(crate) fn resume_if_due(&mut self, poller: &Poller, now: Instant) {
        if self.paused_until.is_some_and(|t| t <= now) {
            self.paused_until = None;
            if let Err(e) = poller.modify(self.fd.as_fd(), self.token, Interest::READ) {
                log::error!("netreactor: cannot resume the listener: {e}");
            }
        }
    }
}
