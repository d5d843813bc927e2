//! A peer must be able to tell a cut stream from a complete one. Every path
//! on which the server throws queued output away (the close linger running
//! out, the outbound cap, the write-idle timeout, the shutdown deadline,
//! `close_now` with output pending) ends the connection with a reset; a
//! close after everything was sent ends it with an orderly end of file.
//!
//! Before issue 14's hardening all of them ended in an orderly FIN: the peer
//! read a prefix of the reply followed by a clean end of file, exactly what
//! a complete (shorter) reply looks like.

mod util;

use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use netreactor::{Action, Bytes, CloseReason, Conn, Engine, EngineBuilder, EventHandler, TimeoutKind};
use util::*;

const MIB: usize = 1024 * 1024;

/// Far more than loopback socket buffers hold while the client does not
/// read: most of it is still queued in the engine when it is dropped.
const BIG: usize = 32 * MIB;

/// Short enough for a fast test, long enough for the request to be served.
const SHORT: Duration = Duration::from_millis(100);

/// Line requests:
/// - "big": queue [`BIG`] bytes;
/// - "big-bye": queue them and close (`Action::Close`);
/// - "flood": queue them in 256 KiB pieces, flushing after each (to pass a
///   small `max_outbound_buffer` after part of them went out);
/// - "cut": `close_now` (drops whatever is still queued);
/// - "reply-bye": answer "bye\n" and close (`Action::Close`);
/// - "quit": `close_now` with nothing queued;
/// - "reply-quit": answer "bye\n", flush it, then `close_now`.
struct Cutter {
    payload: Bytes,
    rec: Recorder,
}

impl EventHandler for Cutter {
    fn on_open(&self, conn: &mut Conn) -> Action {
        self.rec.open(conn);
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        while let Some(end) = conn.peek_all().iter().position(|&b| b == b'\n') {
            let line = conn.next(end + 1).expect("the line is there");
            match &line[..end] {
                b"big" => conn.write_bytes(self.payload.clone()),
                b"big-bye" => {
                    conn.write_bytes(self.payload.clone());
                    return Action::Close;
                }
                b"flood" => {
                    for piece in 0..BIG / (256 * 1024) {
                        let at = piece * 256 * 1024;
                        conn.write_bytes(self.payload.slice(at..at + 256 * 1024));
                        let _ = conn.flush();
                    }
                }
                b"cut" => conn.close_now(),
                b"reply-bye" => {
                    conn.write(b"bye\n");
                    return Action::Close;
                }
                b"quit" => conn.close_now(),
                b"reply-quit" => {
                    conn.write(b"bye\n");
                    conn.flush().expect("4 bytes go out at once");
                    assert_eq!(conn.outbound_len(), 0);
                    conn.close_now();
                }
                other => panic!("unknown request {:?}", String::from_utf8_lossy(other)),
            }
        }
        Action::Continue
    }

    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.rec.close(conn, reason);
    }
}

/// The [`BIG`] payload, made once per test process.
fn payload() -> Bytes {
    static PAYLOAD: OnceLock<Bytes> = OnceLock::new();
    PAYLOAD.get_or_init(|| Bytes::from(Rng::new(14).bytes(BIG))).clone()
}

/// Starts [`Cutter`] on one loop with `builder`'s options.
fn cutter(builder: EngineBuilder) -> (util::Engine, Arc<Cutter>) {
    let handler = Arc::new(Cutter {
        payload: payload(),
        rec: Recorder::default(),
    });
    let engine = start(builder.event_loops(1), handler.clone());
    (engine, handler)
}

/// Sends `request` and waits until the server has sent part of its answer.
fn request_and_wait_for_output(engine: &util::Engine, s: &mut TcpStream, request: &[u8]) {
    let before = engine.stats().bytes_out;
    s.write_all(request).unwrap();
    wait_until(SETTLE, "the server started sending", || {
        engine.stats().bytes_out > before
    });
}

/// Reads until the reset and checks what came first is a strict prefix of
/// the payload: the stream was cut, and the peer can tell.
fn assert_cut_with_a_reset(s: &mut TcpStream, payload: &[u8]) {
    let got = read_to_reset(s, IO_TIMEOUT);
    assert!(got.len() < payload.len(), "the whole payload arrived");
    if got[..] != payload[..got.len()] {
        panic!(
            "what arrived is not a prefix of the payload: first difference at {:?}",
            first_difference(&got, &payload[..got.len()])
        );
    }
}

fn close_reason(handler: &Cutter, s: &TcpStream) -> CloseReason {
    handler.rec.wait_close_of(s.local_addr().unwrap(), CloseReason::clone)
}

#[test]
fn linger_timeout_ends_in_a_reset_not_eof() {
    let (engine, handler) = cutter(Engine::builder().close_linger(SHORT));
    let mut s = connect(engine.local_addr());
    s.write_all(b"big-bye\n").unwrap();
    // The client reads nothing until the linger ran out and the server gave up.
    assert_eq!(close_reason(&handler, &s), CloseReason::LingerTimeout);
    assert_cut_with_a_reset(&mut s, &handler.payload);
}

