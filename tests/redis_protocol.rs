//! examples/redis at the protocol level, over real sockets with a RESP
//! client that checks every byte: pipelining, commands split anywhere,
//! inline commands, protocol errors (each closes only its connection),
//! the limits checked at a header before anything is buffered, RESP3,
//! transactions across loops, WATCH, expiry, SCAN, output backpressure.

mod util;

#[path = "redis/harness.rs"]
mod harness;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use harness::{encode, serve, serve_with, Client, Config, Reply};
use util::{wait_until, SETTLE};

fn ok() -> Reply {
    Reply::status("OK")
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let engine = serve();
    let mut c = Client::connect(engine.local_addr());
    let mut batch = Vec::new();
    for i in 0..500 {
        batch.extend(encode(&[
            b"SET",
            format!("k{i}").as_bytes(),
            format!("v{i}").as_bytes(),
        ]));
        batch.extend(encode(&[b"GET", format!("k{i}").as_bytes()]));
        batch.extend(b"PING\r\n");
    }
    c.send(&batch);
    for i in 0..500 {
        assert_eq!(c.read(), ok());
        assert_eq!(c.read(), Reply::bulk(&format!("v{i}")));
        assert_eq!(c.read(), Reply::status("PONG"));
    }
}

#[test]
fn a_command_cut_anywhere_is_answered_once_it_is_whole() {
    let engine = serve();
    let mut c = Client::connect(engine.local_addr());
    let cmd = encode(&[b"SET", b"key", b"a value with spaces"]);
    for cut in 1..cmd.len() {
        c.send(&cmd[..cut]);
        let mut rest = cmd[cut..].to_vec();
        rest.extend(b"PING\r\n");
        c.send(&rest);
        assert_eq!(c.read(), ok(), "cut at {cut}");
        assert_eq!(c.read(), Reply::status("PONG"), "cut at {cut}");
    }
    assert_eq!(c.cmd("GET key"), Reply::bulk("a value with spaces"));
}

