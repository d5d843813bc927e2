//! Frame delivery: every whole frame of a read decoded in batches and lent
//! to `on_frame` in place, under one panic guard per pass.

use std::mem;
use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::{Buf, BytesMut};

use super::callback::{close_for_panic, lend_spare};
use super::clock::Clock;
use super::EventLoop;
use crate::action::Action;
use crate::buffer::outbound::Outbound;
use crate::codec::{FrameSpan, MAX_RESERVE_STEP_BYTES};
use crate::conn::Conn;
use crate::error::CloseReason;
use crate::framing::Frame;
use crate::id::ConnId;
use crate::service::Serve;
use crate::sys;

impl<S: Serve> EventLoop<S> {
    /// Hands every whole frame in the inbound buffer to `on_frame`, in one
    /// pass that holds the connection (no lookup or hand-off per frame).
    /// Frames are lent in place when the decoder can find them there
    /// (`Decoder::decode_span`: no reference count touched per frame). One
    /// panic guard covers the pass: a panic closes the connection, which
    /// would end the pass anyway.
    pub(super) fn decode_frames(&mut self, id: ConnId, eof: bool) {
        let Some((conn, state)) = self.conns.get_pair(id) else {
            return;
        };
        // Outlives the panic guard: a Shutdown asked for by one frame still
        // stands if a later frame of the same read panics.
        let mut pass = FramePass {
            state,
            handler: &*self.handler,
            spare: &mut self.spare_out,
            clock: &self.clock,
            frames: 0,
            shutdown: false,
        };
        // The codec owns the inbound bytes while frames are lent from them.
        let mut buf = mem::take(&mut conn.inbound);
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| pass.run(conn, &mut buf, eof))) {
            close_for_panic(conn, payload.as_ref());
        }
        debug_assert!(
            conn.inbound.is_empty(),
            "nothing writes the inbound buffer during on_frame"
        );
        conn.inbound = buf;
        let (frames, shutdown) = (pass.frames, pass.shutdown);
        self.counters.frames_in.add(frames);
        if shutdown {
            self.engine.request_stop(self.engine.shutdown_deadline());
        }
    }
}

/// Frames found per `Decoder::decode_spans` call. The array lives on the
/// stack and is cleared on every read, so it stays small; a 64 KiB read of
/// 64-byte frames takes 64 calls.
const FRAMES_PER_BATCH: usize = 16;

/// One pass of [`EventLoop::decode_frames`]: what delivering frames needs
/// besides the connection and its buffer, and what the pass found out.
struct FramePass<'a, S: Serve> {
    handler: &'a S,
    state: &'a mut S::State,
    spare: &'a mut Outbound,
    clock: &'a Clock,
    frames: u64,
    shutdown: bool,
}

impl<S: Serve> FramePass<'_, S> {
    /// Decodes and delivers frames until the buffer holds no whole one, the
    /// connection is closing or the handler ended decoding.
    pub(super) fn run(&mut self, conn: &mut Conn, buf: &mut BytesMut, eof: bool) {
        let mut batch = [FrameSpan::default(); FRAMES_PER_BATCH];
        // The last batch came back short: what is left holds no whole frame
        // (or the decoder batches no further), so the next step is
        // `decode_span` and not another batch.
        let mut short = false;
        while conn.close_reason.is_none() {
            let Some(codec) = conn.codec.as_mut() else { break };
            // Every whole frame of the read in one call, delivered in place...
            let found = if short { 0 } else { codec.decode_spans(buf, &mut batch) };
            short = false;
            if found > 0 {
                // Bytes `Frame::into_bytes` split off the front since the batch was found.
                let mut removed = 0;
                let mut end = 0;
                for span in &batch[..found] {
                    // Closing, or the handler ended decoding (`Conn::end_decoding`).
                    if conn.close_reason.is_some() || conn.codec.is_none() {
                        break;
                    }
                    let lent = FrameSpan {
                        start: span.start - removed,
                        end: span.end - removed,
                        consumed: span.consumed - removed,
                    };
                    removed += self.deliver_lent(conn, buf, lent);
                    end = span.consumed;
                }
                buf.advance(end - removed);
                if buf.is_empty() && !eof {
                    break; // the usual end of a read: nothing left to look at
                }
                short = found < batch.len();
                continue;
            }
            // ...and then one at a time: a partial, corrupt or oversize frame,
            // the end of the stream, or a decoder without batches. A decoder
            // short of a frame reserves room for more of it, which for a big
            // buffer (128 KiB or more, short of 64 KiB of room) is made here
            // first (`reserve` would `realloc` it). A decoder without
            // batches gets it before every frame, needed or not: a big
            // buffer with little room left is rare outside a big frame.
            sys::memory::reserve_if_big(buf, MAX_RESERVE_STEP_BYTES);
            match codec.decode_span(buf, eof) {
                Some(Ok(Some(span))) => {
                    let taken = self.deliver_lent(conn, buf, span);
                    buf.advance(span.consumed - taken);
                }
                Some(Ok(None)) => break,
                Some(Err(msg)) => conn.close_reason = Some(CloseReason::Codec(msg)),
                None => match codec.decode(buf, eof) {
                    Ok(Some(frame)) => self.deliver(conn, Frame::owned(frame)),
                    Ok(None) => break,
                    Err(msg) => conn.close_reason = Some(CloseReason::Codec(msg)),
                },
            }
        }
    }

    /// Lends `buf[span]` to `on_frame`; returns how many bytes
    /// `Frame::into_bytes` took off the front of `buf` meanwhile.
    #[inline]
    pub(super) fn deliver_lent(&mut self, conn: &mut Conn, buf: &mut BytesMut, span: FrameSpan) -> usize {
        let before = buf.len();
        self.deliver(conn, Frame::lent(buf, span));
        before - buf.len()
    }

    /// One frame to `on_frame`, with its action applied.
    #[inline]
    pub(super) fn deliver(&mut self, conn: &mut Conn, frame: Frame<'_>) {
        self.frames += 1;
        lend_spare(conn, self.spare, self.clock);
        match self.handler.on_frame(conn, self.state, frame) {
            Action::Continue => {}
            Action::Close => conn.close(),
            Action::Shutdown => self.shutdown = true,
        }
    }
}
