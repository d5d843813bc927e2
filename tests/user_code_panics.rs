//! User code that runs on an engine thread outside the connection callbacks
//! (a load balancer's `pick` on the acceptor, an encoder run for
//! `ConnHandle::async_write_frame`, a connection state's `Drop`, and
//! `on_boot`) may panic: the panic costs at most the one connection it
//! concerns, never a loop, the acceptor or the engine, and a panic in
//! `on_boot` is an error from `start`/`run`, not a panic of the caller.
//!
//! Before issue 14's hardening each of these panics unwound an engine thread
//! (or the caller of `start`): the acceptor died at the first bad `pick`, a
//! loop died with every connection it served.

mod util;

use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use netreactor::codec::{Decoder, Encoder};
use netreactor::{
    Action, Bytes, BytesMut, CloseReason, Conn, ConnHandle, Engine, EngineHandle, Error, EventHandler, LoadBalancer,
    LoopLoads, Service,
};
use util::*;

// ---------------------------------------------------------------------------
// (a) LoadBalancer::pick panics on the acceptor thread.

/// Panics on calls `0, every, 2*every, ...`; the calls in between pick loop 0.
struct PanickyBalancer {
    calls: Arc<AtomicUsize>,
    every: usize,
}

impl LoadBalancer for PanickyBalancer {
    fn pick(&self, _peer: Option<SocketAddr>, _loads: LoopLoads<'_>) -> usize {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n.is_multiple_of(self.every) {
            panic!("balancer exploded on call {n}");
        }
        0
    }
}

/// Starts an echo engine with `loops` loops and a balancer that panics on
/// every `every`-th pick; returns it, its recorder and the pick counter.
fn panicky_balancer_engine(loops: usize, every: usize) -> (util::Engine, Arc<Recorder>, Arc<AtomicUsize>) {
    let rec = Arc::new(Recorder::default());
    let calls = Arc::new(AtomicUsize::new(0));
    let engine = start(
        Engine::builder().event_loops(loops).load_balancer(PanickyBalancer {
            calls: calls.clone(),
            every,
        }),
        RecordingEcho { rec: rec.clone() },
    );
    (engine, rec, calls)
}

/// Connects `n` clients one after another (each served before the next
/// connects, so accept order is connect order) and returns each with the
/// loop that serves it.
fn connect_in_order(engine: &util::Engine, rec: &Recorder, n: usize) -> Vec<(TcpStream, usize)> {
    (0..n)
        .map(|i| {
            let mut s = connect(engine.local_addr());
            round_trip(&mut s, format!("client {i}").as_bytes());
            let lp = rec.wait_loop_of(&s);
            (s, lp)
        })
        .collect()
}

/// After a stop: the engine is stopped, every client sees an orderly end of
/// file (the stop flushed and closed them), and the port refuses.
fn assert_stopped_completely(engine: &util::Engine, clients: Vec<(TcpStream, usize)>) {
    let addr = engine.local_addr();
    engine.stop();
    assert!(engine.is_stopped(), "stop returned but the engine is not stopped");
    for (mut s, _) in clients {
        expect_eof(&mut s, IO_TIMEOUT);
    }
    assert_eq!(engine.connection_count(), 0);
    assert!(
        TcpStream::connect(addr).is_err(),
        "the listener must be closed after the stop"
    );
}

#[test]
fn balancer_that_always_panics_leaves_the_acceptor_serving_each_loop_in_turn() {
    const LOOPS: usize = 3;
    let (engine, rec, calls) = panicky_balancer_engine(LOOPS, 1);
    let mut clients = connect_in_order(&engine, &rec, 7);
    assert_eq!(calls.load(Ordering::SeqCst), 7, "pick was called once per connection");

    // Every pick panicked: each connection went to the next loop in turn.
    let loops: Vec<usize> = clients.iter().map(|(_, lp)| *lp).collect();
    for w in loops.windows(2) {
        assert_eq!(w[1], (w[0] + 1) % LOOPS, "loops in accept order: {loops:?}");
    }
    // All of them are still served, after all those panics.
    for (i, (s, _)) in clients.iter_mut().enumerate() {
        round_trip(s, format!("still served {i}").as_bytes());
    }
    assert_eq!(engine.connection_count(), 7);
    assert_eq!(rec.closes(), 0);
    assert_stopped_completely(&engine, clients);
    assert_eq!(rec.closes(), 7, "on_close ran for every connection at the stop");
}

