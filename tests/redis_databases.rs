//! examples/redis: the 16 numbered databases, as Redis 7.0.15 answers
//! (every expected reply below was taken from redis-server 7.0.15): SELECT,
//! MOVE, SWAPDB, FLUSHDB versus FLUSHALL, DBSIZE and INFO keyspace per
//! database, SELECT inside MULTI, WATCH per database, expiry everywhere.

mod util;

#[path = "redis/harness.rs"]
mod harness;

use std::time::Duration;

use harness::{serve, Client, Reply};
use util::wait_until;

fn ok() -> Reply {
    Reply::status("OK")
}

fn err(text: &str) -> Reply {
    Reply::error(text)
}

/// Runs each command on `c`, asserting its reply.
fn script(c: &mut Client, steps: &[(&str, Reply)]) {
    for (line, want) in steps {
        assert_eq!(&c.cmd(line), want, "{line}");
    }
}

#[test]
fn select_keeps_the_sixteen_databases_apart() {
    let engine = serve();
    let mut c = Client::connect(engine.local_addr());
    script(
        &mut c,
        &[
            ("SET k zero", ok()),
            ("SELECT 1", ok()),
            ("GET k", Reply::Null),
            ("SET k one", ok()),
            ("SET other x", ok()),
            ("DBSIZE", Reply::Int(2)),
            ("SELECT 15", ok()),
            ("DBSIZE", Reply::Int(0)),
            ("SELECT 16", err("ERR DB index is out of range")),
            ("SELECT -1", err("ERR DB index is out of range")),
            ("SELECT 2147483647", err("ERR DB index is out of range")),
            (
                "SELECT 2147483648",
                err("ERR value is out of range, value must between -2147483648 and 2147483647"),
            ),
            ("SELECT 01", err("ERR value is not an integer or out of range")),
            ("SELECT x", err("ERR value is not an integer or out of range")),
            ("SELECT 0", ok()),
            ("GET k", Reply::bulk("zero")),
            ("DBSIZE", Reply::Int(1)),
            ("SELECT 1", ok()),
            ("GET k", Reply::bulk("one")),
        ],
    );
    assert!(c.cmd("CLIENT INFO").text().contains(" db=1 "));
    // A second connection starts in database 0; RESET goes back to it.
    let mut d = Client::connect(engine.local_addr());
    assert_eq!(d.cmd("GET k"), Reply::bulk("zero"));
    script(
        &mut c,
        &[("RESET", Reply::status("RESET")), ("GET k", Reply::bulk("zero"))],
    );
    assert!(c.cmd("CLIENT INFO").text().contains(" db=0 "));
    // Every key command works in another database: a list, a hash, a scan.
    script(
        &mut c,
        &[
            ("SELECT 7", ok()),
            ("RPUSH l a b", Reply::Int(2)),
            ("HSET h f v", Reply::Int(1)),
        ],
    );
    let Reply::Array(mut keys) = c.cmd("KEYS *") else {
        panic!("KEYS")
    };
    keys.sort_by_key(|k| k.text());
    assert_eq!(keys, vec![Reply::bulk("h"), Reply::bulk("l")]);
    let Reply::Array(scan) = c.cmd("SCAN 0 COUNT 1000") else {
        panic!("SCAN")
    };
    assert_eq!(scan[0], Reply::bulk("0"));
    let Reply::Array(mut keys) = scan[1].clone() else {
        panic!("SCAN keys")
    };
    keys.sort_by_key(|k| k.text());
    assert_eq!(keys, vec![Reply::bulk("h"), Reply::bulk("l")]);
}

#[test]
fn flushdb_empties_one_database_and_flushall_every_one() {
    let engine = serve();
    let mut c = Client::connect(engine.local_addr());
    for db in [0, 3, 15] {
        assert_eq!(c.cmd(&format!("SELECT {db}")), ok());
        assert_eq!(c.cmd("MSET a 1 b 2"), ok());
        assert_eq!(c.cmd("SET t 1 EX 1000"), ok());
    }
    let info = c.cmd("INFO keyspace").text();
    assert_eq!(
        info,
        "# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=0\r\ndb3:keys=3,expires=1,avg_ttl=0\r\n\
         db15:keys=3,expires=1,avg_ttl=0\r\n"
    );
    script(
        &mut c,
        &[
            ("SELECT 3", ok()),
            ("FLUSHDB", ok()),
            ("DBSIZE", Reply::Int(0)),
            ("SELECT 15", ok()),
            ("DBSIZE", Reply::Int(3)),
        ],
    );
    assert_eq!(
        c.cmd("INFO keyspace").text(),
        "# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=0\r\ndb15:keys=3,expires=1,avg_ttl=0\r\n"
    );
    script(
        &mut c,
        &[
            ("FLUSHALL", ok()),
            ("DBSIZE", Reply::Int(0)),
            ("SELECT 0", ok()),
            ("DBSIZE", Reply::Int(0)),
        ],
    );
    assert_eq!(c.cmd("INFO keyspace").text(), "# Keyspace\r\n");
    assert_eq!(
        c.cmd("CONFIG GET databases"),
        Reply::Array(vec![Reply::bulk("databases"), Reply::bulk("16")])
    );
}

