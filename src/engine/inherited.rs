//! The builder's side of inherited listeners: systemd socket activation,
//! and where an inherited socket goes among the acceptor and the loops.

use super::EngineBuilder;
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
