//! The HTTP example allocates nothing per request in steady state, with its
//! real configuration (idle and request timeouts armed): a counting global
//! allocator counts allocations made on the loop thread (a thread-local
//! flag, set by a wrapper around the server's handler in `on_open`).

mod util;

#[path = "http/harness.rs"]
mod harness;

use std::sync::Mutex;

use harness::server::{self, Config, ConnState, HttpServer};
use harness::{get, Client};
use netreactor::{Action, CloseReason, Conn, Service};

#[global_allocator]
static GLOBAL: util::counting::Counting = util::counting::Counting;

/// The example's handler, marking its loop thread as counted.
struct Counted(HttpServer);

impl Service for Counted {
    type State = ConnState;

    fn on_open(&self, conn: &mut Conn, state: &mut ConnState) -> Action {
        util::counting::count_this_thread();
        self.0.on_open(conn, state)
    }

    fn on_traffic(&self, conn: &mut Conn, state: &mut ConnState) -> Action {
        self.0.on_traffic(conn, state)
    }

    fn on_timer(&self, conn: &mut Conn, state: &mut ConnState, token: u64) -> Action {
        self.0.on_timer(conn, state, token)
    }

    fn on_close(&self, conn: &mut Conn, state: &mut ConnState, reason: CloseReason) {
        self.0.on_close(conn, state, reason)
    }
}

/// Sends `batch` and reads `responses` responses, `warmup` times and then
/// `rounds` times; returns the loop's allocations during the measured rounds.
fn allocations(batch: &[u8], responses: usize, warmup: usize, rounds: usize) -> u64 {
    // One engine at a time: the counter is global.
    static SERIAL: Mutex<()> = Mutex::new(());
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let config = Config::default();
    let engine = util::start(
        server::engine_builder(&config).event_loops(1),
        Counted(HttpServer::new(config)),
    );
    let mut c = Client::connect(engine.local_addr());
    let round = |c: &mut Client| {
        c.send(batch);
        for _ in 0..responses {
            assert_eq!(c.response().status, 200);
        }
    };
    for _ in 0..warmup {
        round(&mut c);
    }
    let before = util::counting::allocations();
    for _ in 0..rounds {
        round(&mut c);
    }
    util::counting::allocations() - before
}

#[test]
fn plaintext_allocates_nothing_per_request() {
    let used = allocations(&get("/plaintext"), 1, 200, 5_000);
    assert_eq!(used, 0, "{used} allocations on the loop thread over 5000 requests");
}

#[test]
fn pipelined_plaintext_allocates_nothing_per_request() {
    let batch: Vec<u8> = (0..16).flat_map(|_| get("/plaintext")).collect();
    let used = allocations(&batch, 16, 50, 500);
    assert_eq!(used, 0, "{used} allocations on the loop thread over 500 batches of 16");
}

#[test]
fn json_and_bodies_allocate_nothing_per_request() {
    let mut batch = get("/json");
    batch.extend_from_slice(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    batch.extend_from_slice(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    let used = allocations(&batch, 3, 100, 2_000);
    assert_eq!(used, 0, "{used} allocations on the loop thread over 2000 rounds");
}
