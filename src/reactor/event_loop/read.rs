//! The read path: one read into the loop's shared buffer (a small unconsumed
//! tail copied in front of it), then `on_traffic` or frame delivery, end of
//! file, and the tail kept per connection only while a message is partial.

use std::mem;
use std::sync::atomic::Ordering;

use bytes::BytesMut;

use super::callback::call_with;
use super::EventLoop;
use crate::action::Action;
use crate::error::CloseReason;
use crate::id::ConnId;
use crate::mailbox::Task;
use crate::service::Serve;
use crate::sys;
use crate::sys::io::ReadOutcome;
use std::os::fd::AsFd;

/// An unconsumed tail up to this size is copied back into the loop's read
/// buffer for the next read; a larger one (a big frame arriving) is read into
/// the connection's own buffer, so it is not copied again on every read.
const SMALL_TAIL_BYTES: usize = 4 * 1024;

/// Small tail buffers a loop keeps for reuse (at most 1 MiB of them).
const TAIL_POOL_MAX: usize = 256;

impl<S: Serve> EventLoop<S> {
    /// `id` is readable: read it (when it asked to be read) and deliver what
    /// arrived. Returns false when no such connection is open (the token
    /// may name a listener).
    #[inline]
    pub(super) fn on_read_ready(&mut self, id: ConnId) -> bool {
        let max_inbound = self.cfg.max_inbound_bytes;
        let read_size = self.cfg.read_buffer_bytes;
        let Some((conn, state)) = self.conns.get_pair(id) else {
            return false;
        };
        if !conn.interest.read {
            return true;
        }
        if conn.datagram {
            self.on_datagrams(id);
            return true;
        }
        if conn.inbound.len() >= max_inbound {
            conn.close_reason
                .get_or_insert(CloseReason::InboundOverflow { limit: max_inbound });
            self.after_callback(id, Action::Continue);
            return true;
        }
        #[cfg(feature = "tls")]
        if conn.tls.is_some() {
            self.on_tls_readable(id);
            return true;
        }
        // Read into the loop's buffer, with a small unconsumed tail copied to
        // its front; only a large partial message reads into its own buffer.
        let borrowed = conn.inbound.len() <= SMALL_TAIL_BYTES;
        if borrowed {
            if !conn.inbound.is_empty() {
                self.read_buf.extend_from_slice(&conn.inbound);
                conn.inbound.clear();
            }
            mem::swap(&mut conn.inbound, &mut self.read_buf);
        }
        let framed = conn.codec.is_some();
        let relay = conn.relay_link();
        // What was waiting plus what arrives: less is left afterwards when
        // the handler consumed a message.
        let mut arrived = conn.inbound.len();
        let action = match sys::io::read_into(conn.fd.as_fd(), &mut conn.inbound, read_size) {
            Ok(ReadOutcome::Data(n)) => {
                arrived += n;
                conn.heard = true;
                if let Some(t) = &mut conn.timing {
                    t.last_read = self.clock.now();
                }
                self.counters.bytes_in.add(n as u64);
                if framed {
                    self.decode_frames(id, false);
                    self.after_decoding(id)
                } else if let Some(link) = relay {
                    self.relay_forward(id, link.peer);
                    Action::Continue
                } else {
                    // The connection at hand: no second lookup for the call.
                    let spare = &mut self.spare_out;
                    call_with(&*self.handler, spare, &self.clock, conn, state, |h, c, s| {
                        h.on_traffic(c, s)
                    })
                }
            }
            Ok(ReadOutcome::WouldBlock) => Action::Continue,
            Ok(ReadOutcome::Eof) => {
                conn.read_closed = true;
                if framed {
                    self.decode_frames(id, true);
                    let action = self.after_decoding(id);
                    self.apply(id, action);
                }
                self.on_eof(id)
            }
            Err(e) => {
                conn.outbound.clear();
                conn.close_reason.get_or_insert(CloseReason::from_io(e));
                Action::Continue
            }
        };
        if let Some(conn) = self.conns.get_mut(id) {
            // A message was consumed: what is left is a new partial message,
            // whose frame deadline starts now (a client pipelining without
            // pause always has one waiting, but never the same one).
            if conn.inbound.len() < arrived {
                if let Some(t) = conn.timing.as_deref_mut() {
                    t.partial_since = None;
                }
            }
            let pool = &mut self.tail_pool;
            if borrowed && conn.inbound.is_empty() && self.read_buf.capacity() == 0 {
                // The usual case: everything consumed. The loop's buffer goes
                // back and the connection keeps its empty, unallocated one.
                mem::swap(&mut conn.inbound, &mut self.read_buf);
                self.read_buf.clear();
            } else if borrowed {
                // Hand the loop's buffer back; an unconsumed tail goes to the
                // connection's own buffer (from the pool), released when empty.
                let old = mem::take(&mut self.read_buf);
                let tail = conn.inbound.len();
                let own = if tail == 0 {
                    // Everything consumed, but the connection had a buffer
                    // of its own (its partial message is now complete).
                    recycle_tail(pool, old);
                    BytesMut::new()
                } else {
                    let mut own = if old.capacity() >= tail {
                        old
                    } else {
                        recycle_tail(pool, old);
                        take_tail(pool, tail, read_size)
                    };
                    own.extend_from_slice(&conn.inbound);
                    own
                };
                conn.inbound.clear();
                self.read_buf = mem::replace(&mut conn.inbound, own);
            } else if conn.inbound.is_empty() {
                recycle_tail(pool, mem::take(&mut conn.inbound)); // what a partial message grew
            } else if conn.inbound.len() <= SMALL_TAIL_BYTES && conn.inbound.len() < arrived {
                // A big message is done and a small one began behind it:
                // keep the small one in a small buffer, not the big one.
                let mut own = take_tail(pool, conn.inbound.len(), read_size);
                own.extend_from_slice(&conn.inbound);
                sys::memory::release_buffer(mem::replace(&mut conn.inbound, own));
            }
            // The engine-wide inbound budget counts what partial messages
            // hold; an echo that consumed everything touches no counter.
            let held = if conn.inbound.is_empty() {
                0
            } else {
                u32::try_from(conn.inbound.capacity()).unwrap_or(u32::MAX)
            };
            if held != conn.held {
                let (before, total) = (conn.held as usize, &self.engine.inbound_held);
                conn.held = held;
                if held as usize > before {
                    let grown = held as usize - before;
                    // Published high; corrected when this loop next sheds.
                    self.shared().largest_held.fetch_max(held as usize, Ordering::Relaxed);
                    if total.fetch_add(grown, Ordering::Relaxed) + grown > self.cfg.inbound_budget {
                        self.shed_partial_messages(None);
                    }
                } else {
                    total.fetch_sub(before - held as usize, Ordering::Relaxed);
                    self.released(before);
                }
            }
        }
        self.after_callback(id, action);
        true
    }

