//! A sub-reactor ("nr-loop-i"): owns an epoll instance, its connections and
//! their buffers, and drives the handler's callbacks.
//!
//! One iteration: wait for readiness (or tasks, or the next timer), handle the
//! events, run the urgent tasks and a bounded number of normal ones, flush
//! connections that tasks wrote to, then fire due timers.

use std::any::Any;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};

use crate::buffer::outbound::Outbound;
use crate::codec::FrameSpan;
use crate::conn::{Conn, ConnId, Timing, WriteSide};
use crate::engine::{Config, EngineHandle, EngineShared, LoopShared};
use crate::error::{CloseReason, TimeoutKind};
use crate::framing::Frame;
use crate::handler::{Action, EventHandler};
use crate::reactor::acceptor::{admission, Listener};
use crate::reactor::task::{Inbox, Mailbox, Task};
use crate::reactor::timer::{TimerWheel, TICK};
use crate::sys;
use crate::sys::epoll::{Event, Interest, Poller};
use crate::sys::io::ReadOutcome;

const WAKER: u64 = u64::MAX;
const LISTENER: u64 = u64::MAX - 1;
/// An unconsumed tail up to this size is copied back into the loop's read
/// buffer for the next read; a larger one (a big frame arriving) is read into
/// the connection's own buffer, so it is not copied again on every read.
const SMALL_TAIL_BYTES: usize = 4 * 1024;
/// Small tail buffers a loop keeps for reuse (at most 1 MiB of them).
const TAIL_POOL_MAX: usize = 256;
/// Writability callbacks that may follow one another before the loop moves on.
const MAX_NOTIFY_ROUNDS: usize = 64;

/// Connections by slot, each slot with a generation bumped on reuse.
#[derive(Debug, Default)]
struct Slab {
    entries: Vec<(u32, Option<Conn>)>,
    free: Vec<u32>,
    len: usize,
}

impl Slab {
    fn next_id(&self) -> ConnId {
        match self.free.last() {
            Some(&slot) => ConnId::new(slot, self.entries[slot as usize].0),
            None => ConnId::new(self.entries.len() as u32, 0),
        }
    }

    /// Inserts at the id `next_id` returned.
    fn insert(&mut self, conn: Conn) {
        let slot = conn.id.slot();
        if self.free.last().is_some_and(|&s| s as usize == slot) {
            self.free.pop();
            self.entries[slot].1 = Some(conn);
        } else {
            self.entries.push((0, Some(conn)));
        }
        self.len += 1;
    }

    fn get_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        match self.entries.get_mut(id.slot()) {
            Some((generation, Some(c))) if *generation == id.generation() => Some(c),
            _ => None,
        }
    }

    fn remove(&mut self, id: ConnId) -> Option<Conn> {
        let (generation, entry) = self.entries.get_mut(id.slot())?;
        if *generation != id.generation() || entry.is_none() {
            return None;
        }
        *generation = generation.wrapping_add(1);
        self.free.push(id.slot() as u32);
        self.len -= 1;
        entry.take()
    }

    /// Starts loading a connection's slot into cache (tokens that are not
    /// connections, like the waker's, fall outside the table and are ignored).
    fn prefetch(&self, id: ConnId) {
        if let Some(entry) = self.entries.get(id.slot()) {
            sys::prefetch::prefetch(entry);
        }
    }

    fn ids(&self) -> Vec<ConnId> {
        self.entries
            .iter()
            .filter_map(|(_, c)| c.as_ref().map(|c| c.id))
            .collect()
    }
}

#[derive(Debug, Clone, Copy)]
enum TimerKind {
    /// The connection's idle/frame timer, armed for this deadline.
    Idle(ConnId, Instant),
    User(ConnId, u64),
    Linger(ConnId),
    Tick,
}

/// A callback the loop owes a connection after a flush.
#[derive(Debug, Clone, Copy)]
enum Notify {
    Writability(bool),
    Drained,
}

