//! The outbound queue: small writes are copied into one contiguous tail,
//! large `Bytes` are queued by reference, and `flush` sends the lot with one
//! `send`/`sendmsg`.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::os::fd::BorrowedFd;

use bytes::{Buf, Bytes, BytesMut};

use crate::codec::Prefix;
use crate::options::{MAX_IOVECS_PER_WRITE, OUTBOUND_COPY_THRESHOLD_BYTES};
use crate::sys;

/// A connection's outbound queue: one pointer, allocated only while the
/// connection holds output (or while the loop lends it its spare queue).
#[derive(Debug, Default)]
pub(crate) struct Outbound(Option<Box<Queue>>);

/// Bytes queued for a socket, in order: every `chunks` entry, then `tail`.
#[derive(Debug, Default)]
struct Queue {
    chunks: VecDeque<Bytes>,
    tail: BytesMut,
    len: usize,
    /// TLS: the first `sealed` bytes are ciphertext (or handshake records);
    /// what follows is plaintext the handler wrote, encrypted by `reseal`
    /// before any flush. Unused (0) on a plain connection.
    sealed: usize,
}

/// What one flush achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Flushed {
    /// Bytes the kernel took.
    pub(crate) sent: usize,
    /// False when the socket filled up and some output stays queued.
    pub(crate) all: bool,
}

impl Outbound {
    #[inline]
    fn queue(&mut self) -> &mut Queue {
        self.0.get_or_insert_with(Box::default)
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |q| q.len)
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when this queue holds an allocation (worth lending or keeping).
    #[inline]
    pub(crate) fn has_capacity(&self) -> bool {
        self.0.is_some()
    }

    #[inline]
    pub(crate) fn write(&mut self, data: &[u8]) {
        self.queue().write(data);
    }

    /// `prefix` then `data`, into the tail (a frame whose codec only puts a
    /// header before it; see `Prefix::write`).
    #[inline]
    pub(crate) fn write_prefixed(&mut self, prefix: Prefix, data: &[u8]) {
        let q = self.queue();
        prefix.write(data, &mut q.tail);
        q.len += prefix.len() + data.len();
    }

    pub(crate) fn write_bytes(&mut self, data: Bytes) {
        self.queue().write_bytes(data);
    }

    /// Lets `f` append to the contiguous tail (an encoder writing a frame);
    /// on error whatever it appended is removed.
    #[inline]
    pub(crate) fn append_with<E>(&mut self, f: impl FnOnce(&mut BytesMut) -> Result<(), E>) -> Result<(), E> {
        self.queue().append_with(f)
    }

    /// Drops everything queued (close-now).
    pub(crate) fn clear(&mut self) {
        if let Some(q) = &mut self.0 {
            q.clear();
        }
    }

    /// TLS: bytes written since the last `reseal` (plaintext).
    #[inline]
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn unsealed_len(&self) -> usize {
        self.0.as_ref().map_or(0, |q| q.len - q.sealed)
    }

