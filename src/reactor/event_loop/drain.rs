//! Draining: the loop accepts no more and keeps serving (every
//! connection's `Conn::is_draining` reads the engine's drain flag) and,
//! unless the builder said otherwise, closes each connection as soon as it
//! is idle. Idle means a close loses nothing: not a connection whose first
//! request is still on its way (one that has sent nothing yet, for
//! `DRAIN_NEW_CONNECTION_GRACE`), nor one whose reply may be (dialed or
//! relayed: those end with their peer, or at the deadline).
//! The coordinator stops the loop once every connection has gone or the
//! drain's hard deadline has come.

use std::os::fd::AsFd;

use super::timers::TimerKind;
use super::EventLoop;
use crate::addr::Origin;
use crate::conn::Conn;
use crate::error::CloseReason;
use crate::options::{DRAIN_NEW_CONNECTION_GRACE, DRAIN_POLL_INTERVAL};
use crate::service::Serve;
use crate::sys;

impl<S: Serve> EventLoop<S> {
    pub(super) fn begin_drain(&mut self) {
        if self.stopping {
            return;
        }
        // The connections already waiting in this loop's own listeners'
        // queues are clients too: closing the listeners would reset them.
        // (After a hand-off the new process takes them.)
        if !self.engine.listeners.is_handed_off() {
            for i in 0..self.listeners.len() {
                self.accept(i as u64);
            }
        }
        // Last: `EngineHandle::is_draining` turns true once every loop has
        // stopped accepting (`Conn::is_draining` already is: it reads the
        // engine's flag, raised before the drain task was posted).
        self.stop_accepting();
        self.drain_began = Some(self.clock.now());
        self.sweep_idle();
    }

    /// Closes the connections that are idle now, and looks again later.
    pub(super) fn sweep_idle(&mut self) {
        if self.stopping || !self.cfg.drain_closes_idle {
            return;
        }
        let now = self.clock.now();
        let new_ones_too = self
            .drain_began
            .is_some_and(|began| now.saturating_duration_since(began) >= DRAIN_NEW_CONNECTION_GRACE);
        for id in self.conns.ids() {
            let Some(c) = self.conns.get_mut(id) else { continue };
            if (c.heard || new_ones_too) && is_idle(c) {
                c.close_reason = Some(CloseReason::Shutdown);
                self.sync(id);
            }
        }
        self.timers.insert(now + DRAIN_POLL_INTERVAL, TimerKind::DrainSweep);
    }
}

/// Nothing in flight either way: no request partly read or waiting in the
/// socket, no reply queued, and none awaited from the peer (a dialed or
/// relayed connection may be waiting for one; a TLS handshake is a
/// request under way). Closing it now loses nothing.
fn is_idle(c: &Conn) -> bool {
    !c.datagram
        && !c.connecting
        && c.origin() != Origin::Dialed
        && c.relay.is_none()
        && !tls_handshaking(c)
        && c.close_reason.is_none()
        && c.inbound.is_empty()
        && c.outbound.is_empty()
        && !sys::socket::has_unread_input(c.fd.as_fd())
}

#[cfg(feature = "tls")]
fn tls_handshaking(c: &Conn) -> bool {
    c.tls.as_ref().is_some_and(|t| !t.open)
}

#[cfg(not(feature = "tls"))]
fn tls_handshaking(_: &Conn) -> bool {
    false
}
