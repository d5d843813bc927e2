//! Timers on the loop's wheel: the frame timeout (slowloris guard), read and
//! write idle timeouts, user timers (`Conn::schedule` → `on_timer`) and the
//! ticker (`on_tick`).

mod util;

use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use netreactor::codec::LengthFieldCodec;
use netreactor::{Action, Bytes, CloseReason, Conn, Engine, EngineHandle, EventHandler, Frame, TimeoutKind};
use util::*;

/// Echo (plain and framed) that timestamps opens, closes and timers.
#[derive(Default)]
struct Timed {
    /// `on_traffic` answers "big" with this many bytes instead of echoing.
    big: usize,
    opened: Mutex<HashMap<SocketAddr, (Instant, String)>>,
    closed: Mutex<HashMap<SocketAddr, (Instant, String)>>,
    /// (peer, token, thread, when)
    timers: Mutex<Vec<(SocketAddr, u64, String, Instant)>>,
    /// Timers `on_open` schedules: (delay, token).
    schedule: Vec<(Duration, u64)>,
}

impl Timed {
    /// Waits for `on_close` of `peer`; returns (reason, when).
    fn wait_close(&self, peer: SocketAddr, within: Duration) -> (String, Instant) {
        let mut out = None;
        wait_until(within, &format!("on_close ran for {peer}"), || {
            out = lock(&self.closed).get(&peer).map(|(t, r)| (r.clone(), *t));
            out.is_some()
        });
        out.unwrap()
    }

    fn is_closed(&self, peer: SocketAddr) -> bool {
        lock(&self.closed).contains_key(&peer)
    }

    fn opened_at(&self, peer: SocketAddr) -> Instant {
        let mut at = None;
        wait_until(SETTLE, "on_open ran", || {
            at = lock(&self.opened).get(&peer).map(|o| o.0);
            at.is_some()
        });
        at.unwrap()
    }
}

impl EventHandler for Timed {
    fn on_open(&self, conn: &mut Conn) -> Action {
        let peer = conn.peer_addr().unwrap();
        lock(&self.opened).insert(peer, (Instant::now(), thread_name()));
        for &(delay, token) in &self.schedule {
            conn.schedule(delay, token);
        }
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        if self.big > 0 && conn.peek_all() == b"big" {
            conn.discard(3);
            conn.write_bytes(Bytes::from(vec![0xB1; self.big]));
        } else {
            conn.echo_all();
        }
        Action::Continue
    }

    fn on_frame(&self, conn: &mut Conn, frame: Frame<'_>) -> Action {
        conn.write_frame(&frame).map_or(Action::Close, |_| Action::Continue)
    }

    fn on_timer(&self, conn: &mut Conn, token: u64) -> Action {
        lock(&self.timers).push((conn.peer_addr().unwrap(), token, thread_name(), Instant::now()));
        Action::Continue
    }

    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        let peer = conn.peer_addr().unwrap();
        lock(&self.closed).insert(peer, (Instant::now(), format!("{reason:?}")));
    }
}

struct Shared(Arc<Timed>);

impl EventHandler for Shared {
    fn on_open(&self, conn: &mut Conn) -> Action {
        self.0.on_open(conn)
    }
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        self.0.on_traffic(conn)
    }
    fn on_frame(&self, conn: &mut Conn, frame: Frame<'_>) -> Action {
        self.0.on_frame(conn, frame)
    }
    fn on_timer(&self, conn: &mut Conn, token: u64) -> Action {
        self.0.on_timer(conn, token)
    }
    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.0.on_close(conn, reason)
    }
}

fn reason(kind: TimeoutKind) -> String {
    format!("{:?}", CloseReason::Timeout(kind))
}

/// A length-field frame (4-byte big-endian length, then the payload).
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

