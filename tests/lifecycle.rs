//! Connection and engine callbacks: each runs exactly once, on the right
//! thread, with the right close reason.

mod util;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netreactor::{Action, Bytes, CloseReason, Conn, Engine, EngineHandle, EventHandler};
use util::*;

#[test]
fn open_and_close_run_exactly_once_per_connection_on_its_loop_thread() {
    const CLIENTS: usize = 60;
    let rec = Arc::new(Recorder::default());
    let engine = start(Engine::builder().event_loops(4), RecordingEcho { rec: rec.clone() });
    let addr = engine.local_addr();

    let mut clients: Vec<_> = (0..CLIENTS).map(|_| connect(addr)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        round_trip(c, format!("hello {i}").as_bytes());
    }
    let peers: Vec<SocketAddr> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
    assert_eq!(rec.opens(), CLIENTS);
    assert_eq!(engine.connection_count(), CLIENTS);

    // Half close politely, half just drop their socket.
    for (i, c) in clients.into_iter().enumerate() {
        if i % 2 == 0 {
            finish(c);
        } else {
            drop(c);
        }
    }
    wait_until(SETTLE, "every connection got on_close", || rec.closes() == CLIENTS);
    wait_until(SETTLE, "connection_count() is back to 0", || {
        engine.connection_count() == 0
    });
    engine.stop();
    // Stopping closes nothing a second time.
    assert_eq!(rec.closes(), CLIENTS);

    let opened = lock(&rec.opened);
    let closed = lock(&rec.closed);
    assert_eq!(opened.len(), CLIENTS);
    let mut loops_used = HashSet::new();
    let mut ids = HashSet::new();
    for peer in &peers {
        let opens: Vec<_> = opened.iter().filter(|o| o.peer == Some(*peer)).collect();
        let closes: Vec<_> = closed.iter().filter(|c| c.peer == Some(*peer)).collect();
        assert_eq!(opens.len(), 1, "on_open count for {peer}");
        assert_eq!(closes.len(), 1, "on_close count for {peer}");
        let (o, c) = (opens[0], closes[0]);
        assert!(o.thread.starts_with("nr-loop-"), "on_open ran on {:?}", o.thread);
        assert_eq!(o.thread, c.thread, "on_open and on_close threads for {peer}");
        assert_eq!(o.id, c.id, "ConnId seen by on_open and on_close for {peer}");
        assert!(
            ids.insert((o.thread.clone(), o.id)),
            "(loop, ConnId) {:?}/{} given to two connections",
            o.thread,
            o.id
        );
        assert!(
            matches!(c.reason, CloseReason::PeerEof | CloseReason::PeerReset),
            "client-initiated close reported as {:?}",
            c.reason
        );
        loops_used.insert(o.thread.clone());
    }
    assert_eq!(loops_used.len(), 4, "round robin over 4 loops uses all of them");
}

#[test]
fn connection_count_returns_to_zero_after_clients_disconnect() {
    let engine = start(Engine::builder().event_loops(3), Echo);
    assert_eq!(engine.connection_count(), 0);
    let clients: Vec<_> = (0..30).map(|_| connect(engine.local_addr())).collect();
    wait_until(SETTLE, "30 connections are counted", || engine.connection_count() == 30);
    assert_eq!(engine.loop_connection_counts().iter().sum::<usize>(), 30);
    drop(clients);
    wait_until(SETTLE, "connection_count() is back to 0", || {
        engine.connection_count() == 0
    });
    assert_eq!(engine.loop_connection_counts(), vec![0, 0, 0]);
    engine.stop();
}

#[test]
fn client_close_is_reported_as_peer_eof() {
    let rec = Arc::new(Recorder::default());
    let engine = start(Engine::builder().event_loops(2), RecordingEcho { rec: rec.clone() });
    let mut s = connect(engine.local_addr());
    round_trip(&mut s, b"ping");
    let peer = s.local_addr().unwrap();
    finish(s);
    let reason = rec.wait_close_of(peer, |r| format!("{r:?}"));
    assert_eq!(reason, "PeerEof");
    engine.stop();
    assert_eq!(rec.closes(), 1);
}

const FAREWELL_BYTES: usize = 512 * 1024;

fn farewell() -> Vec<u8> {
    (0..FAREWELL_BYTES).map(|i| (i % 251) as u8).chain(*b"END").collect()
}

/// Echoes, except that on "bye" it writes a large farewell and returns
/// `Action::Close`.
struct CloseOnBye {
    rec: Arc<Recorder>,
    farewell: Bytes,
}

impl EventHandler for CloseOnBye {
    fn on_open(&self, conn: &mut Conn) -> Action {
        self.rec.open(conn);
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        if conn.peek_all() == b"bye" {
            conn.discard(3);
            conn.write_bytes(self.farewell.clone());
            return Action::Close;
        }
        conn.echo_all();
        Action::Continue
    }

    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.rec.close(conn, reason);
    }
}

