//! The options the loops and the acceptor read, fixed when the engine starts.

use std::time::Duration;

use crate::framing::CodecPrototype;
use crate::sys::socket::ConnOptions;

/// The options the loops read, fixed at start.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) read_buffer_bytes: usize,
    pub(crate) max_inbound_bytes: usize,
    pub(crate) max_outbound_bytes: usize,
    pub(crate) events_per_wait: usize,
    pub(crate) tasks_per_iteration: usize,
    pub(crate) close_linger: Duration,
    /// Options every accepted or enrolled connection gets (TCP_NODELAY,
    /// keepalive, SO_LINGER 0).
    pub(crate) conn_options: ConnOptions,
    pub(crate) high_watermark: usize,
    pub(crate) low_watermark: usize,
    pub(crate) pause_reading_when_unwritable: bool,
    pub(crate) read_idle_timeout: Option<Duration>,
    pub(crate) write_idle_timeout: Option<Duration>,
    pub(crate) frame_timeout: Option<Duration>,
    pub(crate) max_connections: Option<(usize, MaxConnectionsPolicy)>,
    /// Bytes all connections together may hold in incomplete inbound
    /// messages before the largest holders are closed.
    pub(crate) inbound_budget: usize,
    pub(crate) ticker: bool,
    /// While draining, close each connection once it is idle.
    pub(crate) drain_closes_idle: bool,
    pub(crate) codec: Option<CodecPrototype>,
    /// Bound services (`EngineBuilder::bind`): each one's own codec, if it
    /// has one (empty for an engine of one service).
    pub(crate) service_codecs: Vec<Option<CodecPrototype>>,
    /// Each listener's service, by listener number (empty: all service 0).
    pub(crate) listener_service: Vec<usize>,
    /// The server config of every `tls://` listener (`EngineBuilder::tls`).
    #[cfg(feature = "tls")]
    pub(crate) tls_server: Option<std::sync::Arc<rustls::ServerConfig>>,
    #[cfg(feature = "tls")]
    pub(crate) tls_handshake_timeout: Duration,
    #[cfg(feature = "tls")]
    pub(crate) tls_max_handshake_bytes: usize,
}

impl Config {
    /// The service of a connection accepted on `listener` (`None`: dialed
    /// or enrolled, with the service it was given, `given`).
    pub(crate) fn service_of(&self, listener: Option<usize>, given: usize) -> usize {
        match listener {
            Some(l) => self.listener_service.get(l).copied().unwrap_or(0),
            None => given,
        }
    }

    /// The codec that frames `service`'s connections: its own, else the
    /// engine's.
    pub(crate) fn codec_of(&self, service: usize) -> Option<&CodecPrototype> {
        match self.service_codecs.get(service) {
            Some(Some(own)) => Some(own),
            _ => self.codec.as_ref(),
        }
    }

    pub(crate) fn has_idle_timeouts(&self) -> bool {
        self.read_idle_timeout.is_some() || self.write_idle_timeout.is_some() || self.frame_timeout.is_some()
    }

    /// Whether every connection needs its timestamps from the start (the
    /// frame timeout needs them only once a partial message waits).
    pub(crate) fn times_every_connection(&self) -> bool {
        self.read_idle_timeout.is_some() || self.write_idle_timeout.is_some()
    }
}

/// TCP keepalive probes: after `idle` without traffic, a probe every
/// `interval`, and the connection is dropped after `retries` unanswered
/// ones. For [`EngineBuilder::tcp_keepalive`](crate::EngineBuilder::tcp_keepalive)
/// and [`Conn::set_keepalive`](crate::Conn::set_keepalive).
///
/// ```
/// use std::time::Duration;
/// use netreactor::{Engine, EventHandler, Keepalive};
/// struct Nothing;
/// impl EventHandler for Nothing {}
/// let probes = Keepalive { idle: Duration::from_secs(60), interval: Duration::from_secs(10), retries: 5 };
/// let engine = Engine::builder().tcp_keepalive(probes).start(Nothing, "tcp://127.0.0.1:0")?;
/// engine.stop();
/// # Ok::<(), netreactor::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Time without traffic before the first probe (TCP_KEEPIDLE).
    pub idle: Duration,
    /// Time between probes (TCP_KEEPINTVL).
    pub interval: Duration,
    /// Unanswered probes before the connection is dropped (TCP_KEEPCNT).
    pub retries: u32,
}

impl Keepalive {
    pub(crate) fn to_parts(self) -> (Duration, Duration, u32) {
        (self.idle, self.interval, self.retries)
    }
}

/// What happens to new connections once
/// [`max_connections`](crate::EngineBuilder::max_connections) are open.
///
/// Any thread (a plain value).
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// use std::io::Read;
/// use netreactor::{Engine, EventHandler, MaxConnectionsPolicy};
///
/// struct Nothing;
/// impl EventHandler for Nothing {}
///
/// let engine = Engine::builder()
///     .event_loops(1)
///     .max_connections(1, MaxConnectionsPolicy::Reject)
///     .start(Nothing, "tcp://127.0.0.1:0")?;
/// let _first = std::net::TcpStream::connect(engine.local_addr())?;
/// # let deadline = std::time::Instant::now() + Duration::from_secs(10);
/// # while engine.connection_count() < 1 && std::time::Instant::now() < deadline {
/// #     std::thread::yield_now();
/// # }
/// let mut second = std::net::TcpStream::connect(engine.local_addr())?; // the kernel accepts it...
/// # second.set_read_timeout(Some(Duration::from_secs(10)))?;
/// assert_eq!(second.read(&mut [0; 1])?, 0); // ...and the engine closes it at once
/// assert_eq!(engine.stats().rejected, 1);
/// engine.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MaxConnectionsPolicy {
    /// Accept and close them at once (counted in `Stats::rejected`).
    #[default]
    Reject,
    /// Stop accepting; they wait in the kernel's backlog until a slot frees.
    Pause,
}
