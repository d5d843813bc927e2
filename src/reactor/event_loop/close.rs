//! The close path: the one place a connection ends, and the loop's stop.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::callback::panic_message;
use super::timers::TimerKind;
use super::EventLoop;
use crate::conn::WriteSide;
use crate::error::CloseReason;
use crate::handler::EventHandler;
use crate::id::ConnId;

impl<H: EventHandler> EventLoop<H> {
    /// The one place a connection ends: `on_close` exactly once, then the
    /// descriptor closes (which also removes it from epoll: it is never duplicated).
    pub(super) fn close_now(&mut self, id: ConnId) {
        let Some(mut conn) = self.conns.remove(id) else { return };
        conn.closed = true;
        if let Some(alive) = &conn.alive {
            alive.store(false, Ordering::Release);
        }
        let reason = conn.close_reason.take().unwrap_or(CloseReason::Local);
        self.shared().counters.closed(&reason);
        conn.outbound.clear();
        conn.write_side = WriteSide::Discarding;
        let handler = &*self.handler;
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| handler.on_close(&mut conn, reason))) {
            log::error!(
                "netreactor: on_close panicked on connection {id}: {}",
                panic_message(p.as_ref())
            );
        }
        drop(conn);
        self.shared().remove_connection();
    }

    /// Stop: no new connections; every connection flushes what it has
    /// (until `deadline`) and closes with `CloseReason::Shutdown`.
    pub(super) fn begin_stop(&mut self, deadline: Instant) {
        if self.stop_deadline.is_some() {
            return;
        }
        self.stop_deadline = Some(deadline);
        self.listener = None;
        for id in self.conns.ids() {
            if let Some(c) = self.conns.get_mut(id) {
                c.close_reason.get_or_insert(CloseReason::Shutdown);
                if c.linger_deadline.is_some_and(|d| d > deadline) {
                    c.linger_deadline = Some(deadline);
                    self.timers.insert(deadline, TimerKind::Linger(id));
                }
            }
            self.sync(id);
        }
    }
}
