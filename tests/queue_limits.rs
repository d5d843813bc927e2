//! The cap on bytes in flight through a `ConnHandle` counts what the
//! connection will really queue: a frame's payload *and* the codec's header
//! (`async_write_frame` reserves `Encoder::frame_overhead` too), and a write
//! that can never fit the cap is `Error::TooLarge`, not `QueueFull`.
//!
//! Issue 17: before it a frame reserved its payload only. A flood of 1-byte
//! frames with a 4-byte length field was accepted up to the cap in payload,
//! five times the cap once encoded: the queue passed its hard cap and the
//! connection was closed (`OutboundOverflow`) instead of the writer being
//! refused. And a write larger than the cap was `QueueFull` even on an
//! empty queue, which a producer would retry forever.

mod util;

use std::net::{SocketAddr, TcpStream};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use netreactor::codec::LengthFieldCodec;
use netreactor::{Action, Bytes, CloseReason, Conn, ConnHandle, Engine, Error, EventHandler, Frame};
use util::*;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
/// The cap on bytes in flight to one connection (`max_outbound_buffer`).
const CAP: usize = 4 * MIB;
/// The length field `LengthFieldCodec::new()` puts before every frame.
const HEADER: usize = 4;
/// The server's send buffer: fixed (no autotuning), so the kernel cannot
/// absorb a flood and the queue is what holds it.
const SEND_BUFFER: usize = 64 * KIB;

/// Echoes frames; hands each connection's handle to the test; keeps the
/// reason of a close.
struct FrameEcho {
    handles: Mutex<mpsc::Sender<ConnHandle>>,
    closed: Mutex<Option<CloseReason>>,
}

impl EventHandler for FrameEcho {
    fn on_open(&self, conn: &mut Conn) -> Action {
        conn.set_send_buffer_size(SEND_BUFFER).unwrap();
        let _ = lock(&self.handles).send(conn.handle());
        Action::Continue
    }

    fn on_frame(&self, conn: &mut Conn, frame: Frame<'_>) -> Action {
        conn.write_frame(&frame).map_or(Action::Close, |_| Action::Continue)
    }

    fn on_close(&self, _conn: &mut Conn, reason: CloseReason) {
        *lock(&self.closed) = Some(reason);
    }
}

/// An engine with the cap and a 4-byte length-field codec, a client that
/// reads only when told (its receive buffer small), and the server side's
/// handle.
struct Setup {
    engine: util::Engine,
    handler: Arc<FrameEcho>,
    client: TcpStream,
    handle: ConnHandle,
}

fn setup() -> Setup {
    let (tx, rx) = mpsc::channel();
    let handler = Arc::new(FrameEcho {
        handles: Mutex::new(tx),
        closed: Mutex::new(None),
    });
    let engine = start(
        Engine::builder()
            .event_loops(1)
            .max_outbound_buffer(CAP)
            .codec(LengthFieldCodec::new()),
        handler.clone(),
    );
    let client = small_window_client(engine.local_addr());
    let handle = rx.recv_timeout(IO_TIMEOUT).expect("on_open handed out the handle");
    let mut s = Setup {
        engine,
        handler,
        client,
        handle,
    };
    s.round_trip_frame(b"hello");
    assert_eq!(s.handle.queued_bytes(), 0);
    s
}

/// A client with a small receive buffer, so a flood it does not read stays
/// in the server's queue.
fn small_window_client(addr: SocketAddr) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(16 * KIB).unwrap();
    sock.connect(&addr.into()).unwrap();
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

