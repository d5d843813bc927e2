//! Half-close: a peer's FIN is reported once (`on_eof`), queued output is
//! still flushed, staying half-open is opt-in, `shutdown_write` sends a FIN
//! while reading goes on, and a half-open connection costs no CPU.

mod util;

use std::io::Write;
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use netreactor::{Action, Bytes, CloseReason, Conn, ConnHandle, Engine, EventHandler, Service};
use util::*;

/// The kernel id of the calling thread (from the /proc/thread-self link).
fn current_tid() -> u32 {
    let link = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
    link.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot parse a tid from {link:?}"))
}

/// CPU time (user + system) a thread of this process has used, from
/// /proc/self/task/<tid>/stat (fields 14 and 15, in USER_HZ = 100 ticks/s).
fn thread_cpu(tid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).expect("thread stat");
    // The command name may contain spaces: fields are counted after its ')'.
    let after = &stat[stat.rfind(')').expect("stat has (comm)") + 1..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// Echo with a configurable `on_eof`; counts EOFs, hands out handles.
struct HalfClose {
    /// What `on_eof` returns.
    on_eof: Action,
    /// `on_eof` schedules a timer with this token (the reply comes later).
    timer_on_eof: Option<u64>,
    eofs: AtomicUsize,
    eof_handles: Mutex<Option<mpsc::Sender<ConnHandle>>>,
    loop_tid: Mutex<Option<u32>>,
    rec: Recorder,
}

impl HalfClose {
    fn new(on_eof: Action) -> Self {
        HalfClose {
            on_eof,
            timer_on_eof: None,
            eofs: AtomicUsize::new(0),
            eof_handles: Mutex::new(None),
            loop_tid: Mutex::new(None),
            rec: Recorder::default(),
        }
    }

    fn reason_of(&self, peer: SocketAddr) -> String {
        self.rec.wait_close_of(peer, |r| format!("{r:?}"))
    }
}

impl EventHandler for HalfClose {
    fn on_open(&self, conn: &mut Conn) -> Action {
        *lock(&self.loop_tid) = Some(current_tid());
        self.rec.open(conn);
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }

    fn on_eof(&self, conn: &mut Conn) -> Action {
        self.eofs.fetch_add(1, Ordering::SeqCst);
        if let Some(tx) = lock(&self.eof_handles).as_ref() {
            tx.send(conn.handle()).unwrap();
        }
        if let Some(token) = self.timer_on_eof {
            conn.schedule(Duration::from_millis(100), token);
        }
        self.on_eof
    }

    fn on_timer(&self, conn: &mut Conn, token: u64) -> Action {
        // The read side is closed already: after this FIN the connection is
        // done and closes by itself.
        conn.write(format!("timer reply {token}").as_bytes());
        conn.shutdown_write();
        Action::Continue
    }

    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.rec.close(conn, reason);
    }
}

#[test]
fn peer_shutdown_write_is_reported_and_output_flushed() {
    const LEN: usize = 1 << 20;
    let h = Arc::new(HalfClose::new(Action::Close));
    let engine = start(Engine::builder().event_loops(2), h.clone());
    let mut s = connect(engine.local_addr());
    let peer = s.local_addr().unwrap();
    let data = Arc::new(Rng::new(3).bytes(LEN));

    let mut reader = s.try_clone().unwrap();
    let reading = thread::spawn(move || read_to_eof(&mut reader, Duration::from_secs(10)));
    s.write_all(&data).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    // Every echoed byte, then EOF: the FIN did not cut the echo short.
    let echoed = reading.join().unwrap();
    assert_eq!(echoed.len(), LEN);
    assert_eq!(first_difference(&echoed, &data), None);

    assert_eq!(h.reason_of(peer), "PeerEof");
    assert_eq!(h.eofs.load(Ordering::SeqCst), 1, "on_eof calls");
    assert_eq!(engine.stats().closed_peer_eof, 1);
    engine.stop();
}

#[test]
fn half_open_is_opt_in_reply_from_another_thread_after_eof() {
    let (tx, rx) = mpsc::channel();
    let h = Arc::new(HalfClose::new(Action::Continue));
    *lock(&h.eof_handles) = Some(tx);
    let engine = start(Engine::builder().event_loops(2), h.clone());
    let mut s = connect(engine.local_addr());
    let peer = s.local_addr().unwrap();

    s.write_all(b"question").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let handle = rx.recv_timeout(IO_TIMEOUT).expect("on_eof ran");
    // on_eof returned Continue: the connection is still open, half-closed.
    assert!(handle.is_alive());
    assert_eq!(h.rec.closes(), 0);
    assert_eq!(engine.connection_count(), 1);

    handle
        .async_write(Bytes::from_static(b" / answer from another thread"))
        .unwrap();
    handle.close().unwrap();
    assert_eq!(
        read_to_eof(&mut s, IO_TIMEOUT),
        b"question / answer from another thread"
    );
    assert_eq!(h.reason_of(peer), "Local");
    assert_eq!(h.eofs.load(Ordering::SeqCst), 1);
    engine.stop();
}

