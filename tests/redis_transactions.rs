//! examples/redis: transactions cannot deadlock. Every command the server
//! knows is queued after WATCH and run by EXEC (in the selected database
//! and after a queued SELECT), and a watchdog checks that one loop keeps
//! answering while transactions that once froze the server (issue 18: a
//! queued UNWATCH or KEYS locked a shard EXEC already held) run on the
//! other.

mod util;

#[path = "redis/harness.rs"]
mod harness;

use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{serve, serve_with, Client, Config, Reply};

/// How long a reply may take before the server counts as frozen. Far
/// above any honest reply time on a loaded 2-core machine.
const FROZEN: Duration = Duration::from_secs(10);

fn ok() -> Reply {
    Reply::status("OK")
}

fn connect(addr: std::net::SocketAddr) -> Client {
    let c = Client::connect(addr);
    c.stream().set_read_timeout(Some(FROZEN)).unwrap();
    c
}

/// An invocation of every command, by the name COMMAND LIST gives it.
/// Keys: k (string), l (list), h (hash), s (set), z (sorted set).
const INVOCATIONS: &[(&str, &str)] = &[
    ("ping", "PING"),
    ("echo", "ECHO x"),
    ("hello", "HELLO 2"),
    ("auth", "AUTH default x"),
    ("select", "SELECT 1"),
    ("command", "COMMAND"),
    ("info", "INFO"),
    ("dbsize", "DBSIZE"),
    ("flushall", "FLUSHALL"),
    ("flushdb", "FLUSHDB"),
    ("time", "TIME"),
    ("del", "DEL k l"),
    ("unlink", "UNLINK k h"),
    ("exists", "EXISTS k l h s z"),
    ("type", "TYPE k"),
    ("expire", "EXPIRE k 100"),
    ("pexpire", "PEXPIRE k 100000"),
    ("expireat", "EXPIREAT k 99999999999"),
    ("pexpireat", "PEXPIREAT k 99999999999999"),
    ("persist", "PERSIST k"),
    ("ttl", "TTL k"),
    ("pttl", "PTTL k"),
    ("move", "MOVE k 3"),
    ("swapdb", "SWAPDB 0 9"),
    ("keys", "KEYS *"),
    ("scan", "SCAN 0"),
    ("set", "SET k 2"),
    ("setnx", "SETNX n 1"),
    ("get", "GET k"),
    ("getdel", "GETDEL k"),
    ("getex", "GETEX k EX 100"),
    ("incr", "INCR k"),
    ("incrby", "INCRBY k 2"),
    ("decr", "DECR k"),
    ("decrby", "DECRBY k 2"),
    ("incrbyfloat", "INCRBYFLOAT k 1.5"),
    ("append", "APPEND k x"),
    ("strlen", "STRLEN k"),
    ("mget", "MGET k l n"),
    ("mset", "MSET k 1 n 2"),
    ("msetnx", "MSETNX a 1 b 2"),
    ("unwatch", "UNWATCH"),
    ("hset", "HSET h f v2"),
    ("hget", "HGET h f"),
    ("hdel", "HDEL h f"),
    ("hgetall", "HGETALL h"),
    ("hlen", "HLEN h"),
    ("hexists", "HEXISTS h f"),
    ("lpush", "LPUSH l x"),
    ("rpush", "RPUSH l x"),
    ("lpop", "LPOP l"),
    ("rpop", "RPOP l"),
    ("lrange", "LRANGE l 0 -1"),
    ("llen", "LLEN l"),
    ("sadd", "SADD s x"),
    ("srem", "SREM s m"),
    ("spop", "SPOP s"),
    ("scard", "SCARD s"),
    ("sismember", "SISMEMBER s m"),
    ("smembers", "SMEMBERS s"),
    ("zadd", "ZADD z 2 m"),
    ("zpopmin", "ZPOPMIN z"),
    ("zcard", "ZCARD z"),
    ("zscore", "ZSCORE z m"),
    ("zrange", "ZRANGE z 0 -1"),
    ("zrem", "ZREM z m"),
    ("zrevrange", "ZREVRANGE z 0 -1"),
    ("zrangebyscore", "ZRANGEBYSCORE z -inf +inf"),
    ("zrevrangebyscore", "ZREVRANGEBYSCORE z +inf -inf"),
    ("zrangebylex", "ZRANGEBYLEX z - +"),
    ("zrevrangebylex", "ZREVRANGEBYLEX z + -"),
    ("zcount", "ZCOUNT z -inf +inf"),
    ("client|id", "CLIENT ID"),
    ("client|getname", "CLIENT GETNAME"),
    ("client|setname", "CLIENT SETNAME n"),
    ("client|list", "CLIENT LIST"),
    ("client|info", "CLIENT INFO"),
    ("client|help", "CLIENT HELP"),
    ("command|count", "COMMAND COUNT"),
    ("command|docs", "COMMAND DOCS get"),
    ("command|info", "COMMAND INFO get"),
    ("command|list", "COMMAND LIST"),
    ("command|help", "COMMAND HELP"),
    ("config|get", "CONFIG GET port"),
    ("config|help", "CONFIG HELP"),
    ("getrange", "GETRANGE k 0 -1"),
    ("setrange", "SETRANGE k 1 x"),
    ("setex", "SETEX k 100 v"),
    ("psetex", "PSETEX k 100000 v"),
    ("getset", "GETSET k v"),
    ("lindex", "LINDEX l 0"),
    ("lset", "LSET l 0 x"),
    ("linsert", "LINSERT l BEFORE a x"),
    ("lrem", "LREM l 0 a"),
    ("ltrim", "LTRIM l 0 0"),
    ("lpos", "LPOS l b"),
    ("rpoplpush", "RPOPLPUSH l l2"),
    ("lmove", "LMOVE l l2 LEFT RIGHT"),
    ("blpop", "BLPOP l2 l 0"),
    ("brpop", "BRPOP l2 l 1"),
    ("blmove", "BLMOVE l l2 RIGHT LEFT 0"),
    ("brpoplpush", "BRPOPLPUSH l2 l 0"),
    ("hincrby", "HINCRBY h n 2"),
    ("hincrbyfloat", "HINCRBYFLOAT h n 0.1"),
    ("hsetnx", "HSETNX h f2 v"),
    ("hstrlen", "HSTRLEN h f"),
    ("hrandfield", "HRANDFIELD h -3 WITHVALUES"),
    ("smove", "SMOVE s s2 m"),
    ("srandmember", "SRANDMEMBER s -2"),
    ("sinter", "SINTER s s2"),
    ("sunion", "SUNION s s2"),
    ("sdiff", "SDIFF s s2"),
    ("sinterstore", "SINTERSTORE d s s2"),
    ("sunionstore", "SUNIONSTORE d s s2"),
    ("sdiffstore", "SDIFFSTORE d s s2"),
    ("zincrby", "ZINCRBY z 2 m"),
    ("zrank", "ZRANK z m"),
    ("zrevrank", "ZREVRANK z m"),
    ("zpopmax", "ZPOPMAX z"),
    ("zremrangebyscore", "ZREMRANGEBYSCORE z (0 +inf"),
    ("zremrangebyrank", "ZREMRANGEBYRANK z 0 -1"),
    ("rename", "RENAME k k2"),
    ("renamenx", "RENAMENX k k2"),
    ("copy", "COPY l k2 DB 3 REPLACE"),
    ("expiretime", "EXPIRETIME k"),
    ("pexpiretime", "PEXPIRETIME k"),
    ("object|encoding", "OBJECT ENCODING k"),
    ("object|help", "OBJECT HELP"),
    ("subscribe", "SUBSCRIBE ch"),
    ("unsubscribe", "UNSUBSCRIBE ch"),
    ("psubscribe", "PSUBSCRIBE c*"),
    ("punsubscribe", "PUNSUBSCRIBE c*"),
    ("publish", "PUBLISH ch x"),
    ("pubsub|channels", "PUBSUB CHANNELS"),
    ("pubsub|numsub", "PUBSUB NUMSUB ch"),
    ("pubsub|numpat", "PUBSUB NUMPAT"),
    ("pubsub|help", "PUBSUB HELP"),
];

