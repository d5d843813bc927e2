//! Every limit and default of the engine, as a named constant with its unit.
//! docs/limits.md lists them with the reasoning behind each.

use std::time::Duration;

/// Size of each loop's shared read buffer, and the most one `read(2)` takes.
pub const DEFAULT_READ_BUFFER_BYTES: usize = 64 * 1024;
/// The smallest read buffer `read_buffer_size` accepts.
pub const MIN_READ_BUFFER_BYTES: usize = 1024;
/// The largest read buffer `read_buffer_size` accepts (one per loop).
pub const MAX_READ_BUFFER_BYTES: usize = 256 * 1024 * 1024;
/// The most event loops one engine may have.
pub const MAX_EVENT_LOOPS: usize = 1024;
/// A connection whose unconsumed inbound bytes reach this is closed with
/// `CloseReason::InboundOverflow`.
pub const DEFAULT_MAX_INBOUND_BYTES: usize = 16 * 1024 * 1024;
/// A connection whose queued outbound bytes would exceed this is closed with
/// `CloseReason::OutboundOverflow`.
pub const DEFAULT_MAX_OUTBOUND_BYTES: usize = 64 * 1024 * 1024;
/// How long a partial message (an incomplete frame, or unconsumed input)
/// may wait for the rest before the connection is closed with
/// `CloseReason::Timeout(TimeoutKind::Frame)`: the slowloris guard. As
/// nginx's 60 s header and body timeouts.
pub const DEFAULT_FRAME_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes all connections together may hold in incomplete inbound messages
/// before the largest holders are closed (`CloseReason::InboundBudget`).
pub const DEFAULT_INBOUND_BUDGET_BYTES: usize = 256 * 1024 * 1024;
/// Readiness events taken from one `epoll_wait`.
pub const DEFAULT_EVENTS_PER_WAIT: usize = 1024;
/// Normal-priority tasks a loop runs per iteration before polling again.
pub const DEFAULT_TASKS_PER_ITERATION: usize = 256;
/// How long `close` waits for queued output to drain before closing anyway.
pub const DEFAULT_CLOSE_LINGER: Duration = Duration::from_secs(5);
/// How long `EngineHandle::stop` lets connections flush before closing them.
pub const DEFAULT_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);
/// Gather-list entries per `sendmsg` (well under the kernel's IOV_MAX of 1024).
pub const MAX_IOVECS_PER_WRITE: usize = 64;
/// `Bytes` smaller than this are copied into the outbound buffer instead of
/// being queued by reference (a copy is cheaper than an iovec entry).
pub const OUTBOUND_COPY_THRESHOLD_BYTES: usize = 256;
/// Pause before retrying accept after the process ran out of descriptors.
pub const ACCEPT_BACKOFF_START: Duration = Duration::from_millis(10);
/// Longest pause between accept retries while out of descriptors.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Queued outbound bytes above which a connection turns unwritable
/// (`on_writability_changed(false)`; reading pauses by default). As Netty.
pub const DEFAULT_HIGH_WATERMARK_BYTES: usize = 64 * 1024;
/// Queued outbound bytes at or below which it turns writable again.
pub const DEFAULT_LOW_WATERMARK_BYTES: usize = 32 * 1024;
/// How often a listener paused by `max_connections` checks again.
pub const MAX_CONNECTIONS_RECHECK: Duration = Duration::from_millis(10);
