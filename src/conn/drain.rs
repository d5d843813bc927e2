//! What a connection's handler learns of a drain.

use super::Conn;

impl Conn {
    /// True once the engine drains (or stops): finish this connection,
    /// the polite way the protocol has. An HTTP server answers the next
    /// request with `Connection: close` and closes after it; a server
    /// whose protocol cannot say so lets the engine close the connection
    /// once idle ([`EngineBuilder::close_idle_on_drain`](crate::EngineBuilder::close_idle_on_drain)).
    /// The engine closes what is still open at the drain's deadline
    /// ([`EngineHandle::drain_deadline`](crate::EngineHandle::drain_deadline)).
    ///
    /// Loop thread (in a callback).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// # use std::time::{Duration, Instant};
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// /// Answers each line with "ok", and "ok, bye" (then closes) once draining.
    /// struct Polite;
    /// impl EventHandler for Polite {
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         let Some(end) = conn.peek_all().iter().position(|&b| b == b'\n') else {
    ///             return Action::Continue;
    ///         };
    ///         conn.discard(end + 1);
    ///         if conn.is_draining() {
    ///             conn.write(b"ok, bye\n");
    ///             return Action::Close;
    ///         }
    ///         conn.write(b"ok\n");
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let engine = Engine::builder()
    ///     .event_loops(1)
    ///     .close_idle_on_drain(false)
    ///     .start(Polite, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// client.write_all(b"one\n")?;
    /// client.read_exact(&mut [0; 3])?;
    /// let draining = engine.clone();
    /// let drain = std::thread::spawn(move || draining.drain(Duration::from_secs(10)));
    /// # let until = Instant::now() + Duration::from_secs(10);
    /// while !engine.is_draining() {
    /// #   assert!(Instant::now() < until);
    ///     std::thread::yield_now();
    /// }
    /// client.write_all(b"two\n")?;
    /// let mut reply = Vec::new();
    /// client.read_to_end(&mut reply)?; // answered, then closed: long before 10 s
    /// assert_eq!(reply, b"ok, bye\n");
    /// drain.join().unwrap();
    /// assert!(engine.is_stopped());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_draining(&self) -> bool {
        // The engine's flag, raised before the listeners close: a request
        // the loop reads before its drain task runs (events come before
        // tasks in an iteration) is answered as draining too.
        self.engine.shared.drain.is_active()
    }
}
