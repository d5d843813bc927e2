//! What a TLS echo allocates per message once the handshake is done,
//! counted on the loop thread (as tests/alloc.rs does for plain echo).
//!
//! The engine's own share is zero: the ciphertext is read into the loop's
//! buffer, the plaintext buffer is lent by the loop, and records are sealed
//! into a scratch buffer that trades places with the emptied queue. What
//! remains is rustls 0.23's: its unbuffered API hands each received
//! record's plaintext over in a `Vec` of its own, and encrypting a record
//! builds one `Vec` before copying it out: one allocation per record each
//! way, pinned here so that a change on either side is seen.
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

/// rustls's allocations per echoed record: one decrypting, one encrypting.
const RUSTLS_ALLOCATIONS_PER_ECHO: u64 = 2;

#[test]
fn tls_echo_allocates_only_rustls_per_record_buffers() {
    let pki = pki("tls_alloc");
    let engine = Engine::builder()
        .event_loops(1)
        .tls(server_config(&pki, &[]))
        .start(Echo, "tls://127.0.0.1:0")
        .unwrap();
    let addr = engine.local_addrs()[0].socket_addr().unwrap();
    let mut client = connect(addr, client_config(&pki, &[]), "localhost");
    let msg = [7u8; 64];
    let mut back = [0u8; 64];
    let mut round = |client: &mut util::tls::TlsStream| {
        client.write_all(&msg).unwrap();
        client.read_exact(&mut back).unwrap();
        assert_eq!(back, msg);
    };
    for _ in 0..200 {
        round(&mut client);
    }
    let rounds = 5_000;
    let before = util::counting::allocations();
    for _ in 0..rounds {
        round(&mut client);
    }
    let used = util::counting::allocations() - before;
    drop(client);
    engine.stop();
    assert_eq!(
        used,
        RUSTLS_ALLOCATIONS_PER_ECHO * rounds,
        "{used} allocations on the loop thread over {rounds} echoed 64-byte messages"
    );
}