#[test]
fn move_takes_the_key_and_its_deadline_to_another_database() {
    let engine = serve();
    let mut c = Client::connect(engine.local_addr());
    script(
        &mut c,
        &[
            ("SET k v EX 1000", ok()),
            ("MOVE k 0", err("ERR source and destination objects are the same")),
            ("MOVE k 16", err("ERR DB index is out of range")),
            ("MOVE k -1", err("ERR DB index is out of range")),
            ("MOVE k x", err("ERR value is not an integer or out of range")),
            (
                "MOVE k 99999999999",
                err("ERR value is out of range, value must between -2147483648 and 2147483647"),
            ),
            ("MOVE missing 1", Reply::Int(0)),
            // Out of range is checked before "the same", and before the key.
            ("MOVE missing 0", err("ERR source and destination objects are the same")),
            ("MOVE k 1", Reply::Int(1)),
            ("EXISTS k", Reply::Int(0)),
            ("SET k here", ok()),
            ("SELECT 1", ok()),
            ("GET k", Reply::bulk("v")),
            // Already in the destination: nothing moves.
            ("MOVE k 0", Reply::Int(0)),
            ("GET k", Reply::bulk("v")),
            ("RPUSH l a", Reply::Int(1)),
            ("MOVE l 3", Reply::Int(1)),
            ("SELECT 3", ok()),
            ("TYPE l", Reply::status("list")),
            ("LRANGE l 0 -1", Reply::bulks(&["a"])),
        ],
    );
    assert_eq!(c.cmd("SELECT 1"), ok());
    let Reply::Int(ttl) = c.cmd("TTL k") else { panic!("TTL") };
    assert!((990..=1000).contains(&ttl), "the deadline moved with the key: {ttl}");
}

#[test]
fn swapdb_trades_contents_and_aborts_transactions_watching_either() {
    let engine = serve();
    let mut c = Client::connect(engine.local_addr());
    let mut watcher = Client::connect(engine.local_addr());
    script(
        &mut c,
        &[
            ("SET k zero", ok()),
            ("SELECT 1", ok()),
            ("SET k one", ok()),
            ("SET only1 x", ok()),
            ("SWAPDB 0 16", err("ERR DB index is out of range")),
            ("SWAPDB 0 -1", err("ERR DB index is out of range")),
            ("SWAPDB x 1", err("ERR invalid first DB index")),
            ("SWAPDB 0 x", err("ERR invalid second DB index")),
            ("SWAPDB 99999999999 0", err("ERR invalid first DB index")),
            ("SWAPDB 0 0", ok()),
        ],
    );
    script(&mut watcher, &[("SELECT 0", ok()), ("WATCH k", ok())]);
    // A watched key that exists in neither database is not touched.
    let mut bystander = Client::connect(engine.local_addr());
    script(&mut bystander, &[("WATCH nowhere", ok())]);
    assert_eq!(c.cmd("SWAPDB 0 1"), ok());
    // c stays on database 1, which now holds what 0 held.
    script(
        &mut c,
        &[
            ("GET k", Reply::bulk("zero")),
            ("DBSIZE", Reply::Int(1)),
            ("SELECT 0", ok()),
        ],
    );
    script(
        &mut c,
        &[("GET k", Reply::bulk("one")), ("GET only1", Reply::bulk("x"))],
    );
    script(
        &mut watcher,
        &[
            ("MULTI", ok()),
            ("GET k", Reply::status("QUEUED")),
            ("EXEC", Reply::Null),
        ],
    );
    script(
        &mut bystander,
        &[
            ("MULTI", ok()),
            ("GET k", Reply::status("QUEUED")),
            ("EXEC", Reply::Array(vec![Reply::bulk("one")])),
        ],
    );
}

#[test]
fn select_inside_multi_applies_to_what_follows_and_stays() {
    let engine = serve();
    let mut c = Client::connect(engine.local_addr());
    let mut other = Client::connect(engine.local_addr());
    script(
        &mut c,
        &[
            ("WATCH k", ok()),
            ("MULTI", ok()),
            ("SET k zero", Reply::status("QUEUED")),
            ("SELECT 2", Reply::status("QUEUED")),
            ("SET k two", Reply::status("QUEUED")),
            ("SELECT 99", Reply::status("QUEUED")),
            ("INCR n", Reply::status("QUEUED")),
            (
                "EXEC",
                Reply::Array(vec![
                    ok(),
                    ok(),
                    ok(),
                    err("ERR DB index is out of range"),
                    Reply::Int(1),
                ]),
            ),
            ("GET k", Reply::bulk("two")),
        ],
    );
    script(
        &mut other,
        &[
            ("GET k", Reply::bulk("zero")),
            ("GET n", Reply::Null),
            ("SELECT 2", ok()),
        ],
    );
    assert_eq!(other.cmd("GET n"), Reply::bulk("1"));
    // WATCH is per database: a write to k in database 0 does not abort a
    // transaction watching k in database 2.
    script(&mut c, &[("WATCH k", ok())]);
    script(&mut other, &[("SELECT 0", ok()), ("SET k changed", ok())]);
    script(
        &mut c,
        &[
            ("MULTI", ok()),
            ("GET k", Reply::status("QUEUED")),
            ("EXEC", Reply::Array(vec![Reply::bulk("two")])),
        ],
    );
}

#[test]
fn keys_with_a_deadline_expire_in_every_database() {
    let engine = serve();
    let mut c = Client::connect(engine.local_addr());
    for db in [5, 9] {
        assert_eq!(c.cmd(&format!("SELECT {db}")), ok());
        assert_eq!(c.cmd("SET t v PX 30"), ok());
    }
    // DBSIZE counts keys not yet deleted: only the active sweep, not a
    // read, makes it fall to 0.
    wait_until(Duration::from_secs(10), "the sweep deleted t in 9", || {
        c.cmd("DBSIZE") == Reply::Int(0)
    });
    assert_eq!(c.cmd("SELECT 5"), ok());
    wait_until(Duration::from_secs(10), "the sweep deleted t in 5", || {
        c.cmd("DBSIZE") == Reply::Int(0)
    });
}
