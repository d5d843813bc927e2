//! The two halves of a connection, [`Reader`] and [`Writer`], so received
//! bytes can be written back without copying them out first.

use std::fmt;
use std::io::{self, IoSlice};

use bytes::{Buf, Bytes, BytesMut};

use crate::buffer::outbound::Outbound;
use crate::error::{CloseReason, Error, Result};
use crate::framing::Framer;

/// The inbound half of a [`Conn`](super::Conn) (see [`Conn::split`](super::Conn::split)).
///
/// Loop thread only (inside a callback on this connection).
///
/// # Examples
///
/// Every method of `Reader`:
///
/// ```
/// # use std::io::{Read, Write};
/// # use std::time::Duration;
/// use netreactor::{Action, Conn, Engine, EventHandler};
///
/// /// "GET key\n" answers the key, other lines are skipped; at end of file
/// /// an unfinished line comes back as it is.
/// struct Get;
/// impl EventHandler for Get {
///     fn on_traffic(&self, conn: &mut Conn) -> Action {
///         let (mut rx, mut tx) = conn.split();
///         while let Some(end) = rx.peek_all().iter().position(|&b| b == b'\n') {
///             if rx.peek(4) == b"GET " {
///                 rx.discard(4);
///                 let key = rx.next(end - 4).expect("the line is here");
///                 tx.write_bytes(key); // no copy
///                 tx.write(b"\n");
///                 rx.discard(1); // the newline
///             } else {
///                 rx.discard(end + 1);
///             }
///         }
///         Action::Continue
///     }
///     fn on_eof(&self, conn: &mut Conn) -> Action {
///         let (mut rx, mut tx) = conn.split();
///         assert_eq!(rx.len(), 3);
///         tx.write_bytes(rx.take_all());
///         assert!(rx.is_empty());
///         Action::Close
///     }
/// }
///
/// let engine = Engine::builder().event_loops(1).start(Get, "tcp://127.0.0.1:0")?;
/// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
/// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
/// client.write_all(b"GET one\nPUT x\nGET two\nGET")?;
/// client.shutdown(std::net::Shutdown::Write)?;
/// let mut reply = Vec::new();
/// client.read_to_end(&mut reply)?;
/// assert_eq!(reply, b"one\ntwo\nGET");
/// engine.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Reader<'a> {
    pub(super) buf: &'a mut BytesMut,
}

/// The outbound half of a [`Conn`](super::Conn) (see [`Conn::split`](super::Conn::split)).
///
/// Its writes behave as [`Conn::write`](super::Conn::write) and its kin: in
/// order, sent when the callback returns, dropped after `close_now` or
/// `shutdown_write`, and closing the connection past
/// [`max_outbound_buffer`](crate::EngineBuilder::max_outbound_buffer).
///
/// Loop thread only (inside a callback on this connection).
///
/// # Examples
///
/// Every method of `Writer`:
///
/// ```
/// # use std::io::{Read, Write};
/// # use std::time::Duration;
/// use std::io::IoSlice;
/// use netreactor::codec::LineCodec;
/// use netreactor::{Action, Conn, Engine, EventHandler, Frame};
///
/// /// Answers each line with three: the line, its length, and "end".
/// struct Describe;
/// impl EventHandler for Describe {
///     fn on_frame(&self, conn: &mut Conn, line: Frame<'_>) -> Action {
///         let (_, mut tx) = conn.split();
///         assert!(tx.is_empty() && tx.len() == 0);
///         tx.write(b"> ");
///         if tx.write_frame(&line).is_err() {
///             return Action::Close;
///         }
///         tx.write_vectored(&[IoSlice::new(b"len "), IoSlice::new(line.len().to_string().as_bytes())]);
///         tx.write_bytes("\nend\n");
///         assert_eq!(tx.len(), 2 + line.len() + 1 + 4 + 1 + 5);
///         Action::Continue
///     }
/// }
///
/// let engine = Engine::builder()
///     .event_loops(1)
///     .codec(LineCodec::new())
///     .start(Describe, "tcp://127.0.0.1:0")?;
/// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
/// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
/// client.write_all(b"hello\n")?;
/// let mut reply = [0; 18];
/// client.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"> hello\nlen 5\nend\n");
/// engine.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Writer<'a> {
    pub(super) out: &'a mut Outbound,
    pub(super) max: usize,
    pub(super) open: bool,
    pub(super) close_reason: &'a mut Option<CloseReason>,
    pub(super) codec: Option<&'a mut Framer>,
}

