//! Per-loop counters, written only by their loop and readable at any time
//! from [`EngineHandle::stats`](crate::EngineHandle::stats) without locks.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::CloseReason;

/// A counter with one writer: a plain load and store, no locked instruction.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.0
            .store(self.0.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
pub(crate) struct LoopCounters {
    pub(crate) accepted: Counter,
    pub(crate) dialed: Counter,
    pub(crate) closed: [Counter; CLOSE_KINDS],
    pub(crate) bytes_in: Counter,
    pub(crate) bytes_out: Counter,
    pub(crate) frames_in: Counter,
    pub(crate) wakeups: Counter,
    pub(crate) datagrams_in: Counter,
    pub(crate) datagrams_out: Counter,
    pub(crate) datagrams_truncated: Counter,
    pub(crate) datagrams_dropped: Counter,
    pub(crate) tasks: Counter,
}

const CLOSE_KINDS: usize = 11;

fn close_kind(reason: &CloseReason) -> usize {
    match reason {
        CloseReason::PeerEof => 0,
        CloseReason::PeerReset => 1,
        CloseReason::Io(_) | CloseReason::ConnectFailed(_) => 2,
        CloseReason::Local | CloseReason::User(_) => 3,
        CloseReason::Shutdown => 4,
        CloseReason::HandlerPanic(_) => 5,
        CloseReason::InboundOverflow { .. }
        | CloseReason::InboundBudget { .. }
        | CloseReason::OutboundOverflow { .. } => 6,
        CloseReason::Timeout(_) | CloseReason::LingerTimeout => 7,
        CloseReason::Codec(_) => 8,
        CloseReason::Tls(t) if t.during_handshake() => 9,
        CloseReason::Tls(_) => 10,
    }
}

impl LoopCounters {
    pub(crate) fn closed(&self, reason: &CloseReason) {
        self.closed[close_kind(reason)].add(1);
    }

    pub(crate) fn snapshot(&self, open: u64) -> Stats {
        let c = |i: usize| self.closed[i].get();
        Stats {
            open,
            accepted: self.accepted.get(),
            dialed: self.dialed.get(),
            rejected: 0,
            closed_peer_eof: c(0),
            closed_peer_reset: c(1),
            closed_io_error: c(2),
            closed_local: c(3),
            closed_shutdown: c(4),
            closed_handler_panic: c(5),
            closed_overflow: c(6),
            closed_timeout: c(7),
            closed_codec_error: c(8),
            closed_tls_handshake: c(9),
            closed_tls_error: c(10),
            bytes_in: self.bytes_in.get(),
            bytes_out: self.bytes_out.get(),
            frames_in: self.frames_in.get(),
            wakeups: self.wakeups.get(),
            datagrams_in: self.datagrams_in.get(),
            datagrams_out: self.datagrams_out.get(),
            datagrams_truncated: self.datagrams_truncated.get(),
            datagrams_dropped: self.datagrams_dropped.get(),
            tasks_run: self.tasks.get(),
            partial_inbound_bytes: 0,
            draining: false,
        }
    }
}

/// Counters of one loop, or of the whole engine when summed.
///
/// Any thread (a snapshot: a plain value). Each counter is read on its own,
/// without locks, so a snapshot taken while the engine serves may mix
/// instants; one taken after it stopped is exact.
///
/// # Examples
///
/// ```
/// # use std::time::{Duration, Instant};
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
/// let engine = Engine::builder().event_loops(1).start(Echo, "tcp://127.0.0.1:0")?;
/// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
/// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
/// client.write_all(b"hello")?;
/// client.read_exact(&mut [0; 5])?;
/// drop(client);
/// # let deadline = Instant::now() + Duration::from_secs(10);
/// # while (engine.stats().closed(), engine.stats().open) != (1, 0) && Instant::now() < deadline {
/// #     std::thread::yield_now();
/// # }
/// let stats = engine.stats(); // once the close has been counted
/// assert_eq!((stats.accepted, stats.open, stats.closed()), (1, 0, 1));
/// assert_eq!(stats.closed_peer_eof, 1);
/// assert_eq!((stats.bytes_in, stats.bytes_out), (5, 5));
/// assert_eq!((stats.rejected, stats.frames_in), (0, 0));
/// engine.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Connections open now (or being handed over).
    pub open: u64,
    /// Connections accepted and registered.
    pub accepted: u64,
    /// Outbound connections started with `EngineHandle::dial` (connected
    /// or not).
    pub dialed: u64,
    /// Connections refused because `max_connections` was reached.
    pub rejected: u64,
    /// Closed because the peer closed.
    pub closed_peer_eof: u64,
    /// Closed because the peer reset.
    pub closed_peer_reset: u64,
    /// Closed on another I/O error.
    pub closed_io_error: u64,
    /// Closed by this side.
    pub closed_local: u64,
    /// Closed by engine shutdown.
    pub closed_shutdown: u64,
    /// Closed because a callback panicked.
    pub closed_handler_panic: u64,
    /// Closed because a buffer limit was hit.
    pub closed_overflow: u64,
    /// Closed by an idle, frame or linger timeout.
    pub closed_timeout: u64,
    /// Closed because the codec rejected the stream.
    pub closed_codec_error: u64,
    /// Connections whose TLS handshake failed, was garbled, too large or
    /// timed out: accepted ones (the handler never saw them), dialed ones
    /// (`on_close` with `CloseReason::Tls`, no `on_open`), a relay's TLS
    /// upstream, and the relayed client that upstream's failure ended
    /// (`Conn::relay_with`: both sides count).
    pub closed_tls_handshake: u64,
    /// TLS connections ended by a protocol error or alert after the
    /// handshake, or cut without `close_notify` (truncation).
    pub closed_tls_error: u64,
    /// Bytes read from sockets.
    pub bytes_in: u64,
    /// Bytes accepted by the kernel for sending.
    pub bytes_out: u64,
    /// Frames decoded by the codec.
    pub frames_in: u64,
    /// Times the loop was woken through its eventfd.
    pub wakeups: u64,
    /// UDP datagrams received and handed to the handler.
    pub datagrams_in: u64,
    /// UDP datagrams sent: replies, `Conn::flush`, `Conn::send_to` and
    /// `ConnHandle::send_to`.
    pub datagrams_out: u64,
    /// UDP datagrams dropped because they did not fit the read buffer
    /// (`read_buffer_size`); never delivered cut short.
    pub datagrams_truncated: u64,
    /// UDP datagrams not sent: refused by the kernel (full send buffer,
    /// unreachable), or written outside a datagram's turn (a timer, a
    /// `ConnHandle::call`) with no destination.
    pub datagrams_dropped: u64,
    /// Tasks run (registrations, async writes, wakes, closes).
    pub tasks_run: u64,
    /// Bytes held now in partial inbound messages, engine-wide (what
    /// `inbound_budget` caps; 0 in per-loop stats).
    pub partial_inbound_bytes: u64,
    /// The engine drains ([`EngineHandle::is_draining`](crate::EngineHandle::is_draining);
    /// false in per-loop stats).
    pub draining: bool,
}

