//! The two halves of a connection, [`Reader`] and [`Writer`], so received
//! bytes can be written back without copying them out first.

use std::fmt;
use std::io::{self, IoSlice};

use bytes::{Buf, Bytes, BytesMut};

use crate::buffer::outbound::Outbound;
use crate::error::{CloseReason, Error, Result};
use crate::framing::FrameCodec;

/// The inbound half of a [`Conn`](super::Conn) (see [`Conn::split`](super::Conn::split)).
#[derive(Debug)]
pub struct Reader<'a> {
    pub(super) buf: &'a mut BytesMut,
}

/// The outbound half of a [`Conn`](super::Conn) (see [`Conn::split`](super::Conn::split)).
pub struct Writer<'a> {
    pub(super) out: &'a mut Outbound,
    pub(super) max: usize,
    pub(super) open: bool,
    pub(super) close_reason: &'a mut Option<CloseReason>,
    pub(super) codec: Option<&'a mut Box<dyn FrameCodec>>,
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
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Up to `n` bytes from the front, without consuming them.
    pub fn peek(&self, n: usize) -> &[u8] {
        &self.buf[..n.min(self.buf.len())]
    }

    /// Everything waiting, without consuming it.
    pub fn peek_all(&self) -> &[u8] {
        self.buf
    }

    /// Consumes up to `n` bytes; returns how many were consumed.
    pub fn discard(&mut self, n: usize) -> usize {
        let n = n.min(self.buf.len());
        self.buf.advance(n);
        n
    }

    /// Takes exactly `n` bytes off the front without copying, or `None` if
    /// fewer are waiting.
    pub fn next(&mut self, n: usize) -> Option<Bytes> {
        (n <= self.buf.len()).then(|| self.buf.split_to(n).freeze())
    }

    /// Takes everything waiting without copying.
    pub fn take_all(&mut self) -> Bytes {
        self.buf.split().freeze()
    }
}

impl Writer<'_> {
    /// Queues a copy of `data`.
    pub fn write(&mut self, data: &[u8]) {
        if self.admit(data.len()) {
            self.out.write(data);
        }
    }

    /// Queues `data` by reference (no copy unless it is small).
    pub fn write_bytes(&mut self, data: impl Into<Bytes>) {
        let data = data.into();
        if self.admit(data.len()) {
            self.out.write_bytes(data);
        }
    }

    /// Queues several slices, in order.
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
    /// # Errors
    /// [`Error::Encode`] when no codec is set or the codec rejects the frame
    /// (for example, its length does not fit the length field); nothing is
    /// queued then.
    #[inline]
    pub fn write_frame(&mut self, frame: &[u8]) -> Result<()> {
        let Some(codec) = self.codec.as_deref_mut() else {
            return Err(Error::Encode("no codec configured".into()));
        };
        if !admit(self.out, self.max, self.open, self.close_reason, frame.len()) {
            return Ok(());
        }
        self.out
            .append_with(|dst| codec.encode(frame, dst))
            .map_err(Error::Encode)
    }

    /// Bytes queued and not yet handed to the kernel.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

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
