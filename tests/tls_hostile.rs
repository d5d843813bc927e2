//! TLS against peers that misbehave, and the ends of a TLS stream: a
//! handshake that stalls is closed at its deadline, garbage gets an alert,
//! a handshake over the byte cap is cut, none of them reaches the handler
//! and each is counted; a peer's close_notify is `on_eof`, a bare FIN is a
//! truncation, `close()` sends close_notify after the reply; a flood of
//! bad handshakes does not stall a plain client on the same loop.
#![cfg(feature = "tls")]

mod util;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netreactor::{Action, Address, CloseReason, Conn, Engine, EngineBuilder, EventHandler, TlsFailure};
use util::tls::{client_config, connect, pki, server_config};
use util::{lock, wait_until, IO_TIMEOUT, SETTLE};

/// Echoes; records opens, EOFs and closes.
#[derive(Default)]
struct Watch {
    opens: Mutex<usize>,
    eofs: Mutex<usize>,
    closed: Mutex<Vec<CloseReason>>,
}

impl EventHandler for Watch {
    fn on_open(&self, _conn: &mut Conn) -> Action {
        *lock(&self.opens) += 1;
        Action::Continue
    }
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        if conn.peek_all() == b"bye" {
            conn.discard(3);
            conn.write(b"see you");
            return Action::Close;
        }
        conn.echo_all();
        Action::Continue
    }
    fn on_eof(&self, conn: &mut Conn) -> Action {
        *lock(&self.eofs) += 1;
        conn.write(b"after your close_notify");
        Action::Close
    }
    fn on_close(&self, _conn: &mut Conn, reason: CloseReason) {
        lock(&self.closed).push(reason);
    }
}

/// A one-loop engine with a plain listener (0) and a TLS one (1).
fn engine(builder: EngineBuilder, handler: Arc<Watch>, name: &str) -> (util::Engine, util::tls::Pki) {
    let pki = pki(name);
    let engine = builder
        .event_loops(1)
        .tls(server_config(&pki, &[]))
        .start(handler, ["tcp://127.0.0.1:0", "tls://127.0.0.1:0"].as_slice())
        .unwrap();
    (util::Engine(engine), pki)
}

fn tls_addr(engine: &util::Engine) -> std::net::SocketAddr {
    engine.local_addrs()[1].socket_addr().unwrap()
}

/// The first bytes of a ClientHello record: a handshake record header
/// announcing 512 bytes, and the start of the message.
const HALF_CLIENT_HELLO: &[u8] = &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];

#[test]
fn a_stalled_handshake_is_closed_at_its_deadline_unseen() {
    let watch = Arc::new(Watch::default());
    let builder = Engine::builder().tls_handshake_timeout(Duration::from_millis(300));
    let (engine, _pki) = engine(builder, Arc::clone(&watch), "tls_stalled");
    let mut client = util::connect(tls_addr(&engine));
    let started = Instant::now();
    client.write_all(HALF_CLIENT_HELLO).unwrap();
    let rest = util::read_to_eof(&mut client, IO_TIMEOUT);
    let waited = started.elapsed();
    assert!(rest.is_empty(), "nothing is sent to a stalled handshake: {rest:?}");
    assert!(
        waited >= Duration::from_millis(300),
        "closed after {waited:?}, before the deadline"
    );
    assert!(waited < Duration::from_secs(5), "closed after {waited:?}");
    wait_until(SETTLE, "the timed-out handshake is counted", || {
        engine.stats().closed_tls_handshake == 1
    });
    assert_eq!(
        (*lock(&watch.opens), lock(&watch.closed).len()),
        (0, 0),
        "the handler saw it"
    );
}

#[test]
fn no_handshake_deadline_with_duration_max() {
    let watch = Arc::new(Watch::default());
    let builder = Engine::builder().tls_handshake_timeout(Duration::MAX);
    let (engine, pki) = engine(builder, Arc::clone(&watch), "tls_no_deadline");
    let mut client = util::connect(tls_addr(&engine));
    client.write_all(HALF_CLIENT_HELLO).unwrap();
    // Still open: a full handshake on another connection goes through, and
    // this one has not been closed.
    let mut other = connect(tls_addr(&engine), client_config(&pki, &[]), "localhost");
    util::tls::round_trip(&mut other, b"alive");
    client.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    assert!(matches!(client.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock));
    assert_eq!(engine.stats().closed_tls_handshake, 0);
}

