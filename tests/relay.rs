//! `Conn::relay_to` through real sockets, written against the library
//! call itself (tests/proxy.rs drives the example built on it): byte-exact
//! relays of many clients, handlers that look at the first bytes (raw or
//! framed) before relaying, every way the upstream can fail or time out,
//! every call that must be refused, half-close and resets in both
//! directions, backpressure against a client that does not read, a stop
//! with relays open, and timers and handle writes on a relayed connection.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use netreactor::codec::LineCodec;
use netreactor::{Action, CloseReason, Conn, ConnHandle, Engine, Error, EventHandler, Frame, Service};
use util::*;

/// A closed TCP port on loopback (bound, then released).
fn closed_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// The next connection on `l`, within `SETTLE`, with the usual timeouts.
fn accept(l: &TcpListener) -> TcpStream {
    l.set_nonblocking(true).unwrap();
    let (s, _) = wait_for(
        SETTLE,
        "the upstream accepts a connection",
        || l.accept().ok(),
        |s| s.is_some(),
    )
    .unwrap();
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

/// Asserts no connection is waiting on `l`.
fn accepts_nothing(l: &TcpListener) {
    l.set_nonblocking(true).unwrap();
    assert_eq!(l.accept().map(|_| ()).unwrap_err().kind(), ErrorKind::WouldBlock);
}

/// Writes `data` (the reset may come first: that is the reset), then
/// expects a reset.
fn write_then_expect_reset(s: &mut TcpStream, data: &[u8]) {
    match s.write_all(data) {
        Ok(()) => expect_reset(s, IO_TIMEOUT),
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
    }
}

/// A socket whose close sends RST (SO_LINGER 0).
fn reset(s: TcpStream) {
    socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO)).unwrap();
    drop(s);
}

/// Relays every connection to `to` from `on_open`, recording closes.
struct RelayTo {
    to: String,
    timeout: Duration,
    rec: Arc<Recorder>,
}

impl RelayTo {
    fn new(to: impl ToString, timeout: Duration) -> (Self, Arc<Recorder>) {
        let rec = Arc::new(Recorder::default());
        (
            RelayTo {
                to: to.to_string(),
                timeout,
                rec: rec.clone(),
            },
            rec,
        )
    }
}

impl EventHandler for RelayTo {
    fn on_open(&self, conn: &mut Conn) -> Action {
        self.rec.open(conn);
        conn.relay_to(&self.to, self.timeout).into()
    }
    fn on_traffic(&self, _conn: &mut Conn) -> Action {
        panic!("a relayed connection has no on_traffic");
    }
    fn on_eof(&self, _conn: &mut Conn) -> Action {
        panic!("a relayed connection has no on_eof");
    }
    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.rec.close(conn, reason);
    }
}

fn relay_proxy(
    builder: netreactor::EngineBuilder,
    to: impl ToString,
    timeout: Duration,
) -> (util::Engine, Arc<Recorder>) {
    let (handler, rec) = RelayTo::new(to, timeout);
    (start(builder, handler), rec)
}

// ---------------------------------------------------------------------------

