//! A connection as the handler sees it ([`Conn`], loop thread only), its
//! halves, and as other threads reach it ([`ConnHandle`]).

mod halves;
mod handle;

pub use self::halves::{Reader, Writer};
pub use self::handle::ConnHandle;
pub(crate) use self::handle::HandleShared;

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::buffer::outbound::Outbound;
use crate::error::{CloseReason, Result};
use crate::framing::FrameCodec;
use crate::id::{ConnId, TimerId, TimerKey};
use crate::mailbox::Mailbox;
use crate::options::OUTBOUND_COPY_THRESHOLD_BYTES;
use crate::sys;
use crate::sys::epoll::Interest;

/// A connection, lent to [`EventHandler`](crate::EventHandler) callbacks on
/// the loop thread that owns it.
///
/// Inbound bytes are read with [`peek`](Conn::peek) / [`discard`](Conn::discard)
/// / [`next`](Conn::next); what a callback leaves unconsumed is kept for the
/// next one. Writes are queued and flushed with one system call when the
/// callback returns. To read and write at once without copying, use
/// [`split`](Conn::split) or [`echo_all`](Conn::echo_all).
pub struct Conn {
    pub(crate) fd: OwnedFd,
    pub(crate) id: ConnId,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) inbound: BytesMut,
    pub(crate) outbound: Outbound,
    pub(crate) interest: Interest,
    /// Set once the connection should close when its output has drained.
    pub(crate) close_reason: Option<CloseReason>,
    /// The peer sent FIN; nothing more will be read.
    pub(crate) read_closed: bool,
    /// Output was held back by a full socket (on_writable fires on drain).
    pub(crate) write_blocked: bool,
    pub(crate) queued_for_flush: bool,
    /// `on_close` has run: handles made now are dead from the start.
    pub(crate) closed: bool,
    /// Queued output was thrown away (`close_now`, a panic): the close
    /// resets the connection so the peer sees the stream was cut.
    pub(crate) output_dropped: bool,
    /// Closing with output queued: `linger_deadline` is set (`None`: the
    /// linger is unbounded).
    pub(crate) lingering: bool,
    pub(crate) linger_deadline: Option<Instant>,
    pub(crate) max_outbound: usize,
    pub(crate) write_side: WriteSide,
    /// Below the high watermark (as last reported to the handler).
    pub(crate) writable: bool,
    pub(crate) codec: Option<Box<dyn FrameCodec>>,
    /// Timer state; allocated only when timeouts are configured or a timer
    /// is scheduled, so an idle connection without them stays small.
    pub(crate) timing: Option<Box<Timing>>,
    /// Bytes this connection's partial inbound message holds, as counted in
    /// the engine's inbound budget (saturating at 4 GiB, which is over any
    /// sane budget, so such a holder is still the first to go; a u32 keeps
    /// an idle connection's slot within its memory budget).
    pub(crate) held: u32,
    /// Bytes sent by `Conn::flush` calls, for the loop's counters.
    pub(crate) sent_by_flush: u64,
    /// Shared with the connection's handles, once one exists.
    pub(crate) shared: Option<Arc<HandleShared>>,
    pub(crate) mailbox: Arc<Mailbox>,
    pub(crate) context: Option<Box<dyn Any + Send>>,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("id", &self.id)
            .field("fd", &self.fd.as_raw_fd())
            .field("peer", &self.peer)
            .field("inbound_len", &self.inbound.len())
            .field("outbound_len", &self.outbound.len())
            .finish_non_exhaustive()
    }
}

/// A connection's timestamps and pending timer requests.
#[derive(Debug)]
pub(crate) struct Timing {
    /// When bytes last arrived / the kernel last took queued output.
    pub(crate) last_read: Instant,
    pub(crate) last_progress: Instant,
    /// When the unconsumed (partial) input started waiting.
    pub(crate) partial_since: Option<Instant>,
    /// The deadline of this connection's armed idle timer entry.
    pub(crate) idle_timer: Option<Instant>,
    /// Timers requested in the current callback: (delay, token).
    /// Timers scheduled in the current callback: (delay, token, id).
    pub(crate) new_timers: Vec<(Duration, u64, TimerId)>,
    /// Timers on the loop's wheel, by id, so they can be cancelled (and are
    /// when the connection closes).
    pub(crate) armed: HashMap<TimerId, TimerKey>,
    /// Wheel entries to remove after the current callback.
    pub(crate) cancelled: Vec<TimerKey>,
    /// The next `TimerId` this connection hands out.
    pub(crate) next_timer: u64,
}