#[test]
fn outbound_overflow_ends_in_a_reset_not_eof() {
    let (engine, handler) = cutter(Engine::builder().max_outbound_buffer(MIB));
    let mut s = connect(engine.local_addr());
    s.write_all(b"flood\n").unwrap();
    assert_eq!(close_reason(&handler, &s), CloseReason::OutboundOverflow { limit: MIB });
    assert!(engine.stats().bytes_out > 0, "part of the flood went out first");
    assert_cut_with_a_reset(&mut s, &handler.payload);
}

#[test]
fn write_idle_timeout_ends_in_a_reset_not_eof() {
    let (engine, handler) = cutter(Engine::builder().write_idle_timeout(SHORT));
    let mut s = connect(engine.local_addr());
    request_and_wait_for_output(&engine, &mut s, b"big\n");
    assert_eq!(close_reason(&handler, &s), CloseReason::Timeout(TimeoutKind::WriteIdle));
    assert_cut_with_a_reset(&mut s, &handler.payload);
}

#[test]
fn shutdown_deadline_ends_in_a_reset_not_eof() {
    let (engine, handler) = cutter(Engine::builder());
    let mut s = connect(engine.local_addr());
    request_and_wait_for_output(&engine, &mut s, b"big\n");
    engine.stop_with_deadline(SHORT);
    assert!(engine.is_stopped());
    // The stop's deadline ran out while the reply was still queued.
    assert_eq!(close_reason(&handler, &s), CloseReason::LingerTimeout);
    assert_cut_with_a_reset(&mut s, &handler.payload);
}

#[test]
fn close_now_with_pending_output_ends_in_a_reset_not_eof() {
    // Keep reading requests while the reply is stuck, so "cut" arrives.
    let (engine, handler) = cutter(Engine::builder().pause_reading_when_unwritable(false));
    let mut s = connect(engine.local_addr());
    request_and_wait_for_output(&engine, &mut s, b"big\n");
    s.write_all(b"cut\n").unwrap();
    assert_eq!(close_reason(&handler, &s), CloseReason::Local);
    assert_cut_with_a_reset(&mut s, &handler.payload);
}

// ---------------------------------------------------------------------------
// Controls: nothing was dropped, so the end is an orderly end of file.

#[test]
fn action_close_after_a_flushed_reply_ends_in_eof() {
    let (engine, handler) = cutter(Engine::builder().close_linger(SHORT));
    let mut s = connect(engine.local_addr());
    s.write_all(b"reply-bye\n").unwrap();
    assert_eq!(read_to_eof(&mut s, IO_TIMEOUT), b"bye\n");
    assert_eq!(close_reason(&handler, &s), CloseReason::Local);
}

#[test]
fn close_with_a_big_reply_the_peer_reads_ends_in_eof_after_all_of_it() {
    let (engine, handler) = cutter(Engine::builder());
    let mut s = connect(engine.local_addr());
    s.write_all(b"big-bye\n").unwrap();
    let got = read_to_eof(&mut s, IO_TIMEOUT);
    assert_eq!(got.len(), BIG);
    assert!(
        got == handler.payload,
        "first difference at {:?}",
        first_difference(&got, &handler.payload)
    );
    assert_eq!(close_reason(&handler, &s), CloseReason::Local);
}

#[test]
fn close_now_with_nothing_queued_ends_in_eof() {
    let (engine, handler) = cutter(Engine::builder());
    let mut s = connect(engine.local_addr());
    s.write_all(b"quit\n").unwrap();
    expect_eof(&mut s, IO_TIMEOUT);
    assert_eq!(close_reason(&handler, &s), CloseReason::Local);

    // A reply flushed before close_now is complete: an orderly end too.
    let mut s = connect(engine.local_addr());
    s.write_all(b"reply-quit\n").unwrap();
    assert_eq!(read_to_eof(&mut s, IO_TIMEOUT), b"bye\n");
    assert_eq!(close_reason(&handler, &s), CloseReason::Local);
}

/// Queues a big reply at open and hands out the connection's handle.
struct HandOut(std::sync::mpsc::Sender<netreactor::ConnHandle>);

impl EventHandler for HandOut {
    fn on_open(&self, conn: &mut Conn) -> Action {
        conn.write_bytes(Bytes::from(vec![b'x'; BIG]));
        let _ = self.0.send(conn.handle());
        Action::Continue
    }
}

#[test]
fn a_handle_reset_ends_a_stalled_connection_in_a_reset_at_once() {
    // With a linger of an hour, only a reset can end this connection soon.
    let (tx, rx) = std::sync::mpsc::channel();
    let engine = start(
        Engine::builder().event_loops(1).close_linger(Duration::from_secs(3600)),
        HandOut(tx),
    );
    let mut client = connect(engine.local_addr());
    let handle = rx.recv_timeout(IO_TIMEOUT).unwrap();
    handle.reset().unwrap();
    let got = read_to_reset(&mut client, IO_TIMEOUT);
    assert!(got.len() < BIG, "the whole reply arrived: {} bytes", got.len());
    wait_until(SETTLE, "the connection is gone", || !handle.is_alive());
    assert!(matches!(handle.reset(), Err(netreactor::Error::ConnectionClosed)));
}
