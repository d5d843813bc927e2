//! UDP: each loop owns a `SO_REUSEPORT` socket per UDP address, kept in its
//! slab like a connection. A datagram is one `on_traffic` (or one `on_frame`
//! per frame in it) with the sender as `peer_addr`; everything the handler
//! writes meanwhile goes back to that sender as one datagram. Datagrams are
//! never merged or split; one that does not fit the read buffer is counted
//! and dropped, never delivered cut short.

use std::mem;
use std::os::fd::AsFd;

use super::EventLoop;
use crate::addr::Origin;
use crate::error::CloseReason;
use crate::handler::{Action, EventHandler};
use crate::id::ConnId;
use crate::reactor::listener::ListenSocket;
use crate::sys;
use crate::sys::epoll::Interest;
use crate::sys::socket::Received;

/// Datagrams taken from one socket per readiness event, so one busy socket
/// cannot hold the loop (level-triggered: the rest are read next time round).
const DATAGRAMS_PER_EVENT: usize = 64;

impl<H: EventHandler> EventLoop<H> {
    /// Puts this loop's socket for a UDP address in its slab.
    pub(super) fn add_datagram_socket(&mut self, socket: ListenSocket) -> std::io::Result<()> {
        let codec = self.clone_codec().flatten();
        let origin = Origin::Accepted { listener: socket.index };
        let id = self.insert_conn(socket.fd, None, origin, codec, Interest::READ)?;
        let conn = self.conns.get_mut(id).expect("just inserted");
        conn.datagram = true;
        conn.timing = None; // no timeouts on a socket that is not a connection
        Ok(())
    }

    /// The UDP socket `id` is readable: serve up to `DATAGRAMS_PER_EVENT`.
    pub(super) fn on_datagrams(&mut self, id: ConnId) {
        let read_size = self.cfg.read_buffer_bytes;
        for _ in 0..DATAGRAMS_PER_EVENT {
            let Some(conn) = self.conns.get_mut(id) else { return };
            // Lend the loop's read buffer, as for a stream.
            mem::swap(&mut conn.inbound, &mut self.read_buf);
            let received = sys::socket::recv_datagram(conn.fd.as_fd(), &mut conn.inbound, read_size);
            let (len, from) = match received {
                Ok(Received::Datagram { len, from }) => (len, from),
                Ok(Received::Truncated { len, from }) => {
                    mem::swap(&mut conn.inbound, &mut self.read_buf);
                    self.shared().counters.datagrams_truncated.add(1);
                    if !self.warned_truncation {
                        self.warned_truncation = true;
                        log::warn!(
                            "netreactor: dropped a {len}-byte datagram from {from:?}: larger than the \
                             {read_size}-byte read buffer (read_buffer_size); counted in \
                             Stats::datagrams_truncated, logged once"
                        );
                    }
                    continue;
                }
                Ok(Received::WouldBlock) => {
                    mem::swap(&mut conn.inbound, &mut self.read_buf);
                    return;
                }
                Err(e) => {
                    mem::swap(&mut conn.inbound, &mut self.read_buf);
                    // ICMP errors from earlier sends surface here: not fatal.
                    log::debug!("netreactor: UDP receive on {id}: {e}");
                    return;
                }
            };
            conn.peer = from;
            let counters = &self.engine.loops[self.index].counters;
            counters.bytes_in.add(len as u64);
            counters.datagrams_in.add(1);
            let action = if conn.codec.is_some() {
                self.decode_frames(id, true);
                Action::Continue
            } else {
                self.call(id, |h, c| h.on_traffic(c))
            };
            self.reply_to_datagram(id, action);
        }
    }

    /// Sends what the handler wrote for this datagram back to its sender,
    /// and readies the socket for the next one.
    fn reply_to_datagram(&mut self, id: ConnId, action: Action) {
        if action == Action::Shutdown {
            self.engine.request_stop(self.engine.shutdown_deadline());
        }
        let Some(conn) = self.conns.get_mut(id) else { return };
        // A datagram ends here: what the handler left is not kept for the
        // next one (datagrams are never merged), nor is a partial frame.
        let partial = !conn.inbound.is_empty();
        conn.inbound.clear();
        mem::swap(&mut conn.inbound, &mut self.read_buf);
        let counters = &self.engine.loops[self.index].counters;
        if let (Some(to), false) = (conn.peer, conn.outbound.is_empty()) {
            match conn.outbound.send_datagram(conn.fd.as_fd(), to) {
                Ok(n) => {
                    counters.bytes_out.add(n as u64);
                    counters.datagrams_out.add(1);
                }
                Err(e) => {
                    counters.datagrams_dropped.add(1);
                    log::debug!("netreactor: UDP reply to {to} dropped: {e}");
                }
            }
        }
        conn.outbound.clear();
        // The socket is not a connection: a close, a codec error or a panic
        // ends only this datagram's handling (a stop closes the socket).
        let failed = conn.close_reason.take().filter(|r| *r != CloseReason::Local);
        if let Some(reason) = &failed {
            log::warn!("netreactor: UDP datagram from {:?} dropped: {reason}", conn.peer);
        }
        if conn.codec.is_some() && (partial || failed.is_some()) {
            // The codec may be mid-frame or discarding: start it afresh.
            if let Some(codec) = self.clone_codec() {
                if let Some(conn) = self.conns.get_mut(id) {
                    conn.codec = codec;
                }
            }
        }
        if action == Action::Close {
            log::debug!("netreactor: Action::Close on a UDP socket is ignored");
        }
        if self.stopping {
            self.sync(id);
        }
    }
}
