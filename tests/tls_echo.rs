//! TLS on the loop, seen from a rustls client and from the engine's own
//! `dial_tls`: byte-exact echo at every size, what the handshake negotiated
//! on the `Conn`, plain and TLS listeners side by side, mTLS with the
//! client's chain on the `Conn`, and a certificate reload under load.
#![cfg(feature = "tls")]

mod util;

use std::io::{Read, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netreactor::tls::rustls::ProtocolVersion;
use netreactor::tls::TlsInfo;
use netreactor::{Action, Address, CloseReason, Conn, Engine, EventHandler, TlsFailure};
use util::tls::{client_config, client_config_with_cert, connect, mtls_server_config, pki, pki_for, server_config};
use util::{lock, wait_until, Rng, IO_TIMEOUT, SETTLE};

/// Echoes, and keeps what `Conn::tls` said in `on_open` and every close.
#[derive(Default)]
struct Watch {
    opened: Mutex<Vec<Option<TlsInfo>>>,
    closed: Mutex<Vec<CloseReason>>,
}

impl EventHandler for Watch {
    fn on_open(&self, conn: &mut Conn) -> Action {
        lock(&self.opened).push(conn.tls().cloned());
        Action::Continue
    }
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }
    fn on_close(&self, _conn: &mut Conn, reason: CloseReason) {
        lock(&self.closed).push(reason);
    }
}

fn tls_engine(handler: impl netreactor::Service, config: Arc<netreactor::tls::rustls::ServerConfig>) -> util::Engine {
    util::Engine(
        Engine::builder()
            .event_loops(2)
            .tls(config)
            .start(handler, "tls://127.0.0.1:0")
            .unwrap(),
    )
}

fn tls_addr(engine: &util::Engine) -> std::net::SocketAddr {
    engine.local_addrs().iter().find_map(Address::socket_addr).unwrap()
}

#[test]
fn tls_echo_is_byte_exact_from_1_byte_to_4_mib() {
    let pki = pki("tls_echo_sizes");
    let engine = tls_engine(util::Echo, server_config(&pki, &[]));
    let mut client = connect(tls_addr(&engine), client_config(&pki, &[]), "localhost");
    let mut rng = Rng::new(20);
    for size in [1, 2, 100, 16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1, 200_000, 4 << 20] {
        let sent = rng.bytes(size);
        // At most 64 KiB in flight, so neither side's socket fills up.
        let mut back = vec![0u8; size];
        for (out, into) in sent.chunks(64 * 1024).zip(back.chunks_mut(64 * 1024)) {
            client.write_all(out).unwrap();
            client.read_exact(into).unwrap();
        }
        assert_eq!(
            util::first_difference(&sent, &back),
            None,
            "echo of {size} bytes differs"
        );
    }
}

#[test]
fn on_open_sees_alpn_sni_version_and_suite() {
    let pki = pki("tls_info");
    let watch = Arc::new(Watch::default());
    let engine = tls_engine(Arc::clone(&watch), server_config(&pki, &[b"http/1.1"]));
    let mut client = connect(
        tls_addr(&engine),
        client_config(&pki, &[b"h2", b"http/1.1"]),
        "localhost",
    );
    util::tls::round_trip(&mut client, b"ping");
    let info = lock(&watch.opened)[0].clone().expect("a TLS connection has TLS info");
    assert_eq!(info.alpn(), Some(&b"http/1.1"[..]));
    assert_eq!(info.server_name(), Some("localhost"));
    assert_eq!(info.version(), Some(ProtocolVersion::TLSv1_3));
    assert_eq!(
        client.conn.negotiated_cipher_suite().map(|s| s.suite()),
        info.cipher_suite()
    );
    assert!(
        info.peer_certificates().is_empty(),
        "no client certificate was asked for"
    );
}

