//! Building, starting and stopping an engine.

use std::fmt;
use std::mem;
use std::os::fd::AsFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::addr::{Address, ListenAddrs};
use crate::balancer::{LoadBalancer, LoadBalancing};
use crate::bind::{Bind, Router};
use crate::codec::{Decoder, Encoder};
use crate::config::{Config, Keepalive, MaxConnectionsPolicy};
use crate::error::{panic_message, Error, Result};
use crate::framing::CodecPrototype;
use crate::handle::{self, EngineHandle, EngineShared, LoopShared, ServiceInfo};
use crate::handler::Action;
use crate::inherit::{self, Inherited};
use crate::mailbox::{self, Task};
use crate::options::*;
use crate::reactor::acceptor::Coordinator;
use crate::reactor::event_loop::EventLoop;
use crate::reactor::listener::ListenSocket;
use crate::service::{One, Serve, Service};
use crate::sys;
use crate::sys::socket::ConnOptions;

mod drain;
mod inherited;
mod tls;

use inherited::record_listeners;

/// Entry point: `Engine::builder()`.
///
/// Any thread.
///
/// See the example on [`Engine::builder`].
#[derive(Debug)]
pub struct Engine(());

impl Engine {
    /// A builder with every option at its default.
    ///
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// # use std::time::Duration;
    /// use netreactor::{Action, Conn, Engine, EventHandler, LoadBalancing};
    ///
    /// struct Echo;
    /// impl EventHandler for Echo {
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         conn.echo_all();
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let engine = Engine::builder()
    ///     .event_loops(4)
    ///     .load_balancing(LoadBalancing::LeastConnections)
    ///     .start(Echo, "tcp://127.0.0.1:0")?;
    /// assert_eq!(engine.loop_connection_counts(), [0, 0, 0, 0]);
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// client.write_all(b"hi")?;
    /// let mut reply = [0; 2];
    /// client.read_exact(&mut reply)?;
    /// assert_eq!(&reply, b"hi");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }
}

/// Configures and starts an engine. Every option has a default; see
/// docs/limits.md for the reasoning behind each.
///
/// Any thread (before start). Options are checked by
/// [`start`](EngineBuilder::start), which names the first one out of range.
///
/// # Examples
///
/// The options that need no example of their own:
///
/// ```
/// # use std::io::{Read, Write};
/// use std::time::Duration;
/// use netreactor::{Action, Conn, Engine, EventHandler};
///
/// struct Echo;
/// impl EventHandler for Echo {
///     fn on_traffic(&self, conn: &mut Conn) -> Action {
///         conn.echo_all();
///         Action::Continue
///     }
/// }
///
/// let engine = Engine::builder()
///     .event_loops(2)
///     .pin_threads(true) // loop i on core i
///     .reuse_port(true) // each loop accepts for itself
///     .tcp_nodelay(true)
///     .ipv6_only(false)
///     .pause_reading_when_unwritable(true)
///     .shutdown_deadline(Duration::from_secs(2))
///     .start(Echo, "tcp://127.0.0.1:0")?;
/// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
/// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
/// client.write_all(b"ok")?;
/// let mut reply = [0; 2];
/// client.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"ok");
/// engine.stop(); // connections get at most 2 s to flush
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct EngineBuilder {
    event_loops: usize,
    load_balancing: LoadBalancing,
    pin_threads: bool,
    /// An explicit core list (`pin_threads_to`).
    pinned: Option<Vec<usize>>,
    /// How listeners are set up (`reuse_port` and `ipv6_only` apart).
    listen: ListenSettings,
    reuse_port: bool,
    ipv6_only: bool,
    handle_signals: bool,
    shutdown_deadline: Duration,
    /// Listening sockets to take instead of binding (engine/inherited.rs).
    inherit: inherit::Sources,
    /// Services bound to their own listeners (`bind`, `start_bound`).
    binds: Vec<Bind>,
    cfg: Config,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        EngineBuilder {
            event_loops: std::thread::available_parallelism().map_or(1, |n| n.get()),
            load_balancing: LoadBalancing::default(),
            pin_threads: false,
            pinned: None,
            listen: ListenSettings::default(),
            reuse_port: false,
            ipv6_only: false,
            handle_signals: false,
            shutdown_deadline: DEFAULT_SHUTDOWN_DEADLINE,
            inherit: inherit::Sources::default(),
            cfg: Config {
                read_buffer_bytes: DEFAULT_READ_BUFFER_BYTES,
                max_inbound_bytes: DEFAULT_MAX_INBOUND_BYTES,
                max_outbound_bytes: DEFAULT_MAX_OUTBOUND_BYTES,
                events_per_wait: DEFAULT_EVENTS_PER_WAIT,
                tasks_per_iteration: DEFAULT_TASKS_PER_ITERATION,
                close_linger: DEFAULT_CLOSE_LINGER,
                conn_options: ConnOptions {
                    nodelay: true,
                    ..ConnOptions::default()
                },
                high_watermark: DEFAULT_HIGH_WATERMARK_BYTES,
                low_watermark: DEFAULT_LOW_WATERMARK_BYTES,
                pause_reading_when_unwritable: true,
                read_idle_timeout: None,
                write_idle_timeout: None,
                frame_timeout: Some(DEFAULT_FRAME_TIMEOUT),
                inbound_budget: DEFAULT_INBOUND_BUDGET_BYTES,
                max_connections: None,
                ticker: false,
                drain_closes_idle: true,
                codec: None,
                service_codecs: Vec::new(),
                listener_service: Vec::new(),
                #[cfg(feature = "tls")]
                tls_server: None,
                #[cfg(feature = "tls")]
                tls_handshake_timeout: crate::tls::DEFAULT_HANDSHAKE_TIMEOUT,
                #[cfg(feature = "tls")]
                tls_max_handshake_bytes: crate::tls::DEFAULT_MAX_HANDSHAKE_BYTES,
            },
            binds: Vec::new(),
        }
    }
}

impl EngineBuilder {
    /// Number of event-loop threads (default: available cores), in
    /// `1..=`[`MAX_EVENT_LOOPS`]; `start` refuses other values.
    ///
    /// Any thread (before start).
    ///
    /// # Examples
    ///
    /// ```
    /// use netreactor::{Engine, Error, EventHandler};
    ///
    /// struct Nothing;
    /// impl EventHandler for Nothing {}
    ///
    /// let engine = Engine::builder().event_loops(3).start(Nothing, "tcp://127.0.0.1:0")?;
    /// assert_eq!(engine.loop_stats().len(), 3);
    /// engine.stop();
    ///
    /// let refused = Engine::builder().event_loops(0).start(Nothing, "tcp://127.0.0.1:0");
    /// assert!(matches!(refused, Err(Error::InvalidConfig(_))));
    /// # Ok::<(), netreactor::Error>(())
    /// ```
    pub fn event_loops(mut self, n: usize) -> Self {
        self.event_loops = n;
        self
    }

    /// How accepted connections are spread over the loops (default round
    /// robin). Unused with [`reuse_port`](EngineBuilder::reuse_port).
    ///
    /// Any thread (before start).
    ///
    /// See the example on [`LoadBalancing`].
    pub fn load_balancing(mut self, lb: LoadBalancing) -> Self {
        self.load_balancing = lb;
        self
    }