fn encode(payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

impl Setup {
    fn round_trip_frame(&mut self, payload: &[u8]) {
        use std::io::Write;
        self.client.write_all(&encode(payload)).unwrap();
        let echo = read_exact_within(&mut self.client, HEADER + payload.len(), IO_TIMEOUT);
        assert_eq!(echo, encode(payload));
    }

    /// Reads `frames` frames of `payload` bytes, checking each is whole and
    /// is `pool[i % pool.len()]`.
    fn read_frames(&mut self, frames: usize, pool: &[Bytes]) {
        let payload = pool[0].len();
        let stream = read_exact_within(&mut self.client, frames * (HEADER + payload), Duration::from_secs(60));
        for (i, frame) in stream.chunks(HEADER + payload).enumerate() {
            let len = u32::from_be_bytes(frame[..HEADER].try_into().unwrap()) as usize;
            assert_eq!(len, payload, "frame {i}: a torn or misplaced header");
            assert!(
                frame[HEADER..] == pool[i % pool.len()][..],
                "frame {i}: wrong payload (out of order or torn)"
            );
        }
    }

    /// After a flood: the connection is open, the client reads every
    /// accepted frame (whole, in order, no reset), the queue drains and the
    /// connection serves on. Stops the engine.
    fn read_after_the_flood(mut self, accepted: usize, pool: &[Bytes]) {
        assert!(
            self.handle.is_alive(),
            "the flood closed the connection: {:?}",
            lock(&self.handler.closed)
        );
        self.read_frames(accepted, pool);
        wait_until(SETTLE, "the queue drained", || self.handle.queued_bytes() == 0);
        self.assert_unharmed();
        self.engine.stop();
    }

    /// The connection is still open and served; nothing closed it.
    fn assert_unharmed(&mut self) {
        assert!(self.handle.is_alive(), "the connection was closed");
        assert_eq!(*lock(&self.handler.closed), None);
        assert_eq!(self.engine.stats().closed_overflow, 0);
        self.round_trip_frame(b"still served");
        self.handle.async_write_frame("and from the handle").unwrap();
        let got = read_exact_within(&mut self.client, HEADER + 19, IO_TIMEOUT);
        assert_eq!(got, encode(b"and from the handle"));
    }
}

/// `payload`-byte frames with distinct contents, cheap to clone.
fn frame_pool(payload: usize) -> Vec<Bytes> {
    (1..=7u8).map(|b| Bytes::from(vec![b; payload])).collect()
}

/// What a flood of frames from one thread saw.
#[derive(Debug)]
struct FloodReport {
    accepted: usize,
    /// `queued` and `limit` of the `QueueFull` that ended it.
    refused_at: usize,
    limit: usize,
}

/// Writes frames from `pool` in turn until the first refusal, which must be
/// `QueueFull`.
fn flood_until_refused(handle: &ConnHandle, pool: &[Bytes]) -> FloodReport {
    let mut accepted = 0;
    loop {
        match handle.async_write_frame(pool[accepted % pool.len()].clone()) {
            Ok(()) => accepted += 1,
            Err(Error::QueueFull { queued, limit }) => {
                return FloodReport {
                    accepted,
                    refused_at: queued,
                    limit,
                }
            }
            Err(e) => panic!("frame {accepted} refused with {e:?}, not QueueFull"),
        }
    }
}

/// While the loop is held busy (a `call` that waits), floods the handle
/// with `payload`-byte frames from another thread until refused; then lets
/// the loop go and watches `queued_bytes` while it encodes what it was
/// given. Every figure is exact: nothing moves while the loop waits.
fn flood_a_busy_loop(payload: usize) {
    let s = setup();
    let pool = frame_pool(payload);
    let (busy_tx, busy_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    s.handle
        .call(move |_conn| {
            let _ = busy_tx.send(());
            let _ = release_rx.recv();
            Action::Continue
        })
        .unwrap();
    busy_rx.recv_timeout(IO_TIMEOUT).expect("the loop runs the call");
    let tasks_before = s.engine.stats().tasks_run;

    let writer = {
        let (handle, pool) = (s.handle.clone(), pool.clone());
        thread::spawn(move || flood_until_refused(&handle, &pool))
    };
    let report = writer.join().unwrap();
    let encoded = HEADER + payload;
    eprintln!(
        "{payload}-byte frames into a busy loop: {} accepted, refused at {} bytes queued (limit {})",
        report.accepted, report.refused_at, report.limit
    );
    assert_eq!(report.limit, CAP);
    assert_eq!(
        report.accepted,
        CAP / encoded,
        "frames accepted: each must count its {HEADER}-byte header against the cap"
    );
    assert_eq!(report.refused_at, report.accepted * encoded);
    assert_eq!(s.handle.queued_bytes(), report.accepted * encoded);

    // The loop takes every frame; the queue never passes the cap.
    release_tx.send(()).unwrap();
    let mut max_queued = 0;
    wait_until(Duration::from_secs(60), "the loop took every frame", || {
        max_queued = max_queued.max(s.handle.queued_bytes());
        s.engine.stats().tasks_run >= tasks_before + report.accepted as u64
    });
    max_queued = max_queued.max(s.handle.queued_bytes());
    eprintln!("{payload}-byte frames: queued_bytes() at most {max_queued} while the loop encoded them");
    assert!(
        max_queued <= CAP,
        "queued_bytes() reported {max_queued}, past the cap {CAP}"
    );
    s.read_after_the_flood(report.accepted, &pool);
}

#[test]
fn a_flood_of_1_byte_frames_into_a_busy_loop_counts_each_header_and_stops_at_the_cap() {
    flood_a_busy_loop(1);
}

#[test]
fn a_flood_of_64_kib_frames_into_a_busy_loop_counts_each_header_and_stops_at_the_cap() {
    flood_a_busy_loop(64 * KIB);
}

/// Floods `payload`-byte frames at a running loop and a client that does
/// not read, sampling `queued_bytes` from a third thread all along.
fn flood_a_running_loop(payload: usize) {
    let s = setup();
    let pool = frame_pool(payload);
    let tasks_before = s.engine.stats().tasks_run;
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let monitor = {
        let handle = s.handle.clone();
        thread::spawn(move || {
            let mut max = 0;
            while done_rx.try_recv().is_err() {
                max = max.max(handle.queued_bytes());
                thread::yield_now();
            }
            max
        })
    };
    let writer = {
        let (handle, pool) = (s.handle.clone(), pool.clone());
        thread::spawn(move || flood_until_refused(&handle, &pool))
    };
    let report = writer.join().unwrap();
    done_tx.send(()).unwrap();
    let max_queued = monitor.join().unwrap().max(s.handle.queued_bytes());
    eprintln!(
        "{payload}-byte frames into a running loop: {} accepted, refused at {} bytes queued (limit {}); \
         queued_bytes() at most {max_queued}",
        report.accepted, report.refused_at, report.limit
    );
    assert_eq!(report.limit, CAP);
    assert!(
        report.refused_at <= CAP,
        "a refusal reported {} bytes queued",
        report.refused_at
    );
    assert!(
        report.refused_at + HEADER + payload > CAP,
        "refused at {} bytes queued, with room for the frame",
        report.refused_at
    );
    assert!(
        max_queued <= CAP,
        "queued_bytes() reported {max_queued}, past the cap {CAP}"
    );
    // Let the loop take the last frames, then check the queue again.
    wait_until(SETTLE, "the loop took every frame", || {
        s.engine.stats().tasks_run >= tasks_before + report.accepted as u64
    });
    let queued = s.handle.queued_bytes();
    assert!(
        queued <= CAP,
        "{queued} bytes queued after the flood, past the cap {CAP}"
    );
    s.read_after_the_flood(report.accepted, &pool);
}

#[test]
fn a_flood_of_1_byte_frames_at_a_peer_that_does_not_read_is_refused_not_closed() {
    flood_a_running_loop(1);
}

#[test]
fn a_flood_of_64_kib_frames_at_a_peer_that_does_not_read_is_refused_not_closed() {
    flood_a_running_loop(64 * KIB);
}

fn assert_too_large(what: &str, result: netreactor::Result<()>, len: usize) {
    match result {
        Err(Error::TooLarge { len: l, limit }) => {
            assert_eq!((l, limit), (len, CAP), "{what}: TooLarge's figures")
        }
        other => panic!("{what}: expected TooLarge {{ len: {len}, limit: {CAP} }}, got {other:?}"),
    }
}

#[test]
fn a_write_larger_than_the_whole_cap_is_too_large_even_on_an_empty_queue() {
    let mut s = setup();
    let over = Bytes::from(vec![b'o'; CAP + 1]);
    assert_too_large("async_write of cap + 1", s.handle.async_write(over.clone()), CAP + 1);
    assert_too_large(
        "async_write_vectored of cap + 1 in two parts",
        s.handle
            .async_write_vectored([over.slice(..CAP / 2), over.slice(CAP / 2..)]),
        CAP + 1,
    );
    // A frame counts its header: a payload of cap - 3 encodes to cap + 1.
    assert_too_large(
        "async_write_frame of cap - 3 (cap + 1 with its header)",
        s.handle.async_write_frame(over.slice(..CAP - HEADER + 1)),
        CAP + 1,
    );
    assert_too_large(
        "async_write_frame of cap",
        s.handle.async_write_frame(over.slice(..CAP)),
        CAP + HEADER,
    );
    assert_eq!(s.handle.queued_bytes(), 0, "a refused write was counted");
    s.assert_unharmed();
    s.engine.stop();
}

#[test]
fn a_write_of_exactly_the_cap_on_an_empty_queue_is_accepted_and_delivered() {
    let mut s = setup();
    let whole: Vec<u8> = (0..CAP).map(|i| (i % 251) as u8).collect();
    let whole = Bytes::from(whole);
    s.handle.async_write(whole.clone()).expect("a write of exactly the cap");
    // Mostly still queued (the client has not read, and the kernel's
    // buffers are small): another write of the cap would fit an empty
    // queue, so it is QueueFull, not TooLarge: retrying later will work.
    match s.handle.async_write(whole.clone()) {
        Err(Error::QueueFull { queued, limit }) => {
            assert_eq!(limit, CAP);
            assert!(queued > 0 && queued <= CAP, "QueueFull reported {queued} bytes queued");
        }
        other => panic!("a second write of the cap behind a queued one: expected QueueFull, got {other:?}"),
    }
    let got = read_exact_within(&mut s.client, CAP, Duration::from_secs(60));
    assert!(got == whole[..], "the cap-sized write arrived altered");
    wait_until(SETTLE, "the queue drained", || s.handle.queued_bytes() == 0);

    // A frame whose encoding is exactly the cap.
    let payload = whole.slice(..CAP - HEADER);
    s.handle
        .async_write_frame(payload.clone())
        .expect("a frame of exactly the cap, header included");
    let got = read_exact_within(&mut s.client, CAP, Duration::from_secs(60));
    assert!(got == encode(&payload), "the cap-sized frame arrived altered");
    wait_until(SETTLE, "the queue drained", || s.handle.queued_bytes() == 0);
    s.assert_unharmed();
    s.engine.stop();
}