    /// TLS: appends bytes that go out as they are (handshake records,
    /// alerts) through `f`, which writes into the contiguous tail; the
    /// queue must hold no unsealed plaintext (they would be sealed with it).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn append_sealed<E>(&mut self, f: impl FnOnce(&mut BytesMut) -> Result<(), E>) -> Result<(), E> {
        let q = self.queue();
        debug_assert_eq!(q.sealed, q.len, "plaintext queued before a TLS record");
        let res = q.append_with(f);
        q.sealed = q.len;
        res
    }

    /// TLS: hands every unsealed (plaintext) piece, in order, to `f` with
    /// `out`, then replaces the plaintext with what `f` wrote into `out`
    /// (its records), sealed. `out` is the caller's scratch buffer: when
    /// the queue's tail is empty they trade places, so the usual case (all
    /// flushed before the handler wrote) copies nothing more. On error the
    /// plaintext is dropped with whatever `f` wrote.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn reseal<E>(
        &mut self,
        out: &mut BytesMut,
        mut f: impl FnMut(&[u8], &mut BytesMut) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some(q) = &mut self.0 else { return Ok(()) };
        if q.sealed == q.len {
            return Ok(());
        }
        out.clear();
        let mut skip = q.sealed;
        let mut res = Ok(());
        for piece in q.chunks.iter().map(|c| &c[..]).chain([&q.tail[..]]) {
            if skip >= piece.len() {
                skip -= piece.len();
                continue;
            }
            res = f(&piece[skip..], out);
            skip = 0;
            if res.is_err() {
                break;
            }
        }
        q.truncate(q.sealed);
        if res.is_err() {
            out.clear();
            return res;
        }
        q.len += out.len();
        if q.tail.is_empty() {
            std::mem::swap(&mut q.tail, out);
        } else {
            q.tail.extend_from_slice(out);
            out.clear();
        }
        q.sealed = q.len;
        Ok(())
    }

    /// Sends everything queued as one datagram to `to`, then empties the
    /// queue whatever happened (a datagram is sent whole or not at all).
    /// Returns the bytes sent.
    pub(crate) fn send_datagram(&mut self, fd: BorrowedFd<'_>, to: std::net::SocketAddr) -> io::Result<usize> {
        let Some(q) = &mut self.0 else { return Ok(0) };
        if q.len == 0 {
            return Ok(0);
        }
        let result = if q.chunks.is_empty() {
            sys::socket::send_datagram(fd, &[IoSlice::new(&q.tail)], to)
        } else if q.chunks.len() == 1 && q.tail.is_empty() {
            // An echo of a datagram too big to copy: no gather list to build.
            sys::socket::send_datagram(fd, &[IoSlice::new(&q.chunks[0])], to)
        } else if q.chunks.len() < MAX_IOVECS_PER_WRITE {
            // At most MAX_IOVECS_PER_WRITE pieces: the list holds them all,
            // and a datagram goes whole or not at all.
            let pieces = q.chunks.iter().map(|c| &c[..]).chain([&q.tail[..]]);
            let (sent, offered) = sys::io::with_gather_list::<MAX_IOVECS_PER_WRITE, _>(pieces, |slices| {
                sys::socket::send_datagram(fd, slices, to)
            });
            debug_assert_eq!(offered, q.len, "a datagram's pieces were cut short");
            sent
        } else {
            // More pieces than one sendmsg takes: join them (rare).
            let mut whole = BytesMut::with_capacity(q.len);
            q.chunks.iter().for_each(|c| whole.extend_from_slice(c));
            whole.extend_from_slice(&q.tail);
            sys::socket::send_datagram(fd, &[IoSlice::new(&whole)], to)
        };
        q.clear();
        result
    }

    /// What one datagram made of this queue holds, in at most two pieces
    /// (a queued `Bytes` and the tail written after it), for a batched send;
    /// `None` when it has more pieces than that.
    pub(crate) fn datagram_pieces(&self) -> Option<[&[u8]; 2]> {
        let Some(q) = &self.0 else { return Some([&[], &[]]) };
        match q.chunks.len() {
            0 => Some([&q.tail, &[]]),
            1 => Some([&q.chunks[0], &q.tail]),
            _ => None,
        }
    }

    /// Sends as much as the socket takes (see [`Queue::flush`]).
    #[inline]
    pub(crate) fn flush(&mut self, fd: BorrowedFd<'_>) -> io::Result<Flushed> {
        match &mut self.0 {
            Some(q) => q.flush(fd),
            None => Ok(Flushed { sent: 0, all: true }),
        }
    }
}

impl Queue {
    #[inline]
    fn write(&mut self, data: &[u8]) {
        self.tail.extend_from_slice(data);
        self.len += data.len();
    }

    fn write_bytes(&mut self, data: Bytes) {
        if data.len() < OUTBOUND_COPY_THRESHOLD_BYTES {
            return self.write(&data);
        }
        if !self.tail.is_empty() {
            // Keep order: what was written before goes before this chunk.
            self.chunks.push_back(self.tail.split().freeze());
        }
        self.len += data.len();
        self.chunks.push_back(data);
    }

    /// Lets `f` append to the contiguous tail (an encoder writing a frame);
    /// on error whatever it appended is removed.
    #[inline]
    fn append_with<E>(&mut self, f: impl FnOnce(&mut BytesMut) -> Result<(), E>) -> Result<(), E> {
        let before = self.tail.len();
        let res = f(&mut self.tail);
        if res.is_err() {
            self.tail.truncate(before);
        }
        self.len += self.tail.len() - before;
        res
    }

    /// Drops everything queued (close-now).
    fn clear(&mut self) {
        if !self.chunks.is_empty() {
            // VecDeque::clear is out of line even when there is nothing to
            // drop; a datagram's reply is usually in `tail` alone.
            self.chunks.clear();
        }
        self.tail.clear();
        self.len = 0;
        self.sealed = 0;
    }

