//! A connection's identity, shared by the loops, the mailbox and handles.

use std::fmt;

/// A connection's identity, unique among the live connections of one engine:
/// the loop that owns it, its slot in that loop's table and the slot's
/// generation. An id (or a [`ConnHandle`](crate::ConnHandle)) never matches a
/// later connection that reuses the slot or the file descriptor, so ids are
/// safe keys for your own maps.
///
/// `Display` prints `loop.slot.generation`, e.g. `1.42.0`.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use netreactor::{Action, Conn, ConnId, EventHandler};
/// use std::sync::Mutex;
///
/// /// Counts bytes per connection, in a map keyed by id.
/// #[derive(Default)]
/// struct Meter(Mutex<HashMap<ConnId, usize>>);
///
/// impl EventHandler for Meter {
///     fn on_traffic(&self, conn: &mut Conn) -> Action {
///         let n = conn.discard(usize::MAX);
///         *self.0.lock().unwrap().entry(conn.id()).or_default() += n;
///         Action::Continue
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    event_loop: u32,
    slot: u32,
    generation: u32,
}

impl ConnId {
    pub(crate) fn new(event_loop: usize, slot: u32, generation: u32) -> Self {
        ConnId {
            event_loop: event_loop as u32,
            slot,
            generation,
        }
    }

    /// The index of the loop that owns the connection (`0..event_loops`).
    ///
    /// Any thread may call it.
    ///
    /// ```
    /// # use netreactor::{Action, Conn, EventHandler};
    /// struct Where;
    /// impl EventHandler for Where {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         println!("connection {} is served by loop {}", conn.id(), conn.id().event_loop());
    ///         Action::Continue
    ///     }
    /// }
    /// ```
    pub fn event_loop(self) -> usize {
        self.event_loop as usize
    }

    pub(crate) fn slot(self) -> usize {
        self.slot as usize
    }

    pub(crate) fn generation(self) -> u32 {
        self.generation
    }

    /// The epoll token: generation in the high half, slot in the low half
    /// (the loop is implied: each loop has its own epoll instance).
    pub(crate) fn token(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.slot)
    }

    pub(crate) fn from_token(event_loop: usize, token: u64) -> Self {
        ConnId::new(event_loop, token as u32, (token >> 32) as u32)
    }
}

/// Names a timer set with [`Conn::schedule`](crate::Conn::schedule), for
/// [`Conn::cancel_timer`](crate::Conn::cancel_timer). Unique among one
/// connection's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(pub(crate) u64);

/// Names one entry of a loop's timer wheel (the wheel gives it meaning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerKey(pub(crate) u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.event_loop, self.slot, self.generation)
    }
}
