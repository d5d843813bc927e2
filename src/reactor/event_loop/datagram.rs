//! UDP: each loop owns a `SO_REUSEPORT` socket per UDP address, kept in its
//! slab like a connection. A datagram is one `on_traffic` (or one `on_frame`
//! per frame in it) with the sender as `peer_addr`; everything the handler
//! writes meanwhile goes back to that sender as one datagram. Datagrams are
//! never merged or split; one that does not fit the read buffer is counted
//! and dropped, never delivered cut short.
//!
//! The socket is not a connection: every turn of user code on it (a
//! datagram, a timer, a `ConnHandle::call`) starts with the socket whole, and
//! whatever the handler did to its `Conn` (a close, a half-close, paused
//! reading, a codec it ended) ends with that turn. Only a stop closes it.

use std::mem;
use std::net::SocketAddr;
use std::os::fd::AsFd;

use bytes::Bytes;

use super::datagram_batch::{UdpBatch, BATCH_DATAGRAMS};
use super::EventLoop;
use crate::addr::Origin;
use crate::conn::WriteSide;
use crate::id::ConnId;
use crate::reactor::listener::ListenSocket;
use crate::service::Serve;
use crate::sys;
use crate::sys::epoll::Interest;
use crate::sys::recv_batch::Slot;

/// Datagrams taken from one socket per readiness event, so one busy socket
/// cannot hold the loop (level-triggered: the rest are read next time round).
const DATAGRAMS_PER_EVENT: usize = 64;

impl<S: Serve> EventLoop<S> {
    /// Puts this loop's socket for a UDP address in its slab.
    pub(super) fn add_datagram_socket(&mut self, socket: ListenSocket) -> std::io::Result<()> {
        let origin = Origin::Accepted { listener: socket.index };
        let service = self.service_of(origin, 0);
        let codec = self.clone_codec(service).flatten();
        let state = self
            .new_state(service, None)
            .ok_or_else(|| std::io::Error::other("making the UDP socket's state panicked"))?;
        let id = self.insert_conn(socket.fd, None, origin, codec, Interest::READ, (service, state))?;
        let conn = self.conns.get_mut(id).expect("just inserted");
        conn.datagram = true;
        conn.timing = None; // no timeouts on a socket that is not a connection
        self.udp.get_or_insert_with(|| Box::new(UdpBatch::new()));
        Ok(())
    }

    /// The UDP socket `id` is readable: serve up to `DATAGRAMS_PER_EVENT`,
    /// a batch (one `recvmmsg`) at a time, and send each batch's replies
    /// together. A short batch means the socket is empty: no further call
    /// only to hear `EAGAIN`.
    pub(super) fn on_datagrams(&mut self, id: ConnId) {
        let read_size = self.cfg.read_buffer_bytes;
        let mut budget = DATAGRAMS_PER_EVENT;
        while budget > 0 {
            let (Some(conn), Some(udp)) = (self.conns.get_mut(id), self.udp.as_deref_mut()) else {
                return;
            };
            let want = budget.min(BATCH_DATAGRAMS);
            let got = match udp.recv.recv(conn.fd.as_fd(), want, read_size) {
                Ok(got) => got,
                Err(e) => {
                    // ICMP errors from earlier sends surface here: not fatal.
                    log::debug!("netreactor: UDP receive on {id}: {e}");
                    return;
                }
            };
            udp.open = true;
            for i in 0..got {
                if !self.serve_datagram(id, i, read_size) {
                    break; // the socket closed (the engine is stopping)
                }
            }
            self.send_replies(id);
            if got < want {
                return;
            }
            budget -= got;
        }
    }

    /// Serves slot `i` of the batch just received: one turn of the handler
    /// with the datagram as the socket's inbound bytes. False when the
    /// socket is gone.
    fn serve_datagram(&mut self, id: ConnId, i: usize, read_size: usize) -> bool {
        let (Some(conn), Some(udp)) = (self.conns.get_mut(id), self.udp.as_deref_mut()) else {
            return false;
        };
        let (len, from) = match udp.recv.slot(i) {
            Slot::Datagram { len, from } => (len, from),
            Slot::Truncated { len, from } => {
                self.counters.datagrams_truncated.add(1);
                if !self.warned_truncation {
                    self.warned_truncation = true;
                    log::warn!(
                        "netreactor: dropped a {len}-byte datagram from {from:?}: larger than the \
                         {read_size}-byte read buffer (read_buffer_size); counted in \
                         Stats::datagrams_truncated, logged once"
                    );
                }
                return true;
            }
        };
        // Lend the datagram's buffer, as the read buffer is lent to a stream.
        mem::swap(&mut conn.inbound, udp.recv.buf_mut(i));
        conn.peer = from;
        let counters = &*self.counters;
        counters.bytes_in.add(len as u64);
        counters.datagrams_in.add(1);
        let action = if conn.codec.is_some() {
            self.decode_frames(id, true);
            // A handler that ended decoding gets the rest at once.
            self.after_decoding(id)
        } else {
            self.call(id, |h, c, s| h.on_traffic(c, s))
        };
        // A datagram ends here: what the handler left is not kept for the
        // next one (datagrams are never merged), nor is a partial frame,
        // whose codec starts afresh.
        let (Some(conn), Some(udp)) = (self.conns.get_mut(id), self.udp.as_deref_mut()) else {
            return false;
        };
        let partial = !conn.inbound.is_empty();
        conn.inbound.clear();
        mem::swap(&mut conn.inbound, udp.recv.buf_mut(i));
        if partial && conn.codec.is_some() {
            conn.codec = None;
        }
        self.after_callback(id, action);
        self.conns.get_mut(id).is_some()
    }

