//! The builder's side of inherited listeners: systemd socket activation,
//! and where an inherited socket goes among the acceptor and the loops.

use std::os::fd::AsRawFd;

use super::EngineBuilder;
use crate::addr::Address;
use crate::listeners::Listeners;
use crate::reactor::listener::ListenSocket;

impl EngineBuilder {
    /// Adopts the listening sockets systemd passed (socket activation), as
    /// `sd_listen_fds(3)` does: when `LISTEN_PID` is this process, the
    /// `LISTEN_FDS` descriptors from 3 on are taken (made close-on-exec and
    /// non-blocking), named by `LISTEN_FDNAMES`, and the three variables are
    /// removed (unless [`keep_socket_activation_env`]). Default off.
    ///
    /// Each address given to `start` that equals an inherited socket's
    /// bound address (kind included: `tcp://`, `udp://`, `unix://` path or
    /// `@name`) is served on that socket instead of being bound; the others
    /// are bound as usual. An inherited socket that matches none of the
    /// addresses fails `start` with [`Error::InvalidConfig`](crate::Error)
    /// naming it (its systemd name, descriptor and address), and the
    /// inherited sockets are closed: a unit and a command line that
    /// disagree are a mistake to report, not a socket to leave unserved.
    /// Without the variables (or with `LISTEN_PID` naming another process)
    /// nothing is adopted and every address is bound.
    ///
    /// Served as inherited: TCP and Unix stream listeners and UDP sockets.
    /// A connected stream socket (systemd's `Accept=yes`) or any other kind
    /// fails `start`, naming it. The listener settings (backlog, buffer
    /// sizes, `reuse_port`, `ipv6_only`) are systemd's, from the `.socket`
    /// unit: not applied to inherited sockets. A UDP socket (or, with
    /// `reuse_port`, a TCP listener) is served by one loop; with several
    /// inherited sockets for one address they go to loops in turn. systemd
    /// owns an inherited Unix socket's file: the engine never removes it.
    ///
    /// Any thread (before start). One engine per process may take the
    /// sockets: a second one (with the variables kept) fails.
    ///
    /// # Errors (from `start`)
    ///
    /// [`Error::Io`](crate::Error::Io) when the variables are malformed
    /// (`LISTEN_FDS` not a count, `LISTEN_FDNAMES` naming another number
    /// of sockets) or a descriptor is not an open socket (then none is
    /// taken); [`Error::InvalidConfig`](crate::Error::InvalidConfig) for an
    /// inherited socket that matches no address.
    ///
    /// # Examples
    ///
    /// Under systemd (or `systemd-socket-activate -l 127.0.0.1:8080 ./server`)
    /// the socket of the `.socket` unit is served; run by hand, the address
    /// is bound as usual. docs/deployment.md gives the units.
    ///
    /// ```
    /// use netreactor::{Engine, EventHandler};
    ///
    /// struct Nothing;
    /// impl EventHandler for Nothing {}
    ///
    /// let engine = Engine::builder()
    ///     .event_loops(1)
    ///     .socket_activation(true)
    ///     .start(Nothing, "tcp://127.0.0.1:0")?; // no LISTEN_FDS here: bound
    /// assert_ne!(engine.local_addr().port(), 0);
    /// engine.stop();
    /// # Ok::<(), netreactor::Error>(())
    /// ```
    ///
    /// [`keep_socket_activation_env`]: EngineBuilder::keep_socket_activation_env
    pub fn socket_activation(mut self, on: bool) -> Self {
        self.inherit.systemd = on;
        self
    }

    /// Leaves `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES` set after
    /// [`socket_activation`](EngineBuilder::socket_activation) took the
    /// sockets (`sd_listen_fds(0)`), for a program that reads them itself.
    /// Default off: they are removed, so a child process does not try to
    /// take sockets that are not its own.
    ///
    /// Any thread (before start).
    ///
    /// # Examples
    ///
    /// ```
    /// use netreactor::{Engine, EventHandler};
    ///
    /// struct Nothing;
    /// impl EventHandler for Nothing {}
    ///
    /// let engine = Engine::builder()
    ///     .event_loops(1)
    ///     .socket_activation(true)
    ///     .keep_socket_activation_env(true)
    ///     .start(Nothing, "tcp://127.0.0.1:0")?;
    /// engine.stop();
    /// # Ok::<(), netreactor::Error>(())
    /// ```
    pub fn keep_socket_activation_env(mut self, keep: bool) -> Self {
        self.inherit.keep_systemd_env = keep;
        self
    }

