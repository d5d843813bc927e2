//! `EngineHandle::stats()` / `loop_stats()` after a known workload: every
//! counter matches what the clients did, exactly.

mod util;

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use netreactor::codec::LengthFieldCodec;
use netreactor::{Action, CloseReason, Conn, Engine, EventHandler, Frame, Stats};
use util::*;

/// Echo; a message that is exactly "quit" is echoed and then closes the
/// connection from our side.
#[derive(Default)]
struct EchoQuit {
    rec: Arc<Recorder>,
}

impl EventHandler for EchoQuit {
    fn on_open(&self, conn: &mut Conn) -> Action {
        self.rec.open(conn);
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        let quit = conn.peek_all() == b"quit";
        conn.echo_all();
        if quit {
            Action::Close
        } else {
            Action::Continue
        }
    }

    fn on_frame(&self, conn: &mut Conn, frame: Frame<'_>) -> Action {
        conn.write_frame(&frame).map_or(Action::Close, |_| Action::Continue)
    }

    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.rec.close(conn, reason);
    }
}

/// How a client of the workload ends.
#[derive(Debug, Clone, Copy)]
enum End {
    /// shutdown(Write), then EOF from the server: `PeerEof`.
    Fin,
    /// Sends "quit": the server closes, `Local`.
    Quit,
    /// Closes with SO_LINGER 0: a reset, `PeerReset`.
    Reset,
}

/// Sum of the counters over loops (what `stats()` should report, but for
/// `rejected`, which is engine-wide).
fn sum(loops: &[Stats]) -> Stats {
    loops.iter().cloned().fold(Stats::default(), |a, b| a + b)
}

#[test]
fn stats_after_a_known_workload_match_exactly() {
    const ENDS: [End; 12] = [
        End::Fin,
        End::Quit,
        End::Fin,
        End::Reset,
        End::Fin,
        End::Fin,
        End::Quit,
        End::Fin,
        End::Reset,
        End::Fin,
        End::Fin,
        End::Fin,
    ];
    let rec = Arc::new(Recorder::default());
    let engine = start(Engine::builder().event_loops(2), EchoQuit { rec: rec.clone() });
    let addr = engine.local_addr();
    assert_eq!(engine.stats(), Stats::default(), "a fresh engine counts nothing");

    let mut echoed = 0u64;
    let mut rng = Rng::new(0x57A7);
    for (i, end) in ENDS.iter().enumerate() {
        let mut s = connect(addr);
        for _ in 0..10 {
            let n = rng.range(1, 20_000);
            let msg = rng.bytes(n);
            round_trip(&mut s, &msg);
            echoed += msg.len() as u64;
        }
        match end {
            End::Fin => finish(s),
            End::Quit => {
                s.write_all(b"quit").unwrap();
                assert_eq!(read_to_eof(&mut s, IO_TIMEOUT), b"quit");
                echoed += 4;
            }
            End::Reset => {
                socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO)).unwrap();
                drop::<TcpStream>(s);
            }
        }
        wait_until(SETTLE, &format!("client {i} ({end:?}) is closed"), || {
            rec.closes() == i + 1
        });
    }
    // The count drops right after on_close returns.
    wait_until(SETTLE, "no connection is counted open", || {
        engine.connection_count() == 0
    });

    let stats = engine.stats();
    let mut expected = Stats::default();
    expected.accepted = 12;
    expected.closed_peer_eof = 8;
    expected.closed_local = 2;
    expected.closed_peer_reset = 2;
    expected.bytes_in = echoed;
    expected.bytes_out = echoed;
    // Wakeups and tasks depend on timing; they are checked separately.
    expected.wakeups = stats.wakeups;
    expected.tasks_run = stats.tasks_run;
    assert_eq!(stats, expected);
    assert_eq!(stats.open, 0);
    assert_eq!(stats.closed(), 12);
    // Each connection was handed to its loop as one registration task.
    assert_eq!(stats.tasks_run, 12);
    assert!(stats.wakeups <= 12, "{} wakeups for 12 registrations", stats.wakeups);

    // Per loop: round robin gave each loop half, and the loops add up.
    let loops = engine.loop_stats();
    assert_eq!(loops.len(), 2);
    assert_eq!(loops.iter().map(|l| l.accepted).collect::<Vec<_>>(), [6, 6]);
    assert_eq!(sum(&loops), stats);
    engine.stop();
}

#[test]
fn stats_count_frames_codec_errors_and_open_connections() {
    let rec = Arc::new(Recorder::default());
    let codec = LengthFieldCodec::builder().max_frame_length(1024).build().unwrap();
    let engine = start(
        Engine::builder().event_loops(1).codec(codec),
        EchoQuit { rec: rec.clone() },
    );
    let addr = engine.local_addr();

    let mut keep = connect(addr);
    let mut sent = 0u64;
    let mut rng = Rng::new(9);
    for _ in 0..10 {
        let n = rng.range(0, 1020);
        let payload = rng.bytes(n);
        let mut f = (payload.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(&payload);
        keep.write_all(&f).unwrap();
        assert_eq!(read_exact_within(&mut keep, f.len(), IO_TIMEOUT), f);
        sent += f.len() as u64;
    }
    let mut bad = connect(addr);
    bad.write_all(&5000u32.to_be_bytes()).unwrap();
    expect_eof(&mut bad, IO_TIMEOUT);
    wait_until(SETTLE, "the bad connection closed", || {
        rec.closes() == 1 && engine.connection_count() == 1
    });

    let stats = engine.stats();
    assert_eq!(stats.frames_in, 10);
    assert_eq!(stats.closed_codec_error, 1);
    assert_eq!(stats.closed(), 1);
    assert_eq!(stats.accepted, 2);
    assert_eq!(stats.open, 1, "one connection is still open");
    assert_eq!(stats.bytes_in, sent + 4);
    assert_eq!(stats.bytes_out, sent);

    finish(keep);
    wait_until(SETTLE, "both closed", || engine.stats().open == 0);
    let stats = engine.stats();
    assert_eq!((stats.closed(), stats.closed_peer_eof), (2, 1));
    engine.stop();
}
