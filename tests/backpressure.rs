//! A peer that sends but never reads cannot make the server buffer its
//! replies: above the high watermark the connection turns unwritable and
//! reading pauses; at the low watermark both reverse; past the hard cap the
//! connection closes with `OutboundOverflow`.

mod util;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use netreactor::{Action, CloseReason, Conn, Engine, EventHandler};
use util::*;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
const LOW: usize = 32 * KIB;
const HIGH: usize = 64 * KIB;
/// The most one read takes (the engine's default read buffer).
const READ_CHUNK: usize = netreactor::options::DEFAULT_READ_BUFFER_BYTES;

/// Echo that watches its outbound queue and writability.
#[derive(Default)]
struct Watched {
    /// Largest `outbound_len()` seen right after queueing an echo.
    max_outbound: AtomicUsize,
    /// `on_traffic` calls made while the connection was unwritable.
    traffic_while_unwritable: AtomicUsize,
    /// Every `on_writability_changed`, with the peer.
    changes: Mutex<Vec<(Option<SocketAddr>, bool)>>,
    rec: Recorder,
}

impl Watched {
    fn changes_of(&self, peer: SocketAddr) -> Vec<bool> {
        lock(&self.changes)
            .iter()
            .filter(|(p, _)| *p == Some(peer))
            .map(|(_, w)| *w)
            .collect()
    }
}

impl EventHandler for Watched {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        if !conn.is_writable() {
            self.traffic_while_unwritable.fetch_add(1, Ordering::SeqCst);
        }
        conn.echo_all();
        self.max_outbound.fetch_max(conn.outbound_len(), Ordering::SeqCst);
        Action::Continue
    }

    fn on_writability_changed(&self, conn: &mut Conn, writable: bool) -> Action {
        assert_eq!(conn.is_writable(), writable);
        lock(&self.changes).push((conn.peer_addr(), writable));
        Action::Continue
    }

    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.rec.close(conn, reason);
    }
}

struct Shared(Arc<Watched>);

impl EventHandler for Shared {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        self.0.on_traffic(conn)
    }
    fn on_writability_changed(&self, conn: &mut Conn, writable: bool) -> Action {
        self.0.on_writability_changed(conn, writable)
    }
    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.0.on_close(conn, reason)
    }
}

/// A client with small kernel buffers (64 KiB each way), so the bytes in
/// flight stay small next to what the test sends.
fn small_buffer_client(addr: SocketAddr) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(64 * KIB).unwrap();
    sock.set_send_buffer_size(64 * KIB).unwrap();
    sock.connect(&addr.into()).unwrap();
    let s: TcpStream = sock.into();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// The byte at stream offset `o`: a random pool of prime length, repeated,
/// so a lost, duplicated or shifted chunk shows.
struct Pattern {
    period: usize,
    /// The pool followed by its first `MAX_SPAN` bytes again, so any span
    /// of up to `MAX_SPAN` bytes is one slice.
    ext: Vec<u8>,
}

const MAX_SPAN: usize = 64 * KIB;

impl Pattern {
    fn new() -> Self {
        let pool = Rng::new(0xBAC4).bytes(100_003);
        let mut ext = pool.clone();
        ext.extend_from_slice(&pool[..MAX_SPAN]);
        Pattern {
            period: pool.len(),
            ext,
        }
    }

    fn span(&self, from: usize, len: usize) -> &[u8] {
        assert!(len <= MAX_SPAN);
        let at = from % self.period;
        &self.ext[at..at + len]
    }

    /// First offset in `buf` (starting at stream offset `from`) that differs.
    fn check(&self, from: usize, buf: &[u8]) -> Option<usize> {
        let want = self.span(from, buf.len());
        if buf == want {
            None
        } else {
            first_difference(buf, want)
        }
    }
}

/// Polls `probe` until its value has not changed for `quiet`.
fn wait_quiescent<T: PartialEq + Copy + std::fmt::Debug>(
    what: &str,
    quiet: Duration,
    mut probe: impl FnMut() -> T,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = probe();
    let mut since = Instant::now();
    loop {
        thread::sleep(Duration::from_millis(5));
        let v = probe();
        if v != last {
            last = v;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what} kept changing for 10 s (last {last:?})"
        );
    }
}

