//! The write path: after every callback its action is applied, queued output
//! is flushed with one system call, the epoll interest follows the
//! connection's state, and the writability callbacks that the flush calls for
//! are delivered. Writes posted from other threads are flushed once per
//! connection per iteration.

use std::mem;
use std::os::fd::AsFd;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::callback::{close_for_panic, lend_spare};
use super::timers::TimerKind;
use super::EventLoop;
use crate::action::Action;
use crate::buffer::outbound::Outbound;
use crate::conn::{Conn, Timing, WriteSide};
use crate::deadline;
use crate::error::CloseReason;
use crate::id::ConnId;
use crate::service::Serve;
use crate::sys;
use crate::sys::epoll::Interest;

/// Writability callbacks that may follow one another before the loop moves on.
const MAX_NOTIFY_ROUNDS: usize = 64;

/// A callback the loop owes a connection after a flush.
#[derive(Debug, Clone, Copy)]
pub(super) enum Notify {
    Writability(bool),
    Drained,
}

impl<S: Serve> EventLoop<S> {
    pub(super) fn on_write_ready(&mut self, id: ConnId, dead: bool) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        if conn.connecting {
            return self.finish_dial(id);
        }
        let before = conn.outbound.len();
        self.after_callback(id, Action::Continue);
        if dead {
            if let Some(conn) = self.conns.get_mut(id) {
                if conn.outbound.len() == before {
                    // The peer is gone and the socket takes nothing: give up.
                    conn.outbound.clear();
                    conn.close_reason = Some(
                        sys::socket::take_error(conn.fd.as_fd()).map_or(CloseReason::PeerReset, CloseReason::from_io),
                    );
                    self.sync(id);
                }
            }
        }
    }

    /// After any callback: apply its action, flush, deliver the writability
    /// callbacks the flush calls for, and arm the connection's timers.
    #[inline]
    pub(super) fn after_callback(&mut self, id: ConnId, action: Action) {
        self.apply(id, action);
        if let Some(notify) = self.sync(id) {
            self.notify(id, notify);
        }
        if self.arm_after_sync {
            self.arm_timers(id);
        }
    }

    /// Delivers the writability callbacks a flush called for, syncing after
    /// each, until none is due (or a connection keeps toggling).
    #[inline(never)]
    fn notify(&mut self, id: ConnId, first: Notify) {
        let mut next = Some(first);
        let mut rounds = 0;
        while let Some(notify) = next {
            rounds += 1;
            if rounds > MAX_NOTIFY_ROUNDS {
                log::warn!("netreactor: connection {id} keeps toggling writability; deferring");
                break;
            }
            let relay = self.conns.get_mut(id).and_then(|c| c.relay_link());
            let action = match (notify, relay) {
                (_, Some(link)) => {
                    self.relay_notify(id, link.peer, notify);
                    Action::Continue
                }
                (Notify::Writability(w), None) => self.call(id, |h, c, s| h.on_writability_changed(c, s, w)),
                (Notify::Drained, None) => self.call(id, |h, c, s| h.on_writable(c, s)),
            };
            self.apply(id, action);
            next = self.sync(id);
        }
    }

    /// Sends what is queued, brings the epoll registration in line with the
    /// connection's state, and closes it when it is done. Returns the
    /// writability callback now due, if any.
    #[inline(always)]
    pub(super) fn sync(&mut self, id: ConnId) -> Option<Notify> {
        self.arm_after_sync = false;
        let conn = self.conns.get_mut(id)?;
        if conn.datagram {
            self.end_datagram_turn(id);
            // Scheduling a timer makes the socket's timing (and cancelling
            // needs one); a socket that never had one has nothing to arm.
            self.arm_after_sync = self.conns.get_mut(id).is_some_and(|c| c.timing.is_some());
            return None;
        }
        let counters = &*self.counters;
        #[cfg(feature = "tls")]
        conn.seal_tls();
        if !conn.outbound.is_empty() {
            match conn.outbound.flush(conn.fd.as_fd()) {
                Ok(f) => {
                    counters.bytes_out.add(f.sent as u64);
                    if let Some(t) = conn.timing.as_mut().filter(|_| f.sent > 0) {
                        t.last_progress = self.clock.now();
                    }
                    conn.owe_on_writable |= !f.all;
                }
                Err(e) => {
                    conn.outbound.clear();
                    if !matches!(conn.close_reason, Some(CloseReason::HandlerPanic(_))) {
                        conn.close_reason = Some(CloseReason::from_io(e));
                    }
                }
            }
        }
        counters.bytes_out.add(mem::take(&mut conn.sent_by_flush));
        if let Some(shared) = &conn.shared {
            shared.update(conn.outbound.len(), 0);
        }
        if conn.outbound.is_empty() {
            // Give the lent buffer back, or keep this one as the spare.
            if !self.spare_out.has_capacity() {
                mem::swap(&mut conn.outbound, &mut self.spare_out);
            } else if conn.outbound.has_capacity() {
                conn.outbound = Outbound::default();
            }
            if conn.write_side == WriteSide::ShutdownPending {
                conn.write_side = WriteSide::Shut;
                if let Err(e) = sys::socket::shutdown_write(conn.fd.as_fd()) {
                    conn.close_reason.get_or_insert(CloseReason::from_io(e));
                }
                if conn.read_closed {
                    conn.close_reason.get_or_insert(CloseReason::Local);
                }
            }
        }
        let mut notify = None;
        let want = if conn.close_reason.is_some() {
            if conn.outbound.is_empty() || conn.write_side == WriteSide::Discarding {
                self.close_now(id);
                return None;
            }
            if !conn.lingering {
                conn.lingering = true;
                let linger = deadline::after(self.clock.now(), self.cfg.close_linger);
                let at = deadline::earliest(linger, self.stop_deadline);
                conn.timing
                    .get_or_insert_with(|| Timing::new(self.clock.now()))
                    .linger_deadline = at;
                if let Some(at) = at {
                    self.timers.insert(at, TimerKind::Linger(id));
                }
            }
            Interest::WRITE
        } else {
            let len = conn.outbound.len();
            if conn.writable && len > self.cfg.high_watermark {
                conn.writable = false;
                notify = Some(Notify::Writability(false));
            } else if !conn.writable && len <= self.cfg.low_watermark {
                conn.writable = true;
                notify = Some(Notify::Writability(true));
            } else if conn.owe_on_writable && len == 0 {
                conn.owe_on_writable = false;
                notify = Some(Notify::Drained);
            }
            let paused = conn.reading_paused
                || (!conn.writable && self.cfg.pause_reading_when_unwritable && conn.relay.is_none());
            Interest {
                read: !conn.read_closed && !paused,
                write: len > 0,
            }
        };
        if want != conn.interest {
            if let Err(e) = self.poller.modify(conn.fd.as_fd(), id.token(), want) {
                log::error!("netreactor: epoll_ctl failed on connection {id}: {e}");
                conn.outbound.clear();
                conn.close_reason = Some(CloseReason::Io(std::sync::Arc::new(e)));
                self.close_now(id);
                return None;
            }
            conn.interest = want;
        }
        // Timers to arm after the callback: only a connection with timing
        // state, or a partial message that starts one (see `arm_timers`).
        self.arm_after_sync = conn.timing.is_some() || !conn.inbound.is_empty();
        notify
    }

    /// Writes from tasks are flushed once per connection per iteration.
    /// `posted`: the bytes the task carried, which leave the handles' count
    /// of bytes in flight as they enter the outbound queue. `f` may run user
    /// code (an encoder): a panic closes only this connection.
    pub(super) fn task_write(&mut self, id: ConnId, posted: usize, f: impl FnOnce(&mut Conn)) {
        let Some(c) = self.conns.get_mut(id) else { return };
        // The loop's spare queue, as for a callback: no queue made and
        // freed per posted write.
        lend_spare(c, &mut self.spare_out, &self.clock);
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| f(c))) {
            close_for_panic(c, payload.as_ref());
        }
        // The bytes move from "posted" to "queued" in one adjustment, so
        // handles never see them counted twice or not at all.
        if let Some(shared) = &c.shared {
            shared.update(c.outbound.len(), posted);
        }
        if !c.queued_for_flush {
            c.queued_for_flush = true;
            self.flush_queue.push(id);
        }
    }

    pub(super) fn flush_queued(&mut self) {
        if self.flush_queue.is_empty() {
            return;
        }
        let mut queue = mem::take(&mut self.flush_queue);
        for id in queue.drain(..) {
            if let Some(c) = self.conns.get_mut(id) {
                c.queued_for_flush = false;
                self.after_callback(id, Action::Continue);
            }
        }
        self.flush_queue = queue;
    }
}
