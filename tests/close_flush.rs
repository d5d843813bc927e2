//! Closing flushes what is queued first (bounded by the linger deadline);
//! `close_now` drops it; a peer that never reads cannot stall the loop.

mod util;

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netreactor::{Action, Bytes, CloseReason, Conn, ConnHandle, Engine, EventHandler};
use util::*;

const MIB: usize = 1024 * 1024;

/// Records closes with the time `on_close` ran.
#[derive(Debug, Default)]
struct Closes {
    rec: Recorder,
    at: Mutex<HashMap<SocketAddr, Instant>>,
}

impl Closes {
    fn close(&self, conn: &Conn, reason: CloseReason) {
        if let Some(p) = conn.peer_addr() {
            lock(&self.at).insert(p, Instant::now());
        }
        self.rec.close(conn, reason);
    }

    fn reason_of(&self, peer: SocketAddr) -> String {
        self.rec.wait_close_of(peer, |r| format!("{r:?}"))
    }

    fn closed_at(&self, peer: SocketAddr) -> Option<Instant> {
        lock(&self.at).get(&peer).copied()
    }
}

/// How `Burst` ends a connection after queueing its payload.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ending {
    /// `on_open` returns `Action::Close`.
    ActionClose,
    /// `on_traffic` (upon any request) calls `conn.close()`.
    ConnClose,
    /// `on_open` calls `conn.close_now()`.
    CloseNowAtOnce,
    /// A timer set in `on_open` calls `conn.close_now()` 50 ms later.
    CloseNowLater,
}

/// Queues `payload` and ends the connection as `ending` says.
struct Burst {
    payload: Bytes,
    ending: Ending,
    closes: Arc<Closes>,
}

impl EventHandler for Burst {
    fn on_open(&self, conn: &mut Conn) -> Action {
        match self.ending {
            Ending::ActionClose => {
                conn.write_bytes(self.payload.clone());
                Action::Close
            }
            Ending::ConnClose => Action::Continue,
            Ending::CloseNowAtOnce => {
                conn.write_bytes(self.payload.clone());
                conn.close_now();
                Action::Continue
            }
            Ending::CloseNowLater => {
                conn.write_bytes(self.payload.clone());
                conn.schedule(Duration::from_millis(50), 1);
                Action::Continue
            }
        }
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        let n = conn.inbound_len();
        conn.discard(n);
        if self.ending == Ending::ConnClose {
            conn.write_bytes(self.payload.clone());
            conn.close();
        }
        Action::Continue
    }

    fn on_timer(&self, conn: &mut Conn, _token: u64) -> Action {
        conn.close_now();
        Action::Continue
    }

    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.closes.close(conn, reason);
    }
}

fn burst(ending: Ending, len: usize) -> (util::Engine, Arc<Closes>, Bytes) {
    let payload = Bytes::from(Rng::new(len as u64).bytes(len));
    let closes = Arc::new(Closes::default());
    let engine = start(
        Engine::builder().event_loops(2),
        Burst {
            payload: payload.clone(),
            ending,
            closes: closes.clone(),
        },
    );
    (engine, closes, payload)
}

#[test]
fn close_flushes_pending_output_action_close() {
    let (engine, closes, payload) = burst(Ending::ActionClose, 4 * MIB);
    let mut s = connect(engine.local_addr());
    let got = read_to_eof(&mut s, Duration::from_secs(10));
    assert_eq!(got.len(), payload.len(), "bytes before EOF");
    assert_eq!(first_difference(&got, &payload), None);
    assert_eq!(closes.reason_of(s.local_addr().unwrap()), "Local");
    engine.stop();
}

#[test]
fn close_flushes_pending_output_conn_close() {
    let (engine, closes, payload) = burst(Ending::ConnClose, 4 * MIB);
    let mut s = connect(engine.local_addr());
    s.write_all(b"send it").unwrap();
    let got = read_to_eof(&mut s, Duration::from_secs(10));
    assert_eq!(got.len(), payload.len(), "bytes before EOF");
    assert_eq!(first_difference(&got, &payload), None);
    assert_eq!(closes.reason_of(s.local_addr().unwrap()), "Local");
    engine.stop();
}

#[test]
fn close_now_discards_queued_output() {
    // Queued and dropped in the same callback: nothing is ever sent.
    let (engine, closes, _payload) = burst(Ending::CloseNowAtOnce, 4 * MIB);
    let mut s = connect(engine.local_addr());
    expect_reset(&mut s, IO_TIMEOUT);
    assert_eq!(closes.reason_of(s.local_addr().unwrap()), "Local");
    assert_eq!(engine.stats().bytes_out, 0);
    engine.stop();
}