#[test]
fn a_hundred_clients_are_relayed_byte_exact_to_a_real_echo_upstream() {
    const CLIENTS: usize = 100;
    let echo = start(Engine::builder().event_loops(2), Echo);
    let (proxy, rec) = relay_proxy(Engine::builder().event_loops(2), echo.local_addr(), IO_TIMEOUT);
    // All open at once.
    let clients: Vec<TcpStream> = (0..CLIENTS).map(|_| connect(proxy.local_addr())).collect();
    wait_until(SETTLE, "every client and upstream is open", || {
        proxy.connection_count() == 2 * CLIENTS && echo.connection_count() == CLIENTS
    });
    let mut groups: Vec<Vec<(usize, TcpStream)>> = (0..10).map(|_| Vec::new()).collect();
    for (i, s) in clients.into_iter().enumerate() {
        groups[i % 10].push((i, s));
    }
    let workers: Vec<_> = groups
        .into_iter()
        .map(|group| {
            thread::spawn(move || {
                for (i, mut s) in group {
                    let payload = Rng::new(i as u64 + 1).bytes(8 * 1024 + i * 97);
                    for chunk in payload.chunks(3000) {
                        s.write_all(chunk).unwrap();
                    }
                    let got = read_exact_within(&mut s, payload.len(), IO_TIMEOUT);
                    assert_eq!(first_difference(&got, &payload), None, "client {i}");
                    // The client's FIN reaches the echo, whose close comes back.
                    finish(s);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    wait_until(SETTLE, "every pair has ended", || {
        proxy.connection_count() == 0 && echo.connection_count() == 0
    });
    let stats = proxy.stats();
    assert_eq!((stats.accepted, stats.dialed), (CLIENTS as u64, CLIENTS as u64));
    assert_eq!(rec.opens(), CLIENTS);
    assert_eq!(rec.closes(), CLIENTS, "one on_close per client, none for an upstream");
    for c in lock(&rec.closed).iter() {
        assert!(
            matches!(c.reason, CloseReason::PeerEof | CloseReason::Local),
            "a whole end: {:?}",
            c.reason
        );
    }
}

/// Waits for 4 bytes, then relays to `a` if they are "PING", else to `b`,
/// without consuming them.
struct Sniff {
    a: String,
    b: String,
    looks: AtomicUsize,
}

impl EventHandler for Sniff {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        self.looks.fetch_add(1, Ordering::SeqCst);
        if conn.inbound_len() < 4 {
            return Action::Continue;
        }
        let to = if conn.peek(4) == b"PING" { &self.a } else { &self.b };
        conn.relay_to(to, IO_TIMEOUT).into()
    }
}

#[test]
fn a_handler_that_sniffs_the_first_bytes_relays_them_first() {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    let sniff = Arc::new(Sniff {
        a: a.local_addr().unwrap().to_string(),
        b: b.local_addr().unwrap().to_string(),
        looks: AtomicUsize::new(0),
    });
    let proxy = start(Engine::builder().event_loops(1), sniff.clone());
    let mut client = connect(proxy.local_addr());
    client.write_all(b"PI").unwrap();
    wait_until(SETTLE, "the handler looked at 2 bytes", || {
        sniff.looks.load(Ordering::SeqCst) == 1
    });
    client.write_all(b"NG first").unwrap();
    let mut up = accept(&a);
    assert_eq!(read_exact_within(&mut up, 10, IO_TIMEOUT), b"PING first");
    client.write_all(b" second").unwrap();
    assert_eq!(read_exact_within(&mut up, 7, IO_TIMEOUT), b" second");
    up.write_all(b"PONG").unwrap();
    assert_eq!(read_exact_within(&mut client, 4, IO_TIMEOUT), b"PONG");
    accepts_nothing(&b);
    assert_eq!(sniff.looks.load(Ordering::SeqCst), 2, "no on_traffic once relayed");

    // The other way, all in one write: "GET " and what follows it go to b.
    let mut other = connect(proxy.local_addr());
    other.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut up_b = accept(&b);
    assert_eq!(read_exact_within(&mut up_b, 18, IO_TIMEOUT), b"GET / HTTP/1.0\r\n\r\n");
    accepts_nothing(&a);
}

/// A line protocol: "CONNECT <addr>" relays there; anything else is
/// answered "? <line>".
struct ConnectLine;

impl EventHandler for ConnectLine {
    fn on_frame(&self, conn: &mut Conn, line: Frame<'_>) -> Action {
        match line.strip_prefix(b"CONNECT ") {
            Some(to) => {
                let to = String::from_utf8_lossy(to).into_owned();
                conn.relay_to(&to, IO_TIMEOUT).into()
            }
            None => {
                let reply = format!("? {}", String::from_utf8_lossy(&line));
                conn.write_frame(reply.as_bytes()).into()
            }
        }
    }
}

#[test]
fn relay_from_on_frame_sends_the_rest_of_the_input_raw_both_ways() {
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = start(Engine::builder().event_loops(1).codec(LineCodec::new()), ConnectLine);
    let mut client = connect(proxy.local_addr());
    client.write_all(b"hello\n").unwrap();
    assert_eq!(read_exact_within(&mut client, 8, IO_TIMEOUT), b"? hello\n");
    // The CONNECT line and raw bytes behind it, in one write.
    let connect_line = format!("CONNECT {}\n", up.local_addr().unwrap());
    let mut msg = connect_line.into_bytes();
    msg.extend_from_slice(b"raw\r\nline\n\0\xffno newline");
    client.write_all(&msg).unwrap();
    let mut upstream = accept(&up);
    let rest = b"raw\r\nline\n\0\xffno newline";
    assert_eq!(read_exact_within(&mut upstream, rest.len(), IO_TIMEOUT), rest);
    // Later input is raw too (the codec is gone), both ways.
    client.write_all(b"CONNECT x\nmore\r\n").unwrap();
    assert_eq!(read_exact_within(&mut upstream, 16, IO_TIMEOUT), b"CONNECT x\nmore\r\n");
    upstream.write_all(b"reply\r\nwith\0no newline").unwrap();
    assert_eq!(
        read_exact_within(&mut client, 22, IO_TIMEOUT),
        b"reply\r\nwith\0no newline"
    );
    client.shutdown(Shutdown::Write).unwrap();
    expect_eof(&mut upstream, IO_TIMEOUT);
    drop(upstream);
    expect_eof(&mut client, IO_TIMEOUT);
    wait_until(SETTLE, "the pair ends", || proxy.connection_count() == 0);
}

// ---------------------------------------------------------------------------
// The upstream cannot be reached.

#[test]
fn an_unreachable_upstream_resets_the_client_and_on_close_says_connect_failed() {
    let (proxy, rec) = relay_proxy(Engine::builder().event_loops(1), closed_port(), IO_TIMEOUT);
    for payload in [&b""[..], b"hello"] {
        let mut client = connect(proxy.local_addr());
        write_then_expect_reset(&mut client, payload);
        let peer = client.local_addr().unwrap();
        match rec.wait_close_of(peer, |r| r.clone()) {
            CloseReason::ConnectFailed(e) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused),
            other => panic!("expected ConnectFailed, got {other:?}"),
        }
    }
    wait_until(SETTLE, "nothing is left", || proxy.connection_count() == 0);
    assert_eq!(rec.closes(), 2);
}

/// A loopback listener that never accepts, with its queue full: further
/// SYNs are dropped, so a connect to it hangs (a black hole).
fn black_hole() -> (socket2::Socket, Vec<TcpStream>, SocketAddr) {
    let listener = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    listener
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let mut queued = Vec::new();
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => queued.push(s),
            Err(e) if e.kind() == ErrorKind::TimedOut => break,
            Err(e) => panic!("filling the accept queue: {e}"),
        }
        assert!(queued.len() < 64, "the accept queue never filled");
    }
    (listener, queued, addr)
}

#[test]
fn a_tiny_connect_timeout_against_a_black_hole_resets_the_client_with_timed_out() {
    let (_listener, _queued, addr) = black_hole();
    let (proxy, rec) = relay_proxy(Engine::builder().event_loops(1), addr, Duration::from_millis(30));
    let began = Instant::now();
    let mut client = connect(proxy.local_addr());
    write_then_expect_reset(&mut client, b"waiting");
    let took = began.elapsed();
    match rec.wait_close_of(client.local_addr().unwrap(), |r| r.clone()) {
        CloseReason::ConnectFailed(e) => assert_eq!(e.kind(), ErrorKind::TimedOut),
        other => panic!("expected a timed-out connect, got {other:?}"),
    }
    assert!(
        took >= Duration::from_millis(30) && took < Duration::from_secs(5),
        "{took:?}"
    );
    wait_until(SETTLE, "nothing is left", || proxy.connection_count() == 0);
}

/// `Duration::ZERO` is the shortest timeout the loop has (its timers are
/// rounded up to the next tick, never to none): against a black hole the
/// connect fails at once, timed out. (To a live loopback upstream it may
/// connect within that tick or not, so that case is not asserted.)
#[test]
fn a_zero_connect_timeout_against_a_black_hole_resets_the_client_at_once_with_timed_out() {
    let (_listener, _queued, addr) = black_hole();
    let (proxy, rec) = relay_proxy(Engine::builder().event_loops(1), addr, Duration::ZERO);
    for _ in 0..3 {
        let began = Instant::now();
        let mut client = connect(proxy.local_addr());
        expect_reset(&mut client, IO_TIMEOUT);
        assert!(began.elapsed() < Duration::from_secs(2), "{:?}", began.elapsed());
        match rec.wait_close_of(client.local_addr().unwrap(), |r| r.clone()) {
            CloseReason::ConnectFailed(e) => assert_eq!(e.kind(), ErrorKind::TimedOut),
            other => panic!("expected a timed-out connect, got {other:?}"),
        }
    }
    wait_until(SETTLE, "nothing is left", || proxy.connection_count() == 0);
}

#[test]
fn a_connect_timeout_of_duration_max_means_no_limit_and_relays() {
    let echo = start(Engine::builder().event_loops(1), Echo);
    let (proxy, _rec) = relay_proxy(Engine::builder().event_loops(1), echo.local_addr(), Duration::MAX);
    let mut client = connect(proxy.local_addr());
    round_trip(&mut client, b"no overflow");
    finish(client);
    // And against a black hole it waits (until the client gives up).
    let (_listener, _queued, hole) = black_hole();
    let (waiting, rec) = relay_proxy(Engine::builder().event_loops(1), hole, Duration::MAX);
    let client = connect(waiting.local_addr());
    wait_until(SETTLE, "the relay is pending", || waiting.connection_count() == 2);
    assert_eq!(rec.closes(), 0);
    reset(client);
    wait_until(SETTLE, "the client's reset ends the pending relay", || {
        waiting.connection_count() == 0
    });
}

// ---------------------------------------------------------------------------
// Calls that must be refused, changing nothing.

/// What relay_to answered, sent to the test.
type Answers = Mutex<mpsc::Sender<(String, Result<(), String>)>>;

fn describe(r: netreactor::Result<()>) -> Result<(), String> {
    r.map_err(|e| match e {
        Error::Unsupported(_) => "Unsupported".to_string(),
        Error::InvalidAddress(_) => "InvalidAddress".to_string(),
        other => format!("other: {other:?}"),
    })
}

/// Lines: "twice <addr>", "closing <addr>", "shut <addr>", "bad <addr>";
/// anything else is echoed as a line.
struct Refusals(Answers);

impl EventHandler for Refusals {
    fn on_frame(&self, conn: &mut Conn, line: Frame<'_>) -> Action {
        let line = String::from_utf8_lossy(&line).into_owned();
        let (cmd, to) = line.split_once(' ').unwrap_or((&line, ""));
        let answer = match cmd {
            "twice" => {
                let first = describe(conn.relay_to(to, IO_TIMEOUT));
                let _ = lock(&self.0).send(("first".into(), first));
                describe(conn.relay_to(to, IO_TIMEOUT))
            }
            "closing" => {
                conn.write(b"bye");
                conn.close();
                describe(conn.relay_to(to, IO_TIMEOUT))
            }
            "shut" => {
                conn.write(b"half");
                conn.shutdown_write();
                describe(conn.relay_to(to, IO_TIMEOUT))
            }
            "bad" => {
                let r = describe(conn.relay_to(to, IO_TIMEOUT));
                // Still framed and writable: the reply is a line.
                let _ = conn.write_frame(format!("{r:?}").as_bytes());
                r
            }
            _ => return conn.write_frame(line.as_bytes()).into(),
        };
        let _ = lock(&self.0).send((line, answer));
        Action::Continue
    }
}

#[test]
fn relay_to_twice_is_unsupported_and_the_first_relay_goes_on() {
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let (tx, rx) = mpsc::channel();
    let proxy = start(
        Engine::builder().event_loops(1).codec(LineCodec::new()),
        Refusals(Mutex::new(tx)),
    );
    let mut client = connect(proxy.local_addr());
    let to = up.local_addr().unwrap();
    client.write_all(format!("twice {to}\n").as_bytes()).unwrap();
    assert_eq!(rx.recv_timeout(IO_TIMEOUT).unwrap(), ("first".to_string(), Ok(())));
    assert_eq!(rx.recv_timeout(IO_TIMEOUT).unwrap().1, Err("Unsupported".to_string()));
    let mut upstream = accept(&up);
    accepts_nothing(&up);
    round_trip_between(&mut client, &mut upstream, b"one relay");
    round_trip_between(&mut upstream, &mut client, b"back");
}

/// Writes `msg` on `from` and asserts it arrives whole on `to`.
fn round_trip_between(from: &mut TcpStream, to: &mut TcpStream, msg: &[u8]) {
    from.write_all(msg).unwrap();
    assert_eq!(read_exact_within(to, msg.len(), IO_TIMEOUT), msg);
}

#[test]
fn relay_to_a_bad_or_unix_address_is_invalid_address_and_the_connection_goes_on_framed() {
    let (tx, rx) = mpsc::channel();
    let proxy = start(
        Engine::builder().event_loops(1).codec(LineCodec::new()),
        Refusals(Mutex::new(tx)),
    );
    let mut client = connect(proxy.local_addr());
    for bad in [
        "unix:///tmp/nr-relay.sock",
        "unix:@abstract",
        "udp://127.0.0.1:9",
        "bogus://127.0.0.1:9",
        "127.0.0.1",
        "127.0.0.1:99999",
        "",
    ] {
        client.write_all(format!("bad {bad}\n").as_bytes()).unwrap();
        let (line, answer) = rx.recv_timeout(IO_TIMEOUT).unwrap();
        assert_eq!(line, format!("bad {bad}"));
        assert_eq!(answer, Err("InvalidAddress".to_string()), "{bad:?}");
        let reply = b"Err(\"InvalidAddress\")\n";
        assert_eq!(read_exact_within(&mut client, reply.len(), IO_TIMEOUT), reply);
        // Still framed, still answered.
        client.write_all(b"ping\n").unwrap();
        assert_eq!(read_exact_within(&mut client, 5, IO_TIMEOUT), b"ping\n");
    }
    assert_eq!(proxy.stats().dialed, 0, "nothing was dialed");
}

#[test]
fn relay_to_on_a_closing_or_half_closed_connection_is_unsupported_and_the_close_goes_on() {
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let to = up.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    let proxy = start(
        Engine::builder().event_loops(1).codec(LineCodec::new()),
        Refusals(Mutex::new(tx)),
    );
    let mut closing = connect(proxy.local_addr());
    closing.write_all(format!("closing {to}\n").as_bytes()).unwrap();
    assert_eq!(rx.recv_timeout(IO_TIMEOUT).unwrap().1, Err("Unsupported".to_string()));
    assert_eq!(read_to_eof(&mut closing, IO_TIMEOUT), b"bye");

    let mut half = connect(proxy.local_addr());
    half.write_all(format!("shut {to}\n").as_bytes()).unwrap();
    assert_eq!(rx.recv_timeout(IO_TIMEOUT).unwrap().1, Err("Unsupported".to_string()));
    assert_eq!(read_to_eof(&mut half, IO_TIMEOUT), b"half");
    // The half-closed connection still reads: a line is answered (into a
    // shut write side: nothing), and its EOF closes it.
    finish(half);
    accepts_nothing(&up);
    wait_until(SETTLE, "both are closed", || proxy.connection_count() == 0);
    assert_eq!(proxy.stats().dialed, 0);
}

#[test]
fn relay_to_on_a_udp_socket_is_unsupported_and_the_socket_keeps_answering() {
    struct UdpRelay(String);
    impl EventHandler for UdpRelay {
        fn on_traffic(&self, conn: &mut Conn) -> Action {
            let answer = describe(conn.relay_to(&self.0, IO_TIMEOUT));
            let data = conn.take_inbound();
            conn.write(format!("{answer:?} ").as_bytes());
            conn.write(&data);
            Action::Continue
        }
    }
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let engine = Engine::builder()
        .event_loops(1)
        .start(UdpRelay(up.local_addr().unwrap().to_string()), "udp://127.0.0.1:0")
        .unwrap();
    let c = udp_client();
    let to = udp_addr(&engine);
    for msg in ["one", "two"] {
        let got = udp_round_trip(&c, to, msg.as_bytes());
        assert_eq!(String::from_utf8(got).unwrap(), format!("Err(\"Unsupported\") {msg}"));
    }
    accepts_nothing(&up);
    engine.stop();
}

// ---------------------------------------------------------------------------
// Half-close and resets pass through.

#[test]
fn a_client_half_close_reaches_the_upstream_which_can_still_answer() {
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let (proxy, rec) = relay_proxy(Engine::builder().event_loops(1), up.local_addr().unwrap(), IO_TIMEOUT);
    let mut client = connect(proxy.local_addr());
    let mut upstream = accept(&up);
    client.write_all(b"request").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_eof(&mut upstream, IO_TIMEOUT), b"request");
    // The other direction is open: the answer goes back, then its end.
    upstream.write_all(b"answer after your FIN").unwrap();
    assert_eq!(read_exact_within(&mut client, 21, IO_TIMEOUT), b"answer after your FIN");
    upstream.shutdown(Shutdown::Write).unwrap();
    expect_eof(&mut client, IO_TIMEOUT);
    wait_until(SETTLE, "the pair ends", || proxy.connection_count() == 0);
    let reason = rec.wait_close_of(client.local_addr().unwrap(), |r| r.clone());
    assert!(
        matches!(reason, CloseReason::PeerEof | CloseReason::Local),
        "{reason:?}"
    );
}

