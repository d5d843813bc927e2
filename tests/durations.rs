//! `Duration::MAX` (or any huge duration) means "never" wherever the engine
//! takes a duration: a timer, the ticker's next delay, every builder timeout,
//! the close linger, the shutdown deadline and `stop_with_deadline`. None of
//! them may panic (`Instant + Duration::MAX` overflows) or kill a loop.
//!
//! Before issue 14's hardening each of these computed `now + duration`
//! unchecked: the loop thread (or the caller of `stop`) panicked.

mod util;

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use netreactor::{Action, Bytes, CloseReason, Conn, Engine, EngineBuilder, EngineHandle, EventHandler};
use util::*;

/// The two spellings of "never" a user is likely to write.
const NEVERS: [Duration; 2] = [Duration::MAX, Duration::from_secs(u64::MAX)];

/// A reply far larger than what the socket buffers take while the client
/// is not reading (`tcp_wmem` tops out at 4 MiB), so most of it is still
/// queued in the engine after the callback that wrote it has returned and
/// the engine's first flush: the timeouts that watch queued output are armed.
const BIG: usize = 16 * 1024 * 1024;

/// The [`BIG`] reply, made once per test process.
fn payload() -> Bytes {
    static PAYLOAD: OnceLock<Bytes> = OnceLock::new();
    PAYLOAD.get_or_init(|| Bytes::from(Rng::new(14).bytes(BIG))).clone()
}

/// Asserts `got` is exactly `want` (compared fast; located when not).
fn assert_same(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        panic!(
            "{what}: {} bytes, expected {}; first difference at {:?}",
            got.len(),
            want.len(),
            first_difference(got, want)
        );
    }
}

/// Runs `f` on another thread and fails the test if it does not finish
/// within `limit` (a hang in the engine fails instead of hanging the test).
fn within<T: Send + 'static>(limit: Duration, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("{what} did not finish within {limit:?}"))
}

/// Stops the engine (with its builder's deadline), failing the test if the
/// stop hangs.
fn stop_within(engine: &EngineHandle, limit: Duration) {
    let e = engine.clone();
    within(limit, "engine.stop()", move || e.stop());
    assert!(engine.is_stopped());
}

// ---------------------------------------------------------------------------
// Conn::schedule with a huge delay.

/// On open: a timer `never` away (token 1) and one 20 ms away (token 2).
/// Echoes; records the tokens that fire.
struct Timers {
    never: Duration,
    fired: Mutex<Vec<u64>>,
}

impl EventHandler for Timers {
    fn on_open(&self, conn: &mut Conn) -> Action {
        conn.schedule(self.never, 1);
        conn.schedule(Duration::from_millis(20), 2);
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }

    fn on_timer(&self, conn: &mut Conn, token: u64) -> Action {
        lock(&self.fired).push(token);
        if token == 2 {
            // From a timer callback too.
            conn.schedule(self.never, 3);
        }
        Action::Continue
    }
}

#[test]
fn schedule_with_duration_max_never_fires_and_the_connection_is_still_served() {
    for never in NEVERS {
        let handler = Arc::new(Timers {
            never,
            fired: Mutex::new(Vec::new()),
        });
        let engine = start(Engine::builder().event_loops(1), handler.clone());
        let mut s = connect(engine.local_addr());
        round_trip(&mut s, b"hello");
        wait_until(SETTLE, "the 20 ms timer fired", || lock(&handler.fired).contains(&2));
        for i in 0..10 {
            round_trip(&mut s, format!("after the timers {i}").as_bytes());
        }
        let mut second = connect(engine.local_addr());
        round_trip(&mut second, b"a new connection on the same loop");
        assert_eq!(*lock(&handler.fired), [2], "with {never:?}");
        stop_within(&engine, SETTLE);
        expect_eof(&mut s, IO_TIMEOUT);
    }
}

// ---------------------------------------------------------------------------
// on_tick asking for a huge delay.

/// Counts ticks, asks for the next one `never` from now; echoes.
struct TickOnce {
    never: Duration,
    ticks: AtomicUsize,
}