#[test]
fn garbage_gets_a_fatal_alert_and_a_close() {
    let watch = Arc::new(Watch::default());
    let (engine, _pki) = engine(Engine::builder(), Arc::clone(&watch), "tls_garbage");
    let mut client = util::connect(tls_addr(&engine));
    client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let reply = util::read_to_eof(&mut client, IO_TIMEOUT);
    // One alert record: type 21, a version, length 2, level fatal (2).
    assert_eq!(reply.len(), 7, "{reply:?}");
    assert_eq!((reply[0], reply[3], reply[4], reply[5]), (0x15, 0, 2, 2), "{reply:?}");
    wait_until(SETTLE, "the garbled handshake is counted", || {
        engine.stats().closed_tls_handshake == 1
    });
    assert_eq!(
        (*lock(&watch.opens), lock(&watch.closed).len()),
        (0, 0),
        "the handler saw it"
    );
}

#[test]
fn a_handshake_over_the_byte_cap_is_cut() {
    let watch = Arc::new(Watch::default());
    let builder = Engine::builder().tls_max_handshake_bytes(1024);
    let (engine, _pki) = engine(builder, Arc::clone(&watch), "tls_cap");
    let mut client = util::connect(tls_addr(&engine));
    // A record header announcing 16 KiB of handshake, then 2 KiB of it.
    client.write_all(&[0x16, 0x03, 0x01, 0x40, 0x00]).unwrap();
    let _ = client.write_all(&[0x01; 2048]);
    let _ = util::read_to_eof(&mut client, IO_TIMEOUT);
    wait_until(SETTLE, "the oversize handshake is counted", || {
        engine.stats().closed_tls_handshake == 1
    });
    assert_eq!(*lock(&watch.opens), 0);
}

#[test]
fn a_peer_close_notify_is_on_eof_and_the_reply_still_goes_out() {
    let watch = Arc::new(Watch::default());
    let (engine, pki) = engine(Engine::builder(), Arc::clone(&watch), "tls_close_notify");
    let mut client = connect(tls_addr(&engine), client_config(&pki, &[]), "localhost");
    util::tls::round_trip(&mut client, b"hello");
    client.conn.send_close_notify();
    client.flush().unwrap();
    let mut reply = Vec::new();
    // A clean end: rustls reports Ok(0) only after the server's close_notify.
    client.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"after your close_notify");
    wait_until(SETTLE, "on_close ran", || lock(&watch.closed).len() == 1);
    assert_eq!(*lock(&watch.eofs), 1);
    assert!(
        matches!(lock(&watch.closed)[0], CloseReason::PeerEof),
        "{:?}",
        lock(&watch.closed)
    );
}

#[test]
fn a_bare_fin_is_a_truncation_not_an_eof() {
    let watch = Arc::new(Watch::default());
    let (engine, pki) = engine(Engine::builder(), Arc::clone(&watch), "tls_truncation");
    let mut client = connect(tls_addr(&engine), client_config(&pki, &[]), "localhost");
    util::tls::round_trip(&mut client, b"hello");
    client.sock.shutdown(Shutdown::Write).unwrap();
    wait_until(SETTLE, "on_close ran", || lock(&watch.closed).len() == 1);
    assert_eq!(lock(&watch.closed)[0], CloseReason::Tls(TlsFailure::Truncated));
    assert_eq!(*lock(&watch.eofs), 0, "a truncated stream reached on_eof");
    assert_eq!(engine.stats().closed_tls_error, 1);
}

#[test]
fn close_sends_close_notify_after_the_reply() {
    let watch = Arc::new(Watch::default());
    let (engine, pki) = engine(Engine::builder(), Arc::clone(&watch), "tls_close");
    let mut client = connect(tls_addr(&engine), client_config(&pki, &[]), "localhost");
    client.write_all(b"bye").unwrap();
    let mut reply = Vec::new();
    client
        .read_to_end(&mut reply)
        .expect("a clean TLS end (close_notify), not a truncation");
    assert_eq!(reply, b"see you");
    wait_until(SETTLE, "on_close ran", || lock(&watch.closed).len() == 1);
    assert_eq!(lock(&watch.closed)[0], CloseReason::Local);
}