#[test]
fn an_upstream_half_close_reaches_the_client_which_can_still_send() {
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let (proxy, _rec) = relay_proxy(Engine::builder().event_loops(1), up.local_addr().unwrap(), IO_TIMEOUT);
    let mut client = connect(proxy.local_addr());
    let mut upstream = accept(&up);
    upstream.write_all(b"banner").unwrap();
    upstream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_eof(&mut client, IO_TIMEOUT), b"banner");
    client.write_all(b"late words").unwrap();
    assert_eq!(read_exact_within(&mut upstream, 10, IO_TIMEOUT), b"late words");
    client.shutdown(Shutdown::Write).unwrap();
    expect_eof(&mut upstream, IO_TIMEOUT);
    wait_until(SETTLE, "the pair ends", || proxy.connection_count() == 0);
}

#[test]
fn an_upstream_reset_reaches_the_client_as_a_reset() {
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let (proxy, rec) = relay_proxy(Engine::builder().event_loops(1), up.local_addr().unwrap(), IO_TIMEOUT);
    let mut client = connect(proxy.local_addr());
    let mut upstream = accept(&up);
    round_trip_between(&mut client, &mut upstream, b"before");
    round_trip_between(&mut upstream, &mut client, b"reply");
    reset(upstream);
    expect_reset(&mut client, IO_TIMEOUT);
    match rec.wait_close_of(client.local_addr().unwrap(), |r| r.clone()) {
        CloseReason::PeerReset => {}
        other => panic!("the upstream's own reason, PeerReset, expected: {other:?}"),
    }
    wait_until(SETTLE, "the pair ends", || proxy.connection_count() == 0);
}