    /// Keeps the first `keep` bytes, drops the rest.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    fn truncate(&mut self, keep: usize) {
        let mut left = keep;
        let mut kept = 0;
        for chunk in &mut self.chunks {
            if left == 0 {
                break;
            }
            if chunk.len() > left {
                chunk.truncate(left);
            }
            left -= chunk.len();
            kept += 1;
        }
        self.chunks.truncate(kept);
        self.tail.truncate(left);
        self.len = keep;
    }

    /// Sends as much as the socket takes, one system call per
    /// [`MAX_IOVECS_PER_WRITE`] pieces, stopping at the first short write
    /// (the next call would only return EAGAIN).
    #[inline(always)]
    fn flush(&mut self, fd: BorrowedFd<'_>) -> io::Result<Flushed> {
        let mut sent = 0;
        while self.len > 0 {
            let (n, offered) = if self.chunks.is_empty() {
                // The common case (small writes copied into the tail): one
                // slice, no gather list to build.
                (
                    sys::io::send_vectored(fd, &[IoSlice::new(&self.tail)])?,
                    self.tail.len(),
                )
            } else {
                self.send_gathered(fd)?
            };
            self.consume(n);
            sent += n;
            if n < offered {
                return Ok(Flushed { sent, all: false });
            }
        }
        self.release_if_large();
        Ok(Flushed { sent, all: true })
    }

    /// One `sendmsg` of up to [`MAX_IOVECS_PER_WRITE`] pieces, chunks first,
    /// then the tail; returns (bytes sent, bytes offered). Kept out of line
    /// so the common one-slice flush stays small.
    #[inline(never)]
    fn send_gathered(&self, fd: BorrowedFd<'_>) -> io::Result<(usize, usize)> {
        let pieces = self.chunks.iter().map(|c| &c[..]).chain([&self.tail[..]]);
        let (sent, offered) =
            sys::io::with_gather_list::<MAX_IOVECS_PER_WRITE, _>(pieces, |slices| sys::io::send_vectored(fd, slices));
        Ok((sent?, offered))
    }

    #[inline]
    fn consume(&mut self, mut n: usize) {
        self.len -= n;
        self.sealed = self.sealed.saturating_sub(n);
        if self.len == 0 {
            // Emptied in place: the next write reuses the tail from its
            // start, with no reclaiming in `reserve`.
            if !self.chunks.is_empty() {
                self.chunks.clear();
            }
            self.tail.clear();
            return;
        }
        while n > 0 {
            match self.chunks.front_mut() {
                Some(front) if front.len() <= n => {
                    n -= front.len();
                    self.chunks.pop_front();
                }
                Some(front) => {
                    front.advance(n);
                    return;
                }
                None => {
                    self.tail.advance(n);
                    return;
                }
            }
        }
    }

    /// An idle connection should not pin a big buffer that one burst grew.
    #[inline]
    fn release_if_large(&mut self) {
        const KEEP_TAIL_BYTES: usize = 64 * 1024;
        if self.tail.capacity() > KEEP_TAIL_BYTES {
            self.tail = BytesMut::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything queued, in order.
    fn contents(out: &Outbound) -> Vec<u8> {
        let q = out.0.as_ref().unwrap();
        let mut all: Vec<u8> = q.chunks.iter().flat_map(|c| c.iter().copied()).collect();
        all.extend_from_slice(&q.tail);
        all
    }

    /// "Seals" by upper-casing each piece and wrapping it in brackets.
    fn seal(out: &mut Outbound, scratch: &mut BytesMut) {
        out.reseal(scratch, |piece: &[u8], buf: &mut BytesMut| {
            buf.extend_from_slice(b"[");
            buf.extend_from_slice(&piece.to_ascii_uppercase());
            buf.extend_from_slice(b"]");
            Ok::<(), ()>(())
        })
        .unwrap();
    }

    #[test]
    fn reseal_replaces_only_what_was_written_since_the_last_seal() {
        let big = |c: u8| Bytes::from(vec![c; OUTBOUND_COPY_THRESHOLD_BYTES]);
        let mut out = Outbound::default();
        let mut scratch = BytesMut::new();
        out.write(b"ab");
        seal(&mut out, &mut scratch);
        assert_eq!(contents(&out), b"[AB]");
        // A sealed tail, then a large chunk and a small write behind it.
        out.write_bytes(big(b'x'));
        out.write(b"cd");
        assert_eq!(out.unsealed_len(), OUTBOUND_COPY_THRESHOLD_BYTES + 2);
        seal(&mut out, &mut scratch);
        let mut want = b"[AB][".to_vec();
        want.extend(vec![b'X'; OUTBOUND_COPY_THRESHOLD_BYTES]);
        want.extend_from_slice(b"][CD]");
        assert_eq!(contents(&out), want);
        assert_eq!((out.len(), out.unsealed_len()), (want.len(), 0));
        // Part of it is sent: the sealed mark moves with the front.
        out.queue().consume(3);
        out.write(b"e");
        seal(&mut out, &mut scratch);
        assert_eq!(contents(&out), [&want[3..], b"[E]"].concat());
        assert_eq!(out.unsealed_len(), 0);
        // Nothing new: nothing changes.
        seal(&mut out, &mut scratch);
        assert_eq!(contents(&out), [&want[3..], b"[E]"].concat());
    }

    #[test]
    fn a_failed_reseal_drops_the_plaintext_and_keeps_what_was_sealed() {
        let mut out = Outbound::default();
        let mut scratch = BytesMut::new();
        out.write(b"ab");
        seal(&mut out, &mut scratch);
        out.write(b"secret");
        assert!(out.reseal(&mut scratch, |_, _| Err(())).is_err());
        assert_eq!(contents(&out), b"[AB]");
        assert_eq!(out.unsealed_len(), 0);
    }
}
