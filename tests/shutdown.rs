//! Stopping an engine: promptly, closing every connection once with
//! `CloseReason::Shutdown`, leaking no descriptor; and `Action::Shutdown`.
//!
//! The tests here count the process's open descriptors, so they run one at
//! a time (`SERIAL`).

mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netreactor::{Action, CloseReason, Conn, Engine, EngineHandle, EventHandler};
use std::io::Write;
use util::*;

static SERIAL: Mutex<()> = Mutex::new(());

/// Starts and stops a small engine once, so descriptors the process opens
/// lazily on first use are not mistaken for a leak.
fn warm_up() {
    let engine = start(Engine::builder().event_loops(2), Echo);
    let mut s = connect(engine.local_addr());
    round_trip(&mut s, b"warm");
    engine.stop();
    drop(s);
}

#[test]
fn stop_with_500_live_connections_is_prompt_complete_and_leaks_no_fd() {
    const CLIENTS: usize = 500;
    let _serial = lock(&SERIAL);
    warm_up();
    let fds_before = open_fd_count();

    let rec = Arc::new(Recorder::default());
    let engine = start(Engine::builder().event_loops(4), RecordingEcho { rec: rec.clone() });
    let mut clients: Vec<_> = (0..CLIENTS).map(|_| connect(engine.local_addr())).collect();
    wait_until(SETTLE, "500 connections are open", || rec.opens() == CLIENTS);
    // Every connection is live and served.
    for (i, c) in clients.iter_mut().enumerate().step_by(25) {
        round_trip(c, format!("live {i}").as_bytes());
    }
    assert_eq!(engine.connection_count(), CLIENTS);
    assert_eq!(rec.closes(), 0);

    let t = Instant::now();
    engine.stop();
    let took = t.elapsed();
    assert!(took < Duration::from_secs(2), "stop() took {took:?}");
    assert!(engine.is_stopped());
    assert_eq!(engine.connection_count(), 0);

    // on_close exactly once per connection, all with Shutdown.
    {
        let closed = lock(&rec.closed);
        assert_eq!(closed.len(), CLIENTS, "on_close calls");
        let mut peers: Vec<_> = closed.iter().map(|c| c.peer).collect();
        peers.sort();
        peers.dedup();
        assert_eq!(peers.len(), CLIENTS, "a connection was closed twice");
        for c in closed.iter() {
            assert!(
                matches!(c.reason, CloseReason::Shutdown),
                "{:?} closed with {:?}",
                c.peer,
                c.reason
            );
            assert!(c.thread.starts_with("nr-loop-"), "on_close on {:?}", c.thread);
        }
    }
    // Every client sees an orderly EOF.
    for c in &mut clients {
        expect_eof(c, IO_TIMEOUT);
    }
    drop(clients);
    drop(engine);
    assert_eq!(
        open_fd_count(),
        fds_before,
        "descriptors open after stop() and closing the clients"
    );
}

/// Echoes; "stop" makes `on_traffic` return `Action::Shutdown`.
struct StopOnCommand {
    rec: Arc<Recorder>,
    shutdowns: Arc<AtomicUsize>,
}

impl EventHandler for StopOnCommand {
    fn on_open(&self, conn: &mut Conn) -> Action {
        self.rec.open(conn);
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        if conn.peek_all() == b"stop" {
            conn.discard(4);
            conn.write(b"stopping");
            return Action::Shutdown;
        }
        conn.echo_all();
        Action::Continue
    }

    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.rec.close(conn, reason);
    }

    fn on_shutdown(&self, _engine: &EngineHandle) {
        self.shutdowns.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn action_shutdown_from_on_traffic_stops_the_engine() {
    let _serial = lock(&SERIAL);
    warm_up();
    let fds_before = open_fd_count();

    let rec = Arc::new(Recorder::default());
    let shutdowns = Arc::new(AtomicUsize::new(0));
    let engine = start(
        Engine::builder().event_loops(2),
        StopOnCommand {
            rec: rec.clone(),
            shutdowns: shutdowns.clone(),
        },
    );
    let mut bystander = connect(engine.local_addr());
    round_trip(&mut bystander, b"hello");
    let mut s = connect(engine.local_addr());
    round_trip(&mut s, b"hello");
    assert!(!engine.is_stopped());

    s.write_all(b"stop").unwrap();
    // What was written with the Shutdown still arrives, then EOF.
    assert_eq!(read_to_eof(&mut s, IO_TIMEOUT), b"stopping");
    expect_eof(&mut bystander, IO_TIMEOUT);

    // wait() returns: the engine stopped by itself.
    let waiter = {
        let e = engine.0.clone();
        std::thread::spawn(move || e.wait())
    };
    wait_until(SETTLE, "the engine reports itself stopped", || engine.is_stopped());
    waiter.join().unwrap().expect("a clean stop");
    assert_eq!(shutdowns.load(Ordering::SeqCst), 1);
    assert_eq!(rec.closes(), 2);
    assert!(lock(&rec.closed)
        .iter()
        .all(|c| matches!(c.reason, CloseReason::Shutdown)));
    // Connecting now is refused: the listener is closed.
    assert!(std::net::TcpStream::connect(engine.local_addr()).is_err());

    drop((s, bystander));
    drop(engine);
    assert_eq!(open_fd_count(), fds_before, "descriptors open after the stop");
}
