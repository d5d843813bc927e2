//! Every limit and default of the engine, as a named constant with its unit.
//! docs/limits.md lists them with the reasoning behind each.
//!
//! The `DEFAULT_*` values are what [`EngineBuilder`](crate::EngineBuilder)
//! starts from; the others are fixed. Constants: any thread.
//!
//! # Examples
//!
//! ```
//! use netreactor::options::{DEFAULT_HIGH_WATERMARK_BYTES, DEFAULT_LOW_WATERMARK_BYTES};
//! use netreactor::{Engine, EventHandler};
//!
//! struct Nothing;
//! impl EventHandler for Nothing {}
//!
//! // Twice the default watermarks, for a server of large replies.
//! let engine = Engine::builder()
//!     .write_watermarks(2 * DEFAULT_LOW_WATERMARK_BYTES, 2 * DEFAULT_HIGH_WATERMARK_BYTES)
//!     .start(Nothing, "tcp://127.0.0.1:0")?;
//! engine.stop();
//! # Ok::<(), netreactor::Error>(())
//! ```

use std::time::Duration;

/// Size of each loop's shared read buffer, and the most one `read(2)` takes.
///
/// # Examples
///
/// ```
/// use netreactor::options::{DEFAULT_READ_BUFFER_BYTES, MAX_READ_BUFFER_BYTES, MIN_READ_BUFFER_BYTES};
///
/// assert_eq!(DEFAULT_READ_BUFFER_BYTES, 64 * 1024);
/// assert!((MIN_READ_BUFFER_BYTES..=MAX_READ_BUFFER_BYTES).contains(&DEFAULT_READ_BUFFER_BYTES));
/// ```
pub const DEFAULT_READ_BUFFER_BYTES: usize = 64 * 1024;
/// The smallest read buffer `read_buffer_size` accepts.
///
/// # Examples
///
/// ```
/// use netreactor::options::MIN_READ_BUFFER_BYTES;
///
/// assert_eq!(MIN_READ_BUFFER_BYTES, 1024);
/// ```
///
/// [`EngineBuilder::read_buffer_size`](crate::EngineBuilder::read_buffer_size) shows it refused.
pub const MIN_READ_BUFFER_BYTES: usize = 1024;
/// The largest read buffer `read_buffer_size` accepts (one per loop).
///
/// # Examples
///
/// ```
/// use netreactor::options::MAX_READ_BUFFER_BYTES;
/// use netreactor::{Engine, Error, EventHandler};
///
/// struct Nothing;
/// impl EventHandler for Nothing {}
///
/// assert_eq!(MAX_READ_BUFFER_BYTES, 256 * 1024 * 1024);
/// let refused = Engine::builder()
///     .read_buffer_size(MAX_READ_BUFFER_BYTES + 1)
///     .start(Nothing, "tcp://127.0.0.1:0");
/// assert!(matches!(refused, Err(Error::InvalidConfig(_))));
/// ```
pub const MAX_READ_BUFFER_BYTES: usize = 256 * 1024 * 1024;
/// The most addresses one engine may listen on.
pub const MAX_LISTENERS: usize = 64;
/// The most event loops one engine may have.
///
/// # Examples
///
/// ```
/// use netreactor::options::MAX_EVENT_LOOPS;
/// use netreactor::{Engine, Error, EventHandler};
///
/// struct Nothing;
/// impl EventHandler for Nothing {}
///
/// assert_eq!(MAX_EVENT_LOOPS, 1024);
/// let refused = Engine::builder().event_loops(MAX_EVENT_LOOPS + 1).start(Nothing, "tcp://127.0.0.1:0");
/// assert!(matches!(refused, Err(Error::InvalidConfig(_))));
/// ```
pub const MAX_EVENT_LOOPS: usize = 1024;
/// A connection whose unconsumed inbound bytes reach this is closed with
/// `CloseReason::InboundOverflow`.
///
/// # Examples
///
/// ```
/// use netreactor::options::DEFAULT_MAX_INBOUND_BYTES;
///
/// assert_eq!(DEFAULT_MAX_INBOUND_BYTES, 16 * 1024 * 1024);
/// ```
///
/// [`EngineBuilder::max_inbound_buffer`](crate::EngineBuilder::max_inbound_buffer) shows the limit at work.
pub const DEFAULT_MAX_INBOUND_BYTES: usize = 16 * 1024 * 1024;
/// A connection whose queued outbound bytes would exceed this is closed with
/// `CloseReason::OutboundOverflow`.
///
/// # Examples
///
/// ```
/// use netreactor::options::{DEFAULT_HIGH_WATERMARK_BYTES, DEFAULT_MAX_OUTBOUND_BYTES};
///
/// assert_eq!(DEFAULT_MAX_OUTBOUND_BYTES, 64 * 1024 * 1024);
/// assert!(DEFAULT_MAX_OUTBOUND_BYTES > DEFAULT_HIGH_WATERMARK_BYTES); // backpressure comes first
/// ```
///
/// [`EngineBuilder::max_outbound_buffer`](crate::EngineBuilder::max_outbound_buffer) shows the limit at work.
pub const DEFAULT_MAX_OUTBOUND_BYTES: usize = 64 * 1024 * 1024;
/// How long a partial message (an incomplete frame, or unconsumed input)
/// may wait for the rest before the connection is closed with
/// `CloseReason::Timeout(TimeoutKind::Frame)`: the slowloris guard. As
/// nginx's 60 s header and body timeouts.
///
/// # Examples
///
/// ```
/// use netreactor::options::DEFAULT_FRAME_TIMEOUT;
///
/// assert_eq!(DEFAULT_FRAME_TIMEOUT.as_secs(), 60);
/// ```
///
/// [`EngineBuilder::frame_timeout`](crate::EngineBuilder::frame_timeout) shows the timeout at work.
pub const DEFAULT_FRAME_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes all connections together may hold in incomplete inbound messages
/// before the largest holders are closed (`CloseReason::InboundBudget`).
///
/// # Examples
///
/// ```
/// use netreactor::options::{DEFAULT_INBOUND_BUDGET_BYTES, DEFAULT_MAX_INBOUND_BYTES};
///
/// assert_eq!(DEFAULT_INBOUND_BUDGET_BYTES, 256 * 1024 * 1024);
/// assert_eq!(DEFAULT_INBOUND_BUDGET_BYTES / DEFAULT_MAX_INBOUND_BYTES, 16); // 16 connections at their limit
/// ```
///
/// [`EngineBuilder::inbound_budget`](crate::EngineBuilder::inbound_budget) shows the budget at work.
pub const DEFAULT_INBOUND_BUDGET_BYTES: usize = 256 * 1024 * 1024;
/// Readiness events taken from one `epoll_wait`.
///
/// # Examples
///
/// ```
/// use netreactor::options::DEFAULT_EVENTS_PER_WAIT;
///
/// assert_eq!(DEFAULT_EVENTS_PER_WAIT, 1024);
/// ```
pub const DEFAULT_EVENTS_PER_WAIT: usize = 1024;
/// Normal-priority tasks a loop runs per iteration before polling again.
///
/// # Examples
///
/// ```
/// use netreactor::options::DEFAULT_TASKS_PER_ITERATION;
///
/// assert_eq!(DEFAULT_TASKS_PER_ITERATION, 256);
/// ```
pub const DEFAULT_TASKS_PER_ITERATION: usize = 256;
/// How long `close` waits for queued output to drain before closing anyway.
///
/// # Examples
///
/// ```
/// use netreactor::options::DEFAULT_CLOSE_LINGER;
///
/// assert_eq!(DEFAULT_CLOSE_LINGER.as_secs(), 5);
/// ```
///
/// [`EngineBuilder::close_linger`](crate::EngineBuilder::close_linger) shows the linger at work.
pub const DEFAULT_CLOSE_LINGER: Duration = Duration::from_secs(5);
/// How long `EngineHandle::stop` lets connections flush before closing them.
///
/// # Examples
///
/// ```
/// use netreactor::options::{DEFAULT_CLOSE_LINGER, DEFAULT_SHUTDOWN_DEADLINE};
///
/// assert_eq!(DEFAULT_SHUTDOWN_DEADLINE.as_secs(), 5);
/// assert_eq!(DEFAULT_SHUTDOWN_DEADLINE, DEFAULT_CLOSE_LINGER);
/// ```
///
/// [`EngineHandle::stop_with_deadline`](crate::EngineHandle::stop_with_deadline) shows a deadline at work.
pub const DEFAULT_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);
/// Gather-list entries per `sendmsg` (well under the kernel's IOV_MAX of 1024).
///
/// # Examples
///
/// ```
/// use netreactor::options::MAX_IOVECS_PER_WRITE;
///
/// assert_eq!(MAX_IOVECS_PER_WRITE, 64);
/// ```
pub const MAX_IOVECS_PER_WRITE: usize = 64;
/// `Bytes` smaller than this are copied into the outbound buffer instead of
/// being queued by reference, and [`Conn::echo_all`](crate::Conn::echo_all)
/// copies input smaller than this instead of splitting it off the read
/// buffer.
///
/// A queued reference costs the split, a gather-list entry, the reference
/// count and the read buffer's reclaim: callgrind on pipelined echo (16
/// messages a read) counted 928 user-space instructions per read of 1 KiB
/// by reference against 638 copied, 928 against 736 at 2 KiB, and 950
/// against 1,328 at 8 KiB (about 10 bytes copied per instruction). Copies
/// break even near 4 KiB in instructions; the threshold sits below that
/// because a copy also costs cache traffic that instructions do not show.
///
/// # Examples
///
/// ```
/// use netreactor::options::OUTBOUND_COPY_THRESHOLD_BYTES;
///
/// assert_eq!(OUTBOUND_COPY_THRESHOLD_BYTES, 2048);
/// ```
pub const OUTBOUND_COPY_THRESHOLD_BYTES: usize = 2048;
/// SO_RCVBUF of a UDP socket unless
/// [`recv_buffer_size`](crate::EngineBuilder::recv_buffer_size) says
/// otherwise: room for bursts while the loop serves a batch (the kernel's
/// 208 KiB default holds about a hundred 1 KiB datagrams; measured in
/// docs/benchmarks.md, 16 senders with 32 datagrams in flight each lost
/// thousands per run with it, and a median of none with this size). The
/// kernel caps it at `net.core.rmem_max` (on many systems 208 KiB, where it
/// changes nothing); it is a ceiling, not memory taken up front.
///
/// # Examples
///
/// ```
/// use netreactor::options::DEFAULT_UDP_RECV_BUFFER_BYTES;
///
/// assert_eq!(DEFAULT_UDP_RECV_BUFFER_BYTES, 4 * 1024 * 1024);
/// ```
pub const DEFAULT_UDP_RECV_BUFFER_BYTES: usize = 4 * 1024 * 1024;
/// Pause before retrying accept after the process ran out of descriptors.
///
/// # Examples
///
/// ```
/// use netreactor::options::{ACCEPT_BACKOFF_MAX, ACCEPT_BACKOFF_START};
///
/// assert_eq!(ACCEPT_BACKOFF_START.as_millis(), 10);
/// assert_eq!(ACCEPT_BACKOFF_MAX, ACCEPT_BACKOFF_START * 100); // doubles from 10 ms, capped at 1 s
/// ```
pub const ACCEPT_BACKOFF_START: Duration = Duration::from_millis(10);
/// Longest pause between accept retries while out of descriptors.
///
/// # Examples
///
/// ```
/// use netreactor::options::ACCEPT_BACKOFF_MAX;
///
/// assert_eq!(ACCEPT_BACKOFF_MAX.as_secs(), 1);
/// ```
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Queued outbound bytes above which a connection turns unwritable
/// (`on_writability_changed(false)`; reading pauses by default). As Netty.
///
/// # Examples
///
/// ```
/// use netreactor::options::DEFAULT_HIGH_WATERMARK_BYTES;
///
/// assert_eq!(DEFAULT_HIGH_WATERMARK_BYTES, 64 * 1024);
/// ```
///
/// [`EventHandler::on_writability_changed`](crate::EventHandler::on_writability_changed) shows it crossed.
pub const DEFAULT_HIGH_WATERMARK_BYTES: usize = 64 * 1024;
/// Queued outbound bytes at or below which it turns writable again.
///
/// # Examples
///
/// ```
/// use netreactor::options::{DEFAULT_HIGH_WATERMARK_BYTES, DEFAULT_LOW_WATERMARK_BYTES};
///
/// assert_eq!(DEFAULT_LOW_WATERMARK_BYTES, 32 * 1024);
/// assert_eq!(DEFAULT_LOW_WATERMARK_BYTES * 2, DEFAULT_HIGH_WATERMARK_BYTES);
/// ```
pub const DEFAULT_LOW_WATERMARK_BYTES: usize = 32 * 1024;
/// How often a listener paused by `max_connections` checks again (with
/// [`MaxConnectionsPolicy::Pause`](crate::MaxConnectionsPolicy::Pause)).
///
/// # Examples
///
/// ```
/// use netreactor::options::MAX_CONNECTIONS_RECHECK;
///
/// assert_eq!(MAX_CONNECTIONS_RECHECK.as_millis(), 10);
/// ```
pub const MAX_CONNECTIONS_RECHECK: Duration = Duration::from_millis(10);

