//! [`ConnHandle`]: a connection as any thread reaches it.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::id::ConnId;
use crate::mailbox::{Mailbox, Task};

/// A connection as seen from any thread: cheap to clone, `Send + Sync`.
///
/// Each call posts a task to the owning loop. A handle whose connection has
/// closed returns [`Error::ConnectionClosed`]; it can never reach a newer
/// connection that reused the slot or the file descriptor.
#[derive(Clone)]
pub struct ConnHandle {
    pub(super) id: ConnId,
    pub(super) mailbox: Arc<Mailbox>,
    pub(super) alive: Arc<AtomicBool>,
}

impl fmt::Debug for ConnHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnHandle")
            .field("id", &self.id)
            .field("alive", &self.is_alive())
            .finish()
    }
}

impl ConnHandle {
    /// The connection's id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// False once the connection has closed.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    fn post(&self, task: Task) -> Result<()> {
        if !self.is_alive() {
            return Err(Error::ConnectionClosed);
        }
        self.mailbox.post(task).map_err(|_| Error::EngineStopped)
    }

    /// Queues `data` for the connection; the loop sends it in order with
    /// other writes from this thread.
    ///
    /// # Errors
    /// [`Error::ConnectionClosed`] or [`Error::EngineStopped`]. A write that
    /// races with the close may be accepted here and then dropped.
    pub fn async_write(&self, data: Bytes) -> Result<()> {
        self.post(Task::Write(self.id, data))
    }

    /// Queues several buffers, sent back to back.
    ///
    /// # Errors
    /// As [`ConnHandle::async_write`].
    pub fn async_write_vectored(&self, data: Vec<Bytes>) -> Result<()> {
        self.post(Task::WriteVectored(self.id, data))
    }

    /// Encodes `frame` with the engine's codec on the connection's loop and
    /// queues it. An encoding error there closes the connection
    /// (`CloseReason::Codec`).
    ///
    /// # Errors
    /// As [`ConnHandle::async_write`].
    pub fn async_write_frame(&self, frame: Bytes) -> Result<()> {
        self.post(Task::WriteFrame(self.id, frame))
    }

    /// Runs `on_traffic` for the connection on its loop, even with no new bytes.
    ///
    /// # Errors
    /// As [`ConnHandle::async_write`].
    pub fn wake(&self) -> Result<()> {
        self.post(Task::Wake(self.id))
    }

    /// Closes the connection after flushing what is queued.
    ///
    /// # Errors
    /// As [`ConnHandle::async_write`].
    pub fn close(&self) -> Result<()> {
        self.post(Task::Close(self.id))
    }
}