#[test]
fn slowloris_closed_by_frame_timeout_while_a_steady_client_is_not() {
    const FRAME_TIMEOUT: Duration = Duration::from_secs(2);
    let h = Arc::new(Timed::default());
    let engine = start(
        Engine::builder()
            .event_loops(1)
            .codec(LengthFieldCodec::new())
            .frame_timeout(FRAME_TIMEOUT),
        Shared(h.clone()),
    );
    let addr = engine.local_addr();

    // The slowloris trickles one frame, one byte every 500 ms, until cut off.
    let mut slow = connect(addr);
    let slow_peer = slow.local_addr().unwrap();
    let slow_frame = frame(&[0x51; 100]);
    let first_byte = Instant::now();
    let trickle = {
        let h = h.clone();
        thread::spawn(move || {
            for b in &slow_frame {
                if h.is_closed(slow_peer) || slow.write_all(std::slice::from_ref(b)).is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(500)); // shapes the load: the slowloris
            }
            panic!("the slowloris sent a whole frame without being closed");
        })
    };

    // Meanwhile a steady client sends a whole frame every 500 ms for 3 s.
    let mut steady = connect(addr);
    let steady_peer = steady.local_addr().unwrap();
    for i in 0..6u8 {
        let f = frame(&[i; 200]);
        steady.write_all(&f).unwrap();
        assert_eq!(read_exact_within(&mut steady, f.len(), IO_TIMEOUT), f);
        thread::sleep(Duration::from_millis(500)); // shapes the load: a steady client
    }

    let (why, at) = h.wait_close(slow_peer, Duration::from_secs(5));
    let took = at - first_byte;
    assert_eq!(why, reason(TimeoutKind::Frame));
    assert!(
        took >= FRAME_TIMEOUT && took < Duration::from_secs(4),
        "the slowloris was closed {took:?} after its first byte (frame timeout {FRAME_TIMEOUT:?})"
    );
    trickle.join().unwrap();
    assert!(!h.is_closed(steady_peer), "the steady client was closed");
    let f = frame(b"still open");
    steady.write_all(&f).unwrap();
    assert_eq!(read_exact_within(&mut steady, f.len(), IO_TIMEOUT), f);
    assert_eq!(engine.stats().closed_timeout, 1);
    engine.stop();
}

#[test]
fn read_idle_timeout_closes_an_idle_connection_and_not_an_active_one() {
    const IDLE: Duration = Duration::from_millis(400);
    let h = Arc::new(Timed::default());
    let engine = start(
        Engine::builder().event_loops(1).read_idle_timeout(IDLE),
        Shared(h.clone()),
    );
    let addr = engine.local_addr();
    let mut idle = connect(addr);
    let idle_peer = idle.local_addr().unwrap();
    let mut active = connect(addr);
    let active_peer = active.local_addr().unwrap();

    // The active one talks every 100 ms for a second.
    for i in 0..10 {
        round_trip(&mut active, format!("tick {i}").as_bytes());
        thread::sleep(Duration::from_millis(100)); // shapes the load
    }
    let (why, at) = h.wait_close(idle_peer, SETTLE);
    assert_eq!(why, reason(TimeoutKind::ReadIdle));
    let after = at - h.opened_at(idle_peer);
    assert!(
        after >= IDLE && after < IDLE * 3,
        "closed {after:?} after opening, read idle timeout {IDLE:?}"
    );
    expect_eof(&mut idle, IO_TIMEOUT);
    assert!(!h.is_closed(active_peer), "the active connection was closed");
    round_trip(&mut active, b"still open");
    engine.stop();
}

#[test]
fn write_idle_timeout_closes_a_connection_whose_peer_never_reads() {
    const IDLE: Duration = Duration::from_millis(300);
    const BIG: usize = 16 * 1024 * 1024;
    let h = Arc::new(Timed {
        big: BIG,
        ..Timed::default()
    });
    let engine = start(
        Engine::builder().event_loops(1).write_idle_timeout(IDLE),
        Shared(h.clone()),
    );
    let addr = engine.local_addr();

    // A reader takes its 16 MiB and is not closed.
    let mut reader = connect(addr);
    let reader_peer = reader.local_addr().unwrap();
    reader.write_all(b"big").unwrap();
    let got = read_exact_within(&mut reader, BIG, Duration::from_secs(10));
    assert!(got.iter().all(|&b| b == 0xB1));

    // A peer that asks for 16 MiB and never reads.
    let mut stuck = connect(addr);
    let stuck_peer = stuck.local_addr().unwrap();
    let asked = Instant::now();
    stuck.write_all(b"big").unwrap();
    let (why, at) = h.wait_close(stuck_peer, SETTLE);
    assert_eq!(why, reason(TimeoutKind::WriteIdle));
    let took = at - asked;
    assert!(
        took >= IDLE && took < Duration::from_secs(2),
        "closed {took:?} after the request, write idle timeout {IDLE:?}"
    );
    assert!(!h.is_closed(reader_peer), "the reading client was closed");
    round_trip(&mut reader, b"still open");
    drop(stuck);
    engine.stop();
}

