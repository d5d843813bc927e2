//! The proxy with TLS on either side, through real sockets: examples/proxy
//! run as a process terminating TLS for curl in front of the plain HTTP
//! example, originating TLS to the TLS echo example (1 MiB byte-exact,
//! half-close passed through), both at once for a rustls client (its
//! close_notify answered by one), and refusing an upstream whose
//! certificate does not verify; and `Conn::relay_with` in process: how a
//! failed upstream handshake ends the client (its `CloseReason`, the
//! stats), an upstream that is not TLS, one that never answers (the
//! handshake deadline), an upstream that speaks first, one that half-closes
//! first.
#![cfg(feature = "tls")]

mod util;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use netreactor::tls::rustls::ClientConfig;
use netreactor::{Action, CloseReason, Conn, Engine, EventHandler, RelayOptions, TlsFailure};
use util::examples::Running;
use util::tls::{client_config, connect as tls_connect, pki, server_config, Pki};
use util::*;

fn arg(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

/// The TLS echo example on an ephemeral port, serving `pki`'s certificate.
fn tls_echo_example(pki: &Pki) -> (Running, SocketAddr) {
    let mut echo = Running::start(
        "echo",
        &[
            "--addr",
            "tcp://127.0.0.1:0",
            "--loops",
            "1",
            "--tls-cert",
            arg(&pki.cert),
            "--tls-key",
            arg(&pki.key),
        ],
        &pki.dir,
    );
    let addr = echo.listening("Tls");
    (echo, addr)
}

/// The proxy example with `args` (after `--addr 127.0.0.1:0 --loops 1`);
/// its address printed as `kind`.
fn proxy_example(dir: &std::path::Path, kind: &str, args: &[&str]) -> (Running, SocketAddr) {
    let mut all = vec!["--addr", "tcp://127.0.0.1:0", "--loops", "1"];
    all.extend_from_slice(args);
    let mut proxy = Running::start("proxy", &all, dir);
    let addr = proxy.listening(kind);
    (proxy, addr)
}

/// Writes `payload` from a thread while this one reads, then shuts the
/// write side: what comes back up to the EOF must be `payload` exactly.
fn echo_through_with_half_close(addr: SocketAddr, payload: Vec<u8>) {
    let mut s = connect(addr);
    let mut writer = s.try_clone().unwrap();
    let sent = payload.clone();
    let w = thread::spawn(move || {
        for chunk in sent.chunks(10_000) {
            writer.write_all(chunk).unwrap();
        }
        // Half-close: the echo of what was sent must still come back.
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let got = read_to_eof(&mut s, IO_TIMEOUT);
    w.join().unwrap();
    assert_eq!(got.len(), payload.len());
    assert_eq!(first_difference(&got, &payload), None);
}

#[test]
fn curl_keep_alive_through_the_proxy_terminating_tls_for_the_plain_http_example() {
    let pki = pki("proxy_tls_curl");
    let mut http = Running::start("http", &["--addr", "tcp://127.0.0.1:0", "--loops", "1"], &pki.dir);
    let http_addr = http.listening("Tcp");
    let upstream = format!("tcp://{http_addr}");
    let (_proxy, addr) = proxy_example(
        &pki.dir,
        "Tls",
        &[
            "--tls-cert",
            arg(&pki.cert),
            "--tls-key",
            arg(&pki.key),
            "--upstream",
            &upstream,
        ],
    );
    let url = format!("https://127.0.0.1:{}/plaintext", addr.port());
    let out = Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--max-time",
            "20",
            "--cacert",
            arg(&pki.ca),
            "--write-out",
            " %{http_version} %{num_connects}\n",
            &url,
            &url,
        ])
        .output()
        .expect("curl (.ci/run installs it)");
    assert!(out.status.success(), "curl: {}", String::from_utf8_lossy(&out.stderr));
    // Two answers over one TLS connection (the second reused it).
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Hello, World! 1.1 1\nHello, World! 1.1 0\n"
    );
}

#[test]
fn the_proxy_originating_tls_relays_1_mib_byte_exact_and_passes_the_half_close() {
    let pki = pki("proxy_tls_originate");
    let (_echo, echo_addr) = tls_echo_example(&pki);
    let upstream = format!("tls://{echo_addr}");
    let (_proxy, addr) = proxy_example(
        &pki.dir,
        "Tcp",
        &[
            "--upstream",
            &upstream,
            "--upstream-ca",
            arg(&pki.ca),
            "--upstream-name",
            "localhost",
        ],
    );
    echo_through_with_half_close(addr, Rng::new(20).bytes(1024 * 1024));
}

