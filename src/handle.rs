//! The engine's shared state (what the loops, the acceptor and handles all
//! read) and [`EngineHandle`], the way any thread controls a running engine.

use std::cell::Cell;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::deadline;
use crate::error::{Error, Result};
use crate::mailbox::{Mailbox, Task};
use crate::stats::{LoopCounters, Stats};

thread_local! {
    /// The engine this thread serves (the address of its shared state; 0:
    /// none), so `stop` can tell its own threads from any other engine's.
    static SERVING: Cell<usize> = const { Cell::new(0) };
}

/// Marks the current thread as one of `shared`'s until the guard drops
/// (engine threads keep theirs for life; `on_boot`'s caller only during it).
pub(crate) fn serve(shared: &Arc<EngineShared>) -> ServingGuard {
    let previous = SERVING.with(|c| c.replace(Arc::as_ptr(shared) as usize));
    ServingGuard { previous }
}

/// Restores the thread's previous engine when dropped.
#[derive(Debug)]
pub(crate) struct ServingGuard {
    previous: usize,
}

impl Drop for ServingGuard {
    fn drop(&mut self) {
        SERVING.with(|c| c.set(self.previous));
    }
}

/// Per-loop state other threads may read.
#[derive(Debug)]
pub(crate) struct LoopShared {
    pub(crate) mailbox: Arc<Mailbox>,
    /// Connections this loop owns or has been handed.
    conns: AtomicUsize,
    pub(crate) counters: LoopCounters,
}

impl LoopShared {
    pub(crate) fn new(mailbox: Mailbox) -> Self {
        LoopShared {
            mailbox: Arc::new(mailbox),
            conns: AtomicUsize::new(0),
            counters: LoopCounters::default(),
        }
    }
}

impl LoopShared {
    pub(crate) fn connections(&self) -> usize {
        self.conns.load(Ordering::Relaxed)
    }

    pub(crate) fn add_connection(&self) {
        self.conns.fetch_add(1, Ordering::Relaxed);
    }

    /// The loop died with its connections (their descriptors closed as it
    /// unwound): they are gone.
    pub(crate) fn forget_connections(&self) {
        self.conns.store(0, Ordering::Relaxed);
    }

    pub(crate) fn remove_connection(&self) {
        self.conns.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Debug)]
pub(crate) struct EngineShared {
    pub(crate) loops: Vec<LoopShared>,
    local_addrs: Vec<SocketAddr>,
    pub(crate) coordinator: Mailbox,
    shutdown_deadline: Duration,
    /// Connections refused by `max_connections`.
    pub(crate) rejected: AtomicU64,
    /// Bytes all connections hold in partial inbound messages.
    pub(crate) inbound_held: AtomicUsize,
    join: Mutex<Option<JoinHandle<()>>>,
    done: Mutex<bool>,
    done_cv: Condvar,
    /// Why an engine thread ended unexpectedly, if one did.
    failure: Mutex<Option<String>>,
}

impl EngineShared {
    pub(crate) fn new(
        loops: Vec<LoopShared>,
        local_addrs: Vec<SocketAddr>,
        coordinator: Mailbox,
        shutdown_deadline: Duration,
    ) -> Self {
        EngineShared {
            loops,
            local_addrs,
            coordinator,
            shutdown_deadline,
            rejected: AtomicU64::new(0),
            inbound_held: AtomicUsize::new(0),
            join: Mutex::new(None),
            done: Mutex::new(false),
            done_cv: Condvar::new(),
            failure: Mutex::new(None),
        }
    }

    /// Hands over the coordinator thread, which `EngineHandle::wait` joins.
    pub(crate) fn set_coordinator_thread(&self, t: JoinHandle<()>) {
        *self.join.lock().unwrap_or_else(|e| e.into_inner()) = Some(t);
    }

    /// Asks the coordinator to stop the engine; returns at once.
    pub(crate) fn request_stop(&self, deadline: Duration) {
        let _ = self
            .coordinator
            .post(Task::Stop(deadline::after(Instant::now(), deadline)));
    }

    pub(crate) fn connection_count(&self) -> usize {
        self.loops.iter().map(LoopShared::connections).sum()
    }

    pub(crate) fn shutdown_deadline(&self) -> Duration {
        self.shutdown_deadline
    }

    /// An engine thread ended unexpectedly: record why (the first reason
    /// wins), log it, and stop the whole engine rather than limp on.
    pub(crate) fn fail(&self, why: String) {
        log::error!("netreactor: {why}; stopping the engine");
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(why);
        self.request_stop(self.shutdown_deadline);
    }

    pub(crate) fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Called by the coordinator as its very last act.
    pub(crate) fn mark_done(&self) {
        *self.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.done_cv.notify_all();
    }
}