    /// Takes the listening sockets of a running engine that serves a
    /// hand-off at `path` ([`EngineHandle::hand_off_listeners`]), the
    /// zero-downtime upgrade: `start` connects, checks that the other
    /// process runs as the same user, receives every listener (TCP, UDP,
    /// Unix) with its address, serves each address given to `start` on the
    /// sockets bound to it (as for [`socket_activation`]: an address with
    /// none is bound, a received socket that matches no address fails
    /// `start`), and once it serves tells the old engine, which then stops
    /// accepting and drains. Connections waiting in the accept queues are
    /// not lost: the queues are the sockets', and both engines take from
    /// them until the old one stops. A handed-off Unix socket's file is
    /// now this engine's: removed when it stops (unless it hands it on).
    ///
    /// Any thread (before start). `start` waits up to 30 s for the old
    /// process.
    ///
    /// # Errors (from `start`)
    ///
    /// [`Error::Io`](crate::Error::Io) when nobody serves at `path`, the
    /// peer runs as another user, or what it sends is not a hand-off (not
    /// the format, no descriptors, more than one message may carry, a
    /// count that differs from the addresses named, a descriptor bound
    /// elsewhere than its line says): every descriptor received is closed,
    /// and the old engine, not told `ready`, serves on.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// use std::io::{Read, Write};
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// struct Echo;
    /// impl EventHandler for Echo {
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         conn.echo_all();
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let dir = std::env::temp_dir().join(format!("nr-doc-inherit-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("hand-off.sock");
    /// let old = Engine::builder().event_loops(1).start(Echo, "tcp://127.0.0.1:0")?;
    /// let addr = format!("tcp://{}", old.local_addr());
    /// // The old engine (usually in the old process) waits for the new one.
    /// let handing = {
    ///     let (old, path) = (old.clone(), path.clone());
    ///     std::thread::spawn(move || old.hand_off_listeners(&path, Duration::from_secs(30)))
    /// };
    /// # let t = std::time::Instant::now();
    /// # while !path.exists() { assert!(t.elapsed() < Duration::from_secs(30)); std::thread::yield_now(); }
    /// let new = Engine::builder().event_loops(1).inherit_listeners(&path).start(Echo, &addr)?;
    /// handing.join().unwrap()?; // the old one has stopped
    /// assert!(old.is_stopped());
    /// let mut client = std::net::TcpStream::connect(new.local_addr())?; // same port, new engine
    /// client.write_all(b"hi")?;
    /// let mut reply = [0; 2];
    /// client.read_exact(&mut reply)?;
    /// assert_eq!(&reply, b"hi");
    /// new.stop();
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// [`socket_activation`]: EngineBuilder::socket_activation
    /// [`EngineHandle::hand_off_listeners`]: crate::EngineHandle::hand_off_listeners
    pub fn inherit_listeners(mut self, path: impl AsRef<std::path::Path>) -> Self {
        self.inherit.hand_off = Some(path.as_ref().to_owned());
        self
    }

    /// Where the `k`-th inherited socket of an address is served: a UDP
    /// socket, and a TCP listener with `reuse_port`, by loop `k` (in turn);
    /// other listeners by the acceptor.
    pub(super) fn place_inherited(
        &self,
        k: usize,
        socket: ListenSocket,
        acceptor: &mut Vec<ListenSocket>,
        per_loop: &mut [Vec<ListenSocket>],
    ) {
        if socket.udp || (socket.tcp && self.reuse_port) {
            per_loop[k % per_loop.len()].push(socket);
        } else {
            acceptor.push(socket);
        }
    }
}

/// Tells `listeners` (the hand-off's view) every listening socket the
/// engine serves, with its address, and arms each Unix socket file to stay
/// in place once the sockets were handed to another process.
pub(super) fn record_listeners(
    listeners: &Listeners,
    addrs: &[Address],
    acceptor: &mut [ListenSocket],
    per_loop: &mut [Vec<ListenSocket>],
) {
    let flag = listeners.handed_off_flag();
    let mut all = Vec::new();
    for s in acceptor.iter_mut().chain(per_loop.iter_mut().flatten()) {
        if let Some(file) = s.file.as_mut() {
            file.keep_if(flag.clone());
        }
        all.push((s.fd.as_raw_fd(), addrs[s.index].clone()));
    }
    listeners.record(all, per_loop.len());
}
