//! The TLS paths of the loop: a connection's handshake starts when it joins
//! (accepted on a `tls://` listener, or dialed with `dial_tls`), its reads
//! go through rustls before the handler sees them, and `on_open` waits for
//! the handshake. Sealing (plaintext into records) happens in
//! `Conn::seal_tls`, before every flush.

use std::os::fd::AsFd;

use super::timers::TimerKind;
use super::EventLoop;
use crate::action::Action;
use crate::deadline;
use crate::error::{CloseReason, TlsFailure};
use crate::id::ConnId;
use crate::service::Serve;
use crate::sys;
use crate::sys::io::ReadOutcome;
use crate::tls::{Absorbed, ClientStart, TlsConn};

impl<S: Serve> EventLoop<S> {
    /// An accepted connection on TLS listener `listener` starts its
    /// handshake (`on_open` waits for it). False for a plain listener.
    pub(super) fn start_server_tls(&mut self, id: ConnId, listener: usize) -> bool {
        let Some(config) = self.engine.tls_servers.get(listener) else {
            return false;
        };
        let Some(conn) = self.conns.get_mut(id) else {
            return true;
        };
        match TlsConn::server(config) {
            Ok(tls) => conn.tls = Some(Box::new(tls)),
            Err(f) => {
                conn.close_reason = Some(CloseReason::Tls(f));
                self.close_now(id);
                return true;
            }
        }
        self.start_tls(id);
        true
    }

    /// A dialed connection that connected starts its TLS handshake (its
    /// ClientHello goes out now). False for a plain dial.
    pub(super) fn start_client_tls(&mut self, id: ConnId) -> bool {
        if self.conns.get_mut(id).is_none_or(|c| c.tls.is_none()) {
            return false;
        }
        self.start_tls(id);
        true
    }

    /// A TLS dial's state, made when the dial reaches the loop (an error:
    /// the dial fails at once).
    pub(super) fn client_tls(start: ClientStart) -> std::io::Result<Box<TlsConn>> {
        TlsConn::client(start)
            .map(Box::new)
            .map_err(|f| std::io::Error::other(f.to_string()))
    }

    /// Sends the first flight (a client's) and arms the handshake deadline.
    fn start_tls(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        let Some(tls) = conn.tls.as_deref_mut() else { return };
        if let Err(f) = tls.start(&mut conn.outbound) {
            conn.close_reason = Some(CloseReason::Tls(f));
        }
        if let Some(at) = deadline::after(self.clock.now(), self.cfg.tls_handshake_timeout) {
            self.timers.insert(at, TimerKind::TlsHandshake(id));
        }
        self.after_callback(id, Action::Continue);
    }

    /// The handshake deadline passed: unfinished means timed out.
    pub(super) fn tls_handshake_timed_out(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        if conn.tls.as_ref().is_some_and(|t| !t.open) {
            conn.close_reason = Some(CloseReason::Tls(TlsFailure::HandshakeTimeout));
            conn.outbound.clear();
            self.close_now(id);
        }
    }

    /// A TLS connection is readable: one read of ciphertext into the loop's
    /// buffer (behind a partial record kept from the last read), records
    /// through rustls, then `on_open` (the handshake just finished), the
    /// plaintext to the handler, and `on_eof` for a close_notify.
    pub(super) fn on_tls_readable(&mut self, id: ConnId) {
        let (read_size, max_handshake) = (self.cfg.read_buffer_bytes, self.cfg.tls_max_handshake_bytes);
        let Some(conn) = self.conns.get_mut(id) else { return };
        // Records are only ever appended behind what is sealed.
        conn.seal_tls();
        let Some(tls) = conn.tls.as_deref_mut() else { return };
        let buf = &mut self.read_buf;
        tls.restore_pending(buf);
        crate::tls::lend_plain(&mut conn.inbound);
        let got = match sys::io::read_into(conn.fd.as_fd(), buf, read_size) {
            Ok(ReadOutcome::Data(n)) => {
                conn.heard = true;
                self.counters.bytes_in.add(n as u64);
                if let Some(t) = &mut conn.timing {
                    t.last_read = self.clock.now();
                }
                absorb(tls, buf, n, max_handshake, &mut conn.inbound, &mut conn.outbound)
            }
            Ok(ReadOutcome::WouldBlock) => absorb(tls, buf, 0, max_handshake, &mut conn.inbound, &mut conn.outbound),
            Ok(ReadOutcome::Eof) => {
                buf.clear();
                conn.read_closed = true;
                Err(if tls.open {
                    TlsFailure::Truncated
                } else {
                    TlsFailure::HandshakeEof
                })
            }
            Err(e) => {
                buf.clear();
                conn.outbound.clear();
                conn.close_reason.get_or_insert(CloseReason::from_io(e));
                return self.after_callback(id, Action::Continue);
            }
        };
        let got = match got {
            Ok(got) => got,
            Err(failure) => {
                log::debug!("netreactor: TLS connection {id} ({:?}): {failure}", conn.peer);
                conn.close_reason.get_or_insert(CloseReason::Tls(failure));
                return self.after_callback(id, Action::Continue);
            }
        };
        let framed = conn.codec.is_some();
        let arrived = conn.inbound.len();
        if got.opened {
            // A relay's TLS upstream runs no handler code: its handshake's
            // end connects the relay.
            let upstream = conn.relay.as_deref().is_some_and(|l| l.upstream);
            let action = if upstream {
                self.relay_upstream_opened(id)
            } else {
                self.call(id, |h, c, s| h.on_open(c, s))
            };
            self.apply(id, action);
        }
        let deliver = self
            .conns
            .get_mut(id)
            .is_some_and(|c| c.close_reason.is_none() && !c.inbound.is_empty());
        if deliver {
            let relay = self.conns.get_mut(id).and_then(|c| c.relay_link());
            let action = if let Some(link) = relay {
                // Relayed (`relay_to`, maybe from on_open just now): the
                // plaintext goes to the other side, as on the plain path.
                self.relay_forward(id, link.peer);
                Action::Continue
            } else if framed {
                self.decode_frames(id, false);
                self.after_decoding(id)
            } else {
                self.call(id, |h, c, s| h.on_traffic(c, s))
            };
            self.apply(id, action);
        }
        if got.peer_closed {
            if let Some(c) = self.conns.get_mut(id) {
                c.read_closed = true;
            }
            if framed {
                self.decode_frames(id, true);
                let action = self.after_decoding(id);
                self.apply(id, action);
            }
            let action = self.on_eof(id);
            self.apply(id, action);
        }
        if let Some(c) = self.conns.get_mut(id) {
            // As on the plain path: a consumed message restarts the frame
            // deadline for what is left.
            if c.inbound.len() < arrived {
                if let Some(t) = c.timing.as_deref_mut() {
                    t.partial_since = None;
                }
            }
            crate::tls::return_plain(&mut c.inbound);
        }
        self.after_callback(id, Action::Continue);
    }
}

/// `TlsConn::absorb` with the connection's buffers; a panic inside it (in
/// rustls, on a peer's bytes) closes this connection, not the loop.
fn absorb(
    tls: &mut TlsConn,
    buf: &mut bytes::BytesMut,
    arrived: usize,
    max_handshake: usize,
    inbound: &mut bytes::BytesMut,
    outbound: &mut crate::buffer::outbound::Outbound,
) -> Result<Absorbed, TlsFailure> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tls.absorb(buf, arrived, max_handshake, inbound, outbound)
    }))
    .unwrap_or_else(|_| {
        buf.clear();
        Err(TlsFailure::Protocol(
            "the TLS layer panicked on the peer's bytes".into(),
        ))
    })
}