    /// Uses a balancer of your own (as
    /// `load_balancing(LoadBalancing::Custom(Arc::new(lb)))`).
    ///
    /// Any thread (before start).
    ///
    /// See the example on [`LoadBalancer`].
    pub fn load_balancer(self, lb: impl LoadBalancer) -> Self {
        self.load_balancing(LoadBalancing::Custom(Arc::new(lb)))
    }

    /// Pins loop `i` to core `i` (modulo the core count). Default off.
    ///
    /// Any thread (before start).
    ///
    /// See the example on [`EngineBuilder`].
    pub fn pin_threads(mut self, on: bool) -> Self {
        self.pin_threads = on;
        self
    }

    /// Gives every loop its own `SO_REUSEPORT` listener, so the kernel
    /// balances connections and no acceptor thread hands them over. The load
    /// balancer is then unused. Default off.
    ///
    /// UDP addresses always get one `SO_REUSEPORT` socket per loop; this
    /// option decides whether their port may be shared with sockets outside
    /// the engine (another engine or process of the same user). Off, a UDP
    /// port that anything else has bound is refused with `AddrInUse`, as a
    /// TCP port is; on, the engine joins it and the kernel spreads the
    /// senders over every socket in the group.
    ///
    /// Any thread (before start).
    ///
    /// See the example on [`EngineBuilder`].
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self
    }

    /// Sets TCP_NODELAY on accepted connections (default on);
    /// [`Conn::set_nodelay`](crate::Conn::set_nodelay) changes it for one.
    ///
    /// Any thread (before start).
    ///
    /// See the examples on [`EngineBuilder`] and [`Conn::fd`](crate::Conn::fd).
    pub fn tcp_nodelay(mut self, on: bool) -> Self {
        self.cfg.conn_options.nodelay = on;
        self
    }

    /// TCP keepalive probes on every accepted or enrolled TCP connection
    /// (default: the system's, normally off). Any thread (before start).
    ///
    /// # Examples
    ///
    /// The connection and listener options together:
    ///
    /// ```
    /// use std::time::Duration;
    /// use netreactor::{Engine, EventHandler, Keepalive};
    ///
    /// struct Nothing;
    /// impl EventHandler for Nothing {}
    ///
    /// let engine = Engine::builder()
    ///     .tcp_keepalive(Keepalive { idle: Duration::from_secs(60), interval: Duration::from_secs(10), retries: 5 })
    ///     .recv_buffer_size(256 * 1024)
    ///     .send_buffer_size(256 * 1024)
    ///     .listen_backlog(1024)
    ///     .linger_zero(false)
    ///     .freebind(false)
    ///     .pin_threads_to([0])
    ///     .start(Nothing, "tcp://127.0.0.1:0")?;
    /// let _client = std::net::TcpStream::connect(engine.local_addr())?;
    /// engine.stop();
    /// # Ok::<(), netreactor::Error>(())
    /// ```
    pub fn tcp_keepalive(mut self, probes: Keepalive) -> Self {
        self.cfg.conn_options.keepalive = Some(probes.to_parts());
        self
    }

    /// Closes every connection with a reset (SO_LINGER 0) instead of a FIN
    /// (default off; the engine already resets connections whose output it
    /// had to drop). A non-zero SO_LINGER is not offered: it would make
    /// `close(2)` block the loop thread; [`close_linger`](EngineBuilder::close_linger)
    /// bounds graceful closes instead. Any thread (before start).
    ///
    /// See the example on [`tcp_keepalive`](EngineBuilder::tcp_keepalive).
    pub fn linger_zero(mut self, on: bool) -> Self {
        self.cfg.conn_options.linger_zero = on;
        self
    }

    /// SO_RCVBUF for every connection, set on the listeners so accepted
    /// sockets inherit it before the handshake (default: the system's), and
    /// for the UDP sockets (default:
    /// [`DEFAULT_UDP_RECV_BUFFER_BYTES`](crate::options::DEFAULT_UDP_RECV_BUFFER_BYTES)).
    /// The kernel caps it at `net.core.rmem_max`. Any thread (before start).
    ///
    /// See the example on [`tcp_keepalive`](EngineBuilder::tcp_keepalive).
    pub fn recv_buffer_size(mut self, bytes: usize) -> Self {
        self.listen.recv_buffer = Some(bytes);
        self
    }

    /// SO_SNDBUF for every connection, as
    /// [`recv_buffer_size`](EngineBuilder::recv_buffer_size). Any thread
    /// (before start).
    ///
    /// See the example on [`tcp_keepalive`](EngineBuilder::tcp_keepalive).
    pub fn send_buffer_size(mut self, bytes: usize) -> Self {
        self.listen.send_buffer = Some(bytes);
        self
    }

    /// The listen backlog (default: `/proc/sys/net/core/somaxconn`, at most
    /// 65535; the kernel caps it at somaxconn anyway). Any thread (before
    /// start).
    ///
    /// See the example on [`tcp_keepalive`](EngineBuilder::tcp_keepalive).
    pub fn listen_backlog(mut self, connections: u32) -> Self {
        self.listen.backlog = i32::try_from(connections).unwrap_or(i32::MAX);
        self
    }

    /// Binds the TCP listeners to a network interface (SO_BINDTODEVICE;
    /// needs CAP_NET_RAW on older kernels). Any thread (before start).
    ///
    /// See the example on [`tcp_keepalive`](EngineBuilder::tcp_keepalive).
    pub fn bind_device(mut self, interface: &str) -> Self {
        self.listen.device = Some(interface.to_owned());
        self
    }

    /// IP_FREEBIND on the TCP listeners: bind an address that is not (yet)
    /// configured on this host. Any thread (before start).
    ///
    /// See the example on [`tcp_keepalive`](EngineBuilder::tcp_keepalive).
    pub fn freebind(mut self, on: bool) -> Self {
        self.listen.freebind = on;
        self
    }

    /// IP_TRANSPARENT on the TCP listeners: accept connections addressed to
    /// any IP (transparent proxying with TPROXY; needs CAP_NET_ADMIN). Any
    /// thread (before start).
    ///
    /// See the example on [`tcp_keepalive`](EngineBuilder::tcp_keepalive).
    pub fn transparent(mut self, on: bool) -> Self {
        self.listen.transparent = on;
        self
    }

    /// Pins loop `i` to the `i`-th core of `cores` (cycling when there are
    /// more loops than cores): an explicit core list, where
    /// [`pin_threads`](EngineBuilder::pin_threads) takes cores `0..`.
    /// `start` refuses core numbers the machine does not have. Any thread
    /// (before start).
    ///
    /// See the example on [`tcp_keepalive`](EngineBuilder::tcp_keepalive).
    pub fn pin_threads_to(mut self, cores: impl IntoIterator<Item = usize>) -> Self {
        self.pinned = Some(cores.into_iter().collect());
        self
    }

    /// Bytes one read takes, and the size of each loop's read buffer
    /// (default [`DEFAULT_READ_BUFFER_BYTES`]), in
    /// [`MIN_READ_BUFFER_BYTES`]`..=`[`MAX_READ_BUFFER_BYTES`]; `start`
    /// refuses other values.
    ///
    /// Any thread (before start).
    ///
    /// # Examples
    ///
    /// ```
    /// use netreactor::options::MIN_READ_BUFFER_BYTES;
    /// use netreactor::{Engine, Error, EventHandler};
    ///
    /// struct Nothing;
    /// impl EventHandler for Nothing {}
    ///
    /// let engine = Engine::builder().read_buffer_size(16 * 1024).start(Nothing, "tcp://127.0.0.1:0")?;
    /// engine.stop();
    ///
    /// let refused = Engine::builder()
    ///     .read_buffer_size(MIN_READ_BUFFER_BYTES - 1)
    ///     .start(Nothing, "tcp://127.0.0.1:0");
    /// assert!(matches!(refused, Err(Error::InvalidConfig(_))));
    /// # Ok::<(), netreactor::Error>(())
    /// ```
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.cfg.read_buffer_bytes = bytes;
        self
    }

    /// Unconsumed inbound bytes at which a connection is closed
    /// (default [`DEFAULT_MAX_INBOUND_BYTES`]; at least 1), with
    /// [`CloseReason::InboundOverflow`](crate::CloseReason::InboundOverflow).
    /// The check is made before each read, so a connection may hold up to
    /// one read ([`read_buffer_size`](EngineBuilder::read_buffer_size))
    /// more, and one that sends nothing more is left to the
    /// [`frame_timeout`](EngineBuilder::frame_timeout).
    ///
    /// Any thread (before start).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Write;
    /// use std::sync::mpsc;
    /// use std::time::{Duration, Instant};
    /// use netreactor::{Action, CloseReason, Conn, Engine, EventHandler};
    ///
    /// /// Consumes nothing, and reports why each connection closed.
    /// struct Why(mpsc::Sender<CloseReason>);
    /// impl EventHandler for Why {
    ///     fn on_traffic(&self, _conn: &mut Conn) -> Action {
    ///         Action::Continue
    ///     }
    ///     fn on_close(&self, _conn: &mut Conn, reason: CloseReason) {
    ///         let _ = self.0.send(reason);
    ///     }
    /// }
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let engine = Engine::builder()
    ///     .event_loops(1)
    ///     .max_inbound_buffer(4096)
    ///     .start(Why(tx), "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_write_timeout(Some(Duration::from_secs(10)))?;
    /// let deadline = Instant::now() + Duration::from_secs(10);
    /// while client.write_all(&[0; 16 * 1024]).is_ok() && Instant::now() < deadline {} // until cut off
    /// assert_eq!(
    ///     rx.recv_timeout(Duration::from_secs(10))?,
    ///     CloseReason::InboundOverflow { limit: 4096 }
    /// );
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_inbound_buffer(mut self, bytes: usize) -> Self {
        self.cfg.max_inbound_bytes = bytes;
        self
    }

    /// Queued outbound bytes at which a connection is closed, and the most
    /// a [`ConnHandle`](crate::ConnHandle) may have in flight to one
    /// connection (default [`DEFAULT_MAX_OUTBOUND_BYTES`]; at least 1). A
    /// write that would pass it drops what was queued and closes the
    /// connection with
    /// [`CloseReason::OutboundOverflow`](crate::CloseReason::OutboundOverflow)
    /// (the peer sees a reset); a `ConnHandle` write gets
    /// [`Error::QueueFull`] instead.
    ///
    /// Any thread (before start).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    /// use netreactor::{Action, CloseReason, Conn, Engine, EventHandler};
    ///
    /// /// Consumes nothing, and reports why each connection closed.
    /// struct Why(mpsc::Sender<CloseReason>);
    /// impl EventHandler for Why {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         conn.write(&[0; 2048]);
    ///         Action::Continue
    ///     }
    ///     fn on_close(&self, _conn: &mut Conn, reason: CloseReason) {
    ///         let _ = self.0.send(reason);
    ///     }
    /// }
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let engine = Engine::builder()
    ///     .event_loops(1)
    ///     .max_outbound_buffer(1024)
    ///     .start(Why(tx), "tcp://127.0.0.1:0")?;
    /// let _client = std::net::TcpStream::connect(engine.local_addr())?;
    /// assert_eq!(
    ///     rx.recv_timeout(Duration::from_secs(10))?,
    ///     CloseReason::OutboundOverflow { limit: 1024 }
    /// );
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_outbound_buffer(mut self, bytes: usize) -> Self {
        self.cfg.max_outbound_bytes = bytes;
        self
    }

    /// Sets IPV6_V6ONLY on an IPv6 listener: `true` serves IPv6 clients
    /// only; `false` (the default, as the OS and `std` do) lets a
    /// `tcp://[::]:port` listener take IPv4 clients too.
    ///
    /// Any thread (before start).
    ///
    /// See the example on [`EngineBuilder`].
    pub fn ipv6_only(mut self, on: bool) -> Self {
        self.ipv6_only = on;
        self
    }

    /// How long `close` waits for queued output (default
    /// [`DEFAULT_CLOSE_LINGER`]); then the output is dropped and the
    /// connection reset, with
    /// [`CloseReason::LingerTimeout`](crate::CloseReason::LingerTimeout).
    ///
    /// Any thread (before start).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    /// use netreactor::{Action, CloseReason, Conn, Engine, EventHandler};
    ///
    /// /// Consumes nothing, and reports why each connection closed.
    /// struct Why(mpsc::Sender<CloseReason>);
    /// impl EventHandler for Why {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         conn.write_bytes(vec![0u8; 16 << 20]); // more than the socket holds
    ///         Action::Close
    ///     }
    ///     fn on_close(&self, _conn: &mut Conn, reason: CloseReason) {
    ///         let _ = self.0.send(reason);
    ///     }
    /// }
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let engine = Engine::builder()
    ///     .event_loops(1)
    ///     .close_linger(Duration::from_millis(50))
    ///     .start(Why(tx), "tcp://127.0.0.1:0")?;
    /// let _client = std::net::TcpStream::connect(engine.local_addr())?; // never reads
    /// assert_eq!(rx.recv_timeout(Duration::from_secs(10))?, CloseReason::LingerTimeout);
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close_linger(mut self, d: Duration) -> Self {
        self.cfg.close_linger = d;
        self
    }

    /// How long [`EngineHandle::stop`] lets connections flush
    /// (default [`DEFAULT_SHUTDOWN_DEADLINE`]).
    ///
    /// Any thread (before start).
    ///
    /// See the example on [`EngineBuilder`].
    pub fn shutdown_deadline(mut self, d: Duration) -> Self {
        self.shutdown_deadline = d;
        self
    }

    /// Makes SIGINT and SIGTERM stop the engine gracefully (as
    /// [`EngineHandle::stop`]). Installs signal handlers for the engine's
    /// lifetime and restores the previous ones when it stops; works whatever
    /// the other threads' signal masks are. One engine at a time may do this
    /// (`start` fails otherwise, with [`Error::Io`]). Default off.
    ///
    /// Any thread (before start).
    ///
    /// # Examples
    ///
    /// ```
    /// use nix::sys::signal::{raise, Signal};
    /// use netreactor::{Engine, EventHandler};
    ///
    /// struct Nothing;
    /// impl EventHandler for Nothing {}
    ///
    /// let engine = Engine::builder()
    ///     .event_loops(1)
    ///     .handle_signals(true)
    ///     .start(Nothing, "tcp://127.0.0.1:0")?;
    /// raise(Signal::SIGTERM)?; // as `kill -TERM` would: a graceful stop, not the end of the process
    /// engine.wait()?;
    /// assert!(engine.is_stopped());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handle_signals(mut self, on: bool) -> Self {
        self.handle_signals = on;
        self
    }

    /// Cuts each connection's byte stream into frames with `codec` (cloned
    /// once per connection): `on_frame` receives each frame, `write_frame`
    /// encodes. A decoding error closes only that connection, with
    /// `CloseReason::Codec`.
    ///
    /// Any thread (before start).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// # use std::time::Duration;
    /// use netreactor::codec::LengthFieldCodec;
    /// use netreactor::{Action, Conn, Engine, EventHandler, Frame};
    ///
    /// struct FrameEcho;
    /// impl EventHandler for FrameEcho {
    ///     fn on_frame(&self, conn: &mut Conn, frame: Frame<'_>) -> Action {
    ///         conn.write_frame(&frame).map_or(Action::Close, |_| Action::Continue)
    ///     }
    /// }
    /// let engine = Engine::builder().codec(LengthFieldCodec::new()).start(FrameEcho, "127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// client.write_all(b"\x00\x00\x00\x05hello\x00\x00")?; // a frame and half a header
    /// let mut reply = [0; 9];
    /// client.read_exact(&mut reply)?;
    /// assert_eq!(&reply, b"\x00\x00\x00\x05hello");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn codec<C>(mut self, codec: C) -> Self
    where
        C: Decoder<Item = Bytes> + for<'a> Encoder<&'a [u8]> + Clone + Send + Sync + 'static,
        <C as Decoder>::Error: fmt::Display,
        for<'a> <C as Encoder<&'a [u8]>>::Error: fmt::Display,
    {
        self.cfg.codec = Some(CodecPrototype(Box::new(codec)));
        self
    }

    /// Outbound watermarks: above `high` a connection turns unwritable,
    /// at or below `low` writable again (defaults 64 KiB / 32 KiB). `start`
    /// refuses `low > high` and `high == 0`.
    ///
    /// Any thread (before start).
    ///
    /// # Examples
    ///
    /// See [`EventHandler::on_writability_changed`](crate::EventHandler::on_writability_changed) for what they do.
    ///
    /// ```
    /// use netreactor::{Engine, Error, EventHandler};
    ///
    /// struct Nothing;
    /// impl EventHandler for Nothing {}
    ///
    /// let engine = Engine::builder().write_watermarks(4096, 16 * 1024).start(Nothing, "tcp://127.0.0.1:0")?;
    /// engine.stop();
    ///
    /// let refused = Engine::builder().write_watermarks(100, 10).start(Nothing, "tcp://127.0.0.1:0");
    /// assert!(matches!(refused, Err(Error::InvalidConfig(_))));
    /// # Ok::<(), netreactor::Error>(())
    /// ```
    pub fn write_watermarks(mut self, low: usize, high: usize) -> Self {
        self.cfg.high_watermark = high;
        self.cfg.low_watermark = low;
        self
    }

    /// Pause reading a connection while it is unwritable (default on), so
    /// a peer that sends but never reads cannot make us buffer its replies.
    ///
    /// Any thread (before start).
    ///
    /// See the example on [`EngineBuilder`].
    pub fn pause_reading_when_unwritable(mut self, on: bool) -> Self {
        self.cfg.pause_reading_when_unwritable = on;
        self
    }

    /// Close connections that receive nothing for `d` (default: never), with
    /// `CloseReason::Timeout(`[`TimeoutKind::ReadIdle`](crate::TimeoutKind::ReadIdle)`)`.
    ///
    /// Any thread (before start).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Read;
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    /// use netreactor::{CloseReason, Conn, Engine, EventHandler, TimeoutKind};
    ///
    /// /// Consumes nothing, and reports why each connection closed.
    /// struct Why(mpsc::Sender<CloseReason>);
    /// impl EventHandler for Why {
    ///     fn on_close(&self, _conn: &mut Conn, reason: CloseReason) {
    ///         let _ = self.0.send(reason);
    ///     }
    /// }
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let engine = Engine::builder()
    ///     .event_loops(1)
    ///     .read_idle_timeout(Duration::from_millis(20))
    ///     .start(Why(tx), "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?; // sends nothing
    /// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
    /// assert_eq!(client.read(&mut [0; 1])?, 0); // closed by the server
    /// assert_eq!(
    ///     rx.recv_timeout(Duration::from_secs(10))?,
    ///     CloseReason::Timeout(TimeoutKind::ReadIdle)
    /// );
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_idle_timeout(mut self, d: Duration) -> Self {
        self.cfg.read_idle_timeout = Some(d);
        self
    }

    /// Close connections whose queued output makes no progress for `d`
    /// (the peer is not reading; default: never), with
    /// `CloseReason::Timeout(`[`TimeoutKind::WriteIdle`](crate::TimeoutKind::WriteIdle)`)`;
    /// the queued output is dropped and the connection reset.
    ///
    /// Any thread (before start).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    /// use netreactor::{Action, CloseReason, Conn, Engine, EventHandler, TimeoutKind};
    ///
    /// /// Consumes nothing, and reports why each connection closed.
    /// struct Why(mpsc::Sender<CloseReason>);
    /// impl EventHandler for Why {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         conn.write_bytes(vec![0u8; 16 << 20]); // more than the socket holds
    ///         Action::Continue
    ///     }
    ///     fn on_close(&self, _conn: &mut Conn, reason: CloseReason) {
    ///         let _ = self.0.send(reason);
    ///     }
    /// }
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let engine = Engine::builder()
    ///     .event_loops(1)
    ///     .write_idle_timeout(Duration::from_millis(50))
    ///     .start(Why(tx), "tcp://127.0.0.1:0")?;
    /// let _client = std::net::TcpStream::connect(engine.local_addr())?; // never reads
    /// assert_eq!(
    ///     rx.recv_timeout(Duration::from_secs(10))?,
    ///     CloseReason::Timeout(TimeoutKind::WriteIdle)
    /// );
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_idle_timeout(mut self, d: Duration) -> Self {
        self.cfg.write_idle_timeout = Some(d);
        self
    }

    /// Close connections whose incomplete frame (or, without a codec,
    /// unconsumed input) is still incomplete `d` after its first byte
    /// arrived: the slowloris guard. The reason is
    /// `CloseReason::Timeout(`[`TimeoutKind::Frame`](crate::TimeoutKind::Frame)`)`.
    ///
    /// Default [`DEFAULT_FRAME_TIMEOUT`] (60 s, as nginx's header and body
    /// timeouts); `Duration::MAX` turns it off.
    ///
    /// Any thread (before start).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Write;
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    /// use netreactor::{Action, CloseReason, Conn, Engine, EventHandler, TimeoutKind};
    ///
    /// /// Consumes nothing, and reports why each connection closed.
    /// struct Why(mpsc::Sender<CloseReason>);
    /// impl EventHandler for Why {
    ///     fn on_traffic(&self, _conn: &mut Conn) -> Action {
    ///         Action::Continue // waits for a whole request that never comes
    ///     }
    ///     fn on_close(&self, _conn: &mut Conn, reason: CloseReason) {
    ///         let _ = self.0.send(reason);
    ///     }
    /// }
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let engine = Engine::builder()
    ///     .event_loops(1)
    ///     .frame_timeout(Duration::from_millis(20))
    ///     .start(Why(tx), "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// client.write_all(b"GET / HT")?; // and then nothing
    /// assert_eq!(
    ///     rx.recv_timeout(Duration::from_secs(10))?,
    ///     CloseReason::Timeout(TimeoutKind::Frame)
    /// );
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn frame_timeout(mut self, d: Duration) -> Self {
        self.cfg.frame_timeout = Some(d);
        self
    }

    /// Bytes all connections together may hold in incomplete inbound
    /// messages (a frame, or unconsumed input, waiting for the rest)
    /// (default [`DEFAULT_INBOUND_BUDGET_BYTES`]; at least 1). Past it, the
    /// connections holding the most, engine-wide, are closed with
    /// [`CloseReason::InboundBudget`](crate::CloseReason::InboundBudget),
    /// biggest first, until the total is back under (a loop whose read
    /// crosses the budget asks the loop with the biggest holder to shed it,
    /// so small clients on one loop are not shed for a big one on another),
    /// and slow senders of huge messages cannot exhaust memory together
    /// (each is also capped by
    /// [`max_inbound_buffer`](EngineBuilder::max_inbound_buffer)). A
    /// connection's holding is counted as the buffer capacity it keeps,
    /// which is the memory it costs: up to twice the bytes received while a
    /// message grows (a buffer grows by doubling), so a budget of B bytes
    /// admits between B/2 and B bytes of partial messages.
    ///
    /// Any thread (before start).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Write;
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    /// use netreactor::{Action, CloseReason, Conn, Engine, EventHandler};
    ///
    /// /// Consumes nothing, and reports why each connection closed.
    /// struct Why(mpsc::Sender<CloseReason>);
    /// impl EventHandler for Why {
    ///     fn on_traffic(&self, _conn: &mut Conn) -> Action {
    ///         Action::Continue
    ///     }
    ///     fn on_close(&self, _conn: &mut Conn, reason: CloseReason) {
    ///         let _ = self.0.send(reason);
    ///     }
    /// }
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let engine = Engine::builder()
    ///     .event_loops(1)
    ///     .inbound_budget(1024)
    ///     .start(Why(tx), "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// client.write_all(&[0; 4096])?; // a partial message bigger than the whole budget
    /// assert_eq!(
    ///     rx.recv_timeout(Duration::from_secs(10))?,
    ///     CloseReason::InboundBudget { limit: 1024 }
    /// );
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn inbound_budget(mut self, bytes: usize) -> Self {
        self.cfg.inbound_budget = bytes;
        self
    }

    /// At most `n` open connections (at least 1); beyond that `policy`
    /// applies.
    ///
    /// Any thread (before start).
    ///
    /// See the example on [`MaxConnectionsPolicy`].
    pub fn max_connections(mut self, n: usize, policy: MaxConnectionsPolicy) -> Self {
        self.cfg.max_connections = Some((n, policy));
        self
    }

    /// Calls [`EventHandler::on_tick`](crate::EventHandler::on_tick) on loop 0 (default off).
    ///
    /// Any thread (before start).
    ///
    /// See the example on [`EventHandler::on_tick`](crate::EventHandler::on_tick).
    pub fn ticker(mut self, on: bool) -> Self {
        self.cfg.ticker = on;
        self
    }

    /// Starts the engine and blocks until it has stopped (by
    /// [`EngineHandle::stop`] from another thread or a callback,
    /// [`Action::Shutdown`], or a signal with
    /// [`handle_signals`](EngineBuilder::handle_signals)).
    ///
    /// Any thread (before start): the calling thread serves as nothing but
    /// the waiter (and runs `on_boot`).
    ///
    /// # Errors
    /// As [`EngineBuilder::start`], and [`Error::EngineFailed`] when the
    /// engine stopped because one of its threads ended unexpectedly.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use netreactor::{Action, Conn, Engine, EngineHandle, EventHandler};
    ///
    /// /// Serves until a client says "stop".
    /// struct UntilStop;
    /// impl EventHandler for UntilStop {
    ///     fn on_boot(&self, engine: &EngineHandle) -> Action {
    ///         let addr = engine.local_addr(); // the port is known now: start a client
    ///         std::thread::spawn(move || {
    ///             let mut client = std::net::TcpStream::connect(addr).expect("connect");
    ///             client.write_all(b"stop").expect("write");
    ///         });
    ///         Action::Continue
    ///     }
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         if conn.peek_all() == b"stop" {
    ///             Action::Shutdown
    ///         } else {
    ///             Action::Continue
    ///         }
    ///     }
    /// }
    ///
    /// Engine::builder().event_loops(1).run(UntilStop, "tcp://127.0.0.1:0")?; // returns once stopped
    /// # Ok::<(), netreactor::Error>(())
    /// ```
    pub fn run<S: Service>(self, handler: S, addrs: impl ListenAddrs) -> Result<()> {
        self.start(handler, addrs)?.wait()
    }

    /// Starts the engine in the background and returns a handle to it, once
    /// `on_boot` has run and the threads are up. Stop it with
    /// [`EngineHandle::stop`].
    ///
    /// Any thread (before start).
    ///
    /// # Errors
    /// - [`Error::InvalidConfig`]: an option is out of range (the message
    ///   names it);
    /// - [`Error::InvalidAddress`]: `addr` has an unknown scheme or does not
    ///   resolve;
    /// - [`Error::Io`]: binding or listening failed (the port is taken, say),
    ///   another engine already handles signals, or a thread could not be
    ///   started;
    /// - [`Error::EngineFailed`]: `on_boot` panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// struct Echo;
    /// impl EventHandler for Echo {
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         conn.echo_all();
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(2).start(Echo, "tcp://127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// client.write_all(b"ping")?;
    /// let mut buf = [0; 4];
    /// client.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"ping");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start<S: Service>(self, handler: S, addrs: impl ListenAddrs) -> Result<EngineHandle> {
        self.validate()?;
        let addrs = addrs.listen_addrs()?;
        self.start_one(handler, addrs)
    }

    /// Starts an engine that listens nowhere: a pure client, whose
    /// connections come from [`EngineHandle::dial`] (or
    /// [`enroll`](EngineHandle::enroll)), with the loops, codecs, timers and
    /// handles of any engine (gnet's `Client`). `on_boot` is the place to
    /// dial the first connections.
    ///
    /// Any thread (before start).
    ///
    /// # Errors
    /// As [`start`](EngineBuilder::start), without the address errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::time::Duration;
    /// use netreactor::{Action, Conn, Engine, EngineHandle, EventHandler};
    ///
    /// /// Dials one server at boot and says hello to it.
    /// struct Hello(std::net::SocketAddr);
    /// impl EventHandler for Hello {
    ///     fn on_boot(&self, engine: &EngineHandle) -> Action {
    ///         let _ = engine.dial(&self.0.to_string(), Duration::from_secs(5));
    ///         Action::Continue
    ///     }
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         conn.write(b"hello");
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let engine = Engine::builder().event_loops(1).start_client(Hello(server.local_addr()?))?;
    /// assert!(engine.local_addrs().is_empty());
    /// let (mut peer, _) = server.accept()?;
    /// let mut got = [0; 5];
    /// peer.read_exact(&mut got)?;
    /// assert_eq!(&got, b"hello");
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_client<S: Service>(self, handler: S) -> Result<EngineHandle> {
        self.validate()?;
        self.start_one(handler, Vec::new())
    }

    /// Adds a service on its own listeners ([`Bind`]): an engine of several
    /// services starts with [`start_bound`](EngineBuilder::start_bound) (or
    /// [`run_bound`](EngineBuilder::run_bound)), each connection served by
    /// the service of the listener it came from. Engine-wide options (loops,
    /// limits, timeouts, the default codec) apply to every service.
    ///
    /// Any thread (before start). See the example on [`Bind`].
    pub fn bind(mut self, service: Bind) -> Self {
        self.binds.push(service);
        self
    }

    /// Starts the services added with [`bind`](EngineBuilder::bind), as
    /// [`start`](EngineBuilder::start) starts one: their listeners are the
    /// engine's, in the order bound (`Origin::Accepted { listener }`
    /// numbers them so), and `on_boot`, `on_tick` and `on_shutdown` run for
    /// every service (ticking at the soonest any asks for). A service's
    /// state is boxed per connection (no allocation when it is zero-sized,
    /// as for an [`EventHandler`](crate::EventHandler)); an engine of one service keeps it
    /// inline.
    ///
    /// Any thread (before start).
    ///
    /// # Errors
    /// As [`start`](EngineBuilder::start); [`Error::InvalidConfig`] when no
    /// service is bound or two share a name; [`Error::InvalidAddress`] for
    /// a service's address that does not parse.
    ///
    /// See the example on [`Bind`].
    pub fn start_bound(mut self) -> Result<EngineHandle> {
        self.validate()?;
        let binds = mem::take(&mut self.binds);
        if binds.is_empty() {
            return Err(Error::InvalidConfig(
                "start_bound: no service bound (EngineBuilder::bind)".into(),
            ));
        }
        let mut addrs = Vec::new();
        for (i, b) in binds.iter().enumerate() {
            if binds[..i].iter().any(|earlier| earlier.name == b.name) {
                return Err(Error::InvalidConfig(format!(
                    "start_bound: two services are named {:?}",
                    b.name
                )));
            }
            let own = b.addrs.clone().map_err(Error::InvalidAddress)?;
            self.cfg.listener_service.extend(std::iter::repeat_n(i, own.len()));
            addrs.extend(own);
        }
        self.cfg.service_codecs = binds.iter().map(|b| b.codec.clone()).collect();
        let services = binds.iter().map(|b| b.info.clone()).collect();
        self.start_on(Router::new(&binds), services, addrs)
    }

    /// [`start_bound`](EngineBuilder::start_bound), then wait until the
    /// engine stops, as [`run`](EngineBuilder::run).
    ///
    /// Any thread (before start).
    ///
    /// # Errors
    /// As [`start_bound`](EngineBuilder::start_bound) and
    /// [`run`](EngineBuilder::run).
    pub fn run_bound(self) -> Result<()> {
        self.start_bound()?.wait()
    }

    /// An engine of one service on `addrs`.
    fn start_one<S: Service>(self, service: S, addrs: Vec<Address>) -> Result<EngineHandle> {
        if !self.binds.is_empty() {
            return Err(Error::InvalidConfig(
                "services were bound (EngineBuilder::bind): start them with start_bound".into(),
            ));
        }
        let info = vec![ServiceInfo::of::<S>("")];
        self.start_on(One(service), info, addrs)
    }

    /// `start` with the addresses parsed (none: a client-only engine).
    fn start_on<S: Serve>(self, handler: S, services: Vec<ServiceInfo>, addrs: Vec<Address>) -> Result<EngineHandle> {
        if addrs.len() > MAX_LISTENERS {
            return Err(Error::InvalidConfig(format!(
                "at most {MAX_LISTENERS} listen addresses, got {}",
                addrs.len()
            )));
        }
        let n = self.event_loops;
        let stack_bytes = loop_stack_bytes(&services);
        let (inherited, hand_off) = inherit::collect(&self.inherit, &addrs)?;
        let tls_servers = self.tls_servers(&addrs)?;
        let (bound, mut acceptor_listeners, mut loop_listeners) = self.open_listeners(&addrs, inherited)?;

        let signals = if self.handle_signals {
            Some(sys::signal::SignalReader::install()?)
        } else {
            None
        };

        let mut loops = Vec::with_capacity(n);
        let mut inboxes = Vec::with_capacity(n);
        for _ in 0..n {
            let (mailbox, inbox) = mailbox::mailbox()?;
            loops.push(LoopShared::new(mailbox));
            inboxes.push(inbox);
        }
        let (coord_mailbox, coord_inbox) = mailbox::mailbox()?;
        let shared = Arc::new(EngineShared::new(
            loops,
            bound,
            coord_mailbox,
            self.shutdown_deadline,
            services,
        ));
        #[cfg(feature = "tls")]
        shared.tls_servers.install(tls_servers);
        #[cfg(not(feature = "tls"))]
        let () = tls_servers;
        let handle = EngineHandle::from_shared(shared.clone());
        record_listeners(
            &shared.listeners,
            handle.local_addrs(),
            &mut acceptor_listeners,
            &mut loop_listeners,
        );
        let handler = Arc::new(handler);
        let boot = {
            // `stop()` in on_boot must only ask: nothing runs yet to wait for.
            let _serving = handle::serve(&shared);
            catch_unwind(AssertUnwindSafe(|| handler.on_boot(&handle)))
        };
        let boot = boot.map_err(|p| Error::EngineFailed(format!("on_boot panicked: {}", panic_message(p.as_ref()))))?;

        let cores = self.cores()?;
        let cfg = Arc::new(self.cfg);
        let mut loop_threads = Vec::with_capacity(n);
        for (i, inbox) in inboxes.into_iter().enumerate() {
            let core = (!cores.is_empty()).then(|| cores[i % cores.len()]);
            let listeners = mem::take(&mut loop_listeners[i]);
            let (h, sh, c) = (handler.clone(), shared.clone(), cfg.clone());
            let make = move || EventLoop::new(i, h, inbox, sh, c, listeners);
            // A loop makes its UDP sockets' states here: a large state is
            // made on a stack sized for it, not on the caller's.
            let made = if stack_bytes > LOOP_STACK_BASE_BYTES {
                std::thread::scope(|s| {
                    std::thread::Builder::new()
                        .stack_size(stack_bytes)
                        .spawn_scoped(s, make)?
                        .join()
                        .unwrap_or_else(|p| std::panic::resume_unwind(p))
                })
            } else {
                make()
            };
            let spawned = made.and_then(|lp| {
                let shared = shared.clone();
                let thread = std::thread::Builder::new().name(format!("nr-loop-{i}"));
                thread.stack_size(stack_bytes).spawn(move || {
                    let _serving = handle::serve(&shared);
                    if let Some(core) = core {
                        core_affinity::set_for_current(core);
                    }
                    // Everything user code does on the loop is guarded; this
                    // catches the rest, so the engine stops whole instead of
                    // limping on without this loop.
                    if let Err(p) = catch_unwind(AssertUnwindSafe(move || lp.run())) {
                        shared.loops[i].forget_connections();
                        shared.fail(format!(
                            "event loop {i} (thread nr-loop-{i}) panicked: {}",
                            panic_message(p.as_ref())
                        ));
                    }
                })
            });
            match spawned {
                Ok(t) => loop_threads.push(t),
                Err(e) => {
                    abort_start(&shared, loop_threads);
                    return Err(e.into());
                }
            }
        }

        let coordinator = Coordinator::new(
            acceptor_listeners,
            signals,
            coord_inbox,
            shared.clone(),
            self.load_balancing.into_balancer(),
            cfg.clone(),
            handler,
            loop_threads,
        );
        let spawned = coordinator.and_then(|c| {
            let shared = shared.clone();
            std::thread::Builder::new().name("nr-accept".into()).spawn(move || {
                let _serving = handle::serve(&shared);
                if let Err(p) = catch_unwind(AssertUnwindSafe(move || c.run())) {
                    // Its shutdown sequence failed: stop the loops by message.
                    shared.fail(format!(
                        "the coordinator (thread nr-accept) panicked while stopping: {}",
                        panic_message(p.as_ref())
                    ));
                    for l in &shared.loops {
                        let _ = l.mailbox.post(Task::Stop(Some(Instant::now())));
                    }
                    shared.mark_done();
                }
            })
        });
        let t = match spawned {
            Ok(t) => t,
            Err(e) => {
                // The loop threads went with the coordinator: stop them by message.
                abort_start(&shared, Vec::new());
                return Err(e.into());
            }
        };
        shared.set_coordinator_thread(t);
        if boot == Action::Shutdown {
            handle.request_stop(Duration::ZERO);
        }
        if let Some(ack) = hand_off {
            ack.ready(); // serving: the old process may stop accepting
        }
        Ok(handle)
    }
}