#[test]
fn balancer_that_panics_every_other_call_is_obeyed_when_it_answers() {
    const LOOPS: usize = 3;
    let (engine, rec, calls) = panicky_balancer_engine(LOOPS, 2);
    let mut clients = connect_in_order(&engine, &rec, 8);
    assert_eq!(calls.load(Ordering::SeqCst), 8);

    // Calls 1, 3, 5, 7 answered 0 and were obeyed; calls 0, 2, 4, 6 panicked
    // and their connections went to the loops in turn.
    let answered: Vec<usize> = clients.iter().skip(1).step_by(2).map(|(_, lp)| *lp).collect();
    assert_eq!(answered, [0, 0, 0, 0], "connections whose pick answered");
    let fell_back: Vec<usize> = clients.iter().step_by(2).map(|(_, lp)| *lp).collect();
    for w in fell_back.windows(2) {
        assert_eq!(w[1], (w[0] + 1) % LOOPS, "loops of the panicked picks: {fell_back:?}");
    }
    for (i, (s, _)) in clients.iter_mut().enumerate() {
        round_trip(s, format!("still served {i}").as_bytes());
    }
    assert_stopped_completely(&engine, clients);
}

// ---------------------------------------------------------------------------
// (b) An encoder that panics when run for ConnHandle::async_write_frame.

/// A frame that makes [`TripwireCodec`] panic when asked to encode it.
const TRIP: &[u8] = b"TRIP";
const TRIP_MESSAGE: &str = "encoder tripped over a frame";

/// Every chunk received is one frame; encoding copies the frame, except one
/// that starts with [`TRIP`], which panics.
#[derive(Debug, Clone)]
struct TripwireCodec;

impl Decoder for TripwireCodec {
    type Item = Bytes;
    type Error = String;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, String> {
        Ok((!src.is_empty()).then(|| src.split().freeze()))
    }
}

impl Encoder<&[u8]> for TripwireCodec {
    type Error = String;

    fn encode(&mut self, item: &[u8], dst: &mut BytesMut) -> Result<(), String> {
        if item.starts_with(TRIP) {
            panic!("{TRIP_MESSAGE} ({} bytes)", item.len());
        }
        dst.extend_from_slice(item);
        Ok(())
    }
}

/// Echoes frames; keeps every connection's handle by peer address.
#[derive(Default)]
struct FrameEchoWithHandles {
    rec: Arc<Recorder>,
    handles: Mutex<HashMap<SocketAddr, ConnHandle>>,
}

impl FrameEchoWithHandles {
    fn handle_of(&self, s: &TcpStream) -> ConnHandle {
        let peer = s.local_addr().unwrap();
        let mut found = None;
        wait_until(SETTLE, "on_open stored the handle", || {
            found = lock(&self.handles).get(&peer).cloned();
            found.is_some()
        });
        found.unwrap()
    }
}

impl EventHandler for FrameEchoWithHandles {
    fn on_open(&self, conn: &mut Conn) -> Action {
        self.rec.open(conn);
        let handle = conn.handle();
        lock(&self.handles).insert(conn.peer_addr().unwrap(), handle);
        Action::Continue
    }

    fn on_frame(&self, conn: &mut Conn, frame: netreactor::Frame<'_>) -> Action {
        conn.write_frame(&frame).map_or(Action::Close, |_| Action::Continue)
    }

    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.rec.close(conn, reason);
    }
}