impl EventHandler for TickOnce {
    fn on_tick(&self, _engine: &EngineHandle) -> (Duration, Action) {
        self.ticks.fetch_add(1, Ordering::SeqCst);
        (self.never, Action::Continue)
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }
}

#[test]
fn on_tick_returning_duration_max_is_never_called_again_and_the_engine_serves() {
    for never in NEVERS {
        let handler = Arc::new(TickOnce {
            never,
            ticks: AtomicUsize::new(0),
        });
        // One loop: the ticker runs on loop 0, the loop that serves the client.
        let engine = start(Engine::builder().event_loops(1).ticker(true), handler.clone());
        wait_until(SETTLE, "the first tick", || handler.ticks.load(Ordering::SeqCst) == 1);
        let mut s = connect(engine.local_addr());
        for i in 0..10 {
            round_trip(&mut s, format!("after the tick {i}").as_bytes());
        }
        assert_eq!(handler.ticks.load(Ordering::SeqCst), 1, "with {never:?}");
        stop_within(&engine, SETTLE);
        expect_eof(&mut s, IO_TIMEOUT);
    }
}

// ---------------------------------------------------------------------------
// Builder timeouts, linger and shutdown deadline set to a huge duration.

/// Line protocol that exercises every timeout's path: a line is echoed; a
/// partial line waits (frame timeout armed); "big" answers the payload
/// (write-idle timeout armed while they are queued); "big-bye" answers them
/// and closes (close linger armed while they are queued).
struct Lines {
    payload: Bytes,
    rec: Arc<Recorder>,
}

impl Lines {
    fn new() -> Self {
        Lines {
            payload: payload(),
            rec: Arc::new(Recorder::default()),
        }
    }
}

impl EventHandler for Lines {
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
                _ => conn.write_bytes(line),
            }
        }
        Action::Continue
    }

    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.rec.close(conn, reason);
    }
}

/// Sends `request` and waits until the engine has flushed part of its
/// answer (without reading it).
fn request_then_wait_for_output(engine: &EngineHandle, s: &mut TcpStream, request: &[u8]) {
    let before = engine.stats().bytes_out;
    s.write_all(request).unwrap();
    wait_until(SETTLE, "the engine started sending the reply", || {
        engine.stats().bytes_out > before
    });
}

/// Serves every path of [`Lines`] with `builder`, then stops within a few
/// seconds with connections open; checks nothing closed early.
fn serves_every_path_and_stops(builder: EngineBuilder) {
    let handler = Arc::new(Lines::new());
    let engine = start(builder.event_loops(1), handler.clone());
    let addr = engine.local_addr();
    let mut s = connect(addr);

    // A partial line stays in the buffer across a callback (frame timeout).
    s.write_all(b"hel").unwrap();
    wait_until(SETTLE, "the partial line was read", || engine.stats().bytes_in >= 3);
    s.write_all(b"lo\n").unwrap();
    assert_eq!(read_exact_within(&mut s, 6, IO_TIMEOUT), b"hello\n");

    // A reply that stays queued while the client is not reading (write
    // idle): the client reads only once the engine has flushed once.
    request_then_wait_for_output(&engine, &mut s, b"big\n");
    let got = read_exact_within(&mut s, BIG, IO_TIMEOUT);
    assert_same(&got, &handler.payload, "the big reply");
    round_trip(&mut s, b"still here\n");

    // A close with a reply queued lingers until the reply is out.
    let mut closing = connect(addr);
    request_then_wait_for_output(&engine, &mut closing, b"big-bye\n");
    let got = read_to_eof(&mut closing, IO_TIMEOUT);
    assert_same(&got, &handler.payload, "the big reply before the close");
    let reason = handler
        .rec
        .wait_close_of(closing.local_addr().unwrap(), CloseReason::clone);
    assert_eq!(reason, CloseReason::Local);

    round_trip(&mut s, b"last\n");
    assert_eq!(handler.rec.closes(), 1, "nothing else closed");
    stop_within(&engine, SETTLE);
    expect_eof(&mut s, IO_TIMEOUT);
    let reason = handler.rec.wait_close_of(s.local_addr().unwrap(), CloseReason::clone);
    assert_eq!(reason, CloseReason::Shutdown);
}

