//! Connection identity across loops, and the small API conveniences of
//! issue 14: a `ConnId` is unique engine-wide and names its loop, so it can
//! key one map shared by every loop; `ConnHandle` is `Hash + Eq`;
//! `async_write` takes the usual byte types; `CloseReason` is
//! `Clone + PartialEq`; a custom `LoadBalancer` needs no `Debug`.
//!
//! Before the fixes ids were per loop (the first connection of every loop
//! had the same id, so a map keyed by id lost members across loops), and
//! each of the conveniences failed to compile.

mod util;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use netreactor::{
    Action, Bytes, CloseReason, Conn, ConnHandle, ConnId, Engine, EventHandler, LoadBalancer, LoopLoads,
};
use util::*;

#[test]
fn ids_are_unique_across_4_loops_and_name_the_loop_that_serves_them() {
    let rec = Arc::new(Recorder::default());
    let engine = start(Engine::builder().event_loops(4), RecordingEcho { rec: rec.clone() });
    let mut clients: Vec<TcpStream> = (0..40).map(|_| connect(engine.local_addr())).collect();
    for (i, s) in clients.iter_mut().enumerate() {
        round_trip(s, format!("client {i}").as_bytes());
    }
    wait_until(SETTLE, "on_open ran for all 40", || rec.opens() == 40);

    let opened = lock(&rec.opened);
    let ids: HashSet<ConnId> = opened.iter().map(|o| o.id).collect();
    assert_eq!(ids.len(), 40, "ids collide: {:?}", opened.iter().map(|o| o.id).collect::<Vec<_>>());
    let mut per_loop = [0usize; 4];
    for o in opened.iter() {
        let serving = loop_index(&o.thread);
        assert_eq!(o.id.event_loop(), serving, "id {} opened on {}", o.id, o.thread);
        per_loop[serving] += 1;
    }
    assert_eq!(per_loop, [10; 4], "round robin over 4 loops");
    // The printed id leads with the loop too.
    for o in opened.iter() {
        assert!(o.id.to_string().starts_with(&format!("{}.", o.id.event_loop())));
    }
}

/// A chat room keyed by `ConnId`, one map for all loops: every line a
/// member sends goes to every other member.
#[derive(Default)]
struct Chat {
    members: Mutex<HashMap<ConnId, ConnHandle>>,
    closes: Mutex<Vec<(ConnId, CloseReason)>>,
}

impl EventHandler for Chat {
    fn on_open(&self, conn: &mut Conn) -> Action {
        let handle = conn.handle();
        let previous = lock(&self.members).insert(conn.id(), handle);
        assert!(previous.is_none(), "id {} was already a member", conn.id());
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        while let Some(end) = conn.peek_all().iter().position(|&b| b == b'\n') {
            let line = conn.next(end + 1).expect("the line is there");
            for (id, member) in lock(&self.members).iter() {
                if *id != conn.id() {
                    member.async_write(line.clone()).expect("members are alive");
                }
            }
        }
        Action::Continue
    }

    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        lock(&self.members).remove(&conn.id());
        lock(&self.closes).push((conn.id(), reason));
    }
}

#[test]
fn chat_keyed_by_conn_id_across_3_loops_delivers_every_message_to_every_other_member() {
    const CLIENTS: usize = 9;
    let chat = Arc::new(Chat::default());
    let engine = start(Engine::builder().event_loops(3), Shared(chat.clone()));
    let mut clients: Vec<TcpStream> = (0..CLIENTS).map(|_| connect(engine.local_addr())).collect();
    wait_until(SETTLE, "every client joined the room", || {
        lock(&chat.members).len() == CLIENTS
    });
    let loops: HashSet<usize> = lock(&chat.members).keys().map(|id| id.event_loop()).collect();
    assert_eq!(loops.len(), 3, "members on every loop");

    let line = |i: usize| format!("message from client {i}\n");
    for (i, s) in clients.iter_mut().enumerate() {
        s.write_all(line(i).as_bytes()).unwrap();
    }
    for (i, s) in clients.iter_mut().enumerate() {
        let expected: HashSet<String> = (0..CLIENTS).filter(|&j| j != i).map(line).collect();
        let len: usize = expected.iter().map(String::len).sum();
        let got = String::from_utf8(read_exact_within(s, len, IO_TIMEOUT)).unwrap();
        let got: HashSet<String> = got.split_inclusive('\n').map(str::to_owned).collect();
        assert_eq!(got, expected, "client {i} received");
    }
    for s in clients {
        finish(s);
    }
    wait_until(SETTLE, "everyone left", || lock(&chat.members).is_empty());
    assert!(lock(&chat.closes).iter().all(|(_, r)| *r == CloseReason::PeerEof));
}

