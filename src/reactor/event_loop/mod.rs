//! A sub-reactor ("nr-loop-i"): owns an epoll instance, its connections and
//! their buffers, and drives the handler's callbacks.
//!
//! One iteration: wait for readiness (or tasks, or the next timer), handle the
//! events, run the urgent tasks and a bounded number of normal ones, flush
//! connections that tasks wrote to, then fire due timers.

mod callback;
mod clock;
mod close;
mod datagram;
mod datagram_batch;
mod dial;
mod dispatch;
mod drain;
mod frames;
mod read;
mod relay;
mod slab;
mod tasks;
mod timers;
#[cfg(feature = "tls")]
mod tls;
mod write;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use self::slab::Slab;
use self::timers::TimerKind;
use crate::buffer::outbound::Outbound;
use crate::config::Config;
use crate::handle::{EngineShared, LoopShared};
use crate::id::ConnId;
use crate::mailbox::{Inbox, Mailbox};
use crate::reactor::listener::{ListenSocket, Listener};
use crate::reactor::timer::TimerWheel;
use crate::service::Serve;
use crate::stats::LoopCounters;
use crate::sys::epoll::{Interest, Poller};

const WAKER: u64 = u64::MAX;
/// This loop's own listener `i` (`reuse_port` mode) has token
/// `FIRST_LISTENER - i` (connection tokens never come this high: their low
/// half is a slot number).
const FIRST_LISTENER: u64 = u64::MAX - 1;

pub(crate) struct EventLoop<S: Serve> {
    index: usize,
    handler: Arc<S>,
    poller: Poller,
    inbox: Inbox,
    engine: Arc<EngineShared>,
    /// This loop's own mailbox and counters (also in `engine.loops`), held
    /// directly: the hot path reaches them without indexing.
    mailbox: Arc<Mailbox>,
    counters: Arc<LoopCounters>,
    cfg: Arc<Config>,
    conns: Slab<S::State>,
    /// Shared by every connection: data is read here, and only a partial
    /// message left unconsumed is copied into the connection's own buffer.
    read_buf: BytesMut,
    /// Lent to a connection for the length of a callback, so writes that are
    /// flushed at once never allocate per connection.
    spare_out: Outbound,
    /// Emptied small tail buffers, so partial messages do not allocate.
    tail_pool: Vec<BytesMut>,
    listeners: Vec<Listener>,
    flush_queue: Vec<ConnId>,
    timers: TimerWheel<TimerKind>,
    fired: Vec<TimerKind>,
    /// The time of this iteration, read when first needed.
    clock: clock::Clock,
    /// A stop began: no new connections, every connection is closing.
    stopping: bool,
    /// The stop's deadline for flushing (`None`: none).
    stop_deadline: Option<Instant>,
    /// When this loop began to drain (`None`: it has not).
    drain_began: Option<Instant>,
    /// An oversize datagram was logged (once per loop).
    warned_truncation: bool,
    /// The UDP batch path's buffers (only on a loop with a UDP socket).
    udp: Option<Box<datagram_batch::UdpBatch>>,
    /// A big inbound buffer was freed since the loop last went idle: give
    /// free memory back to the system before the next wait.
    trim_owed: bool,
    /// Set by `sync`: the connection it synced may have timers to arm.
    arm_after_sync: bool,
}