/// Listener settings from the builder (0 backlog: the system's).
#[derive(Debug, Clone, Default)]
struct ListenSettings {
    backlog: i32,
    device: Option<String>,
    freebind: bool,
    transparent: bool,
    recv_buffer: Option<usize>,
    send_buffer: Option<usize>,
}

/// What `bind` opened: the addresses as bound (real ports), the listeners the
/// acceptor serves, and each loop's own (`reuse_port`).
type Bound = (Vec<Address>, Vec<ListenSocket>, Vec<Vec<ListenSocket>>);

impl EngineBuilder {
    /// Binds every address. TCP listeners go to the acceptor, or with
    /// `reuse_port` one per loop sharing the port; Unix listeners always go
    /// to the acceptor. An address with inherited sockets is served on them
    /// instead (`place_inherited`). On error, everything bound so far is
    /// closed (and socket files removed) as the values drop.
    fn open_listeners(&self, addrs: &[Address], mut inherited: Vec<Vec<Inherited>>) -> Result<Bound> {
        let n = self.event_loops;
        let listen = sys::socket::ListenOptions {
            reuse_port: self.reuse_port,
            backlog: if self.listen.backlog > 0 {
                self.listen.backlog
            } else {
                sys::socket::listen_backlog()
            },
            ipv6_only: self.ipv6_only,
            device: self.listen.device.clone(),
            freebind: self.listen.freebind,
            transparent: self.listen.transparent,
            recv_buffer: self.listen.recv_buffer,
            send_buffer: self.listen.send_buffer,
        };
        let mut bound = Vec::with_capacity(addrs.len());
        let mut acceptor = Vec::new();
        let mut per_loop: Vec<Vec<ListenSocket>> = (0..n).map(|_| Vec::new()).collect();
        for (index, addr) in addrs.iter().enumerate() {
            let socket = |fd, file| ListenSocket {
                fd,
                index,
                tcp: matches!(addr, Address::Tcp(_) | Address::Tls(_)),
                udp: matches!(addr, Address::Udp(_)),
                file,
            };
            let in_use = |e: std::io::Error| Error::Io(std::io::Error::new(e.kind(), format!("{addr}: {e}")));
            let taken = mem::take(&mut inherited[index]);
            if !taken.is_empty() {
                bound.push(addr.clone());
                for (k, s) in taken.into_iter().enumerate() {
                    self.place_inherited(k, socket(s.fd, s.file), &mut acceptor, &mut per_loop);
                }
                continue;
            }
            match addr {
                Address::Tcp(a) | Address::Tls(a) => {
                    let first = sys::socket::tcp_listener(*a, &listen).map_err(in_use)?;
                    let real = sys::socket::local_addr(first.as_fd()).unwrap_or(*a);
                    bound.push(match addr {
                        Address::Tls(_) => Address::Tls(real),
                        _ => Address::Tcp(real),
                    });
                    if self.reuse_port {
                        per_loop[0].push(socket(first, None));
                        for own in per_loop.iter_mut().skip(1) {
                            own.push(socket(sys::socket::tcp_listener(real, &listen).map_err(in_use)?, None));
                        }
                    } else {
                        acceptor.push(socket(first, None));
                    }
                }
                Address::Udp(a) => {
                    // Room for bursts while a loop serves a batch (the
                    // kernel caps it at rmem_max).
                    let listen = sys::socket::ListenOptions {
                        recv_buffer: listen.recv_buffer.or(Some(DEFAULT_UDP_RECV_BUFFER_BYTES)),
                        ..listen.clone()
                    };
                    // One SO_REUSEPORT socket per loop, always; but a port
                    // someone else holds is refused, as TCP refuses it,
                    // unless the user asked to share it (`reuse_port`).
                    let a = if self.reuse_port {
                        *a
                    } else {
                        sys::socket::udp_port_is_free(*a, &listen).map_err(in_use)?
                    };
                    let first = sys::socket::udp_socket(a, &listen).map_err(in_use)?;
                    let real = sys::socket::local_addr(first.as_fd()).unwrap_or(a);
                    bound.push(Address::Udp(real));
                    per_loop[0].push(socket(first, None));
                    for own in per_loop.iter_mut().skip(1) {
                        own.push(socket(sys::socket::udp_socket(real, &listen).map_err(in_use)?, None));
                    }
                }
                Address::Unix(path) => {
                    let (fd, file) = sys::socket::unix_listener(path, &listen).map_err(in_use)?;
                    bound.push(addr.clone());
                    acceptor.push(socket(fd, Some(file)));
                }
                Address::UnixAbstract(name) => {
                    let fd = sys::socket::unix_abstract_listener(name, &listen).map_err(in_use)?;
                    bound.push(addr.clone());
                    acceptor.push(socket(fd, None));
                }
            }
        }
        Ok((bound, acceptor, per_loop))
    }

