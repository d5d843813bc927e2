//! Per-loop counters, written only by their loop and readable at any time
//! from [`EngineHandle::stats`](crate::EngineHandle::stats) without locks.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::CloseReason;

/// A counter with one writer: a plain load and store, no locked instruction.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
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
    pub(crate) closed: [Counter; CLOSE_KINDS],
    pub(crate) bytes_in: Counter,
    pub(crate) bytes_out: Counter,
    pub(crate) frames_in: Counter,
    pub(crate) wakeups: Counter,
    pub(crate) tasks: Counter,
}

const CLOSE_KINDS: usize = 9;

fn close_kind(reason: &CloseReason) -> usize {
    match reason {
        CloseReason::PeerEof => 0,
        CloseReason::PeerReset => 1,
        CloseReason::Io(_) => 2,
        CloseReason::Local => 3,
        CloseReason::Shutdown => 4,
        CloseReason::HandlerPanic(_) => 5,
        CloseReason::InboundOverflow { .. }
        | CloseReason::InboundBudget { .. }
        | CloseReason::OutboundOverflow { .. } => 6,
        CloseReason::Timeout(_) | CloseReason::LingerTimeout => 7,
        CloseReason::Codec(_) => 8,
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
            bytes_in: self.bytes_in.get(),
            bytes_out: self.bytes_out.get(),
            frames_in: self.frames_in.get(),
            wakeups: self.wakeups.get(),
            tasks_run: self.tasks.get(),
            partial_inbound_bytes: 0,
        }
    }
}

/// Counters of one loop, or of the whole engine when summed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Connections open now (or being handed over).
    pub open: u64,
    /// Connections accepted and registered.
    pub accepted: u64,
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
    /// Bytes read from sockets.
    pub bytes_in: u64,
    /// Bytes accepted by the kernel for sending.
    pub bytes_out: u64,
    /// Frames decoded by the codec.
    pub frames_in: u64,
    /// Times the loop was woken through its eventfd.
    pub wakeups: u64,
    /// Tasks run (registrations, async writes, wakes, closes).
    pub tasks_run: u64,
    /// Bytes held now in partial inbound messages, engine-wide (what
    /// `inbound_budget` caps; 0 in per-loop stats).
    pub partial_inbound_bytes: u64,
}

impl Stats {
    /// Connections closed, over every reason.
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
    }
}

impl std::ops::Add for Stats {
    type Output = Stats;

    fn add(self, o: Stats) -> Stats {
        Stats {
            open: self.open + o.open,
            accepted: self.accepted + o.accepted,
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
            bytes_in: self.bytes_in + o.bytes_in,
            bytes_out: self.bytes_out + o.bytes_out,
            frames_in: self.frames_in + o.frames_in,
            wakeups: self.wakeups + o.wakeups,
            tasks_run: self.tasks_run + o.tasks_run,
            partial_inbound_bytes: self.partial_inbound_bytes + o.partial_inbound_bytes,
        }
    }
}
