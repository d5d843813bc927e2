//! The callbacks a server implements.

use std::sync::Arc;
use std::time::Duration;

use crate::conn::Conn;
use crate::error::CloseReason;
use crate::framing::Frame;
use crate::handle::EngineHandle;

/// What the engine does after a callback returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Action {
    /// Keep the connection (and the engine) running.
    #[default]
    Continue,
    /// Close this connection once its queued output is flushed.
    Close,
    /// Stop the whole engine gracefully (as [`EngineHandle::stop`] does).
    Shutdown,
}

/// A server's behaviour: one shared instance, called from every loop thread.
///
/// Every method has a default that does nothing, so a server implements only
/// what it needs. Connection callbacks run on the loop thread that owns the
/// connection, never concurrently for the same connection. A panic in a
/// connection callback closes that connection with
/// [`CloseReason::HandlerPanic`]; the loop goes on serving the others.
///
/// # Examples
///
/// ```
/// use netreactor::{Action, Conn, EventHandler};
///
/// struct Echo;
///
/// impl EventHandler for Echo {
///     fn on_traffic(&self, conn: &mut Conn) -> Action {
///         conn.echo_all();
///         Action::Continue
///     }
/// }
/// ```
pub trait EventHandler: Send + Sync + 'static {
    /// Runs once when the engine has bound its listeners, before any
    /// connection is served, on the thread that called `run`/`start`.
    fn on_boot(&self, engine: &EngineHandle) -> Action {
        let _ = engine;
        Action::Continue
    }

    /// A connection joined a loop. Writes made here (a greeting) are sent
    /// when it returns.
    fn on_open(&self, conn: &mut Conn) -> Action {
        let _ = conn;
        Action::Continue
    }

    /// Bytes arrived (or [`ConnHandle::wake`](crate::ConnHandle::wake) was
    /// called). Consume with `peek`/`discard`/`next`/`echo_all`; what is left
    /// stays in the connection's buffer for the next call. Writes are
    /// flushed with one system call when it returns.
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        let _ = conn;
        Action::Continue
    }

    /// One decoded frame, when the engine has a codec
    /// ([`EngineBuilder::codec`](crate::EngineBuilder::codec)); then
    /// `on_traffic` runs only for [`ConnHandle::wake`](crate::ConnHandle::wake).
    ///
    /// The frame is lent: it dereferences to its bytes, which still lie in
    /// the connection's read buffer, so handling it costs no copy and no
    /// reference count. Call [`Frame::into_bytes`] to keep it beyond the
    /// call (zero-copy too). While frames are being handed out the codec
    /// owns the received bytes, so `conn.inbound_len()` is 0 here; to hand
    /// the rest of the stream to `on_traffic` instead (a protocol switch),
    /// call [`Conn::end_decoding`].
    fn on_frame(&self, conn: &mut Conn, frame: Frame<'_>) -> Action {
        let _ = (conn, frame);
        Action::Continue
    }

    /// The peer shut its sending side (end of file). The default closes the
    /// connection once pending output is flushed (`CloseReason::PeerEof`).
    /// Return `Action::Continue` to keep it half-open: you can still write,
    /// and close it later.
    fn on_eof(&self, conn: &mut Conn) -> Action {
        let _ = conn;
        Action::Close
    }

    /// Queued output crossed the high watermark (`false`: stop producing; by
    /// default reading this connection also pauses) or fell back to the low
    /// watermark (`true`).
    fn on_writability_changed(&self, conn: &mut Conn, writable: bool) -> Action {
        let _ = (conn, writable);
        Action::Continue
    }

    /// A timer set with [`Conn::schedule`] is due.
    fn on_timer(&self, conn: &mut Conn, token: u64) -> Action {
        let _ = (conn, token);
        Action::Continue
    }

    /// Runs on loop 0's thread when the builder enabled the ticker: first
    /// right after start, then after each returned delay.
    /// `Action::Shutdown` stops the engine; `Close` is ignored.
    fn on_tick(&self, engine: &EngineHandle) -> (Duration, Action) {
        let _ = engine;
        (Duration::from_secs(1), Action::Continue)
    }

    /// Output that a full socket had held back has now been sent completely.
    /// Use it to stream more data without holding it all in memory.
    fn on_writable(&self, conn: &mut Conn) -> Action {
        let _ = conn;
        Action::Continue
    }

    /// The connection is closing, exactly once per connection. Its file
    /// descriptor is still open but nothing more is sent.
    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        let _ = (conn, reason);
    }

    /// The engine is stopping: listeners are closed and connections are
    /// about to be flushed and closed (writes queued through a
    /// [`ConnHandle`](crate::ConnHandle) now are still delivered). Runs once,
    /// on the engine's coordinator thread.
    fn on_shutdown(&self, engine: &EngineHandle) {
        let _ = engine;
    }
}

/// An `Arc` of a handler is a handler, so you can keep a clone of the one
/// you give the engine and read its state while it runs.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use netreactor::{Action, Conn, Engine, EventHandler};
///
/// #[derive(Default)]
/// struct Opens(AtomicUsize);
/// impl EventHandler for Opens {
///     fn on_open(&self, _conn: &mut Conn) -> Action {
///         self.0.fetch_add(1, Ordering::Relaxed);
///         Action::Continue
///     }
/// }
///
/// let opens = Arc::new(Opens::default());
/// let engine = Engine::builder().start(opens.clone(), "tcp://127.0.0.1:0")?;
/// let _client = std::net::TcpStream::connect(engine.local_addr())?;
/// # let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
/// # while opens.0.load(Ordering::Relaxed) == 0 && std::time::Instant::now() < deadline {
/// #     std::thread::yield_now();
/// # }
/// assert_eq!(opens.0.load(Ordering::Relaxed), 1);
/// engine.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl<H: EventHandler> EventHandler for Arc<H> {
    fn on_boot(&self, engine: &EngineHandle) -> Action {
        (**self).on_boot(engine)
    }
    fn on_open(&self, conn: &mut Conn) -> Action {
        (**self).on_open(conn)
    }
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        (**self).on_traffic(conn)
    }
    fn on_frame(&self, conn: &mut Conn, frame: Frame<'_>) -> Action {
        (**self).on_frame(conn, frame)
    }
    fn on_eof(&self, conn: &mut Conn) -> Action {
        (**self).on_eof(conn)
    }
    fn on_writability_changed(&self, conn: &mut Conn, writable: bool) -> Action {
        (**self).on_writability_changed(conn, writable)
    }
    fn on_timer(&self, conn: &mut Conn, token: u64) -> Action {
        (**self).on_timer(conn, token)
    }
    fn on_tick(&self, engine: &EngineHandle) -> (Duration, Action) {
        (**self).on_tick(engine)
    }
    fn on_writable(&self, conn: &mut Conn) -> Action {
        (**self).on_writable(conn)
    }
    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        (**self).on_close(conn, reason)
    }
    fn on_shutdown(&self, engine: &EngineHandle) {
        (**self).on_shutdown(engine)
    }
}
