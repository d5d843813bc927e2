//! `Conn::schedule` returns a `TimerId` and `Conn::cancel_timer` removes the
//! timer (regression: timers could not be cancelled, and 100,000 dead
//! one-hour timers cost 1.7% of a core while the server was idle).

mod util;

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netreactor::{Action, Conn, Engine, EventHandler, TimerId};
use util::*;

const TIMERS: u64 = 100_000;

/// The tests find their loop by its thread name ("nr-loop-0"), so they
/// must not run at the same time as each other.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// "arm": schedules TIMERS one-hour timers (and one 30 ms timer, token 1);
/// "cancel": cancels the hour timers; "short": schedules a 30 ms timer
/// (token 2) and cancels it at once. Counts every `on_timer` by token.
#[derive(Default)]
struct Timers {
    ids: Mutex<Vec<TimerId>>,
    fired_hour: AtomicU64,
    fired_short: AtomicU64,
    fired_cancelled: AtomicU64,
    cancel_results: Mutex<Vec<bool>>,
}

struct Handler(Arc<Timers>);

impl EventHandler for Handler {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        let cmd = conn.take_inbound();
        match &cmd[..] {
            b"arm" => {
                let mut ids = self.0.ids.lock().unwrap();
                for i in 0..TIMERS {
                    ids.push(conn.schedule(Duration::from_secs(3600) + Duration::from_millis(i % 60_000), 0));
                }
                conn.schedule(Duration::from_millis(30), 1);
            }
            b"cancel" => {
                let mut results = self.0.cancel_results.lock().unwrap();
                for id in self.0.ids.lock().unwrap().drain(..) {
                    results.push(conn.cancel_timer(id));
                }
            }
            b"short" => {
                let id = conn.schedule(Duration::from_millis(30), 2);
                let first = conn.cancel_timer(id);
                let second = conn.cancel_timer(id);
                self.0.cancel_results.lock().unwrap().extend([first, second]);
            }
            _ => {}
        }
        conn.write(b"ok");
        Action::Continue
    }

    fn on_timer(&self, _conn: &mut Conn, token: u64) -> Action {
        match token {
            0 => self.0.fired_hour.fetch_add(1, Ordering::SeqCst),
            1 => self.0.fired_short.fetch_add(1, Ordering::SeqCst),
            _ => self.0.fired_cancelled.fetch_add(1, Ordering::SeqCst),
        };
        Action::Continue
    }
}

/// How often the thread named `name` has been scheduled in, and its CPU
/// time, from /proc/self/task/*/schedstat (nanoseconds, exact).
fn thread_runs(name: &str) -> (u64, Duration) {
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() == name {
            let stat = std::fs::read_to_string(dir.join("schedstat")).unwrap();
            let fields: Vec<u64> = stat.split_whitespace().map(|f| f.parse().unwrap()).collect();
            return (fields[2], Duration::from_nanos(fields[0]));
        }
    }
    panic!("no thread named {name}");
}

/// Wake-ups and CPU time of loop 0 over 1.5 s in which nothing happens.
fn idle_cost() -> (u64, Duration) {
    let (runs, cpu) = thread_runs("nr-loop-0");
    let idle = Instant::now();
    while idle.elapsed() < Duration::from_millis(1500) {
        std::thread::park_timeout(Duration::from_millis(1500) - idle.elapsed());
    }
    let (runs_after, cpu_after) = thread_runs("nr-loop-0");
    (runs_after - runs, cpu_after - cpu)
}

fn command(s: &mut std::net::TcpStream, cmd: &[u8]) {
    s.write_all(cmd).unwrap();
    assert_eq!(read_exact_within(s, 2, IO_TIMEOUT), b"ok");
}

#[test]
fn cancelled_timers_never_fire_and_cost_an_idle_loop_nothing() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let h = Arc::new(Timers::default());
    let engine = start(Engine::builder().event_loops(1), Handler(h.clone()));
    let mut s = connect(engine.local_addr());

    command(&mut s, b"arm");
    command(&mut s, b"cancel");
    {
        let results = h.cancel_results.lock().unwrap();
        assert_eq!(results.len() as u64, TIMERS);
        assert!(results.iter().all(|&ok| ok), "every armed timer cancels once");
    }
    wait_until(SETTLE, "the uncancelled 30 ms timer fires", || {
        h.fired_short.load(Ordering::SeqCst) == 1
    });

    // The loop removes cancelled timers after the callback's reply is sent:
    // one more round trip and it has.
    command(&mut s, b"noop");
    // Idle with 100,000 cancelled one-hour timers: the loop sleeps. (With
    // them live, it woke every millisecond to look at a slot.)
    let (wakeups, cpu) = idle_cost();
    assert!(
        wakeups <= 3,
        "the idle loop woke {wakeups} times in 1.5 s ({cpu:?} of CPU)"
    );

    // Cancelled at once, in the callback that scheduled it: it never fires,
    // and a second cancel says so.
    command(&mut s, b"short");
    assert_eq!(h.cancel_results.lock().unwrap()[TIMERS as usize..], [true, false]);
    let waited = Instant::now();
    // Round trips until well after the 30 ms would have passed.
    while waited.elapsed() < Duration::from_millis(100) {
        command(&mut s, b"noop");
    }
    assert_eq!(h.fired_cancelled.load(Ordering::SeqCst), 0);
    assert_eq!(h.fired_hour.load(Ordering::SeqCst), 0);
    engine.stop();
}

#[test]
fn a_closing_connection_takes_its_timers_with_it() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let h = Arc::new(Timers::default());
    let engine = start(Engine::builder().event_loops(1), Handler(h.clone()));
    let mut s = connect(engine.local_addr());
    command(&mut s, b"arm");
    drop(s); // the connection closes with 100,001 timers armed
    wait_until(SETTLE, "the connection closed", || engine.connection_count() == 0);
    let (wakeups, cpu) = idle_cost();
    assert!(
        wakeups <= 3,
        "the idle loop woke {wakeups} times in 1.5 s ({cpu:?} of CPU)"
    );
    assert_eq!(
        h.fired_short.load(Ordering::SeqCst),
        0,
        "a closed connection's timer fired"
    );
    engine.stop();
}