    /// The cores the loops are pinned to, in loop order (empty: unpinned).
    fn cores(&self) -> Result<Vec<core_affinity::CoreId>> {
        let all = || core_affinity::get_core_ids().unwrap_or_default();
        match &self.pinned {
            Some(wanted) => {
                let all = all();
                wanted
                    .iter()
                    .map(|&id| {
                        all.iter().copied().find(|c| c.id == id).ok_or_else(|| {
                            Error::InvalidConfig(format!(
                                "pin_threads_to: core {id} is not among this machine's {} cores",
                                all.len()
                            ))
                        })
                    })
                    .collect()
            }
            None if self.pin_threads => Ok(all()),
            None => Ok(Vec::new()),
        }
    }

    /// Every option in range, or the first that is not, by name.
    fn validate(&self) -> Result<()> {
        let cfg = &self.cfg;
        let invalid = |what: String| Err(Error::InvalidConfig(what));
        if !(1..=MAX_EVENT_LOOPS).contains(&self.event_loops) {
            return invalid(format!(
                "event_loops must be 1..={MAX_EVENT_LOOPS}, got {}",
                self.event_loops
            ));
        }
        if !(MIN_READ_BUFFER_BYTES..=MAX_READ_BUFFER_BYTES).contains(&cfg.read_buffer_bytes) {
            return invalid(format!(
                "read_buffer_size must be {MIN_READ_BUFFER_BYTES}..={MAX_READ_BUFFER_BYTES} bytes, got {}",
                cfg.read_buffer_bytes
            ));
        }
        if cfg.max_inbound_bytes == 0 {
            return invalid("max_inbound_buffer must be at least 1 byte".into());
        }
        if cfg.max_outbound_bytes == 0 {
            return invalid("max_outbound_buffer must be at least 1 byte".into());
        }
        if cfg.high_watermark == 0 || cfg.low_watermark > cfg.high_watermark {
            return invalid(format!(
                "write_watermarks needs 0 < high and low <= high, got low {} high {}",
                cfg.low_watermark, cfg.high_watermark
            ));
        }
        if cfg.inbound_budget == 0 {
            return invalid("inbound_budget must be at least 1 byte".into());
        }
        if cfg.max_connections.is_some_and(|(n, _)| n == 0) {
            return invalid("max_connections must be at least 1".into());
        }
        Ok(())
    }
}

