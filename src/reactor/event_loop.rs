//! A sub-reactor ("nr-loop-i"): owns an epoll instance, its connections and
//! their buffers, and drives the handler's callbacks.
//!
//! One iteration: wait for readiness (or tasks, or a deadline), handle the
//! events, run the urgent tasks and a bounded number of normal ones, flush
//! connections that tasks wrote to, expire lingering closes.

use std::any::Any;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::buffer::outbound::{Flushed, Outbound};
use crate::conn::{Conn, ConnId};
use crate::engine::{Config, EngineShared, LoopShared};
use crate::error::CloseReason;
use crate::handler::{Action, EventHandler};
use crate::reactor::acceptor::accept_all;
use crate::reactor::task::{Inbox, Mailbox, Task};
use crate::sys;
use crate::sys::epoll::{Event, Interest, Poller};
use crate::sys::io::ReadOutcome;

const WAKER: u64 = u64::MAX;
const LISTENER: u64 = u64::MAX - 1;

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

    fn insert(&mut self, conn: Conn) {
        let slot = conn.id.slot();
        if self.free.last() == Some(&(slot as u32)) {
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

    fn ids(&self) -> Vec<ConnId> {
        self.entries
            .iter()
            .filter_map(|(_, c)| c.as_ref().map(|c| c.id))
            .collect()
    }
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
    listener: Option<OwnedFd>,
    reserve: Option<OwnedFd>,
    exhausted: bool,
    flush_queue: Vec<ConnId>,
    lingering: Vec<ConnId>,
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
        if let Some(l) = &listener {
            poller.add(l.as_fd(), LISTENER, Interest::READ)?;
        }
        let reserve = listener.as_ref().and_then(|_| sys::socket::reserve_fd());
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
            listener,
            reserve,
            exhausted: false,
            flush_queue: Vec::new(),
            lingering: Vec::new(),
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
        loop {
            let timeout = self.next_timeout();
            let n = if timeout == Some(Duration::ZERO) || !self.mailbox().park(&self.inbox) {
                self.poller.wait(Some(Duration::ZERO))
            } else {
                let n = self.poller.wait(timeout);
                self.mailbox().unpark();
                n
            };
            match n {
                Ok(n) => {
                    for i in 0..n {
                        let ev = self.poller.event(i);
                        self.dispatch(ev);
                    }
                }
                Err(e) => {
                    log::error!(
                        "netreactor: loop {} poll failed: {e}; closing its connections",
                        self.index
                    );
                    self.begin_stop(Instant::now());
                }
            }
            self.run_tasks();
            self.flush_queued();
            self.expire_lingering();
            if self.stop_deadline.is_some() && self.conns.len == 0 {
                break;
            }
        }
        self.mailbox().close_waker();
    }

    fn next_timeout(&self) -> Option<Duration> {
        if self.inbox.has_normal() || !self.flush_queue.is_empty() {
            return Some(Duration::ZERO);
        }
        let soonest = self
            .lingering
            .iter()
            .filter_map(|&id| self.linger_deadline(id))
            .min()?;
        Some(soonest.saturating_duration_since(Instant::now()))
    }

    fn linger_deadline(&self, id: ConnId) -> Option<Instant> {
        let (generation, conn) = self.conns.entries.get(id.slot())?;
        conn.as_ref()
            .filter(|_| *generation == id.generation())?
            .linger_deadline
    }

    fn dispatch(&mut self, ev: Event) {
        match ev.token {
            WAKER => self.mailbox().woken(),
            LISTENER => self.accept(),
            token => {
                let id = ConnId::from_token(token);
                let Some(conn) = self.conns.get_mut(id) else {
                    return;
                };
                let interest = conn.interest;
                if ev.writable || (ev.hangup && !interest.read) {
                    self.on_write_ready(id, ev.hangup);
                }
                if (ev.readable || ev.hangup) && interest.read {
                    self.on_read_ready(id);
                }
            }
        }
    }

    fn accept(&mut self) {
        let Some(listener) = self.listener.take() else {
            return;
        };
        let mut accepted = Vec::new();
        accept_all(
            listener.as_fd(),
            &mut self.reserve,
            &mut self.exhausted,
            |fd, peer| accepted.push((fd, peer)),
        );
        self.listener = Some(listener);
        for (fd, peer) in accepted {
            self.shared().add_connection();
            self.register(fd, peer);
        }
    }

    fn register(&mut self, fd: OwnedFd, peer: Option<SocketAddr>) {
        if self.stop_deadline.is_some() {
            self.shared().remove_connection();
            return;
        }
        if self.cfg.tcp_nodelay && self.listener.is_some() {
            let _ = sys::socket::set_nodelay(fd.as_fd(), true);
        }
        let id = self.conns.next_id();
        if let Err(e) = self.poller.add(fd.as_fd(), id.token(), Interest::READ) {
            log::error!("netreactor: registering a connection failed: {e}");
            self.shared().remove_connection();
            return;
        }
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
        if conn.outbound.is_empty() && !conn.outbound.has_capacity() {
            mem::swap(&mut conn.outbound, &mut self.spare_out);
        }
        let handler = &*self.handler;
        match catch_unwind(AssertUnwindSafe(|| f(handler, conn))) {
            Ok(action) => action,
            Err(payload) => {
                let msg = panic_message(payload.as_ref());
                log::error!("netreactor: handler panicked on connection {id}: {msg}");
                conn.outbound.clear();
                conn.close_reason = Some(CloseReason::HandlerPanic(msg));
                Action::Close
            }
        }
    }

    fn on_read_ready(&mut self, id: ConnId) {
        let max_inbound = self.cfg.max_inbound_bytes;
        let read_size = self.cfg.read_buffer_bytes;
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if conn.inbound.len() >= max_inbound {
            conn.close_reason
                .get_or_insert(CloseReason::InboundOverflow { limit: max_inbound });
            return self.after_callback(id, Action::Continue);
        }
        let borrowed = conn.inbound.is_empty();
        if borrowed {
            mem::swap(&mut conn.inbound, &mut self.read_buf);
        }
        let action = match sys::io::read_into(conn.fd.as_fd(), &mut conn.inbound, read_size) {
            Ok(ReadOutcome::Data(_)) => self.call(id, |h, c| h.on_traffic(c)),
            Ok(ReadOutcome::WouldBlock) => Action::Continue,
            Ok(ReadOutcome::Eof) => {
                conn.read_closed = true;
                conn.close_reason.get_or_insert(CloseReason::PeerEof);
                Action::Continue
            }
            Err(e) => {
                conn.outbound.clear();
                conn.close_reason.get_or_insert(CloseReason::from_io(e));
                Action::Continue
            }
        };
        if let Some(conn) = self.conns.get_mut(id) {
            if borrowed {
                // Hand the loop's buffer back; keep only an unconsumed tail.
                let tail = if conn.inbound.is_empty() {
                    BytesMut::new()
                } else {
                    BytesMut::from(&conn.inbound[..])
                };
                conn.inbound.clear();
                mem::swap(&mut conn.inbound, &mut self.read_buf);
                conn.inbound = tail;
            } else if conn.inbound.is_empty() {
                conn.inbound = BytesMut::new(); // release what a partial message grew
            }
        }
        self.after_callback(id, action);
    }

    fn on_write_ready(&mut self, id: ConnId, hangup: bool) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let before = conn.outbound.len();
        self.flush_conn(id);
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if hangup && conn.outbound.len() == before && before > 0 {
            // The peer is gone and the socket takes nothing: give up now.
            conn.outbound.clear();
            conn.close_reason = Some(CloseReason::PeerReset);
            return self.flush_conn(id);
        }
        if conn.write_blocked && conn.outbound.is_empty() && conn.close_reason.is_none() {
            conn.write_blocked = false;
            let action = self.call(id, |h, c| h.on_writable(c));
            self.after_callback(id, action);
        }
    }

    fn after_callback(&mut self, id: ConnId, action: Action) {
        match action {
            Action::Continue => {}
            Action::Close => {
                if let Some(c) = self.conns.get_mut(id) {
                    c.close();
                }
            }
            Action::Shutdown => self.engine.request_stop(self.engine.shutdown_deadline()),
        }
        self.flush_conn(id);
    }

    /// Sends what is queued, then brings the epoll registration in line
    /// with the connection's state, closing it when it is done.
    fn flush_conn(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if !conn.outbound.is_empty() {
            match conn.outbound.flush(conn.fd.as_fd()) {
                Ok(Flushed::All) => {}
                Ok(Flushed::Partial) => conn.write_blocked = true,
                Err(e) => {
                    conn.outbound.clear();
                    if !matches!(conn.close_reason, Some(CloseReason::HandlerPanic(_))) {
                        conn.close_reason = Some(CloseReason::from_io(e));
                    }
                }
            }
        }
        if conn.outbound.is_empty() {
            // Give the lent buffer back, or keep this one as the spare.
            if !self.spare_out.has_capacity() {
                mem::swap(&mut conn.outbound, &mut self.spare_out);
            } else if conn.outbound.has_capacity() {
                conn.outbound = Outbound::default();
            }
        }
        let want = if conn.close_reason.is_some() {
            if conn.outbound.is_empty() {
                return self.close_now(id);
            }
            if conn.linger_deadline.is_none() {
                let linger = Instant::now() + self.cfg.close_linger;
                conn.linger_deadline = Some(self.stop_deadline.map_or(linger, |d| d.min(linger)));
                self.lingering.push(id);
            }
            Interest::WRITE
        } else {
            Interest {
                read: !conn.read_closed,
                write: !conn.outbound.is_empty(),
            }
        };
        if want != conn.interest {
            match self.poller.modify(conn.fd.as_fd(), id.token(), want) {
                Ok(()) => conn.interest = want,
                Err(e) => {
                    log::error!("netreactor: epoll_ctl failed on connection {id}: {e}");
                    conn.outbound.clear();
                    conn.close_reason = Some(CloseReason::Io(e));
                    self.close_now(id);
                }
            }
        }
    }

    /// The one place a connection ends: `on_close` exactly once, then the
    /// descriptor closes (which also removes it from epoll: it is never duplicated).
    fn close_now(&mut self, id: ConnId) {
        let Some(mut conn) = self.conns.remove(id) else {
            return;
        };
        conn.closed = true;
        if let Some(alive) = &conn.alive {
            alive.store(false, Ordering::Release);
        }
        let reason = conn.close_reason.take().unwrap_or(CloseReason::Local);
        conn.outbound.clear();
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
        while let Some(task) = self.inbox.try_urgent() {
            self.run_task(task);
        }
        for _ in 0..self.cfg.tasks_per_iteration {
            match self.inbox.try_normal() {
                Some(task) => self.run_task(task),
                None => break,
            }
        }
    }

    fn run_task(&mut self, task: Task) {
        match task {
            Task::Register(fd, peer) => self.register(fd, peer),
            Task::Write(id, data) => {
                if let Some(c) = self.conns.get_mut(id) {
                    c.write_bytes(data);
                    self.queue_flush(id);
                }
            }
            Task::WriteVectored(id, data) => {
                if let Some(c) = self.conns.get_mut(id) {
                    for d in data {
                        c.write_bytes(d);
                    }
                    self.queue_flush(id);
                }
            }
            Task::Wake(id) => {
                if self
                    .conns
                    .get_mut(id)
                    .is_some_and(|c| c.close_reason.is_none())
                {
                    let action = self.call(id, |h, c| h.on_traffic(c));
                    self.after_callback(id, action);
                }
            }
            Task::Close(id) => {
                if let Some(c) = self.conns.get_mut(id) {
                    c.close();
                    self.queue_flush(id);
                }
            }
            Task::Stop(deadline) => self.begin_stop(deadline),
        }
    }

    /// Writes from tasks are flushed once per connection per iteration.
    fn queue_flush(&mut self, id: ConnId) {
        if let Some(c) = self.conns.get_mut(id) {
            if !c.queued_for_flush {
                c.queued_for_flush = true;
                self.flush_queue.push(id);
            }
        }
    }

    fn flush_queued(&mut self) {
        let mut queue = mem::take(&mut self.flush_queue);
        for id in queue.drain(..) {
            if let Some(c) = self.conns.get_mut(id) {
                c.queued_for_flush = false;
                self.flush_conn(id);
            }
        }
        self.flush_queue = queue;
    }

    fn expire_lingering(&mut self) {
        if self.lingering.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut lingering = mem::take(&mut self.lingering);
        lingering.retain(|&id| match self.conns.get_mut(id) {
            Some(c) if c.linger_deadline.is_some_and(|d| d <= now) => {
                c.outbound.clear();
                c.close_reason = Some(CloseReason::LingerTimeout);
                self.close_now(id);
                false
            }
            Some(_) => true,
            None => false,
        });
        lingering.append(&mut self.lingering);
        self.lingering = lingering;
    }

    /// Stop: no new connections; every connection flushes what it has
    /// (until `deadline`) and closes with `CloseReason::Shutdown`.
    fn begin_stop(&mut self, deadline: Instant) {
        if self.stop_deadline.is_some() {
            return;
        }
        self.stop_deadline = Some(deadline);
        self.listener = None;
        self.reserve = None;
        for id in self.conns.ids() {
            if let Some(c) = self.conns.get_mut(id) {
                c.close_reason.get_or_insert(CloseReason::Shutdown);
                if let Some(d) = &mut c.linger_deadline {
                    *d = (*d).min(deadline);
                }
            }
            self.flush_conn(id);
        }
    }
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
