//! Timers: idle, write-idle and frame deadlines, user timers, close linger
//! and the ticker, all on the loop's timer wheel.

use std::mem;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use super::EventLoop;
use crate::action::Action;
use crate::config::Config;
use crate::conn::{Conn, Timing};
use crate::deadline;
use crate::error::{panic_message, CloseReason, TimeoutKind};
use crate::handle::EngineHandle;
use crate::id::{ConnId, TimerId};
use crate::reactor::timer::TICK;
use crate::service::Serve;

#[derive(Debug, Clone, Copy)]
pub(super) enum TimerKind {
    /// The connection's idle/frame timer, armed for this deadline.
    Idle(ConnId, Instant),
    /// A `Conn::schedule` timer: its token and its id.
    User(ConnId, u64, TimerId),
    Linger(ConnId),
    /// A dial's connect timeout.
    Connect(ConnId),
    /// A TLS handshake's deadline.
    #[cfg(feature = "tls")]
    TlsHandshake(ConnId),
    Tick,
    /// While draining: close the connections that have become idle.
    DrainSweep,
}

impl<S: Serve> EventLoop<S> {
    /// Timers the callback asked for, and the idle/frame timer.
    pub(super) fn arm_timers(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        if conn.timing.is_none() {
            // Timestamps only once a partial message waits (the frame
            // timeout's start), so idle connections stay small.
            if self.cfg.frame_timeout.is_none() || conn.inbound.is_empty() || conn.close_reason.is_some() {
                return;
            }
            conn.timing = Some(Timing::new(self.clock.now()));
        }
        let Some(timing) = conn.timing.as_deref_mut() else {
            return;
        };
        for key in timing.cancelled.drain(..) {
            self.timers.cancel(key);
        }
        for (delay, token, timer) in timing.new_timers.drain(..) {
            if let Some(at) = deadline::after(self.clock.now(), delay) {
                let key = self.timers.insert(at, TimerKind::User(id, token, timer));
                timing.armed.insert(timer, key);
            }
        }
        if !self.cfg.has_idle_timeouts() || conn.close_reason.is_some() || conn.datagram {
            return;
        }
        if conn.inbound.is_empty() {
            timing.partial_since = None;
        } else if timing.partial_since.is_none() {
            timing.partial_since = Some(self.clock.now());
        }
        if let Some((deadline, _)) = idle_deadline(conn, &self.cfg) {
            let timing = conn.timing.as_deref_mut().expect("checked above");
            if timing.idle_timer.is_none_or(|armed| deadline < armed) {
                timing.idle_timer = Some(deadline);
                self.timers.insert(deadline, TimerKind::Idle(id, deadline));
            }
        }
    }

    pub(super) fn expire_timers(&mut self) {
        if self.timers.len() == 0 {
            return;
        }
        let mut fired = mem::take(&mut self.fired);
        self.timers.expire(self.clock.now(), &mut fired);
        for t in fired.drain(..) {
            match t {
                TimerKind::Tick => self.tick(),
                TimerKind::DrainSweep => self.sweep_idle(),
                TimerKind::Connect(id) => self.dial_timed_out(id),
                #[cfg(feature = "tls")]
                TimerKind::TlsHandshake(id) => self.tls_handshake_timed_out(id),
                TimerKind::Linger(id) => {
                    let now = self.clock.now();
                    if let Some(c) = self.conns.get_mut(id) {
                        if c.timing
                            .as_ref()
                            .and_then(|t| t.linger_deadline)
                            .is_some_and(|d| d <= now)
                        {
                            c.outbound.clear();
                            c.close_reason = Some(CloseReason::LingerTimeout);
                            self.close_now(id);
                        }
                    }
                }
                TimerKind::Idle(id, armed) => {
                    let Some(c) = self.conns.get_mut(id) else { continue };
                    let Some(t) = c.timing.as_deref_mut().filter(|t| t.idle_timer == Some(armed)) else {
                        continue; // superseded by an earlier deadline
                    };
                    t.idle_timer = None;
                    match idle_deadline(c, &self.cfg) {
                        Some((deadline, kind)) if deadline <= self.clock.now() => {
                            if kind == TimeoutKind::WriteIdle {
                                c.outbound.clear(); // the peer is not reading it
                            }
                            c.close_reason.get_or_insert(CloseReason::Timeout(kind));
                            self.after_callback(id, Action::Continue);
                        }
                        _ => self.arm_timers(id),
                    }
                }
                TimerKind::User(id, token, timer) => {
                    let Some(c) = self.conns.get_mut(id) else { continue };
                    if let Some(t) = c.timing.as_deref_mut() {
                        t.armed.remove(&timer);
                    }
                    if c.close_reason.is_none() {
                        let action = self.call(id, |h, c, s| h.on_timer(c, s, token));
                        self.after_callback(id, action);
                    }
                }
            }
        }
        self.fired = fired;
    }

    pub(super) fn tick(&mut self) {
        if self.stopping {
            return;
        }
        let engine = EngineHandle::from_shared(self.engine.clone());
        let handler = &*self.handler;
        let delay = match catch_unwind(AssertUnwindSafe(|| handler.on_tick(&engine))) {
            Ok((_, Action::Shutdown)) => {
                // No more ticks: the stop is on its way.
                self.engine.request_stop(self.engine.shutdown_deadline());
                return;
            }
            Ok((delay, _)) => delay,
            Err(p) => {
                log::error!("netreactor: on_tick panicked: {}", panic_message(p.as_ref()));
                Duration::from_secs(1)
            }
        };
        match deadline::after(self.clock.now(), delay.max(TICK)) {
            Some(at) => {
                self.timers.insert(at, TimerKind::Tick);
            }
            None => log::info!("netreactor: on_tick asked never to be called again"),
        }
    }
}

/// The earliest of the connection's idle and frame deadlines, and which.
fn idle_deadline(conn: &Conn, cfg: &Config) -> Option<(Instant, TimeoutKind)> {
    let t = conn.timing.as_deref()?;
    let read = cfg
        .read_idle_timeout
        .filter(|_| !conn.read_closed)
        .and_then(|d| Some((deadline::after(t.last_read, d)?, TimeoutKind::ReadIdle)));
    let write = cfg
        .write_idle_timeout
        .filter(|_| !conn.outbound.is_empty())
        .and_then(|d| Some((deadline::after(t.last_progress, d)?, TimeoutKind::WriteIdle)));
    let frame = cfg
        .frame_timeout
        .zip(t.partial_since)
        .and_then(|(d, since)| Some((deadline::after(since, d)?, TimeoutKind::Frame)));
    [read, write, frame].into_iter().flatten().min_by_key(|(at, _)| *at)
}