#[test]
fn read_idle_timeout_of_duration_max_means_never() {
    for never in NEVERS {
        serves_every_path_and_stops(Engine::builder().read_idle_timeout(never));
    }
}

#[test]
fn write_idle_timeout_of_duration_max_means_never() {
    for never in NEVERS {
        serves_every_path_and_stops(Engine::builder().write_idle_timeout(never));
    }
}

#[test]
fn frame_timeout_of_duration_max_means_never() {
    for never in NEVERS {
        serves_every_path_and_stops(Engine::builder().frame_timeout(never));
    }
}

#[test]
fn close_linger_of_duration_max_means_never() {
    for never in NEVERS {
        serves_every_path_and_stops(Engine::builder().close_linger(never));
    }
}

#[test]
fn shutdown_deadline_of_duration_max_means_never() {
    for never in NEVERS {
        serves_every_path_and_stops(Engine::builder().shutdown_deadline(never));
    }
}

#[test]
fn all_timeouts_of_duration_max_at_once_mean_never() {
    serves_every_path_and_stops(
        Engine::builder()
            .read_idle_timeout(Duration::MAX)
            .write_idle_timeout(Duration::MAX)
            .frame_timeout(Duration::MAX)
            .close_linger(Duration::MAX)
            .shutdown_deadline(Duration::MAX),
    );
}

/// A linger of "never" does not outlive a stop: the stop's own deadline
/// closes a connection whose peer never reads.
#[test]
fn a_never_linger_still_ends_at_the_stop_deadline() {
    let handler = Arc::new(Lines::new());
    let engine = start(
        Engine::builder()
            .event_loops(1)
            .close_linger(Duration::MAX)
            .shutdown_deadline(Duration::from_millis(200)),
        handler.clone(),
    );
    let mut s = connect(engine.local_addr());
    // The client reads nothing: the reply stays queued, the linger is
    // unbounded, the connection waits.
    request_then_wait_for_output(&engine, &mut s, b"big-bye\n");
    assert_eq!(handler.rec.closes(), 0, "a never linger closed the connection");
    assert_eq!(engine.connection_count(), 1);

    stop_within(&engine, SETTLE);
    let reason = handler.rec.wait_close_of(s.local_addr().unwrap(), CloseReason::clone);
    assert_eq!(reason, CloseReason::LingerTimeout, "closed by the stop's deadline");
    // The reply was cut: the peer gets a prefix and a reset.
    let got = read_to_reset(&mut s, IO_TIMEOUT);
    assert!(got.len() < BIG);
    assert_same(&got, &handler.payload[..got.len()], "what came before the reset");
}

// ---------------------------------------------------------------------------
// stop_with_deadline with a huge deadline.

#[test]
fn stop_with_deadline_duration_max_returns_once_everything_flushed() {
    for never in NEVERS {
        let handler = Arc::new(Lines::new());
        let engine = start(Engine::builder().event_loops(2), handler.clone());
        let addr = engine.local_addr();
        let mut idle: Vec<TcpStream> = (0..4).map(|_| connect(addr)).collect();
        for s in &mut idle {
            round_trip(s, b"hi\n");
        }
        // One client has a big reply queued when the stop comes, and reads
        // it all: the stop waits for it, with no deadline.
        let mut reader = connect(addr);
        request_then_wait_for_output(&engine, &mut reader, b"big\n");
        let stopper = engine.0.clone();
        let stopped = std::thread::spawn(move || stopper.stop_with_deadline(never));
        let got = read_to_eof(&mut reader, IO_TIMEOUT);
        assert_same(&got, &handler.payload, "the whole reply before the end");
        within(SETTLE, "stop_with_deadline", move || stopped.join().unwrap());
        assert!(engine.is_stopped());
        for s in &mut idle {
            expect_eof(s, IO_TIMEOUT);
        }
        assert_eq!(handler.rec.closes(), 5);
        assert!(lock(&handler.rec.closed)
            .iter()
            .all(|c| c.reason == CloseReason::Shutdown));
    }
}