pub(crate) struct EventLoop<H> {
    index: usize,
    handler: Arc<H>,
    poller: Poller,
    inbox: Inbox,
    engine: Arc<EngineShared>,
    cfg: Arc<Config>,
    conns: Slab,
    /// Shared by every connection: data is read here, and only a partial
    /// message left unconsumed is copied into the connection's own buffer.
    read_buf: BytesMut,
    /// Lent to a connection for the length of a callback, so writes that are
    /// flushed at once never allocate per connection.
    spare_out: Outbound,
    /// Emptied small tail buffers, so partial messages do not allocate.
    tail_pool: Vec<BytesMut>,
    listener: Option<Listener>,
    flush_queue: Vec<ConnId>,
    timers: TimerWheel<TimerKind>,
    fired: Vec<TimerKind>,
    /// The time at the top of this iteration (one clock read per iteration).
    now: Instant,
    stop_deadline: Option<Instant>,
}

impl<H: EventHandler> EventLoop<H> {
    pub(crate) fn new(
        index: usize,
        handler: Arc<H>,
        inbox: Inbox,
        engine: Arc<EngineShared>,
        cfg: Arc<Config>,
        listener: Option<OwnedFd>,
    ) -> std::io::Result<Self> {
        let poller = Poller::new(cfg.events_per_wait)?;
        engine.loops[index]
            .mailbox
            .with_waker_fd(|fd| poller.add(fd, WAKER, Interest::READ))
            .transpose()?;
        let listener = listener.map(|l| Listener::register(l, LISTENER, &poller)).transpose()?;
        let now = Instant::now();
        Ok(EventLoop {
            index,
            handler,
            poller,
            inbox,
            read_buf: BytesMut::with_capacity(cfg.read_buffer_bytes),
            engine,
            cfg,
            conns: Slab::default(),
            spare_out: Outbound::default(),
            tail_pool: Vec::new(),
            listener,
            flush_queue: Vec::new(),
            timers: TimerWheel::new(now),
            fired: Vec::new(),
            now,
            stop_deadline: None,
        })
    }

    fn shared(&self) -> &LoopShared {
        &self.engine.loops[self.index]
    }

    fn mailbox(&self) -> &Mailbox {
        &self.shared().mailbox
    }

    pub(crate) fn run(mut self) {
        if self.index == 0 && self.cfg.ticker {
            self.timers.insert(self.now, TimerKind::Tick);
        }
        loop {
            let timeout = self.next_timeout();
            let n = if timeout == Some(Duration::ZERO) || !self.mailbox().park() {
                self.poller.wait(Some(Duration::ZERO))
            } else {
                let n = self.poller.wait(timeout);
                self.mailbox().unpark();
                n
            };
            self.now = Instant::now();
            match n {
                Ok(n) => {
                    for i in 0..n {
                        if i + 1 < n {
                            self.conns.prefetch(ConnId::from_token(self.poller.event(i + 1).token));
                        }
                        let ev = self.poller.event(i);
                        self.dispatch(ev);
                    }
                }
                Err(e) => {
                    log::error!(
                        "netreactor: loop {} poll failed: {e}; closing its connections",
                        self.index
                    );
                    self.begin_stop(self.now);
                }
            }
            self.run_tasks();
            self.flush_queued();
            self.expire_timers();
            if let Some(l) = &mut self.listener {
                l.resume_if_due(&self.poller, self.now);
            }
            if self.stop_deadline.is_some() && self.conns.len == 0 {
                break;
            }
        }
        self.mailbox().close_waker();
    }

