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
/// Any thread (a plain value).
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// use std::collections::HashMap;
/// use std::io::{BufRead, BufReader, Write};
/// use std::sync::{Arc, Mutex};
/// use netreactor::{Action, Conn, ConnId, Engine, EventHandler};
///
/// /// Counts bytes per connection, in a map keyed by id, and tells each its id.
/// #[derive(Default)]
/// struct Meter(Mutex<HashMap<ConnId, usize>>);
///
/// impl EventHandler for Meter {
///     fn on_traffic(&self, conn: &mut Conn) -> Action {
///         let n = conn.discard(usize::MAX);
///         *self.0.lock().unwrap().entry(conn.id()).or_default() += n;
///         conn.write(format!("{}\n", conn.id()).as_bytes());
///         Action::Continue
///     }
/// }
///
/// let meter = Arc::new(Meter::default());
/// let engine = Engine::builder().event_loops(2).start(meter.clone(), "tcp://127.0.0.1:0")?;
/// let mut ids = Vec::new();
/// for message in [&b"abc"[..], b"de"] {
///     let mut client = BufReader::new(std::net::TcpStream::connect(engine.local_addr())?);
/// #   client.get_ref().set_read_timeout(Some(Duration::from_secs(10)))?;
///     client.get_mut().write_all(message)?;
///     let mut id = String::new();
///     client.read_line(&mut id)?;
///     ids.push(id.trim_end().to_owned());
/// }
/// // loop.slot.generation; round robin put them on loops 0 and 1
/// assert!(ids[0].starts_with("0.") && ids[1].starts_with("1."));
/// let mut counts: Vec<usize> = meter.0.lock().unwrap().values().copied().collect();
/// counts.sort();
/// assert_eq!(counts, [2, 3]);
/// engine.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
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
    /// Any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// use std::io::Read;
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// /// Tells each client which loop serves it.
    /// struct Where;
    /// impl EventHandler for Where {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         conn.write(conn.id().event_loop().to_string().as_bytes());
    ///         Action::Close
    ///     }
    /// }
    ///
    /// let engine = Engine::builder().event_loops(3).start(Where, "tcp://127.0.0.1:0")?;
    /// for expected in ["0", "1", "2", "0"] {
    ///     let mut client = std::net::TcpStream::connect(engine.local_addr())?;
    /// #   client.set_read_timeout(Some(Duration::from_secs(10)))?;
    ///     let mut served_by = String::new();
    ///     client.read_to_string(&mut served_by)?;
    ///     assert_eq!(served_by, expected); // round robin
    /// }
    /// engine.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
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
///
/// Any thread (a plain value); only meaningful to the connection that made it.
///
/// See the example on [`Conn::cancel_timer`](crate::Conn::cancel_timer).
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