#[test]
fn a_flood_of_bad_handshakes_does_not_stall_a_plain_client_on_the_same_loop() {
    let watch = Arc::new(Watch::default());
    let (engine, _pki) = engine(Engine::builder(), Arc::clone(&watch), "tls_flood");
    let addr = tls_addr(&engine);
    let plain = match engine.local_addrs()[0] {
        Address::Tcp(a) => a,
        ref other => panic!("{other}"),
    };
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            let mut sent = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && sent < 20_000 {
                if let Ok(mut s) = std::net::TcpStream::connect(addr) {
                    let bytes: &[u8] = if sent.is_multiple_of(2) {
                        HALF_CLIENT_HELLO
                    } else {
                        b"\x16\x03\x01\xff\xffgarbage"
                    };
                    let _ = s.write_all(bytes);
                    held.push(s);
                    if held.len() > 200 {
                        held.remove(0);
                    }
                }
                sent += 1;
            }
            sent
        })
    };
    let mut client = util::connect(plain);
    let mut times = Vec::with_capacity(1000);
    for i in 0..1000u32 {
        let t = Instant::now();
        util::round_trip(&mut client, &i.to_be_bytes());
        times.push(t.elapsed());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let attempts = flood.join().unwrap();
    times.sort();
    let p99 = times[times.len() * 99 / 100];
    println!(
        "plain echo p99 {p99:?} (median {:?}) during {attempts} bad handshakes",
        times[times.len() / 2]
    );
    // A stall would be seconds (a blocked loop); a loaded 2-core machine gives tens of ms.
    assert!(p99 < Duration::from_millis(250), "p99 {p99:?} during the flood");
    assert_eq!(*lock(&watch.opens), 1, "only the plain client was opened");
}

/// Answers, then shuts its write side (a TLS half-close: close_notify),
/// and still reads what the peer sends after.
#[derive(Default)]
struct HalfClose {
    shut: std::sync::atomic::AtomicBool,
    after: Mutex<Vec<u8>>,
}

impl EventHandler for HalfClose {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        let data = conn.take_inbound();
        if self.shut.swap(true, std::sync::atomic::Ordering::Relaxed) {
            lock(&self.after).extend_from_slice(&data);
        } else {
            conn.write(b"that is all from me");
            conn.shutdown_write();
        }
        Action::Continue
    }
}

#[test]
fn shutdown_write_sends_close_notify_and_keeps_reading() {
    let pki = pki("tls_half_close");
    let handler = Arc::new(HalfClose::default());
    let engine = util::Engine(
        Engine::builder()
            .event_loops(1)
            .tls(server_config(&pki, &[]))
            .start(Arc::clone(&handler), "tls://127.0.0.1:0")
            .unwrap(),
    );
    let addr = engine.local_addrs()[0].socket_addr().unwrap();
    let mut client = connect(addr, client_config(&pki, &[]), "localhost");
    client.write_all(b"hi").unwrap();
    let mut reply = Vec::new();
    client
        .read_to_end(&mut reply)
        .expect("a clean TLS end of the server's side");
    assert_eq!(reply, b"that is all from me");
    client.write_all(b"still listening?").unwrap();
    client.flush().unwrap();
    wait_until(SETTLE, "the server read after its half-close", || {
        lock(&handler.after).as_slice() == b"still listening?"
    });
}

/// The read that finishes a handshake may carry the client's first
/// application data too: a client that sends its Finished and 200 KiB of
/// data in one write is served, however small the handshake cap (the data
/// is not handshake). Python's ssl clients do this under load.
#[test]
fn a_finished_and_a_burst_of_data_in_one_write_are_served_under_a_small_cap() {
    use netreactor::tls::rustls::pki_types::ServerName;
    use netreactor::tls::rustls::ClientConnection;

    let watch = Arc::new(Watch::default());
    let builder = Engine::builder().tls_max_handshake_bytes(4096);
    let (engine, pki) = engine(builder, Arc::clone(&watch), "tls_finished_burst");
    let mut tcp = util::connect(tls_addr(&engine));
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = ClientConnection::new(client_config(&pki, &[]), name).unwrap();
    while conn.is_handshaking() {
        while conn.wants_write() {
            conn.write_tls(&mut tcp).unwrap();
        }
        conn.read_tls(&mut tcp).unwrap();
        conn.process_new_packets().unwrap();
    }
    // The client's Finished is still queued: the data goes after it, and
    // both leave in one write.
    let data: Vec<u8> = (0..200 * 1024u32).map(|i| (i % 251) as u8).collect();
    conn.set_buffer_limit(None);
    conn.writer().write_all(&data).unwrap();
    let mut wire = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut wire).unwrap();
    }
    tcp.write_all(&wire).unwrap();
    let mut client = netreactor::tls::rustls::StreamOwned::new(conn, tcp);
    let mut back = vec![0u8; data.len()];
    client.read_exact(&mut back).expect("the echo of the burst");
    assert!(back == data, "the echo differs");
    assert_eq!(engine.stats().closed_tls_handshake, 0);
    assert_eq!(*lock(&watch.opens), 1);
}
