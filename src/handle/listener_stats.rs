//! Per-listener counters: connections accepted on each listener and open
//! from it, for `EngineHandle::listener_stats` and the metrics.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{EngineHandle, EngineShared};
use crate::addr::Address;

/// One listener's counters (engine-wide: every loop that accepts from it
/// counts here).
#[derive(Debug, Default)]
pub(crate) struct ListenerCounters {
    accepted: AtomicU64,
    open: AtomicU64,
}

/// What one listening address has served: for
/// [`EngineHandle::listener_stats`] (and `netreactor::metrics`).
///
/// Any thread (a plain value). See the example on
/// [`EngineHandle::listener_stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenerStats {
    /// The address as bound (`EngineHandle::local_addrs` order).
    pub address: Address,
    /// Connections accepted on it and registered (UDP: none, a UDP socket
    /// is not a connection).
    pub accepted: u64,
    /// Connections from it open now.
    pub open: u64,
}

impl EngineShared {
    /// A connection accepted on listener `i` was registered.
    pub(crate) fn listener_opened(&self, i: usize) {
        if let Some(c) = self.listener_counts.get(i) {
            c.accepted.fetch_add(1, Ordering::Relaxed);
            c.open.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A connection accepted on listener `i` closed.
    pub(crate) fn listener_closed(&self, i: usize) {
        if let Some(c) = self.listener_counts.get(i) {
            c.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl EngineHandle {
    /// Each listening address's counters, in
    /// [`local_addrs`](EngineHandle::local_addrs) order. Any thread; read
    /// without locks, like [`stats`](EngineHandle::stats).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::{Duration, Instant};
    /// use netreactor::{Engine, EventHandler};
    ///
    /// struct Quiet;
    /// impl EventHandler for Quiet {}
    ///
    /// let engine = Engine::builder().start(Quiet, ["tcp://127.0.0.1:0", "tcp://127.0.0.1:0"].as_slice())?;
    /// let _client = std::net::TcpStream::connect(engine.local_addrs()[1].socket_addr().unwrap())?;
    /// # let deadline = Instant::now() + Duration::from_secs(10);
    /// # while engine.listener_stats()[1].open == 0 && Instant::now() < deadline {
    /// #     std::thread::yield_now();
    /// # }
    /// let listeners = engine.listener_stats();
    /// assert_eq!((listeners[0].accepted, listeners[0].open), (0, 0));
    /// assert_eq!((listeners[1].accepted, listeners[1].open), (1, 1));
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn listener_stats(&self) -> Vec<ListenerStats> {
        let shared = &self.shared;
        shared
            .local_addrs
            .iter()
            .zip(&shared.listener_counts)
            .map(|(address, c)| ListenerStats {
                address: address.clone(),
                accepted: c.accepted.load(Ordering::Relaxed),
                open: c.open.load(Ordering::Relaxed),
            })
            .collect()
    }
}
