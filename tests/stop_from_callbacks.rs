//! `stop()` called from inside callbacks: in `on_boot` it only asks (nothing
//! runs yet that it could wait for), so `start`/`run` return and the engine
//! stops cleanly; on another engine's thread it is a stop like any other,
//! and blocks until that other engine has stopped.
//!
//! Before issue 14's hardening `stop()` in `on_boot` waited for an engine
//! whose threads were not started yet: `start` and `run` never returned.
//! And "on an engine thread" was one flag for every engine, so engine A's
//! callback calling `stop()` on engine B only asked B to stop and returned
//! before B had stopped.

mod util;

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use netreactor::{Action, Conn, Engine, EngineHandle, EventHandler};
use util::*;

/// How long a call may take before the test calls it a deadlock.
const WATCHDOG: Duration = Duration::from_secs(10);

/// Runs `f` on another thread; fails the test (instead of hanging it) when
/// `f` does not return within [`WATCHDOG`].
fn within_watchdog<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(WATCHDOG)
        .unwrap_or_else(|_| panic!("{what} did not return within {WATCHDOG:?}: deadlock"))
}

/// Calls `engine.stop()` in `on_boot`; counts boots and connections.
#[derive(Default)]
struct StopsInBoot {
    boots: AtomicUsize,
    opens: AtomicUsize,
}

impl EventHandler for StopsInBoot {
    fn on_boot(&self, engine: &EngineHandle) -> Action {
        self.boots.fetch_add(1, Ordering::SeqCst);
        engine.stop();
        Action::Continue
    }

    fn on_open(&self, _conn: &mut Conn) -> Action {
        self.opens.fetch_add(1, Ordering::SeqCst);
        Action::Continue
    }
}

#[test]
fn stop_in_on_boot_lets_start_return_and_the_engine_stops_cleanly() {
    let handler = Arc::new(StopsInBoot::default());
    let h = handler.clone();
    let engine = within_watchdog("start with stop() in on_boot", move || {
        Engine::builder()
            .event_loops(2)
            .start(Shared(h), "tcp://127.0.0.1:0")
    })
    .expect("start must succeed");
    let addr = engine.local_addr();
    let e = engine.clone();
    within_watchdog("wait after stop() in on_boot", move || e.wait()).expect("a clean stop, not a failure");
    assert!(engine.is_stopped());
    assert_eq!(handler.boots.load(Ordering::SeqCst), 1);
    assert_eq!(engine.connection_count(), 0);
    assert!(TcpStream::connect(addr).is_err(), "the listener must be closed");
    assert_eq!(handler.opens.load(Ordering::SeqCst), 0, "no connection was served");
}

#[test]
fn stop_in_on_boot_lets_run_return_ok() {
    let handler = Arc::new(StopsInBoot::default());
    let h = handler.clone();
    within_watchdog("run with stop() in on_boot", move || {
        Engine::builder()
            .event_loops(2)
            .run(Shared(h), "tcp://127.0.0.1:0")
    })
    .expect("run must return Ok after a clean stop");
    assert_eq!(handler.boots.load(Ordering::SeqCst), 1);
}

/// `stop_with_deadline` in `on_boot` too, with the other builder options
/// that start threads (the ticker, several loops).
struct StopsWithDeadlineInBoot;

impl EventHandler for StopsWithDeadlineInBoot {
    fn on_boot(&self, engine: &EngineHandle) -> Action {
        engine.stop_with_deadline(Duration::from_millis(1));
        Action::Continue
    }
}

#[test]
fn stop_with_deadline_in_on_boot_lets_start_return_and_the_engine_stops() {
    let engine = within_watchdog("start with stop_with_deadline() in on_boot", || {
        Engine::builder()
            .event_loops(3)
            .ticker(true)
            .start(StopsWithDeadlineInBoot, "tcp://127.0.0.1:0")
    })
    .expect("start must succeed");
    let e = engine.clone();
    within_watchdog("wait", move || e.wait()).expect("a clean stop");
    assert!(engine.is_stopped());
}

// ---------------------------------------------------------------------------
// One engine's callback stopping another engine.

/// Engine A: echoes, except the request "stop B", which stops engine B from
/// this loop thread and answers whether B is stopped when `stop` returned.
struct StopsOtherEngine {
    other: Mutex<Option<EngineHandle>>,
}

impl EventHandler for StopsOtherEngine {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        if conn.peek_all() == b"stop B" {
            conn.discard(6);
            let b = lock(&self.other).clone().expect("B's handle is set before the request");
            b.stop();
            let answer: &[u8] = if b.is_stopped() { b"B stopped" } else { b"B running" };
            conn.write(answer);
        } else {
            conn.echo_all();
        }
        Action::Continue
    }
}

#[test]
fn a_callback_of_engine_a_stopping_engine_b_waits_until_b_has_stopped() {
    let b = start(Engine::builder().event_loops(2), Echo);
    let a_handler = Arc::new(StopsOtherEngine {
        other: Mutex::new(Some(b.0.clone())),
    });
    let a = start(Engine::builder().event_loops(2), Shared(a_handler.clone()));

    let mut b_client = connect(b.local_addr());
    round_trip(&mut b_client, b"B serves");
    let mut a_client = connect(a.local_addr());
    let mut a_bystander = connect(a.local_addr());
    round_trip(&mut a_bystander, b"A serves");

    a_client.write_all(b"stop B").unwrap();
    assert_eq!(
        read_exact_within(&mut a_client, 9, WATCHDOG),
        b"B stopped",
        "stop() on another engine's handle must block until that engine has stopped"
    );
    assert!(b.is_stopped());
    expect_eof(&mut b_client, IO_TIMEOUT);
    assert!(TcpStream::connect(b.local_addr()).is_err(), "B's listener is closed");

    // A is untouched: both its connections and new ones are served.
    assert!(!a.is_stopped());
    round_trip(&mut a_client, b"A still serves");
    round_trip(&mut a_bystander, b"A still serves too");
    let mut a_newcomer = connect(a.local_addr());
    round_trip(&mut a_newcomer, b"new on A");
    assert_eq!(a.connection_count(), 3);
    a.stop();
    assert!(a.is_stopped());
    expect_eof(&mut a_client, IO_TIMEOUT);
}

/// Lets a test keep an `Arc` to the handler it gave the engine.
struct Shared<H>(Arc<H>);

impl<H: EventHandler> EventHandler for Shared<H> {
    fn on_boot(&self, engine: &EngineHandle) -> Action {
        self.0.on_boot(engine)
    }
    fn on_open(&self, conn: &mut Conn) -> Action {
        self.0.on_open(conn)
    }
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        self.0.on_traffic(conn)
    }
}