#[test]
fn a_big_value_arriving_in_many_reads_is_stored_whole() {
    let engine = serve();
    let mut c = Client::connect(engine.local_addr());
    let value: Vec<u8> = (0..8 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let cmd = encode(&[b"SET", b"big", &value]);
    for chunk in cmd.chunks(100_000) {
        c.send(chunk);
    }
    assert_eq!(c.read(), ok());
    assert_eq!(c.cmd("STRLEN big"), Reply::Int(value.len() as i64));
    assert_eq!(c.cmd("GET big"), Reply::Bulk(value));
}

/// The parser keeps its progress through a command that arrives in many
/// reads, so each read costs only its new headers: 200,000 arguments in
/// 256-byte pieces (thousands of reads) would take minutes to rescan from
/// the start each time.
#[test]
fn a_command_with_many_arguments_in_small_pieces_is_parsed_once() {
    let engine = serve();
    let mut c = Client::connect(engine.local_addr());
    let keys: Vec<Vec<u8>> = (0..200_000).map(|i| format!("k{i}").into_bytes()).collect();
    let mut args: Vec<&[u8]> = vec![b"EXISTS"];
    args.extend(keys.iter().map(Vec::as_slice));
    assert_eq!(c.cmd("SET k99999 v"), ok());
    let started = std::time::Instant::now();
    for piece in encode(&args).chunks(256) {
        c.send(piece);
    }
    assert_eq!(c.read(), Reply::Int(1));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn inline_commands_split_on_blanks_and_honour_quotes() {
    let engine = serve();
    let mut c = Client::connect(engine.local_addr());
    c.send(b"SET  \"a key\"   'it\\'s'  \r\n");
    assert_eq!(c.read(), ok());
    c.send(b"GET \"a key\"\n");
    assert_eq!(c.read(), Reply::bulk("it's"));
    c.send(b"ECHO \"tab\\there\\x41\"\r\n\r\n\r\nping\r\n");
    assert_eq!(c.read(), Reply::bulk("tab\thereA"));
    assert_eq!(c.read(), Reply::status("PONG"));
}

#[test]
fn protocol_errors_reply_then_close_only_that_connection() {
    let engine = serve();
    let cases: &[(&[u8], &str)] = &[
        (b"*x\r\n", "ERR Protocol error: invalid multibulk length"),
        (b"*01\r\n", "ERR Protocol error: invalid multibulk length"),
        (b"*1\r\nx4\r\nPING\r\n", "ERR Protocol error: expected '$', got 'x'"),
        (b"*1\r\n$-1\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*1\r\n$04\r\nPING\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*1\r\n$99999999999\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*99999999999\r\n", "ERR Protocol error: invalid multibulk length"),
        (b"PING \"a\r\n", "ERR Protocol error: unbalanced quotes in request"),
        (b"PING \"a\"b\r\n", "ERR Protocol error: unbalanced quotes in request"),
    ];
    let mut bystander = Client::connect(engine.local_addr());
    for (input, error) in cases {
        let mut c = Client::connect(engine.local_addr());
        // A good command first: its reply comes before the error.
        let mut bytes = b"PING\r\n".to_vec();
        bytes.extend_from_slice(input);
        c.send(&bytes);
        assert_eq!(c.read(), Reply::status("PONG"));
        assert_eq!(
            c.read(),
            Reply::error(error),
            "for {:?}",
            String::from_utf8_lossy(input)
        );
        c.expect_closed();
        assert_eq!(bystander.cmd("PING"), Reply::status("PONG"));
    }
}

#[test]
fn empty_and_non_positive_multibulk_counts_are_skipped() {
    let engine = serve();
    let mut c = Client::connect(engine.local_addr());
    c.send(b"*0\r\n*-5\r\n\r\nPING\r\n");
    assert_eq!(c.read(), Reply::status("PONG"));
}

fn small_limits() -> Config {
    let mut config = Config::default();
    config.limits.max_bulk_len = 1024 * 1024;
    config.limits.max_args = 1000;
    config
}

#[test]
fn a_bulk_over_the_limit_is_refused_at_its_header() {
    let engine = serve_with(small_limits(), 1);
    let mut c = Client::connect(engine.local_addr());
    // Only the header: the refusal must not wait for the payload.
    c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n");
    assert_eq!(c.read(), Reply::error("ERR Protocol error: invalid bulk length"));
    c.expect_closed();
    // Exactly at the limit is fine.
    let mut c = Client::connect(engine.local_addr());
    let value = vec![b'x'; 1024 * 1024];
    assert_eq!(c.call(&[b"SET", b"k", &value]), ok());
    assert_eq!(c.cmd("STRLEN k"), Reply::Int(1024 * 1024));
}

#[test]
fn too_many_arguments_are_refused_at_the_header() {
    let engine = serve_with(small_limits(), 1);
    let mut c = Client::connect(engine.local_addr());
    c.send(b"*1001\r\n");
    assert_eq!(c.read(), Reply::error("ERR Protocol error: invalid multibulk length"));
    c.expect_closed();
    let mut c = Client::connect(engine.local_addr());
    let mut args: Vec<Vec<u8>> = vec![b"DEL".to_vec()];
    args.extend((1..1000).map(|i| format!("k{i}").into_bytes()));
    let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    assert_eq!(c.call(&args), Reply::Int(0));
}

#[test]
fn unterminated_lines_are_refused_past_64_kib() {
    let engine = serve();
    let long = vec![b'a'; 64 * 1024 + 1];
    for (prefix, error) in [
        (&b""[..], "ERR Protocol error: too big inline request"),
        (b"*", "ERR Protocol error: too big mbulk count string"),
        (b"*1\r\n$", "ERR Protocol error: too big bulk count string"),
    ] {
        let mut c = Client::connect(engine.local_addr());
        let mut bytes = prefix.to_vec();
        bytes.extend_from_slice(&long);
        c.send(&bytes);
        assert_eq!(c.read(), Reply::error(error));
        c.expect_closed();
    }
    // Just under the limit, an inline command still waits for its end.
    let mut c = Client::connect(engine.local_addr());
    let mut bytes = b"ECHO ".to_vec();
    bytes.extend(vec![b'b'; 64 * 1024 - 10]);
    c.send(&bytes);
    c.send(b"\r\n");
    assert_eq!(c.read().text().len(), 64 * 1024 - 10);
}

/// The default limits let a legitimate 512 MiB value through (and back).
#[test]
fn a_512_mib_value_round_trips_at_the_default_limit() {
    let engine = serve_with(Config::default(), 1);
    let mut c = Client::connect(engine.local_addr());
    let len = 512 * 1024 * 1024;
    let value = vec![b'z'; len];
    c.send(format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${len}\r\n").as_bytes());
    c.send(&value);
    c.send(b"\r\n");
    assert_eq!(c.read(), ok());
    drop(value);
    assert_eq!(c.cmd("STRLEN big"), Reply::Int(len as i64));
    assert_eq!(
        c.cmd("APPEND big x"),
        Reply::error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    );
    assert_eq!(c.cmd("DEL big"), Reply::Int(1));
    c.send(format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${}\r\n", len + 1).as_bytes());
    assert_eq!(c.read(), Reply::error("ERR Protocol error: invalid bulk length"));
}

#[test]
fn unknown_commands_and_wrong_arity_get_redis_texts() {
    let engine = serve();
    let mut c = Client::connect(engine.local_addr());
    let cases = [
        (
            "foo a b",
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' ",
        ),
        ("foo", "ERR unknown command 'foo', with args beginning with: "),
        ("GET", "ERR wrong number of arguments for 'get' command"),
        ("get a b", "ERR wrong number of arguments for 'get' command"),
        ("MSET a b c", "ERR wrong number of arguments for 'mset' command"),
        ("HSET h a", "ERR wrong number of arguments for 'hset' command"),
        ("CLIENT", "ERR wrong number of arguments for 'client' command"),
        (
            "CLIENT SETNAME",
            "ERR wrong number of arguments for 'client|setname' command",
        ),
        ("CLIENT FOO", "ERR unknown subcommand 'FOO'. Try CLIENT HELP."),
        ("CONFIG GET", "ERR wrong number of arguments for 'config|get' command"),
        ("COMMAND FOO", "ERR unknown subcommand 'FOO'. Try COMMAND HELP."),
        ("SET k v EX 0", "ERR invalid expire time in 'set' command"),
        ("SET k v EX abc", "ERR value is not an integer or out of range"),
        ("SET k v NX XX", "ERR syntax error"),
        ("SET k v KEEPTTL EX 10", "ERR syntax error"),
        (
            "EXPIRE k 10 NX XX",
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ),
        ("SCAN abc", "ERR invalid cursor"),
        ("SCAN 0 COUNT 0", "ERR syntax error"),
        ("HELLO 4", "NOPROTO unsupported protocol version"),
        (
            "HELLO 3 AUTH foo bar",
            "WRONGPASS invalid username-password pair or user is disabled.",
        ),
        ("HELLO 2 FOO", "ERR Syntax error in HELLO option 'FOO'"),
        ("SELECT 16", "ERR DB index is out of range"),
        ("SELECT -1", "ERR DB index is out of range"),
        ("SELECT abc", "ERR value is not an integer or out of range"),
        ("LPOP l -1", "ERR value is out of range, must be positive"),
        ("INCRBYFLOAT f abc", "ERR value is not a valid float"),
        ("EXEC", "ERR EXEC without MULTI"),
        ("DISCARD", "ERR DISCARD without MULTI"),
    ];
    for (cmd, error) in cases {
        assert_eq!(c.cmd(cmd), Reply::error(error), "{cmd}");
    }
    let long_name = "x".repeat(200);
    let expected = format!(
        "ERR unknown command '{}', with args beginning with: ",
        &long_name[..128]
    );
    assert_eq!(c.cmd(&long_name), Reply::Error(expected));
    let info = c.cmd("INFO stats").text();
    assert!(
        info.contains(&format!("total_error_replies:{}\r\n", cases.len() + 1)),
        "{info}"
    );
}

#[test]
fn wrongtype_for_every_type_mismatch() {
    let engine = serve();
    let mut c = Client::connect(engine.local_addr());
    let wrongtype = Reply::error("WRONGTYPE Operation against a key holding the wrong kind of value");
    assert_eq!(c.cmd("SET s v"), ok());
    assert_eq!(c.cmd("LPUSH l a"), Reply::Int(1));
    assert_eq!(c.cmd("HSET h f v"), Reply::Int(1));
    assert_eq!(c.cmd("SADD set m"), Reply::Int(1));
    assert_eq!(c.cmd("ZADD z 1 m"), Reply::Int(1));
    for cmd in [
        "LPUSH s a",
        "LRANGE s 0 -1",
        "HGET s f",
        "SADD s m",
        "ZADD s 1 m",
        "GET l",
        "INCR l",
        "APPEND h x",
        "STRLEN set",
        "SMEMBERS z",
        "ZSCORE l m",
        "HGETALL set",
        "GETDEL h",
        "SET l x GET",
    ] {
        assert_eq!(c.cmd(cmd), wrongtype, "{cmd}");
    }
    // MGET answers nil for a key of another type rather than failing.
    assert_eq!(c.cmd("MGET s l"), Reply::Array(vec![Reply::bulk("v"), Reply::Null]));
    for (key, t) in [
        ("s", "string"),
        ("l", "list"),
        ("h", "hash"),
        ("set", "set"),
        ("z", "zset"),
        ("none", "none"),
    ] {
        assert_eq!(c.cmd(&format!("TYPE {key}")), Reply::status(t));
    }
}

#[test]
fn resp3_after_hello_3() {
    let engine = serve();
    let mut c = Client::connect(engine.local_addr());
    let Reply::Map(hello) = c.cmd("HELLO 3") else {
        panic!("HELLO 3 answers a map")
    };
    let keys: Vec<Reply> = hello.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(
        keys,
        ["server", "version", "proto", "id", "mode", "role", "modules"]
            .map(Reply::bulk)
            .to_vec()
    );
    assert_eq!(hello[2].1, Reply::Int(3));
    assert_eq!(c.cmd("GET nothing"), Reply::Null);
    assert_eq!(c.cmd("HSET h a 1"), Reply::Int(1));
    assert_eq!(
        c.cmd("HGETALL h"),
        Reply::Map(vec![(Reply::bulk("a"), Reply::bulk("1"))])
    );
    assert_eq!(
        c.cmd("CONFIG GET save"),
        Reply::Map(vec![(Reply::bulk("save"), Reply::bulk(""))])
    );
    assert_eq!(c.cmd("ZADD z 0.1 m"), Reply::Int(1));
    assert_eq!(c.cmd("ZSCORE z m"), Reply::Double("0.10000000000000001".into()));
    assert_eq!(c.cmd("SADD s x"), Reply::Int(1));
    assert_eq!(c.cmd("SMEMBERS s"), Reply::Set(vec![Reply::bulk("x")]));
    assert!(matches!(c.cmd("INFO server"), Reply::Verbatim(f, _) if f == "txt"));
    assert_eq!(c.cmd("LPOP nolist 2"), Reply::Null);
    // Back to RESP2: the same replies, flattened.
    assert!(matches!(c.cmd("HELLO 2"), Reply::Array(a) if a.len() == 14));
    assert_eq!(c.cmd("HGETALL h"), Reply::bulks(&["a", "1"]));
    assert_eq!(c.cmd("ZSCORE z m"), Reply::bulk("0.10000000000000001"));
    assert_eq!(c.cmd("LPOP nolist 2"), Reply::Null);
    assert_eq!(c.cmd("RESET"), Reply::status("RESET"));
    // HELLO authenticates (the default user has no password) and names.
    let Reply::Map(hello) = c.cmd("HELLO 3 AUTH default anything SETNAME app-1") else {
        panic!("HELLO 3 AUTH ... SETNAME ... answers a map")
    };
    assert_eq!(hello[2], (Reply::bulk("proto"), Reply::Int(3)));
    assert_eq!(c.cmd("CLIENT GETNAME"), Reply::bulk("app-1"));
    assert_eq!(
        c.cmd("HELLO 3 SETNAME"),
        Reply::error("ERR Syntax error in HELLO option 'SETNAME'")
    );
    assert_eq!(c.cmd("RESET"), Reply::status("RESET"));
    assert_eq!(c.cmd("CLIENT GETNAME"), Reply::Null);
}

#[test]
fn quit_replies_ok_and_closes() {
    let engine = serve();
    let mut c = Client::connect(engine.local_addr());
    c.send(b"QUIT\r\nPING\r\n");
    assert_eq!(c.read(), ok());
    c.expect_closed();
}

#[test]
fn transactions_run_atomically_across_loops() {
    let engine = serve_with(Config::default(), 4);
    let addr = engine.local_addr();
    let mut setup = Client::connect(addr);
    // Two keys in different shards (the hash decides; try names until so).
    assert_eq!(setup.cmd("MSET a 0 b 0"), ok());
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut c = Client::connect(addr);
            let mut seen = 0;
            while !done.load(Ordering::Relaxed) {
                let Reply::Array(v) = c.cmd("MGET a b") else {
                    panic!("MGET")
                };
                assert_eq!(v[0], v[1], "a transaction was seen half done");
                seen += 1;
            }
            seen
        })
    };
    let writers: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                for _ in 0..300 {
                    let mut batch = b"MULTI\r\nINCR a\r\nINCR b\r\n".to_vec();
                    batch.extend(b"EXEC\r\n");
                    c.send(&batch);
                    assert_eq!(c.read(), ok());
                    assert_eq!(c.read(), Reply::status("QUEUED"));
                    assert_eq!(c.read(), Reply::status("QUEUED"));
                    let Reply::Array(r) = c.read() else {
                        panic!("EXEC answers an array")
                    };
                    assert_eq!(r[0], r[1]);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    assert_eq!(setup.cmd("MGET a b"), Reply::bulks(&["1200", "1200"]));
}

#[test]
fn queueing_errors_abort_exec_and_runtime_errors_do_not() {
    let engine = serve();
    let mut c = Client::connect(engine.local_addr());
    assert_eq!(c.cmd("MULTI"), ok());
    assert_eq!(c.cmd("MULTI"), Reply::error("ERR MULTI calls can not be nested"));
    assert_eq!(c.cmd("WATCH x"), Reply::error("ERR WATCH inside MULTI is not allowed"));
    assert_eq!(c.cmd("SET a 1"), Reply::status("QUEUED"));
    assert_eq!(
        c.cmd("nosuch"),
        Reply::error("ERR unknown command 'nosuch', with args beginning with: ")
    );
    assert_eq!(
        c.cmd("EXEC"),
        Reply::error("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(c.cmd("GET a"), Reply::Null);
    assert_eq!(c.cmd("MULTI"), ok());
    assert_eq!(c.cmd("SET a x"), Reply::status("QUEUED"));
    assert_eq!(c.cmd("INCR a"), Reply::status("QUEUED"));
    assert_eq!(c.cmd("GET a"), Reply::status("QUEUED"));
    assert_eq!(
        c.cmd("EXEC"),
        Reply::Array(vec![
            ok(),
            Reply::error("ERR value is not an integer or out of range"),
            Reply::bulk("x")
        ])
    );
    assert_eq!(c.cmd("MULTI"), ok());
    assert_eq!(c.cmd("SET a y"), Reply::status("QUEUED"));
    assert_eq!(c.cmd("DISCARD"), ok());
    assert_eq!(c.cmd("GET a"), Reply::bulk("x"));
}

#[test]
fn watch_aborts_exec_when_a_watched_key_changes() {
    let engine = serve();
    let mut a = Client::connect(engine.local_addr());
    let mut b = Client::connect(engine.local_addr());
    assert_eq!(a.cmd("SET k 1"), ok());
    assert_eq!(a.cmd("WATCH k"), ok());
    assert_eq!(b.cmd("SET k 2"), ok());
    assert_eq!(a.cmd("MULTI"), ok());
    assert_eq!(a.cmd("SET k 3"), Reply::status("QUEUED"));
    assert_eq!(a.cmd("EXEC"), Reply::Null);
    assert_eq!(a.cmd("GET k"), Reply::bulk("2"));
    // EXEC unwatched: the next transaction goes through.
    assert_eq!(a.cmd("MULTI"), ok());
    assert_eq!(a.cmd("SET k 3"), Reply::status("QUEUED"));
    assert_eq!(a.cmd("EXEC"), Reply::Array(vec![ok()]));
    // Untouched watched keys let it through; a key that expires counts as changed.
    assert_eq!(a.cmd("WATCH k other"), ok());
    assert_eq!(b.cmd("GET k"), Reply::bulk("3"));
    assert_eq!(a.cmd("MULTI"), ok());
    assert_eq!(a.cmd("INCR k"), Reply::status("QUEUED"));
    assert_eq!(a.cmd("EXEC"), Reply::Array(vec![Reply::Int(4)]));
    assert_eq!(a.cmd("SET t v PX 30"), ok());
    assert_eq!(a.cmd("WATCH t"), ok());
    wait_until(SETTLE, "t expired", || b.cmd("PTTL t") == Reply::Int(-2));
    assert_eq!(a.cmd("MULTI"), ok());
    assert_eq!(a.cmd("SET t again"), Reply::status("QUEUED"));
    assert_eq!(a.cmd("EXEC"), Reply::Null);
    // UNWATCH forgets.
    assert_eq!(a.cmd("WATCH k"), ok());
    assert_eq!(b.cmd("SET k 9"), ok());
    assert_eq!(a.cmd("UNWATCH"), ok());
    assert_eq!(a.cmd("MULTI"), ok());
    assert_eq!(a.cmd("GET k"), Reply::status("QUEUED"));
    assert_eq!(a.cmd("EXEC"), Reply::Array(vec![Reply::bulk("9")]));
}

#[test]
fn keys_with_a_deadline_expire_without_being_touched() {
    let engine = serve();
    let mut c = Client::connect(engine.local_addr());
    // 1 s: long enough that a loaded machine still counts all 201 first.
    for i in 0..200 {
        assert_eq!(c.cmd(&format!("SET k{i} v PX 1000")), ok());
    }
    assert_eq!(c.cmd("SET keep v"), ok());
    assert_eq!(c.cmd("DBSIZE"), Reply::Int(201));
    // DBSIZE counts keys still stored, so it drops only as the sweep deletes them.
    wait_until(SETTLE, "the active sweep deleted the expired keys", || {
        c.cmd("DBSIZE") == Reply::Int(1)
    });
    let info = c.cmd("INFO stats").text();
    assert!(info.contains("expired_keys:200\r\n"), "{info}");
    let keyspace = c.cmd("INFO keyspace").text();
    assert!(keyspace.contains("db0:keys=1,expires=0,avg_ttl=0"), "{keyspace}");
}

#[test]
fn ttl_commands() {
    let engine = serve();
    let mut c = Client::connect(engine.local_addr());
    assert_eq!(c.cmd("TTL k"), Reply::Int(-2));
    assert_eq!(c.cmd("SET k v EX 100"), ok());
    assert_eq!(c.cmd("TTL k"), Reply::Int(100));
    assert!(matches!(c.cmd("PTTL k"), Reply::Int(ms) if (99_000..=100_000).contains(&ms)));
    assert_eq!(c.cmd("SET k w KEEPTTL"), ok());
    assert_eq!(c.cmd("TTL k"), Reply::Int(100));
    assert_eq!(c.cmd("EXPIRE k 50 GT"), Reply::Int(0));
    assert_eq!(c.cmd("EXPIRE k 50 LT"), Reply::Int(1));
    assert_eq!(c.cmd("PERSIST k"), Reply::Int(1));
    assert_eq!(c.cmd("TTL k"), Reply::Int(-1));
    assert_eq!(c.cmd("PERSIST k"), Reply::Int(0));
    assert_eq!(c.cmd("EXPIRE k 10 XX"), Reply::Int(0));
    assert_eq!(c.cmd("PEXPIRE k 5000 NX"), Reply::Int(1));
    assert_eq!(c.cmd("GETEX k PERSIST"), Reply::bulk("w"));
    assert_eq!(c.cmd("TTL k"), Reply::Int(-1));
    assert_eq!(c.cmd("GETEX k EX 30"), Reply::bulk("w"));
    assert_eq!(c.cmd("TTL k"), Reply::Int(30));
    assert_eq!(c.cmd("EXPIREAT k 1"), Reply::Int(1));
    assert_eq!(c.cmd("EXISTS k"), Reply::Int(0));
    assert_eq!(c.cmd("SET k v EXAT 1"), ok());
    assert_eq!(c.cmd("GET k"), Reply::Null);
    assert_eq!(c.cmd("SET k v PX 1"), ok());
    wait_until(SETTLE, "k expired", || c.cmd("GET k") == Reply::Null);
}

#[test]
fn scan_returns_every_key_exactly_once_while_others_come_and_go() {
    let engine = serve();
    let addr = engine.local_addr();
    let mut c = Client::connect(addr);
    let mut batch = Vec::new();
    for i in 0..3000 {
        batch.extend(encode(&[b"SET", format!("key:{i}").as_bytes(), b"v"]));
    }
    c.send(&batch);
    for _ in 0..3000 {
        assert_eq!(c.read(), ok());
    }
    let churn = std::thread::spawn(move || {
        let mut c = Client::connect(addr);
        for i in 0..3000 {
            assert_eq!(c.cmd(&format!("SET other:{i} v")), ok());
            if i % 2 == 0 {
                assert_eq!(c.cmd(&format!("DEL other:{}", i / 2)), Reply::Int(1));
            }
        }
    });
    let mut seen = Vec::new();
    let mut cursor = "0".to_owned();
    loop {
        let Reply::Array(r) = c.cmd(&format!("SCAN {cursor} MATCH key:* COUNT 7")) else {
            panic!("SCAN")
        };
        let Reply::Array(keys) = &r[1] else { panic!("SCAN keys") };
        seen.extend(keys.iter().map(Reply::text));
        cursor = r[0].text();
        if cursor == "0" {
            break;
        }
    }
    churn.join().unwrap();
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a key came back twice");
    assert_eq!(seen.len(), 3000);
    let Reply::Array(r) = c.cmd("SCAN 0 TYPE hash COUNT 100000") else {
        panic!("SCAN")
    };
    assert_eq!(r, vec![Reply::bulk("0"), Reply::Array(vec![])]);
    let Reply::Array(keys) = c.cmd("KEYS key:1??") else {
        panic!("KEYS")
    };
    assert_eq!(keys.len(), 100);
}

#[test]
fn pipelined_reads_of_big_values_wait_for_the_output_instead_of_piling_it_up() {
    let engine = serve_with(Config::default(), 1);
    let mut c = Client::connect(engine.local_addr());
    let value = vec![b'v'; 1024 * 1024];
    assert_eq!(c.call(&[b"SET", b"big", &value]), ok());
    // 300 MiB of replies asked for in one write: the server runs the GETs
    // as its output drains (it would hit its output limit otherwise).
    let mut batch = Vec::new();
    for _ in 0..300 {
        batch.extend(b"GET big\r\n");
    }
    batch.extend(b"PING\r\n");
    c.send(&batch);
    for _ in 0..300 {
        assert_eq!(c.read(), Reply::Bulk(value.clone()));
    }
    assert_eq!(c.read(), Reply::status("PONG"));
}

#[test]
fn client_commands_and_client_list() {
    let engine = serve();
    let mut a = Client::connect(engine.local_addr());
    let mut b = Client::connect(engine.local_addr());
    assert_eq!(a.cmd("CLIENT GETNAME"), Reply::Null);
    assert_eq!(a.cmd("CLIENT SETNAME worker-1"), ok());
    assert_eq!(
        a.call(&[b"CLIENT", b"SETNAME", b"a b"]),
        Reply::error("ERR Client names cannot contain spaces, newlines or special characters.")
    );
    // Redis 7.0 has no CLIENT SETINFO (7.2 added it).
    assert_eq!(
        a.cmd("CLIENT SETINFO LIB-NAME mylib"),
        Reply::error("ERR unknown subcommand 'SETINFO'. Try CLIENT HELP.")
    );
    let Reply::Int(id_a) = a.cmd("CLIENT ID") else {
        panic!("CLIENT ID")
    };
    let Reply::Int(id_b) = b.cmd("CLIENT ID") else {
        panic!("CLIENT ID")
    };
    assert_ne!(id_a, id_b);
    assert_eq!(b.cmd("GET x"), Reply::Null);
    let list = b.cmd("CLIENT LIST").text();
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    let line_a = lines
        .iter()
        .find(|l| l.starts_with(&format!("id={id_a} ")))
        .expect("a is listed");
    for field in ["name=worker-1", "cmd=client|id", "resp=2", "db=0"] {
        assert!(line_a.contains(field), "{field} in {line_a}");
    }
    let line_b = lines
        .iter()
        .find(|l| l.starts_with(&format!("id={id_b} ")))
        .expect("b is listed");
    assert!(
        line_b.contains(" name= ") && line_b.contains("cmd=client|list"),
        "{line_b}"
    );
    assert!(!line_a.contains("lib-name"), "7.0's fields only: {line_a}");
    let peer = a.stream().local_addr().unwrap();
    assert!(line_a.contains(&format!("addr={peer} ")), "{line_a}");
    let only_a = b.cmd(&format!("CLIENT LIST ID {id_a}")).text();
    assert_eq!(only_a.lines().count(), 1);
    assert!(a.cmd("CLIENT INFO").text().starts_with(&format!("id={id_a} ")));
    drop(a);
    wait_until(SETTLE, "a left the client list", || {
        b.cmd("CLIENT LIST").text().lines().count() == 1
    });
}

#[test]
fn config_get_answers_as_redis_does() {
    let engine = serve();
    let mut c = Client::connect(engine.local_addr());
    assert_eq!(c.cmd("CONFIG GET save"), Reply::bulks(&["save", ""]));
    assert_eq!(c.cmd("CONFIG GET appendonly"), Reply::bulks(&["appendonly", "no"]));
    assert_eq!(c.cmd("CONFIG GET nosuch"), Reply::Array(vec![]));
    assert_eq!(
        c.cmd("CONFIG GET save appendonly nosuch save"),
        Reply::bulks(&["save", "", "appendonly", "no"])
    );
    let port = engine.local_addr().port().to_string();
    assert_eq!(c.cmd("CONFIG GET port"), Reply::bulks(&["port", &port]));
    assert_eq!(
        c.cmd("CONFIG GET proto-max-bulk-len"),
        Reply::bulks(&["proto-max-bulk-len", "536870912"])
    );
}

#[test]
fn command_count_info_and_docs_describe_what_is_implemented() {
    let engine = serve();
    let mut c = Client::connect(engine.local_addr());
    let Reply::Int(count) = c.cmd("COMMAND COUNT") else {
        panic!("COMMAND COUNT")
    };
    let Reply::Array(all) = c.cmd("COMMAND") else {
        panic!("COMMAND")
    };
    assert_eq!(all.len() as i64, count);
    let Reply::Array(info) = c.cmd("COMMAND INFO get nosuch") else {
        panic!("COMMAND INFO")
    };
    assert_eq!(info[1], Reply::Null);
    let Reply::Array(get) = &info[0] else {
        panic!("an entry")
    };
    assert_eq!(
        &get[..6],
        &[
            Reply::bulk("get"),
            Reply::Int(2),
            Reply::Array(vec![Reply::status("readonly"), Reply::status("fast")]),
            Reply::Int(1),
            Reply::Int(1),
            Reply::Int(1)
        ]
    );
    let Reply::Array(docs) = c.cmd("COMMAND DOCS set nosuch") else {
        panic!("COMMAND DOCS")
    };
    assert_eq!(docs[0], Reply::bulk("set"));
    assert_eq!(
        docs[1],
        Reply::bulks(&[
            "summary",
            "Set the string value of a key",
            "since",
            "1.0.0",
            "group",
            "string",
            "complexity",
            "O(1)"
        ])
    );
    // Every command a client can run is listed, and nothing else.
    for entry in &all {
        let Reply::Array(e) = entry else { panic!("an entry") };
        let name = e[0].text();
        let reply = c.call(&[name.as_bytes(), b"x", b"y", b"z", b"w"]);
        assert_ne!(
            reply,
            Reply::Error(format!(
                "ERR unknown command '{name}', with args beginning with: 'x' 'y' 'z' 'w' "
            )),
        );
        if name == "quit" {
            c = Client::connect(engine.local_addr());
        }
    }
}

#[test]
fn info_has_the_sections_and_the_lock_statistics() {
    let engine = serve();
    let mut c = Client::connect(engine.local_addr());
    for i in 0..1000 {
        assert_eq!(c.cmd(&format!("SET k{i} v")), ok());
    }
    let info = c.cmd("INFO").text();
    for section in ["# Server", "# Clients", "# Memory", "# Stats", "# Keyspace"] {
        assert!(info.contains(section), "{section} in {info}");
    }
    assert!(!info.contains("# Locks"), "locks only when asked for");
    assert!(info.contains("connected_clients:1\r\n"));
    assert!(info.contains("db0:keys=1000,expires=0,avg_ttl=0\r\n"));
    let locks = c.cmd("INFO locks").text();
    let field = |name: &str| -> u64 {
        locks
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("{name} in {locks}"))
            .parse()
            .unwrap()
    };
    assert!(field("lock_acquisitions") >= 1000);
    assert!(field("lock_hold_samples") >= 1000 / 64);
    assert!(field("lock_hold_p99_ns_under") > 0);
    let cmds = c.cmd("INFO stats").text();
    assert!(cmds.contains("keyspace_misses:0\r\n"), "{cmds}");
}

#[test]
fn string_commands() {
    let engine = serve();
    let mut c = Client::connect(engine.local_addr());
    assert_eq!(c.cmd("SET k v NX"), ok());
    assert_eq!(c.cmd("SET k w NX"), Reply::Null);
    assert_eq!(c.cmd("SET k w XX GET"), Reply::bulk("v"));
    assert_eq!(c.cmd("SET nokey w XX"), Reply::Null);
    assert_eq!(c.cmd("SET k2 x NX GET"), Reply::Null);
    assert_eq!(c.cmd("GET k2"), Reply::bulk("x"));
    assert_eq!(c.cmd("SETNX k2 y"), Reply::Int(0));
    assert_eq!(c.cmd("GETDEL k2"), Reply::bulk("x"));
    assert_eq!(c.cmd("GETDEL k2"), Reply::Null);
    assert_eq!(c.cmd("INCR n"), Reply::Int(1));
    assert_eq!(c.cmd("INCRBY n 41"), Reply::Int(42));
    assert_eq!(c.cmd("DECR n"), Reply::Int(41));
    assert_eq!(c.cmd("DECRBY n 50"), Reply::Int(-9));
    assert_eq!(c.cmd("GET n"), Reply::bulk("-9"));
    assert_eq!(c.cmd("APPEND n 0"), Reply::Int(3));
    assert_eq!(c.cmd("INCR n"), Reply::Int(-89));
    assert_eq!(c.cmd("SET max 9223372036854775807"), ok());
    assert_eq!(
        c.cmd("INCR max"),
        Reply::error("ERR increment or decrement would overflow")
    );
    assert_eq!(
        c.cmd("DECRBY max -9223372036854775808"),
        Reply::error("ERR decrement would overflow")
    );
    assert_eq!(c.cmd("INCRBYFLOAT f 10.5"), Reply::bulk("10.5"));
    assert_eq!(c.cmd("INCRBYFLOAT f 0.1"), Reply::bulk("10.6"));
    assert_eq!(c.cmd("INCRBYFLOAT f -5.6"), Reply::bulk("5"));
    assert_eq!(c.cmd("INCRBYFLOAT f 5.0e3"), Reply::bulk("5005"));
    assert_eq!(
        c.cmd("INCRBYFLOAT f inf"),
        Reply::error("ERR increment would produce NaN or Infinity")
    );
    assert_eq!(c.cmd("STRLEN f"), Reply::Int(4));
    assert_eq!(c.cmd("STRLEN none"), Reply::Int(0));
    assert_eq!(c.cmd("MSET a 1 b 2 c 3"), ok());
    assert_eq!(
        c.cmd("MGET a b none c"),
        Reply::Array(vec![Reply::bulk("1"), Reply::bulk("2"), Reply::Null, Reply::bulk("3")])
    );
    assert_eq!(c.cmd("MSETNX a 9 d 4"), Reply::Int(0));
    assert_eq!(c.cmd("EXISTS d"), Reply::Int(0));
    assert_eq!(c.cmd("MSETNX d 4 e 5"), Reply::Int(1));
    assert_eq!(c.cmd("EXISTS a b a none"), Reply::Int(3));
    assert_eq!(c.cmd("DEL a b none"), Reply::Int(2));
    assert_eq!(c.cmd("UNLINK c d"), Reply::Int(2));
    assert_eq!(c.cmd("DBSIZE"), Reply::Int(5));
    assert_eq!(c.cmd("FLUSHDB"), ok());
    assert_eq!(c.cmd("DBSIZE"), Reply::Int(0));
    assert_eq!(c.cmd("ECHO hi"), Reply::bulk("hi"));
    assert_eq!(c.cmd("PING hi"), Reply::bulk("hi"));
    assert_eq!(c.cmd("SELECT 0"), ok());
    assert_eq!(c.cmd("FLUSHALL SYNC"), ok());
}

#[test]
fn collection_commands() {
    let engine = serve();
    let mut c = Client::connect(engine.local_addr());
    assert_eq!(c.cmd("RPUSH l a b c"), Reply::Int(3));
    assert_eq!(c.cmd("LPUSH l z"), Reply::Int(4));
    assert_eq!(c.cmd("LRANGE l 0 -1"), Reply::bulks(&["z", "a", "b", "c"]));
    assert_eq!(c.cmd("LRANGE l -2 100"), Reply::bulks(&["b", "c"]));
    assert_eq!(c.cmd("LRANGE l 3 1"), Reply::Array(vec![]));
    assert_eq!(c.cmd("LPOP l"), Reply::bulk("z"));
    assert_eq!(c.cmd("RPOP l 2"), Reply::bulks(&["c", "b"]));
    assert_eq!(c.cmd("LLEN l"), Reply::Int(1));
    assert_eq!(c.cmd("LPOP l 0"), Reply::Array(vec![]));
    assert_eq!(c.cmd("RPOP l"), Reply::bulk("a"));
    assert_eq!(c.cmd("EXISTS l"), Reply::Int(0), "an emptied list is deleted");
    assert_eq!(c.cmd("LPOP l"), Reply::Null);
    assert_eq!(c.cmd("HSET h a 1 b 2"), Reply::Int(2));
    assert_eq!(c.cmd("HSET h a 3 c 4"), Reply::Int(1));
    assert_eq!(c.cmd("HGET h a"), Reply::bulk("3"));
    assert_eq!(c.cmd("HLEN h"), Reply::Int(3));
    assert_eq!(c.cmd("HEXISTS h c"), Reply::Int(1));
    assert_eq!(c.cmd("HDEL h a zz c"), Reply::Int(2));
    assert_eq!(c.cmd("HGETALL h"), Reply::bulks(&["b", "2"]));
    assert_eq!(c.cmd("HDEL h b"), Reply::Int(1));
    assert_eq!(c.cmd("EXISTS h"), Reply::Int(0));
    assert_eq!(c.cmd("SADD s a b c a"), Reply::Int(3));
    assert_eq!(c.cmd("SISMEMBER s b"), Reply::Int(1));
    assert_eq!(c.cmd("SREM s b x"), Reply::Int(1));
    assert_eq!(c.cmd("SCARD s"), Reply::Int(2));
    let Reply::Array(popped) = c.cmd("SPOP s 5") else {
        panic!("SPOP")
    };
    let mut popped: Vec<String> = popped.iter().map(Reply::text).collect();
    popped.sort();
    assert_eq!(popped, ["a", "c"]);
    assert_eq!(c.cmd("SPOP s"), Reply::Null);
    assert_eq!(c.cmd("ZADD z 1 a 2.5 b 0.1 c"), Reply::Int(3));
    assert_eq!(c.cmd("ZADD z CH 5 a 7 d"), Reply::Int(2));
    assert_eq!(c.cmd("ZADD z INCR 1 a"), Reply::bulk("6"));
    assert_eq!(c.cmd("ZCARD z"), Reply::Int(4));
    assert_eq!(
        c.cmd("ZRANGE z 0 1 WITHSCORES"),
        Reply::bulks(&["c", "0.10000000000000001", "b", "2.5"])
    );
    assert_eq!(c.cmd("ZPOPMIN z"), Reply::bulks(&["c", "0.10000000000000001"]));
    assert_eq!(c.cmd("ZPOPMIN z 2"), Reply::bulks(&["b", "2.5", "a", "6"]));
    assert_eq!(c.cmd("ZREM z d x"), Reply::Int(1));
    assert_eq!(c.cmd("ZPOPMIN z"), Reply::Array(vec![]));
}
