//! Writes through a `ConnHandle` are capped by the bytes in flight to the
//! connection (the engine's `max_outbound_buffer`): a peer that never reads
//! cannot make producers on other threads grow the process without bound.
//! Past the cap a write fails at once with `Error::QueueFull` (nothing is
//! queued, the connection is fine); what was accepted is delivered, in
//! order, once the peer reads.
//!
//! Before issue 14's hardening handle writes were unbounded: the flood
//! below was accepted whole, the outbound queue passed its cap and the
//! connection was closed for `OutboundOverflow`.
//!
//! The tests here measure the process's resident memory, which other tests
//! running at the same time in the same process would disturb: they run one
//! at a time (see [`one_at_a_time`]).

mod util;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use netreactor::{Action, Bytes, CloseReason, Conn, ConnHandle, Engine, Error, EventHandler};
use util::*;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// The cap on bytes in flight to one connection.
const CAP: usize = 4 * MIB;
const WRITERS: usize = 16;
const MESSAGE: usize = 64 * KIB;
/// Write attempts per writer: 16 x 2000 x 64 KiB = 2000 MiB offered, far
/// more than the cap and the socket buffers together.
const ATTEMPTS: usize = 2000;
/// What the process may grow by beyond the cap: each writer's message in
/// hand, thread stacks, allocator slack, and what the loop held while it
/// handed bytes to the kernel.
const RSS_SLACK: usize = 12 * MIB;

/// Serialises the tests of this file (they measure the whole process).
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    lock(&LOCK)
}

/// Message `seq` of writer `t`: a header (writer, sequence number) and a
/// filler derived from both, so a misplaced or torn message shows.
fn message(t: usize, seq: usize) -> Bytes {
    let mut m = Vec::with_capacity(MESSAGE);
    m.extend_from_slice(&(t as u32).to_le_bytes());
    m.extend_from_slice(&(seq as u32).to_le_bytes());
    m.resize(MESSAGE, filler(t, seq));
    Bytes::from(m)
}

fn filler(t: usize, seq: usize) -> u8 {
    (t * 31 + seq * 7) as u8
}

/// Splits a received stream into messages and checks each writer's arrive
/// whole, in order, numbered `0..accepted[t]`.
fn check_stream(stream: &[u8], accepted: &[usize]) {
    assert_eq!(stream.len() % MESSAGE, 0);
    let mut next = vec![0usize; WRITERS];
    for (i, m) in stream.chunks(MESSAGE).enumerate() {
        let t = u32::from_le_bytes(m[0..4].try_into().unwrap()) as usize;
        let seq = u32::from_le_bytes(m[4..8].try_into().unwrap()) as usize;
        assert!(t < WRITERS, "message {i}: writer {t}");
        assert_eq!(seq, next[t], "message {i}: writer {t} out of order");
        next[t] += 1;
        let fill = filler(t, seq);
        assert!(
            m[8..].iter().all(|&b| b == fill),
            "message {i} (writer {t}, #{seq}) is torn"
        );
    }
    assert_eq!(next, accepted, "messages received per writer vs accepted");
}

/// Echoes; hands each connection's handle to the test; keeps the reason
/// of a close.
#[derive(Default)]
struct EchoHandles {
    handles: Mutex<HashMap<SocketAddr, ConnHandle>>,
    closed: Mutex<Option<CloseReason>>,
}

impl EventHandler for EchoHandles {
    fn on_open(&self, conn: &mut Conn) -> Action {
        lock(&self.handles).insert(conn.peer_addr().unwrap(), conn.handle());
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }

    fn on_close(&self, _conn: &mut Conn, reason: CloseReason) {
        *lock(&self.closed) = Some(reason);
    }
}

/// What one flooding writer saw.
#[derive(Debug, Default)]
struct WriterReport {
    accepted: usize,
    refused: usize,
    /// The slowest refused call.
    slowest_refusal: Duration,
    /// The most bytes in flight a refusal reported.
    max_refused_at: usize,
    /// A refusal with a limit other than the cap.
    wrong_limit: Option<usize>,
    /// An error other than `QueueFull` (the writer stopped there).
    unexpected: Option<String>,
}

