//! examples/redis: BLPOP, BRPOP, BLMOVE and BRPOPLPUSH when they block.
//! A blocked client waits on its own loop without holding it (other
//! clients of that loop are answered), wakes when a client of another
//! loop pushes, is served in the order it blocked, times out after its
//! (fractional) timeout and not before, keeps its pipelined commands for
//! after, and is forgotten when it disconnects.

mod util;

#[path = "redis/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use harness::{encode, serve_with, Client, Config, Reply};

/// INFO's `blocked_clients`.
fn blocked_clients(c: &mut Client) -> i64 {
    let info = c.cmd("INFO clients").text();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .expect("blocked_clients in INFO")
        .parse()
        .unwrap()
}

/// Waits until `n` clients are blocked (polling INFO, with a deadline).
fn wait_blocked(c: &mut Client, n: i64) {
    util::wait_until(Duration::from_secs(10), &format!("{n} blocked clients"), || {
        blocked_clients(c) == n
    });
}

/// Two loops; connections are dealt round-robin, so consecutive ones
/// land on different loops.
fn two_loops() -> util::Engine {
    serve_with(Config::default(), 2)
}

#[test]
fn a_push_on_another_loop_wakes_a_blocked_client() {
    let engine = two_loops();
    let mut blocked = Client::connect(engine.local_addr());
    let mut pusher = Client::connect(engine.local_addr());
    blocked.send(&encode(&[b"BLPOP", b"q1", b"q2", b"0"]));
    wait_blocked(&mut pusher, 1);
    assert_eq!(
        pusher.cmd("RPUSH q2 a b"),
        Reply::Int(2),
        "Redis counts the push before serving"
    );
    assert_eq!(blocked.read(), Reply::bulks(&["q2", "a"]));
    assert_eq!(pusher.cmd("LRANGE q2 0 -1"), Reply::bulks(&["b"]));
    assert_eq!(blocked_clients(&mut pusher), 0);
    // BLMOVE: the element lands in the destination before the reply.
    blocked.send(&encode(&[b"BLMOVE", b"src", b"dst", b"RIGHT", b"LEFT", b"0"]));
    wait_blocked(&mut pusher, 1);
    assert_eq!(pusher.cmd("LPUSH src x y"), Reply::Int(2));
    assert_eq!(blocked.read(), Reply::bulk("x"));
    assert_eq!(pusher.cmd("LRANGE dst 0 -1"), Reply::bulks(&["x"]));
    assert_eq!(pusher.cmd("LRANGE src 0 -1"), Reply::bulks(&["y"]));
    // BRPOP wakes on a key made by LMOVE, and by RENAME.
    blocked.send(&encode(&[b"BRPOP", b"made", b"0"]));
    wait_blocked(&mut pusher, 1);
    assert_eq!(pusher.cmd("LMOVE src made LEFT LEFT"), Reply::bulk("y"));
    assert_eq!(blocked.read(), Reply::bulks(&["made", "y"]));
    blocked.send(&encode(&[b"BLPOP", b"renamed", b"0"]));
    wait_blocked(&mut pusher, 1);
    assert_eq!(pusher.cmd("RPUSH tmp t"), Reply::Int(1));
    assert_eq!(pusher.cmd("RENAME tmp renamed"), Reply::status("OK"));
    assert_eq!(blocked.read(), Reply::bulks(&["renamed", "t"]));
    assert_eq!(pusher.cmd("EXISTS renamed"), Reply::Int(0));
}

