//! One readiness event to the connection (or listener, or waker) it names;
//! accepting in `reuse_port` mode, and registering new connections.

use std::os::fd::{AsFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;

use super::{EventLoop, FIRST_LISTENER, WAKER};
use bytes::BytesMut;

use crate::addr::Origin;
use crate::buffer::outbound::Outbound;
use crate::conn::{Conn, Timing, WriteSide};
use crate::error::panic_message;
use crate::framing::Framer;
use crate::handle::EngineHandle;
use crate::id::ConnId;
use crate::mailbox::Incoming;
use crate::reactor::listener::admission;
use crate::service::GivenState;
use crate::service::Serve;
use crate::sys::epoll::{Event, Interest};

impl<S: Serve> EventLoop<S> {
    pub(super) fn dispatch(&mut self, ev: Event) {
        match ev.token {
            WAKER => {
                self.mailbox().woken();
                self.counters.wakeups.add(1);
            }
            token if !(ev.writable || ev.hangup) => {
                // The hot case, readable only: one lookup, in the read.
                if ev.readable && !self.on_read_ready(self.conns.id_of(token)) {
                    self.not_a_connection(token);
                }
            }
            token => {
                let id = self.conns.id_of(token);
                let Some(conn) = self.conns.get_mut(id) else {
                    return self.not_a_connection(token);
                };
                // Without read interest a hang-up has no read to report it.
                let dead = ev.hangup && !conn.interest.read;
                if ev.writable || dead {
                    self.on_write_ready(id, dead);
                }
                if ev.readable || ev.hangup {
                    self.on_read_ready(id); // reads only if it still wants to
                }
            }
        }
    }

    /// A token that names no open connection: one of this loop's listeners
    /// (`reuse_port`), or a connection closed since the event was queued.
    fn not_a_connection(&mut self, token: u64) {
        if self.listener_of(token).is_some() {
            self.accept(FIRST_LISTENER - token);
        }
    }

    /// The index of the listener `token` names, if it names one.
    fn listener_of(&self, token: u64) -> Option<usize> {
        let i = FIRST_LISTENER.checked_sub(token)?;
        (i < self.listeners.len() as u64).then_some(i as usize)
    }

    /// `reuse_port` mode: this loop's own listener number `i` is readable.
    pub(super) fn accept(&mut self, i: u64) {
        let mut accepted = Vec::new();
        let (engine, cfg, index) = (&*self.engine, &*self.cfg, self.index);
        let Some(listener) = self.listeners.get_mut(i as usize) else {
            return;
        };
        listener.accept_ready(
            &self.poller,
            cfg,
            || admission(cfg, engine),
            |incoming| {
                engine.loops[index].add_connection();
                accepted.push(incoming);
            },
            || {
                engine.rejected.fetch_add(1, Ordering::Relaxed);
            },
        );
        for incoming in accepted {
            self.register(incoming);
        }
    }

    /// A connection's own copy of the engine's codec, or `None` (logged)
    /// if the codec's `Clone`, user code, panicked.
    /// A codec for a new connection of `service` (`None`: cloning it
    /// panicked; `Some(None)`: it has none).
    pub(super) fn clone_codec(&self, service: usize) -> Option<Option<Framer>> {
        match catch_unwind(AssertUnwindSafe(|| self.cfg.codec_of(service).map(|c| c.0.framer()))) {
            Ok(codec) => Some(codec),
            Err(p) => {
                log::error!(
                    "netreactor: cloning the codec for a new connection panicked: {}; closing it",
                    panic_message(p.as_ref())
                );
                None
            }
        }
    }

    pub(super) fn register(&mut self, incoming: Incoming) {
        if self.stopping {
            self.shared().remove_connection();
            return;
        }
        let Incoming { fd, peer, origin } = incoming;
        let service = self.service_of(origin, 0);
        let (Some(codec), Some(state)) = (self.clone_codec(service), self.new_state(service, None)) else {
            self.shared().remove_connection();
            return;
        };
        let id = match self.insert_conn(fd, peer, origin, codec, Interest::READ, (service, state)) {
            Ok(id) => id,
            Err(e) => {
                log::error!("netreactor: registering a connection failed: {e}");
                self.shared().remove_connection();
                return;
            }
        };
        self.counters.accepted.add(1);
        if let Origin::Accepted { listener } = origin {
            self.engine.listener_opened(listener);
        }
        #[cfg(feature = "tls")]
        if let Origin::Accepted { listener } = origin {
            if self.start_server_tls(id, listener) {
                return; // on_open waits for the handshake
            }
        }
        let action = self.call(id, |h, c, s| h.on_open(c, s));
        self.after_callback(id, action);
    }

    /// Registers `fd` with the poller for `interest` and puts a fresh
    /// connection for it in the slab (how an accepted or enrolled
    /// connection or a UDP socket joins a loop; a dial is stored first,
    /// so that a failure to register still ends in its `on_close`).
    pub(super) fn insert_conn(
        &mut self,
        fd: OwnedFd,
        peer: Option<std::net::SocketAddr>,
        origin: Origin,
        codec: Option<Framer>,
        interest: Interest,
        state: (usize, S::State),
    ) -> std::io::Result<ConnId> {
        let id = self.store_conn(fd, peer, origin, codec, interest, state);
        let conn = self.conns.get_mut(id).expect("just stored");
        if let Err(e) = self.poller.add(conn.fd.as_fd(), id.token(), interest) {
            // Nothing of the user's is in it yet: no callback to run.
            self.conns.remove(id);
            return Err(e);
        }
        Ok(id)
    }

    /// Puts a fresh connection for `fd` in the slab, not yet registered
    /// with the poller (`insert_conn` does both).
    pub(super) fn store_conn(
        &mut self,
        fd: OwnedFd,
        peer: Option<std::net::SocketAddr>,
        origin: Origin,
        codec: Option<Framer>,
        interest: Interest,
        (service, state): (usize, S::State),
    ) -> ConnId {
        let id = self.conns.next_id();
        let conn = Conn {
            fd,
            id,
            peer,
            inbound: BytesMut::new(),
            outbound: Outbound::default(),
            interest,
            close_reason: None,
            read_closed: false,
            owe_on_writable: false,
            queued_for_flush: false,
            closed: false,
            output_dropped: false,
            datagram: false,
            connecting: false,
            reading_paused: false,
            heard: false,
            lingering: false,
            max_outbound: self.cfg.max_outbound_bytes,
            write_side: WriteSide::Open,
            writable: true,
            codec,
            origin: origin.to_raw(),
            timing: self.cfg.times_every_connection().then(|| Timing::new(self.clock.now())),
            held: 0,
            sent_by_flush: 0,
            datagrams_sent: 0,
            datagrams_failed: 0,
            shared: None,
            engine: EngineHandle::from_shared(self.engine.clone()),
            service: service as u16,
            relay: None,
            #[cfg(feature = "tls")]
            tls: None,
        };
        self.conns.insert(conn, state);
        id
    }

    /// The service number of a connection from `origin` (a dial's or an
    /// enrolled socket's: `given`).
    pub(super) fn service_of(&self, origin: Origin, given: usize) -> usize {
        let listener = match origin {
            Origin::Accepted { listener } => Some(listener),
            _ => None,
        };
        self.cfg.service_of(listener, given)
    }

    /// A new connection's state: `Default`, or the one its dial gave; user
    /// code (`Default`), under the guard (`None`: it panicked).
    pub(super) fn new_state(&self, service: usize, given: Option<GivenState>) -> Option<S::State> {
        let handler = &*self.handler;
        match catch_unwind(AssertUnwindSafe(|| handler.new_state(service, given))) {
            Ok(state) => Some(state),
            Err(p) => {
                log::error!(
                    "netreactor: making the state of a new connection panicked: {}; closing it",
                    panic_message(p.as_ref())
                );
                None
            }
        }
    }
}