/// Offers [`ATTEMPTS`] messages of writer `t`, in order, retrying a refused
/// one until it is accepted or the attempts are spent.
fn flood(t: usize, handle: &ConnHandle) -> WriterReport {
    let mut report = WriterReport::default();
    let mut next = message(t, 0);
    for _ in 0..ATTEMPTS {
        let called = Instant::now();
        match handle.async_write(next.clone()) {
            Ok(()) => {
                report.accepted += 1;
                next = message(t, report.accepted);
            }
            Err(Error::QueueFull { queued, limit }) => {
                report.slowest_refusal = report.slowest_refusal.max(called.elapsed());
                report.refused += 1;
                report.max_refused_at = report.max_refused_at.max(queued);
                if limit != CAP {
                    report.wrong_limit = Some(limit);
                }
            }
            Err(e) => {
                report.unexpected = Some(format!("writer {t}: {e:?}"));
                break;
            }
        }
    }
    report
}

/// One flood of a peer that never reads, from start to the moment every
/// accepted write has been taken by the loop.
struct Flood {
    engine: util::Engine,
    handler: Arc<EchoHandles>,
    peer: TcpStream,
    handle: ConnHandle,
    reports: Vec<WriterReport>,
    time: Duration,
    /// The most `handle.queued_bytes()` read while the writers ran, and
    /// how many reads that was.
    max_queued: usize,
    samples: usize,
    rss_before: usize,
    rss_after: usize,
}

impl Flood {
    fn accepted(&self) -> Vec<usize> {
        self.reports.iter().map(|r| r.accepted).collect()
    }

    fn total_accepted(&self) -> usize {
        self.reports.iter().map(|r| r.accepted).sum()
    }

    fn max_refused_at(&self) -> usize {
        self.reports.iter().map(|r| r.max_refused_at).max().unwrap()
    }

    fn summary(&self) -> String {
        format!(
            "{} accepted ({} MiB), {} refused in {:?}; slowest refusal {:?}; refusals reported up to {} bytes in \
             flight; queued_bytes() max {} over {} reads (cap {CAP}); RSS {} -> {} KiB (+{} KiB)",
            self.total_accepted(),
            self.total_accepted() * MESSAGE / MIB,
            self.reports.iter().map(|r| r.refused).sum::<usize>(),
            self.time,
            self.reports.iter().map(|r| r.slowest_refusal).max().unwrap(),
            self.max_refused_at(),
            self.max_queued,
            self.samples,
            self.rss_before / KIB,
            self.rss_after / KIB,
            self.rss_after.saturating_sub(self.rss_before) / KIB,
        )
    }
}

/// Starts an engine with the cap, connects a peer that reads nothing, and
/// lets [`WRITERS`] threads flood it while another samples `queued_bytes`.
fn run_flood() -> Flood {
    let handler = Arc::new(EchoHandles::default());
    let engine = start(
        Engine::builder().event_loops(1).max_outbound_buffer(CAP),
        handler.clone(),
    );
    let mut peer = connect(engine.local_addr());
    round_trip(&mut peer, b"hello");
    let key = peer.local_addr().unwrap();
    let handle = lock(&handler.handles)[&key].clone();
    assert_eq!(handle.queued_bytes(), 0);

    let rss_before = vm_rss_kib() * KIB;
    let flooding = Arc::new(AtomicBool::new(true));
    let monitor = {
        let (handle, flooding) = (handle.clone(), flooding.clone());
        thread::spawn(move || {
            let (mut max, mut samples) = (0, 0usize);
            while flooding.load(Ordering::Relaxed) {
                max = max.max(handle.queued_bytes());
                samples += 1;
                thread::yield_now();
            }
            (max, samples)
        })
    };
    let start_line = Arc::new(Barrier::new(WRITERS));
    let started = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|t| {
            let (handle, start_line) = (handle.clone(), start_line.clone());
            thread::spawn(move || {
                start_line.wait();
                flood(t, &handle)
            })
        })
        .collect();
    let reports: Vec<WriterReport> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let time = started.elapsed();
    flooding.store(false, Ordering::Relaxed);
    let (max_queued, samples) = monitor.join().unwrap();
    if let Some(e) = reports.iter().find_map(|r| r.unexpected.as_ref()) {
        let reason = lock(&handler.closed).clone();
        panic!("{e}: the flood closed the connection ({reason:?}); writes past the cap must only be refused");
    }
    // Let the loop take what was posted last (its tasks: the registration
    // and one per accepted write), then measure.
    let posted: u64 = reports.iter().map(|r| r.accepted as u64).sum();
    wait_until(SETTLE, "the loop took every posted write", || {
        engine.stats().tasks_run > posted
    });
    let rss_after = vm_rss_kib() * KIB;
    let flood = Flood {
        engine,
        handler,
        peer,
        handle,
        reports,
        time,
        max_queued,
        samples,
        rss_before,
        rss_after,
    };
    eprintln!("flood: {}", flood.summary());
    flood
}