#[test]
fn clients_are_served_in_the_order_they_blocked() {
    let engine = two_loops();
    let mut waiters: Vec<Client> = (0..6).map(|_| Client::connect(engine.local_addr())).collect();
    let mut pusher = Client::connect(engine.local_addr());
    for (i, w) in waiters.iter_mut().enumerate() {
        w.send(&encode(&[b"BRPOP", b"fair", b"0"]));
        wait_blocked(&mut pusher, i as i64 + 1);
    }
    // One push of six elements: each waiter gets one, first come first served.
    assert_eq!(pusher.cmd("LPUSH fair 1 2 3 4 5 6"), Reply::Int(6));
    for (i, w) in waiters.iter_mut().enumerate() {
        assert_eq!(w.read(), Reply::bulks(&["fair", &(i + 1).to_string()]), "waiter {i}");
    }
    // Fewer elements than waiters: the first ones are served, the rest wait on.
    for (i, w) in waiters.iter_mut().enumerate() {
        w.send(&encode(&[b"BLPOP", b"few", b"0"]));
        wait_blocked(&mut pusher, i as i64 + 1);
    }
    assert_eq!(pusher.cmd("RPUSH few a b"), Reply::Int(2));
    assert_eq!(waiters[0].read(), Reply::bulks(&["few", "a"]));
    assert_eq!(waiters[1].read(), Reply::bulks(&["few", "b"]));
    wait_blocked(&mut pusher, 4);
    assert_eq!(pusher.cmd("RPUSH few c d e f"), Reply::Int(4));
    for (w, el) in waiters[2..].iter_mut().zip(["c", "d", "e", "f"]) {
        assert_eq!(w.read(), Reply::bulks(&["few", el]));
    }
    assert_eq!(pusher.cmd("EXISTS few"), Reply::Int(0));
}

#[test]
fn a_blocked_client_holds_neither_its_loop_nor_its_pipelined_commands() {
    // One loop: the blocked client and the others share it.
    let engine = serve_with(Config::default(), 1);
    let mut blocked = Client::connect(engine.local_addr());
    let mut other = Client::connect(engine.local_addr());
    let mut pipeline = encode(&[b"BLPOP", b"k", b"0"]);
    pipeline.extend(encode(&[b"SET", b"after", b"1"]));
    pipeline.extend(encode(&[b"GET", b"after"]));
    blocked.send(&pipeline);
    wait_blocked(&mut other, 1);
    for _ in 0..100 {
        assert_eq!(other.cmd("PING"), Reply::status("PONG"));
    }
    assert_eq!(
        other.cmd("EXISTS after"),
        Reply::Int(0),
        "commands after BLPOP wait for it"
    );
    assert_eq!(other.cmd("RPUSH k v"), Reply::Int(1));
    assert_eq!(blocked.read(), Reply::bulks(&["k", "v"]));
    assert_eq!(blocked.read(), Reply::status("OK"));
    assert_eq!(blocked.read(), Reply::bulk("1"));
}

#[test]
fn timeouts_are_fractional_and_zero_is_forever() {
    let engine = two_loops();
    let mut c = Client::connect(engine.local_addr());
    let mut watcher = Client::connect(engine.local_addr());
    let t0 = Instant::now();
    assert_eq!(c.cmd("BLPOP none 0.2"), Reply::Null);
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
    let t0 = Instant::now();
    assert_eq!(c.cmd("BLMOVE none dst LEFT RIGHT 0.05"), Reply::Null);
    assert!(t0.elapsed() >= Duration::from_millis(50));
    assert_eq!(watcher.cmd("EXISTS dst"), Reply::Int(0));
    assert_eq!(blocked_clients(&mut watcher), 0);
    // 0: no timer at all; still blocked well past any rounding.
    c.send(&encode(&[b"BRPOP", b"none", b"0"]));
    wait_blocked(&mut watcher, 1);
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(300) {
        assert_eq!(blocked_clients(&mut watcher), 1);
    }
    assert_eq!(watcher.cmd("RPUSH none late"), Reply::Int(1));
    assert_eq!(c.read(), Reply::bulks(&["none", "late"]));
    // RESP3 (its exact `_` is in tests/redis/commands.expected).
    assert!(matches!(c.cmd("HELLO 3"), Reply::Map(_)));
    assert_eq!(c.cmd("BLPOP none 0.01"), Reply::Null);
}

