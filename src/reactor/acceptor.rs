//! The main reactor ("nr-accept"): accepts connections and hands each to a
//! loop, and coordinates shutdown (listeners closed, `on_shutdown`, loops
//! stopped and joined).

use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::balancer::{LoadBalancer, LoopLoads};
use crate::engine::{EngineHandle, EngineShared};
use crate::handler::EventHandler;
use crate::reactor::task::{Inbox, Task};
use crate::sys;
use crate::sys::epoll::{Interest, Poller};
use crate::sys::signal::SignalReader;
use crate::sys::socket::Accepted;

const LISTENER: u64 = 0;
const WAKER: u64 = 1;
const SIGNALS: u64 = 2;

/// Accepts until the queue is empty, passing each connection to `deliver`.
///
/// Out of descriptors (EMFILE/ENFILE), it frees the reserve descriptor,
/// accepts the pending connection and closes it at once, and takes the
/// reserve again: the queue drains, the listener stops being readable, and
/// nothing spins (libuv's trick). The condition is logged once per episode.
pub(crate) fn accept_all(
    listener: BorrowedFd<'_>,
    reserve: &mut Option<OwnedFd>,
    exhausted: &mut bool,
    mut deliver: impl FnMut(OwnedFd, Option<SocketAddr>),
) {
    loop {
        match sys::socket::accept(listener) {
            Ok(Accepted::Conn(fd, peer)) => {
                if *exhausted {
                    log::warn!("netreactor: file descriptors available again; accepting");
                    *exhausted = false;
                }
                deliver(fd, peer);
            }
            Ok(Accepted::WouldBlock) => return,
            Ok(Accepted::Retry) => continue,
            Err(e) if sys::socket::is_fd_exhaustion(&e) => {
                if !*exhausted {
                    log::error!("netreactor: out of file descriptors ({e}); refusing new connections until some close");
                    *exhausted = true;
                }
                if reserve.take().is_none() {
                    return; // no reserve to trade: the next readiness retries
                }
                if let Ok(Accepted::Conn(fd, _)) = sys::socket::accept(listener) {
                    drop(fd);
                }
                *reserve = sys::socket::reserve_fd();
            }
            Err(e) => {
                log::error!("netreactor: accept failed: {e}");
                return;
            }
        }
    }
}

pub(crate) struct Coordinator<H> {
    poller: Poller,
    listener: Option<OwnedFd>,
    signals: Option<SignalReader>,
    inbox: Inbox,
    shared: Arc<EngineShared>,
    balancer: Arc<dyn LoadBalancer>,
    nodelay: bool,
    handler: Arc<H>,
    loop_threads: Vec<JoinHandle<()>>,
    reserve: Option<OwnedFd>,
    exhausted: bool,
}

impl<H: EventHandler> Coordinator<H> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        listener: Option<OwnedFd>,
        signals: Option<SignalReader>,
        inbox: Inbox,
        shared: Arc<EngineShared>,
        balancer: Arc<dyn LoadBalancer>,
        nodelay: bool,
        handler: Arc<H>,
        loop_threads: Vec<JoinHandle<()>>,
    ) -> std::io::Result<Self> {
        let poller = Poller::new(64)?;
        if let Some(l) = &listener {
            poller.add(l.as_fd(), LISTENER, Interest::READ)?;
        }
        if let Some(s) = &signals {
            poller.add(s.as_fd(), SIGNALS, Interest::READ)?;
        }
        shared
            .coordinator
            .with_waker_fd(|fd| poller.add(fd, WAKER, Interest::READ))
            .transpose()?;
        let reserve = listener.as_ref().and_then(|_| sys::socket::reserve_fd());
        Ok(Coordinator {
            poller,
            listener,
            signals,
            inbox,
            shared,
            balancer,
            nodelay,
            handler,
            loop_threads,
            reserve,
            exhausted: false,
        })
    }

    pub(crate) fn run(mut self) {
        let deadline = self.serve();
        // Stop accepting first: close the listener before anything else.
        self.listener = None;
        self.reserve = None;
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
            let n = if self.shared.coordinator.park(&self.inbox) {
                let n = self.poller.wait(None);
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
        }
    }

    fn take_stop(&self) -> Option<Instant> {
        let mut deadline = None;
        while let Some(task) = self.inbox.try_urgent() {
            if let Task::Stop(d) = task {
                deadline = Some(deadline.map_or(d, |e: Instant| e.min(d)));
            }
        }
        deadline
    }

    fn accept(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        let loops = &self.shared.loops;
        let balancer = &self.balancer;
        let nodelay = self.nodelay;
        accept_all(
            listener.as_fd(),
            &mut self.reserve,
            &mut self.exhausted,
            |fd, peer| {
                if nodelay {
                    let _ = sys::socket::set_nodelay(fd.as_fd(), true);
                }
                let i = balancer.pick(peer, LoopLoads::new(loops)) % loops.len();
                loops[i].add_connection();
                if loops[i].mailbox.post(Task::Register(fd, peer)).is_err() {
                    loops[i].remove_connection();
                }
            },
        );
    }
}
