//! The main reactor ("nr-accept"): accepts connections and hands each to a
//! loop, and coordinates shutdown (listeners closed, `on_shutdown`, loops
//! stopped and joined).

use std::mem;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::balancer::{LoadBalancer, LoopLoads};
use crate::config::Config;
use crate::deadline;
use crate::error::panic_message;
use crate::handle::{EngineHandle, EngineShared, LoopShared};
use crate::mailbox::{DialRequest, Inbox, Incoming, Task};
use crate::options::DRAIN_POLL_INTERVAL;
use crate::reactor::listener::{admission, ListenSocket, Listener};
use crate::service::Serve;
use crate::sys;
use crate::sys::epoll::{Interest, Poller};
use crate::sys::signal::SignalReader;

const WAKER: u64 = 1;
const SIGNALS: u64 = 2;
/// Listener `i` has token `FIRST_LISTENER + i`.
const FIRST_LISTENER: u64 = 16;

pub(crate) struct Coordinator<S: Serve> {
    poller: Poller,
    listeners: Vec<Listener>,
    signals: Option<SignalReader>,
    inbox: Inbox,
    shared: Arc<EngineShared>,
    cfg: Arc<Config>,
    handler: Arc<S>,
    loop_threads: Vec<JoinHandle<()>>,
    handout: Handout,
    /// The drain's hard deadline, once one began.
    draining: Option<Instant>,
    /// `on_shutdown` has run (at the start of a drain, or of the stop).
    shutdown_told: bool,
}

impl<S: Serve> Coordinator<S> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        listeners: Vec<ListenSocket>,
        signals: Option<SignalReader>,
        inbox: Inbox,
        shared: Arc<EngineShared>,
        balancer: Arc<dyn LoadBalancer>,
        cfg: Arc<Config>,
        handler: Arc<S>,
        loop_threads: Vec<JoinHandle<()>>,
    ) -> std::io::Result<Self> {
        let poller = Poller::new(64)?;
        let listeners = listeners
            .into_iter()
            .enumerate()
            .map(|(i, l)| Listener::register(l, FIRST_LISTENER + i as u64, &poller))
            .collect::<std::io::Result<Vec<_>>>()?;
        if let Some(s) = &signals {
            poller.add(s.as_fd(), SIGNALS, Interest::READ)?;
        }
        shared
            .coordinator
            .with_waker_fd(|fd| poller.add(fd, WAKER, Interest::READ))
            .transpose()?;
        Ok(Coordinator {
            poller,
            listeners,
            signals,
            inbox,
            shared,
            cfg,
            handler,
            loop_threads,
            handout: Handout {
                balancer,
                fallback: 0,
                pick_panics: 0,
            },
            draining: None,
            shutdown_told: false,
        })
    }

    pub(crate) fn run(mut self) {
        let deadline = match catch_unwind(AssertUnwindSafe(|| self.serve())) {
            Ok(deadline) => deadline,
            Err(p) => {
                self.shared.fail(format!(
                    "the acceptor (thread nr-accept) panicked: {}",
                    panic_message(p.as_ref())
                ));
                deadline::after(Instant::now(), self.shared.shutdown_deadline())
            }
        };
        // Stop accepting first: close the listener before anything else.
        self.stop_accepting();
        if let Some(deadline) = deadline {
            self.shared.drain.begin(deadline); // for on_shutdown to read
        }
        self.tell_shutdown();
        // Dials from now on are refused; those queued (from on_shutdown,
        // say) go to loops that have not stopped yet, so each ends in a
        // callback.
        self.shared.coordinator.close_dials();
        while let Some(task) = self.inbox.try_normal() {
            self.take_task(task);
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

    /// `on_shutdown`, once.
    fn tell_shutdown(&mut self) {
        if mem::replace(&mut self.shutdown_told, true) {
            return;
        }
        let handle = EngineHandle::from_shared(self.shared.clone());
        if catch_unwind(AssertUnwindSafe(|| self.handler.on_shutdown(&handle))).is_err() {
            log::error!("netreactor: on_shutdown panicked");
        }
    }

    /// Stops accepting, tells the handler and the loops: they serve on and
    /// close connections as they become idle.
    fn begin_drain(&mut self, deadline: Instant) {
        self.shared.drain.begin(deadline);
        if self.draining.is_some() {
            return;
        }
        self.draining = Some(deadline);
        // The connections already waiting in the queues are clients too:
        // closing the listeners would reset them. (After a hand-off the
        // new process takes them.)
        if !self.shared.listeners.is_handed_off() {
            for i in 0..self.listeners.len() {
                self.accept(i);
            }
        }
        self.stop_accepting();
        self.tell_shutdown();
        for l in &self.shared.loops {
            let _ = l.mailbox.post(Task::Drain(deadline));
        }
    }

    /// Draining and done: every connection has gone (once nobody accepts
    /// any more, all are counted), or the hard deadline came.
    fn drained(&self, now: Instant) -> Option<Instant> {
        let deadline = self.draining?;
        let empty = self.shared.listeners.all_stopped_accepting() && self.shared.connection_count() == 0;
        (empty || now >= deadline).then_some(deadline)
    }

    /// Accepts until a stop is requested; returns the shutdown deadline
    /// (`None`: none).
    fn serve(&mut self) -> Option<Instant> {
        loop {
            if let Some(deadline) = self.take_stop() {
                return deadline;
            }
            let now = Instant::now();
            if let Some(deadline) = self.drained(now) {
                return Some(deadline);
            }
            let drain_poll = self.draining.map(|_| DRAIN_POLL_INTERVAL);
            let timeout = self
                .listeners
                .iter()
                .filter_map(|l| l.timeout(now))
                .chain(drain_poll)
                .min();
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
                    return Some(Instant::now());
                }
            };
            for i in 0..n {
                match self.poller.event(i).token {
                    WAKER => self.shared.coordinator.woken(),
                    SIGNALS => {
                        if let Some(sig) = self.signals.as_ref().and_then(SignalReader::read) {
                            if self.draining.is_some() {
                                log::info!("netreactor: signal {sig} received while draining; stopping now");
                                return Some(Instant::now());
                            }
                            log::info!("netreactor: signal {sig} received; draining");
                            let grace = self.shared.shutdown_deadline();
                            self.begin_drain(crate::drain::deadline_after(grace));
                        }
                    }
                    token => {
                        if let Some(l) = token.checked_sub(FIRST_LISTENER) {
                            self.accept(l as usize);
                        }
                    }
                }
            }
            let now = Instant::now();
            for l in &mut self.listeners {
                l.resume_if_due(&self.poller, now);
            }
        }
    }

    /// Closes the listeners (told to `EngineShared::listeners` first, so no
    /// hand-off sends a number being closed).
    fn stop_accepting(&mut self) {
        self.shared.listeners.close();
        for l in self.listeners.drain(..) {
            l.deregister(&self.poller);
        }
        self.shared.listeners.stopped_accepting(0);
    }

    /// Hands over enrolled sockets; `Some(deadline)` once a stop was asked
    /// for (the earliest deadline when several were).
    fn take_stop(&mut self) -> Option<Option<Instant>> {
        let mut stop = None;
        if !self.shared.coordinator.take_pending() {
            return None;
        }
        while let Some(task) = self.inbox.try_normal() {
            if let Some(d) = self.take_task(task) {
                stop = Some(stop.map_or(d, |earlier| deadline::earliest(earlier, d)));
            }
        }
        stop
    }

    /// Hands a dial or an enrolled socket to a loop; returns a stop's deadline.
    fn take_task(&mut self, task: Task) -> Option<Option<Instant>> {
        match task {
            Task::Stop(d) => return Some(d),
            Task::Drain(deadline) => self.begin_drain(deadline),
            Task::Dial(req) => self.handout.dial(&self.shared.loops, req),
            Task::Enroll(incoming, tcp) => {
                sys::socket::apply_conn_options(incoming.fd.as_fd(), tcp, &self.cfg.conn_options);
                self.handout.hand_over(&self.shared.loops, incoming);
            }
            #[cfg(test)]
            Task::Crash => panic!("injected crash on the acceptor"),
            _ => {}
        }
        None
    }

    fn accept(&mut self, listener: usize) {
        let Some(l) = self.listeners.get_mut(listener) else {
            return;
        };
        let (shared, cfg, handout) = (&*self.shared, &*self.cfg, &mut self.handout);
        l.accept_ready(
            &self.poller,
            cfg,
            || admission(cfg, shared),
            |incoming| handout.hand_over(&shared.loops, incoming),
            || {
                shared.rejected.fetch_add(1, Ordering::Relaxed);
            },
        );
    }
}

