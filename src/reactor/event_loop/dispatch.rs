//! One readiness event to the connection (or listener, or waker) it names;
//! accepting in `reuse_port` mode, and registering new connections.

use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering;

use bytes::BytesMut;

use super::{EventLoop, LISTENER, WAKER};
use crate::buffer::outbound::Outbound;
use crate::conn::{Conn, Timing, WriteSide};
use crate::handler::EventHandler;
use crate::reactor::listener::admission;
use crate::sys;
use crate::sys::epoll::{Event, Interest};

impl<H: EventHandler> EventLoop<H> {
    pub(super) fn dispatch(&mut self, ev: Event) {
        match ev.token {
            WAKER => {
                self.mailbox().woken();
                self.shared().counters.wakeups.add(1);
            }
            LISTENER => self.accept(),
            token => {
                let id = self.conns.id_of(token);
                let Some(conn) = self.conns.get_mut(id) else { return };
                let reading = conn.interest.read;
                // Without read interest a hang-up has no read to report it.
                let dead = ev.hangup && !reading;
                if ev.writable || dead {
                    self.on_write_ready(id, dead);
                }
                if reading && (ev.readable || ev.hangup) {
                    self.on_read_ready(id);
                }
            }
        }
    }

    pub(super) fn accept(&mut self) {
        let Some(mut listener) = self.listener.take() else {
            return;
        };
        let mut accepted = Vec::new();
        let (engine, cfg, index) = (&*self.engine, &*self.cfg, self.index);
        listener.accept_ready(
            &self.poller,
            || admission(cfg, engine),
            |fd, peer| {
                engine.loops[index].add_connection();
                accepted.push((fd, peer));
            },
            || {
                engine.rejected.fetch_add(1, Ordering::Relaxed);
            },
        );
        self.listener = Some(listener);
        for (fd, peer) in accepted {
            if self.cfg.tcp_nodelay {
                let _ = sys::socket::set_nodelay(fd.as_fd(), true);
            }
            self.register(fd, peer);
        }
    }

    pub(super) fn register(&mut self, fd: OwnedFd, peer: Option<SocketAddr>) {
        if self.stopping {
            self.shared().remove_connection();
            return;
        }
        let id = self.conns.next_id();
        if let Err(e) = self.poller.add(fd.as_fd(), id.token(), Interest::READ) {
            log::error!("netreactor: registering a connection failed: {e}");
            self.shared().remove_connection();
            return;
        }
        self.shared().counters.accepted.add(1);
        self.conns.insert(Conn {
            fd,
            id,
            peer,
            inbound: BytesMut::new(),
            outbound: Outbound::default(),
            interest: Interest::READ,
            close_reason: None,
            read_closed: false,
            write_blocked: false,
            queued_for_flush: false,
            closed: false,
            output_dropped: false,
            linger_deadline: None,
            lingering: false,
            max_outbound: self.cfg.max_outbound_bytes,
            write_side: WriteSide::Open,
            writable: true,
            codec: self.cfg.codec.as_ref().map(|c| c.0.clone_box()),
            timing: self.cfg.times_every_connection().then(|| Timing::new(self.now)),
            held: 0,
            sent_by_flush: 0,
            shared: None,
            mailbox: self.shared().mailbox.clone(),
            context: None,
        });
        let action = self.call(id, |h, c| h.on_open(c));
        self.after_callback(id, action);
    }
}