#[test]
fn a_client_that_disconnects_while_blocked_is_forgotten() {
    let engine = two_loops();
    let mut watcher = Client::connect(engine.local_addr());
    {
        let mut gone = Client::connect(engine.local_addr());
        gone.send(&encode(&[b"BLPOP", b"k", b"0"]));
        wait_blocked(&mut watcher, 1);
    }
    wait_blocked(&mut watcher, 0);
    let mut next = Client::connect(engine.local_addr());
    next.send(&encode(&[b"BLPOP", b"k", b"0"]));
    wait_blocked(&mut watcher, 1);
    // The element goes to the client still there, not the one that left.
    assert_eq!(watcher.cmd("RPUSH k v"), Reply::Int(1));
    assert_eq!(next.read(), Reply::bulks(&["k", "v"]));
    assert_eq!(watcher.cmd("EXISTS k"), Reply::Int(0));
}

#[test]
fn blmove_to_a_key_of_another_type_answers_wrongtype_and_moves_nothing() {
    let engine = two_loops();
    let mut c = Client::connect(engine.local_addr());
    let mut pusher = Client::connect(engine.local_addr());
    c.send(&encode(&[b"BLMOVE", b"src", b"str", b"LEFT", b"LEFT", b"0"]));
    wait_blocked(&mut pusher, 1);
    assert_eq!(pusher.cmd("SET str x"), Reply::status("OK"));
    assert_eq!(pusher.cmd("RPUSH src a"), Reply::Int(1));
    assert_eq!(
        c.read(),
        Reply::error("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    assert_eq!(pusher.cmd("LRANGE src 0 -1"), Reply::bulks(&["a"]));
}

#[test]
fn pushes_from_many_loops_reach_every_blocked_client_exactly_once() {
    let engine = serve_with(Config::default(), 2);
    const WAITERS: usize = 40;
    let mut watcher = Client::connect(engine.local_addr());
    let mut waiters: Vec<Client> = (0..WAITERS).map(|_| Client::connect(engine.local_addr())).collect();
    for w in &mut waiters {
        w.send(&encode(&[b"BLPOP", b"a", b"b", b"0"]));
    }
    wait_blocked(&mut watcher, WAITERS as i64);
    let addr = engine.local_addr();
    let pushers: Vec<_> = (0..4)
        .map(|p| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                for i in 0..WAITERS / 4 {
                    let key = if i % 2 == 0 { "a" } else { "b" };
                    assert!(matches!(c.cmd(&format!("RPUSH {key} {p}-{i}")), Reply::Int(_)));
                }
            })
        })
        .collect();
    for p in pushers {
        p.join().unwrap();
    }
    let mut got: Vec<String> = waiters
        .iter_mut()
        .map(|w| match w.read() {
            Reply::Array(kv) => kv[1].text(),
            other => panic!("{other:?}"),
        })
        .collect();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), WAITERS, "every element to one client");
    assert_eq!(watcher.cmd("EXISTS a b"), Reply::Int(0));
    assert_eq!(blocked_clients(&mut watcher), 0);
}

#[test]
fn keys_are_served_in_the_order_they_became_ready_and_a_key_named_twice_counts_once() {
    let engine = two_loops();
    let mut c = Client::connect(engine.local_addr());
    let mut pusher = Client::connect(engine.local_addr());
    // Whatever their shards, the key pushed first in the transaction wins.
    for (first, second) in [("k1", "k2"), ("k2", "k1"), ("zz", "aa"), ("aa", "zz")] {
        c.send(&encode(&[b"BLPOP", b"k1", b"k2", b"aa", b"zz", b"k1", b"0"]));
        wait_blocked(&mut pusher, 1);
        assert_eq!(pusher.cmd("MULTI"), Reply::status("OK"));
        pusher.cmd(&format!("RPUSH {first} x"));
        pusher.cmd(&format!("RPUSH {second} y"));
        assert!(matches!(pusher.cmd("EXEC"), Reply::Array(_)));
        assert_eq!(c.read(), Reply::bulks(&[first, "x"]));
        assert_eq!(pusher.cmd(&format!("LRANGE {second} 0 -1")), Reply::bulks(&["y"]));
        assert_eq!(pusher.cmd(&format!("DEL {second}")), Reply::Int(1));
    }
    // A chain: a BLMOVE served into a key another client waits on.
    c.send(&encode(&[b"BLPOP", b"chain2", b"0"]));
    wait_blocked(&mut pusher, 1);
    let mut mover = Client::connect(engine.local_addr());
    mover.send(&encode(&[b"BLMOVE", b"chain1", b"chain2", b"LEFT", b"LEFT", b"0"]));
    wait_blocked(&mut pusher, 2);
    assert_eq!(pusher.cmd("RPUSH chain1 link"), Reply::Int(1));
    assert_eq!(mover.read(), Reply::bulk("link"));
    assert_eq!(c.read(), Reply::bulks(&["chain2", "link"]));
    assert_eq!(pusher.cmd("EXISTS chain1 chain2"), Reply::Int(0));
}