/// Commands that run at once inside MULTI (never queued: the next test
/// has them), and containers, which only their subcommands run.
const NOT_QUEUED: &[&str] = &["multi", "exec", "discard", "watch", "quit", "reset"];
const CONTAINERS: &[&str] = &["client", "config", "object", "pubsub"];

/// Fills the selected database with one key of each type.
fn fill(c: &mut Client) {
    assert_eq!(c.cmd("SET k 1"), ok());
    assert_eq!(c.cmd("RPUSH l a b"), Reply::Int(2));
    assert_eq!(c.cmd("HSET h f v"), Reply::Int(1));
    assert_eq!(c.cmd("SADD s m"), Reply::Int(1));
    assert_eq!(c.cmd("ZADD z 1 m"), Reply::Int(1));
}

#[test]
fn every_command_queued_after_watch_is_run_by_exec() {
    // Leaked if the test fails: a frozen server would hang its stop.
    let engine = ManuallyDrop::new(serve());
    let addr = engine.local_addr();
    let mut admin = connect(addr);
    let Reply::Array(names) = admin.cmd("COMMAND LIST") else {
        panic!("COMMAND LIST answers an array")
    };
    let mut ran = 0;
    for name in names {
        let name = name.text();
        if NOT_QUEUED.contains(&name.as_str()) || CONTAINERS.contains(&name.as_str()) {
            continue;
        }
        let line = INVOCATIONS
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("add an invocation of {name:?} to INVOCATIONS"))
            .1;
        // In database 0; then in 1, chosen before WATCH; then in 2,
        // chosen by a queued SELECT.
        for (before, queued_select) in [("0", false), ("1", false), ("1", true)] {
            let mut c = connect(addr);
            assert_eq!(c.cmd("FLUSHALL"), ok());
            assert_eq!(c.cmd(&format!("SELECT {before}")), ok());
            fill(&mut c);
            assert_eq!(c.cmd("WATCH k l h s z"), ok());
            assert_eq!(c.cmd("MULTI"), ok());
            let mut queued = 1;
            if queued_select {
                assert_eq!(c.cmd("SELECT 2"), Reply::status("QUEUED"));
                queued += 1;
            }
            assert_eq!(c.cmd(line), Reply::status("QUEUED"), "{line}");
            assert_eq!(c.cmd("UNWATCH"), Reply::status("QUEUED"), "{line}");
            let exec = c
                .try_call_line("EXEC")
                .unwrap_or_else(|e| panic!("EXEC of [{line}, UNWATCH] after WATCH got no reply: {e}"));
            match exec {
                Reply::Array(replies) => assert_eq!(replies.len(), queued + 1, "{line}: {replies:?}"),
                other => panic!("EXEC of [{line}] answered {other:?}"),
            }
            // RESET leaves the subscribed mode SUBSCRIBE may have entered.
            assert_eq!(c.cmd("RESET"), Reply::status("RESET"), "{line}");
            assert_eq!(c.cmd("PING"), Reply::status("PONG"), "{line}");
            ran += 1;
        }
    }
    assert_eq!(admin.cmd("PING"), Reply::status("PONG"));
    assert!(ran >= 3 * (INVOCATIONS.len() - 2), "ran {ran}");
    drop(ManuallyDrop::into_inner(engine));
}

