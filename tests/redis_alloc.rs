//! The Redis example allocates nothing per request in steady state for
//! PING and GET (and INCR, HSET, LPUSH/RPOP of short elements), nothing for
//! a SET that overwrites a value of a similar size, and only the stored
//! value for any other SET: a counting
//! global allocator counts allocations made on the loop thread (a
//! thread-local flag, set by a wrapper around the server's handler).
//! The expiry ticker is off here (see `allocations`).

mod util;

#[path = "redis/harness.rs"]
mod harness;

use std::sync::Mutex;
use std::time::Duration;

use harness::server::{self, Config, RedisServer, Slot};
use harness::{encode, Client, Reply};
use netreactor::{Action, CloseReason, Conn, Engine, EngineHandle, Service};

#[global_allocator]
static GLOBAL: util::counting::Counting = util::counting::Counting;

/// The example's handler, marking its loop thread as counted.
struct Counted(RedisServer);

impl Service for Counted {
    type State = Slot;

    fn on_boot(&self, engine: &EngineHandle) -> Action {
        self.0.on_boot(engine)
    }

    fn on_open(&self, conn: &mut Conn, slot: &mut Slot) -> Action {
        util::counting::count_this_thread();
        self.0.on_open(conn, slot)
    }

    fn on_traffic(&self, conn: &mut Conn, slot: &mut Slot) -> Action {
        self.0.on_traffic(conn, slot)
    }

    fn on_writable(&self, conn: &mut Conn, slot: &mut Slot) -> Action {
        self.0.on_writable(conn, slot)
    }

    fn on_tick(&self, engine: &EngineHandle) -> (Duration, Action) {
        self.0.on_tick(engine)
    }

    fn on_close(&self, conn: &mut Conn, slot: &mut Slot, reason: CloseReason) {
        self.0.on_close(conn, slot, reason)
    }
}

/// Runs `round` `warmup` times, then `rounds` times; returns the loop's
/// allocations during the measured rounds.
fn allocations(warmup: usize, rounds: usize, mut round: impl FnMut(&mut Client, usize)) -> u64 {
    // One engine at a time: the counter is global.
    static SERIAL: Mutex<()> = Mutex::new(());
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let config = Config::default();
    // Without the ticker: the engine's timer wheel allocates a slot's
    // vector the first time the ticker's next deadline lands in it (a few
    // times a second, never per request), which would blur the count.
    let builder = server::configure(&config, Engine::builder().event_loops(1)).ticker(false);
    let engine = util::start(builder, Counted(RedisServer::new(config)));
    let mut c = Client::connect(engine.local_addr());
    assert_eq!(c.cmd("SET key:__rand_int__ VXK"), Reply::status("OK"));
    for i in 0..warmup {
        round(&mut c, i);
    }
    let before = util::counting::allocations();
    for i in 0..rounds {
        round(&mut c, warmup + i);
    }
    util::counting::allocations() - before
}

#[test]
fn ping_allocates_nothing() {
    let used = allocations(200, 5_000, |c, i| {
        if i % 2 == 0 {
            c.send(b"PING\r\n");
        } else {
            c.send(&encode(&[b"PING"]));
        }
        assert_eq!(c.read(), Reply::status("PONG"));
    });
    assert_eq!(used, 0, "{used} allocations on the loop thread over 5000 PINGs");
}

#[test]
fn get_allocates_nothing() {
    let get = encode(&[b"GET", b"key:__rand_int__"]);
    let used = allocations(200, 5_000, |c, _| {
        c.send(&get);
        assert_eq!(c.read(), Reply::bulk("VXK"));
    });
    assert_eq!(used, 0, "{used} allocations on the loop thread over 5000 GETs");
}

#[test]
fn pipelined_gets_allocate_nothing() {
    let batch: Vec<u8> = (0..16).flat_map(|_| encode(&[b"GET", b"key:__rand_int__"])).collect();
    let used = allocations(50, 1_000, |c, _| {
        c.send(&batch);
        for _ in 0..16 {
            assert_eq!(c.read(), Reply::bulk("VXK"));
        }
    });
    assert_eq!(
        used, 0,
        "{used} allocations on the loop thread over 1000 batches of 16 GETs"
    );
}

#[test]
fn overwriting_a_value_of_a_similar_size_allocates_nothing() {
    let used = allocations(200, 5_000, |c, i| {
        let value = format!("value-{:04}", i % 10_000);
        c.send(&encode(&[b"SET", b"key:__rand_int__", value.as_bytes()]));
        assert_eq!(c.read(), Reply::status("OK"));
    });
    assert_eq!(used, 0, "{used} allocations on the loop thread over 5000 SETs");
}

#[test]
fn a_set_allocates_only_the_stored_value() {
    // Sizes alternate so that no buffer can be reused: one allocation each.
    let small = vec![b's'; 10];
    let large = vec![b'l'; 1000];
    let rounds = 2_000;
    let used = allocations(200, rounds, |c, i| {
        let value = if i % 2 == 0 { &small } else { &large };
        c.send(&encode(&[b"SET", b"key:__rand_int__", value]));
        assert_eq!(c.read(), Reply::status("OK"));
    });
    assert_eq!(
        used, rounds as u64,
        "{used} allocations on the loop thread over {rounds} SETs"
    );
}

#[test]
fn counting_allocates_nothing() {
    let used = allocations(200, 5_000, |c, i| {
        c.send(&encode(&[b"INCR", b"counter:__rand_int__"]));
        assert_eq!(c.read(), Reply::Int(i as i64 + 1));
    });
    assert_eq!(used, 0, "{used} allocations on the loop thread over 5000 INCRs");
}

#[test]
fn pushing_and_popping_short_elements_allocates_nothing() {
    let used = allocations(200, 5_000, |c, i| {
        if i == 0 {
            assert_eq!(c.cmd("RPUSH mylist first"), Reply::Int(1));
        }
        c.send(&encode(&[b"LPUSH", b"mylist", b"VXK"]));
        assert_eq!(c.read(), Reply::Int(2));
        c.send(&encode(&[b"RPOP", b"mylist"]));
        assert!(matches!(c.read(), Reply::Bulk(_)));
    });
    assert_eq!(used, 0, "{used} allocations on the loop thread over 5000 LPUSH + RPOP");
}

#[test]
fn setting_a_hash_field_allocates_nothing() {
    let used = allocations(200, 5_000, |c, i| {
        c.send(&encode(&[b"HSET", b"myhash", b"element:__rand_int__", b"VXK"]));
        assert_eq!(c.read(), Reply::Int(i64::from(i == 0)));
    });
    assert_eq!(used, 0, "{used} allocations on the loop thread over 5000 HSETs");
}
