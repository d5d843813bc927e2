//! Calling into the handler: the panic guard, the spare outbound buffer lent
//! for the length of a callback, and applying the returned action.

use std::any::Any;
use std::mem;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::clock::Clock;
use super::EventLoop;
use crate::action::Action;
use crate::buffer::outbound::Outbound;
use crate::conn::Conn;
use crate::error::{panic_message, CloseReason};
use crate::id::ConnId;
use crate::service::Serve;

impl<S: Serve> EventLoop<S> {
    /// Runs a callback with the loop's spare outbound buffer lent to the
    /// connection; a panic closes the connection instead of the loop.
    pub(super) fn call(&mut self, id: ConnId, f: impl FnOnce(&S, &mut Conn, &mut S::State) -> Action) -> Action {
        let Some((conn, state)) = self.conns.get_pair(id) else {
            return Action::Continue;
        };
        call_with(&*self.handler, &mut self.spare_out, &self.clock, conn, state, f)
    }

    pub(super) fn apply(&mut self, id: ConnId, action: Action) {
        match action {
            Action::Continue => {}
            Action::Close => {
                if let Some(c) = self.conns.get_mut(id) {
                    c.close();
                }
            }
            Action::Shutdown => self.engine.request_stop(self.engine.shutdown_deadline()),
        }
    }
}

/// Before the loop writes to a connection (a callback, a relay, a posted
/// write): lend the loop's spare outbound queue to a connection
/// that has none, and note that its output was not stalled before this.
#[inline(always)]
pub(super) fn lend_spare(conn: &mut Conn, spare: &mut Outbound, clock: &Clock) {
    if conn.outbound.is_empty() {
        if let Some(t) = &mut conn.timing {
            t.last_progress = clock.now();
        }
        if !conn.outbound.has_capacity() {
            mem::swap(&mut conn.outbound, spare);
        }
    }
}

/// [`EventLoop::call`] for a connection already at hand: the loop's
/// spare outbound queue lent, the panic guard around the callback.
#[inline(always)]
pub(super) fn call_with<S: Serve>(
    handler: &S,
    spare: &mut Outbound,
    clock: &Clock,
    conn: &mut Conn,
    state: &mut S::State,
    f: impl FnOnce(&S, &mut Conn, &mut S::State) -> Action,
) -> Action {
    lend_spare(conn, spare, clock);
    invoke(handler, conn, state, f)
}

/// Runs a callback; a panic closes the connection instead of the loop.
fn invoke<S, St>(
    handler: &S,
    conn: &mut Conn,
    state: &mut St,
    f: impl FnOnce(&S, &mut Conn, &mut St) -> Action,
) -> Action {
    match catch_unwind(AssertUnwindSafe(|| f(handler, conn, state))) {
        Ok(action) => action,
        Err(payload) => {
            close_for_panic(conn, payload.as_ref());
            Action::Close
        }
    }
}

/// A callback (or a decoder) panicked on `conn`: drop its output and close
/// only this connection, with the panic message as the reason.
pub(super) fn close_for_panic(conn: &mut Conn, payload: &(dyn Any + Send)) {
    let msg = panic_message(payload);
    log::error!("netreactor: handler panicked on connection {}: {msg}", conn.id);
    conn.output_dropped |= !conn.outbound.is_empty();
    conn.outbound.clear();
    conn.close_reason = Some(CloseReason::HandlerPanic(msg));
}
