//! Writing to a connection from other threads through its `ConnHandle`.

mod util;

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use netreactor::options::OUTBOUND_COPY_THRESHOLD_BYTES;
use netreactor::{Action, Bytes, CloseReason, Conn, ConnHandle, Engine, Error, Service};
use util::*;

/// Hands each connection's handle out through a channel; echoes traffic;
/// answers a wake (an `on_traffic` with nothing new) with "woken N\n".
struct HandleOut {
    tx: Mutex<Sender<ConnHandle>>,
    rec: Arc<Recorder>,
}

impl Service for HandleOut {
    type State = u64; // times woken

    fn on_open(&self, conn: &mut Conn, _: &mut u64) -> Action {
        self.rec.open(conn);
        let _ = lock(&self.tx).send(conn.handle());
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn, n: &mut u64) -> Action {
        if conn.inbound_len() == 0 {
            *n += 1;
            let msg = format!("woken {n}\n");
            conn.write(msg.as_bytes());
        } else {
            conn.echo_all();
        }
        Action::Continue
    }

    fn on_close(&self, conn: &mut Conn, _: &mut u64, reason: CloseReason) {
        self.rec.close(conn, reason);
    }
}

fn engine_with_handles(loops: usize) -> (util::Engine, Receiver<ConnHandle>, Arc<Recorder>) {
    let (tx, rx) = mpsc::channel();
    let rec = Arc::new(Recorder::default());
    let engine = start(
        Engine::builder().event_loops(loops),
        HandleOut {
            tx: Mutex::new(tx),
            rec: rec.clone(),
        },
    );
    (engine, rx, rec)
}

fn next_handle(rx: &Receiver<ConnHandle>) -> ConnHandle {
    rx.recv_timeout(SETTLE)
        .expect("on_open sent no handle within the deadline")
}

fn assert_closed_error(r: netreactor::Result<()>, what: &str) {
    assert!(
        matches!(r, Err(Error::ConnectionClosed)),
        "{what} on a closed connection returned {r:?}"
    );
}

const WRITERS: usize = 8;
const PER_WRITER: usize = 1000;

/// Message `seq` of writer `t`: "T{t}:{seq:06}" plus, now and then, a long
/// tail (above the small-write copy threshold, so it is queued by reference
/// between copied ones), then '\n'.
fn message(t: usize, seq: usize) -> String {
    let tail = if seq.is_multiple_of(7) {
        OUTBOUND_COPY_THRESHOLD_BYTES + 44 + t * 10
    } else {
        0
    };
    format!("T{t}:{seq:06}:{}\n", "x".repeat(tail))
}

#[test]
fn concurrent_async_writes_arrive_whole_and_in_order_per_thread() {
    let (engine, rx, rec) = engine_with_handles(2);
    let mut s = connect(engine.local_addr());
    let h = next_handle(&rx);
    assert!(h.is_alive());

    let total: usize = (0..WRITERS)
        .flat_map(|t| (0..PER_WRITER).map(move |seq| message(t, seq).len()))
        .sum();
    let go = Arc::new(Barrier::new(WRITERS));
    let writers: Vec<_> = (0..WRITERS)
        .map(|t| {
            let h = h.clone();
            let go = go.clone();
            thread::spawn(move || {
                go.wait();
                for seq in 0..PER_WRITER {
                    let m = message(t, seq);
                    if t % 2 == 0 {
                        h.async_write(Bytes::from(m)).unwrap();
                    } else {
                        // Two pieces, which must go out back to back.
                        let (a, b) = m.split_at(3);
                        h.async_write_vectored(vec![
                            Bytes::copy_from_slice(a.as_bytes()),
                            Bytes::copy_from_slice(b.as_bytes()),
                        ])
                        .unwrap();
                    }
                }
            })
        })
        .collect();
    let data = read_exact_within(&mut s, total, Duration::from_secs(20));
    for w in writers {
        w.join().unwrap();
    }

    let text = std::str::from_utf8(&data).expect("only ASCII was written");
    let mut next = [0usize; WRITERS];
    for (n, line) in text.split_terminator('\n').enumerate() {
        let number = |p: Option<&str>| -> usize {
            p.and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("line {n} is not a whole message: {line:?}"))
        };
        let mut parts = line.strip_prefix('T').unwrap_or("").splitn(3, ':');
        let t = number(parts.next());
        let seq = number(parts.next());
        assert!(t < WRITERS, "line {n}: writer {t}");
        assert_eq!(seq, next[t], "line {n}: writer {t} out of order or missing");
        assert_eq!(format!("{line}\n"), message(t, seq), "line {n} mangled");
        next[t] += 1;
    }
    assert_eq!(next, [PER_WRITER; WRITERS], "messages per writer");

    // The client leaves: the handle goes dead and refuses everything.
    let peer = s.local_addr().unwrap();
    finish(s);
    wait_until(SETTLE, "the handle reports the connection dead", || !h.is_alive());
    assert_closed_error(h.async_write(Bytes::from_static(b"late")), "async_write");
    assert_closed_error(
        h.async_write_vectored(vec![Bytes::from_static(b"late")]),
        "async_write_vectored",
    );
    assert_closed_error(h.wake(), "wake");
    assert_closed_error(h.close(), "close");
    assert_eq!(rec.wait_close_of(peer, |r| format!("{r:?}")), "PeerEof");
    engine.stop();
}