    /// A holder of `before` bytes holds less now (or is gone): a big one
    /// makes the loop give free memory back when it next goes idle.
    pub(super) fn released(&mut self, before: usize) {
        if before >= sys::memory::TRIM_AFTER_BYTES {
            self.trim_owed = true;
        }
    }

    /// This loop's biggest holder of a partial message and its size, now
    /// published for the other loops (each loop publishes its biggest high
    /// as holders grow, and exactly whenever it sheds: a scan, run only
    /// over the budget).
    fn biggest_holder(&self) -> (Option<ConnId>, usize) {
        let own = self.conns.largest_partial_holder();
        let held = own.map_or(0, |(_, held)| held);
        self.shared().largest_held.store(held, Ordering::Relaxed);
        (own.map(|(id, _)| id), held)
    }

    /// The engine holds more than its inbound budget in partial messages:
    /// the biggest holders anywhere in the engine go first. While another
    /// loop says it has a bigger holder than this loop's biggest, that loop
    /// is asked to shed (`Task::ShedInbound`, with this loop's biggest for
    /// comparison) and this loop sheds nothing; otherwise this loop sheds
    /// its own, biggest first, until the engine is back under.
    ///
    /// `asked`: this runs for another loop's request, which named the size
    /// of its own biggest holder (`Some((from, size))`). If this loop's
    /// biggest is smaller (what it published was stale), the request goes
    /// back once, with a size of 0, so the asking loop sheds its own: no
    /// request travels more than twice.
    pub(super) fn shed_partial_messages(&mut self, asked: Option<(usize, usize)>) {
        let limit = self.cfg.inbound_budget;
        while self.engine.inbound_held.load(Ordering::Relaxed) > limit {
            let (own, own_held) = self.biggest_holder();
            let defer_to = match asked {
                Some((from, theirs)) => (own_held < theirs).then_some(from),
                None => (0..self.engine.loops.len())
                    .filter(|&i| i != self.index)
                    .map(|i| (i, self.engine.loops[i].largest_held.load(Ordering::Relaxed)))
                    .filter(|&(_, held)| held > own_held)
                    .max_by_key(|&(_, held)| held)
                    .map(|(i, _)| i),
            };
            if let Some(i) = defer_to {
                let held = if asked.is_some() { 0 } else { own_held };
                let task = Task::ShedInbound { from: self.index, held };
                // That loop sheds on its own thread; if it has stopped, shed here.
                if self.engine.loops[i].mailbox.post(task).is_ok() {
                    return;
                }
            }
            let Some(victim) = own else { return };
            self.shed(victim, limit);
        }
    }