#[test]
fn plain_and_tls_listeners_serve_side_by_side() {
    let pki = pki("tls_side_by_side");
    let watch = Arc::new(Watch::default());
    let engine = util::Engine(
        Engine::builder()
            .event_loops(1)
            .tls(server_config(&pki, &[]))
            .start(
                Arc::clone(&watch),
                ["tcp://127.0.0.1:0", "tls://127.0.0.1:0"].as_slice(),
            )
            .unwrap(),
    );
    let addrs = engine.local_addrs();
    assert!(
        matches!(addrs[0], Address::Tcp(_)) && matches!(addrs[1], Address::Tls(_)),
        "{addrs:?}"
    );
    let mut plain = util::connect(addrs[0].socket_addr().unwrap());
    util::round_trip(&mut plain, b"in the clear");
    let mut tls = connect(addrs[1].socket_addr().unwrap(), client_config(&pki, &[]), "127.0.0.1");
    util::tls::round_trip(&mut tls, b"sealed");
    let opened = lock(&watch.opened);
    assert!(opened[0].is_none(), "the plain connection has no TLS info");
    assert_eq!(
        opened[1].as_ref().and_then(TlsInfo::server_name),
        None,
        "no SNI for an IP address"
    );
}

#[test]
fn mtls_puts_the_verified_client_chain_on_the_conn() {
    let pki = pki("tls_mtls");
    let watch = Arc::new(Watch::default());
    let engine = tls_engine(Arc::clone(&watch), mtls_server_config(&pki));
    let mut client = connect(tls_addr(&engine), client_config_with_cert(&pki), "localhost");
    util::tls::round_trip(&mut client, b"who am i");
    let info = lock(&watch.opened)[0].clone().unwrap();
    assert_eq!(info.peer_certificates(), std::slice::from_ref(&pki.client_der));

    // Without a certificate the handshake fails: counted, never seen.
    let tcp = util::connect(tls_addr(&engine));
    let name = "localhost".try_into().unwrap();
    let mut conn = netreactor::tls::rustls::ClientConnection::new(client_config(&pki, &[]), name).unwrap();
    let mut tcp = tcp;
    let mut failed = false;
    // TLS 1.3: the client finishes first; the server's alert arrives after.
    for _ in 0..10 {
        if conn.complete_io(&mut tcp).is_err() {
            failed = true;
            break;
        }
        if !conn.is_handshaking() {
            let _ = conn.writer().write_all(b"x");
            if conn.complete_io(&mut tcp).is_err() || conn.complete_io(&mut tcp).is_err() {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "a client without a certificate was served");
    wait_until(SETTLE, "the failed handshake is counted", || {
        engine.stats().closed_tls_handshake == 1
    });
    assert_eq!(lock(&watch.opened).len(), 1, "on_open ran for an unauthenticated peer");
    assert!(
        lock(&watch.closed).is_empty(),
        "on_close ran for an unauthenticated peer"
    );
}

/// Dials a TLS server from a client engine and reports what comes back.
struct Pinger(Mutex<mpsc::Sender<Result<Vec<u8>, CloseReason>>>);

impl EventHandler for Pinger {
    fn on_open(&self, conn: &mut Conn) -> Action {
        conn.write(b"ping over tls");
        Action::Continue
    }
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        if conn.inbound_len() < 13 {
            return Action::Continue;
        }
        let _ = lock(&self.0).send(Ok(conn.take_inbound().to_vec()));
        Action::Close
    }
    fn on_close(&self, _conn: &mut Conn, reason: CloseReason) {
        let _ = lock(&self.0).send(Err(reason));
    }
}

#[test]
fn dial_tls_talks_to_a_tls_listener() {
    let pki = pki("tls_dial");
    let server = tls_engine(util::Echo, server_config(&pki, &[]));
    let (tx, rx) = mpsc::channel();
    let client = util::Engine(
        Engine::builder()
            .event_loops(1)
            .start_client(Pinger(tx.into()))
            .unwrap(),
    );
    let addr = tls_addr(&server).to_string();
    client
        .dial_tls(&addr, client_config(&pki, &[]), "localhost", Duration::from_secs(5))
        .unwrap();
    assert_eq!(rx.recv_timeout(IO_TIMEOUT).unwrap().unwrap(), b"ping over tls");
    assert!(matches!(rx.recv_timeout(IO_TIMEOUT).unwrap(), Err(CloseReason::Local)));

    // A server whose certificate does not verify: on_close says why, and
    // on_open never ran (nothing was sent in the clear either).
    let other = pki_for("tls_dial_other", "localhost");
    client
        .dial_tls(&addr, client_config(&other, &[]), "localhost", Duration::from_secs(5))
        .unwrap();
    match rx.recv_timeout(IO_TIMEOUT).unwrap() {
        Err(CloseReason::Tls(TlsFailure::Handshake(why))) => assert!(why.contains("certificate"), "{why}"),
        other => panic!("expected a failed handshake, got {other:?}"),
    }
}

#[test]
fn reload_tls_changes_the_certificate_for_new_connections_only() {
    let first = pki_for("tls_reload_first", "first");
    let second = pki_for("tls_reload_second", "second");
    let engine = tls_engine(util::Echo, server_config(&first, &[]));
    let addr = tls_addr(&engine);
    let mut old = connect(addr, client_config(&first, &[]), "localhost");
    util::tls::round_trip(&mut old, b"before");

    engine.reload_tls(0, server_config(&second, &[])).unwrap();
    let mut new = connect(addr, client_config(&second, &[]), "localhost");
    util::tls::round_trip(&mut new, b"after");
    util::tls::round_trip(&mut old, b"still served with the old certificate");
    // A client that trusts only the first CA now fails to verify.
    let tcp = util::connect(addr);
    let mut conn =
        netreactor::tls::rustls::ClientConnection::new(client_config(&first, &[]), "localhost".try_into().unwrap())
            .unwrap();
    let mut tcp = tcp;
    let err = loop {
        match conn.complete_io(&mut tcp) {
            Err(e) => break e,
            Ok(_) if !conn.is_handshaking() => panic!("the old certificate is still served"),
            Ok(_) => {}
        }
    };
    assert!(err.to_string().contains("certificate"), "{err}");
    assert!(
        engine.reload_tls(1, server_config(&second, &[])).is_err(),
        "no listener 1"
    );
}

#[test]
fn a_second_connection_resumes_the_session() {
    let pki = pki("tls_resume");
    let engine = tls_engine(util::Echo, server_config(&pki, &[]));
    // One client config: its session store keeps what the server's
    // NewSessionTicket (sent by the loop after the handshake) gave it.
    let config = client_config(&pki, &[]);
    let mut first = connect(tls_addr(&engine), Arc::clone(&config), "localhost");
    util::tls::round_trip(&mut first, b"first");
    assert_eq!(
        first.conn.handshake_kind(),
        Some(netreactor::tls::rustls::HandshakeKind::Full)
    );
    let mut second = connect(tls_addr(&engine), config, "localhost");
    util::tls::round_trip(&mut second, b"second");
    assert_eq!(
        second.conn.handshake_kind(),
        Some(netreactor::tls::rustls::HandshakeKind::Resumed)
    );
}

/// Echoes line frames (`LineCodec`) and, from another thread, pushes one
/// message through the connection's handle when it opens.
struct LinesAndPush;

impl EventHandler for LinesAndPush {
    fn on_open(&self, conn: &mut Conn) -> Action {
        let handle = conn.handle();
        std::thread::spawn(move || handle.async_write(&b"pushed from a thread\n"[..]).unwrap());
        Action::Continue
    }
    fn on_frame(&self, conn: &mut Conn, line: netreactor::Frame<'_>) -> Action {
        conn.write_frame(&line).into()
    }
}

#[test]
fn codecs_and_handle_writes_see_and_send_plaintext() {
    let pki = pki("tls_codec_handle");
    let engine = util::Engine(
        Engine::builder()
            .event_loops(1)
            .codec(netreactor::codec::LineCodec::new())
            .tls(server_config(&pki, &[]))
            .start(LinesAndPush, "tls://127.0.0.1:0")
            .unwrap(),
    );
    let mut client = connect(tls_addr(&engine), client_config(&pki, &[]), "localhost");
    let mut pushed = [0u8; 21];
    client.read_exact(&mut pushed).unwrap();
    assert_eq!(&pushed, b"pushed from a thread\n");
    // Lines split across TLS records (one record per write) and joined.
    let long: String = (0..40_000).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    for part in ["hel", "lo\nwor", "ld\n", &long, "\n"] {
        client.write_all(part.as_bytes()).unwrap();
        client.flush().unwrap();
    }
    let want = format!("hello\nworld\n{long}\n");
    let mut back = vec![0u8; want.len()];
    client.read_exact(&mut back).unwrap();
    assert_eq!(String::from_utf8(back).unwrap(), want);
}