#[test]
fn schedule_calls_on_timer_with_its_token_after_the_delay_on_the_connection_loop() {
    let h = Arc::new(Timed {
        schedule: vec![(Duration::from_millis(150), 42), (Duration::from_millis(50), 7)],
        ..Timed::default()
    });
    let engine = start(Engine::builder().event_loops(2), Shared(h.clone()));
    let addr = engine.local_addr();
    let s = connect(addr);
    let peer = s.local_addr().unwrap();
    // A second connection that leaves at once: its timers must not fire.
    let gone = connect(addr);
    let gone_peer = gone.local_addr().unwrap();
    finish(gone);
    let (_, gone_closed) = h.wait_close(gone_peer, SETTLE);

    wait_until(SETTLE, "both timers of the open connection fired", || {
        lock(&h.timers).iter().filter(|t| t.0 == peer).count() == 2
    });
    let (opened, open_thread) = lock(&h.opened).get(&peer).cloned().unwrap();
    let timers = lock(&h.timers).clone();
    let mine: Vec<_> = timers.iter().filter(|t| t.0 == peer).collect();
    assert_eq!(
        mine.iter().map(|t| t.1).collect::<Vec<_>>(),
        [7, 42],
        "tokens, in deadline order"
    );
    for (delay, t) in [
        (Duration::from_millis(50), mine[0]),
        (Duration::from_millis(150), mine[1]),
    ] {
        let after = t.3 - opened;
        assert!(
            after >= delay,
            "token {} fired {after:?} after open, delay {delay:?}",
            t.1
        );
        assert!(
            after < delay + Duration::from_secs(1),
            "token {} fired late: {after:?}",
            t.1
        );
        assert_eq!(t.2, open_thread, "on_timer runs on the connection's loop");
    }
    assert!(open_thread.starts_with("nr-loop-"));
    // The closed connection's timers never ran after its close (usually
    // not at all: it closes before the first is due).
    assert!(
        timers.iter().all(|t| t.0 != gone_peer || t.3 < gone_closed),
        "on_timer ran for a closed connection: {timers:?}"
    );
    drop(s);
    engine.stop();
}

/// Counts ticks; the fifth asks for a shutdown.
#[derive(Default)]
struct Ticker {
    ticks: Mutex<Vec<(String, Instant)>>,
    shutdowns: AtomicUsize,
}

const TICK_EVERY: Duration = Duration::from_millis(20);
const TICKS: usize = 5;

impl EventHandler for Ticker {
    fn on_tick(&self, engine: &EngineHandle) -> (Duration, Action) {
        assert!(!engine.is_stopped());
        let mut ticks = lock(&self.ticks);
        ticks.push((thread_name(), Instant::now()));
        if ticks.len() == TICKS {
            // A long delay: no further tick can slip in before the stop.
            (Duration::from_secs(60), Action::Shutdown)
        } else {
            (TICK_EVERY, Action::Continue)
        }
    }

    fn on_shutdown(&self, _engine: &EngineHandle) {
        self.shutdowns.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn on_tick_runs_on_loop_zero_with_the_returned_delay_and_shutdown_stops_the_engine() {
    let h = Arc::new(Ticker::default());
    struct Tick(Arc<Ticker>);
    impl EventHandler for Tick {
        fn on_tick(&self, e: &EngineHandle) -> (Duration, Action) {
            self.0.on_tick(e)
        }
        fn on_shutdown(&self, e: &EngineHandle) {
            self.0.on_shutdown(e)
        }
    }
    let started = Instant::now();
    let engine = start(Engine::builder().event_loops(3).ticker(true), Tick(h.clone()));
    let waiter = {
        let e = engine.0.clone();
        thread::spawn(move || e.wait())
    };
    wait_until(SETTLE, "on_tick's Shutdown stopped the engine", || engine.is_stopped());
    waiter.join().unwrap().expect("a clean stop");

    let ticks = lock(&h.ticks).clone();
    assert_eq!(ticks.len(), TICKS, "ticks before the stop");
    assert!(ticks.iter().all(|(t, _)| t == "nr-loop-0"), "tick threads: {ticks:?}");
    assert!(
        ticks[0].1 - started < Duration::from_secs(1),
        "the first tick comes right after start"
    );
    for w in ticks.windows(2) {
        let gap = w[1].1 - w[0].1;
        assert!(
            gap >= TICK_EVERY - Duration::from_millis(2) && gap < TICK_EVERY + Duration::from_secs(1),
            "ticks {gap:?} apart, delay {TICK_EVERY:?}"
        );
    }
    assert_eq!(h.shutdowns.load(Ordering::SeqCst), 1);
    assert!(TcpStream::connect(engine.local_addr()).is_err(), "still listening");
}
