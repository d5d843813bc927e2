//! netreactor's own record layer after the handshake (src/tls/record.rs),
//! against rustls as the peer: every cipher suite either version offers,
//! byte-exact both ways across record boundaries; TLS 1.3 key updates
//! asked by the peer and answered; session tickets a netreactor client
//! receives after its handshake, and resumption on both sides; records
//! that do not decrypt or are over the size limit, answered with the alert
//! that says why.
#![cfg(feature = "tls")]

mod util;

use std::io::{Read, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use netreactor::tls::rustls::crypto::ring::cipher_suite;
use netreactor::tls::rustls::crypto::CryptoProvider;
use netreactor::tls::rustls::{
    version, ClientConfig, HandshakeKind, RootCertStore, SupportedCipherSuite, SupportedProtocolVersion,
};
use netreactor::{Action, CloseReason, Conn, Engine, EventHandler, TlsFailure};
use util::tls::{client_config, connect, pki, server_config, Pki};
use util::{lock, wait_until, IO_TIMEOUT, SETTLE};

/// Echoes; a close_notify is answered with one; records each close and
/// whether each handshake was resumed.
#[derive(Default)]
struct Echo {
    resumed: Mutex<Vec<bool>>,
    closed: Mutex<Vec<CloseReason>>,
}

impl EventHandler for Echo {
    fn on_open(&self, conn: &mut Conn) -> Action {
        lock(&self.resumed).push(conn.tls().unwrap().resumed());
        Action::Continue
    }
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }
    fn on_eof(&self, _conn: &mut Conn) -> Action {
        Action::Close
    }
    fn on_close(&self, _conn: &mut Conn, reason: CloseReason) {
        lock(&self.closed).push(reason);
    }
}

fn serve<H: EventHandler + Send + Sync + 'static>(handler: Arc<H>, pki: &Pki) -> util::Engine {
    util::Engine(
        Engine::builder()
            .event_loops(1)
            .tls(server_config(pki, &[]))
            .start(handler, "tls://127.0.0.1:0")
            .unwrap(),
    )
}

fn addr(engine: &util::Engine) -> std::net::SocketAddr {
    engine.local_addrs()[0].socket_addr().unwrap()
}

/// A rustls client offering only `suite` over `version`.
fn client_for(pki: &Pki, suite: SupportedCipherSuite, version: &'static SupportedProtocolVersion) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    // The provider the library's configs use, with one suite.
    let provider = CryptoProvider {
        cipher_suites: vec![suite],
        ..CryptoProvider::clone(client_config(pki, &[]).crypto_provider())
    };
    Arc::new(
        ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Pseudo-random bytes (a record of zeros would hide a padding bug).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn round_trip(client: &mut util::tls::TlsStream, msg: &[u8]) {
    client.write_all(msg).unwrap();
    let mut back = vec![0u8; msg.len()];
    client.read_exact(&mut back).unwrap();
    assert!(back == msg, "the echo of {} bytes differs", msg.len());
}

#[test]
fn every_cipher_suite_of_either_version_round_trips_byte_exact() {
    let pki = pki("tls_records_suites");
    let handler = Arc::new(Echo::default());
    let engine = serve(Arc::clone(&handler), &pki);
    let suites = [
        (cipher_suite::TLS13_AES_128_GCM_SHA256, &version::TLS13),
        (cipher_suite::TLS13_AES_256_GCM_SHA384, &version::TLS13),
        (cipher_suite::TLS13_CHACHA20_POLY1305_SHA256, &version::TLS13),
        (cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, &version::TLS12),
        (cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, &version::TLS12),
        (
            cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            &version::TLS12,
        ),
    ];
    for (i, (suite, version)) in suites.into_iter().enumerate() {
        let mut client = connect(addr(&engine), client_for(&pki, suite, version), "localhost");
        assert_eq!(client.conn.negotiated_cipher_suite(), Some(suite));
        // One byte; exactly one full record; a message over six records.
        for len in [1, 16 * 1024, 100 * 1024 + 7] {
            round_trip(&mut client, &noise(len, i as u64 * 1000 + len as u64));
        }
        client.conn.send_close_notify();
        client.flush().unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).expect("the server's close_notify");
        assert_eq!(rest, b"", "{suite:?}");
    }
    wait_until(SETTLE, "every connection closed", || lock(&handler.closed).len() == 6);
    assert!(
        lock(&handler.closed).iter().all(|r| matches!(r, CloseReason::PeerEof)),
        "{:?}",
        lock(&handler.closed)
    );
    assert_eq!(engine.stats().closed_tls_error, 0);
}

#[test]
fn a_peer_key_update_is_followed_and_answered_with_ours() {
    let pki = pki("tls_records_key_update");
    let engine = serve(Arc::new(Echo::default()), &pki);
    let mut config = Arc::unwrap_or_clone(client_config(&pki, &[]));
    config.enable_secret_extraction = true;
    for updates in [1, 3] {
        let mut client = connect(addr(&engine), Arc::new(config.clone()), "localhost");
        round_trip(&mut client, b"before");
        for k in 0..updates {
            // A KeyUpdate asking for ours goes out before the next record.
            client.conn.refresh_traffic_keys().unwrap();
            round_trip(&mut client, &noise(200, k));
        }
        // The server's records since its last key update: only the last
        // echo's. Without an answer to our request, the server would
        // still be on its first key, its sequence number counting every
        // record it sent.
        #[allow(deprecated)]
        let secrets = client.conn.dangerous_extract_secrets().unwrap();
        assert_eq!(
            secrets.rx.0, 1,
            "the server's sequence number after {updates} key updates"
        );
        assert_eq!(secrets.tx.0, 1, "ours after {updates} key updates");
    }
}

/// A client engine's connection: a round trip (by which the server's
/// tickets, sent right after the handshake, have come), then it reports
/// whether its handshake was resumed and closes.
#[derive(Default)]
struct TicketClient {
    resumed: Mutex<Option<mpsc::Sender<bool>>>,
}

impl EventHandler for TicketClient {
    fn on_open(&self, conn: &mut Conn) -> Action {
        conn.write(b"ping");
        Action::Continue
    }
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        if conn.peek_all() != b"ping" {
            return Action::Continue;
        }
        let resumed = conn.tls().unwrap().resumed();
        let _ = lock(&self.resumed).as_ref().unwrap().send(resumed);
        Action::Close
    }
}