#[test]
fn a_client_reset_reaches_the_upstream_as_a_reset() {
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let (proxy, rec) = relay_proxy(Engine::builder().event_loops(1), up.local_addr().unwrap(), IO_TIMEOUT);
    let mut client = connect(proxy.local_addr());
    let peer = client.local_addr().unwrap();
    let mut upstream = accept(&up);
    round_trip_between(&mut client, &mut upstream, b"before");
    reset(client);
    expect_reset(&mut upstream, IO_TIMEOUT);
    match rec.wait_close_of(peer, |r| r.clone()) {
        CloseReason::PeerReset => {}
        other => panic!("expected PeerReset, got {other:?}"),
    }
    wait_until(SETTLE, "the pair ends", || proxy.connection_count() == 0);
}

// ---------------------------------------------------------------------------
// Backpressure, stop, and what still reaches a relayed connection.

#[test]
fn a_client_that_does_not_read_while_the_upstream_floods_keeps_the_relay_within_the_watermarks() {
    const SOCKET_BUFFER: usize = 64 * 1024;
    const TOTAL: usize = 16 * 1024 * 1024;
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let (proxy, _rec) = relay_proxy(
        Engine::builder()
            .event_loops(1)
            .recv_buffer_size(SOCKET_BUFFER)
            .send_buffer_size(SOCKET_BUFFER),
        up.local_addr().unwrap(),
        IO_TIMEOUT,
    );
    let mut client = connect(proxy.local_addr());
    socket2::SockRef::from(&client)
        .set_recv_buffer_size(SOCKET_BUFFER)
        .unwrap();
    let upstream = accept(&up);
    socket2::SockRef::from(&upstream)
        .set_send_buffer_size(SOCKET_BUFFER)
        .unwrap();
    let payload = Rng::new(7).bytes(TOTAL);
    let to_send = payload.clone();
    let flood = thread::spawn(move || {
        let mut upstream = upstream;
        upstream.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
        upstream
            .write_all(&to_send)
            .expect("the flood blocks while stalled, then finishes");
        upstream
    });
    let (bytes_in, bytes_out) = wait_until_steady(
        Duration::from_secs(20),
        Duration::from_millis(300),
        "the relay's reads",
        || {
            let s = proxy.stats();
            (s.bytes_in, s.bytes_out)
        },
    );
    let held = bytes_in - bytes_out;
    assert!(!flood.is_finished(), "16 MiB went through a client that does not read");
    // What the relay holds: the high watermark (64 KiB) and at most one read.
    assert!(
        held <= 256 * 1024,
        "the relay holds {held} bytes ({bytes_in} in, {bytes_out} out)"
    );
    let got = read_exact_within(&mut client, TOTAL, Duration::from_secs(60));
    assert_eq!(first_difference(&got, &payload), None);
    let upstream = flood.join().unwrap();
    drop(upstream);
    expect_eof(&mut client, IO_TIMEOUT);
}