#[test]
fn a_blocked_client_waits_in_its_database_and_wakes_on_move_copy_and_swapdb() {
    let engine = two_loops();
    let mut blocked = Client::connect(engine.local_addr());
    let mut pusher = Client::connect(engine.local_addr());
    assert_eq!(blocked.cmd("SELECT 5"), Reply::status("OK"));
    // A push to the same name in another database serves nobody.
    blocked.send(&encode(&[b"BLPOP", b"q", b"0"]));
    wait_blocked(&mut pusher, 1);
    assert_eq!(pusher.cmd("RPUSH q a"), Reply::Int(1));
    assert_eq!(pusher.cmd("LLEN q"), Reply::Int(1), "served from database 0");
    assert_eq!(blocked_clients(&mut pusher), 1);
    // CLIENT LIST shows it blocked (flag b), in its database, as Redis does.
    let list = pusher.cmd("CLIENT LIST").text();
    assert!(
        list.lines()
            .any(|l| l.contains(" flags=b db=5 ") && l.contains(" cmd=blpop ")),
        "{list}"
    );
    // MOVE makes it a list in database 5.
    assert_eq!(pusher.cmd("MOVE q 5"), Reply::Int(1));
    assert_eq!(blocked.read(), Reply::bulks(&["q", "a"]));
    assert_eq!(blocked.cmd("EXISTS q"), Reply::Int(0));
    util::wait_until(Duration::from_secs(10), "flag b cleared", || {
        !pusher.cmd("CLIENT LIST").text().contains("flags=b")
    });
    // So does COPY ... DB 5, leaving the source.
    blocked.send(&encode(&[b"BLPOP", b"c", b"0"]));
    wait_blocked(&mut pusher, 1);
    assert_eq!(pusher.cmd("RPUSH src x"), Reply::Int(1));
    assert_eq!(pusher.cmd("COPY src c DB 5"), Reply::Int(1));
    assert_eq!(blocked.read(), Reply::bulks(&["c", "x"]));
    assert_eq!(pusher.cmd("LRANGE src 0 -1"), Reply::bulks(&["x"]));
    // And SWAPDB, which brings database 0's list into 5 (Redis's
    // scanDatabaseForReadyLists).
    blocked.send(&encode(&[b"BLPOP", b"s", b"0"]));
    wait_blocked(&mut pusher, 1);
    assert_eq!(pusher.cmd("RPUSH s y"), Reply::Int(1));
    assert_eq!(pusher.cmd("SWAPDB 0 5"), Reply::status("OK"));
    assert_eq!(blocked.read(), Reply::bulks(&["s", "y"]));
    assert_eq!(blocked.cmd("EXISTS s"), Reply::Int(0));
    assert_eq!(pusher.cmd("EXISTS s"), Reply::Int(0));
    assert_eq!(blocked.cmd("LRANGE src 0 -1"), Reply::bulks(&["x"]), "swapped");
    assert_eq!(blocked_clients(&mut pusher), 0);
}
