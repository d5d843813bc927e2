//! [`ConnHandle`]: a connection as any thread reaches it.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::id::ConnId;
use crate::mailbox::{Mailbox, Task};

/// What a connection shares with its handles; allocated by the first
/// [`Conn::handle`](crate::Conn::handle) call, so connections nobody holds a
/// handle to pay nothing for it.
#[derive(Debug)]
pub(crate) struct HandleShared {
    alive: AtomicBool,
    /// Bytes handles have posted that the loop has not yet taken.
    posted: AtomicUsize,
    /// The connection's queued output, as its loop last saw it.
    outbound: AtomicUsize,
    /// Bytes in flight (posted plus queued) past which writes are refused.
    limit: usize,
}

impl HandleShared {
    pub(crate) fn new(alive: bool, limit: usize) -> Arc<Self> {
        Arc::new(HandleShared {
            alive: AtomicBool::new(alive),
            posted: AtomicUsize::new(0),
            outbound: AtomicUsize::new(0),
            limit,
        })
    }

    /// The connection has closed: every handle fails from now on.
    pub(crate) fn mark_closed(&self) {
        self.alive.store(false, Ordering::Release);
    }

    /// The loop took `n` posted bytes off its mailbox.
    pub(crate) fn taken(&self, n: usize) {
        self.posted.fetch_sub(n, Ordering::AcqRel);
    }

    /// The loop's view of the connection's queued output after a flush.
    pub(crate) fn set_outbound(&self, n: usize) {
        self.outbound.store(n, Ordering::Relaxed);
    }

    fn queued(&self) -> usize {
        self.posted
            .load(Ordering::Acquire)
            .saturating_add(self.outbound.load(Ordering::Relaxed))
    }

    /// Counts `n` more bytes in flight, or refuses them if that would pass
    /// the limit.
    fn reserve(&self, n: usize) -> Result<()> {
        let posted = self.posted.fetch_add(n, Ordering::AcqRel);
        let queued = posted.saturating_add(self.outbound.load(Ordering::Relaxed));
        if queued.saturating_add(n) > self.limit {
            self.posted.fetch_sub(n, Ordering::AcqRel);
            return Err(Error::QueueFull {
                queued,
                limit: self.limit,
            });
        }
        Ok(())
    }
}

/// A connection as seen from any thread: cheap to clone, `Send + Sync`.
///
/// Each call posts a task to the owning loop. A handle whose connection has
/// closed returns [`Error::ConnectionClosed`]; it can never reach a newer
/// connection that reused the slot or the file descriptor. Bytes in flight
/// to a connection (posted and not yet sent) are capped at the engine's
/// [`max_outbound_buffer`](crate::EngineBuilder::max_outbound_buffer): past
/// it writes fail at once with [`Error::QueueFull`], and
/// [`queued_bytes`](ConnHandle::queued_bytes) tells a producer how far
/// behind the peer is.
///
/// Handles compare equal when they point to the same connection, and hash
/// by its [`ConnId`], so they can key a map or fill a set. (Clippy's
/// `mutable_key_type` lint flags such a map because a handle holds atomics;
/// they take no part in hashing or equality: allow the lint, or list
/// `netreactor::ConnHandle` under `ignore-interior-mutability` in
/// clippy.toml, as this repository does.)
///
/// # Examples
///
/// ```
/// use std::io::Read;
/// use std::sync::mpsc;
/// use netreactor::{Action, Conn, ConnHandle, Engine, EventHandler};
///
/// /// Hands every new connection's handle to another thread.
/// struct Publish(mpsc::SyncSender<ConnHandle>);
/// impl EventHandler for Publish {
///     fn on_open(&self, conn: &mut Conn) -> Action {
///         let _ = self.0.send(conn.handle());
///         Action::Continue
///     }
/// }
///
/// let (tx, rx) = mpsc::sync_channel(1);
/// let engine = Engine::builder().event_loops(1).start(Publish(tx), "tcp://127.0.0.1:0")?;
/// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
/// let handle = rx.recv()?;
/// // Any thread: queued on the connection's loop, sent from there.
/// std::thread::spawn(move || handle.async_write("hello from another thread")).join().unwrap()?;
/// let mut buf = [0; 25];
/// client.read_exact(&mut buf)?;
/// assert_eq!(&buf, b"hello from another thread");
/// engine.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ConnHandle {
    pub(super) id: ConnId,
    pub(super) mailbox: Arc<Mailbox>,
    pub(super) shared: Arc<HandleShared>,
}