#[test]
fn commands_that_run_at_once_inside_multi_after_watch() {
    let engine = ManuallyDrop::new(serve());
    let mut c = connect(engine.local_addr());
    for (line, reply) in [
        ("MULTI", Reply::error("ERR MULTI calls can not be nested")),
        ("WATCH k", Reply::error("ERR WATCH inside MULTI is not allowed")),
        ("DISCARD", ok()),
        ("EXEC", Reply::Array(vec![])),
        ("RESET", Reply::status("RESET")),
    ] {
        assert_eq!(c.cmd("SET k 1"), ok());
        assert_eq!(c.cmd("WATCH k"), ok());
        assert_eq!(c.cmd("MULTI"), ok());
        assert_eq!(c.cmd(line), reply, "{line}");
        let _ = c.cmd("DISCARD");
        assert_eq!(c.cmd("PING"), Reply::status("PONG"));
    }
    assert_eq!(c.cmd("WATCH k"), ok());
    assert_eq!(c.cmd("MULTI"), ok());
    assert_eq!(c.cmd("QUIT"), ok());
    c.expect_closed();
    // The closed client's watch is gone: its shard is free.
    let mut d = connect(engine.local_addr());
    assert_eq!(d.cmd("SET k 2"), ok());
    drop(ManuallyDrop::into_inner(engine));
}

/// Issue 18's reproduction, byte for byte as Redis 7.0.15 answers it.
#[test]
fn exec_with_a_queued_unwatch_or_keys_answers() {
    let engine = ManuallyDrop::new(serve());
    let mut c = connect(engine.local_addr());
    c.send(b"SET k 1\r\nWATCH k\r\nMULTI\r\nUNWATCH\r\nEXEC\r\n");
    assert_eq!(
        c.read_exact_bytes(b"+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n".len()),
        b"+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n"
    );
    c.send(b"WATCH k\r\nMULTI\r\nKEYS *\r\nUNWATCH\r\nEXEC\r\n");
    let want = b"+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n*1\r\n$1\r\nk\r\n+OK\r\n";
    assert_eq!(c.read_exact_bytes(want.len()), want);
    drop(ManuallyDrop::into_inner(engine));
}