#[test]
fn a_netreactor_client_keeps_the_tickets_it_receives_after_its_handshake_and_resumes() {
    let pki = pki("tls_records_tickets");
    let server = Arc::new(Echo::default());
    let engine = serve(Arc::clone(&server), &pki);
    let (tx, rx) = mpsc::channel();
    let client = Arc::new(TicketClient {
        resumed: Mutex::new(Some(tx)),
    });
    let dialer = util::Engine(Engine::builder().event_loops(1).start_client(client).unwrap());
    let config = client_config(&pki, &[]);
    let to = addr(&engine).to_string();
    let mut seen = Vec::new();
    for _ in 0..3 {
        dialer
            .dial_tls(&to, Arc::clone(&config), "localhost", IO_TIMEOUT)
            .unwrap();
        seen.push(rx.recv_timeout(IO_TIMEOUT).expect("the dial's round trip"));
    }
    assert_eq!(seen, [false, true, true], "resumed, as the client saw it");
    wait_until(SETTLE, "the server saw three handshakes", || {
        lock(&server.resumed).len() == 3
    });
    assert_eq!(
        *lock(&server.resumed),
        [false, true, true],
        "resumed, as the server saw it"
    );
}

#[test]
fn a_rustls_client_resumes_against_a_netreactor_server() {
    let pki = pki("tls_records_resume");
    let handler = Arc::new(Echo::default());
    let engine = serve(Arc::clone(&handler), &pki);
    let config = client_config(&pki, &[]);
    for expected in [HandshakeKind::Full, HandshakeKind::Resumed] {
        let mut client = connect(addr(&engine), Arc::clone(&config), "localhost");
        // The tickets come after the handshake: a round trip reads them.
        round_trip(&mut client, b"hello");
        assert_eq!(client.conn.handshake_kind(), Some(expected));
    }
    assert_eq!(*lock(&handler.resumed), [false, true]);
}