#[test]
fn non_reading_peer_is_paused_bounded_and_fully_echoed_once_it_reads() {
    const TOTAL: usize = 32 * MIB;
    let h = Arc::new(Watched::default());
    let engine = start(
        Engine::builder().event_loops(1).write_watermarks(LOW, HIGH),
        Shared(h.clone()),
    );
    let addr = engine.local_addr();
    let mut other = connect(addr);
    round_trip(&mut other, b"hello");

    let pattern = Arc::new(Pattern::new());
    let mut hog = small_buffer_client(addr);
    let hog_peer = hog.local_addr().unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let writer = {
        let (mut w, sent, pattern) = (hog.try_clone().unwrap(), sent.clone(), pattern.clone());
        thread::spawn(move || {
            let mut off = 0;
            while off < TOTAL {
                w.write_all(pattern.span(off, MAX_SPAN)).unwrap();
                off += MAX_SPAN;
                sent.store(off as u64, Ordering::SeqCst);
            }
            w.shutdown(std::net::Shutdown::Write).unwrap();
        })
    };

    // The hog never reads: the server's output crosses the high watermark.
    wait_until(SETTLE, "on_writability_changed(false) for the hog", || {
        h.changes_of(hog_peer).first() == Some(&false)
    });
    // Everything stops: the hog's writes block, the server reads no more.
    let (sent_blocked, bytes_in) = wait_quiescent("bytes sent / bytes read", Duration::from_millis(300), || {
        (sent.load(Ordering::SeqCst), engine.stats().bytes_in)
    });
    assert!(
        (sent_blocked as usize) < TOTAL,
        "the hog wrote all {TOTAL} bytes: nothing held it back"
    );
    assert!(
        bytes_in < sent_blocked,
        "the server read everything sent while unwritable"
    );
    eprintln!("paused: the hog sent {sent_blocked} bytes, the server read {bytes_in}");
    assert_eq!(h.changes_of(hog_peer), [false], "still unwritable");
    let max = h.max_outbound.load(Ordering::SeqCst);
    assert!(
        max <= HIGH + READ_CHUNK,
        "queued output reached {max} bytes (high watermark {HIGH} + one read {READ_CHUNK})"
    );
    assert_eq!(
        h.traffic_while_unwritable.load(Ordering::SeqCst),
        0,
        "read while unwritable"
    );

    // The other connection on the same loop is served meanwhile.
    for i in 0..20 {
        round_trip(&mut other, format!("served while paused {i}").as_bytes());
    }
    let other_bytes: u64 = (0..20).map(|i| format!("served while paused {i}").len() as u64).sum();
    assert_eq!(
        engine.stats().bytes_in - bytes_in,
        other_bytes,
        "the hog was not read meanwhile"
    );

    // Now the hog reads: everything it sent comes back, exactly, then EOF.
    let mut buf = vec![0u8; MAX_SPAN];
    let mut got = 0usize;
    loop {
        match hog.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if let Some(at) = pattern.check(got, &buf[..n]) {
                    panic!("echoed stream differs at offset {}", got + at);
                }
                got += n;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("hog read failed after {got} bytes: {e}"),
        }
    }
    writer.join().unwrap();
    assert_eq!(got, TOTAL, "bytes echoed to the hog");

    let changes = h.changes_of(hog_peer);
    assert!(changes.len() >= 2, "writability changes {changes:?}");
    assert!(
        changes.iter().enumerate().all(|(i, w)| *w == (i % 2 == 1)),
        "changes alternate false, true, ...: {changes:?}"
    );
    assert_eq!(changes.last(), Some(&true), "writable again at the end");
    assert!(h.max_outbound.load(Ordering::SeqCst) <= HIGH + READ_CHUNK);
    assert_eq!(h.traffic_while_unwritable.load(Ordering::SeqCst), 0);
    assert!(h.rec.wait_close_of(hog_peer, |r| matches!(r, CloseReason::PeerEof)));
    round_trip(&mut other, b"bye");
    engine.stop();
}

/// Writes `n` bytes at once when a connection opens.
struct Flood(usize, Arc<Recorder>);

impl EventHandler for Flood {
    fn on_open(&self, conn: &mut Conn) -> Action {
        conn.write(&vec![0x5A; self.0]);
        Action::Continue
    }
    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.1.close(conn, reason);
    }
}

#[test]
fn write_past_max_outbound_buffer_closes_with_outbound_overflow() {
    let rec = Arc::new(Recorder::default());
    let engine = start(
        Engine::builder().event_loops(1).max_outbound_buffer(MIB),
        Flood(2 * MIB, rec.clone()),
    );
    let mut s = connect(engine.local_addr());
    // Nothing of the refused write is sent, and the peer sees a reset.
    expect_reset(&mut s, IO_TIMEOUT);
    let reason = rec.wait_close_of(s.local_addr().unwrap(), |r| format!("{r:?}"));
    assert_eq!(reason, format!("OutboundOverflow {{ limit: {MIB} }}"));
    assert_eq!(engine.stats().closed_overflow, 1);
    assert_eq!(engine.stats().bytes_out, 0);
    engine.stop();
}

#[test]
fn write_of_exactly_max_outbound_buffer_is_sent() {
    let rec = Arc::new(Recorder::default());
    let engine = start(
        Engine::builder().event_loops(1).max_outbound_buffer(MIB),
        Flood(MIB, rec.clone()),
    );
    let mut s = connect(engine.local_addr());
    let got = read_exact_within(&mut s, MIB, IO_TIMEOUT);
    assert!(got.iter().all(|&b| b == 0x5A));
    finish(s);
    assert_eq!(rec.closes(), 1);
    assert_eq!(engine.stats().closed_overflow, 0);
    engine.stop();
}

#[test]
fn without_read_pausing_a_non_reading_peer_hits_the_hard_cap() {
    let h = Arc::new(Watched::default());
    let engine = start(
        Engine::builder()
            .event_loops(1)
            .write_watermarks(LOW, HIGH)
            .pause_reading_when_unwritable(false)
            .max_outbound_buffer(MIB),
        Shared(h.clone()),
    );
    let hog = small_buffer_client(engine.local_addr());
    let hog_peer = hog.local_addr().unwrap();
    let writer = {
        let mut w = hog.try_clone().unwrap();
        thread::spawn(move || {
            let chunk = vec![1u8; 64 * KIB];
            let mut sent = 0usize;
            // Until the server gives up on us (reset or broken pipe).
            while w.write_all(&chunk).is_ok() {
                sent += chunk.len();
                assert!(sent < 512 * MIB, "never closed");
            }
        })
    };
    let reason = h.rec.wait_close_of(hog_peer, |r| format!("{r:?}"));
    assert_eq!(reason, format!("OutboundOverflow {{ limit: {MIB} }}"));
    assert_eq!(
        h.changes_of(hog_peer).first(),
        Some(&false),
        "unwritable was reported first"
    );
    assert!(
        h.traffic_while_unwritable.load(Ordering::SeqCst) > 0,
        "with pausing off, reading goes on while unwritable"
    );
    drop(hog);
    writer.join().unwrap();
    engine.stop();
}
