//! Draining: `EngineHandle::drain` stops accepting, keeps serving, closes
//! idle connections first (or leaves them to the handler and the hard
//! deadline), shows in `Stats` and the metrics, and tells the handler
//! (`on_shutdown` learns the deadline, `Conn::is_draining`).

mod util;

use std::io::{ErrorKind, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netreactor::{Action, Conn, Engine, EngineHandle, EventHandler};
use util::{
    connect, drain_in_background, expect_eof, lock, read_exact_within, read_to_eof, wait_until, IO_TIMEOUT, SETTLE,
};

/// Answers each whole line with "ok"; once draining with "ok, bye" and a
/// close (the polite way a line protocol might have). Records what
/// `on_shutdown` saw.
#[derive(Default)]
struct Lines {
    /// Ignores draining (as a handler written before drains would).
    oblivious: bool,
    shutdown_saw: Mutex<Option<(Option<Instant>, Instant)>>,
}

impl EventHandler for Lines {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        while let Some(end) = conn.peek_all().iter().position(|&b| b == b'\n') {
            conn.discard(end + 1);
            if conn.is_draining() && !self.oblivious {
                conn.write(b"ok, bye\n");
                return Action::Close;
            }
            conn.write(b"ok\n");
        }
        Action::Continue
    }

    fn on_shutdown(&self, engine: &EngineHandle) {
        *lock(&self.shutdown_saw) = Some((engine.drain_deadline(), Instant::now()));
    }
}

fn start(close_idle: bool) -> (EngineHandle, Arc<Lines>) {
    let handler = Arc::new(Lines::default());
    let engine = Engine::builder()
        .event_loops(2)
        .close_idle_on_drain(close_idle)
        .start(handler.clone(), "tcp://127.0.0.1:0")
        .expect("start");
    (engine, handler)
}

fn ask(s: &mut std::net::TcpStream, line: &[u8], reply: &[u8]) {
    s.write_all(line).unwrap();
    assert_eq!(read_exact_within(s, reply.len(), IO_TIMEOUT), reply);
}

#[test]
fn drain_closes_idle_connections_at_once_and_answers_those_in_flight() {
    let (engine, _) = start(true);
    let addr = engine.local_addr();
    let mut idle = connect(addr);
    ask(&mut idle, b"hello\n", b"ok\n");
    let mut busy = connect(addr);
    ask(&mut busy, b"hello\n", b"ok\n");
    busy.write_all(b"half a requ").unwrap(); // in flight when the drain begins
    wait_until(SETTLE, "the partial request is read", || engine.stats().bytes_in == 23);

    let drain = drain_in_background(&engine, Duration::from_secs(30));
    assert!(engine.stats().draining);
    let mut text = String::new();
    netreactor::metrics::render(&engine, &mut text);
    assert!(text.contains("\nnetreactor_draining 1\n"), "{text}");
    // The idle one goes at once, with FIN: nothing was cut.
    expect_eof(&mut idle, SETTLE);
    // No new connection is taken.
    match std::net::TcpStream::connect_timeout(&addr, IO_TIMEOUT) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}"),
        Ok(mut late) => expect_eof(&mut late, SETTLE), // raced the listener's close
    }
    // The one in flight is answered (politely, by the handler), then closed.
    busy.write_all(b"est\n").unwrap();
    assert_eq!(read_to_eof(&mut busy, SETTLE), b"ok, bye\n");
    let took = drain.join().unwrap();
    assert!(
        took < Duration::from_secs(10),
        "the drain waited for its deadline: {took:?}"
    );
    assert!(engine.is_stopped() && !engine.is_draining() && !engine.stats().draining);
    assert_eq!(engine.stats().closed_shutdown, 1, "the idle connection");
    assert_eq!(engine.stats().closed_local, 1, "the handler's close");
}

#[test]
fn drain_closes_a_connection_once_its_reply_is_out() {
    // A handler that knows nothing of draining: the engine closes each
    // connection once its reply is out and nothing more is pending.
    let handler = Lines {
        oblivious: true,
        ..Lines::default()
    };
    let engine = Engine::builder()
        .event_loops(1)
        .start(handler, "tcp://127.0.0.1:0")
        .expect("start");
    let mut c = connect(engine.local_addr());
    c.write_all(b"abc").unwrap();
    wait_until(SETTLE, "the partial request is read", || engine.stats().bytes_in == 3);
    let drain = drain_in_background(&engine, Duration::from_secs(30));
    c.write_all(b"\n").unwrap();
    assert_eq!(read_to_eof(&mut c, SETTLE), b"ok\n");
    assert!(drain.join().unwrap() < Duration::from_secs(10));
}

