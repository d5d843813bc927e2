//! The main reactor ("nr-accept"): accepts connections and hands each to a
//! loop, and coordinates shutdown (listeners closed, `on_shutdown`, loops
//! stopped and joined).

use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::balancer::{LoadBalancer, LoopLoads};
use crate::engine::{Config, EngineHandle, EngineShared, MaxConnectionsPolicy};
use crate::handler::EventHandler;
use crate::options::{ACCEPT_BACKOFF_MAX, ACCEPT_BACKOFF_START, MAX_CONNECTIONS_RECHECK};
use crate::reactor::task::{Inbox, Task};
use crate::sys;
use crate::sys::epoll::{Interest, Poller};
use crate::sys::signal::SignalReader;
use crate::sys::socket::Accepted;

const LISTENER: u64 = 0;
const WAKER: u64 = 1;
const SIGNALS: u64 = 2;

/// Whether the next connection may come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    Accept,
    /// Accept and close at once (`max_connections` with `Reject`).
    Reject,
    /// Leave it in the backlog; try again shortly.
    Pause,
}

/// The admission rule of `max_connections` over the engine's total.
pub(crate) fn admission(cfg: &Config, shared: &EngineShared) -> Admission {
    match cfg.max_connections {
        Some((max, policy)) if shared.connection_count() >= max => match policy {
            MaxConnectionsPolicy::Reject => Admission::Reject,
            MaxConnectionsPolicy::Pause => Admission::Pause,
        },
        _ => Admission::Accept,
    }
}

/// A listening socket with its pause state and reserve descriptor.
#[derive(Debug)]
pub(crate) struct Listener {
    fd: OwnedFd,
    token: u64,
    reserve: Option<OwnedFd>,
    paused_until: Option<Instant>,
    backoff: Duration,
    exhausted: bool,
}

impl Listener {
    pub(crate) fn register(fd: OwnedFd, token: u64, poller: &Poller) -> std::io::Result<Self> {
        poller.add(fd.as_fd(), token, Interest::READ)?;
        Ok(Listener {
            fd,
            token,
            reserve: sys::socket::reserve_fd(),
            paused_until: None,
            backoff: ACCEPT_BACKOFF_START,
            exhausted: false,
        })
    }

    /// Accepts until the queue is empty or admission says pause.
    ///
    /// Out of descriptors (EMFILE/ENFILE), it frees the reserve descriptor,
    /// accepts one pending connection and closes it (that client learns at
    /// once instead of hanging), takes the reserve again, and pauses the
    /// listener with exponential backoff: nothing spins and the engine keeps
    /// serving (libuv's trick; gnet stops the engine instead, #367). The
    /// condition is logged once per episode.
    pub(crate) fn accept_ready(
        &mut self,
        poller: &Poller,
        mut admit: impl FnMut() -> Admission,
        mut deliver: impl FnMut(OwnedFd, Option<SocketAddr>),
        mut rejected: impl FnMut(),
    ) {
        loop {
            let admission = admit();
            if admission == Admission::Pause {
                return self.pause(poller, MAX_CONNECTIONS_RECHECK);
            }
            match sys::socket::accept(self.fd.as_fd()) {
                Ok(Accepted::Conn(fd, peer)) => {
                    if self.exhausted {
                        log::warn!("netreactor: file descriptors available again; accepting");
                        self.exhausted = false;
                        self.backoff = ACCEPT_BACKOFF_START;
                    }
                    if admission == Admission::Reject {
                        rejected();
                    } else {
                        deliver(fd, peer);
                    }
                }
                Ok(Accepted::WouldBlock) => return,
                Ok(Accepted::Retry) => continue,
                Err(e) => {
                    if sys::socket::is_fd_exhaustion(&e) {
                        if !self.exhausted {
                            log::error!(
                                "netreactor: out of file descriptors ({e}); pausing accept until connections close"
                            );
                            self.exhausted = true;
                        }
                        if self.reserve.take().is_some() {
                            if let Ok(Accepted::Conn(fd, _)) = sys::socket::accept(self.fd.as_fd()) {
                                drop(fd);
                            }
                            self.reserve = sys::socket::reserve_fd();
                        }
                    } else {
                        log::error!("netreactor: accept failed: {e}; pausing accept");
                    }
                    let backoff = self.backoff;
                    self.backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    return self.pause(poller, backoff);
                }
            }
        }
    }

    fn pause(&mut self, poller: &Poller, d: Duration) {
        if self.paused_until.is_none() {
            if let Err(e) = poller.modify(self.fd.as_fd(), self.token, Interest::NONE) {
                log::error!("netreactor: cannot pause the listener: {e}");
            }
        }
        self.paused_until = Some(Instant::now() + d);
    }

    /// How long until a paused listener should be re-armed.
    pub(crate) fn is_paused(&self) -> bool {
        self.paused_until.is_some()
    }

    pub(crate) fn timeout(&self, now: Instant) -> Option<Duration> {
        self.paused_until.map(|t| t.saturating_duration_since(now))
    }

