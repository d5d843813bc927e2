//! Memory an idle TLS connection holds on the server: 1000 Python `ssl`
//! clients finish their handshakes, echo one byte each and go idle; the
//! engine's resident memory grows by what their connections keep (rustls's
//! state; no read, plaintext or outbound buffer, which the loop lends only
//! while a connection is busy).
#![cfg(feature = "tls")]

mod util;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use netreactor::Engine;
use util::tls::{pki, server_config};

const CLIENTS: usize = 1000;

/// The bound asserted per idle connection (measured: see the printout and
/// docs/reliability.md).
const MAX_IDLE_BYTES_PER_CONNECTION: usize = 16 * 1024;

#[test]
fn an_idle_tls_connection_holds_only_rustls_state() {
    let pki = pki("tls_memory");
    let engine = util::Engine(
        Engine::builder()
            .event_loops(1)
            .tls(server_config(&pki, &[]))
            .start(util::Echo, "tls://127.0.0.1:0")
            .unwrap(),
    );
    let port = engine.local_addrs()[0].socket_addr().unwrap().port().to_string();
    // Warm the allocator and the loop's lent buffers with one client first.
    let mut warm = util::tls::connect(
        engine.local_addrs()[0].socket_addr().unwrap(),
        util::tls::client_config(&pki, &[]),
        "localhost",
    );
    util::tls::round_trip(&mut warm, b"warm");
    let before = util::vm_rss_kib();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tls/idle_clients.py");
    let mut child = Command::new("python3")
        .args([
            script,
            "127.0.0.1",
            &port,
            pki.ca.to_str().unwrap(),
            &CLIENTS.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    util::wait_until(util::SETTLE, "every client is open", || {
        engine.stats().open as usize == CLIENTS + 1
    });
    let after = util::wait_until_steady(
        Duration::from_secs(10),
        Duration::from_millis(200),
        "RSS",
        util::vm_rss_kib,
    );
    let per_connection = (after.saturating_sub(before)) * 1024 / CLIENTS;
    println!("idle TLS connection: {per_connection} bytes of server RSS each ({CLIENTS} connections)");
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    util::wait_until(util::SETTLE, "every client closed cleanly", || {
        engine.stats().closed_peer_eof as usize == CLIENTS
    });
    assert!(
        per_connection <= MAX_IDLE_BYTES_PER_CONNECTION,
        "{per_connection} bytes per idle TLS connection"
    );
}