/// A loop thread's stack without a state to hold: Rust's default for a
/// spawned thread (or `RUST_MIN_STACK`, as for any thread).
const LOOP_STACK_BASE_BYTES: usize = 2 * 1024 * 1024;

/// Copies of a connection's state a loop's stack may hold at once on its
/// way into the slot and out of it (an unoptimised build makes a dozen or
/// more: a 128 KiB state overflowed the default stack, aborting the process).
const STATE_COPIES_ON_STACK: usize = 32;

/// The stack a loop thread needs for the largest state of `services`.
fn loop_stack_bytes(services: &[ServiceInfo]) -> usize {
    let base = std::env::var("RUST_MIN_STACK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(LOOP_STACK_BASE_BYTES);
    let largest = services.iter().map(|s| s.state_size).max().unwrap_or(0);
    base.saturating_add(largest.saturating_mul(STATE_COPIES_ON_STACK))
}

fn abort_start(shared: &EngineShared, threads: Vec<JoinHandle<()>>) {
    let deadline = Instant::now();
    for l in &shared.loops {
        let _ = l.mailbox.post(Task::Stop(Some(deadline)));
    }
    for t in threads {
        let _ = t.join();
    }
}

#[cfg(test)]
mod tests {
    //! Defence in depth: a panic outside every guard (injected here, as a bug
    //! in the engine would cause one) stops the whole engine, and `wait`
    //! says which thread died and why. Needs the crate's internals, so it
    //! lives here rather than in tests/.

    use crate::handler::EventHandler;
    use std::io::Read;
    use std::net::TcpStream;
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::conn::Conn;
    use crate::error::CloseReason;

    use std::sync::Mutex;

    struct Recorder(Mutex<mpsc::Sender<CloseReason>>);
    impl EventHandler for Recorder {
        fn on_close(&self, _conn: &mut Conn, reason: CloseReason) {
            let _ = self.0.lock().unwrap().send(reason);
        }
    }

    fn engine(loops: usize) -> (EngineHandle, mpsc::Receiver<CloseReason>) {
        let (tx, rx) = mpsc::channel();
        let engine = Engine::builder()
            .event_loops(loops)
            .load_balancing(LoadBalancing::RoundRobin)
            .start(Recorder(Mutex::new(tx)), "tcp://127.0.0.1:0")
            .unwrap();
        (engine, rx)
    }

    fn connect(engine: &EngineHandle, n: usize) -> Vec<TcpStream> {
        let clients: Vec<_> = (0..n)
            .map(|_| TcpStream::connect(engine.local_addr()).unwrap())
            .collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        while engine.stats().accepted < n as u64 {
            assert!(Instant::now() < deadline, "connections not registered");
            std::thread::yield_now();
        }
        clients
    }

    #[test]
    fn a_dead_loop_stops_the_whole_engine_and_wait_names_it() {
        let (engine, closes) = engine(2);
        let mut clients = connect(&engine, 2); // one on each loop (round robin)
        engine.shared.loops[1].mailbox.post(Task::Crash).unwrap();
        let err = engine.wait().expect_err("the engine must report the dead loop");
        let msg = err.to_string();
        assert!(
            msg.contains("nr-loop-1") && msg.contains("injected crash on loop 1"),
            "{msg}"
        );
        assert!(engine.is_stopped());
        // The other loop's connection was closed with a reason, as at a stop.
        assert_eq!(
            closes.recv_timeout(Duration::from_secs(5)).unwrap(),
            CloseReason::Shutdown
        );
        // Both peers see their connection end.
        for c in &mut clients {
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            assert!(matches!(c.read(&mut [0; 1]), Ok(0) | Err(_)));
        }
        assert_eq!(engine.connection_count(), 0);
    }

    #[test]
    fn a_dead_acceptor_stops_the_whole_engine_and_wait_names_it() {
        let (engine, closes) = engine(1);
        let _client = connect(&engine, 1);
        engine.shared.coordinator.post(Task::Crash).unwrap();
        let msg = engine
            .wait()
            .expect_err("the engine must report the dead acceptor")
            .to_string();
        assert!(
            msg.contains("nr-accept") && msg.contains("injected crash on the acceptor"),
            "{msg}"
        );
        assert_eq!(
            closes.recv_timeout(Duration::from_secs(5)).unwrap(),
            CloseReason::Shutdown
        );
        assert!(
            TcpStream::connect(engine.local_addr()).is_err(),
            "the listener must be closed"
        );
    }
}
