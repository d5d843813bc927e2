//! What a TLS echo allocates per message once the handshake is done,
//! counted on the loop thread (as tests/alloc.rs does for plain echo):
//! nothing. The ciphertext is read into the loop's buffer and opened there
//! in place, the plaintext buffer is lent by the loop, and records are
//! sealed by netreactor's record layer into a scratch buffer that trades
//! places with the emptied queue (rustls, which handles the handshake,
//! would allocate once per record each way).
#![cfg(feature = "tls")]

mod util;

use std::io::{Read, Write};

use netreactor::{Action, Conn, Engine, EventHandler};
use util::tls::{client_config, connect, pki, server_config};

#[global_allocator]
static GLOBAL: util::counting::Counting = util::counting::Counting;

struct Echo;

impl EventHandler for Echo {
    fn on_open(&self, _conn: &mut Conn) -> Action {
        util::counting::count_this_thread();
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }
}

/// Allocations on the loop thread over `rounds` echoes of `size` bytes,
/// after 200 to warm the buffers up, reading 10 KiB at a time.
fn allocations_per_echo(name: &str, size: usize, rounds: u64) -> u64 {
    let pki = pki(name);
    let engine = Engine::builder()
        .event_loops(1)
        // Reads of 10 KiB: most end inside a record.
        .read_buffer_size(10 * 1024)
        .tls(server_config(&pki, &[]))
        .start(Echo, "tls://127.0.0.1:0")
        .unwrap();
    let addr = engine.local_addrs()[0].socket_addr().unwrap();
    let mut client = connect(addr, client_config(&pki, &[]), "localhost");
    let msg: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let mut back = vec![0u8; size];
    let mut round = |client: &mut util::tls::TlsStream| {
        client.write_all(&msg).unwrap();
        client.read_exact(&mut back).unwrap();
        assert!(back == msg, "the echo differs");
    };
    for _ in 0..200 {
        round(&mut client);
    }
    let before = util::counting::allocations();
    for _ in 0..rounds {
        round(&mut client);
    }
    let used = util::counting::allocations() - before;
    drop(client);
    engine.stop();
    used
}

/// One test, so that no other engine's loop counts at the same time: 64 B
/// messages, then 40 KiB ones (three records each way per message, and
/// reads that end inside a record, whose start is kept for the next read).
#[test]
fn a_tls_echo_allocates_nothing_per_message_small_or_spanning_records() {
    let used = allocations_per_echo("tls_alloc_64", 64, 5_000);
    assert_eq!(
        used, 0,
        "{used} allocations on the loop thread over 5000 echoed 64-byte messages"
    );
    let used = allocations_per_echo("tls_alloc_40k", 40 * 1024, 500);
    assert_eq!(
        used, 0,
        "{used} allocations on the loop thread over 500 echoed 40 KiB messages"
    );
}