/// Controls a running engine from any thread: `Send + Sync`, cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    pub(crate) shared: Arc<EngineShared>,
}

impl fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineHandle")
            .field("local_addrs", &self.shared.local_addrs)
            .field("loops", &self.shared.loops.len())
            .field("connections", &self.connection_count())
            .finish()
    }
}

impl EngineHandle {
    pub(crate) fn from_shared(shared: Arc<EngineShared>) -> Self {
        EngineHandle { shared }
    }

    /// Stops gracefully with the builder's shutdown deadline: stop accepting,
    /// `on_shutdown`, flush and close every connection (`on_close` once
    /// each), join every thread. Blocks until done, except when called on
    /// one of the engine's own threads, where it only requests the stop.
    pub fn stop(&self) {
        self.stop_with_deadline(self.shared.shutdown_deadline);
    }

    /// As [`stop`](EngineHandle::stop), letting connections flush for at
    /// most `deadline` before they are closed regardless.
    pub fn stop_with_deadline(&self, deadline: Duration) {
        self.request_stop(deadline);
        let own_thread = SERVING.with(Cell::get) == Arc::as_ptr(&self.shared) as usize;
        if !own_thread {
            // A failure is reported by `wait` and `run`; `stop` only ends it.
            let _ = self.wait();
        }
    }

    pub(crate) fn request_stop(&self, deadline: Duration) {
        self.shared.request_stop(deadline);
    }

    /// Blocks until the engine has stopped and all its threads have ended.
    /// Call it from any thread but the engine's own (there it would wait for
    /// itself).
    ///
    /// # Errors
    /// [`Error::EngineFailed`] when the engine stopped because one of its
    /// threads ended unexpectedly (it names the thread and the panic).
    ///
    /// # Examples
    ///
    /// ```
    /// use netreactor::{Action, Engine, EngineHandle, EventHandler};
    ///
    /// /// Stops the engine as soon as it has started.
    /// struct Once;
    /// impl EventHandler for Once {
    ///     fn on_boot(&self, engine: &EngineHandle) -> Action {
    ///         engine.stop(); // on the engine's own thread: only asks
    ///         Action::Continue
    ///     }
    /// }
    /// let engine = Engine::builder().start(Once, "tcp://127.0.0.1:0")?;
    /// engine.wait()?;
    /// assert!(engine.is_stopped());
    /// # Ok::<(), netreactor::Error>(())
    /// ```
    pub fn wait(&self) -> Result<()> {
        let join = self.shared.join.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = join {
            if t.join().is_err() {
                self.shared
                    .fail("the coordinator thread (nr-accept) ended by a panic".into());
                self.shared.mark_done();
            }
        }
        let mut done = self.shared.done.lock().unwrap_or_else(|e| e.into_inner());
        while !*done {
            done = self.shared.done_cv.wait(done).unwrap_or_else(|e| e.into_inner());
        }
        drop(done);
        match self.shared.failure() {
            Some(why) => Err(Error::EngineFailed(why)),
            None => Ok(()),
        }
    }

    /// True once the engine has stopped completely.
    pub fn is_stopped(&self) -> bool {
        *self.shared.done.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The addresses the engine listens on (with the real port when bound to port 0).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.shared.local_addrs
    }

    /// The first listening address.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addrs[0]
    }

    /// Connections open now, over all loops (including ones being handed over).
    pub fn connection_count(&self) -> usize {
        self.shared.connection_count()
    }

    /// Counters of each loop, in loop order (read without locking the loops).
    pub fn loop_stats(&self) -> Vec<Stats> {
        self.shared
            .loops
            .iter()
            .map(|l| l.counters.snapshot(l.connections() as u64))
            .collect()
    }

    /// Counters summed over all loops.
    ///
    /// # Examples
    ///
    /// ```
    /// use netreactor::{Engine, EventHandler};
    /// struct Nothing;
    /// impl EventHandler for Nothing {}
    /// let engine = Engine::builder().event_loops(1).start(Nothing, "127.0.0.1:0")?;
    /// assert_eq!(engine.stats().accepted, 0);
    /// engine.stop();
    /// # Ok::<(), netreactor::Error>(())
    /// ```
    pub fn stats(&self) -> Stats {
        let mut total = self.loop_stats().into_iter().fold(Stats::default(), |a, b| a + b);
        total.rejected = self.shared.rejected.load(Ordering::Relaxed);
        total.partial_inbound_bytes = self.shared.inbound_held.load(Ordering::Relaxed) as u64;
        total
    }

    /// Connections owned by each loop, in loop order.
    pub fn loop_connection_counts(&self) -> Vec<usize> {
        self.shared.loops.iter().map(LoopShared::connections).collect()
    }
}

const _: () = {
    const fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<EngineHandle>();
    is_send_sync::<crate::ConnHandle>();
};
