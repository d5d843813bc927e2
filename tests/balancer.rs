//! How each load balancer spreads connections over 4 loops, seen both in
//! `loop_connection_counts()` and in the thread that runs `on_open`.

mod util;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use netreactor::{Engine, LoadBalancer, LoadBalancing, LoopLoads};
use util::*;

const LOOPS: usize = 4;

fn recording_engine(lb: LoadBalancing) -> (util::Engine, Arc<Recorder>) {
    let rec = Arc::new(Recorder::default());
    let engine = start(
        Engine::builder().event_loops(LOOPS).load_balancing(lb),
        RecordingEcho { rec: rec.clone() },
    );
    (engine, rec)
}

/// Opens one connection and waits until its loop has run `on_open`.
fn open_one(engine: &util::Engine, rec: &Recorder) -> (TcpStream, usize) {
    let s = connect(engine.local_addr());
    let i = rec.wait_loop_of(&s);
    (s, i)
}

fn wait_counts(engine: &util::Engine, want: &[usize]) {
    wait_for(
        SETTLE,
        &format!("loop_connection_counts() == {want:?}"),
        || engine.loop_connection_counts(),
        |c| c == want,
    );
}

#[test]
fn round_robin_gives_each_loop_exactly_its_share() {
    let (engine, rec) = recording_engine(LoadBalancing::RoundRobin);
    let mut held = Vec::new();
    let mut order = Vec::new();
    for _ in 0..40 {
        let (s, i) = open_one(&engine, &rec);
        held.push(s);
        order.push(i);
    }
    assert_eq!(engine.loop_connection_counts(), vec![10; LOOPS]);
    // Consecutive connections cycle through the loops.
    let first: HashSet<_> = order[..LOOPS].iter().collect();
    assert_eq!(first.len(), LOOPS, "first four picks {order:?}");
    for k in LOOPS..order.len() {
        assert_eq!(order[k], order[k - LOOPS], "pick {k} breaks the cycle: {order:?}");
    }
    drop(held);
    wait_counts(&engine, &[0; LOOPS]);
    engine.stop();
}

#[test]
fn round_robin_is_exact_when_clients_connect_in_a_burst() {
    let (engine, rec) = recording_engine(LoadBalancing::RoundRobin);
    // Connected without waiting for each on_open: the acceptor takes
    // them in batches, and still hands them out in turn.
    let held: Vec<_> = (0..40).map(|_| connect(engine.local_addr())).collect();
    wait_until(SETTLE, "40 on_open calls", || rec.opens() == 40);
    assert_eq!(engine.loop_connection_counts(), vec![10; LOOPS]);
    drop(held);
    engine.stop();
}

#[test]
fn least_connections_sends_new_connections_to_the_least_loaded_loop() {
    let (engine, rec) = recording_engine(LoadBalancing::LeastConnections);
    let mut held: Vec<(TcpStream, usize)> = (0..40).map(|_| open_one(&engine, &rec)).collect();
    assert_eq!(engine.loop_connection_counts(), vec![10; LOOPS]);

    // Close 6 of loop 1's connections: it becomes the least loaded.
    let mut closed = 0;
    held.retain(|(_, i)| {
        if *i == 1 && closed < 6 {
            closed += 1;
            false
        } else {
            true
        }
    });
    wait_counts(&engine, &[10, 4, 10, 10]);

    // The next 6 all go to loop 1.
    for n in 0..6 {
        let (s, i) = open_one(&engine, &rec);
        assert_eq!(i, 1, "connection {n} after the closes went to loop {i}");
        held.push((s, i));
    }
    assert_eq!(engine.loop_connection_counts(), vec![10; LOOPS]);

    // Unbalance two loops by different amounts and refill.
    let mut drop_from = [0usize, 0, 3, 5];
    held.retain(|(_, i)| {
        if drop_from[*i] > 0 {
            drop_from[*i] -= 1;
            false
        } else {
            true
        }
    });
    wait_counts(&engine, &[10, 10, 7, 5]);
    for _ in 0..10 {
        held.push(open_one(&engine, &rec));
    }
    let counts = engine.loop_connection_counts();
    let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    assert!(max - min <= 1, "unbalanced after refilling: {counts:?}");
    assert_eq!(counts.iter().sum::<usize>(), 42);
    // Ties go to the lowest index.
    assert_eq!(counts, vec![11, 11, 10, 10]);

    drop(held);
    wait_counts(&engine, &[0; LOOPS]);
    engine.stop();
}