#[test]
fn without_close_idle_silent_connections_stay_until_the_deadline() {
    let (engine, handler) = start(false);
    let mut silent = connect(engine.local_addr());
    ask(&mut silent, b"hello\n", b"ok\n");
    let mut polite = connect(engine.local_addr());
    ask(&mut polite, b"hello\n", b"ok\n");
    let grace = Duration::from_millis(800);
    let begun = Instant::now();
    let drain = drain_in_background(&engine, grace);
    // on_shutdown ran at the start of the drain and learnt the deadline.
    let (deadline, when) = lock(&handler.shutdown_saw).expect("on_shutdown ran");
    let deadline = deadline.expect("a deadline");
    assert!(
        deadline >= begun + grace && deadline <= Instant::now() + grace,
        "{deadline:?}"
    );
    assert!(when < begun + grace, "on_shutdown ran at the start, not at the end");
    assert_eq!(engine.drain_deadline(), Some(deadline));
    // A connection that speaks during the drain is answered and let go.
    ask(&mut polite, b"one more\n", b"ok, bye\n");
    expect_eof(&mut polite, SETTLE);
    // The silent one stays open until the deadline, then ends with FIN.
    expect_eof(&mut silent, SETTLE);
    assert!(
        begun.elapsed() >= grace,
        "closed {:?} into a {grace:?} drain",
        begun.elapsed()
    );
    drain.join().unwrap();
    assert!(engine.is_stopped());
}

#[test]
fn a_stop_during_a_drain_cuts_it_short() {
    let (engine, _) = start(false);
    let mut silent = connect(engine.local_addr());
    ask(&mut silent, b"hi\n", b"ok\n");
    let drain = drain_in_background(&engine, Duration::from_secs(60));
    let started = Instant::now();
    engine.stop_with_deadline(Duration::from_millis(100));
    assert!(started.elapsed() < Duration::from_secs(10));
    expect_eof(&mut silent, SETTLE);
    assert!(drain.join().unwrap() < Duration::from_secs(10));
}

#[test]
fn drain_at_the_deadline_closes_a_connection_stuck_mid_request() {
    let (engine, _) = start(true);
    let mut stuck = connect(engine.local_addr());
    stuck.write_all(b"never ends").unwrap();
    wait_until(SETTLE, "the partial request is read", || engine.stats().bytes_in == 10);
    let grace = Duration::from_millis(500);
    let drain = drain_in_background(&engine, grace);
    expect_eof(&mut stuck, SETTLE);
    assert!(drain.join().unwrap() >= grace);
}

/// A client that has connected but not sent its first request when the
/// drain begins is not idle: the request is on its way (closing it then
/// lost requests in a hand-off under load). It is answered; one that
/// stays silent is closed once `DRAIN_NEW_CONNECTION_GRACE` has passed,
/// long before the deadline.
#[test]
fn drain_answers_a_connection_whose_first_request_is_still_on_its_way() {
    let engine = Engine::builder()
        .event_loops(1)
        .start(Lines::default(), "tcp://127.0.0.1:0")
        .expect("start");
    let addr = engine.local_addr();
    let mut idle = connect(addr);
    ask(&mut idle, b"hello\n", b"ok\n");
    let mut late = connect(addr);
    let mut silent = connect(addr);
    wait_until(SETTLE, "all three are accepted", || engine.connection_count() == 3);
    let begun = Instant::now(); // before the loop's drain begins
    let drain = drain_in_background(&engine, Duration::from_secs(30));
    // The sweep has run on the (only) loop: the idle one is gone.
    expect_eof(&mut idle, SETTLE);
    late.write_all(b"hello\n").unwrap();
    assert_eq!(read_to_eof(&mut late, SETTLE), b"ok, bye\n");
    expect_eof(&mut silent, SETTLE);
    let grace = netreactor::options::DRAIN_NEW_CONNECTION_GRACE;
    assert!(
        begun.elapsed() >= grace,
        "the silent one went after {:?}",
        begun.elapsed()
    );
    let took = drain.join().unwrap();
    assert!(
        took < Duration::from_secs(10),
        "the drain waited for its deadline: {took:?}"
    );
    assert_eq!(engine.stats().closed_shutdown, 2, "the idle and the silent one");
    assert_eq!(engine.stats().closed_local, 1, "the handler's close");
}