/// The watchdog: with transactions that queue UNWATCH, KEYS and FLUSHALL
/// after WATCH running on one loop, a client of the other loop must get
/// each answer (PING, and a GET of the watched key's shard) within
/// [`FROZEN`].
#[test]
fn a_loop_answers_ping_while_transactions_run_on_the_other() {
    let engine = ManuallyDrop::new(serve_with(Config::default(), 2));
    let addr = engine.local_addr();
    // Round robin (the default balancer): connections alternate loops, so
    // the two transaction clients share one loop and the pinger has the
    // other.
    let tx_clients = [connect(addr), {
        let _other_loop = connect(addr);
        connect(addr)
    }];
    let mut pinger = connect(addr);
    let done = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = tx_clients
        .into_iter()
        .map(|mut c| {
            let done = done.clone();
            std::thread::spawn(move || {
                let scripts: [&[u8]; 3] = [
                    b"SET k 1\r\nWATCH k\r\nMULTI\r\nUNWATCH\r\nEXEC\r\n",
                    b"WATCH k\r\nMULTI\r\nKEYS *\r\nEXEC\r\n",
                    b"WATCH k j\r\nMULTI\r\nSET j 2\r\nUNWATCH\r\nFLUSHALL\r\nEXEC\r\n",
                ];
                let replies = [5, 4, 6];
                let deadline = Instant::now() + Duration::from_secs(3);
                let mut rounds = 0;
                while Instant::now() < deadline && !done.load(Ordering::Relaxed) {
                    for (script, n) in scripts.iter().zip(replies) {
                        c.send(script);
                        for _ in 0..n {
                            c.try_read().expect("a transaction client got no reply: frozen");
                        }
                    }
                    rounds += 1;
                }
                rounds
            })
        })
        .collect();
    let start = Instant::now();
    let mut answered = 0;
    let mut slowest = Duration::ZERO;
    while !workers.iter().all(|w| w.is_finished()) {
        let t0 = Instant::now();
        let pong = pinger.try_call_line("PING");
        let get = pinger.try_call_line("GET k");
        let took = t0.elapsed();
        if pong.is_err() || get.is_err() || took > FROZEN {
            done.store(true, Ordering::Relaxed);
            panic!("the other loop did not answer PING within {FROZEN:?}: {pong:?} {get:?}");
        }
        assert_eq!(pong.unwrap(), Reply::status("PONG"));
        slowest = slowest.max(took);
        answered += 1;
        assert!(start.elapsed() < 6 * FROZEN, "the transactions never finished");
    }
    let rounds: u32 = workers
        .into_iter()
        .map(|w| w.join().expect("a transaction client"))
        .sum();
    assert!(rounds > 0 && answered > 0, "rounds {rounds}, pings {answered}");
    eprintln!("{rounds} transaction rounds, {answered} pings answered, slowest {slowest:?}");
    drop(ManuallyDrop::into_inner(engine));
}

/// A transaction that takes every lock (FLUSHALL, SCAN) also holds the
/// databases it selects, swaps or moves into, even ones never used before.
#[test]
fn a_transaction_taking_every_lock_reaches_databases_made_inside_it() {
    let engine = ManuallyDrop::new(serve());
    let mut c = connect(engine.local_addr());
    assert_eq!(c.cmd("SET a 1"), ok());
    assert_eq!(c.cmd("WATCH a"), ok());
    assert_eq!(c.cmd("MULTI"), ok());
    for line in [
        "FLUSHALL",
        "SELECT 9",
        "SET k v",
        "SWAPDB 9 12",
        "SELECT 12",
        "MOVE k 13",
        "SCAN 0",
        "DBSIZE",
        "INFO keyspace",
    ] {
        assert_eq!(c.cmd(line), Reply::status("QUEUED"), "{line}");
    }
    let Reply::Array(replies) = c.try_call_line("EXEC").expect("EXEC answers") else {
        panic!("EXEC answers an array")
    };
    assert_eq!(
        replies[..8],
        [
            ok(),
            ok(),
            ok(),
            ok(),
            ok(),
            Reply::Int(1),
            Reply::Array(vec![Reply::bulk("0"), Reply::Array(vec![])]),
            Reply::Int(0),
        ]
    );
    assert_eq!(replies[8].text(), "# Keyspace\r\ndb13:keys=1,expires=0,avg_ttl=0\r\n");
    assert_eq!(c.cmd("SELECT 13"), ok());
    assert_eq!(c.cmd("GET k"), Reply::bulk("v"));
    drop(ManuallyDrop::into_inner(engine));
}