impl Timing {
    pub(crate) fn new(now: Instant) -> Box<Timing> {
        Box::new(Timing {
            last_read: now,
            last_progress: now,
            partial_since: None,
            idle_timer: None,
            new_timers: Vec::new(),
            armed: HashMap::new(),
            cancelled: Vec::new(),
            next_timer: 0,
        })
    }
}

/// The state of our sending side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteSide {
    Open,
    /// `shutdown_write` was called: send what is queued, then FIN.
    ShutdownPending,
    /// FIN sent.
    Shut,
    /// `close_now`: queued output dropped, nothing more is sent.
    Discarding,
}

impl Conn {
    /// This connection's id, unique among the live connections of its loop.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The raw file descriptor (for socket options this crate does not wrap).
    /// Do not close it or change its blocking mode.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The peer's address, as accept reported it.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The local address of the connection (one `getsockname` call).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        sys::socket::local_addr(self.fd.as_fd())
    }

    /// Splits into the inbound and outbound halves, so received bytes can be
    /// written back without copying them out first.
    ///
    /// # Examples
    ///
    /// ```
    /// use netreactor::{Action, Conn, EventHandler};
    ///
    /// struct Upper;
    /// impl EventHandler for Upper {
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         let (mut rx, mut tx) = conn.split();
    ///         tx.write(&rx.peek_all().to_ascii_uppercase());
    ///         let n = rx.len();
    ///         rx.discard(n);
    ///         Action::Continue
    ///     }
    /// }
    /// ```
    #[inline]
    pub fn split(&mut self) -> (Reader<'_>, Writer<'_>) {
        (
            Reader { buf: &mut self.inbound },
            Writer {
                out: &mut self.outbound,
                max: self.max_outbound,
                open: self.write_side == WriteSide::Open,
                close_reason: &mut self.close_reason,
                codec: self.codec.as_mut(),
            },
        )
    }

    fn reader(&mut self) -> Reader<'_> {
        self.split().0
    }

    #[inline]
    fn writer(&mut self) -> Writer<'_> {
        self.split().1
    }

    /// Bytes received and not yet consumed.
    pub fn inbound_len(&self) -> usize {
        self.inbound.len()
    }

    /// Up to `n` bytes from the front of the inbound data, not consumed.
    pub fn peek(&self, n: usize) -> &[u8] {
        &self.inbound[..n.min(self.inbound.len())]
    }

    /// All inbound data, not consumed.
    pub fn peek_all(&self) -> &[u8] {
        &self.inbound
    }

    /// Consumes up to `n` inbound bytes; returns how many.
    pub fn discard(&mut self, n: usize) -> usize {
        self.reader().discard(n)
    }

    /// Takes exactly `n` inbound bytes without copying, or `None` if fewer
    /// have arrived.
    pub fn next(&mut self, n: usize) -> Option<Bytes> {
        self.reader().next(n)
    }

    /// Takes all inbound bytes without copying.
    pub fn take_inbound(&mut self) -> Bytes {
        self.reader().take_all()
    }

    /// Writes every inbound byte back to the peer, without copying (a few
    /// bytes are copied into the outbound queue, as `write_bytes` would).
    #[inline]
    pub fn echo_all(&mut self) {
        if self.inbound.len() < OUTBOUND_COPY_THRESHOLD_BYTES {
            // Cheaper than splitting a `Bytes` off the buffer only to copy it.
            let (reader, mut writer) = self.split();
            writer.write(reader.buf);
            reader.buf.clear();
            return;
        }
        let data = self.take_inbound();
        self.write_bytes(data);
    }

    /// Queues a copy of `data`; it is sent when the callback returns.
    pub fn write(&mut self, data: &[u8]) {
        self.writer().write(data);
    }

    /// Queues `data` by reference (small ones are copied; large ones are
    /// sent straight from the `Bytes`).
    pub fn write_bytes(&mut self, data: impl Into<Bytes>) {
        self.writer().write_bytes(data.into());
    }

    /// Queues several slices, in order.
    pub fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) {
        self.writer().write_vectored(bufs);
    }

    /// Encodes `frame` with the engine's codec and queues it.
    ///
    /// # Errors
    /// [`Error::Encode`](crate::Error::Encode): no codec is set, or the codec rejects the frame.
    #[inline]
    pub fn write_frame(&mut self, frame: &[u8]) -> Result<()> {
        self.writer().write_frame(frame)
    }

    /// Stops decoding frames on this connection, for a protocol switch (an
    /// HTTP-style upgrade, a tunnel after a handshake). Once the current
    /// `on_frame` returns no more frames are delivered: the bytes after
    /// that frame, and everything received later, go to `on_traffic`, at
    /// once if some are already here. `write_frame` then fails with
    /// [`Error::Encode`](crate::Error::Encode); `write` and the rest work as before. Does nothing
    /// on a connection without a codec.
    ///
    /// ```
    /// use netreactor::{Action, Conn, EventHandler, Frame};
    ///
    /// /// Line commands until "RAW", then a raw echo.
    /// struct Upgrade;
    /// impl EventHandler for Upgrade {
    ///     fn on_frame(&self, conn: &mut Conn, line: Frame<'_>) -> Action {
    ///         if &line[..] == b"RAW" {
    ///             conn.end_decoding();
    ///         }
    ///         Action::Continue
    ///     }
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         conn.echo_all();
    ///         Action::Continue
    ///     }
    /// }
    /// ```
    pub fn end_decoding(&mut self) {
        self.codec = None;
    }

    /// Bytes queued and not yet accepted by the kernel.
    pub fn outbound_len(&self) -> usize {
        self.outbound.len()
    }

    /// Sends queued bytes now instead of when the callback returns.
    ///
    /// # Errors
    /// The socket failed (the connection will close with that reason).
    pub fn flush(&mut self) -> io::Result<()> {
        match self.outbound.flush(self.fd.as_fd()) {
            Ok(f) => {
                self.sent_by_flush += f.sent as u64;
                if let Some(t) = self.timing.as_mut().filter(|_| f.sent > 0) {
                    t.last_progress = Instant::now();
                }
                self.write_blocked |= !f.all;
                Ok(())
            }
            Err(e) => {
                self.outbound.clear();
                let copy = io::Error::new(e.kind(), e.to_string());
                self.close_reason.get_or_insert(CloseReason::from_io(e));
                Err(copy)
            }
        }
    }

    /// Closes the connection once everything queued has been sent (bounded
    /// by the linger deadline). `on_close` follows with `CloseReason::Local`.
    pub fn close(&mut self) {
        self.close_reason.get_or_insert(CloseReason::Local);
    }

    /// Closes the connection when the callback returns, dropping queued output.
    pub fn close_now(&mut self) {
        self.output_dropped |= !self.outbound.is_empty();
        self.outbound.clear();
        self.write_side = WriteSide::Discarding;
        self.close_reason.get_or_insert(CloseReason::Local);
    }

    /// Half-closes: sends what is queued, then a FIN; the peer sees end of
    /// file but may keep sending, and reading goes on. Later writes are dropped.
    pub fn shutdown_write(&mut self) {
        if self.write_side == WriteSide::Open {
            self.write_side = WriteSide::ShutdownPending;
        }
    }

    /// False while queued output is above the high watermark.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// Calls [`EventHandler::on_timer`](crate::EventHandler::on_timer) with
    /// `token` after `delay`, on this connection's loop, unless the timer is
    /// cancelled or the connection closes first (its timers go with it).
    /// `delay` may be anything: `Duration::MAX` (or anything over a century)
    /// means never. Loop thread only (inside a callback).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use netreactor::{Action, Conn, EventHandler, TimerId};
    ///
    /// /// Closes a connection that sends nothing for 30 s after its last
    /// /// message; each message re-arms the timer.
    /// struct Quiet;
    /// impl EventHandler for Quiet {
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         conn.echo_all();
    ///         if let Some(old) = conn.take_context::<TimerId>() {
    ///             conn.cancel_timer(old);
    ///         }
    ///         let timer = conn.schedule(Duration::from_secs(30), 0);
    ///         conn.set_context(timer);
    ///         Action::Continue
    ///     }
    ///     fn on_timer(&self, _conn: &mut Conn, _token: u64) -> Action {
    ///         Action::Close
    ///     }
    /// }
    /// ```
    pub fn schedule(&mut self, delay: Duration, token: u64) -> TimerId {
        let timing = self.timing.get_or_insert_with(|| Timing::new(Instant::now()));
        let id = TimerId(timing.next_timer);
        timing.next_timer += 1;
        timing.new_timers.push((delay, token, id));
        id
    }

    /// Cancels a timer set with [`schedule`](Conn::schedule): its
    /// `on_timer` will not run. Returns false if it already ran (or was
    /// cancelled). Loop thread only (inside a callback).
    pub fn cancel_timer(&mut self, timer: TimerId) -> bool {
        let Some(timing) = self.timing.as_deref_mut() else {
            return false;
        };
        if let Some(i) = timing.new_timers.iter().position(|&(_, _, t)| t == timer) {
            timing.new_timers.swap_remove(i);
            return true;
        }
        match timing.armed.remove(&timer) {
            Some(key) => {
                timing.cancelled.push(key);
                true
            }
            None => false,
        }
    }

    /// True once the connection is closing (no more callbacks but `on_close`).
    pub fn is_closing(&self) -> bool {
        self.close_reason.is_some()
    }

    /// Turns Nagle's algorithm off (`true`, the engine's default) or on.
    ///
    /// # Errors
    /// The `setsockopt` call failed.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        sys::socket::set_nodelay(self.fd.as_fd(), nodelay)
    }

    /// A handle other threads can use to write to or close this connection.
    pub fn handle(&mut self) -> ConnHandle {
        let (closed, limit) = (self.closed, self.max_outbound);
        let shared = self
            .shared
            .get_or_insert_with(|| HandleShared::new(!closed, limit))
            .clone();
        shared.set_outbound(self.outbound.len());
        ConnHandle {
            id: self.id,
            mailbox: self.mailbox.clone(),
            shared,
        }
    }

    /// Stores a per-connection value, replacing any earlier one.
    ///
    /// # Examples
    ///
    /// ```
    /// use netreactor::{Action, Conn, EventHandler};
    ///
    /// struct Counter;
    /// impl EventHandler for Counter {
    ///     fn on_open(&self, conn: &mut Conn) -> Action {
    ///         conn.set_context(0u64);
    ///         Action::Continue
    ///     }
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         let n = conn.inbound_len() as u64;
    ///         conn.discard(n as usize);
    ///         *conn.context_mut::<u64>().unwrap() += n;
    ///         Action::Continue
    ///     }
    /// }
    /// ```
    pub fn set_context<T: Any + Send>(&mut self, value: T) {
        self.context = Some(Box::new(value));
    }

    /// The per-connection value, if one of type `T` is stored.
    pub fn context<T: Any + Send>(&self) -> Option<&T> {
        self.context.as_ref()?.downcast_ref()
    }

    /// The per-connection value, mutably.
    pub fn context_mut<T: Any + Send>(&mut self) -> Option<&mut T> {
        self.context.as_mut()?.downcast_mut()
    }

    /// Removes and returns the per-connection value.
    pub fn take_context<T: Any + Send>(&mut self) -> Option<T> {
        match self.context.take()?.downcast::<T>() {
            Ok(b) => Some(*b),
            Err(other) => {
                self.context = Some(other);
                None
            }
        }
    }
}

impl io::Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Conn::write(self, buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Conn::flush(self)
    }
}
