//! A panicking callback closes only its own connection, with
//! `CloseReason::HandlerPanic`; the loop keeps serving the others.

mod util;

use std::io::Write;
use std::sync::Arc;

use netreactor::codec::LineCodec;
use netreactor::{Action, CloseReason, Conn, Engine, EventHandler, Frame};
use util::*;

const PANIC_TEXT: &str = "handler exploded on request";

/// Echoes; panics in `on_traffic` when the input starts with "boom".
struct Boom {
    rec: Arc<Recorder>,
}

impl EventHandler for Boom {
    fn on_open(&self, conn: &mut Conn) -> Action {
        self.rec.open(conn);
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        if conn.peek_all().starts_with(b"boom") {
            conn.write(b"this reply is dropped with the panic");
            panic!("{PANIC_TEXT} {}", conn.id());
        }
        conn.echo_all();
        Action::Continue
    }

    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.rec.close(conn, reason);
    }
}

fn panic_message_of(rec: &Recorder, peer: std::net::SocketAddr) -> String {
    rec.wait_close_of(peer, |r| match r {
        CloseReason::HandlerPanic(msg) => msg.clone(),
        other => panic!("closed with {other:?}, not HandlerPanic"),
    })
}

#[test]
fn panic_in_on_traffic_closes_only_that_connection() {
    let rec = Arc::new(Recorder::default());
    let engine = start(Engine::builder().event_loops(1), Boom { rec: rec.clone() });
    let addr = engine.local_addr();
    let mut bystander = connect(addr);
    round_trip(&mut bystander, b"before");
    let mut victim = connect(addr);
    round_trip(&mut victim, b"fine so far");

    victim.write_all(b"boom").unwrap();
    // Nothing the panicking callback wrote is sent, and the client sees the
    // stream was cut (a reset, not EOF).
    expect_reset(&mut victim, IO_TIMEOUT);
    let msg = panic_message_of(&rec, victim.local_addr().unwrap());
    assert!(msg.contains(PANIC_TEXT), "panic message {msg:?}");

    // The loop lives on: the bystander and new connections are served.
    for i in 0..20 {
        round_trip(&mut bystander, format!("after {i}").as_bytes());
    }
    let mut newcomer = connect(addr);
    round_trip(&mut newcomer, b"new");
    assert_eq!(engine.connection_count(), 2);
    assert_eq!(rec.closes(), 1);

    // Several panics in a row, each on its own connection.
    for _ in 0..5 {
        let mut v = connect(addr);
        v.write_all(b"boom again").unwrap();
        expect_reset(&mut v, IO_TIMEOUT);
        let msg = panic_message_of(&rec, v.local_addr().unwrap());
        assert!(msg.contains(PANIC_TEXT), "panic message {msg:?}");
    }
    round_trip(&mut bystander, b"still here");
    round_trip(&mut newcomer, b"me too");

    finish(bystander);
    finish(newcomer);
    wait_until(SETTLE, "all closes recorded", || rec.closes() == 8);
    engine.stop();
    assert_eq!(rec.opens(), 8);
    assert_eq!(rec.closes(), 8, "on_close ran once per connection");
}

/// Panics in `on_open` for every connection after the first.
struct PanicOnOpen {
    rec: Arc<Recorder>,
}

impl EventHandler for PanicOnOpen {
    fn on_open(&self, conn: &mut Conn) -> Action {
        self.rec.open(conn);
        if self.rec.opens() > 1 {
            panic!("{PANIC_TEXT} in on_open");
        }
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }

    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.rec.close(conn, reason);
    }
}

#[test]
fn panic_in_on_open_closes_that_connection_with_handler_panic() {
    let rec = Arc::new(Recorder::default());
    let engine = start(Engine::builder().event_loops(1), PanicOnOpen { rec: rec.clone() });
    let mut first = connect(engine.local_addr());
    round_trip(&mut first, b"first");
    let mut second = connect(engine.local_addr());
    expect_eof(&mut second, IO_TIMEOUT);
    let msg = panic_message_of(&rec, second.local_addr().unwrap());
    assert!(msg.contains(PANIC_TEXT), "panic message {msg:?}");
    round_trip(&mut first, b"first still served");
    finish(first);
    engine.stop();
    assert_eq!(rec.closes(), 2);
}

/// Echoes lines; panics in `on_frame` on the line "boom".
struct LineBoom {
    rec: Arc<Recorder>,
}

impl EventHandler for LineBoom {
    fn on_frame(&self, conn: &mut Conn, line: Frame<'_>) -> Action {
        if &line[..] == b"boom" {
            panic!("{PANIC_TEXT} in a frame");
        }
        conn.write_frame(&line).map_or(Action::Close, |_| Action::Continue)
    }

    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.rec.close(conn, reason);
    }
}

#[test]
fn panic_in_on_frame_mid_batch_closes_only_that_connection() {
    let rec = Arc::new(Recorder::default());
    let engine = start(
        Engine::builder().event_loops(1).codec(LineCodec::new()),
        LineBoom { rec: rec.clone() },
    );
    let addr = engine.local_addr();
    let mut bystander = connect(addr);
    round_trip(&mut bystander, b"hello\n");

    // One write: two lines before the panic, one after it that is never
    // delivered. What the first two queued is dropped with the connection.
    let mut victim = connect(addr);
    victim.write_all(b"one\ntwo\nboom\nthree\n").unwrap();
    expect_reset(&mut victim, IO_TIMEOUT);
    let msg = panic_message_of(&rec, victim.local_addr().unwrap());
    assert!(msg.contains("in a frame"), "panic message {msg:?}");

    // The loop and its read buffer live on.
    for i in 0..20 {
        round_trip(&mut bystander, format!("after {i}\n").as_bytes());
    }
    let mut newcomer = connect(addr);
    round_trip(&mut newcomer, b"a\nb\nc\n");
    assert_eq!(rec.closes(), 1);
    engine.stop();
}

/// Lines: "stop" asks to shut the engine down, "boom" panics.
struct StopThenBoom;

impl EventHandler for StopThenBoom {
    fn on_frame(&self, _conn: &mut Conn, line: Frame<'_>) -> Action {
        match &line[..] {
            b"stop" => Action::Shutdown,
            b"boom" => panic!("{PANIC_TEXT} after a shutdown request"),
            _ => Action::Continue,
        }
    }
}

#[test]
fn shutdown_asked_by_a_frame_stands_when_a_later_frame_of_the_read_panics() {
    let engine = start(Engine::builder().event_loops(1).codec(LineCodec::new()), StopThenBoom);
    let mut s = connect(engine.local_addr());
    s.write_all(b"stop\nboom\n").unwrap();
    wait_until(IO_TIMEOUT, "the engine stopped", || engine.is_stopped());
}
