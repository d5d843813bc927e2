//! The close path: the one place a connection ends, and the loop's stop.

use std::mem;
use std::os::fd::AsFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use super::timers::TimerKind;
use super::EventLoop;
use crate::conn::{Conn, Timing, WriteSide};
use crate::error::{panic_message, CloseReason, TimeoutKind};
use crate::id::ConnId;
use crate::service::Serve;
use crate::sys;

impl<S: Serve> EventLoop<S> {
    /// The one place a connection ends: `on_close` exactly once, then the
    /// descriptor closes (which also removes it from epoll: a connection is
    /// never duplicated; a UDP socket may be, and is removed first).
    pub(super) fn close_now(&mut self, id: ConnId) {
        let Some((mut conn, mut state)) = self.conns.remove(id) else {
            return;
        };
        conn.closed = true;
        if let Some(shared) = &conn.shared {
            shared.mark_closed();
        }
        // Its timers go with it, so none is left to wake the loop.
        if let Some(t) = conn.timing.as_deref_mut() {
            for key in t.armed.drain().map(|(_, key)| key).chain(t.cancelled.drain(..)) {
                self.timers.cancel(key);
            }
        }
        if conn.datagram {
            // A UDP socket (at a stop): not a connection, nothing to report.
            // Out of epoll first: an inherited or handed-off socket lives on
            // elsewhere, and closing alone would leave it registered.
            let _ = self.poller.delete(conn.fd.as_fd());
            return drop_guarded(conn, state, id);
        }
        if conn.held > 0 {
            let held = mem::take(&mut conn.held) as usize;
            self.engine
                .inbound_held
                .fetch_sub(held, std::sync::atomic::Ordering::Relaxed);
            self.released(held);
        }
        let reason = conn.close_reason.take().unwrap_or(CloseReason::Local);
        // A relay's other side ends with it (after this one's callback).
        let relay = conn.relay_link().map(|link| (link, reason.clone()));
        if let CloseReason::User(why) = &reason {
            log::info!(
                "netreactor: connection {id} ({:?}) closed by the handler: {why}",
                conn.peer
            );
        }
        self.counters.closed(&reason);
        // Output we dropped must not end in a clean FIN, or the peer would
        // take a truncated stream for a complete one: reset instead.
        let truncated = conn.output_dropped
            || matches!(
                reason,
                CloseReason::OutboundOverflow { .. }
                    | CloseReason::LingerTimeout
                    | CloseReason::Timeout(TimeoutKind::WriteIdle)
            );
        if truncated {
            if let Err(e) = sys::socket::set_linger_zero(conn.fd.as_fd()) {
                log::debug!("netreactor: cannot reset connection {id}: {e}");
            }
        }
        conn.outbound.clear();
        conn.write_side = WriteSide::Discarding;
        let handler = &*self.handler;
        // A relay's upstream is the loop's own: no callback sees it; nor an
        // accepted peer that never finished its TLS handshake (it is not
        // authenticated; a dial's failure is reported).
        let upstream = relay.as_ref().is_some_and(|(link, _)| link.upstream);
        #[cfg(feature = "tls")]
        let unauthenticated =
            conn.tls.as_ref().is_some_and(|t| !t.open) && conn.origin() != crate::addr::Origin::Dialed;
        #[cfg(not(feature = "tls"))]
        let unauthenticated = false;
        if unauthenticated {
            log::debug!(
                "netreactor: TLS connection {id} ({:?}) closed before its handshake finished: {reason}",
                conn.peer
            );
        } else if !upstream {
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| handler.on_close(&mut conn, &mut state, reason))) {
                log::error!(
                    "netreactor: on_close panicked on connection {id}: {}",
                    panic_message(p.as_ref())
                );
            }
        }
        sys::memory::release_buffer(mem::take(&mut conn.inbound));
        let origin = conn.origin();
        drop_guarded(conn, state, id);
        self.shared().remove_connection();
        if let crate::addr::Origin::Accepted { listener } = origin {
            self.engine.listener_closed(listener);
        }
        if let Some((link, reason)) = relay {
            self.relay_partner_gone(link.peer, reason, truncated);
        }
    }

    /// Closes this loop's own listeners (`reuse_port`), out of epoll first:
    /// an inherited or handed-off one lives on elsewhere.
    pub(super) fn stop_accepting(&mut self) {
        for l in self.listeners.drain(..) {
            l.deregister(&self.poller);
        }
        self.engine.listeners.stopped_accepting(1 + self.index);
    }

    /// Stop: no new connections; every connection flushes what it has
    /// (until `deadline`, `None`: no deadline but each connection's linger)
    /// and closes with `CloseReason::Shutdown`.
    pub(super) fn begin_stop(&mut self, deadline: Option<Instant>) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.stop_deadline = deadline;
        self.stop_accepting();
        for id in self.conns.ids() {
            if let Some(c) = self.conns.get_mut(id) {
                c.close_reason.get_or_insert(CloseReason::Shutdown);
                if let Some(stop) = deadline.filter(|_| c.lingering) {
                    let timing = c.timing.get_or_insert_with(|| Timing::new(self.clock.now()));
                    if timing.linger_deadline.is_none_or(|d| d > stop) {
                        timing.linger_deadline = Some(stop);
                        self.timers.insert(stop, TimerKind::Linger(id));
                    }
                }
            }
            self.sync(id);
        }
    }
}

/// Dropping a connection's state (and the connection) runs user code
/// (`Drop`): under the guard.
fn drop_guarded<St>(conn: Conn, state: St, id: ConnId) {
    if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop((state, conn)))) {
        log::error!(
            "netreactor: dropping the state of connection {id} panicked: {}",
            panic_message(p.as_ref())
        );
    }
}
