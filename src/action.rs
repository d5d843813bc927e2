//! What a callback asks the engine to do next.

/// What the engine does after a callback returns.
///
/// Any thread (a plain value); the engine acts on it on the thread that ran
/// the callback.
///
/// # Examples
///
/// ```
/// # use std::io::{Read, Write};
/// # use std::time::Duration;
/// use netreactor::{Action, Conn, Engine, EventHandler};
///
/// /// Echoes lines; "quit" closes the connection, "halt" stops the server.
/// struct Commands;
/// impl EventHandler for Commands {
///     fn on_traffic(&self, conn: &mut Conn) -> Action {
///         match conn.peek_all() {
///             b"quit\n" => {
///                 conn.write(b"bye\n"); // flushed before the close
///                 Action::Close
///             }
///             b"halt\n" => Action::Shutdown,
///             _ => {
///                 conn.echo_all();
///                 Action::Continue
///             }
///         }
///     }
/// }
///
/// let engine = Engine::builder().event_loops(1).start(Commands, "tcp://127.0.0.1:0")?;
/// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
/// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
/// client.write_all(b"quit\n")?;
/// let mut reply = Vec::new();
/// client.read_to_end(&mut reply)?; // until the server closes
/// assert_eq!(reply, b"bye\n");
///
/// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
/// client.write_all(b"halt\n")?;
/// engine.wait()?; // the engine stops by itself
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Action {
    /// Keep the connection (and the engine) running.
    #[default]
    Continue,
    /// Close this connection once its queued output is flushed.
    Close,
    /// Stop the whole engine gracefully (as [`EngineHandle::stop`](crate::EngineHandle::stop) does).
    Shutdown,
}
