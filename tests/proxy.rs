//! examples/proxy's relay, through real sockets: client -> proxy -> upstream
//! and back, byte for byte, with backpressure, half-close and failures; a
//! stream cut on one side (a reset) reaches the other as a reset, never as
//! a clean end of file.

mod util;

#[path = "../examples/proxy/relay.rs"]
mod relay;

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use netreactor::{Action, Conn, Engine, EventHandler, Service};
use relay::Relay;
use util::*;

fn proxy_to(upstream: std::net::SocketAddr, loops: usize) -> util::Engine {
    start(
        relay::engine_builder().event_loops(loops),
        Relay::new(&format!("tcp://{upstream}")),
    )
}

#[test]
fn many_clients_get_their_bytes_echoed_through_the_proxy_intact() {
    let echo = start(Engine::builder().event_loops(2), Echo);
    let proxy = proxy_to(echo.local_addr(), 2);
    let addr = proxy.local_addr();
    let clients: Vec<_> = (0..16u64)
        .map(|i| {
            thread::spawn(move || {
                let payload = Rng::new(i + 1).bytes(256 * 1024 + i as usize * 1000);
                let mut s = connect(addr);
                let mut reader = s.try_clone().unwrap();
                let expected = payload.clone();
                let writer = thread::spawn(move || {
                    for chunk in payload.chunks(7000) {
                        s.write_all(chunk).unwrap();
                    }
                    s
                });
                let got = read_exact_within(&mut reader, expected.len(), IO_TIMEOUT);
                assert_eq!(first_difference(&got, &expected), None, "client {i}");
                let s = writer.join().unwrap();
                s.shutdown(Shutdown::Write).unwrap();
                assert_eq!(
                    read_to_eof(&mut reader, IO_TIMEOUT),
                    b"",
                    "client {i}: EOF after the echo"
                );
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    wait_until(SETTLE, "every relayed pair is closed", || {
        proxy.connection_count() == 0 && echo.connection_count() == 0
    });
    assert_eq!(proxy.stats().dialed, 16);
    assert_eq!(proxy.stats().accepted, 16);
}

#[test]
fn a_client_that_does_not_read_pauses_the_chain_and_memory_stays_bounded() {
    // Small socket buffers everywhere, so the kernel cannot absorb the
    // payload (autotuned loopback buffers can hold tens of MiB): what does
    // not fit must wait in the client, or in user space if backpressure fails.
    const SOCKET_BUFFER: usize = 64 * 1024;
    let small = |b: netreactor::EngineBuilder| b.recv_buffer_size(SOCKET_BUFFER).send_buffer_size(SOCKET_BUFFER);
    let echo = start(small(Engine::builder().event_loops(1)), Echo);
    let upstream = format!("tcp://{}", echo.local_addr());
    let proxy = start(small(relay::engine_builder().event_loops(1)), Relay::new(&upstream));
    let mut s = connect(proxy.local_addr());
    socket2::SockRef::from(&s).set_recv_buffer_size(SOCKET_BUFFER).unwrap();
    let total = 32 * 1024 * 1024;
    let payload = Rng::new(99).bytes(total);
    let to_send = payload.clone();
    let mut writer = s.try_clone().unwrap();
    // The writer is meant to block while the chain is stalled.
    writer.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
    let rss_before = vm_rss_kib();
    let sent = thread::spawn(move || {
        writer
            .write_all(&to_send)
            .expect("the writer blocks while stalled, then finishes");
    });
    // Every buffer of the chain fills and it stalls: neither engine reads.
    wait_until_steady(
        Duration::from_secs(20),
        Duration::from_millis(300),
        "the chain's reads",
        || (proxy.stats().bytes_in, echo.stats().bytes_in),
    );
    let grown_mib = vm_rss_kib().saturating_sub(rss_before) as f64 / 1024.0;
    assert!(!sent.is_finished(), "32 MiB went through without the client reading");
    assert!(
        grown_mib < 24.0,
        "RSS grew {grown_mib:.1} MiB while the chain was stalled"
    );
    // Now read: everything arrives, in order.
    let got = read_exact_within(&mut s, total, Duration::from_secs(60));
    assert_eq!(first_difference(&got, &payload), None);
    sent.join().unwrap();
    eprintln!("stalled chain: RSS +{grown_mib:.1} MiB for {} MiB sent", total >> 20);
}

/// Counts what it receives; answers the count when the client half-closes.
struct CountThenAnswer;

impl Service for CountThenAnswer {
    type State = u64; // bytes received

    fn on_traffic(&self, conn: &mut Conn, total: &mut u64) -> Action {
        *total += conn.discard(usize::MAX) as u64;
        Action::Continue
    }
    fn on_eof(&self, conn: &mut Conn, total: &mut u64) -> Action {
        conn.write(format!("got {total} bytes").as_bytes());
        Action::Close
    }
}

#[test]
fn a_half_close_passes_through_and_the_answer_comes_back() {
    let upstream = start(Engine::builder().event_loops(1), CountThenAnswer);
    let proxy = proxy_to(upstream.local_addr(), 1);
    let mut s = connect(proxy.local_addr());
    s.write_all(&vec![7u8; 100_000]).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_eof(&mut s, IO_TIMEOUT), b"got 100000 bytes");
    wait_until(SETTLE, "both pairs closed", || proxy.connection_count() == 0);
}

#[test]
fn an_unreachable_upstream_resets_the_client() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let proxy = proxy_to(closed, 1);
    let mut s = connect(proxy.local_addr());
    // Not served at all: a reset, not an end of file that would read as an
    // upstream that answered nothing. (The client sends nothing: a write
    // racing the reset would consume the error.)
    expect_reset(&mut s, IO_TIMEOUT);
    wait_until(SETTLE, "the client connection is gone", || {
        proxy.connection_count() == 0
    });
}

/// A proxy (one loop) in front of a plain upstream socket the test drives
/// by hand: the proxy, a client connected through it, and the upstream's
/// end of that client's relayed connection.
fn client_through_proxy_to_a_plain_upstream() -> (util::Engine, TcpStream, TcpStream) {
    client_through(relay::engine_builder().event_loops(1))
}

/// As [`client_through_proxy_to_a_plain_upstream`], the proxy built from `builder`.
fn client_through(builder: netreactor::EngineBuilder) -> (util::Engine, TcpStream, TcpStream) {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = start(
        builder,
        Relay::new(&format!("tcp://{}", upstream.local_addr().unwrap())),
    );
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(upstream.accept().map(|(s, _)| s));
    });
    let client = connect(proxy.local_addr());
    let far = rx
        .recv_timeout(IO_TIMEOUT)
        .expect("the proxy dials the upstream")
        .unwrap();
    far.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    far.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    (proxy, client, far)
}