/// Keeps two handles of every connection (made in two calls), by peer.
#[derive(Default)]
struct TwoHandles {
    handles: Mutex<HashMap<SocketAddr, (ConnHandle, ConnHandle)>>,
}

impl EventHandler for TwoHandles {
    fn on_open(&self, conn: &mut Conn) -> Action {
        let pair = (conn.handle(), conn.handle());
        lock(&self.handles).insert(conn.peer_addr().unwrap(), pair);
        Action::Continue
    }
}

fn handles_of(h: &TwoHandles, s: &TcpStream) -> (ConnHandle, ConnHandle) {
    let peer = s.local_addr().unwrap();
    let mut found = None;
    wait_until(SETTLE, "on_open stored the handles", || {
        found = lock(&h.handles).get(&peer).cloned();
        found.is_some()
    });
    found.unwrap()
}

#[test]
fn conn_handles_are_equal_exactly_when_they_reach_the_same_connection() {
    let two = Arc::new(TwoHandles::default());
    let engine = start(Engine::builder().event_loops(3), Shared(two.clone()));
    let clients: Vec<TcpStream> = (0..3).map(|_| connect(engine.local_addr())).collect();
    let pairs: Vec<_> = clients.iter().map(|s| handles_of(&two, s)).collect();

    for (a, b) in &pairs {
        assert_eq!(a, b, "two handles of one connection");
        assert_eq!(a, &a.clone());
    }
    assert_ne!(pairs[0].0, pairs[1].0);
    assert_ne!(pairs[1].0, pairs[2].1);
    let set: HashSet<ConnHandle> = pairs.iter().flat_map(|(a, b)| [a.clone(), b.clone()]).collect();
    assert_eq!(set.len(), 3, "one entry per connection");
    assert!(pairs.iter().all(|(a, _)| set.contains(a)));

    // The same id in another engine is another connection.
    let two_b = Arc::new(TwoHandles::default());
    let other = start(Engine::builder().event_loops(1), Shared(two_b.clone()));
    let first_of_a = lock(&two.handles)
        .values()
        .map(|(h, _)| h.clone())
        .find(|h| h.id().event_loop() == 0)
        .expect("a connection on loop 0");
    let s = connect(other.local_addr());
    let (in_b, _) = handles_of(&two_b, &s);
    assert_eq!(in_b.id(), first_of_a.id(), "both are their loop 0's first connection");
    assert_ne!(in_b, first_of_a, "same id, different engines");
}

#[test]
fn conn_id_displays_as_loop_slot_generation() {
    let rec = Arc::new(Recorder::default());
    let engine = start(Engine::builder().event_loops(2), RecordingEcho { rec: rec.clone() });
    let addr = engine.local_addr();
    let id_of = |s: &TcpStream| {
        let peer = s.local_addr().unwrap();
        let mut id = None;
        wait_until(SETTLE, "on_open ran", || {
            id = lock(&rec.opened).iter().find(|o| o.peer == Some(peer)).map(|o| o.id);
            id.is_some()
        });
        id.unwrap().to_string()
    };
    // Round robin: loop 0, loop 1, loop 0 (its second slot).
    let first = connect(addr);
    assert_eq!(id_of(&first), "0.0.0");
    let second = connect(addr);
    assert_eq!(id_of(&second), "1.0.0");
    let third = connect(addr);
    assert_eq!(id_of(&third), "0.1.0");
    // A slot reused after a close gets the next generation.
    finish(first);
    wait_until(SETTLE, "the first connection closed", || rec.closes() == 1);
    let _fourth = connect(addr); // loop 1
    let fifth = connect(addr); // loop 0, slot 0 again
    assert_eq!(id_of(&fifth), "0.0.1");
}

/// Hands each connection's handle to the test.
#[derive(Default)]
struct HandleOut {
    handles: Mutex<HashMap<SocketAddr, ConnHandle>>,
}

impl EventHandler for HandleOut {
    fn on_open(&self, conn: &mut Conn) -> Action {
        lock(&self.handles).insert(conn.peer_addr().unwrap(), conn.handle());
        Action::Continue
    }
}