impl fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("queued", &self.out.len())
            .finish_non_exhaustive()
    }
}

impl Reader<'_> {
    /// Bytes received and not yet consumed.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on [`Reader`].
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing is waiting.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on [`Reader`].
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Up to `n` bytes from the front, without consuming them.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on [`Reader`].
    pub fn peek(&self, n: usize) -> &[u8] {
        &self.buf[..n.min(self.buf.len())]
    }

    /// Everything waiting, without consuming it.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on [`Reader`].
    pub fn peek_all(&self) -> &[u8] {
        self.buf
    }

    /// Consumes up to `n` bytes; returns how many were consumed.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on [`Reader`].
    pub fn discard(&mut self, n: usize) -> usize {
        let n = n.min(self.buf.len());
        self.buf.advance(n);
        n
    }

    /// Takes exactly `n` bytes off the front without copying, or `None` if
    /// fewer are waiting.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on [`Reader`].
    pub fn next(&mut self, n: usize) -> Option<Bytes> {
        (n <= self.buf.len()).then(|| self.buf.split_to(n).freeze())
    }

    /// Takes everything waiting without copying.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on [`Reader`].
    pub fn take_all(&mut self) -> Bytes {
        self.buf.split().freeze()
    }
}

impl Writer<'_> {
    /// Queues a copy of `data`.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on [`Writer`].
    #[inline]
    pub fn write(&mut self, data: &[u8]) {
        if self.admit(data.len()) {
            self.out.write(data);
        }
    }

    /// Queues `data` by reference (no copy unless it is small).
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on [`Writer`].
    pub fn write_bytes(&mut self, data: impl Into<Bytes>) {
        let data = data.into();
        if self.admit(data.len()) {
            self.out.write_bytes(data);
        }
    }

    /// Queues several slices, in order.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on [`Writer`].
    pub fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) {
        let total = bufs.iter().map(|b| b.len()).sum();
        if self.admit(total) {
            for b in bufs {
                self.out.write(b);
            }
        }
    }

    /// Encodes `frame` with the engine's codec and queues it.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// # Errors
    /// [`Error::Encode`] when no codec is set or the codec rejects the frame
    /// (for example, its length does not fit the length field); nothing is
    /// queued then.
    ///
    /// See the example on [`Writer`].
    #[inline]
    pub fn write_frame(&mut self, frame: &[u8]) -> Result<()> {
        let Some(codec) = self.codec.as_deref_mut() else {
            return Err(Error::Encode("no codec configured".into()));
        };
        if !admit(self.out, self.max, self.open, self.close_reason, frame.len()) {
            return Ok(());
        }
        // The usual codecs only put a header before the frame's own bytes:
        // frame it here, with no call into the codec.
        if let Some(prefix) = codec.rule().and_then(|rule| rule.prefix(frame.len())) {
            self.out.write_prefixed(prefix, frame);
            return Ok(());
        }
        self.out
            .append_with(|dst| codec.encode(frame, dst))
            .map_err(Error::Encode)
    }

    /// Bytes queued and not yet handed to the kernel.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on [`Writer`].
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// True when nothing is queued.
    ///
    /// Loop thread only (inside a callback on this connection).
    ///
    /// See the example on [`Writer`].
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    #[inline]
    fn admit(&mut self, n: usize) -> bool {
        admit(self.out, self.max, self.open, self.close_reason, n)
    }
}

/// Past the hard cap the connection closes with `OutboundOverflow` and what
/// it had queued is dropped: the peer is not keeping up. Writes after
/// `close_now`/`shutdown_write` are dropped too.
#[inline]
fn admit(out: &mut Outbound, max: usize, open: bool, close_reason: &mut Option<CloseReason>, n: usize) -> bool {
    if !open || matches!(close_reason, Some(CloseReason::OutboundOverflow { .. })) {
        return false;
    }
    if out.len().saturating_add(n) > max {
        out.clear();
        *close_reason = Some(CloseReason::OutboundOverflow { limit: max });
        return false;
    }
    true
}

impl io::Write for Writer<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Writer::write(self, buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