/// Closes `s` with a reset (SO_LINGER 0), as a crashing peer would.
fn reset(s: TcpStream) {
    socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO)).unwrap();
    drop(s);
}

#[test]
fn an_upstream_reset_mid_stream_reaches_the_client_as_a_reset() {
    let (proxy, mut client, mut far) = client_through_proxy_to_a_plain_upstream();
    // Part of a response arrives whole, then the upstream dies.
    let part = Rng::new(11).bytes(100_000);
    far.write_all(&part).unwrap();
    assert_eq!(
        first_difference(&read_exact_within(&mut client, part.len(), IO_TIMEOUT), &part),
        None
    );
    reset(far);
    // Before the fix: a clean end of file, as if the response were complete.
    expect_reset(&mut client, IO_TIMEOUT);
    wait_until(SETTLE, "both sides are closed", || proxy.connection_count() == 0);
}

#[test]
fn an_upstream_reset_while_sending_reaches_the_client_as_a_reset_after_a_prefix() {
    // The reset follows 4 MiB at once: the client gets some prefix of it
    // (whatever the proxy passed on before the reset reached it), then ECONNRESET.
    let (proxy, mut client, mut far) = client_through_proxy_to_a_plain_upstream();
    let payload = Rng::new(12).bytes(4 << 20);
    let writer = thread::spawn(move || {
        let _ = far.write_all(&payload); // the proxy may reset it back
        reset(far);
        payload
    });
    let got = read_to_reset(&mut client, Duration::from_secs(30));
    let payload = writer.join().unwrap();
    assert!(got.len() <= payload.len());
    assert_eq!(
        first_difference(&got, &payload[..got.len()]),
        None,
        "the prefix is intact"
    );
    eprintln!(
        "cut stream: {} of {} bytes arrived before the reset",
        got.len(),
        payload.len()
    );
    wait_until(SETTLE, "both sides are closed", || proxy.connection_count() == 0);
}