#[test]
fn stopping_the_engine_ends_every_relay_on_both_sides_without_hanging() {
    const PAIRS: usize = 10;
    let echo = start(Engine::builder().event_loops(1), Echo);
    let (proxy, rec) = relay_proxy(Engine::builder().event_loops(2), echo.local_addr(), IO_TIMEOUT);
    let mut clients: Vec<TcpStream> = (0..PAIRS).map(|_| connect(proxy.local_addr())).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        round_trip(c, format!("pair {i}").as_bytes());
    }
    assert_eq!(echo.connection_count(), PAIRS);
    let began = Instant::now();
    proxy.stop();
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        began.elapsed()
    );
    assert!(proxy.is_stopped());
    for c in &mut clients {
        expect_eof(c, IO_TIMEOUT);
    }
    wait_until(SETTLE, "the echo saw every upstream end", || {
        echo.connection_count() == 0
    });
    assert_eq!(rec.closes(), PAIRS);
    for c in lock(&rec.closed).iter() {
        assert!(matches!(c.reason, CloseReason::Shutdown), "{:?}", c.reason);
    }
}

/// Relays, arms a timer, and hands out its handle.
struct Timed {
    to: String,
    handles: Mutex<mpsc::Sender<ConnHandle>>,
}

impl Service for Timed {
    type State = u32; // timers fired
    fn on_open(&self, conn: &mut Conn, _: &mut u32) -> Action {
        let _ = lock(&self.handles).send(conn.handle());
        conn.schedule(Duration::from_millis(1), 7);
        conn.relay_to(&self.to, IO_TIMEOUT).into()
    }
    fn on_timer(&self, conn: &mut Conn, fired: &mut u32, token: u64) -> Action {
        *fired += 1;
        conn.write(format!("[timer {token} #{fired}]").as_bytes());
        if *fired < 2 {
            conn.schedule(Duration::from_millis(1), token + 1);
        }
        Action::Continue
    }
}

#[test]
fn a_relayed_connection_still_gets_on_timer_and_handle_writes() {
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let (tx, rx) = mpsc::channel();
    let proxy = start(
        Engine::builder().event_loops(1),
        Timed {
            to: up.local_addr().unwrap().to_string(),
            handles: Mutex::new(tx),
        },
    );
    let mut client = connect(proxy.local_addr());
    let handle = rx.recv_timeout(IO_TIMEOUT).unwrap();
    let mut upstream = accept(&up);
    let timers = b"[timer 7 #1][timer 8 #2]";
    assert_eq!(read_exact_within(&mut client, timers.len(), IO_TIMEOUT), timers);
    handle.async_write(netreactor::Bytes::from_static(b"[async]")).unwrap();
    assert_eq!(read_exact_within(&mut client, 7, IO_TIMEOUT), b"[async]");
    round_trip_between(&mut upstream, &mut client, b"from upstream");
    round_trip_between(&mut client, &mut upstream, b"to upstream");
    // Handle writes do not go to the upstream.
    upstream.set_nonblocking(true).unwrap();
    assert_eq!(upstream.read(&mut [0; 16]).unwrap_err().kind(), ErrorKind::WouldBlock);
    upstream.set_nonblocking(false).unwrap();
    handle.close().unwrap();
    // A close from the handle: the client ends whole, and so does the upstream.
    expect_eof(&mut client, IO_TIMEOUT);
    expect_eof(&mut upstream, IO_TIMEOUT);
    wait_until(SETTLE, "the pair ends", || proxy.connection_count() == 0);
    assert!(handle.async_write(netreactor::Bytes::from_static(b"late")).is_err());
}

// ---------------------------------------------------------------------------
// Relays that start after the client's EOF was read.

/// Reads the whole request (to the client's EOF), then relays it.
struct RelayAtEof(String);

impl EventHandler for RelayAtEof {
    fn on_traffic(&self, _conn: &mut Conn) -> Action {
        Action::Continue // keep it all for the upstream
    }
    fn on_eof(&self, conn: &mut Conn) -> Action {
        conn.relay_to(&self.0, IO_TIMEOUT).into()
    }
}

