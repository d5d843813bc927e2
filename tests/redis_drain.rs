//! examples/redis while its engine drains: idle clients are closed at once
//! (with FIN, nothing cut), a command in flight is answered before its
//! connection closes, and a client blocked in BLPOP gets its timeout's
//! reply (`*-1`, no element taken) instead of a dropped connection.

mod util;

#[path = "redis/harness.rs"]
mod harness;

use std::io::Write;
use std::time::Duration;

use util::{connect, drain_in_background, expect_eof, read_exact_within, read_to_eof, wait_until, IO_TIMEOUT, SETTLE};

fn ask(s: &mut std::net::TcpStream, command: &[u8], reply: &[u8]) {
    s.write_all(command).unwrap();
    assert_eq!(read_exact_within(s, reply.len(), IO_TIMEOUT), reply);
}

#[test]
fn drain_closes_idle_clients_and_answers_a_command_in_flight() {
    let engine = harness::serve_with(harness::Config::default(), 2);
    let mut idle = connect(engine.local_addr());
    ask(&mut idle, b"*1\r\n$4\r\nPING\r\n", b"+PONG\r\n");
    let mut busy = connect(engine.local_addr());
    ask(&mut busy, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n", b"+OK\r\n");
    busy.write_all(b"*2\r\n$3\r\nGET\r\n$1\r").unwrap(); // half a command
    wait_until(SETTLE, "the half command is read", || {
        engine.stats().bytes_in >= 28 + 14 + 15
    });
    let drain = drain_in_background(&engine, Duration::from_secs(30));
    expect_eof(&mut idle, SETTLE);
    busy.write_all(b"\nk\r\n").unwrap();
    assert_eq!(read_to_eof(&mut busy, SETTLE), b"$1\r\nv\r\n");
    assert!(drain.join().unwrap() < Duration::from_secs(10));
}

#[test]
fn drain_answers_a_blocked_client_with_its_timeout_reply() {
    let engine = harness::serve_with(harness::Config::default(), 2);
    let mut blocked = connect(engine.local_addr());
    blocked
        .write_all(b"*3\r\n$5\r\nBLPOP\r\n$4\r\nlist\r\n$1\r\n0\r\n")
        .unwrap();
    let mut other = connect(engine.local_addr());
    wait_until(SETTLE, "the client blocks", || {
        other.write_all(b"*2\r\n$4\r\nINFO\r\n$7\r\nclients\r\n").unwrap();
        let mut reply = vec![0u8; 4096];
        let n = std::io::Read::read(&mut other, &mut reply).unwrap();
        String::from_utf8_lossy(&reply[..n]).contains("blocked_clients:1")
    });
    drop(other);
    let drain = drain_in_background(&engine, Duration::from_secs(30));
    assert_eq!(read_to_eof(&mut blocked, SETTLE), b"*-1\r\n");
    assert!(drain.join().unwrap() < Duration::from_secs(10));
}