#[test]
fn a_client_reset_reaches_the_upstream_as_a_reset() {
    let (proxy, mut client, mut far) = client_through_proxy_to_a_plain_upstream();
    client.write_all(b"first half of a request").unwrap();
    assert_eq!(read_exact_within(&mut far, 23, IO_TIMEOUT), b"first half of a request");
    reset(client);
    // Before the fix: a clean end of file, as if the request were complete.
    expect_reset(&mut far, IO_TIMEOUT);
    wait_until(SETTLE, "both sides are closed", || proxy.connection_count() == 0);
}

#[test]
fn a_client_reset_while_its_reading_is_paused_reaches_the_upstream_as_a_reset() {
    // The upstream reads nothing, so the proxy stops reading the client
    // (backpressure); the client's reset must still be seen and passed on.
    // Small socket buffers everywhere, so the chain fills quickly.
    const SOCKET_BUFFER: usize = 64 * 1024;
    let builder = relay::engine_builder()
        .event_loops(1)
        .recv_buffer_size(SOCKET_BUFFER)
        .send_buffer_size(SOCKET_BUFFER);
    let (proxy, mut client, mut far) = client_through(builder);
    socket2::SockRef::from(&client)
        .set_send_buffer_size(SOCKET_BUFFER)
        .unwrap();
    socket2::SockRef::from(&far)
        .set_recv_buffer_size(SOCKET_BUFFER)
        .unwrap();
    client.set_nonblocking(true).unwrap();
    let payload = Rng::new(13).bytes(64 * 1024);
    let mut sent: Vec<u8> = Vec::new();
    // Write until the client's socket takes nothing more even after the
    // chain has stopped moving: the proxy is no longer reading it.
    let stalled = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut took = false;
        loop {
            match client.write(&payload) {
                Ok(n) => {
                    sent.extend_from_slice(&payload[..n]);
                    took = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("client write: {e}"),
            }
        }
        if !took {
            break;
        }
        assert!(std::time::Instant::now() < stalled, "the chain never stalled");
        wait_until_steady(
            Duration::from_secs(20),
            Duration::from_millis(200),
            "the proxy's reads",
            || proxy.stats().bytes_in,
        );
    }
    reset(client);
    // The upstream gets a prefix of what was sent, then the reset.
    let got = read_to_reset(&mut far, Duration::from_secs(30));
    assert!(got.len() <= sent.len());
    assert_eq!(first_difference(&got, &sent[..got.len()]), None);
    eprintln!(
        "paused side reset: {} of {} bytes sent reached the upstream",
        got.len(),
        sent.len()
    );
    wait_until(SETTLE, "both sides are closed", || proxy.connection_count() == 0);
}

#[test]
fn a_clean_end_of_file_still_passes_through_as_a_half_close_both_ways() {
    let (proxy, mut client, mut far) = client_through_proxy_to_a_plain_upstream();
    // The upstream says all it has and half-closes: the client reads it,
    // then a clean end of file...
    far.write_all(b"all of the answer").unwrap();
    far.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_eof(&mut client, IO_TIMEOUT), b"all of the answer");
    // ...while the other direction stays open.
    client.write_all(b"still talking").unwrap();
    assert_eq!(read_exact_within(&mut far, 13, IO_TIMEOUT), b"still talking");
    client.shutdown(Shutdown::Write).unwrap();
    expect_eof(&mut far, IO_TIMEOUT);
    wait_until(SETTLE, "both sides are closed", || proxy.connection_count() == 0);
    // The client's socket ends cleanly too (no reset after the end of file).
    expect_eof(&mut client, IO_TIMEOUT);
}

#[test]
fn the_upstream_closing_closes_the_client_after_its_bytes() {
    struct SayAndClose;
    impl EventHandler for SayAndClose {
        fn on_open(&self, conn: &mut Conn) -> Action {
            conn.write(&vec![b'x'; 300_000]);
            Action::Close
        }
    }
    let upstream = start(Engine::builder().event_loops(1), SayAndClose);
    let proxy = proxy_to(upstream.local_addr(), 1);
    let mut s = connect(proxy.local_addr());
    let got = read_to_eof(&mut s, IO_TIMEOUT);
    assert_eq!(got.len(), 300_000);
}