/// Handshakes with rustls and makes a round trip (so that the handler has
/// seen the connection), then sends `record` as it is on the socket;
/// returns what rustls made of the server's answer.
fn send_raw_record(engine: &util::Engine, pki: &Pki, record: &[u8]) -> String {
    let mut client = connect(addr(engine), client_config(pki, &[]), "localhost");
    round_trip(&mut client, b"hello");
    client.sock.write_all(record).unwrap();
    let mut buf = Vec::new();
    match client.read_to_end(&mut buf) {
        Ok(_) => format!("a clean end after {} bytes", buf.len()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_record_that_does_not_decrypt_is_answered_with_bad_record_mac() {
    let pki = pki("tls_records_bad_mac");
    let handler = Arc::new(Echo::default());
    let engine = serve(Arc::clone(&handler), &pki);
    let mut record = vec![23, 3, 3, 0, 40];
    record.extend_from_slice(&noise(40, 7));
    let answer = send_raw_record(&engine, &pki, &record);
    assert!(answer.contains("BadRecordMac"), "{answer}");
    wait_until(SETTLE, "the failure is counted", || {
        engine.stats().closed_tls_error == 1
    });
    let closed = lock(&handler.closed);
    assert!(
        matches!(&closed[..], [CloseReason::Tls(TlsFailure::Protocol(why))] if why.contains("does not decrypt")),
        "{closed:?}"
    );
}

#[test]
fn a_record_over_the_size_limit_is_answered_with_record_overflow() {
    let pki = pki("tls_records_overflow");
    let handler = Arc::new(Echo::default());
    let engine = serve(Arc::clone(&handler), &pki);
    // 2^14 + 256 + 1 bytes announced: one more than TLS 1.3 allows. Only
    // the header is sent; the server must not wait for the rest.
    let answer = send_raw_record(&engine, &pki, &[23, 3, 3, 0x41, 0x01]);
    assert!(answer.contains("RecordOverflow"), "{answer}");
    wait_until(SETTLE, "the failure is counted", || {
        engine.stats().closed_tls_error == 1
    });
}

#[test]
fn a_record_of_a_plaintext_type_after_the_handshake_is_unexpected() {
    let pki = pki("tls_records_unexpected");
    let engine = serve(Arc::new(Echo::default()), &pki);
    // An unencrypted alert (close_notify) after a TLS 1.3 handshake.
    let answer = send_raw_record(&engine, &pki, &[21, 3, 3, 0, 2, 1, 0]);
    assert!(answer.contains("UnexpectedMessage"), "{answer}");
    wait_until(SETTLE, "the failure is counted", || {
        engine.stats().closed_tls_error == 1
    });
}

/// A ClientHello cut into 64-byte records, and the first read ends inside
/// the third: rustls keeps the records it has seen (joined in place) in
/// front of the rest, and must be shown them again with the next read
/// (shown fewer, it panicked and took the loop down).
#[test]
fn a_client_hello_in_small_records_split_across_reads_is_served() {
    use netreactor::tls::rustls::pki_types::ServerName;
    use netreactor::tls::rustls::{ClientConnection, StreamOwned};

    let pki = pki("tls_records_split_hello");
    let handler = Arc::new(Echo::default());
    let engine = serve(Arc::clone(&handler), &pki);
    let mut config = Arc::unwrap_or_clone(client_config(&pki, &[]));
    config.max_fragment_size = Some(64);
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = ClientConnection::new(Arc::new(config), name).unwrap();
    let mut hello = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut hello).unwrap();
    }
    let record_end = |at: usize| at + 5 + usize::from(u16::from_be_bytes([hello[at + 3], hello[at + 4]]));
    let cut = record_end(record_end(0)) + 3;
    assert!(hello.len() > cut + 10, "a ClientHello of {} bytes", hello.len());
    let mut tcp = util::connect(addr(&engine));
    tcp.write_all(&hello[..cut]).unwrap();
    wait_until(SETTLE, "the server read the first part", || {
        engine.stats().bytes_in == cut as u64
    });
    tcp.write_all(&hello[cut..]).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)
            .expect("the handshake of the split ClientHello");
    }
    let mut client = StreamOwned::new(conn, tcp);
    round_trip(&mut client, b"after a split hello");
    // The loop still serves others.
    let mut other = connect(addr(&engine), client_config(&pki, &[]), "localhost");
    round_trip(&mut other, b"and another client");
}

/// Echoes nothing: says "bye", shuts its write side (close_notify), then
/// keeps what the client still sends.
#[derive(Default)]
struct SaysBye {
    got: Mutex<Vec<u8>>,
    closed: Mutex<Vec<CloseReason>>,
}

impl EventHandler for SaysBye {
    fn on_open(&self, conn: &mut Conn) -> Action {
        conn.write(b"bye");
        conn.shutdown_write();
        Action::Continue
    }
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        let all = conn.peek_all().to_vec();
        conn.discard(all.len());
        lock(&self.got).extend_from_slice(&all);
        Action::Continue
    }
    fn on_eof(&self, _conn: &mut Conn) -> Action {
        Action::Close
    }
    fn on_close(&self, _conn: &mut Conn, reason: CloseReason) {
        lock(&self.closed).push(reason);
    }
}

/// After our close_notify nothing more may be sent, not even the key
/// update the peer asks for: the half-closed stream goes on one way.
#[test]
fn a_key_update_asked_after_our_close_notify_is_not_answered() {
    let pki = pki("tls_records_ku_after_close");
    let handler = Arc::new(SaysBye::default());
    let engine = serve(Arc::clone(&handler), &pki);
    let mut client = connect(addr(&engine), client_config(&pki, &[]), "localhost");
    let mut said = Vec::new();
    client.read_to_end(&mut said).expect("the server's close_notify");
    assert_eq!(said, b"bye");
    client.write_all(b"before").unwrap();
    client.conn.refresh_traffic_keys().unwrap();
    client.write_all(b" and after").unwrap();
    client.conn.send_close_notify();
    client.flush().unwrap();
    wait_until(SETTLE, "the connection closed", || lock(&handler.closed).len() == 1);
    assert_eq!(*lock(&handler.got), b"before and after");
    assert!(
        matches!(lock(&handler.closed)[0], CloseReason::PeerEof),
        "{:?}",
        lock(&handler.closed)
    );
}