#[test]
fn close_now_later_drops_what_the_kernel_has_not_taken() {
    // 32 MiB: far more than the socket buffers hold while the client does
    // not read, so most of it is still queued when close_now runs.
    let (engine, closes, payload) = burst(Ending::CloseNowLater, 32 * MIB);
    let mut s = connect(engine.local_addr());
    let peer = s.local_addr().unwrap();
    assert_eq!(closes.reason_of(peer), "Local");
    // A prefix, then a reset: the peer can tell the stream was cut.
    let got = read_to_reset(&mut s, Duration::from_secs(10));
    assert!(!got.is_empty(), "what reached the peer before close_now is readable");
    assert!(
        got.len() < payload.len(),
        "close_now sent everything ({} bytes)",
        got.len()
    );
    assert_eq!(
        first_difference(&got, &payload[..got.len()]),
        None,
        "a prefix of the payload"
    );
    // The reset also discards what the kernel had taken but not yet sent.
    assert!(
        got.len() as u64 <= engine.stats().bytes_out,
        "bytes_out counts what the kernel took"
    );
    engine.stop();
}

/// Echoes; "big" queues `payload` and closes instead.
struct BigThenClose {
    payload: Bytes,
    closes: Arc<Closes>,
}

impl EventHandler for BigThenClose {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        if conn.peek_all() == b"big" {
            conn.discard(3);
            conn.write_bytes(self.payload.clone());
            return Action::Close;
        }
        conn.echo_all();
        Action::Continue
    }

    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.closes.close(conn, reason);
    }
}

#[test]
fn peer_that_never_reads_cannot_stall_the_loop_linger_timeout() {
    const LINGER: Duration = Duration::from_millis(300);
    let payload = Bytes::from(Rng::new(8).bytes(8 * MIB));
    let closes = Arc::new(Closes::default());
    // One loop: the staller and the echo client share it.
    let engine = start(
        Engine::builder().event_loops(1).close_linger(LINGER),
        BigThenClose {
            payload: payload.clone(),
            closes: closes.clone(),
        },
    );
    let addr = engine.local_addr();
    let mut other = connect(addr);
    round_trip(&mut other, b"warm up");

    let mut staller = connect(addr);
    let staller_peer = staller.local_addr().unwrap();
    let asked = Instant::now();
    staller.write_all(b"big").unwrap();

    // Until the staller is closed, the other client keeps being served.
    let mut trips = 0;
    let mut slowest = Duration::ZERO;
    while closes.closed_at(staller_peer).is_none() {
        assert!(asked.elapsed() < Duration::from_secs(5), "the staller was not closed");
        let t = Instant::now();
        round_trip(&mut other, format!("trip {trips}").as_bytes());
        slowest = slowest.max(t.elapsed());
        trips += 1;
    }
    let took = closes.closed_at(staller_peer).unwrap() - asked;
    assert_eq!(closes.reason_of(staller_peer), "LingerTimeout");
    assert!(
        took >= LINGER && took < Duration::from_secs(2),
        "LingerTimeout after {took:?}, linger {LINGER:?}"
    );
    assert!(trips >= 10, "only {trips} echo round trips while the staller lingered");
    assert!(
        slowest < Duration::from_millis(250),
        "an echo round trip took {slowest:?}"
    );

    // The staller gets a prefix of the payload, then a reset (not EOF).
    let got = read_to_reset(&mut staller, Duration::from_secs(10));
    assert!(got.len() < payload.len(), "all of it was sent after all");
    assert_eq!(first_difference(&got, &payload[..got.len()]), None);
    round_trip(&mut other, b"after");
    assert_eq!(engine.connection_count(), 1);
    engine.stop();
}

/// Hands each connection's `ConnHandle` to the test.
struct HandOut {
    handles: Mutex<mpsc::Sender<ConnHandle>>,
    closes: Arc<Closes>,
}

impl EventHandler for HandOut {
    fn on_open(&self, conn: &mut Conn) -> Action {
        lock(&self.handles).send(conn.handle()).unwrap();
        Action::Continue
    }

    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.closes.close(conn, reason);
    }
}

#[test]
fn conn_handle_close_after_async_write_delivers_the_write_first() {
    let (tx, rx) = mpsc::channel();
    let closes = Arc::new(Closes::default());
    let engine = start(
        Engine::builder().event_loops(2),
        HandOut {
            handles: Mutex::new(tx),
            closes: closes.clone(),
        },
    );
    let mut s = connect(engine.local_addr());
    let handle = rx.recv_timeout(IO_TIMEOUT).unwrap();
    let first = Bytes::from(Rng::new(1).bytes(4 * MIB));
    let second = Bytes::from_static(b"and the last word");
    handle.async_write(first.clone()).unwrap();
    handle.async_write(second.clone()).unwrap();
    handle.close().unwrap();

    let got = read_to_eof(&mut s, Duration::from_secs(10));
    assert_eq!(got.len(), first.len() + second.len());
    assert_eq!(first_difference(&got[..first.len()], &first), None);
    assert_eq!(&got[first.len()..], &second[..]);
    assert_eq!(closes.reason_of(s.local_addr().unwrap()), "Local");
    wait_until(SETTLE, "the handle sees the close", || !handle.is_alive());
    assert!(matches!(
        handle.async_write(Bytes::from_static(b"late")),
        Err(netreactor::Error::ConnectionClosed)
    ));
    engine.stop();
}