#[test]
fn flooding_a_peer_that_never_reads_fails_fast_with_queue_full_and_bounds_memory() {
    let _alone = one_at_a_time();
    let mut f = run_flood();
    let summary = f.summary();

    assert!(f.handle.is_alive(), "the flood closed the connection: {summary}");
    assert_eq!(*lock(&f.handler.closed), None);
    if let Some(limit) = f.reports.iter().find_map(|r| r.wrong_limit) {
        panic!("refused with limit {limit}, not the cap {CAP}");
    }
    let refused: usize = f.reports.iter().map(|r| r.refused).sum();
    assert!(refused > 0, "nothing was refused: the cap does not hold ({summary})");
    // The cap plus what the socket buffers took: nowhere near all offered.
    assert!(
        f.total_accepted() * MESSAGE < CAP + 32 * MIB,
        "accepted far more than the cap: {summary}"
    );
    assert!(
        f.time < Duration::from_secs(30),
        "writes must fail fast, not wait for room: {summary}"
    );
    assert!(f.handle.queued_bytes() <= CAP, "{summary}");
    let growth = f.rss_after.saturating_sub(f.rss_before);
    assert!(
        growth <= CAP + RSS_SLACK,
        "RSS grew by {} KiB (cap {} KiB + slack {} KiB): {summary}",
        growth / KIB,
        CAP / KIB,
        RSS_SLACK / KIB
    );

    // Now the peer reads: every accepted byte arrives, each writer's in order.
    let total = f.total_accepted() * MESSAGE;
    let stream = read_exact_within(&mut f.peer, total, IO_TIMEOUT);
    check_stream(&stream, &f.accepted());
    wait_until(SETTLE, "the queue drained", || f.handle.queued_bytes() == 0);
    // The connection is fine: still served, still writable from a handle.
    round_trip(&mut f.peer, b"after the flood");
    f.handle.async_write("and from the handle").unwrap();
    assert_eq!(read_exact_within(&mut f.peer, 19, IO_TIMEOUT), b"and from the handle");
    assert!(f.handle.is_alive());
    assert_eq!(f.engine.stats().closed_overflow, 0);
    f.engine.stop();
    assert_eq!(*lock(&f.handler.closed), Some(CloseReason::Shutdown));
}

#[test]
fn queued_bytes_never_reports_more_than_the_cap_during_a_flood() {
    let _alone = one_at_a_time();
    let f = run_flood();
    let summary = f.summary();
    assert!(
        f.max_queued <= CAP,
        "queued_bytes() reported {} bytes in flight, more than the cap: {summary}",
        f.max_queued
    );
    assert!(
        f.max_refused_at() <= CAP,
        "a refusal reported {} bytes in flight, more than the cap: {summary}",
        f.max_refused_at()
    );
    // The peer never read: no need to wait for the flush.
    f.engine.stop_with_deadline(Duration::ZERO);
}
