//! The options the loops and the acceptor read, fixed when the engine starts.

use std::time::Duration;

use crate::framing::CodecPrototype;

/// The options the loops read, fixed at start.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) read_buffer_bytes: usize,
    pub(crate) max_inbound_bytes: usize,
    pub(crate) max_outbound_bytes: usize,
    pub(crate) events_per_wait: usize,
    pub(crate) tasks_per_iteration: usize,
    pub(crate) close_linger: Duration,
    pub(crate) tcp_nodelay: bool,
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
    pub(crate) codec: Option<CodecPrototype>,
}

impl Config {
    pub(crate) fn has_idle_timeouts(&self) -> bool {
        self.read_idle_timeout.is_some() || self.write_idle_timeout.is_some() || self.frame_timeout.is_some()
    }

    /// Whether every connection needs its timestamps from the start (the
    /// frame timeout needs them only once a partial message waits).
    pub(crate) fn times_every_connection(&self) -> bool {
        self.read_idle_timeout.is_some() || self.write_idle_timeout.is_some()
    }
}

/// What happens to new connections once `max_connections` are open.
///
/// # Examples
///
/// ```
/// use netreactor::{Engine, EventHandler, MaxConnectionsPolicy};
/// struct Nothing;
/// impl EventHandler for Nothing {}
/// let engine = Engine::builder()
///     .max_connections(10_000, MaxConnectionsPolicy::Pause)
///     .start(Nothing, "tcp://127.0.0.1:0")?;
/// engine.stop();
/// # Ok::<(), netreactor::Error>(())
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