/// How long each side of a listener hand-off waits for the other
/// ([`EngineBuilder::inherit_listeners`](crate::EngineBuilder::inherit_listeners)
/// for the old process's message, the old process for the new one's
/// `ready`).
///
/// Any thread (a constant).
///
/// ```
/// assert_eq!(netreactor::options::HAND_OFF_TIMEOUT.as_secs(), 30);
/// ```
pub const HAND_OFF_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest hand-off message a new process accepts (the addresses of at
/// most 253 descriptors, the most one SCM_RIGHTS message carries, fit).
///
/// Any thread (a constant).
///
/// ```
/// assert_eq!(netreactor::options::MAX_HAND_OFF_MESSAGE_BYTES, 64 * 1024);
/// ```
pub const MAX_HAND_OFF_MESSAGE_BYTES: usize = 64 * 1024;

/// More systemd sockets than this in `LISTEN_FDS` is refused as nonsense
/// before any descriptor is looked at
/// ([`EngineBuilder::socket_activation`](crate::EngineBuilder::socket_activation)).
///
/// Any thread (a constant).
///
/// ```
/// assert_eq!(netreactor::options::MAX_LISTEN_FDS, 4096);
/// ```
pub const MAX_LISTEN_FDS: usize = 4096;

/// While an engine drains, how often each loop looks for connections that
/// have become idle (to close them) and the coordinator whether every
/// connection has gone (to stop).
///
/// Any thread (a constant).
///
/// ```
/// assert_eq!(netreactor::options::DRAIN_POLL_INTERVAL.as_millis(), 10);
/// ```
pub const DRAIN_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// While an engine drains, how long a connection that has not yet sent a
/// byte is spared by the idle sweep (`EngineBuilder::close_idle_on_drain`):
/// a client that has just connected is about to send its first request,
/// and closing it then would lose that request. Counted from the start of
/// the drain, which closes the listeners first, so every connection it can
/// spare was accepted by then (or is in a loop's queue, a matter of
/// microseconds). After this (or at the drain's deadline, if that comes
/// first) it is closed as idle.
///
/// Any thread (a constant).
///
/// ```
/// assert_eq!(netreactor::options::DRAIN_NEW_CONNECTION_GRACE.as_secs(), 1);
/// ```
pub const DRAIN_NEW_CONNECTION_GRACE: Duration = Duration::from_secs(1);

/// How long a new process (`EngineBuilder::inherit_listeners`) keeps trying
/// to reach an old one whose hand-off socket does not exist or listen yet
/// (it is usually started just before the old one listens).
///
/// Any thread (a constant).
///
/// ```
/// assert_eq!(netreactor::options::HAND_OFF_CONNECT_WAIT.as_secs(), 2);
/// ```
pub const HAND_OFF_CONNECT_WAIT: Duration = Duration::from_secs(2);
