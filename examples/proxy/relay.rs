//! The proxy's handler: every inbound connection dials the upstream on its
//! own loop, and the two relay bytes both ways.
//!
//! - Zero-copy: what one side reads is handed to the other as `Bytes` split
//!   off the read buffer (`take_inbound` + `ConnHandle::async_write`).
//! - Backpressure: when the other side has more than `HIGH_WATER` bytes
//!   queued, this side stops reading (`pause_reading`) and asks the other to
//!   wake it once its queue has drained (`on_writable`), so a slow side slows
//!   the fast one down through TCP flow control and memory stays bounded.
//!   (`Conn::notify_when_drained`: `on_writable` alone would not run if the
//!   peer's flush emptied its queue without the socket ever filling up.)
//! - Closing: end of file is passed on as a half-close (the other side sends
//!   FIN after what it has queued); a connection that ends whole (both
//!   directions done, or the engine stopping) closes its partner after the
//!   partner has flushed. One that is cut (a reset, an error, a timeout, a
//!   failed dial, bytes the relay could not pass on) resets its partner, so
//!   the far end sees ECONNRESET, never a clean end of file after part of
//!   the stream.

#![allow(dead_code)] // the tests include this module without using all of it

use std::sync::OnceLock;
use std::time::Duration;

use netreactor::{
    Action, CloseReason, Conn, ConnHandle, DialOptions, Engine, EngineBuilder, EngineHandle, EventHandler, Origin,
};

/// Queued bytes on the other side past which this side pauses reading.
pub(crate) const HIGH_WATER: usize = 256 * 1024;

/// How long a dial to the upstream may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The engine settings a relay needs: the engine must not pause reading a
/// connection because its own output is backed up. In a relay the two
/// directions of a connection are independent streams, and pausing one for
/// the other deadlocks a pair whose both directions fill up (the echo case:
/// each side would wait for the other to read). The relay pauses the
/// *other* side instead.
pub(crate) fn engine_builder() -> EngineBuilder {
    Engine::builder().pause_reading_when_unwritable(false)
}

/// The proxy: listens, and relays each connection to `upstream`.
pub(crate) struct Relay {
    upstream: String,
    engine: OnceLock<EngineHandle>,
}

impl Relay {
    /// `upstream`: `tcp://host:port` (an IP address: it is dialed from the loops).
    pub(crate) fn new(upstream: &str) -> Relay {
        Relay {
            upstream: upstream.to_owned(),
            engine: OnceLock::new(),
        }
    }
}

/// Each side's state.
#[derive(Default)]
struct Side {
    /// The other connection, once both exist.
    peer: Option<ConnHandle>,
    /// A side paused because of us, to wake when our queue has drained.
    wake_when_drained: Option<ConnHandle>,
    /// Our peer sent FIN and we passed it on (we will read no more from it).
    peer_done: bool,
    /// Bytes this side received were not passed on: its stream is cut.
    cut: bool,
}

fn side(conn: &mut Conn) -> &mut Side {
    if conn.context::<Side>().is_none() {
        conn.set_context(Side::default());
    }
    conn.context_mut::<Side>().expect("set above")
}

/// Hands what `conn` received to its peer; pauses reading if the peer is
/// behind.
fn forward(conn: &mut Conn) -> Action {
    if side(conn).peer.is_none() {
        conn.pause_reading(); // the upstream is not connected yet
        return Action::Continue;
    }
    let data = conn.take_inbound();
    if data.is_empty() {
        return Action::Continue;
    }
    // Borrowed, not cloned: no reference counts touched per message.
    let peer = side(conn).peer.as_ref().expect("checked above");
    if peer.async_write(data).is_err() {
        // The peer is gone (or hopelessly behind): what we took is lost.
        cut(conn);
        return Action::Continue;
    }
    if peer.queued_bytes() > HIGH_WATER {
        let peer = peer.clone();
        conn.pause_reading();
        let me = conn.handle();
        // The peer wakes us once everything it has queued is sent (at once
        // if that is already so when this runs).
        let asked = peer.call(move |p| {
            side(p).wake_when_drained = Some(me);
            p.notify_when_drained();
            Action::Continue
        });
        if asked.is_err() {
            cut(conn); // the peer is gone: what we just gave it may never be sent
        }
    }
    Action::Continue
}

/// Bytes `conn` received cannot reach its peer: reset it, and its peer too
/// when it closes (`on_close`).
fn cut(conn: &mut Conn) {
    side(conn).cut = true;
    conn.reset();
}

/// A connection that ended this way delivered its whole stream: the peer's
/// end of file, the relay closing once both directions are done, or the
/// engine stopping (each connection flushes first). Anything else (a reset,
/// an I/O error, a timeout, a panic, a failed dial) cut it.
fn ended_whole(reason: &CloseReason) -> bool {
    matches!(
        reason,
        CloseReason::PeerEof | CloseReason::Local | CloseReason::Shutdown
    )
}

/// The peer's queue drained: read (and relay) again.
fn resume(conn: &mut Conn) -> Action {
    conn.resume_reading();
    forward(conn)
}

impl EventHandler for Relay {
    fn on_boot(&self, engine: &EngineHandle) -> Action {
        let _ = self.engine.set(engine.clone());
        Action::Continue
    }

    fn on_open(&self, conn: &mut Conn) -> Action {
        match conn.origin() {
            // The upstream connected: pair the two and start relaying.
            Origin::Dialed => {
                let me = conn.handle();
                let Some(client) = side(conn).peer.clone() else {
                    return Action::Close;
                };
                let paired = client.call(move |c| {
                    side(c).peer = Some(me);
                    resume(c)
                });
                if paired.is_err() {
                    return Action::Close; // the client left meanwhile
                }
                Action::Continue
            }
            // A client: dial the upstream on this loop; read nothing until it answers.
            _ => {
                conn.pause_reading();
                let Some(engine) = self.engine.get() else {
                    return Action::Close;
                };
                let me = conn.handle();
                let options = DialOptions::new().on_loop(conn.id().event_loop()).context(Side {
                    peer: Some(me),
                    ..Side::default()
                });
                if engine.dial_with(&self.upstream, CONNECT_TIMEOUT, options).is_err() {
                    conn.reset(); // no upstream: the client is not served
                }
                Action::Continue
            }
        }
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        forward(conn)
    }

    fn on_writable(&self, conn: &mut Conn) -> Action {
        if let Some(paused) = side(conn).wake_when_drained.take() {
            let _ = paused.call(resume);
        }
        Action::Continue
    }

    /// Our side sent FIN: pass it on once the peer has sent what it has.
    fn on_eof(&self, conn: &mut Conn) -> Action {
        let _ = forward(conn);
        let s = side(conn);
        let Some(peer) = s.peer.clone() else {
            return Action::Close;
        };
        if s.peer_done {
            return Action::Close; // both directions are finished
        }
        let _ = peer.call(|p| {
            side(p).peer_done = true;
            p.shutdown_write();
            Action::Continue
        });
        Action::Continue
    }

    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        let s = side(conn);
        let Some(peer) = s.peer.take() else { return };
        if s.cut || !ended_whole(&reason) {
            let _ = peer.call(|p| {
                p.reset();
                Action::Continue
            });
        } else {
            let _ = peer.close(); // after it has flushed what we sent it
        }
    }
}