#[test]
fn async_write_takes_static_bytes_str_vec_string_and_bytes() {
    let out = Arc::new(HandleOut::default());
    let engine = start(Engine::builder().event_loops(1), Shared(out.clone()));
    let mut s = connect(engine.local_addr());
    let peer = s.local_addr().unwrap();
    wait_until(SETTLE, "on_open ran", || lock(&out.handles).contains_key(&peer));
    let h = lock(&out.handles)[&peer].clone();

    h.async_write(&b"static bytes|"[..]).unwrap();
    h.async_write("static str|").unwrap();
    h.async_write(b"a vec|".to_vec()).unwrap();
    h.async_write(String::from("a string|")).unwrap();
    h.async_write(Bytes::from_static(b"bytes|")).unwrap();
    h.async_write_vectored(vec![b"vec".to_vec(), b" of ".to_vec(), b"vecs|".to_vec()])
        .unwrap();
    h.async_write_vectored(["strs", " too|"]).unwrap();
    h.async_write_vectored(vec![Bytes::from_static(b"and bytes\n")]).unwrap();
    let want = b"static bytes|static str|a vec|a string|bytes|vec of vecs|strs too|and bytes\n";
    assert_eq!(read_exact_within(&mut s, want.len(), IO_TIMEOUT), want);
}

#[test]
fn close_reasons_received_in_on_close_compare_and_clone() {
    let chat = Arc::new(Chat::default());
    let engine = start(Engine::builder().event_loops(2), Shared(chat.clone()));
    let addr = engine.local_addr();
    // Kept open until the engine has stopped, so only the stop closes the
    // connections the test does not close itself.
    let clients: Vec<TcpStream> = (0..3).map(|_| connect(addr)).collect();
    wait_until(SETTLE, "three members", || lock(&chat.members).len() == 3);
    let ids: Vec<ConnId> = lock(&chat.members).keys().copied().collect();

    // The peer closes one; the server closes another through its handle;
    // the stop closes the last.
    let mut clients = clients.into_iter();
    finish(clients.next().unwrap());
    wait_until(SETTLE, "one close", || lock(&chat.closes).len() == 1);
    let by_server = *lock(&chat.members).keys().next().unwrap();
    let handle = lock(&chat.members)[&by_server].clone();
    handle.close().unwrap();
    wait_until(SETTLE, "two closes", || lock(&chat.closes).len() == 2);
    engine.stop();
    drop(clients);

    let closes = lock(&chat.closes).clone();
    assert_eq!(closes.len(), 3);
    assert!(closes.iter().all(|(id, _)| ids.contains(id)));
    let reasons: Vec<CloseReason> = closes.into_iter().map(|(_, r)| r).collect();
    assert_eq!(reasons[0], CloseReason::PeerEof);
    assert_eq!(reasons[1], CloseReason::Local);
    assert_eq!(reasons[2], CloseReason::Shutdown);
    assert_ne!(reasons[0], reasons[1]);
    assert_eq!(reasons[2].clone(), reasons[2]);
    assert_eq!(
        CloseReason::HandlerPanic("x".into()),
        CloseReason::HandlerPanic("x".into())
    );
    assert_ne!(
        CloseReason::HandlerPanic("x".into()),
        CloseReason::HandlerPanic("y".into())
    );
    assert_ne!(
        CloseReason::OutboundOverflow { limit: 1 },
        CloseReason::InboundOverflow { limit: 1 }
    );
}

/// A balancer with no `Debug` impl: everything on the last loop.
struct LastLoop {
    picks: Arc<AtomicUsize>,
}

impl LoadBalancer for LastLoop {
    fn pick(&self, _peer: Option<SocketAddr>, loads: LoopLoads<'_>) -> usize {
        self.picks.fetch_add(1, Ordering::SeqCst);
        loads.len() - 1
    }
}

#[test]
fn custom_balancer_without_debug_compiles_and_is_used() {
    let picks = Arc::new(AtomicUsize::new(0));
    let rec = Arc::new(Recorder::default());
    let engine = start(
        Engine::builder()
            .event_loops(3)
            .load_balancer(LastLoop { picks: picks.clone() }),
        RecordingEcho { rec: rec.clone() },
    );
    // The builder is still Debug with such a balancer in it.
    let _ = format!("{:?}", Engine::builder().load_balancer(LastLoop { picks: picks.clone() }));
    let mut clients = Vec::new();
    for i in 0..5 {
        let mut s = connect(engine.local_addr());
        round_trip(&mut s, format!("client {i}").as_bytes());
        assert_eq!(rec.wait_loop_of(&s), 2);
        clients.push(s);
    }
    assert_eq!(picks.load(Ordering::SeqCst), 5);
    assert_eq!(engine.loop_connection_counts(), [0, 0, 5]);
}

/// Lets a test keep an `Arc` to the handler it gave the engine.
struct Shared<H>(Arc<H>);

impl<H: EventHandler> EventHandler for Shared<H> {
    fn on_open(&self, conn: &mut Conn) -> Action {
        self.0.on_open(conn)
    }
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        self.0.on_traffic(conn)
    }
    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.0.on_close(conn, reason)
    }
}
