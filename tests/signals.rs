//! SIGTERM/SIGINT stop an engine built with `handle_signals(true)` gracefully,
//! even though this test process has other threads that do not block them.
//! Signals are process-wide, so everything runs in one test, in order.

mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netreactor::{Action, CloseReason, Conn, Engine, EngineHandle, EventHandler};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use util::{connect, expect_eof, round_trip, wait_until, SETTLE};

#[derive(Default)]
struct Counts {
    shutdowns: AtomicUsize,
    shutdown_closes: AtomicUsize,
}

struct Echo(Arc<Counts>);

impl EventHandler for Echo {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }

    fn on_close(&self, _conn: &mut Conn, reason: CloseReason) {
        if matches!(reason, CloseReason::Shutdown) {
            self.0.shutdown_closes.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn on_shutdown(&self, _engine: &EngineHandle) {
        self.0.shutdowns.fetch_add(1, Ordering::SeqCst);
    }
}

fn start(counts: &Arc<Counts>) -> EngineHandle {
    Engine::builder()
        .event_loops(2)
        .handle_signals(true)
        .start(Echo(counts.clone()), "tcp://127.0.0.1:0")
        .expect("start with handle_signals")
}

#[test]
fn sigterm_and_sigint_stop_the_engine_gracefully() {
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        let counts = Arc::new(Counts::default());
        let engine = start(&counts);

        // A second engine cannot take the signals while this one has them.
        let second = Engine::builder()
            .event_loops(1)
            .handle_signals(true)
            .start(Echo(counts.clone()), "127.0.0.1:0");
        assert!(second.is_err(), "two engines handling signals at once");

        let mut clients: Vec<_> = (0..3).map(|_| connect(engine.local_addr())).collect();
        for c in &mut clients {
            round_trip(c, b"before the signal");
        }

        // Process-directed, as `kill -TERM <pid>` sends it.
        kill(Pid::this(), signal).unwrap();
        let started = Instant::now();
        wait_until(SETTLE, "the engine stopped after the signal", || engine.is_stopped());
        assert!(started.elapsed() < Duration::from_secs(3));
        for c in &mut clients {
            expect_eof(c, SETTLE);
        }
        assert_eq!(counts.shutdowns.load(Ordering::SeqCst), 1, "{signal}: on_shutdown once");
        assert_eq!(
            counts.shutdown_closes.load(Ordering::SeqCst),
            3,
            "{signal}: every connection closed by shutdown"
        );
        engine.wait().expect("a clean stop");
    }
    // The handlers were handed back: a later engine may take them again.
    let counts = Arc::new(Counts::default());
    let engine = start(&counts);
    engine.stop();
}