    fn next_timeout(&self) -> Option<Duration> {
        if self.mailbox().is_pending() || !self.flush_queue.is_empty() {
            return Some(Duration::ZERO);
        }
        if self.timers.len() == 0 && self.listener.as_ref().is_none_or(|l| !l.is_paused()) {
            return None; // no deadline: no clock read either
        }
        let now = Instant::now();
        let timer = self.timers.next_timeout(now);
        let listener = self.listener.as_ref().and_then(|l| l.timeout(now));
        match (timer, listener) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn dispatch(&mut self, ev: Event) {
        match ev.token {
            WAKER => {
                self.mailbox().woken();
                self.shared().counters.wakeups.add(1);
            }
            LISTENER => self.accept(),
            token => {
                let id = ConnId::from_token(token);
                let Some(conn) = self.conns.get_mut(id) else { return };
                let reading = conn.interest.read;
                // Without read interest a hang-up has no read to report it.
                let dead = ev.hangup && !reading;
                if ev.writable || dead {
                    self.on_write_ready(id, dead);
                }
                if reading && (ev.readable || ev.hangup) {
                    self.on_read_ready(id);
                }
            }
        }
    }

    fn accept(&mut self) {
        let Some(mut listener) = self.listener.take() else {
            return;
        };
        let mut accepted = Vec::new();
        let (engine, cfg, index) = (&*self.engine, &*self.cfg, self.index);
        listener.accept_ready(
            &self.poller,
            || admission(cfg, engine),
            |fd, peer| {
                engine.loops[index].add_connection();
                accepted.push((fd, peer));
            },
            || {
                engine.rejected.fetch_add(1, Ordering::Relaxed);
            },
        );
        self.listener = Some(listener);
        for (fd, peer) in accepted {
            if self.cfg.tcp_nodelay {
                let _ = sys::socket::set_nodelay(fd.as_fd(), true);
            }
            self.register(fd, peer);
        }
    }

    fn register(&mut self, fd: OwnedFd, peer: Option<SocketAddr>) {
        if self.stop_deadline.is_some() {
            self.shared().remove_connection();
            return;
        }
        let id = self.conns.next_id();
        if let Err(e) = self.poller.add(fd.as_fd(), id.token(), Interest::READ) {
            log::error!("netreactor: registering a connection failed: {e}");
            self.shared().remove_connection();
            return;
        }
        self.shared().counters.accepted.add(1);
        self.conns.insert(Conn {
            fd,
            id,
            peer,
            inbound: BytesMut::new(),
            outbound: Outbound::default(),
            interest: Interest::READ,
            close_reason: None,
            read_closed: false,
            write_blocked: false,
            queued_for_flush: false,
            closed: false,
            linger_deadline: None,
            max_outbound: self.cfg.max_outbound_bytes,
            write_side: WriteSide::Open,
            writable: true,
            codec: self.cfg.codec.as_ref().map(|c| c.0.clone_box()),
            timing: self.cfg.has_idle_timeouts().then(|| Timing::new(self.now)),
            sent_by_flush: 0,
            alive: None,
            mailbox: self.shared().mailbox.clone(),
            context: None,
        });
        let action = self.call(id, |h, c| h.on_open(c));
        self.after_callback(id, action);
    }

    /// Runs a callback with the loop's spare outbound buffer lent to the
    /// connection; a panic closes the connection instead of the loop.
    fn call(&mut self, id: ConnId, f: impl FnOnce(&H, &mut Conn) -> Action) -> Action {
        let Some(conn) = self.conns.get_mut(id) else {
            return Action::Continue;
        };
        lend_spare(conn, &mut self.spare_out, self.now);
        invoke(&*self.handler, conn, f)
    }

    fn apply(&mut self, id: ConnId, action: Action) {
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

    fn on_read_ready(&mut self, id: ConnId) {
        let max_inbound = self.cfg.max_inbound_bytes;
        let read_size = self.cfg.read_buffer_bytes;
        let Some(conn) = self.conns.get_mut(id) else { return };
        if conn.inbound.len() >= max_inbound {
            conn.close_reason
                .get_or_insert(CloseReason::InboundOverflow { limit: max_inbound });
            return self.after_callback(id, Action::Continue);
        }
        // Read into the loop's buffer, with a small unconsumed tail copied to
        // its front; only a large partial message reads into its own buffer.
        let borrowed = conn.inbound.len() <= SMALL_TAIL_BYTES;
        if borrowed {
            self.read_buf.extend_from_slice(&conn.inbound);
            conn.inbound.clear();
            mem::swap(&mut conn.inbound, &mut self.read_buf);
        }
        let framed = conn.codec.is_some();
        let action = match sys::io::read_into(conn.fd.as_fd(), &mut conn.inbound, read_size) {
            Ok(ReadOutcome::Data(n)) => {
                if let Some(t) = &mut conn.timing {
                    t.last_read = self.now;
                }
                self.shared().counters.bytes_in.add(n as u64);
                if framed {
                    self.decode_frames(id, false);
                    self.after_decoding(id)
                } else {
                    self.call(id, |h, c| h.on_traffic(c))
                }
            }
            Ok(ReadOutcome::WouldBlock) => Action::Continue,
            Ok(ReadOutcome::Eof) => {
                conn.read_closed = true;
                if framed {
                    self.decode_frames(id, true);
                    let action = self.after_decoding(id);
                    self.apply(id, action);
                }
                self.on_eof(id)
            }
            Err(e) => {
                conn.outbound.clear();
                conn.close_reason.get_or_insert(CloseReason::from_io(e));
                Action::Continue
            }
        };
        if let Some(conn) = self.conns.get_mut(id) {
            let pool = &mut self.tail_pool;
            if borrowed {
                // Hand the loop's buffer back; an unconsumed tail goes to the
                // connection's own buffer (from the pool), released when empty.
                let old = mem::take(&mut self.read_buf);
                let tail = conn.inbound.len();
                let own = if tail == 0 {
                    recycle_tail(pool, old);
                    BytesMut::new()
                } else {
                    let mut own = if old.capacity() >= tail {
                        old
                    } else {
                        recycle_tail(pool, old);
                        take_tail(pool, tail, read_size)
                    };
                    own.extend_from_slice(&conn.inbound);
                    own
                };
                conn.inbound.clear();
                self.read_buf = mem::replace(&mut conn.inbound, own);
            } else if conn.inbound.is_empty() {
                recycle_tail(pool, mem::take(&mut conn.inbound)); // what a partial message grew
            }
        }
        self.after_callback(id, action);
    }

    /// Hands every whole frame in the inbound buffer to `on_frame`, in one
    /// pass that holds the connection (no lookup or hand-off per frame).
    /// Frames are lent in place when the decoder can find them there
    /// (`Decoder::decode_span`: no reference count touched per frame). One
    /// panic guard covers the pass: a panic closes the connection, which
    /// would end the pass anyway.
    fn decode_frames(&mut self, id: ConnId, eof: bool) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        // Outlives the panic guard: a Shutdown asked for by one frame still
        // stands if a later frame of the same read panics.
        let mut pass = FramePass {
            handler: &*self.handler,
            spare: &mut self.spare_out,
            now: self.now,
            frames: 0,
            shutdown: false,
        };
        // The codec owns the inbound bytes while frames are lent from them.
        let mut buf = mem::take(&mut conn.inbound);
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| pass.run(conn, &mut buf, eof))) {
            close_for_panic(conn, payload.as_ref());
        }
        debug_assert!(
            conn.inbound.is_empty(),
            "nothing writes the inbound buffer during on_frame"
        );
        conn.inbound = buf;
        let (frames, shutdown) = (pass.frames, pass.shutdown);
        self.engine.loops[self.index].counters.frames_in.add(frames);
        if shutdown {
            self.engine.request_stop(self.engine.shutdown_deadline());
        }
    }

    /// A handler that called `Conn::end_decoding` in `on_frame` gets the
    /// rest of the read through `on_traffic` at once (no further read may
    /// come to deliver it).
    fn after_decoding(&mut self, id: ConnId) -> Action {
        match self.conns.get_mut(id) {
            Some(c) if c.codec.is_none() && !c.inbound.is_empty() && c.close_reason.is_none() => {
                self.call(id, |h, c| h.on_traffic(c))
            }
            _ => Action::Continue,
        }
    }

    /// The peer sent FIN: the handler decides (default: close after flushing).
    fn on_eof(&mut self, id: ConnId) -> Action {
        if self.conns.get_mut(id).is_none_or(|c| c.close_reason.is_some()) {
            return Action::Continue;
        }
        let action = self.call(id, |h, c| h.on_eof(c));
        if action == Action::Close {
            if let Some(c) = self.conns.get_mut(id) {
                c.close_reason.get_or_insert(CloseReason::PeerEof);
            }
        }
        action
    }

    fn on_write_ready(&mut self, id: ConnId, dead: bool) {
        let Some(conn) = self.conns.get_mut(id) else { return };
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
    fn after_callback(&mut self, id: ConnId, action: Action) {
        self.apply(id, action);
        let mut rounds = 0;
        while let Some(notify) = self.sync(id) {
            rounds += 1;
            if rounds > MAX_NOTIFY_ROUNDS {
                log::warn!("netreactor: connection {id} keeps toggling writability; deferring");
                break;
            }
            let action = match notify {
                Notify::Writability(w) => self.call(id, |h, c| h.on_writability_changed(c, w)),
                Notify::Drained => self.call(id, |h, c| h.on_writable(c)),
            };
            self.apply(id, action);
        }
        self.arm_timers(id);
    }

    /// Sends what is queued, brings the epoll registration in line with the
    /// connection's state, and closes it when it is done. Returns the
    /// writability callback now due, if any.
    fn sync(&mut self, id: ConnId) -> Option<Notify> {
        let conn = self.conns.get_mut(id)?;
        let counters = &self.engine.loops[self.index].counters;
        if !conn.outbound.is_empty() {
            match conn.outbound.flush(conn.fd.as_fd()) {
                Ok(f) => {
                    counters.bytes_out.add(f.sent as u64);
                    if let Some(t) = conn.timing.as_mut().filter(|_| f.sent > 0) {
                        t.last_progress = self.now;
                    }
                    conn.write_blocked |= !f.all;
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
            if conn.linger_deadline.is_none() {
                let linger = self.now + self.cfg.close_linger;
                let deadline = self.stop_deadline.map_or(linger, |d| d.min(linger));
                conn.linger_deadline = Some(deadline);
                self.timers.insert(deadline, TimerKind::Linger(id));
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
            } else if conn.write_blocked && len == 0 {
                conn.write_blocked = false;
                notify = Some(Notify::Drained);
            }
            let paused = !conn.writable && self.cfg.pause_reading_when_unwritable;
            Interest {
                read: !conn.read_closed && !paused,
                write: len > 0,
            }
        };
        if want != conn.interest {
            if let Err(e) = self.poller.modify(conn.fd.as_fd(), id.token(), want) {
                log::error!("netreactor: epoll_ctl failed on connection {id}: {e}");
                conn.outbound.clear();
                conn.close_reason = Some(CloseReason::Io(e));
                self.close_now(id);
                return None;
            }
            conn.interest = want;
        }
        notify
    }

    /// Timers the callback asked for, and the idle/frame timer.
    fn arm_timers(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        let Some(timing) = conn.timing.as_deref_mut() else {
            return;
        };
        for (delay, token) in timing.new_timers.drain(..) {
            self.timers.insert(self.now + delay, TimerKind::User(id, token));
        }
        if !self.cfg.has_idle_timeouts() || conn.close_reason.is_some() {
            return;
        }
        if conn.inbound.is_empty() {
            timing.partial_since = None;
        } else if timing.partial_since.is_none() {
            timing.partial_since = Some(self.now);
        }
        if let Some((deadline, _)) = idle_deadline(conn, &self.cfg) {
            let timing = conn.timing.as_deref_mut().expect("checked above");
            if timing.idle_timer.is_none_or(|armed| deadline < armed) {
                timing.idle_timer = Some(deadline);
                self.timers.insert(deadline, TimerKind::Idle(id, deadline));
            }
        }
    }

    fn expire_timers(&mut self) {
        if self.timers.len() == 0 {
            return;
        }
        let mut fired = mem::take(&mut self.fired);
        self.timers.expire(self.now, &mut fired);
        for t in fired.drain(..) {
            match t {
                TimerKind::Tick => self.tick(),
                TimerKind::Linger(id) => {
                    let now = self.now;
                    if let Some(c) = self.conns.get_mut(id) {
                        if c.linger_deadline.is_some_and(|d| d <= now) {
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
                        Some((deadline, kind)) if deadline <= self.now => {
                            if kind == TimeoutKind::WriteIdle {
                                c.outbound.clear(); // the peer is not reading it
                            }
                            c.close_reason.get_or_insert(CloseReason::Timeout(kind));
                            self.after_callback(id, Action::Continue);
                        }
                        _ => self.arm_timers(id),
                    }
                }
                TimerKind::User(id, token) => {
                    if self.conns.get_mut(id).is_some_and(|c| c.close_reason.is_none()) {
                        let action = self.call(id, |h, c| h.on_timer(c, token));
                        self.after_callback(id, action);
                    }
                }
            }
        }
        self.fired = fired;
    }

    fn tick(&mut self) {
        if self.stop_deadline.is_some() {
            return;
        }
        let engine = EngineHandle::from_shared(self.engine.clone());
        let handler = &*self.handler;
        let delay = match catch_unwind(AssertUnwindSafe(|| handler.on_tick(&engine))) {
            Ok((delay, action)) => {
                if action == Action::Shutdown {
                    self.engine.request_stop(self.engine.shutdown_deadline());
                }
                delay
            }
            Err(p) => {
                log::error!("netreactor: on_tick panicked: {}", panic_message(p.as_ref()));
                Duration::from_secs(1)
            }
        };
        self.timers.insert(self.now + delay.max(TICK), TimerKind::Tick);
    }

    /// The one place a connection ends: `on_close` exactly once, then the
    /// descriptor closes (which also removes it from epoll: it is never duplicated).
    fn close_now(&mut self, id: ConnId) {
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

    fn run_tasks(&mut self) {
        if !self.mailbox().take_pending() {
            return;
        }
        while let Some(task) = self.inbox.try_urgent() {
            self.run_task(task);
        }
        for _ in 0..self.cfg.tasks_per_iteration {
            match self.inbox.try_normal() {
                Some(task) => self.run_task(task),
                None => return,
            }
        }
        self.mailbox().keep_pending();
    }

    fn run_task(&mut self, task: Task) {
        self.shared().counters.tasks.add(1);
        match task {
            Task::Register(fd, peer) => self.register(fd, peer),
            Task::Write(id, data) => self.task_write(id, |c| c.write_bytes(data)),
            Task::WriteVectored(id, data) => self.task_write(id, |c| data.into_iter().for_each(|d| c.write_bytes(d))),
            Task::WriteFrame(id, frame) => self.task_write(id, |c| {
                if let Err(e) = c.write_frame(&frame) {
                    c.close_reason.get_or_insert(CloseReason::Codec(e.to_string()));
                }
            }),
            Task::Wake(id) => {
                if self.conns.get_mut(id).is_some_and(|c| c.close_reason.is_none()) {
                    let action = self.call(id, |h, c| h.on_traffic(c));
                    self.after_callback(id, action);
                }
            }
            Task::Close(id) => self.task_write(id, Conn::close),
            Task::Stop(deadline) => self.begin_stop(deadline),
        }
    }

    /// Writes from tasks are flushed once per connection per iteration.
    fn task_write(&mut self, id: ConnId, f: impl FnOnce(&mut Conn)) {
        let Some(c) = self.conns.get_mut(id) else { return };
        if c.outbound.is_empty() {
            if let Some(t) = &mut c.timing {
                t.last_progress = self.now;
            }
        }
        f(c);
        if !c.queued_for_flush {
            c.queued_for_flush = true;
            self.flush_queue.push(id);
        }
    }

    fn flush_queued(&mut self) {
        let mut queue = mem::take(&mut self.flush_queue);
        for id in queue.drain(..) {
            if let Some(c) = self.conns.get_mut(id) {
                c.queued_for_flush = false;
                self.after_callback(id, Action::Continue);
            }
        }
        self.flush_queue = queue;
    }

    /// Stop: no new connections; every connection flushes what it has
    /// (until `deadline`) and closes with `CloseReason::Shutdown`.
    fn begin_stop(&mut self, deadline: Instant) {
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

/// Before a callback: lend the loop's spare outbound queue to a connection
/// that has none, and note that its output was not stalled before this.
#[inline]
fn lend_spare(conn: &mut Conn, spare: &mut Outbound, now: Instant) {
    if conn.outbound.is_empty() {
        if let Some(t) = &mut conn.timing {
            t.last_progress = now;
        }
        if !conn.outbound.has_capacity() {
            mem::swap(&mut conn.outbound, spare);
        }
    }
}

/// Frames found per `Decoder::decode_spans` call. The array lives on the
/// stack and is cleared on every read, so it stays small; a 64 KiB read of
/// 64-byte frames takes 64 calls.
const FRAMES_PER_BATCH: usize = 16;

/// One pass of [`EventLoop::decode_frames`]: what delivering frames needs
/// besides the connection and its buffer, and what the pass found out.
struct FramePass<'a, H> {
    handler: &'a H,
    spare: &'a mut Outbound,
    now: Instant,
    frames: u64,
    shutdown: bool,
}

impl<H: EventHandler> FramePass<'_, H> {
    /// Decodes and delivers frames until the buffer holds no whole one, the
    /// connection is closing or the handler ended decoding.
    fn run(&mut self, conn: &mut Conn, buf: &mut BytesMut, eof: bool) {
        let mut batch = [FrameSpan::default(); FRAMES_PER_BATCH];
        while conn.close_reason.is_none() {
            let Some(codec) = conn.codec.as_mut() else { break };
            // Every whole frame of the read in one call, delivered in place...
            let found = codec.decode_spans(buf, &mut batch);
            if found > 0 {
                // Bytes `Frame::into_bytes` split off the front since the batch was found.
                let mut removed = 0;
                let mut end = 0;
                for span in &batch[..found] {
                    // Closing, or the handler ended decoding (`Conn::end_decoding`).
                    if conn.close_reason.is_some() || conn.codec.is_none() {
                        break;
                    }
                    let lent = FrameSpan {
                        start: span.start - removed,
                        end: span.end - removed,
                        consumed: span.consumed - removed,
                    };
                    removed += self.deliver_lent(conn, buf, lent);
                    end = span.consumed;
                }
                buf.advance(end - removed);
                continue;
            }
            // ...and then one at a time: a partial, corrupt or oversize frame,
            // the end of the stream, or a decoder without batches.
            match codec.decode_span(buf, eof) {
                Some(Ok(Some(span))) => {
                    let taken = self.deliver_lent(conn, buf, span);
                    buf.advance(span.consumed - taken);
                }
                Some(Ok(None)) => break,
                Some(Err(msg)) => conn.close_reason = Some(CloseReason::Codec(msg)),
                None => match codec.decode(buf, eof) {
                    Ok(Some(frame)) => self.deliver(conn, Frame::owned(frame)),
                    Ok(None) => break,
                    Err(msg) => conn.close_reason = Some(CloseReason::Codec(msg)),
                },
            }
        }
    }

    /// Lends `buf[span]` to `on_frame`; returns how many bytes
    /// `Frame::into_bytes` took off the front of `buf` meanwhile.
    #[inline]
    fn deliver_lent(&mut self, conn: &mut Conn, buf: &mut BytesMut, span: FrameSpan) -> usize {
        let before = buf.len();
        self.deliver(conn, Frame::lent(buf, span));
        before - buf.len()
    }

    /// One frame to `on_frame`, with its action applied.
    #[inline]
    fn deliver(&mut self, conn: &mut Conn, frame: Frame<'_>) {
        self.frames += 1;
        lend_spare(conn, self.spare, self.now);
        match self.handler.on_frame(conn, frame) {
            Action::Continue => {}
            Action::Close => conn.close(),
            Action::Shutdown => self.shutdown = true,
        }
    }
}

/// Runs a callback; a panic closes the connection instead of the loop.
fn invoke<H>(handler: &H, conn: &mut Conn, f: impl FnOnce(&H, &mut Conn) -> Action) -> Action {
    match catch_unwind(AssertUnwindSafe(|| f(handler, conn))) {
        Ok(action) => action,
        Err(payload) => {
            close_for_panic(conn, payload.as_ref());
            Action::Close
        }
    }
}

/// A callback (or a decoder) panicked on `conn`: drop its output and close
/// only this connection, with the panic message as the reason.
fn close_for_panic(conn: &mut Conn, payload: &(dyn Any + Send)) {
    let msg = panic_message(payload);
    log::error!("netreactor: handler panicked on connection {}: {msg}", conn.id);
    conn.outbound.clear();
    conn.close_reason = Some(CloseReason::HandlerPanic(msg));
}

/// A buffer for an unconsumed tail of `len` bytes: a pooled small one, or
/// (a large partial message) one with room for the next read too.
fn take_tail(pool: &mut Vec<BytesMut>, len: usize, read_size: usize) -> BytesMut {
    if len <= SMALL_TAIL_BYTES {
        pool.pop().unwrap_or_else(|| BytesMut::with_capacity(SMALL_TAIL_BYTES))
    } else {
        BytesMut::with_capacity(len + read_size)
    }
}

/// Keeps a small emptied tail buffer for the next connection that needs one.
fn recycle_tail(pool: &mut Vec<BytesMut>, mut buf: BytesMut) {
    buf.clear();
    if (SMALL_TAIL_BYTES..=2 * SMALL_TAIL_BYTES).contains(&buf.capacity()) && pool.len() < TAIL_POOL_MAX {
        pool.push(buf);
    }
}

/// The earliest of the connection's idle and frame deadlines, and which.
fn idle_deadline(conn: &Conn, cfg: &Config) -> Option<(Instant, TimeoutKind)> {
    let t = conn.timing.as_deref()?;
    let read = cfg
        .read_idle_timeout
        .filter(|_| !conn.read_closed)
        .map(|d| (t.last_read + d, TimeoutKind::ReadIdle));
    let write = cfg
        .write_idle_timeout
        .filter(|_| !conn.outbound.is_empty())
        .map(|d| (t.last_progress + d, TimeoutKind::WriteIdle));
    let frame = cfg
        .frame_timeout
        .zip(t.partial_since)
        .map(|(d, since)| (since + d, TimeoutKind::Frame));
    [read, write, frame].into_iter().flatten().min_by_key(|(at, _)| *at)
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    /// An idle connection costs its slab slot and nothing else: keep it small
    /// (issue 7's budget is 256 bytes of RSS per idle connection).
    #[test]
    fn idle_connection_slot_stays_under_budget() {
        let slot = std::mem::size_of::<(u32, Option<super::Conn>)>();
        assert!(slot <= 232, "a connection's slab slot grew to {slot} bytes");
    }
}