#[test]
fn handle_close_flushes_earlier_async_writes_then_closes_locally() {
    let (engine, rx, rec) = engine_with_handles(1);
    let mut s = connect(engine.local_addr());
    let h = next_handle(&rx);
    h.async_write(Bytes::from_static(b"last ")).unwrap();
    h.async_write(Bytes::from(vec![b'w'; 100_000])).unwrap();
    h.close().unwrap();
    let got = read_to_eof(&mut s, IO_TIMEOUT);
    assert_eq!(got.len(), 5 + 100_000);
    assert_eq!(&got[..5], b"last ");
    assert!(got[5..].iter().all(|&b| b == b'w'));
    let peer = s.local_addr().unwrap();
    assert_eq!(rec.wait_close_of(peer, |r| format!("{r:?}")), "Local");
    wait_until(SETTLE, "the handle reports the connection dead", || !h.is_alive());
    assert_closed_error(h.async_write(Bytes::from_static(b"x")), "async_write");
    engine.stop();
}

/// `async_write` promises order "with other writes from this thread", and
/// `close` promises to flush "what is queued": so every write a thread
/// posted before its `close()` must reach the peer, even when the loop has
/// a backlog of them.
#[test]
fn every_async_write_posted_before_close_is_delivered() {
    const MESSAGES: usize = 20_000;
    let (engine, rx, _rec) = engine_with_handles(1);
    let mut s = connect(engine.local_addr());
    let h = next_handle(&rx);
    for seq in 0..MESSAGES {
        h.async_write(Bytes::from(format!("{seq:08}\n"))).unwrap();
    }
    h.close().unwrap();
    let got = read_to_eof(&mut s, Duration::from_secs(10));
    let lines = got.len() / 9;
    assert_eq!(
        got.len(),
        MESSAGES * 9,
        "only {lines} of {MESSAGES} writes posted before close() arrived before EOF"
    );
    for (seq, line) in got.chunks(9).enumerate() {
        assert_eq!(line, format!("{seq:08}\n").as_bytes());
    }
    engine.stop();
}

#[test]
fn wake_runs_on_traffic_with_no_new_bytes() {
    let (engine, rx, _rec) = engine_with_handles(2);
    let mut s = connect(engine.local_addr());
    let h = next_handle(&rx);
    for n in 1..=5 {
        h.wake().unwrap();
        let want = format!("woken {n}\n");
        assert_eq!(read_exact_within(&mut s, want.len(), IO_TIMEOUT), want.as_bytes());
        // Ordinary traffic in between still echoes.
        round_trip(&mut s, format!("echo {n}").as_bytes());
    }
    finish(s);
    wait_until(SETTLE, "the handle reports the connection dead", || !h.is_alive());
    assert_closed_error(h.wake(), "wake");
    engine.stop();
}

#[test]
fn stale_handle_never_reaches_a_later_connection_in_the_same_slot() {
    let (engine, rx, _rec) = engine_with_handles(1);
    let a = connect(engine.local_addr());
    let ha = next_handle(&rx);
    finish(a);
    wait_until(SETTLE, "A's handle reports it dead", || !ha.is_alive());

    let mut b = connect(engine.local_addr());
    let hb = next_handle(&rx);
    assert_ne!(ha.id(), hb.id(), "a new connection reused a live id");
    assert_closed_error(ha.async_write(Bytes::from_static(b"for A\n")), "async_write");
    assert_closed_error(ha.close(), "close");
    hb.async_write(Bytes::from_static(b"for B\n")).unwrap();
    assert_eq!(read_exact_within(&mut b, 6, IO_TIMEOUT), b"for B\n");
    round_trip(&mut b, b"still open");
    assert!(hb.is_alive());
    finish(b);
    engine.stop();
}

#[test]
fn async_write_after_engine_stop_is_refused() {
    let (engine, rx, rec) = engine_with_handles(2);
    let mut s = connect(engine.local_addr());
    let h = next_handle(&rx);
    h.async_write(Bytes::from_static(b"before stop\n")).unwrap();
    assert_eq!(read_exact_within(&mut s, 12, IO_TIMEOUT), b"before stop\n");
    engine.stop();
    assert!(!h.is_alive());
    let r = h.async_write(Bytes::from_static(b"after stop\n"));
    assert!(
        matches!(r, Err(Error::ConnectionClosed | Error::EngineStopped)),
        "async_write after stop returned {r:?}"
    );
    assert!(h.wake().is_err());
    assert!(h.close().is_err());
    expect_eof(&mut s, IO_TIMEOUT);
    let peer = s.local_addr().unwrap();
    assert_eq!(rec.wait_close_of(peer, |r| format!("{r:?}")), "Shutdown");
}
