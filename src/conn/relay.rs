//! `Conn::relay_to` / `Conn::relay_with`: hand a connection to the loop,
//! paired with a dialed upstream (plain TCP or TLS), bytes relayed both
//! ways with no callback per message.

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
    /// [`Error::InvalidAddress`] for an address that is not TCP
    /// (`relay_with` takes `tls://host:port` too, with [`RelayOptions::tls`]);
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
        self.relay_with(upstream, timeout, RelayOptions::new())
    }

    /// [`relay_to`](Conn::relay_to) with options: today, a TLS upstream
    /// ([`RelayOptions::tls`]). The client's reading stays paused until the
    /// upstream's handshake has finished (its certificate verified); then
    /// the upstream's plaintext is relayed exactly as a plain upstream's
    /// bytes are, both ways, with half-close (a close_notify) and resets
    /// passed through. A failed handshake (a certificate that does not
    /// verify, a wrong name, no TLS at all, its deadline
    /// [`tls_handshake_timeout`](crate::EngineBuilder::tls_handshake_timeout))
    /// ends the client by a reset, with `on_close` given the upstream's
    /// [`CloseReason::Tls`](crate::CloseReason::Tls); each side counts once
    /// in [`Stats::closed_tls_handshake`](crate::Stats::closed_tls_handshake).
    ///
    /// The client itself may be plain or TLS (a `tls://` listener): TLS in,
    /// TLS out is a re-encrypting proxy.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// # Errors
    /// As [`relay_to`](Conn::relay_to).
    ///
    /// # Examples
    ///
    /// Terminating nothing, originating TLS: a plain client's bytes go to a
    /// TLS upstream (here a netreactor TLS echo server with a throwaway
    /// certificate) and its plaintext answers come back.
    ///
    /// ```
    /// # #[cfg(feature = "tls")] {
    /// # use std::io::{Read, Write};
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// use netreactor::tls::rustls::{ClientConfig, RootCertStore};
    /// use netreactor::{Action, Conn, Engine, EventHandler, RelayOptions};
    ///
    /// struct Originate(String, RelayOptions);
    /// impl EventHandler for Originate {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         conn.relay_with(&self.0, Duration::from_secs(5), self.1.clone()).into()
    ///     }
    /// }
    ///
    /// // The upstream: a TLS echo server for "localhost".
    /// struct Echo;
    /// impl EventHandler for Echo {
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         conn.echo_all();
    ///         Action::Continue
    ///     }
    /// }
    /// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    /// let key = netreactor::tls::rustls::pki_types::PrivateKeyDer::try_from(cert.key_pair.serialize_der())?;
    /// let server = netreactor::tls::rustls::ServerConfig::builder()
    ///     .with_no_client_auth()
    ///     .with_single_cert(vec![cert.cert.der().clone()], key)?;
    /// let upstream = Engine::builder().tls(Arc::new(server)).start(Echo, "tls://127.0.0.1:0")?;
    ///
    /// // The relay trusts that certificate and checks the name "localhost".
    /// let mut roots = RootCertStore::empty();
    /// roots.add(cert.cert.der().clone())?;
    /// let client = ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    /// let options = RelayOptions::new().tls(Arc::new(client), "localhost")?;
    /// let to = upstream.local_addr().to_string();
    /// let proxy = Engine::builder().start(Originate(to, options), "tcp://127.0.0.1:0")?;
    ///
    /// let mut c = std::net::TcpStream::connect(proxy.local_addr())?;
    /// # c.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// c.write_all(b"hello over TLS")?;
    /// let mut reply = [0; 14];
    /// c.read_exact(&mut reply)?;
    /// assert_eq!(&reply, b"hello over TLS");
    /// proxy.stop();
    /// upstream.stop();
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn relay_with(&mut self, upstream: &str, timeout: Duration, options: RelayOptions) -> Result<()> {
        if self.datagram || self.relay.is_some() || self.is_closing() || self.write_side != WriteSide::Open {
            return Err(Error::Unsupported(
                "relay_to: only an open TCP or Unix connection that is not relayed yet can be relayed",
            ));
        }
        #[cfg(feature = "tls")]
        let tls = options.tls.is_some();
        #[cfg(not(feature = "tls"))]
        let tls = false;
        let addr = match Address::parse(upstream)? {
            Address::Tcp(a) => a,
            Address::Tls(a) if tls => a,
            Address::Tls(_) => {
                return Err(Error::InvalidAddress(format!(
                    "relaying to {upstream} needs RelayOptions::tls (a client config and a server name)"
                )))
            }
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
            tls: options.tls,
        };
        #[cfg(not(feature = "tls"))]
        let RelayOptions {} = options;
        self.mailbox()
            .post(Task::Relay(self.id, Box::new(req)))
            .map_err(|_| Error::EngineStopped)?;
        self.codec = None;
        self.reading_paused = true;
        // Pending: linked to itself until the loop has dialed the upstream.
        self.relay = Some(Box::new(RelayLink {
            peer: self.id,
            upstream: false,
            handshaking: false,
        }));
        Ok(())
    }
}

/// How [`Conn::relay_with`] reaches its upstream: plain TCP (the default),
/// or TLS as a client ([`tls`](RelayOptions::tls)). Cheap to clone: a
/// proxy builds one at start and clones it per connection.
#[derive(Debug, Clone, Default)]
pub struct RelayOptions {
    /// The upstream speaks TLS (`RelayOptions::tls`).
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::ClientStart>,
}

impl RelayOptions {
    /// A plain TCP upstream. Any thread.
    ///
    /// See the example on [`Conn::relay_with`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Speak TLS to the upstream, as a client with `config`, verifying it as
    /// `server_name` (a DNS name, sent as SNI, or an IP address), as
    /// [`DialOptions::tls`](crate::DialOptions::tls) does for a dial.
    ///
    /// Any thread.
    ///
    /// # Errors
    /// [`Error::InvalidAddress`] for a name that is neither a DNS name nor
    /// an IP address.
    ///
    /// See the example on [`Conn::relay_with`].
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: std::sync::Arc<rustls::ClientConfig>, server_name: &str) -> Result<Self> {
        let name = rustls::pki_types::ServerName::try_from(server_name.to_owned())
            .map_err(|e| Error::InvalidAddress(format!("TLS server name {server_name:?}: {e}")))?;
        self.tls = Some(crate::tls::ClientStart { config, name });
        Ok(self)
    }
}
