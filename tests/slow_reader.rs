//! A slow reader of a 64 MiB stream neither stalls its loop nor makes the
//! server hold the whole stream in memory: the handler streams 1 MiB at a
//! time from `on_writable`, while another client on the same loop keeps
//! getting prompt echoes.

mod util;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use netreactor::{Action, Bytes, Engine, Service};
use util::*;

const CHUNK: usize = 1 << 20;
const CHUNKS: u64 = 64;
const TOTAL: usize = CHUNK * CHUNKS as usize;

/// Chunk `k` of the stream: little-endian u64 word indices, so every byte's
/// value follows from its offset.
fn chunk(k: u64) -> Vec<u8> {
    let first = k * (CHUNK as u64 / 8);
    let mut v = Vec::with_capacity(CHUNK);
    for w in first..first + CHUNK as u64 / 8 {
        v.extend_from_slice(&w.to_le_bytes());
    }
    v
}

#[derive(Default)]
struct Stats {
    chunks_queued: AtomicU64,
    peak_queued: AtomicUsize,
    writable_calls: AtomicUsize,
}

/// Per-connection state: a streaming connection remembers the next chunk.
struct Streaming {
    next: u64,
}

/// "GO" starts the 64 MiB stream; anything else on a connection that has
/// not said "GO" is echoed.
struct Streamer {
    stats: Arc<Stats>,
}

impl Streamer {
    /// Queues chunks until the socket pushes back (or the stream is done):
    /// with output held back, `on_writable` calls again once it drains.
    fn pump(&self, conn: &mut netreactor::Conn, st: &mut Streaming) {
        loop {
            if st.next == CHUNKS {
                return;
            }
            let k = st.next;
            st.next += 1;
            conn.write_bytes(Bytes::from(chunk(k)));
            self.stats.chunks_queued.store(k + 1, Ordering::SeqCst);
            self.stats.peak_queued.fetch_max(conn.outbound_len(), Ordering::SeqCst);
            conn.flush().expect("flush");
            if conn.outbound_len() > 0 {
                return;
            }
        }
    }
}

impl Service for Streamer {
    type State = Option<Streaming>; // said "GO"

    fn on_traffic(&self, conn: &mut netreactor::Conn, streaming: &mut Option<Streaming>) -> Action {
        if streaming.is_some() {
            let n = conn.inbound_len();
            conn.discard(n);
        } else if conn.peek_all() == b"GO" {
            conn.discard(2);
            self.pump(conn, streaming.insert(Streaming { next: 0 }));
        } else {
            conn.echo_all();
        }
        Action::Continue
    }

    fn on_writable(&self, conn: &mut netreactor::Conn, streaming: &mut Option<Streaming>) -> Action {
        self.stats.writable_calls.fetch_add(1, Ordering::SeqCst);
        if let Some(st) = streaming {
            self.pump(conn, st);
        }
        Action::Continue
    }
}

#[test]
fn slow_reader_gets_64_mib_intact_while_its_loop_keeps_serving_others() {
    let stats = Arc::new(Stats::default());
    let engine = start(Engine::builder().event_loops(1), Streamer { stats: stats.clone() });
    let addr = engine.local_addr();
    let started = Instant::now();

    let received = Arc::new(AtomicUsize::new(0));
    let b_done = Arc::new(AtomicBool::new(false));

    // Client A: asks for the stream, reads it slowly while B runs (small
    // reads with short pauses: load shaping, not synchronisation), then in
    // large chunks, checking every byte.
    let a = {
        let received = received.clone();
        let b_done = b_done.clone();
        thread::spawn(move || {
            let mut s = connect(addr);
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(b"GO").unwrap();
            let mut buf = vec![0u8; CHUNK];
            let mut expected = chunk(0);
            let mut off = 0usize;
            let mut since_pause = 0usize;
            while off < TOTAL {
                let slow = !b_done.load(Ordering::SeqCst);
                let want = if slow { 16 * 1024 } else { CHUNK };
                let want = want.min(CHUNK - off % CHUNK);
                let n = s.read(&mut buf[..want]).expect("stream read");
                assert!(n > 0, "EOF after {off} of {TOTAL} bytes");
                let at = off % CHUNK;
                if buf[..n] != expected[at..at + n] {
                    let i = first_difference(&buf[..n], &expected[at..at + n]).unwrap();
                    panic!("stream byte {} differs", off + i);
                }
                off += n;
                received.store(off, Ordering::SeqCst);
                if off.is_multiple_of(CHUNK) && off < TOTAL {
                    expected = chunk((off / CHUNK) as u64);
                }
                since_pause += n;
                if slow && since_pause >= 64 * 1024 {
                    since_pause = 0;
                    thread::sleep(Duration::from_millis(1));
                }
            }
            // Nothing follows the stream.
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            match s.read(&mut buf[..1]) {
                Ok(n) => assert_eq!(n, 0, "bytes after the stream"),
                Err(e) => assert!(
                    matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
                    "{e}"
                ),
            }
            off
        })
    };

    // Client B, on the same (only) loop: starts once A's stream is flowing
    // and the server's output to A is backed up.
    wait_until(Duration::from_secs(5), "A has received its first MiB", || {
        received.load(Ordering::SeqCst) >= CHUNK
    });
    wait_until(
        Duration::from_secs(5),
        "the server has had to wait for A's socket",
        || stats.writable_calls.load(Ordering::SeqCst) > 0,
    );
    let mut b = connect(addr);
    let mut rng = Rng::new(5);
    let mut slowest = Duration::ZERO;
    for i in 0..200 {
        let len = rng.range(1, 512);
        let msg = rng.bytes(len);
        let t = Instant::now();
        b.write_all(&msg).unwrap();
        let got = read_exact_within(&mut b, msg.len(), Duration::from_secs(1));
        let rtt = t.elapsed();
        assert_eq!(got, msg, "round trip {i}");
        assert!(rtt < Duration::from_secs(1), "round trip {i} took {rtt:?}");
        slowest = slowest.max(rtt);
    }
    let a_progress = received.load(Ordering::SeqCst);
    b_done.store(true, Ordering::SeqCst);
    assert!(
        a_progress < TOTAL,
        "A's stream finished before B's round trips did: no overlap to test"
    );

    let total = a.join().expect("client A failed");
    assert_eq!(total, TOTAL);
    assert_eq!(stats.chunks_queued.load(Ordering::SeqCst), CHUNKS);
    let peak = stats.peak_queued.load(Ordering::SeqCst);
    assert!(
        peak <= CHUNK,
        "the server queued {peak} bytes at once (at most one chunk expected)"
    );
    finish(b);
    eprintln!(
        "64 MiB streamed in {:?}; B's slowest round trip {slowest:?}; {} on_writable calls",
        started.elapsed(),
        stats.writable_calls.load(Ordering::SeqCst)
    );
    engine.stop();
}