    /// Re-arms a paused listener whose pause is over.
    pub(crate) fn resume_if_due(&mut self, poller: &Poller, now: Instant) {
        if self.paused_until.is_some_and(|t| t <= now) {
            self.paused_until = None;
            if let Err(e) = poller.modify(self.fd.as_fd(), self.token, Interest::READ) {
                log::error!("netreactor: cannot resume the listener: {e}");
            }
        }
    }
}

pub(crate) struct Coordinator<H> {
    poller: Poller,
    listener: Option<Listener>,
    signals: Option<SignalReader>,
    inbox: Inbox,
    shared: Arc<EngineShared>,
    balancer: Arc<dyn LoadBalancer>,
    cfg: Arc<Config>,
    handler: Arc<H>,
    loop_threads: Vec<JoinHandle<()>>,
}

impl<H: EventHandler> Coordinator<H> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        listener: Option<OwnedFd>,
        signals: Option<SignalReader>,
        inbox: Inbox,
        shared: Arc<EngineShared>,
        balancer: Arc<dyn LoadBalancer>,
        cfg: Arc<Config>,
        handler: Arc<H>,
        loop_threads: Vec<JoinHandle<()>>,
    ) -> std::io::Result<Self> {
        let poller = Poller::new(64)?;
        let listener = listener.map(|l| Listener::register(l, LISTENER, &poller)).transpose()?;
        if let Some(s) = &signals {
            poller.add(s.as_fd(), SIGNALS, Interest::READ)?;
        }
        shared
            .coordinator
            .with_waker_fd(|fd| poller.add(fd, WAKER, Interest::READ))
            .transpose()?;
        Ok(Coordinator {
            poller,
            listener,
            signals,
            inbox,
            shared,
            balancer,
            cfg,
            handler,
            loop_threads,
        })
    }

    pub(crate) fn run(mut self) {
        let deadline = self.serve();
        // Stop accepting first: close the listener before anything else.
        self.listener = None;
        let handle = EngineHandle::from_shared(self.shared.clone());
        if catch_unwind(AssertUnwindSafe(|| self.handler.on_shutdown(&handle))).is_err() {
            log::error!("netreactor: on_shutdown panicked");
        }
        for l in &self.shared.loops {
            let _ = l.mailbox.post(Task::Stop(deadline));
        }
        for t in self.loop_threads.drain(..) {
            if t.join().is_err() {
                log::error!("netreactor: an event loop thread panicked");
            }
        }
        self.shared.coordinator.close_waker();
        let shared = self.shared.clone();
        drop(self);
        shared.mark_done();
    }

    /// Accepts until a stop is requested; returns the shutdown deadline.
    fn serve(&mut self) -> Instant {
        loop {
            if let Some(deadline) = self.take_stop() {
                return deadline;
            }
            let timeout = self.listener.as_ref().and_then(|l| l.timeout(Instant::now()));
            let n = if self.shared.coordinator.park() {
                let n = self.poller.wait(timeout);
                self.shared.coordinator.unpark();
                n
            } else {
                Ok(0)
            };
            let n = match n {
                Ok(n) => n,
                Err(e) => {
                    log::error!("netreactor: acceptor poll failed: {e}; stopping");
                    return Instant::now();
                }
            };
            for i in 0..n {
                match self.poller.event(i).token {
                    LISTENER => self.accept(),
                    WAKER => self.shared.coordinator.woken(),
                    SIGNALS => {
                        if let Some(sig) = self.signals.as_ref().and_then(SignalReader::read) {
                            log::info!("netreactor: signal {sig} received; shutting down");
                            return Instant::now() + self.shared.shutdown_deadline();
                        }
                    }
                    _ => {}
                }
            }
            if let Some(l) = &mut self.listener {
                l.resume_if_due(&self.poller, Instant::now());
            }
        }
    }

    fn take_stop(&self) -> Option<Instant> {
        let mut deadline = None;
        if !self.shared.coordinator.take_pending() {
            return None;
        }
        while let Some(task) = self.inbox.try_normal() {
            if let Task::Stop(d) = task {
                deadline = Some(deadline.map_or(d, |e: Instant| e.min(d)));
            }
        }
        deadline
    }

    fn accept(&mut self) {
        let Some(listener) = &mut self.listener else { return };
        let shared = &*self.shared;
        let (balancer, cfg) = (&self.balancer, &*self.cfg);
        let loops = &shared.loops;
        listener.accept_ready(
            &self.poller,
            || admission(cfg, shared),
            |fd, peer| {
                if cfg.tcp_nodelay {
                    let _ = sys::socket::set_nodelay(fd.as_fd(), true);
                }
                let i = balancer.pick(peer, LoopLoads::new(loops)) % loops.len();
                loops[i].add_connection();
                if loops[i].mailbox.post(Task::Register(fd, peer)).is_err() {
                    loops[i].remove_connection();
                }
            },
            || {
                shared.rejected.fetch_add(1, Ordering::Relaxed);
            },
        );
    }
}