#[test]
fn source_addr_hash_keeps_one_peer_ip_on_one_loop() {
    let (engine, rec) = recording_engine(LoadBalancing::SourceAddrHash);
    let held: Vec<_> = (0..20).map(|_| open_one(&engine, &rec)).collect();
    let loops: HashSet<usize> = held.iter().map(|(_, i)| *i).collect();
    assert_eq!(loops.len(), 1, "127.0.0.1 spread over loops {loops:?}");
    let only = *loops.iter().next().unwrap();
    let counts = engine.loop_connection_counts();
    for (i, &n) in counts.iter().enumerate() {
        assert_eq!(n, if i == only { 20 } else { 0 }, "counts {counts:?}");
    }
    drop(held);
    engine.stop();
}

#[test]
fn source_addr_hash_is_stable_per_ip_across_several_loopback_ips() {
    let (engine, rec) = recording_engine(LoadBalancing::SourceAddrHash);
    let addr = engine.local_addr();
    let mut held = Vec::new();
    let mut loop_of_ip = Vec::new();
    for last in 2..=9u8 {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, last));
        let mut seen = HashSet::new();
        for _ in 0..4 {
            let Some(s) = connect_from(ip, addr) else {
                eprintln!("cannot bind {ip}; skipping the multi-IP part");
                drop(held);
                engine.stop();
                return;
            };
            assert_eq!(s.local_addr().unwrap().ip(), ip);
            seen.insert(rec.wait_loop_of(&s));
            held.push(s);
        }
        assert_eq!(seen.len(), 1, "connections from {ip} spread over {seen:?}");
        loop_of_ip.push(*seen.iter().next().unwrap());
    }
    let distinct: HashSet<_> = loop_of_ip.iter().collect();
    assert!(
        distinct.len() >= 2,
        "8 source IPs all hashed to one loop: {loop_of_ip:?}"
    );
    drop(held);
    engine.stop();
}

/// Always loop 2 (or `2 + k * loops`, to check the modulo), and remembers
/// the peers it was shown.
#[derive(Debug)]
struct Fixed {
    pick: usize,
    calls: AtomicUsize,
    peers: std::sync::Mutex<Vec<Option<SocketAddr>>>,
    loops_seen: AtomicUsize,
}

impl Fixed {
    fn new(pick: usize) -> Self {
        Fixed {
            pick,
            calls: AtomicUsize::new(0),
            peers: Default::default(),
            loops_seen: AtomicUsize::new(0),
        }
    }
}

impl LoadBalancer for Fixed {
    fn pick(&self, peer: Option<SocketAddr>, loads: LoopLoads<'_>) -> usize {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.loops_seen.store(loads.len(), Ordering::SeqCst);
        lock(&self.peers).push(peer);
        self.pick
    }
}

/// Lets the test keep a reference to the balancer it hands to the builder.
#[derive(Debug)]
struct Shared(Arc<Fixed>);

impl LoadBalancer for Shared {
    fn pick(&self, peer: Option<SocketAddr>, loads: LoopLoads<'_>) -> usize {
        self.0.pick(peer, loads)
    }
}

fn custom_balancer_is_obeyed(lb: Arc<Fixed>, via_builder_method: bool) {
    let rec = Arc::new(Recorder::default());
    let builder = Engine::builder().event_loops(LOOPS);
    let builder = if via_builder_method {
        builder.load_balancer(Shared(lb.clone()))
    } else {
        builder.load_balancing(LoadBalancing::Custom(lb.clone()))
    };
    let engine = start(builder, RecordingEcho { rec: rec.clone() });
    let mut held = Vec::new();
    for _ in 0..12 {
        let (mut s, i) = open_one(&engine, &rec);
        assert_eq!(i, 2);
        round_trip(&mut s, b"on loop 2");
        held.push(s);
    }
    assert_eq!(engine.loop_connection_counts(), vec![0, 0, 12, 0]);
    assert_eq!(lb.calls.load(Ordering::SeqCst), 12);
    assert_eq!(lb.loops_seen.load(Ordering::SeqCst), LOOPS);
    let shown: Vec<_> = lock(&lb.peers).clone();
    let clients: Vec<_> = held.iter().map(|s| Some(s.local_addr().unwrap())).collect();
    assert_eq!(shown, clients, "the balancer is shown each client's address");
    drop(held);
    wait_counts(&engine, &[0; LOOPS]);
    engine.stop();
}

#[test]
fn custom_balancer_via_load_balancing_custom_is_obeyed() {
    custom_balancer_is_obeyed(Arc::new(Fixed::new(2)), false);
}

#[test]
fn custom_balancer_via_builder_load_balancer_is_obeyed() {
    custom_balancer_is_obeyed(Arc::new(Fixed::new(2)), true);
}

#[test]
fn custom_balancer_index_is_taken_modulo_the_loop_count() {
    custom_balancer_is_obeyed(Arc::new(Fixed::new(2 + 3 * LOOPS)), false);
}
