//! The builder's drain setting.

use super::EngineBuilder;

impl EngineBuilder {
    /// Whether a drain ([`EngineHandle::drain`](crate::EngineHandle::drain),
    /// SIGTERM with [`handle_signals`](EngineBuilder::handle_signals), the
    /// end of a listener hand-off) closes each connection as soon as it is
    /// idle: nothing read and unanswered, nothing waiting in the socket,
    /// nothing queued to send. Default on, right for protocols where the
    /// server may close between requests (Redis, a line protocol).
    ///
    /// Not idle, whatever their buffers say: a connection that has not yet
    /// sent a byte (its first request is on its way; it is spared for
    /// [`DRAIN_NEW_CONNECTION_GRACE`](crate::options::DRAIN_NEW_CONNECTION_GRACE)),
    /// a TLS handshake under way, and a dialed or relayed connection (a
    /// reply may be on its way to it: it ends with its peer, or at the
    /// deadline).
    ///
    /// Turn it off where the protocol has a polite way to end a connection
    /// and a request may already be on the wire when the server closes an
    /// idle connection (HTTP keep-alive): the handler then ends each
    /// connection itself when [`Conn::is_draining`](crate::Conn::is_draining)
    /// says so (HTTP: `Connection: close` on the next response), and the
    /// connections that stay silent are closed at the drain's deadline.
    ///
    /// Any thread (before start).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// use std::time::Duration;
    /// use netreactor::{Engine, EventHandler};
    ///
    /// struct Nothing;
    /// impl EventHandler for Nothing {}
    ///
    /// let engine = Engine::builder()
    ///     .event_loops(1)
    ///     .close_idle_on_drain(false)
    ///     .start(Nothing, "tcp://127.0.0.1:0")?;
    /// let mut idle = std::net::TcpStream::connect(engine.local_addr())?;
    /// # idle.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// # let until = std::time::Instant::now() + Duration::from_secs(10);
    /// # while engine.connection_count() == 0 && std::time::Instant::now() < until { std::thread::yield_now(); }
    /// let started = std::time::Instant::now();
    /// engine.drain(Duration::from_millis(300)); // blocks until stopped
    /// assert!(started.elapsed() >= Duration::from_millis(300)); // kept until the deadline
    /// assert_eq!(idle.read(&mut [0; 1])?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close_idle_on_drain(mut self, on: bool) -> Self {
        self.cfg.drain_closes_idle = on;
        self
    }
}
