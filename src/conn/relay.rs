//! `Conn::relay_to`: hand a connection to the loop, paired with a dialed
//! upstream, bytes relayed both ways with no callback per message.

use std::time::Duration;

use super::{Conn, RelayLink, WriteSide};
use crate::addr::Address;
use crate::error::{Error, Result};
use crate::mailbox::{DialRequest, Task};
use crate::sys;

impl Conn {
    /// Relays this connection to a new connection to `upstream` (a TCP
    /// address), dialed on this connection's loop: from now on the loop
    /// copies what either side sends to the other, with no callback per
    /// message (gnet has no such thing; tokio's `copy_bidirectional` is the
    /// nearest).
    ///
    /// - Reading pauses until the upstream connects (within `timeout`;
    ///   `Duration::MAX`: no limit of its own). Bytes still unread in this
    ///   connection's input, such as those a handler peeked at to choose
    ///   the upstream, go first. The codec, if any, stops framing
    ///   ([`end_decoding`](Conn::end_decoding)).
    /// - Backpressure: a side whose output passes the engine's high
    ///   watermark stops the other side reading until it drains to the low
    ///   one (so memory per relay stays near the watermarks, whatever the
    ///   speeds). `pause_reading_when_unwritable` does not apply.
    /// - Half-close passes through (an EOF from one side is a
    ///   [`shutdown_write`](Conn::shutdown_write) to the other, after what
    ///   it sent), and the pair ends when both directions have: a side
    ///   that ends otherwise (a reset, an error, a timeout, a failed
    ///   connect) resets the other.
    /// - The handler sees no callback for the upstream; for this
    ///   connection, none for its traffic, EOF or writability, and then
    ///   `on_close` with how the pair ended (`ConnectFailed` when the
    ///   upstream could not be reached, or the upstream's own reason when it
    ///   failed). Timers, `ConnHandle` writes and calls still reach it.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// # Errors
    /// [`Error::InvalidAddress`] for an address that is not TCP;
    /// [`Error::Io`] when no socket can be made (out of descriptors);
    /// [`Error::Unsupported`] on a UDP socket, a connection already
    /// relayed, or one that is closing. Nothing changes on an error.
    ///
    /// # Examples
    ///
    /// A TCP forwarder:
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// # use std::time::Duration;
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// struct Forward(String);
    /// impl EventHandler for Forward {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         conn.relay_to(&self.0, Duration::from_secs(5)).into()
    ///     }
    /// }
    ///
    /// // The upstream: answers "pong" to what it reads, then closes.
    /// let upstream = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let to = upstream.local_addr()?.to_string();
    /// std::thread::spawn(move || {
    ///     let (mut s, _) = upstream.accept().unwrap();
    ///     let mut ping = [0; 4];
    ///     s.read_exact(&mut ping).unwrap();
    ///     s.write_all(b"pong").unwrap();
    /// });
    ///
    /// let engine = Engine::builder().start(Forward(to), "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// client.write_all(b"ping")?;
    /// let mut reply = Vec::new();
    /// client.read_to_end(&mut reply)?; // the upstream's close ends the pair
    /// assert_eq!(reply, b"pong");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn relay_to(&mut self, upstream: &str, timeout: Duration) -> Result<()> {
        if self.datagram || self.relay.is_some() || self.is_closing() || self.write_side != WriteSide::Open {
            return Err(Error::Unsupported(
                "relay_to: only an open TCP or Unix connection that is not relayed yet can be relayed",
            ));
        }
        let addr = match Address::parse(upstream)? {
            Address::Tcp(a) => a,
            other => {
                return Err(Error::InvalidAddress(format!(
                    "relay_to takes a TCP address, not {other}"
                )))
            }
        };
        let fd = sys::socket::tcp_socket(addr)?;
        let req = DialRequest {
            fd,
            addr,
            timeout,
            service: self.service as usize,
            state: None,
            #[cfg(feature = "tls")]
            tls: None,
        };
        self.mailbox()
            .post(Task::Relay(self.id, Box::new(req)))
            .map_err(|_| Error::EngineStopped)?;
        self.codec = None;
        self.reading_paused = true;
        // Pending: linked to itself until the loop has dialed the upstream.
        self.relay = Some(Box::new(RelayLink {
            peer: self.id,
            upstream: false,
        }));
        Ok(())
    }
}