#[test]
fn relay_from_on_eof_passes_the_request_and_then_the_eof_to_the_upstream() {
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = start(
        Engine::builder().event_loops(1),
        RelayAtEof(up.local_addr().unwrap().to_string()),
    );
    let mut client = connect(proxy.local_addr());
    client.write_all(b"whole request").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut upstream = accept(&up);
    // The request, then the client's EOF (which came before the relay).
    assert_eq!(read_to_eof(&mut upstream, IO_TIMEOUT), b"whole request");
    upstream.write_all(b"the answer").unwrap();
    upstream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_eof(&mut client, IO_TIMEOUT), b"the answer");
    wait_until(SETTLE, "the pair ends", || proxy.connection_count() == 0);
}

#[test]
fn relay_from_the_last_frame_at_eof_passes_the_eof_on_and_still_answers_the_client() {
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = start(Engine::builder().event_loops(1).codec(LineCodec::new()), ConnectLine);
    let mut client = connect(proxy.local_addr());
    // An unterminated last line: the codec hands it over at the EOF.
    client
        .write_all(format!("CONNECT {}", up.local_addr().unwrap()).as_bytes())
        .unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut upstream = accept(&up);
    expect_eof(&mut upstream, IO_TIMEOUT);
    upstream.write_all(b"bye").unwrap();
    drop(upstream);
    assert_eq!(read_to_eof(&mut client, IO_TIMEOUT), b"bye");
    wait_until(SETTLE, "the pair ends", || proxy.connection_count() == 0);
}

// ---------------------------------------------------------------------------
// The upstream's state.

static UPSTREAM_STATE_PANICS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A state whose `Default` panics once `UPSTREAM_STATE_PANICS` is set.
struct Touchy;

impl Default for Touchy {
    fn default() -> Self {
        if UPSTREAM_STATE_PANICS.load(Ordering::SeqCst) {
            panic!("Touchy::default refuses");
        }
        Touchy
    }
}

struct TouchyRelay {
    to: String,
    rec: Arc<Recorder>,
}

impl Service for TouchyRelay {
    type State = Touchy;
    fn on_open(&self, conn: &mut Conn, _: &mut Touchy) -> Action {
        // The client's state is made; the upstream's will not be.
        UPSTREAM_STATE_PANICS.store(true, Ordering::SeqCst);
        conn.relay_to(&self.to, IO_TIMEOUT).into()
    }
    fn on_close(&self, conn: &mut Conn, _: &mut Touchy, reason: CloseReason) {
        self.rec.close(conn, reason);
    }
}

#[test]
fn a_relay_whose_upstream_state_cannot_be_made_ends_the_client_instead_of_hanging_it() {
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let rec = Arc::new(Recorder::default());
    let proxy = start(
        Engine::builder().event_loops(1),
        TouchyRelay {
            to: up.local_addr().unwrap().to_string(),
            rec: rec.clone(),
        },
    );
    let mut client = connect(proxy.local_addr());
    write_then_expect_reset(&mut client, b"never relayed");
    match rec.wait_close_of(client.local_addr().unwrap(), |r| r.clone()) {
        CloseReason::HandlerPanic(msg) => assert!(msg.contains("state"), "{msg}"),
        other => panic!("expected HandlerPanic, got {other:?}"),
    }
    accepts_nothing(&up);
    wait_until(SETTLE, "nothing is left", || proxy.connection_count() == 0);
    // The loop lives: the next client is served (its own state refused).
    UPSTREAM_STATE_PANICS.store(false, Ordering::SeqCst);
    let mut next = connect(proxy.local_addr());
    expect_reset(&mut next, IO_TIMEOUT);
    assert_eq!(rec.closes(), 2);
}

// ---------------------------------------------------------------------------
// Relays from a bound service, and output written before the relay.

/// Writes a banner, then relays.
struct Banner(String);

impl EventHandler for Banner {
    fn on_open(&self, conn: &mut Conn) -> Action {
        conn.write(b"banner\n");
        conn.relay_to(&self.0, IO_TIMEOUT).into()
    }
}

#[test]
fn output_written_before_relay_to_reaches_the_client_before_the_upstreams() {
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = start(
        Engine::builder().event_loops(1),
        Banner(up.local_addr().unwrap().to_string()),
    );
    let mut client = connect(proxy.local_addr());
    let mut upstream = accept(&up);
    upstream.write_all(b"greeting").unwrap();
    assert_eq!(read_exact_within(&mut client, 15, IO_TIMEOUT), b"banner\ngreeting");
    round_trip_between(&mut client, &mut upstream, b"x");
}

#[test]
fn a_bound_service_with_its_own_codec_relays_raw_and_the_others_are_untouched() {
    use netreactor::Bind;
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let engine = util::Engine(
        Engine::builder()
            .event_loops(1)
            .bind(Bind::new("plain", "tcp://127.0.0.1:0", Echo))
            .bind(Bind::new("connect", "tcp://127.0.0.1:0", ConnectLine).codec(LineCodec::new()))
            .start_bound()
            .unwrap(),
    );
    let addrs = engine.local_addrs();
    let (netreactor::Address::Tcp(plain), netreactor::Address::Tcp(front)) = (&addrs[0], &addrs[1]) else {
        panic!("{addrs:?}")
    };
    let mut client = connect(*front);
    client.write_all(b"hi\n").unwrap();
    assert_eq!(read_exact_within(&mut client, 5, IO_TIMEOUT), b"? hi\n");
    client
        .write_all(format!("CONNECT {}\nraw\n", up.local_addr().unwrap()).as_bytes())
        .unwrap();
    let mut upstream = accept(&up);
    assert_eq!(read_exact_within(&mut upstream, 4, IO_TIMEOUT), b"raw\n");
    upstream.write_all(b"no frame").unwrap();
    assert_eq!(read_exact_within(&mut client, 8, IO_TIMEOUT), b"no frame");
    let mut other = connect(*plain);
    round_trip(&mut other, b"echo\n");
    reset(upstream);
    expect_reset(&mut client, IO_TIMEOUT);
    round_trip(&mut other, b"still\n");
    wait_until(SETTLE, "only the plain client is left", || {
        engine.connection_count() == 1
    });
}