#[test]
fn encoder_panic_on_the_task_path_closes_only_that_connection_with_handler_panic() {
    let handler = Arc::new(FrameEchoWithHandles::default());
    let engine = start(Engine::builder().event_loops(2).codec(TripwireCodec), handler.clone());
    let rec = &handler.rec;
    // Round robin: the victim and the bystander share a loop, another
    // client is on the other loop.
    let mut clients = connect_in_order(&engine, rec, 3);
    let (victim_loop, other_loop, bystander_loop) = (clients[0].1, clients[1].1, clients[2].1);
    assert_eq!(victim_loop, bystander_loop, "round robin with 2 loops");
    assert_ne!(victim_loop, other_loop, "round robin with 2 loops");
    let victim_handle = handler.handle_of(&clients[0].0);
    let bystander_handle = handler.handle_of(&clients[2].0);

    // The encoder runs on the victim's loop, for the task, and panics there.
    victim_handle
        .async_write_frame(Bytes::from_static(b"TRIP wire"))
        .expect("the write is accepted; the encoder runs later, on the loop");
    let victim_peer = clients[0].0.local_addr().unwrap();
    let msg = rec.wait_close_of(victim_peer, |r| match r {
        CloseReason::HandlerPanic(m) => m.clone(),
        other => panic!("the victim closed with {other:?}, not HandlerPanic"),
    });
    assert!(msg.contains(TRIP_MESSAGE), "panic message {msg:?}");
    // Nothing was queued for the victim: its peer sees an orderly end.
    let (mut victim, _) = clients.remove(0);
    expect_eof(&mut victim, IO_TIMEOUT);
    assert!(!victim_handle.is_alive());
    assert!(matches!(
        victim_handle.async_write_frame(Bytes::from_static(b"late")),
        Err(Error::ConnectionClosed)
    ));

    // The loop lives on: the bystander on the same loop is served, by the
    // task path (the same encoder) and by its own requests.
    bystander_handle
        .async_write_frame(Bytes::from_static(b"from a handle"))
        .unwrap();
    let bystander = &mut clients[1].0;
    assert_eq!(read_exact_within(bystander, 13, IO_TIMEOUT), b"from a handle");
    round_trip(bystander, b"still served");
    round_trip(&mut clients[0].0, b"the other loop too");
    wait_until(SETTLE, "the victim left the connection count", || {
        engine.connection_count() == 2
    });
    assert_eq!(rec.closes(), 1, "only the victim closed");

    // Round robin goes on where it was: loops alternate for new clients.
    let mut newcomers = connect_in_order(&engine, rec, 4);
    let loops: Vec<usize> = newcomers.iter().map(|(_, lp)| *lp).collect();
    assert_eq!(loops, [other_loop, victim_loop, other_loop, victim_loop]);
    for (s, _) in &mut newcomers {
        round_trip(s, b"new");
    }
    assert_eq!(engine.connection_count(), 6);
    engine.stop();
    assert_eq!(rec.closes(), 7);
}

// ---------------------------------------------------------------------------
// (c) A connection state whose Drop panics.

const GRENADE_MESSAGE: &str = "state exploded while being dropped";

/// A state value whose `Drop` panics.
struct Grenade;

impl Drop for Grenade {
    fn drop(&mut self) {
        panic!("{GRENADE_MESSAGE}");
    }
}

/// Echoes; "arm" stores a [`Grenade`] in the connection's state (answers
/// "armed").
struct ArmsGrenades {
    rec: Arc<Recorder>,
}

impl Service for ArmsGrenades {
    type State = Option<Grenade>;

    fn on_open(&self, conn: &mut Conn, _: &mut Option<Grenade>) -> Action {
        self.rec.open(conn);
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn, grenade: &mut Option<Grenade>) -> Action {
        if conn.peek_all() == b"arm" {
            conn.discard(3);
            *grenade = Some(Grenade);
            conn.write(b"armed");
        } else {
            conn.echo_all();
        }
        Action::Continue
    }