impl Stats {
    /// Connections closed, over every reason.
    ///
    /// Any thread.
    ///
    /// See the example on [`Stats`].
    pub fn closed(&self) -> u64 {
        self.closed_peer_eof
            + self.closed_peer_reset
            + self.closed_io_error
            + self.closed_local
            + self.closed_shutdown
            + self.closed_handler_panic
            + self.closed_overflow
            + self.closed_timeout
            + self.closed_codec_error
            + self.closed_tls_handshake
            + self.closed_tls_error
    }
}

impl std::ops::Add for Stats {
    type Output = Stats;

    fn add(self, o: Stats) -> Stats {
        Stats {
            open: self.open + o.open,
            accepted: self.accepted + o.accepted,
            dialed: self.dialed + o.dialed,
            rejected: self.rejected + o.rejected,
            closed_peer_eof: self.closed_peer_eof + o.closed_peer_eof,
            closed_peer_reset: self.closed_peer_reset + o.closed_peer_reset,
            closed_io_error: self.closed_io_error + o.closed_io_error,
            closed_local: self.closed_local + o.closed_local,
            closed_shutdown: self.closed_shutdown + o.closed_shutdown,
            closed_handler_panic: self.closed_handler_panic + o.closed_handler_panic,
            closed_overflow: self.closed_overflow + o.closed_overflow,
            closed_timeout: self.closed_timeout + o.closed_timeout,
            closed_codec_error: self.closed_codec_error + o.closed_codec_error,
            closed_tls_handshake: self.closed_tls_handshake + o.closed_tls_handshake,
            closed_tls_error: self.closed_tls_error + o.closed_tls_error,
            bytes_in: self.bytes_in + o.bytes_in,
            bytes_out: self.bytes_out + o.bytes_out,
            frames_in: self.frames_in + o.frames_in,
            wakeups: self.wakeups + o.wakeups,
            datagrams_in: self.datagrams_in + o.datagrams_in,
            datagrams_out: self.datagrams_out + o.datagrams_out,
            datagrams_truncated: self.datagrams_truncated + o.datagrams_truncated,
            datagrams_dropped: self.datagrams_dropped + o.datagrams_dropped,
            tasks_run: self.tasks_run + o.tasks_run,
            partial_inbound_bytes: self.partial_inbound_bytes + o.partial_inbound_bytes,
            draining: self.draining || o.draining,
        }
    }
}