#[test]
fn a_stop_with_a_deadline_ends_a_stalled_relay_in_a_reset_within_the_deadline() {
    const SOCKET_BUFFER: usize = 64 * 1024;
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let (proxy, rec) = relay_proxy(
        Engine::builder()
            .event_loops(1)
            .recv_buffer_size(SOCKET_BUFFER)
            .send_buffer_size(SOCKET_BUFFER),
        up.local_addr().unwrap(),
        IO_TIMEOUT,
    );
    let mut client = connect(proxy.local_addr());
    socket2::SockRef::from(&client)
        .set_recv_buffer_size(SOCKET_BUFFER)
        .unwrap();
    let upstream = accept(&up);
    let flood = thread::spawn(move || {
        let mut upstream = upstream;
        let chunk = vec![b'z'; 64 * 1024];
        // Until the relay cuts it (a reset or EPIPE); bounded by the timeout.
        let mut sent = 0usize;
        while upstream.write_all(&chunk).is_ok() {
            sent += chunk.len();
            assert!(sent < 1 << 30, "1 GiB went into a stalled relay");
        }
        sent
    });
    wait_until_steady(
        Duration::from_secs(20),
        Duration::from_millis(300),
        "the relay's reads",
        || proxy.stats().bytes_in,
    );
    let asked = Instant::now();
    proxy.stop_with_deadline(Duration::from_millis(200));
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_millis(150) && took < Duration::from_secs(3),
        "stop took {took:?}"
    );
    // The client's output was cut: a reset after what it had, never an EOF.
    let got = read_to_reset(&mut client, IO_TIMEOUT);
    assert!(got.iter().all(|&b| b == b'z'));
    flood.join().unwrap();
    match rec.wait_close_of(client.local_addr().unwrap(), |r| r.clone()) {
        CloseReason::LingerTimeout => {}
        other => panic!("expected LingerTimeout, got {other:?}"),
    }
}

