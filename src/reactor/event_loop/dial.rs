//! Outbound connections: a non-blocking connect registered for writability,
//! finished when the socket turns writable (SO_ERROR says how it went) or
//! failed when its timer fires first.

use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;

use super::timers::TimerKind;
use super::EventLoop;
use crate::addr::Origin;
use crate::deadline;
use crate::error::CloseReason;
use crate::id::ConnId;
use crate::mailbox::DialRequest;
use crate::service::Serve;
use crate::sys;
use crate::sys::epoll::Interest;

impl<S: Serve> EventLoop<S> {
    /// Starts connecting. Success is `on_open`; failure, now or later,
    /// `on_close` with `ConnectFailed` (the state tells the handler which
    /// dial it was). Every dial that reaches the loop ends in one of the
    /// two, a stopping loop's included.
    pub(super) fn dial(&mut self, req: DialRequest) {
        self.dial_for(req, None);
    }

    /// `dial`, for the connection `relay_of` when it is a relay's upstream
    /// (no codec, no callbacks: linked to it before the connect starts, so
    /// a failure reaches it).
    pub(super) fn dial_for(&mut self, req: DialRequest, relay_of: Option<ConnId>) {
        self.shared().add_connection();
        let DialRequest {
            fd,
            addr,
            timeout,
            service,
            state,
            #[cfg(feature = "tls")]
            tls,
        } = req;
        // A state whose making panics (user code: `Default`) ends the dial
        // here, logged: without a state there is no connection to report.
        let Some(state) = self.new_state(service, state) else {
            self.shared().remove_connection();
            if let Some(client) = relay_of {
                // Its client waits for it: it must not wait for ever.
                self.relay_unmade(client);
            }
            return;
        };
        // A codec that cannot be cloned fails the dial, like a stop does.
        let (codec, failed) = if self.stopping {
            (None, Some(io::Error::other("the engine is stopping")))
        } else if relay_of.is_some() {
            (None, None)
        } else {
            match self.clone_codec(service) {
                Some(codec) => (codec, None),
                None => (None, Some(io::Error::other("cloning the codec panicked"))),
            }
        };
        // Writable is the connect's outcome; nothing is read before on_open.
        let id = self.store_conn(fd, Some(addr), Origin::Dialed, codec, Interest::WRITE, (service, state));
        self.counters.dialed.add(1);
        if let Some(client) = relay_of {
            self.link(client, id);
        }
        let conn = self.conns.get_mut(id).expect("just stored");
        conn.connecting = true;
        #[cfg(feature = "tls")]
        let failed = match tls.map(Self::client_tls).transpose() {
            Ok(tls) => {
                conn.tls = tls;
                failed
            }
            Err(e) => failed.or(Some(e)),
        };
        let failed = failed
            .or_else(|| sys::socket::tcp_connect(conn.fd.as_fd(), addr))
            .or_else(|| self.poller.add(conn.fd.as_fd(), id.token(), Interest::WRITE).err());
        if let Some(e) = failed {
            return self.dial_failed(id, e);
        }
        if let Some(at) = deadline::after(self.clock.now(), timeout) {
            self.timers.insert(at, TimerKind::Connect(id));
        }
    }

    /// The connecting socket turned writable (or reported an error).
    pub(super) fn finish_dial(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        if let Some(e) = sys::socket::take_error(conn.fd.as_fd()) {
            return self.dial_failed(id, e);
        }
        conn.connecting = false;
        sys::socket::apply_conn_options(conn.fd.as_fd(), true, &self.cfg.conn_options);
        if let Some(t) = conn.timing.as_deref_mut() {
            t.last_read = self.clock.now();
            t.last_progress = self.clock.now();
        }
        #[cfg(feature = "tls")]
        if let (Some(link), Some(_)) = (conn.relay.as_deref_mut(), &conn.tls) {
            link.handshaking = true;
        }
        #[cfg(feature = "tls")]
        if self.start_client_tls(id) {
            // on_open (a relay's upstream: `relay_upstream_opened`) waits
            // for the handshake.
            return;
        }
        if let Some(link) = self.conns.get_mut(id).and_then(|c| c.relay_link()) {
            return self.relay_connected(id, link.peer);
        }
        let action = self.call(id, |h, c, s| h.on_open(c, s));
        self.after_callback(id, action);
    }

    /// The connect timer fired: still connecting means timed out.
    pub(super) fn dial_timed_out(&mut self, id: ConnId) {
        if self.conns.get_mut(id).is_some_and(|c| c.connecting) {
            self.dial_failed(id, io::Error::new(io::ErrorKind::TimedOut, "connect timed out"));
        }
    }

    fn dial_failed(&mut self, id: ConnId, e: io::Error) {
        if let Some(c) = self.conns.get_mut(id) {
            c.close_reason = Some(CloseReason::ConnectFailed(Arc::new(e)));
            self.close_now(id);
        }
    }
}