    fn on_close(&self, conn: &mut Conn, _: &mut Option<Grenade>, reason: CloseReason) {
        self.rec.close(conn, reason);
    }
}

#[test]
fn a_state_whose_drop_panics_does_not_take_the_loop_down() {
    let rec = Arc::new(Recorder::default());
    let engine = start(Engine::builder().event_loops(1), ArmsGrenades { rec: rec.clone() });
    let addr = engine.local_addr();
    let mut bystander = connect(addr);
    round_trip(&mut bystander, b"hello");

    // Three connections in a row drop a panicking state as they close:
    // the peer closes, on_close runs, then the state is dropped.
    for i in 0..3 {
        let mut armed = connect(addr);
        armed.write_all(b"arm").unwrap();
        assert_eq!(read_exact_within(&mut armed, 5, IO_TIMEOUT), b"armed");
        let peer = armed.local_addr().unwrap();
        finish(armed);
        let reason = rec.wait_close_of(peer, CloseReason::clone);
        assert_eq!(reason, CloseReason::PeerEof, "close {i}");
        wait_until(SETTLE, "the closed connection left the count", || {
            engine.connection_count() == 1
        });
        round_trip(&mut bystander, format!("after grenade {i}").as_bytes());
    }

    // The one loop still accepts and serves new connections.
    let mut newcomer = connect(addr);
    round_trip(&mut newcomer, b"new");
    assert_eq!(engine.connection_count(), 2);
    assert_eq!(rec.opens(), 5);
    assert_eq!(rec.closes(), 3);

    // A grenade still armed at the stop is dropped on the loop as it
    // closes the connection: the stop completes all the same.
    newcomer.write_all(b"arm").unwrap();
    assert_eq!(read_exact_within(&mut newcomer, 5, IO_TIMEOUT), b"armed");
    engine.stop();
    assert!(engine.is_stopped());
    expect_eof(&mut newcomer, IO_TIMEOUT);
    expect_eof(&mut bystander, IO_TIMEOUT);
    assert_eq!(rec.closes(), 5);
}

// ---------------------------------------------------------------------------
// (d) A panic in on_boot.

const BOOT_MESSAGE: &str = "on_boot refused to boot";

/// Panics in `on_boot` with a formatted message.
struct PanicsOnBoot;

impl EventHandler for PanicsOnBoot {
    fn on_boot(&self, _engine: &EngineHandle) -> Action {
        panic!("{BOOT_MESSAGE}: code {}", 42);
    }
}

/// An address whose port was free a moment ago (the OS picked it).
fn free_local_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

fn assert_boot_failure(result: netreactor::Result<()>) {
    match result {
        Err(Error::EngineFailed(msg)) => assert!(
            msg.contains(BOOT_MESSAGE) && msg.contains("code 42"),
            "the error must carry the panic message: {msg:?}"
        ),
        other => panic!("expected Err(EngineFailed), got {other:?}"),
    }
}

#[test]
fn on_boot_panic_makes_start_fail_with_engine_failed_and_frees_the_port() {
    let addr = free_local_addr();
    let result = Engine::builder()
        .event_loops(2)
        .start(PanicsOnBoot, format!("tcp://{addr}"))
        .map(|_| ());
    assert_boot_failure(result);
    // The listener was closed: the port can be bound again at once.
    let again = TcpListener::bind(addr).expect("the failed engine must release its port");
    drop(again);
}

#[test]
fn on_boot_panic_makes_run_return_engine_failed_and_frees_the_port() {
    let addr = free_local_addr();
    assert_boot_failure(
        Engine::builder()
            .event_loops(2)
            .run(PanicsOnBoot, format!("tcp://{addr}")),
    );
    let again = TcpListener::bind(addr).expect("the failed engine must release its port");
    drop(again);
}