    /// Closes `victim` for the inbound budget, releasing what it holds.
    fn shed(&mut self, victim: ConnId, limit: usize) {
        let Some(conn) = self.conns.get_mut(victim) else { return };
        let held = conn.held as usize;
        log::warn!(
            "netreactor: partial inbound messages exceed the {limit}-byte budget; closing connection {victim}, which holds {held} bytes"
        );
        self.engine.inbound_held.fetch_sub(held, Ordering::Relaxed);
        conn.held = 0;
        sys::memory::release_buffer(mem::take(&mut conn.inbound));
        conn.close_reason = Some(CloseReason::InboundBudget { limit });
        self.released(held);
        self.after_callback(victim, Action::Continue);
    }

    /// A handler that called `Conn::end_decoding` in `on_frame` gets the
    /// rest of the read through `on_traffic` at once (no further read may
    /// come to deliver it).
    pub(super) fn after_decoding(&mut self, id: ConnId) -> Action {
        match self.conns.get_mut(id) {
            Some(c) if c.codec.is_none() && !c.inbound.is_empty() && c.close_reason.is_none() && c.relay.is_none() => {
                self.call(id, |h, c, s| h.on_traffic(c, s))
            }
            _ => Action::Continue,
        }
    }

    /// The peer sent FIN: the handler decides (default: close after flushing).
    pub(super) fn on_eof(&mut self, id: ConnId) -> Action {
        let Some(conn) = self.conns.get_mut(id).filter(|c| c.close_reason.is_none()) else {
            return Action::Continue;
        };
        if let Some(link) = conn.relay_link() {
            // A relay still connecting (linked to itself) passes the EOF on
            // once connected (`relay_connected`).
            if link.peer != id {
                self.relay_eof(id, link.peer);
            }
            return Action::Continue;
        }
        let action = self.call(id, |h, c, s| h.on_eof(c, s));
        if action == Action::Close {
            if let Some(c) = self.conns.get_mut(id) {
                c.close_reason.get_or_insert(CloseReason::PeerEof);
            }
        }
        action
    }
}

/// A buffer for an unconsumed tail of `len` bytes: a pooled small one, or
/// (a large partial message) one with room for the next read too.
fn take_tail(pool: &mut Vec<BytesMut>, len: usize, read_size: usize) -> BytesMut {
    if len <= SMALL_TAIL_BYTES {
        pool.pop().unwrap_or_else(|| BytesMut::with_capacity(SMALL_TAIL_BYTES))
    } else {
        BytesMut::with_capacity(len + read_size)
    }
}

/// Keeps a small emptied tail buffer for the next connection that needs one.
fn recycle_tail(pool: &mut Vec<BytesMut>, mut buf: BytesMut) {
    buf.clear();
    if (SMALL_TAIL_BYTES..=2 * SMALL_TAIL_BYTES).contains(&buf.capacity()) && pool.len() < TAIL_POOL_MAX {
        pool.push(buf);
    } else {
        sys::memory::release_buffer(buf);
    }
}