impl fmt::Debug for ConnHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnHandle")
            .field("id", &self.id)
            .field("alive", &self.is_alive())
            .field("queued_bytes", &self.queued_bytes())
            .finish()
    }
}

impl PartialEq for ConnHandle {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && Arc::ptr_eq(&self.mailbox, &other.mailbox)
    }
}

impl Eq for ConnHandle {}

impl Hash for ConnHandle {
    fn hash<S: Hasher>(&self, state: &mut S) {
        self.id.hash(state);
    }
}

impl ConnHandle {
    /// The connection's id (unique within its engine). Any thread.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// False once the connection has closed. Any thread.
    pub fn is_alive(&self) -> bool {
        self.shared.alive.load(Ordering::Acquire)
    }

    /// Bytes in flight to the connection: posted through handles and not
    /// yet taken by its loop, plus its queued output as the loop last
    /// flushed it. A producer can pace itself on this. Any thread.
    pub fn queued_bytes(&self) -> usize {
        self.shared.queued()
    }

    fn post(&self, task: Task) -> Result<()> {
        if !self.is_alive() {
            return Err(Error::ConnectionClosed);
        }
        self.mailbox.post(task).map_err(|_| Error::EngineStopped)
    }

    fn post_bytes(&self, n: usize, task: Task) -> Result<()> {
        if !self.is_alive() {
            return Err(Error::ConnectionClosed);
        }
        self.shared.reserve(n)?;
        self.mailbox.post(task).map_err(|_| {
            self.shared.taken(n);
            Error::EngineStopped
        })
    }

    /// Queues `data` (`Bytes`, `Vec<u8>`, `String`, `&'static [u8]` or
    /// `&'static str`) for the connection; its loop sends it in order with
    /// the other writes from this thread. Any thread.
    ///
    /// # Errors
    /// [`Error::QueueFull`] (nothing queued: retry once
    /// [`queued_bytes`](ConnHandle::queued_bytes) has fallen),
    /// [`Error::ConnectionClosed`] or [`Error::EngineStopped`]. A write
    /// that races with the close may be accepted here and then dropped.
    pub fn async_write(&self, data: impl Into<Bytes>) -> Result<()> {
        let data = data.into();
        self.post_bytes(data.len(), Task::Write(self.id, data))
    }

    /// Queues several buffers, sent back to back. Any thread.
    ///
    /// # Errors
    /// As [`ConnHandle::async_write`].
    pub fn async_write_vectored<I>(&self, data: I) -> Result<()>
    where
        I: IntoIterator,
        I::Item: Into<Bytes>,
    {
        let data: Vec<Bytes> = data.into_iter().map(Into::into).collect();
        let n = data.iter().map(Bytes::len).fold(0, usize::saturating_add);
        self.post_bytes(n, Task::WriteVectored(self.id, data))
    }

    /// Encodes `frame` with the engine's codec on the connection's loop and
    /// queues it. An encoding error (or a panic in the encoder) there
    /// closes the connection (`CloseReason::Codec` / `HandlerPanic`). Any
    /// thread.
    ///
    /// # Errors
    /// As [`ConnHandle::async_write`].
    pub fn async_write_frame(&self, frame: impl Into<Bytes>) -> Result<()> {
        let frame = frame.into();
        self.post_bytes(frame.len(), Task::WriteFrame(self.id, frame))
    }

    /// Runs `on_traffic` for the connection on its loop, even with no new
    /// bytes. Any thread.
    ///
    /// # Errors
    /// [`Error::ConnectionClosed`] or [`Error::EngineStopped`].
    pub fn wake(&self) -> Result<()> {
        self.post(Task::Wake(self.id))
    }

    /// Closes the connection after flushing what is queued. Any thread.
    ///
    /// # Errors
    /// [`Error::ConnectionClosed`] or [`Error::EngineStopped`].
    pub fn close(&self) -> Result<()> {
        self.post(Task::Close(self.id))
    }
}
