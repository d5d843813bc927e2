//! The outbound queue: small writes are copied into one contiguous tail,
//! large `Bytes` are queued by reference, and `flush` sends the lot with one
//! `send`/`sendmsg`.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::os::fd::BorrowedFd;

use bytes::{Buf, Bytes, BytesMut};

use crate::options::{MAX_IOVECS_PER_WRITE, OUTBOUND_COPY_THRESHOLD_BYTES};
use crate::sys;

/// Bytes queued for a socket, in order: every `chunks` entry, then `tail`.
#[derive(Debug, Default)]
pub(crate) struct Outbound {
    chunks: VecDeque<Bytes>,
    tail: BytesMut,
    len: usize,
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
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when this buffer holds an allocation (worth lending or keeping).
    pub(crate) fn has_capacity(&self) -> bool {
        self.chunks.capacity() > 0 || self.tail.capacity() > 0
    }

    pub(crate) fn write(&mut self, data: &[u8]) {
        self.tail.extend_from_slice(data);
        self.len += data.len();
    }

    pub(crate) fn write_bytes(&mut self, data: Bytes) {
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
    pub(crate) fn append_with<E>(&mut self, f: impl FnOnce(&mut BytesMut) -> Result<(), E>) -> Result<(), E> {
        let before = self.tail.len();
        let res = f(&mut self.tail);
        if res.is_err() {
            self.tail.truncate(before);
        }
        self.len += self.tail.len() - before;
        res
    }

    /// Drops everything queued (close-now).
    pub(crate) fn clear(&mut self) {
        self.chunks.clear();
        self.tail.clear();
        self.len = 0;
    }

    /// Sends as much as the socket takes, one system call per
    /// [`MAX_IOVECS_PER_WRITE`] pieces, stopping at the first short write
    /// (the next call would only return EAGAIN).
    pub(crate) fn flush(&mut self, fd: BorrowedFd<'_>) -> io::Result<Flushed> {
        let mut sent = 0;
        while self.len > 0 {
            let mut slices: [IoSlice<'_>; MAX_IOVECS_PER_WRITE] = [IoSlice::new(&[]); MAX_IOVECS_PER_WRITE];
            let mut count = 0;
            let mut offered = 0;
            for chunk in &self.chunks {
                if count == MAX_IOVECS_PER_WRITE {
                    break;
                }
                slices[count] = IoSlice::new(chunk);
                offered += chunk.len();
                count += 1;
            }
            if count < MAX_IOVECS_PER_WRITE && !self.tail.is_empty() {
                slices[count] = IoSlice::new(&self.tail);
                offered += self.tail.len();
                count += 1;
            }
            let n = sys::io::send_vectored(fd, &slices[..count])?;
            self.consume(n);
            sent += n;
            if n < offered {
                return Ok(Flushed { sent, all: false });
            }
        }
        self.release_if_large();
        Ok(Flushed { sent, all: true })
    }

    fn consume(&mut self, mut n: usize) {
        self.len -= n;
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
    fn release_if_large(&mut self) {
        const KEEP_TAIL_BYTES: usize = 64 * 1024;
        if self.tail.capacity() > KEEP_TAIL_BYTES {
            self.tail = BytesMut::new();
        }
    }
}