#[test]
fn half_open_is_opt_in_reply_on_a_timer_then_shutdown_write_closes() {
    let mut handler = HalfClose::new(Action::Continue);
    handler.timer_on_eof = Some(7);
    let h = Arc::new(handler);
    let engine = start(Engine::builder().event_loops(1), h.clone());
    let mut s = connect(engine.local_addr());
    let peer = s.local_addr().unwrap();

    s.write_all(b"ping").unwrap();
    let fin_sent = Instant::now();
    s.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_eof(&mut s, IO_TIMEOUT), b"pingtimer reply 7");
    assert!(
        fin_sent.elapsed() >= Duration::from_millis(100),
        "the reply came before the timer could fire"
    );
    // Reading had ended, so the FIN after the reply completes the close.
    assert_eq!(h.reason_of(peer), "Local");
    assert_eq!(h.eofs.load(Ordering::SeqCst), 1);
    engine.stop();
}

/// Replies once, then shuts its sending side and records what still comes in.
#[derive(Default)]
struct ReplyThenFin {
    after_fin: Mutex<Vec<u8>>,
    eofs: AtomicUsize,
    rec: Recorder,
}

impl Service for ReplyThenFin {
    type State = bool; // replied

    fn on_traffic(&self, conn: &mut Conn, replied: &mut bool) -> Action {
        let data = conn.take_inbound();
        if !*replied {
            *replied = true;
            conn.write(b"reply to ");
            conn.write(&data);
            conn.shutdown_write();
            conn.write(b"dropped: written after shutdown_write");
        } else {
            lock(&self.after_fin).extend_from_slice(&data);
        }
        Action::Continue
    }

    fn on_eof(&self, _conn: &mut Conn, _: &mut bool) -> Action {
        self.eofs.fetch_add(1, Ordering::SeqCst);
        Action::Close
    }

    fn on_close(&self, conn: &mut Conn, _: &mut bool, reason: CloseReason) {
        self.rec.close(conn, reason);
    }
}

#[test]
fn server_shutdown_write_sends_fin_and_keeps_reading() {
    let h = Arc::new(ReplyThenFin::default());
    let engine = start(Engine::builder().event_loops(2), h.clone());
    let mut s = connect(engine.local_addr());
    let peer = s.local_addr().unwrap();

    s.write_all(b"hi").unwrap();
    assert_eq!(read_to_eof(&mut s, IO_TIMEOUT), b"reply to hi");

    // Our sending side is still open, and the server still reads it.
    s.write_all(b"after the server's FIN").unwrap();
    wait_for(
        SETTLE,
        "the server received the bytes sent after its FIN",
        || lock(&h.after_fin).clone(),
        |got| got == b"after the server's FIN",
    );
    s.write_all(b", and more").unwrap();
    wait_for(
        SETTLE,
        "the server received the second batch",
        || String::from_utf8_lossy(&lock(&h.after_fin)).into_owned(),
        |got| got == "after the server's FIN, and more",
    );
    assert_eq!(h.rec.closes(), 0, "closed while the peer was still sending");

    s.shutdown(Shutdown::Write).unwrap();
    assert!(h.rec.wait_close_of(peer, |r| matches!(r, CloseReason::PeerEof)));
    assert_eq!(h.eofs.load(Ordering::SeqCst), 1);
    engine.stop();
}

#[test]
fn no_spin_after_eof_half_open_connection_costs_no_cpu() {
    let (tx, rx) = mpsc::channel();
    let h = Arc::new(HalfClose::new(Action::Continue));
    *lock(&h.eof_handles) = Some(tx);
    let engine = start(Engine::builder().event_loops(1), h.clone());
    let mut s = connect(engine.local_addr());
    round_trip(&mut s, b"x");
    s.shutdown(Shutdown::Write).unwrap();
    let handle = rx.recv_timeout(IO_TIMEOUT).expect("on_eof ran");
    let tid = lock(&h.loop_tid).expect("on_open recorded the loop thread");

    // Half-open for a second: the loop thread must sleep, not spin on the
    // readable-at-EOF socket.
    let cpu_before = thread_cpu(tid);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(1) {
        thread::sleep(Duration::from_millis(50)); // the measuring window, not a synchronisation
    }
    let used = thread_cpu(tid) - cpu_before;
    assert!(
        used < Duration::from_millis(100),
        "the loop used {used:?} of CPU in 1 s half-open"
    );
    assert_eq!(h.eofs.load(Ordering::SeqCst), 1, "on_eof once");

    // Still alive and writable.
    handle.async_write(Bytes::from_static(b"still here")).unwrap();
    handle.close().unwrap();
    assert_eq!(read_to_eof(&mut s, IO_TIMEOUT), b"still here");
    engine.stop();
}

#[test]
fn reset_of_a_half_open_connection_closes_it_with_peer_reset() {
    let (tx, rx) = mpsc::channel();
    let h = Arc::new(HalfClose::new(Action::Continue));
    *lock(&h.eof_handles) = Some(tx);
    let engine = start(Engine::builder().event_loops(1), h.clone());
    let mut s = connect(engine.local_addr());
    let peer = s.local_addr().unwrap();
    round_trip(&mut s, b"x");
    s.shutdown(Shutdown::Write).unwrap();
    let _handle = rx.recv_timeout(IO_TIMEOUT).expect("on_eof ran");

    // Read interest is gone after EOF; the hang-up of a reset must still be
    // noticed.
    socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO)).unwrap();
    drop(s);
    assert_eq!(h.reason_of(peer), "PeerReset");
    wait_until(SETTLE, "the connection is no longer counted", || {
        engine.connection_count() == 0
    });
    engine.stop();
}
