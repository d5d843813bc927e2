//! Relays (`Conn::relay_to`): a connection and the upstream dialed for it
//! on the same loop, bytes copied between them as they are read, with no
//! callback, task or lock per message. Backpressure rides on the
//! watermarks: a side over the high one stops its partner reading until it
//! is back at the low one. An EOF is passed on as a half-close; any other
//! end of one side ends the other (whole ends by a close, the rest by a
//! reset, so a peer never takes a cut stream for a complete one).

use std::mem;

use super::callback::lend_spare;
use super::write::Notify;
use super::EventLoop;
use crate::action::Action;
use crate::conn::{RelayLink, WriteSide};
use crate::error::CloseReason;
use crate::id::ConnId;
use crate::mailbox::DialRequest;
use crate::service::Serve;

impl<S: Serve> EventLoop<S> {
    /// `Task::Relay`: dial the upstream of `client` (gone or closing
    /// meanwhile: the socket is just closed).
    pub(super) fn relay_start(&mut self, client: ConnId, req: DialRequest) {
        if self.conns.get_mut(client).is_some_and(|c| c.close_reason.is_none()) {
            self.dial_for(req, Some(client));
        }
    }

    /// The upstream of `client` could not be made (its state's `Default`
    /// panicked, logged): the client ends as after a panic of its own, by a
    /// reset (what it sent was never relayed).
    pub(super) fn relay_unmade(&mut self, client: ConnId) {
        if let Some(c) = self.conns.get_mut(client) {
            c.relay = None;
            c.outbound.clear();
            c.output_dropped = true;
            c.close_reason.get_or_insert(CloseReason::HandlerPanic(
                "making the state of the relay's upstream panicked".into(),
            ));
        }
        self.after_callback(client, Action::Continue);
    }

    /// Pairs `client` with its `upstream`, before the connect starts.
    pub(super) fn link(&mut self, client: ConnId, upstream: ConnId) {
        if let Some(c) = self.conns.get_mut(client) {
            c.relay = Some(Box::new(RelayLink {
                peer: upstream,
                upstream: false,
                handshaking: false,
            }));
        }
        if let Some(u) = self.conns.get_mut(upstream) {
            u.relay = Some(Box::new(RelayLink {
                peer: client,
                upstream: true,
                handshaking: false,
            }));
        }
    }

    /// The upstream connected: both sides read, and what the client sent
    /// meanwhile (or before, unread) goes first.
    /// A client whose EOF was read before (relayed from `on_eof`, or from
    /// the last frame at its EOF) has it passed on after its input; one
    /// over the high watermark pauses the upstream's reading at once.
    pub(super) fn relay_connected(&mut self, upstream: ConnId, client: ConnId) {
        let (client_eof, client_full) = match self.conns.get_mut(client) {
            Some(c) => {
                c.reading_paused = false;
                (c.read_closed, !c.writable)
            }
            None => {
                // Its client left while it connected (and took it along).
                if let Some(u) = self.conns.get_mut(upstream) {
                    u.close_reason.get_or_insert(CloseReason::Local);
                }
                (false, false)
            }
        };
        // A client already over the high watermark (a handler's output, or
        // writes while this connected: no partner heard of it) holds the
        // upstream's reading until it drains.
        if client_full {
            if let Some(u) = self.conns.get_mut(upstream) {
                u.reading_paused = true;
            }
        }
        self.after_callback(upstream, Action::Continue);
        self.relay_forward(client, upstream);
        if client_eof {
            self.relay_eof(client, upstream);
        }
        self.after_callback(client, Action::Continue);
    }

    /// A relay's TLS upstream finished its handshake (the TLS read path
    /// calls this instead of `on_open`): the relay connects now.
    #[cfg(feature = "tls")]
    #[cold]
    pub(super) fn relay_upstream_opened(&mut self, upstream: ConnId) -> Action {
        let Some(u) = self.conns.get_mut(upstream) else {
            return Action::Continue;
        };
        let opened = u.tls.as_ref().is_some_and(|t| t.open) && u.close_reason.is_none();
        if let Some(link) = u.relay.as_deref_mut().filter(|l| l.handshaking && opened) {
            link.handshaking = false;
            let client = link.peer;
            self.relay_connected(upstream, client);
        }
        Action::Continue
    }

    /// `from` has input: all of it goes to `to`'s output, flushed at once.
    pub(super) fn relay_forward(&mut self, from: ConnId, to: ConnId) {
        let Some(f) = self.conns.get_mut(from) else { return };
        if f.inbound.is_empty() || from == to {
            return;
        }
        let mut data = mem::take(&mut f.inbound);
        if let Some(t) = self.conns.get_mut(to) {
            // The loop's spare queue, as for a callback's writes: flushed at
            // once, it goes back to the loop, so a relay allocates nothing
            // per message (its own queue was freed and made anew each time).
            lend_spare(t, &mut self.spare_out, &self.clock);
            t.write(&data);
        }
        data.clear();
        if let Some(f) = self.conns.get_mut(from) {
            f.inbound = data;
        }
        self.after_callback(to, Action::Continue);
    }

    /// `id`'s peer sent FIN: pass it on once what it sent is out; the pair
    /// ends when both directions have (`sync` closes a side whose write
    /// side is shut and whose read side has ended).
    pub(super) fn relay_eof(&mut self, id: ConnId, peer: ConnId) {
        if let Some(c) = self.conns.get_mut(id) {
            if c.write_side == WriteSide::Shut {
                c.close_reason.get_or_insert(CloseReason::Local);
            }
        }
        if let Some(p) = self.conns.get_mut(peer) {
            p.shutdown_write();
        }
        self.after_callback(peer, Action::Continue);
    }

    /// `id`'s output crossed a watermark: its partner stops or resumes
    /// reading (the interest changes when the loop flushes the partner).
    pub(super) fn relay_notify(&mut self, id: ConnId, peer: ConnId, notify: Notify) {
        let Notify::Writability(writable) = notify else { return };
        if peer == id {
            return;
        }
        if let Some(p) = self.conns.get_mut(peer) {
            if p.connecting {
                return;
            }
            p.reading_paused = !writable;
            if !p.queued_for_flush {
                p.queued_for_flush = true;
                self.flush_queue.push(peer);
            }
        }
    }

    /// One side of a relay ended (`reason`; `cut`: by a reset): the other
    /// ends too, whole after a whole end (the handler's own close, with a
    /// reason or not, included), else at once by a reset (a `close_now` or
    /// `reset` of the client included: its upstream must not take a cut
    /// stream for a whole one).
    pub(super) fn relay_partner_gone(&mut self, peer: ConnId, reason: CloseReason, cut: bool) {
        let Some(p) = self.conns.get_mut(peer) else { return };
        let whole = !cut
            && matches!(
                reason,
                CloseReason::PeerEof | CloseReason::Local | CloseReason::Shutdown | CloseReason::User(_)
            );
        if !whole {
            p.outbound.clear();
            p.output_dropped = true;
        }
        p.close_reason.get_or_insert(reason);
        self.after_callback(peer, Action::Continue);
    }
}