#[test]
fn tls_both_ways_through_the_proxy_and_close_notify_answered_by_close_notify() {
    let pki = pki("proxy_tls_both");
    let (_echo, echo_addr) = tls_echo_example(&pki);
    // No --upstream-name: the upstream's host (127.0.0.1) is the name to
    // verify, which the test certificate carries.
    let upstream = format!("tls://{echo_addr}");
    let (_proxy, addr) = proxy_example(
        &pki.dir,
        "Tls",
        &[
            "--tls-cert",
            arg(&pki.cert),
            "--tls-key",
            arg(&pki.key),
            "--upstream",
            &upstream,
            "--upstream-ca",
            arg(&pki.ca),
        ],
    );
    let mut s = tls_connect(addr, client_config(&pki, &[]), "localhost");
    util::tls::round_trip(&mut s, b"through two TLS sessions");
    util::tls::round_trip(&mut s, &Rng::new(21).bytes(256 * 1024));
    // The client's close_notify goes on to the upstream as one; the echo
    // closes, and its close_notify comes back as the proxy's: a clean end,
    // not a truncation (rustls reports a bare FIN as an error).
    s.conn.send_close_notify();
    s.flush().unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("a close_notify, not a bare FIN");
    assert_eq!(rest, b"");
}

#[test]
fn an_upstream_certificate_that_does_not_verify_resets_the_client_at_once() {
    let pki_a = pki("proxy_tls_bad_ca_a");
    let pki_b = pki("proxy_tls_bad_ca_b");
    let (_echo, echo_addr) = tls_echo_example(&pki_a);
    let upstream = format!("tls://{echo_addr}");
    for (ca, name) in [(arg(&pki_b.ca), "localhost"), (arg(&pki_a.ca), "wrong.example")] {
        let (proxy, addr) = proxy_example(
            &pki_a.dir,
            "Tcp",
            &["--upstream", &upstream, "--upstream-ca", ca, "--upstream-name", name],
        );
        let began = Instant::now();
        let mut s = connect(addr);
        s.write_all(b"never relayed").unwrap();
        expect_reset(&mut s, IO_TIMEOUT);
        assert!(began.elapsed() < IO_TIMEOUT, "{}", proxy.log_text());
    }
}

/// A TLS server on one loop serving `pki`'s certificate.
fn start_tls(pki: &Pki, handler: impl netreactor::Service) -> util::Engine {
    util::Engine(
        Engine::builder()
            .event_loops(1)
            .tls(server_config(pki, &[]))
            .start(handler, "tls://127.0.0.1:0")
            .unwrap(),
    )
}

/// A relay to `upstream` per connection that records how each client ended.
struct Recorded {
    upstream: String,
    options: RelayOptions,
    closed: Mutex<Vec<CloseReason>>,
}

impl EventHandler for Recorded {
    fn on_open(&self, conn: &mut Conn) -> Action {
        conn.relay_with(&self.upstream, Duration::from_secs(5), self.options.clone())
            .into()
    }

    fn on_close(&self, _conn: &mut Conn, reason: CloseReason) {
        lock(&self.closed).push(reason);
    }
}

fn recorded(upstream: SocketAddr, config: Arc<ClientConfig>, name: &str) -> Arc<Recorded> {
    Arc::new(Recorded {
        upstream: format!("tls://{upstream}"),
        options: RelayOptions::new().tls(config, name).unwrap(),
        closed: Mutex::new(Vec::new()),
    })
}

/// Connects a plain client to `proxy`, expects a reset, and returns the
/// reason its `on_close` was given.
fn client_reset(proxy: &util::Engine, relay: &Recorded) -> CloseReason {
    let mut s = connect(proxy.local_addr());
    s.write_all(b"never relayed").unwrap();
    expect_reset(&mut s, IO_TIMEOUT);
    wait_until(SETTLE, "the client's on_close", || !lock(&relay.closed).is_empty());
    lock(&relay.closed).pop().unwrap()
}

#[test]
fn a_failed_upstream_handshake_closes_the_client_with_the_tls_reason_and_counts_both_sides() {
    let pki_a = pki("relay_tls_fail_a");
    let pki_b = pki("relay_tls_fail_b");
    let upstream = start_tls(&pki_a, Echo);
    let upstream_addr = upstream.local_addr();
    for (config, name, cause) in [
        (client_config(&pki_b, &[]), "localhost", "invalid peer certificate"),
        (client_config(&pki_a, &[]), "wrong.example", "wrong.example"),
    ] {
        let relay = recorded(upstream_addr, config, name);
        let proxy = start(Engine::builder().event_loops(1), relay.clone());
        let reason = client_reset(&proxy, &relay);
        match &reason {
            CloseReason::Tls(TlsFailure::Handshake(why)) => {
                assert!(why.contains(cause), "{why}")
            }
            other => panic!("closed with {other:?}, not the upstream's handshake failure"),
        }
        wait_until(SETTLE, "both sides closed", || proxy.connection_count() == 0);
        let stats = proxy.stats();
        // The upstream's failure and the client ended by it.
        assert_eq!(stats.closed_tls_handshake, 2, "{stats:?}");
        assert_eq!((stats.accepted, stats.dialed), (1, 1), "{stats:?}");
    }
}

