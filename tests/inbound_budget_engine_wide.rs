//! The engine-wide inbound budget sheds the biggest holders of partial
//! messages wherever they are: a loop whose small clients push the total
//! over the budget asks the loop holding the big partial messages to shed
//! them, instead of shedding its own small clients (issue 17, item 9).

mod util;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use netreactor::{Action, CloseReason, Conn, EventHandler, LoadBalancer, LoopLoads};
use util::*;

const MIB: usize = 1024 * 1024;

/// Sends each new connection to the loop the test names next.
#[derive(Debug, Default)]
struct Steer(Arc<AtomicUsize>);

impl LoadBalancer for Steer {
    fn pick(&self, _peer: Option<SocketAddr>, _loads: LoopLoads<'_>) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Consumes nothing, so everything a client sends is a partial message.
#[derive(Debug, Default)]
struct Hoard {
    rec: Arc<Recorder>,
}

impl EventHandler for Hoard {
    fn on_open(&self, conn: &mut Conn) -> Action {
        self.rec.open(conn);
        Action::Continue
    }
    fn on_traffic(&self, _conn: &mut Conn) -> Action {
        Action::Continue
    }
    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.rec.close(conn, reason);
    }
}

fn client_on(engine: &Engine, rec: &Recorder, target: &AtomicUsize, lp: usize) -> TcpStream {
    target.store(lp, Ordering::SeqCst);
    let s = connect(engine.local_addr());
    assert_eq!(rec.wait_loop_of(&s), lp);
    s
}

fn shed(rec: &Recorder, clients: &[TcpStream]) -> usize {
    let peers: Vec<_> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
    lock(&rec.closed)
        .iter()
        .filter(|c| c.peer.is_some_and(|p| peers.contains(&p)))
        .filter(|c| matches!(c.reason, CloseReason::InboundBudget { .. }))
        .count()
}

#[test]
fn small_clients_on_one_loop_are_not_shed_for_big_holders_on_another() {
    let target = Arc::new(AtomicUsize::new(0));
    let handler = Hoard::default();
    let rec = handler.rec.clone();
    let engine = start(
        netreactor::Engine::builder()
            .event_loops(2)
            .load_balancer(Steer(target.clone()))
            .max_inbound_buffer(16 * MIB)
            .inbound_budget(24 * MIB),
        handler,
    );
    // Loop 0: two clients each stalling 7 MiB (about 8 MiB of buffer each).
    let mut big = Vec::new();
    for _ in 0..2 {
        let mut s = client_on(&engine, &rec, &target, 0);
        s.write_all(&vec![b'B'; 7 * MIB]).unwrap();
        big.push(s);
    }
    wait_until(SETTLE, "loop 0 holds the big partial messages", || {
        engine.stats().partial_inbound_bytes >= 14 * MIB as u64
    });
    // Loop 1: twenty small clients, 512 KiB each, pushing the total over.
    let mut small = Vec::new();
    for _ in 0..20 {
        let mut s = client_on(&engine, &rec, &target, 1);
        s.write_all(&vec![b's'; 512 * 1024]).unwrap();
        small.push(s);
    }
    wait_until(SETTLE, "a big holder is shed", || shed(&rec, &big) >= 1);
    wait_until(SETTLE, "the engine is back under its budget", || {
        engine.stats().partial_inbound_bytes <= 24 * MIB as u64
    });
    let (big_shed, small_shed) = (shed(&rec, &big), shed(&rec, &small));
    eprintln!("shed: {big_shed} of 2 big holders, {small_shed} of 20 small clients");
    assert_eq!(small_shed, 0, "small clients were shed while a big holder lived");
    // Every small client is still served: its connection is open.
    assert_eq!(rec.closes(), big_shed);
}
