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
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netreactor::{Action, Bytes, CloseReason, Conn, Engine, EngineBuilder, EngineHandle, EventHandler};
use util::*;

/// The two spellings of "never" a user is likely to write.
const NEVERS: [Duration; 2] = [Duration::MAX, Duration::from_secs(u64::MAX)];

/// A reply larger than the socket buffers take at once, so some of it is
/// still queued in the engine when the callback that wrote it returns.
const REPLY: usize = 2 * 1024 * 1024;

/// Larger than loopback socket buffers ever hold, so most of it stays
/// queued in the engine while the client does not read.
const BIG: usize = 16 * 1024 * 1024;

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
        let engine = start(Engine::builder().event_loops(1), ArcHandler(handler.clone()));
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
        let engine = start(
            Engine::builder().event_loops(1).ticker(true),
            ArcHandler(handler.clone()),
        );
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
    fn new(payload_len: usize) -> Self {
        Lines {
            payload: Bytes::from(Rng::new(payload_len as u64).bytes(payload_len)),
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

/// Serves every path of [`Lines`] with `builder`, then stops within a few
/// seconds with connections open; checks nothing closed early.
fn serves_every_path_and_stops(builder: EngineBuilder) {
    let handler = Arc::new(Lines::new(REPLY));
    let engine = start(builder.event_loops(1), ArcHandler(handler.clone()));
    let addr = engine.local_addr();
    let mut s = connect(addr);

    // A partial line stays in the buffer across a callback (frame timeout).
    s.write_all(b"hel").unwrap();
    wait_until(SETTLE, "the partial line was read", || engine.stats().bytes_in >= 3);
    s.write_all(b"lo\n").unwrap();
    assert_eq!(read_exact_within(&mut s, 6, IO_TIMEOUT), b"hello\n");

    // A reply that stays queued while the client is not reading (write idle).
    s.write_all(b"big\n").unwrap();
    let got = read_exact_within(&mut s, REPLY, IO_TIMEOUT);
    assert_eq!(first_difference(&got, &handler.payload), None);
    round_trip(&mut s, b"still here\n");

    // A close with a reply queued lingers until the reply is out.
    let mut closing = connect(addr);
    closing.write_all(b"big-bye\n").unwrap();
    let got = read_to_eof(&mut closing, IO_TIMEOUT);
    assert_eq!(got.len(), REPLY);
    assert_eq!(first_difference(&got, &handler.payload), None);
    let reason = handler.rec.wait_close_of(closing.local_addr().unwrap(), CloseReason::clone);
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
    let handler = Arc::new(Lines::new(BIG));
    let engine = start(
        Engine::builder()
            .event_loops(1)
            .close_linger(Duration::MAX)
            .shutdown_deadline(Duration::from_millis(200)),
        ArcHandler(handler.clone()),
    );
    let mut s = connect(engine.local_addr());
    s.write_all(b"big-bye\n").unwrap();
    // The client reads nothing: the reply stays queued, the linger is
    // unbounded, the connection waits.
    wait_until(SETTLE, "part of the reply was sent", || engine.stats().bytes_out > 0);
    assert_eq!(handler.rec.closes(), 0, "a never linger closed the connection");
    assert_eq!(engine.connection_count(), 1);

    stop_within(&engine, SETTLE);
    let reason = handler.rec.wait_close_of(s.local_addr().unwrap(), CloseReason::clone);
    assert_eq!(reason, CloseReason::LingerTimeout, "closed by the stop's deadline");
    // The reply was cut: the peer gets a prefix and a reset.
    let got = read_to_reset(&mut s, IO_TIMEOUT);
    assert!(got.len() < BIG);
    assert_eq!(first_difference(&got, &handler.payload[..got.len()]), None);
}

// ---------------------------------------------------------------------------
// stop_with_deadline with a huge deadline.

#[test]
fn stop_with_deadline_duration_max_returns_once_everything_flushed() {
    for never in NEVERS {
        let handler = Arc::new(Lines::new(REPLY));
        let engine = start(Engine::builder().event_loops(2), ArcHandler(handler.clone()));
        let addr = engine.local_addr();
        let mut idle: Vec<TcpStream> = (0..4).map(|_| connect(addr)).collect();
        for s in &mut idle {
            round_trip(s, b"hi\n");
        }
        // One client has a big reply queued when the stop comes, and reads
        // it all: the stop waits for it, with no deadline.
        let mut reader = connect(addr);
        let before = engine.stats().bytes_out;
        reader.write_all(b"big\n").unwrap();
        wait_until(SETTLE, "part of the reply was sent", || engine.stats().bytes_out > before);
        let stopper = engine.0.clone();
        let stopped = std::thread::spawn(move || stopper.stop_with_deadline(never));
        let got = read_to_eof(&mut reader, IO_TIMEOUT);
        assert_eq!(got.len(), REPLY, "the whole reply before the end, with {never:?}");
        assert_eq!(first_difference(&got, &handler.payload), None);
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

/// Lets a test keep an `Arc` to the handler it gave the engine.
struct ArcHandler<H>(Arc<H>);

impl<H: EventHandler> EventHandler for ArcHandler<H> {
    fn on_open(&self, conn: &mut Conn) -> Action {
        self.0.on_open(conn)
    }
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        self.0.on_traffic(conn)
    }
    fn on_timer(&self, conn: &mut Conn, token: u64) -> Action {
        self.0.on_timer(conn, token)
    }
    fn on_tick(&self, engine: &EngineHandle) -> (Duration, Action) {
        self.0.on_tick(engine)
    }
    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.0.on_close(conn, reason)
    }
}