#[test]
fn an_upstream_that_is_not_tls_fails_the_handshake_and_a_silent_one_its_deadline() {
    let pki = pki("relay_tls_not_tls");
    // A plain echo sends the ClientHello back: not a ServerHello.
    let plain = start(Engine::builder().event_loops(1), Echo);
    let relay = recorded(plain.local_addr(), client_config(&pki, &[]), "localhost");
    let proxy = start(Engine::builder().event_loops(1), relay.clone());
    let reason = client_reset(&proxy, &relay);
    assert!(
        matches!(reason, CloseReason::Tls(TlsFailure::Handshake(_))),
        "{reason:?}"
    );

    // Accepts and says nothing: the handshake deadline ends the pair.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let relay = recorded(silent.local_addr().unwrap(), client_config(&pki, &[]), "localhost");
    let proxy = start(
        Engine::builder()
            .event_loops(1)
            .tls_handshake_timeout(Duration::from_millis(300)),
        relay.clone(),
    );
    let began = Instant::now();
    let reason = client_reset(&proxy, &relay);
    assert!(
        matches!(reason, CloseReason::Tls(TlsFailure::HandshakeTimeout)),
        "{reason:?}"
    );
    assert!(began.elapsed() >= Duration::from_millis(300));
    let (held, _) = silent.accept().unwrap(); // it was connected all along
    drop(held);
}

/// Greets first, then echoes.
struct Banner;

impl EventHandler for Banner {
    fn on_open(&self, conn: &mut Conn) -> Action {
        conn.write(b"220 ready\r\n");
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }
}

#[test]
fn a_tls_upstream_that_speaks_first_reaches_the_client_before_it_sends() {
    let pki = pki("relay_tls_banner");
    let upstream = start_tls(&pki, Banner);
    let relay = recorded(upstream.local_addr(), client_config(&pki, &[]), "localhost");
    let proxy = start(Engine::builder().event_loops(1), relay.clone());
    let mut s = connect(proxy.local_addr());
    assert_eq!(read_exact_within(&mut s, 11, IO_TIMEOUT), b"220 ready\r\n");
    round_trip(&mut s, b"EHLO x\r\n");
    s.shutdown(Shutdown::Write).unwrap();
    expect_eof(&mut s, IO_TIMEOUT);
    wait_until(SETTLE, "the client's on_close", || !lock(&relay.closed).is_empty());
    // The upstream's close_notify, passed on: the pair ended whole.
    assert!(
        matches!(lock(&relay.closed)[0], CloseReason::PeerEof | CloseReason::Local),
        "{:?}",
        lock(&relay.closed)
    );
}

#[test]
fn relay_with_a_tls_address_and_no_tls_options_is_refused() {
    struct Plain(String, Mutex<Option<String>>);
    impl EventHandler for Plain {
        fn on_open(&self, conn: &mut Conn) -> Action {
            let e = conn.relay_with(&self.0, Duration::from_secs(1), RelayOptions::new());
            *lock(&self.1) = Some(format!("{e:?}"));
            Action::Close
        }
    }
    let handler = Arc::new(Plain("tls://127.0.0.1:9".into(), Mutex::new(None)));
    let proxy = start(Engine::builder().event_loops(1), handler.clone());
    let mut s = connect(proxy.local_addr());
    expect_eof(&mut s, IO_TIMEOUT);
    let e = lock(&handler.1).clone().unwrap();
    assert!(e.contains("InvalidAddress") && e.contains("RelayOptions::tls"), "{e}");
}

/// Says its piece, half-closes (close_notify), and counts what it still
/// reads until the client's end.
#[derive(Default)]
struct SaysAndListens {
    heard: Mutex<Option<usize>>,
}

impl EventHandler for SaysAndListens {
    fn on_open(&self, conn: &mut Conn) -> Action {
        conn.write(b"all I have to say");
        conn.shutdown_write();
        Action::Continue
    }

    fn on_traffic(&self, _conn: &mut Conn) -> Action {
        Action::Continue // keep it for on_eof
    }

    fn on_eof(&self, conn: &mut Conn) -> Action {
        *lock(&self.heard) = Some(conn.discard(usize::MAX));
        Action::Close
    }
}

#[test]
fn a_tls_upstreams_half_close_reaches_the_client_which_still_sends() {
    let pki = pki("relay_tls_upstream_half_close");
    let says = Arc::new(SaysAndListens::default());
    let upstream = start_tls(&pki, says.clone());
    let relay = recorded(upstream.local_addr(), client_config(&pki, &[]), "localhost");
    let proxy = start(Engine::builder().event_loops(1), relay.clone());
    let mut s = connect(proxy.local_addr());
    // Its close_notify arrives as a plain EOF after its words ...
    assert_eq!(read_to_eof(&mut s, IO_TIMEOUT), b"all I have to say");
    // ... and the other direction still flows to it, sealed.
    let rest = Rng::new(22).bytes(300 * 1024);
    s.write_all(&rest).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    wait_until(SETTLE, "the upstream's on_eof", || lock(&says.heard).is_some());
    assert_eq!(*lock(&says.heard), Some(rest.len()));
    wait_until(SETTLE, "the pair ends whole", || !lock(&relay.closed).is_empty());
    assert!(
        matches!(lock(&relay.closed)[0], CloseReason::PeerEof | CloseReason::Local),
        "{:?}",
        lock(&relay.closed)
    );
}