impl<S: Serve> EventLoop<S> {
    pub(crate) fn new(
        index: usize,
        handler: Arc<S>,
        inbox: Inbox,
        engine: Arc<EngineShared>,
        cfg: Arc<Config>,
        listeners: Vec<ListenSocket>,
    ) -> std::io::Result<Self> {
        let poller = Poller::new(cfg.events_per_wait)?;
        engine.loops[index]
            .mailbox
            .with_waker_fd(|fd| poller.add(fd, WAKER, Interest::READ))
            .transpose()?;
        let (datagram_sockets, listeners): (Vec<_>, Vec<_>) = listeners.into_iter().partition(|l| l.udp);
        let listeners = listeners
            .into_iter()
            .enumerate()
            .map(|(i, l)| Listener::register(l, FIRST_LISTENER - i as u64, &poller))
            .collect::<std::io::Result<Vec<_>>>()?;
        let now = Instant::now();
        let mut lp = EventLoop {
            index,
            handler,
            poller,
            inbox,
            read_buf: BytesMut::with_capacity(cfg.read_buffer_bytes),
            mailbox: Arc::clone(&engine.loops[index].mailbox),
            counters: Arc::clone(&engine.loops[index].counters),
            engine,
            cfg,
            conns: Slab::new(index),
            spare_out: Outbound::default(),
            tail_pool: Vec::new(),
            listeners,
            flush_queue: Vec::new(),
            timers: TimerWheel::new(now),
            fired: Vec::new(),
            clock: clock::Clock::default(),
            stopping: false,
            warned_truncation: false,
            udp: None,
            trim_owed: false,
            arm_after_sync: false,
            stop_deadline: None,
            drain_began: None,
        };
        for socket in datagram_sockets {
            lp.add_datagram_socket(socket)?;
        }
        Ok(lp)
    }

    fn shared(&self) -> &LoopShared {
        &self.engine.loops[self.index]
    }

    #[inline]
    fn mailbox(&self) -> &Mailbox {
        &self.mailbox
    }

    pub(crate) fn run(mut self) {
        if self.index == 0 && self.cfg.ticker {
            self.timers.insert(self.clock.now(), TimerKind::Tick);
        }
        loop {
            let timeout = self.next_timeout();
            let n = if timeout == Some(Duration::ZERO) || !self.mailbox().park() {
                self.poller.wait(Some(Duration::ZERO))
            } else {
                if self.trim_owed {
                    // Idle after a burst of huge messages: hand their memory back.
                    self.trim_owed = false;
                    crate::sys::memory::release_free_memory();
                }
                let n = self.poller.wait(timeout);
                self.mailbox().unpark();
                n
            };
            self.clock.tick();
            match n {
                Ok(n) => {
                    for i in 0..n {
                        if i + 1 < n {
                            self.conns.prefetch(self.conns.id_of(self.poller.event(i + 1).token));
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
                    self.begin_stop(Some(self.clock.now()));
                }
            }
            self.run_tasks();
            self.flush_queued();
            self.expire_timers();
            for l in self.listeners.iter_mut().filter(|l| l.is_paused()) {
                l.resume_if_due(&self.poller, self.clock.now());
            }
            if self.stopping && self.conns.len() == 0 {
                break;
            }
        }
        // Refuse dials from now on, and answer those already queued (each
        // ends in on_close: the loop is stopping); other tasks find their
        // connections gone.
        self.mailbox().close_dials();
        while let Some(task) = self.inbox.try_urgent().or_else(|| self.inbox.try_normal()) {
            self.run_task(task);
        }
        self.mailbox().close_waker();
    }

    fn next_timeout(&self) -> Option<Duration> {
        if self.mailbox().is_pending() || !self.flush_queue.is_empty() {
            return Some(Duration::ZERO);
        }
        if self.timers.len() == 0 && !self.listeners.iter().any(Listener::is_paused) {
            return None; // no deadline: no clock read either
        }
        let now = Instant::now();
        let listeners = self.listeners.iter().filter_map(|l| l.timeout(now));
        self.timers.next_timeout(now).into_iter().chain(listeners).min()
    }
}

#[cfg(test)]
mod tests {
    /// An idle connection costs its slab slot and nothing else: keep it small
    /// (issue 7's budget is 256 bytes of RSS per idle connection).
    #[test]
    fn idle_connection_slot_stays_under_budget() {
        let slot = std::mem::size_of::<(u32, Option<crate::conn::Conn>)>();
        assert!(slot <= 232, "a connection's slab slot grew to {slot} bytes");
    }
}