/// Hands connections to the loops the balancer picks.
struct Handout {
    balancer: Arc<dyn LoadBalancer>,
    /// Round robin for connections whose balancer call panicked.
    fallback: usize,
    pick_panics: u64,
}

impl Handout {
    /// The loop for a connection to or from `peer` (a balancer panic falls
    /// back to each loop in turn).
    fn pick(&mut self, loops: &[LoopShared], peer: Option<SocketAddr>) -> usize {
        let balancer = &self.balancer;
        match catch_unwind(AssertUnwindSafe(|| balancer.pick(peer, LoopLoads::new(loops)))) {
            Ok(i) => i % loops.len(),
            Err(payload) => {
                self.pick_panics += 1;
                if self.pick_panics == 1 || self.pick_panics.is_power_of_two() {
                    log::error!(
                        "netreactor: LoadBalancer::pick panicked ({} times so far): {}; using the next loop in turn",
                        self.pick_panics,
                        panic_message(payload.as_ref())
                    );
                }
                self.fallback = self.fallback.wrapping_add(1);
                self.fallback % loops.len()
            }
        }
    }

    fn dial(&mut self, loops: &[LoopShared], req: Box<DialRequest>) {
        let i = self.pick(loops, Some(req.addr));
        if let Err(task) = loops[i].mailbox.post(Task::Dial(req)) {
            // The loop has gone (it failed): the dial's state is user
            // code, dropped under the guard.
            log::error!("netreactor: a dial was dropped: loop {i} has stopped");
            if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(task))) {
                log::error!(
                    "netreactor: dropping a dial's state panicked: {}",
                    panic_message(p.as_ref())
                );
            }
        }
    }

    fn hand_over(&mut self, loops: &[LoopShared], incoming: Incoming) {
        let i = self.pick(loops, incoming.peer);
        loops[i].add_connection();
        if loops[i].mailbox.post(Task::Register(incoming)).is_err() {
            loops[i].remove_connection();
        }
    }
}
