//! A client-only engine: started with no listener (`start_client`), its
//! connections all dialed; the same loops, callbacks and stop as a server.

mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use netreactor::{Action, CloseReason, Conn, Engine, EngineHandle, Error, EventHandler, Origin};
use util::*;

/// Dials `n` connections at boot; each sends "ping" and counts the echo.
struct Pinger {
    server: std::net::SocketAddr,
    n: usize,
    echoed: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

impl EventHandler for Pinger {
    fn on_boot(&self, engine: &EngineHandle) -> Action {
        for _ in 0..self.n {
            engine.dial(&self.server.to_string(), Duration::from_secs(10)).unwrap();
        }
        Action::Continue
    }
    fn on_open(&self, conn: &mut Conn) -> Action {
        assert_eq!(conn.origin(), Origin::Dialed);
        conn.write(b"ping");
        Action::Continue
    }
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        if conn.inbound_len() >= 4 {
            assert_eq!(conn.peek(4), b"ping");
            conn.discard(4);
            self.echoed.fetch_add(1, Ordering::SeqCst);
        }
        Action::Continue
    }
    fn on_close(&self, _conn: &mut Conn, reason: CloseReason) {
        // Counted only for the expected reason (a panic here would be caught).
        if reason == CloseReason::Shutdown {
            self.closed.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[test]
fn a_client_only_engine_dials_100_connections_and_stops_cleanly() {
    let server = start(Engine::builder().event_loops(2), Echo);
    let (echoed, closed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let client = Engine::builder()
        .event_loops(2)
        .start_client(Pinger {
            server: server.local_addr(),
            n: 100,
            echoed: echoed.clone(),
            closed: closed.clone(),
        })
        .unwrap();
    assert!(client.local_addrs().is_empty());
    wait_until(SETTLE, "every dialed connection got its echo", || {
        echoed.load(Ordering::SeqCst) == 100
    });
    assert_eq!(client.connection_count(), 100);
    client.stop();
    assert_eq!(closed.load(Ordering::SeqCst), 100);
    assert_eq!(client.connection_count(), 0);
}

#[test]
fn start_with_no_address_points_to_start_client() {
    struct Nothing;
    impl EventHandler for Nothing {}
    let none: [&str; 0] = [];
    let err = Engine::builder().event_loops(1).start(Nothing, none).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidAddress(m) if m.contains("start_client")),
        "{err}"
    );
}
