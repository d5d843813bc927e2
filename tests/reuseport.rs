//! `reuse_port(true)`: every loop owns a SO_REUSEPORT listener and accepts for
//! itself (kernel balancing, no acceptor hand-off). Echo, spreading, limits
//! and a clean stop must hold there too. Alone in its file: it counts fds.

mod util;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use netreactor::{Action, CloseReason, Conn, Engine, EventHandler, MaxConnectionsPolicy};
use util::{connect, expect_eof, lock, open_fd_count, round_trip, thread_name, wait_until, Rng, SETTLE};

#[derive(Default)]
struct Seen {
    open_threads: Mutex<Vec<String>>,
    closes: Mutex<Vec<String>>,
}

struct Echo(Arc<Seen>);

impl EventHandler for Echo {
    fn on_open(&self, _conn: &mut Conn) -> Action {
        lock(&self.0.open_threads).push(thread_name());
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }

    fn on_close(&self, _conn: &mut Conn, reason: CloseReason) {
        lock(&self.0.closes).push(format!("{reason:?}"));
    }
}

#[test]
fn reuse_port_loops_accept_echo_spread_limit_and_stop_cleanly() {
    let fds_before = open_fd_count();
    let seen = Arc::new(Seen::default());
    let engine = Engine::builder()
        .event_loops(4)
        .reuse_port(true)
        .max_connections(64, MaxConnectionsPolicy::Reject)
        .start(Echo(seen.clone()), "tcp://127.0.0.1:0")
        .unwrap();

    let mut rng = Rng::new(7);
    let mut clients: Vec<_> = (0..64).map(|_| connect(engine.local_addr())).collect();
    for c in &mut clients {
        let len = rng.range(1, 4096);
        let msg = rng.bytes(len);
        round_trip(c, &msg);
    }
    wait_until(SETTLE, "64 connections open", || engine.connection_count() == 64);

    // Every loop accepts on its own listener, on its own thread.
    let threads: HashSet<String> = lock(&seen.open_threads).iter().cloned().collect();
    assert!(threads.iter().all(|t| t.starts_with("nr-loop-")), "{threads:?}");
    assert!(
        threads.len() >= 2,
        "the kernel spread 64 connections over only {threads:?}"
    );
    assert_eq!(engine.loop_connection_counts().iter().sum::<usize>(), 64);

    // The 65th is over max_connections: accepted and closed at once.
    let mut extra = connect(engine.local_addr());
    expect_eof(&mut extra, SETTLE);
    wait_until(SETTLE, "the extra connection counted as rejected", || {
        engine.stats().rejected == 1
    });

    engine.stop();
    for c in &mut clients {
        expect_eof(c, SETTLE);
    }
    let closes = lock(&seen.closes).clone();
    assert_eq!(closes.len(), 64);
    assert!(closes.iter().all(|r| r == "Shutdown"), "{closes:?}");
    drop(clients);
    drop(extra);
    assert_eq!(open_fd_count(), fds_before, "descriptors left open after stop");
}
