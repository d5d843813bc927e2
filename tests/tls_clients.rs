//! TLS on the loop against real clients: `openssl s_client` (TLS 1.2 and
//! 1.3, ALPN, SNI, a client certificate) and Python's `ssl` module (100
//! concurrent clients, byte-exact through the echo). Each client must be
//! installed (`.ci/run` installs openssl and python3); a missing one fails
//! the test with a message saying so.
#![cfg(feature = "tls")]

mod util;

use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use netreactor::tls::rustls::ProtocolVersion;
use netreactor::tls::TlsInfo;
use netreactor::{Action, Conn, Engine, EventHandler};
use util::lock;
use util::tls::{mtls_server_config, pki, server_config, Pki};

/// Answers one line with "echo: LINE" and closes (with close_notify, so
/// s_client ends); keeps what `Conn::tls` said.
#[derive(Default)]
struct LineOnce {
    seen: Mutex<Vec<TlsInfo>>,
}

impl EventHandler for LineOnce {
    fn on_open(&self, conn: &mut Conn) -> Action {
        lock(&self.seen).push(conn.tls().cloned().expect("TLS info"));
        Action::Continue
    }
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        let Some(end) = conn.peek_all().iter().position(|&b| b == b'\n') else {
            return Action::Continue;
        };
        let line = conn.next(end + 1).unwrap();
        conn.write(b"echo: ");
        conn.write(&line);
        Action::Close
    }
}

/// `openssl s_client` with `args`, sending "hello\n"; its stdout (only the
/// data: -quiet) and stderr.
fn s_client(port: u16, pki: &Pki, args: &[&str]) -> Output {
    let connect = format!("127.0.0.1:{port}");
    let ca = pki.ca.to_str().unwrap();
    let mut child = Command::new("timeout")
        .args([
            "20",
            "openssl",
            "s_client",
            "-connect",
            &connect,
            "-CAfile",
            ca,
            "-verify_return_error",
            "-quiet",
        ])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run openssl s_client ({e}); install it (.ci/run: apt-get install -y openssl)")
        });
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    child.wait_with_output().unwrap()
}

fn serve(handler: Arc<LineOnce>, config: Arc<netreactor::tls::rustls::ServerConfig>) -> (util::Engine, u16) {
    let engine = Engine::builder()
        .event_loops(1)
        .tls(config)
        .start(handler, "tls://127.0.0.1:0")
        .unwrap();
    let port = engine.local_addrs()[0].socket_addr().unwrap().port();
    (util::Engine(engine), port)
}

fn assert_echoed(out: &Output) {
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "echo: hello\n",
        "s_client failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn openssl_s_client_tls13_with_alpn_and_sni() {
    let pki = pki("tls_s_client_13");
    let handler = Arc::new(LineOnce::default());
    let (_engine, port) = serve(Arc::clone(&handler), server_config(&pki, &[b"h2", b"http/1.1"]));
    let out = s_client(
        port,
        &pki,
        &["-tls1_3", "-alpn", "http/1.1", "-servername", "localhost"],
    );
    assert_echoed(&out);
    let seen = lock(&handler.seen);
    assert_eq!(seen[0].version(), Some(ProtocolVersion::TLSv1_3));
    assert_eq!(seen[0].alpn(), Some(&b"http/1.1"[..]));
    assert_eq!(seen[0].server_name(), Some("localhost"));
}

#[test]
fn openssl_s_client_tls12() {
    let pki = pki("tls_s_client_12");
    let handler = Arc::new(LineOnce::default());
    let (_engine, port) = serve(Arc::clone(&handler), server_config(&pki, &[]));
    let out = s_client(port, &pki, &["-tls1_2", "-servername", "localhost"]);
    assert_echoed(&out);
    let seen = lock(&handler.seen);
    assert_eq!(seen[0].version(), Some(ProtocolVersion::TLSv1_2));
    assert_eq!(seen[0].alpn(), None);
    let suite = format!("{:?}", seen[0].cipher_suite().unwrap());
    assert!(suite.starts_with("TLS_ECDHE_ECDSA_WITH_"), "{suite}");
}

#[test]
fn openssl_s_client_with_a_client_certificate() {
    let pki = pki("tls_s_client_cert");
    let handler = Arc::new(LineOnce::default());
    let (engine, port) = serve(Arc::clone(&handler), mtls_server_config(&pki));
    let (cert, key) = (pki.client_cert.to_str().unwrap(), pki.client_key.to_str().unwrap());
    let out = s_client(port, &pki, &["-cert", cert, "-key", key]);
    assert_echoed(&out);
    // openssl sends the chain it built (the client's certificate, then the CA's).
    assert_eq!(lock(&handler.seen)[0].peer_certificates()[0], pki.client_der);

    // Without one: refused, and the handler never hears of it.
    let out = s_client(port, &pki, &[]);
    assert_eq!(out.stdout, b"", "served without a client certificate");
    util::wait_until(util::SETTLE, "the refused handshake is counted", || {
        engine.stats().closed_tls_handshake == 1
    });
    assert_eq!(lock(&handler.seen).len(), 1);
}

#[test]
fn python_ssl_100_concurrent_clients_byte_exact() {
    let pki = pki("tls_python_clients");
    let engine = util::Engine(
        Engine::builder()
            .event_loops(2)
            .tls(server_config(&pki, &[]))
            .start(util::Echo, "tls://127.0.0.1:0")
            .unwrap(),
    );
    let port = engine.local_addrs()[0].socket_addr().unwrap().port().to_string();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tls/echo_clients.py");
    let out = Command::new("python3")
        .args([script, "127.0.0.1", &port, pki.ca.to_str().unwrap(), "100", "100000"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e})"));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "100 clients byte-exact\n",
        "stderr: {} stats: {:?}",
        String::from_utf8_lossy(&out.stderr),
        engine.stats()
    );
    util::wait_until(util::SETTLE, "every client closed cleanly", || {
        let s = engine.stats();
        s.closed_peer_eof == 100 && s.open == 0
    });
    assert_eq!(
        engine.stats().closed_tls_error,
        0,
        "a client's close was taken for a truncation"
    );
}
