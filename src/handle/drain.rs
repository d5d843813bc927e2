//! Draining an engine: stop accepting, keep serving, let every connection
//! finish (idle ones closed first), stop at a hard deadline.

use std::time::{Duration, Instant};

use super::{EngineHandle, SERVING};
use crate::drain;
use crate::mailbox::Task;

impl EngineHandle {
    /// Drains, then stops: the engine accepts the connections already
    /// waiting in its listeners' queues, then stops accepting (its
    /// listeners close, unless they were handed to another process, which
    /// accepts what waits), `on_shutdown` runs,
    /// and the connections are served on. Every connection learns it
    /// should finish ([`Conn::is_draining`](crate::Conn::is_draining));
    /// idle ones are closed at once and the others as soon as they are
    /// idle (unless
    /// [`close_idle_on_drain(false)`](crate::EngineBuilder::close_idle_on_drain)).
    /// Once every connection has gone, or at the hard deadline `grace` from
    /// now, the engine stops as [`stop`](EngineHandle::stop) does (at the
    /// deadline, output still queued is dropped and those connections are
    /// reset). Blocks until stopped, except when called on one of the
    /// engine's own threads, where it only asks. Draining a draining
    /// engine keeps the earlier deadline; a stop during a drain cuts it
    /// short.
    ///
    /// SIGTERM and SIGINT drain with the shutdown deadline when the engine
    /// handles signals; a second one stops at once.
    ///
    /// Any thread (from a callback it only asks).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// # use std::time::Duration;
    /// use netreactor::{Action, Conn, Engine, EngineHandle, EventHandler};
    ///
    /// struct Echo;
    /// impl EventHandler for Echo {
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         conn.echo_all();
    ///         Action::Continue
    ///     }
    ///     fn on_shutdown(&self, engine: &EngineHandle) {
    ///         // Runs when the drain begins: the deadline is known.
    ///         assert!(engine.drain_deadline().is_some());
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(1).start(Echo, "tcp://127.0.0.1:0")?;
    /// let mut idle = std::net::TcpStream::connect(engine.local_addr())?;
    /// # idle.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// idle.write_all(b"x")?;
    /// idle.read_exact(&mut [0; 1])?;
    /// let started = std::time::Instant::now();
    /// engine.drain(Duration::from_secs(30));
    /// assert!(started.elapsed() < Duration::from_secs(10)); // the idle connection went at once
    /// assert_eq!(idle.read(&mut [0; 1])?, 0);
    /// assert!(engine.is_stopped() && !engine.is_draining());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn drain(&self, grace: Duration) {
        let deadline = drain::deadline_after(grace);
        self.shared.drain.begin(deadline);
        let _ = self.shared.coordinator.post(Task::Drain(deadline));
        let own_thread = SERVING.with(std::cell::Cell::get) == std::sync::Arc::as_ptr(&self.shared) as usize;
        if !own_thread {
            let _ = self.wait();
        }
    }

    /// True while the engine drains: from the moment every loop has
    /// stopped accepting and every connection's
    /// [`Conn::is_draining`](crate::Conn::is_draining) is true, until the
    /// engine has stopped. Also true during a plain stop.
    ///
    /// Any thread.
    ///
    /// See the example on [`Conn::is_draining`](crate::Conn::is_draining).
    pub fn is_draining(&self) -> bool {
        self.shared.drain.is_active() && self.shared.listeners.all_stopped_accepting() && !self.is_stopped()
    }

    /// The drain's (or stop's) hard deadline, once one began: by then every
    /// connection is closed. `on_shutdown` runs after it is set, so a
    /// handler can plan its goodbyes.
    ///
    /// Any thread.
    ///
    /// See the example on [`EngineHandle::drain`].
    pub fn drain_deadline(&self) -> Option<Instant> {
        self.shared.drain.deadline()
    }
}
