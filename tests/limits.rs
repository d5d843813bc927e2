//! `max_connections`: `Reject` accepts and closes the surplus at once
//! (counted in `Stats::rejected`); `Pause` leaves it waiting in the backlog
//! until a slot frees.

mod util;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netreactor::{Engine, MaxConnectionsPolicy};
use util::*;

/// Reads once: `true` for an orderly EOF or a reset (the server refused us).
fn refused(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 16];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(n) => panic!("a refused client got {n} bytes"),
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => true,
        Err(e) => panic!("no EOF or reset for a refused client: {e}"),
    }
}

/// Asserts nothing arrives on `s` for `quiet` (a read that times out).
fn assert_silent(s: &mut TcpStream, quiet: Duration) {
    s.set_read_timeout(Some(quiet)).unwrap();
    let mut buf = [0u8; 16];
    match s.read(&mut buf) {
        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
        other => panic!("expected no reply within {quiet:?}, got {other:?}"),
    }
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
}

#[test]
fn max_connections_reject_serves_exactly_the_limit_and_refuses_the_rest_at_once() {
    let rec = Arc::new(Recorder::default());
    let engine = start(
        Engine::builder()
            .event_loops(2)
            .max_connections(5, MaxConnectionsPolicy::Reject),
        RecordingEcho { rec: rec.clone() },
    );
    let addr = engine.local_addr();
    // Connected one after another, so they are accepted in this order.
    let mut clients: Vec<TcpStream> = (0..8).map(|_| connect(addr)).collect();

    // The last three are closed at once, without a byte.
    for (i, c) in clients.iter_mut().enumerate().skip(5) {
        let t = Instant::now();
        assert!(refused(c), "client {i}");
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "client {i} refused only after {:?}",
            t.elapsed()
        );
    }
    // The first five are served.
    for (i, c) in clients.iter_mut().enumerate().take(5) {
        round_trip(c, format!("client {i}").as_bytes());
    }
    let stats = engine.stats();
    assert_eq!(stats.rejected, 3);
    assert_eq!(stats.accepted, 5);
    assert_eq!(rec.opens(), 5, "on_open only for admitted connections");
    assert_eq!(rec.closes(), 0, "rejected connections never reach on_close");
    assert_eq!(engine.connection_count(), 5);

    // A slot frees: the next client is admitted.
    finish(clients.remove(0));
    wait_until(SETTLE, "the engine counts 4 connections", || {
        engine.connection_count() == 4
    });
    let mut late = connect(addr);
    round_trip(&mut late, b"admitted after a slot freed");
    // And the one after that is refused again.
    let mut surplus = connect(addr);
    assert!(refused(&mut surplus));
    assert_eq!(engine.stats().rejected, 4);
    assert_eq!(engine.stats().accepted, 6);
    engine.stop();
}

#[test]
fn max_connections_pause_holds_the_third_client_until_a_slot_frees() {
    let rec = Arc::new(Recorder::default());
    let engine = start(
        Engine::builder()
            .event_loops(2)
            .max_connections(2, MaxConnectionsPolicy::Pause),
        RecordingEcho { rec: rec.clone() },
    );
    let addr = engine.local_addr();
    let mut a = connect(addr);
    let mut b = connect(addr);
    round_trip(&mut a, b"a");
    round_trip(&mut b, b"b");

    // The third handshake completes in the kernel, but the engine leaves
    // the connection in the backlog: no reply, no on_open.
    let mut c = connect(addr);
    c.write_all(b"c waits").unwrap();
    assert_silent(&mut c, Duration::from_millis(300));
    assert_eq!(rec.opens(), 2);
    assert_eq!(engine.connection_count(), 2);

    // A and B are still served meanwhile.
    round_trip(&mut a, b"a again");
    round_trip(&mut b, b"b again");

    // A leaves: C is accepted and its waiting bytes are answered.
    let freed = Instant::now();
    finish(a);
    assert_eq!(read_exact_within(&mut c, 7, Duration::from_secs(2)), b"c waits");
    eprintln!("paused client served {:?} after a slot freed", freed.elapsed());
    assert_eq!(rec.opens(), 3);
    assert_eq!(engine.connection_count(), 2);
    let stats = engine.stats();
    assert_eq!(stats.rejected, 0, "Pause refuses nobody");
    assert_eq!(stats.accepted, 3);

    round_trip(&mut c, b"c served");
    round_trip(&mut b, b"b still served");
    engine.stop();
}