#[test]
fn a_unix_client_is_relayed_to_a_tcp_upstream() {
    let echo = start(Engine::builder().event_loops(1), Echo);
    let dir = scratch_dir("relay-unix");
    let path = dir.join("front.sock");
    let (handler, _rec) = RelayTo::new(echo.local_addr(), IO_TIMEOUT);
    let proxy = util::Engine(
        Engine::builder()
            .event_loops(1)
            .start(handler, format!("unix://{}", path.display()).as_str())
            .unwrap(),
    );
    let mut client = std::os::unix::net::UnixStream::connect(&path).unwrap();
    client.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let payload = Rng::new(3).bytes(100_000);
    let mut reader = client.try_clone().unwrap();
    let expected = payload.clone();
    let writer = thread::spawn(move || {
        client.write_all(&payload).unwrap();
        client.shutdown(Shutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    reader.read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    assert_eq!(first_difference(&got, &expected), None);
    wait_until(SETTLE, "the pair ends", || {
        proxy.connection_count() == 0 && echo.connection_count() == 0
    });
}

/// Writes `n` bytes of 'b' to the client, then relays.
struct BigBanner(String, usize);

impl EventHandler for BigBanner {
    fn on_open(&self, conn: &mut Conn) -> Action {
        conn.write_bytes(vec![b'b'; self.1]);
        conn.relay_to(&self.0, IO_TIMEOUT).into()
    }
}

#[test]
fn a_client_already_over_the_high_watermark_when_the_upstream_connects_pauses_the_upstream() {
    const SOCKET_BUFFER: usize = 64 * 1024;
    const BANNER: usize = 512 * 1024;
    const TOTAL: usize = 16 * 1024 * 1024;
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = start(
        Engine::builder()
            .event_loops(1)
            .recv_buffer_size(SOCKET_BUFFER)
            .send_buffer_size(SOCKET_BUFFER),
        BigBanner(up.local_addr().unwrap().to_string(), BANNER),
    );
    let mut client = connect(proxy.local_addr());
    socket2::SockRef::from(&client)
        .set_recv_buffer_size(SOCKET_BUFFER)
        .unwrap();
    let upstream = accept(&up);
    socket2::SockRef::from(&upstream)
        .set_send_buffer_size(SOCKET_BUFFER)
        .unwrap();
    let payload = Rng::new(11).bytes(TOTAL);
    let to_send = payload.clone();
    let flood = thread::spawn(move || {
        let mut upstream = upstream;
        upstream.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
        upstream
            .write_all(&to_send)
            .expect("the flood blocks while stalled, then finishes");
        upstream
    });
    let (bytes_in, bytes_out) = wait_until_steady(
        Duration::from_secs(20),
        Duration::from_millis(300),
        "the relay's reads",
        || {
            let s = proxy.stats();
            (s.bytes_in, s.bytes_out)
        },
    );
    // The banner was over the watermark before the upstream connected: it
    // must not read until the client drains (only the banner is held).
    let held = (BANNER as u64 + bytes_in).saturating_sub(bytes_out);
    assert!(!flood.is_finished(), "16 MiB went through a client that does not read");
    assert!(
        held <= BANNER as u64 + 256 * 1024,
        "the relay holds {held} bytes ({bytes_in} in, {bytes_out} out)"
    );
    let banner = read_exact_within(&mut client, BANNER, Duration::from_secs(30));
    assert!(banner.iter().all(|&b| b == b'b'));
    let got = read_exact_within(&mut client, TOTAL, Duration::from_secs(60));
    assert_eq!(first_difference(&got, &payload), None);
    drop(flood.join().unwrap());
    expect_eof(&mut client, IO_TIMEOUT);
}

// ---------------------------------------------------------------------------
// The handler ends a relayed client: the upstream ends the same way.

/// Relays, handing out the client's handle.
struct Handed {
    to: String,
    handles: Mutex<mpsc::Sender<ConnHandle>>,
    rec: Arc<Recorder>,
}

impl EventHandler for Handed {
    fn on_open(&self, conn: &mut Conn) -> Action {
        let _ = lock(&self.handles).send(conn.handle());
        conn.relay_to(&self.to, IO_TIMEOUT).into()
    }
    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.rec.close(conn, reason);
    }
}

/// A relay from `Handed`: (engine, recorder, client, upstream, client handle).
fn handed_pair() -> (util::Engine, Arc<Recorder>, TcpStream, TcpStream, ConnHandle) {
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let (tx, rx) = mpsc::channel();
    let rec = Arc::new(Recorder::default());
    let proxy = start(
        Engine::builder().event_loops(1),
        Handed {
            to: up.local_addr().unwrap().to_string(),
            handles: Mutex::new(tx),
            rec: rec.clone(),
        },
    );
    let mut client = connect(proxy.local_addr());
    let handle = rx.recv_timeout(IO_TIMEOUT).unwrap();
    let mut upstream = accept(&up);
    round_trip_between(&mut client, &mut upstream, b"hello");
    round_trip_between(&mut upstream, &mut client, b"welcome");
    (proxy, rec, client, upstream, handle)
}

#[test]
fn a_handle_reset_of_a_relayed_client_resets_the_upstream_too() {
    let (proxy, _rec, mut client, mut upstream, handle) = handed_pair();
    handle.reset().unwrap();
    expect_reset(&mut client, IO_TIMEOUT);
    // The client was cut: the upstream must not take that for a clean end.
    expect_reset(&mut upstream, IO_TIMEOUT);
    wait_until(SETTLE, "the pair ends", || proxy.connection_count() == 0);
}

#[test]
fn close_with_a_reason_on_a_relayed_client_ends_the_upstream_politely() {
    let (proxy, rec, mut client, mut upstream, handle) = handed_pair();
    handle
        .call(|conn| {
            conn.close_with("enough");
            Action::Continue
        })
        .unwrap();
    expect_eof(&mut client, IO_TIMEOUT);
    // A close the handler asked for, after a flush: the upstream gets an EOF.
    expect_eof(&mut upstream, IO_TIMEOUT);
    match rec.wait_close_of(client.local_addr().unwrap(), |r| r.clone()) {
        CloseReason::User(why) => assert_eq!(why, "enough"),
        other => panic!("expected User, got {other:?}"),
    }
    wait_until(SETTLE, "the pair ends", || proxy.connection_count() == 0);
}

#[test]
fn close_of_a_relayed_client_from_its_handle_ends_the_upstream_politely() {
    let (proxy, _rec, mut client, mut upstream, handle) = handed_pair();
    handle.close().unwrap();
    expect_eof(&mut client, IO_TIMEOUT);
    expect_eof(&mut upstream, IO_TIMEOUT);
    wait_until(SETTLE, "the pair ends", || proxy.connection_count() == 0);
}

#[test]
fn relay_to_from_on_close_is_unsupported_and_dials_nothing() {
    struct LastWish(String, Mutex<mpsc::Sender<Result<(), String>>>);
    impl EventHandler for LastWish {
        fn on_close(&self, conn: &mut Conn, _reason: CloseReason) {
            let _ = lock(&self.1).send(describe(conn.relay_to(&self.0, IO_TIMEOUT)));
        }
    }
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let (tx, rx) = mpsc::channel();
    let proxy = start(
        Engine::builder().event_loops(1),
        LastWish(up.local_addr().unwrap().to_string(), Mutex::new(tx)),
    );
    let client = connect(proxy.local_addr());
    finish(client);
    assert_eq!(rx.recv_timeout(IO_TIMEOUT).unwrap(), Err("Unsupported".to_string()));
    accepts_nothing(&up);
    wait_until(SETTLE, "nothing is left", || proxy.connection_count() == 0);
    assert_eq!(proxy.stats().dialed, 0);
}

#[test]
fn a_relay_started_from_a_handle_call_relays_what_came_before_it() {
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let to = up.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel();
    // Relays only when the test calls in.
    struct Waits(Mutex<mpsc::Sender<ConnHandle>>);
    impl EventHandler for Waits {
        fn on_open(&self, conn: &mut Conn) -> Action {
            let _ = lock(&self.0).send(conn.handle());
            Action::Continue
        }
        fn on_traffic(&self, _conn: &mut Conn) -> Action {
            Action::Continue // kept for the upstream
        }
    }
    let proxy = start(Engine::builder().event_loops(1), Waits(Mutex::new(tx)));
    let mut client = connect(proxy.local_addr());
    let handle = rx.recv_timeout(IO_TIMEOUT).unwrap();
    client.write_all(b"early bytes").unwrap();
    wait_until(SETTLE, "the early bytes are read", || proxy.stats().bytes_in == 11);
    let (answer_tx, answer_rx) = mpsc::channel();
    handle
        .call(move |conn| {
            let r = conn.relay_to(&to, IO_TIMEOUT);
            let _ = answer_tx.send(describe(r));
            Action::Continue
        })
        .unwrap();
    assert_eq!(answer_rx.recv_timeout(IO_TIMEOUT).unwrap(), Ok(()));
    let mut upstream = accept(&up);
    assert_eq!(read_exact_within(&mut upstream, 11, IO_TIMEOUT), b"early bytes");
    round_trip_between(&mut upstream, &mut client, b"late");
}

/// A drain leaves a relayed pair whose request is out and whose reply is
/// not back yet (both sides look idle: nothing queued, nothing unread):
/// the reply reaches the client, and the pair ends with the upstream.
#[test]
fn a_drain_leaves_a_relayed_pair_waiting_for_its_reply() {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let (proxy, _rec) = relay_proxy(
        Engine::builder().event_loops(1),
        upstream.local_addr().unwrap(),
        IO_TIMEOUT,
    );
    let mut client = connect(proxy.local_addr());
    let mut up = accept(&upstream);
    client.write_all(b"request").unwrap();
    let mut got = [0; 7];
    up.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"request");
    let drain = drain_in_background(&proxy, Duration::from_secs(30));
    // Past the grace a new connection gets: every sweep would have closed
    // it by now.
    let wait = netreactor::options::DRAIN_NEW_CONNECTION_GRACE + Duration::from_millis(300);
    client.set_read_timeout(Some(wait)).unwrap();
    let err = client
        .read(&mut [0; 1])
        .expect_err("the relayed client was closed by the drain");
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{err}"
    );
    client.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    up.write_all(b"reply").unwrap();
    drop(up);
    assert_eq!(read_to_eof(&mut client, SETTLE), b"reply");
    drop(client); // the other half
    let took = drain.join().unwrap();
    assert!(
        took < Duration::from_secs(10),
        "the drain waited for its deadline: {took:?}"
    );
}