#[test]
fn action_close_is_local_and_flushes_what_was_written_first() {
    let rec = Arc::new(Recorder::default());
    let engine = start(
        Engine::builder().event_loops(1),
        CloseOnBye {
            rec: rec.clone(),
            farewell: Bytes::from(farewell()),
        },
    );
    let mut s = connect(engine.local_addr());
    round_trip(&mut s, b"hi");
    s.write_all(b"bye").unwrap();
    let got = read_to_eof(&mut s, Duration::from_secs(10));
    let want = farewell();
    assert_eq!(got.len(), want.len(), "bytes before EOF");
    assert!(
        got == want,
        "farewell content differs at {:?}",
        first_difference(&got, &want)
    );
    let peer = s.local_addr().unwrap();
    let reason = rec.wait_close_of(peer, |r| format!("{r:?}"));
    assert_eq!(reason, "Local");
    engine.stop();
    assert_eq!(rec.closes(), 1);
}

#[derive(Default)]
struct BootShutdownState {
    boots: AtomicUsize,
    shutdowns: AtomicUsize,
    boot_thread: Mutex<Option<String>>,
    boot_addr: Mutex<Option<SocketAddr>>,
    shutdown_thread: Mutex<Option<String>>,
    shutdown_saw_stopped: Mutex<Option<bool>>,
    rec: Recorder,
}

struct BootShutdown(Arc<BootShutdownState>);

impl EventHandler for BootShutdown {
    fn on_boot(&self, engine: &EngineHandle) -> Action {
        self.0.boots.fetch_add(1, Ordering::SeqCst);
        *lock(&self.0.boot_thread) = Some(thread_name());
        *lock(&self.0.boot_addr) = Some(engine.local_addr());
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }

    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.0.rec.close(conn, reason);
    }

    fn on_shutdown(&self, engine: &EngineHandle) {
        self.0.shutdowns.fetch_add(1, Ordering::SeqCst);
        *lock(&self.0.shutdown_thread) = Some(thread_name());
        *lock(&self.0.shutdown_saw_stopped) = Some(engine.is_stopped());
    }
}

#[test]
fn boot_and_shutdown_each_run_exactly_once() {
    let h = Arc::new(BootShutdownState::default());
    let engine = start(Engine::builder().event_loops(2), BootShutdown(h.clone()));
    assert_eq!(h.boots.load(Ordering::SeqCst), 1, "on_boot ran before start returned");
    assert_eq!(lock(&h.boot_thread).as_deref(), Some(thread_name().as_str()));
    assert_eq!(*lock(&h.boot_addr), Some(engine.local_addr()));
    assert_eq!(h.shutdowns.load(Ordering::SeqCst), 0);

    let mut clients: Vec<_> = (0..4).map(|_| connect(engine.local_addr())).collect();
    for c in &mut clients {
        round_trip(c, b"x");
    }
    engine.stop();
    assert!(engine.is_stopped());
    assert_eq!(h.shutdowns.load(Ordering::SeqCst), 1);
    assert_eq!(lock(&h.shutdown_thread).as_deref(), Some("nr-accept"));
    assert_eq!(*lock(&h.shutdown_saw_stopped), Some(false));
    for c in &mut clients {
        expect_eof(c, IO_TIMEOUT);
    }
    assert_eq!(h.rec.closes(), 4);
    assert!(lock(&h.rec.closed)
        .iter()
        .all(|c| matches!(c.reason, CloseReason::Shutdown)));

    // Stopping again, or waiting, runs nothing more.
    engine.stop();
    engine.wait().expect("a clean stop");
    assert_eq!(h.boots.load(Ordering::SeqCst), 1);
    assert_eq!(h.shutdowns.load(Ordering::SeqCst), 1);
    assert_eq!(h.rec.closes(), 4);
}

/// `loop_connection_counts()` agrees with the loop threads that ran `on_open`.
#[test]
fn per_loop_counts_match_on_open_threads() {
    let rec = Arc::new(Recorder::default());
    let engine = start(Engine::builder().event_loops(3), RecordingEcho { rec: rec.clone() });
    let mut clients: Vec<_> = (0..12).map(|_| connect(engine.local_addr())).collect();
    for c in &mut clients {
        round_trip(c, b"k");
    }
    let mut by_loop: HashMap<usize, usize> = HashMap::new();
    for o in lock(&rec.opened).iter() {
        *by_loop.entry(loop_index(&o.thread)).or_default() += 1;
    }
    let counts = engine.loop_connection_counts();
    for (i, &n) in counts.iter().enumerate() {
        assert_eq!(by_loop.get(&i).copied().unwrap_or(0), n, "loop {i}: {counts:?}");
    }
    drop(clients);
    engine.stop();
}