    /// Sends the replies kept from this batch's turns (one `sendmmsg`, runs
    /// to one sender as GSO messages) and closes the batch.
    fn send_replies(&mut self, id: ConnId) {
        let Some(udp) = self.udp.as_deref_mut() else { return };
        udp.open = false;
        let queued = mem::take(&mut udp.queued);
        if queued == 0 {
            return;
        }
        let counters = &*self.counters;
        let Some(conn) = self.conns.get_mut(id) else {
            counters.datagrams_dropped.add(queued as u64);
            return;
        };
        let replies = &udp.replies;
        let sent = udp.send.send(conn.fd.as_fd(), queued, udp.gso, |k| {
            let (to, reply) = &replies[k];
            (*to, reply.datagram_pieces().unwrap_or([&[], &[]]))
        });
        for (_, reply) in &mut udp.replies[..queued] {
            reply.clear();
        }
        counters.bytes_out.add(sent.bytes as u64);
        counters.datagrams_out.add(sent.datagrams as u64);
        counters.datagrams_dropped.add(sent.dropped as u64);
        if sent.gso_refused {
            udp.gso = false;
            log::debug!(
                "netreactor: UDP GSO refused on socket {id} ({:?}); replies go one datagram each from now on",
                sent.error
            );
        } else if let Some(e) = sent.error {
            log::debug!("netreactor: {} UDP replies dropped: {e}", sent.dropped);
        }
    }

    /// The end of every turn of user code on a UDP socket (from `sync`, so
    /// a datagram, a timer and a `ConnHandle::call` all end here): sends
    /// what the handler wrote to the datagram's sender, then undoes whatever
    /// the handler did to the socket's `Conn`, so the next turn starts with
    /// the socket whole. While the engine stops, the socket closes instead.
    pub(super) fn end_datagram_turn(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        let counters = &*self.counters;
        counters.bytes_out.add(mem::take(&mut conn.sent_by_flush));
        counters
            .datagrams_out
            .add(u64::from(mem::take(&mut conn.datagrams_sent)));
        counters
            .datagrams_dropped
            .add(u64::from(mem::take(&mut conn.datagrams_failed)));
        if !conn.outbound.is_empty() {
            // Inside a batch, a reply the batch can carry waits for the
            // batch's `sendmmsg`; anything else goes now.
            let batch = self
                .udp
                .as_deref_mut()
                .filter(|u| u.open && u.queued < u.replies.len() && conn.outbound.datagram_pieces().is_some());
            match (conn.peer, batch) {
                (Some(to), Some(udp)) => {
                    let slot = &mut udp.replies[udp.queued];
                    slot.0 = to;
                    mem::swap(&mut conn.outbound, &mut slot.1);
                    udp.queued += 1;
                }
                (Some(to), None) => match conn.outbound.send_datagram(conn.fd.as_fd(), to) {
                    Ok(n) => {
                        counters.bytes_out.add(n as u64);
                        counters.datagrams_out.add(1);
                    }
                    Err(e) => {
                        counters.datagrams_dropped.add(1);
                        log::debug!("netreactor: UDP reply to {to} dropped: {e}");
                    }
                },
                (None, _) => {
                    // A timer or a `ConnHandle::call`: no datagram to answer.
                    counters.datagrams_dropped.add(1);
                    log::debug!(
                        "netreactor: output written on UDP socket {id} outside a datagram has no destination \
                         (use send_to); dropped"
                    );
                }
            }
            conn.outbound.clear();
        }
        conn.peer = None;
        if self.stopping {
            self.send_replies(id);
            return self.close_now(id);
        }
        // A close, a codec error or a panic ends only this turn.
        if let Some(reason) = conn.close_reason.take().filter(|r| !r.is_local()) {
            log::warn!("netreactor: UDP datagram handling on socket {id} ended: {reason}");
            conn.codec = None; // mid-frame or discarding: start afresh
        }
        conn.write_side = WriteSide::Open;
        conn.output_dropped = false;
        conn.reading_paused = false;
        conn.owe_on_writable = false;
        conn.writable = true;
        conn.read_closed = false;
        if let Some(shared) = &conn.shared {
            shared.update(0, 0);
        }
        let service = conn.service as usize;
        if conn.codec.is_none() && self.cfg.codec_of(service).is_some() {
            // Ended by the handler (`end_decoding`) or reset above.
            if let Some(codec) = self.clone_codec(service).flatten() {
                if let Some(conn) = self.conns.get_mut(id) {
                    conn.codec = Some(codec);
                }
            }
        }
    }

    /// `ConnHandle::send_to`: one datagram to `to`, sent at once (a full
    /// socket buffer drops it, as UDP does, and counts it).
    pub(super) fn task_send_to(&mut self, id: ConnId, to: SocketAddr, data: Bytes) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        let counters = &*self.counters;
        match sys::socket::send_datagram(conn.fd.as_fd(), &[std::io::IoSlice::new(&data)], to) {
            Ok(n) => {
                counters.bytes_out.add(n as u64);
                counters.datagrams_out.add(1);
            }
            Err(e) => {
                counters.datagrams_dropped.add(1);
                log::debug!("netreactor: UDP datagram to {to} dropped: {e}");
            }
        }
        if let Some(shared) = &conn.shared {
            shared.update(0, data.len());
        }
    }
}
