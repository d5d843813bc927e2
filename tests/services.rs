//! `Service` (typed per-connection state) and `Bind` (several named
//! services on one engine), over real sockets: when a state is made, seen
//! and dropped; states given by a dial and checked at the call; user code
//! that panics in `Default` or `Drop`; UDP sockets; services on TCP, Unix
//! and UDP listeners each with its own codec and state; dials to a named
//! service; every way `start_bound` and `dial_with` refuse a bad setup.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use netreactor::codec::LineCodec;
use netreactor::{
    Action, Address, Bind, CloseReason, Conn, DialOptions, Engine, EngineHandle, Error, EventHandler, Frame, Origin,
    Service,
};
use util::*;

/// A closed TCP port on loopback (bound, then released).
fn closed_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

// ---------------------------------------------------------------------------
// State lifecycle: made by Default before on_open, one value per
// connection, dropped once right after on_close.

static LIFE_MADE: AtomicUsize = AtomicUsize::new(0);
static LIFE_DROPS: Mutex<Vec<(usize, Vec<&'static str>)>> = Mutex::new(Vec::new());

/// A state that knows its serial and which callbacks saw it.
struct Life {
    serial: usize,
    seen: Vec<&'static str>,
}

impl Default for Life {
    fn default() -> Self {
        Life {
            serial: LIFE_MADE.fetch_add(1, Ordering::SeqCst),
            seen: vec!["default"],
        }
    }
}

impl Drop for Life {
    fn drop(&mut self) {
        lock(&LIFE_DROPS).push((self.serial, std::mem::take(&mut self.seen)));
    }
}

struct LifeEcho;

impl Service for LifeEcho {
    type State = Life;

    fn on_open(&self, conn: &mut Conn, st: &mut Life) -> Action {
        st.seen.push("open");
        conn.write(format!("{}\n", st.serial).as_bytes());
        Action::Continue
    }
    fn on_traffic(&self, conn: &mut Conn, st: &mut Life) -> Action {
        st.seen.push("traffic");
        conn.echo_all();
        Action::Continue
    }
    fn on_eof(&self, _conn: &mut Conn, st: &mut Life) -> Action {
        st.seen.push("eof");
        Action::Close
    }
    fn on_close(&self, _conn: &mut Conn, st: &mut Life, reason: CloseReason) {
        assert!(matches!(reason, CloseReason::PeerEof), "{reason:?}");
        st.seen.push("close");
        // Not dropped yet: this very value is still alive.
        assert!(!lock(&LIFE_DROPS).iter().any(|(s, _)| *s == st.serial));
    }
}

#[test]
fn state_is_made_before_on_open_seen_by_every_callback_and_dropped_once_after_on_close() {
    const CLIENTS: usize = 24;
    let engine = start(Engine::builder().event_loops(2), LifeEcho);
    let mut serials = Vec::new();
    for i in 0..CLIENTS {
        let mut s = connect(engine.local_addr());
        // on_open wrote the serial of the state it was given.
        let mut line = Vec::new();
        while !line.ends_with(b"\n") {
            line.extend(read_exact_within(&mut s, 1, IO_TIMEOUT));
        }
        let serial: usize = std::str::from_utf8(&line).unwrap().trim().parse().unwrap();
        round_trip(&mut s, format!("hello {i}").as_bytes());
        finish(s);
        serials.push(serial);
    }
    wait_until(SETTLE, "every state is dropped", || lock(&LIFE_DROPS).len() == CLIENTS);
    assert_eq!(LIFE_MADE.load(Ordering::SeqCst), CLIENTS, "one state per connection");
    let drops = lock(&LIFE_DROPS);
    for serial in serials {
        let seen: Vec<_> = drops.iter().filter(|(s, _)| *s == serial).collect();
        assert_eq!(seen.len(), 1, "state {serial} dropped once");
        assert_eq!(
            seen[0].1,
            ["default", "open", "traffic", "eof", "close"],
            "state {serial}"
        );
    }
    drop(drops);
    wait_until(SETTLE, "no connection is counted", || engine.connection_count() == 0);
    engine.stop();
    assert_eq!(lock(&LIFE_DROPS).len(), CLIENTS, "the stop drops nothing twice");
}

// ---------------------------------------------------------------------------
// States given by a dial.

static TAG_DEFAULTS: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, PartialEq)]
struct Tag(u32);

impl Default for Tag {
    fn default() -> Self {
        TAG_DEFAULTS.fetch_add(1, Ordering::SeqCst);
        Tag(0)
    }
}

#[derive(Debug)]
enum Seen {
    Open(u32),
    Close(u32, CloseReason),
}

struct Tagged(Mutex<mpsc::Sender<Seen>>);

impl Service for Tagged {
    type State = Tag;
    fn on_open(&self, _conn: &mut Conn, tag: &mut Tag) -> Action {
        let _ = lock(&self.0).send(Seen::Open(tag.0));
        tag.0 += 1000;
        Action::Close
    }
    fn on_close(&self, _conn: &mut Conn, tag: &mut Tag, reason: CloseReason) {
        let _ = lock(&self.0).send(Seen::Close(tag.0, reason));
    }
}

#[test]
fn dial_state_is_seen_in_on_open_and_in_on_close_of_a_failed_connect_and_default_is_not_called() {
    let (tx, rx) = mpsc::channel();
    let engine = util::Engine(
        Engine::builder()
            .event_loops(1)
            .start_client(Tagged(Mutex::new(tx)))
            .unwrap(),
    );
    let target = TcpListener::bind("127.0.0.1:0").unwrap();
    let to = target.local_addr().unwrap().to_string();
    engine
        .dial_with(&to, IO_TIMEOUT, DialOptions::new().state(Tag(7)))
        .unwrap();
    match rx.recv_timeout(IO_TIMEOUT).unwrap() {
        Seen::Open(7) => {}
        other => panic!("expected on_open with the given state 7, got {other:?}"),
    }
    match rx.recv_timeout(IO_TIMEOUT).unwrap() {
        Seen::Close(1007, CloseReason::Local) => {}
        other => panic!("expected on_close with the state on_open changed, got {other:?}"),
    }
    engine
        .dial_with(&closed_port().to_string(), IO_TIMEOUT, DialOptions::new().state(Tag(9)))
        .unwrap();
    match rx.recv_timeout(IO_TIMEOUT).unwrap() {
        Seen::Close(9, CloseReason::ConnectFailed(e)) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused),
        other => panic!("expected on_close with state 9 and ConnectFailed, got {other:?}"),
    }
    assert_eq!(
        TAG_DEFAULTS.load(Ordering::SeqCst),
        0,
        "a given state is not made again"
    );
    wait_until(SETTLE, "the dials are gone", || engine.connection_count() == 0);
}

/// A service that reports any callback at all.
struct AnyCallback(Arc<AtomicUsize>);

impl Service for AnyCallback {
    type State = u32;
    fn on_open(&self, _conn: &mut Conn, _: &mut u32) -> Action {
        self.0.fetch_add(1, Ordering::SeqCst);
        Action::Continue
    }
    fn on_close(&self, _conn: &mut Conn, _: &mut u32, _: CloseReason) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_dial_state_of_the_wrong_type_is_refused_with_invalid_config_before_any_connect() {
    let calls = Arc::new(AtomicUsize::new(0));
    let engine = util::Engine(
        Engine::builder()
            .event_loops(1)
            .start_client(AnyCallback(calls.clone()))
            .unwrap(),
    );
    let target = TcpListener::bind("127.0.0.1:0").unwrap();
    target.set_nonblocking(true).unwrap();
    let to = target.local_addr().unwrap().to_string();
    for wrong in [
        engine.dial_with(&to, IO_TIMEOUT, DialOptions::new().state(7u64)),
        engine.dial_with(&to, IO_TIMEOUT, DialOptions::new().state(7i32)),
        engine.dial_with(&to, IO_TIMEOUT, DialOptions::new().state(())),
        engine.dial_with(&to, IO_TIMEOUT, DialOptions::new().state(Some(7u32))),
    ] {
        match wrong {
            Err(Error::InvalidConfig(msg)) => assert!(msg.contains("u32"), "names the service's type: {msg}"),
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }
    // Nothing was sent: no connection reached the target, no callback ran,
    // nothing is counted.
    assert_eq!(target.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    assert_eq!(engine.stats().dialed, 0);
    assert_eq!(engine.connection_count(), 0);
    // The right type goes through, and is the first thing the target sees.
    engine
        .dial_with(&to, IO_TIMEOUT, DialOptions::new().state(7u32))
        .unwrap();
    wait_until(SETTLE, "the good dial opens", || calls.load(Ordering::SeqCst) == 1);
    target.set_nonblocking(false).unwrap();
    target.accept().unwrap();
    target.set_nonblocking(true).unwrap();
    assert_eq!(target.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
}

// ---------------------------------------------------------------------------
// User code that panics in Default and Drop.

static FRAGILE_PANICS: AtomicBool = AtomicBool::new(false);
static FRAGILE_MADE: AtomicUsize = AtomicUsize::new(0);
static FRAGILE_REFUSED: AtomicUsize = AtomicUsize::new(0);

/// A state whose `Default` panics while `FRAGILE_PANICS` is set.
struct Fragile;

impl Default for Fragile {
    fn default() -> Self {
        if FRAGILE_PANICS.load(Ordering::SeqCst) {
            FRAGILE_REFUSED.fetch_add(1, Ordering::SeqCst);
            panic!("Fragile::default refuses");
        }
        FRAGILE_MADE.fetch_add(1, Ordering::SeqCst);
        Fragile
    }
}

struct FragileEcho(Arc<Recorder>);

impl Service for FragileEcho {
    type State = Fragile;
    fn on_open(&self, conn: &mut Conn, _: &mut Fragile) -> Action {
        self.0.open(conn);
        Action::Continue
    }
    fn on_traffic(&self, conn: &mut Conn, _: &mut Fragile) -> Action {
        conn.echo_all();
        Action::Continue
    }
    fn on_close(&self, conn: &mut Conn, _: &mut Fragile, reason: CloseReason) {
        self.0.close(conn, reason);
    }
}

/// One test holds both cases: `FRAGILE_PANICS` is process-wide.
#[test]
fn a_state_whose_default_panics_refuses_that_connection_or_dial_and_the_engine_keeps_serving() {
    let rec = Arc::new(Recorder::default());
    let engine = start(Engine::builder().event_loops(1), FragileEcho(rec.clone()));
    let mut good = connect(engine.local_addr());
    round_trip(&mut good, b"before");

    // Accepted: closed at once (an orderly EOF: nothing was read), no callback.
    FRAGILE_PANICS.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        let mut refused = connect(engine.local_addr());
        expect_eof(&mut refused, IO_TIMEOUT);
    }
    // Dialed: logged, no callback; nothing reaches the target.
    let target = TcpListener::bind("127.0.0.1:0").unwrap();
    target.set_nonblocking(true).unwrap();
    let to = target.local_addr().unwrap().to_string();
    engine.dial(&to, IO_TIMEOUT).unwrap();
    wait_until(SETTLE, "four states refused", || {
        FRAGILE_REFUSED.load(Ordering::SeqCst) == 4
    });
    wait_until(SETTLE, "the refused ones are not counted", || {
        engine.connection_count() == 1
    });
    round_trip(&mut good, b"during");
    assert_eq!(target.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    assert_eq!(rec.opens(), 1, "no on_open for a connection without a state");
    assert_eq!(rec.closes(), 0, "no on_close for a connection without a state");

    // The loop lives: new connections and dials are served.
    FRAGILE_PANICS.store(false, Ordering::SeqCst);
    let mut after = connect(engine.local_addr());
    round_trip(&mut after, b"after");
    engine.dial(&to, IO_TIMEOUT).unwrap();
    wait_until(SETTLE, "the dial opens", || rec.opens() == 3);
    target.set_nonblocking(false).unwrap();
    target.accept().unwrap();
    assert_eq!(FRAGILE_MADE.load(Ordering::SeqCst), 3);
    round_trip(&mut good, b"still");
}

static BOMB_DROPS: AtomicUsize = AtomicUsize::new(0);

/// A state whose `Drop` panics.
#[derive(Default)]
struct DropBomb;

impl Drop for DropBomb {
    fn drop(&mut self) {
        BOMB_DROPS.fetch_add(1, Ordering::SeqCst);
        panic!("DropBomb::drop");
    }
}

struct BombEcho(Arc<Recorder>);

impl Service for BombEcho {
    type State = DropBomb;
    fn on_traffic(&self, conn: &mut Conn, _: &mut DropBomb) -> Action {
        conn.echo_all();
        Action::Continue
    }
    fn on_close(&self, conn: &mut Conn, _: &mut DropBomb, reason: CloseReason) {
        self.0.close(conn, reason);
    }
}

#[test]
fn a_state_whose_drop_panics_does_not_take_the_loop_down() {
    let rec = Arc::new(Recorder::default());
    let engine = start(Engine::builder().event_loops(1), BombEcho(rec.clone()));
    let mut survivor = connect(engine.local_addr());
    round_trip(&mut survivor, b"first");
    for i in 0..10 {
        let mut s = connect(engine.local_addr());
        round_trip(&mut s, format!("conn {i}").as_bytes());
        finish(s);
    }
    wait_until(SETTLE, "ten states dropped", || BOMB_DROPS.load(Ordering::SeqCst) == 10);
    assert_eq!(rec.closes(), 10);
    round_trip(&mut survivor, b"the loop lives");
    assert_eq!(engine.connection_count(), 1);
    engine.stop();
    expect_eof(&mut survivor, IO_TIMEOUT);
    assert_eq!(BOMB_DROPS.load(Ordering::SeqCst), 11);
    assert!(engine.wait().is_ok(), "the engine stops cleanly");
}

// ---------------------------------------------------------------------------
// UDP: one state per socket.

static UDP_MADE: AtomicUsize = AtomicUsize::new(0);
static UDP_DROPPED: AtomicUsize = AtomicUsize::new(0);

struct UdpCount(u32);

impl Default for UdpCount {
    fn default() -> Self {
        UDP_MADE.fetch_add(1, Ordering::SeqCst);
        UdpCount(0)
    }
}

impl Drop for UdpCount {
    fn drop(&mut self) {
        UDP_DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

struct CountDatagrams;

impl Service for CountDatagrams {
    type State = UdpCount;
    fn on_traffic(&self, conn: &mut Conn, n: &mut UdpCount) -> Action {
        n.0 += 1;
        conn.discard(usize::MAX);
        conn.write(n.0.to_string().as_bytes());
        Action::Continue
    }
}

#[test]
fn udp_has_one_state_per_socket_shared_by_every_sender_and_dropped_at_the_stop() {
    const LOOPS: usize = 3;
    let engine = Engine::builder()
        .event_loops(LOOPS)
        .start(CountDatagrams, "udp://127.0.0.1:0")
        .unwrap();
    // One socket per loop, each with its state, made before any datagram.
    assert_eq!(UDP_MADE.load(Ordering::SeqCst), LOOPS);
    let to = udp_addr(&engine);
    let (a, b) = (udp_client(), udp_client());
    // Each reply counts the datagrams of the socket that took it, whoever
    // sent them. The kernel sends all of one sender's datagrams to one
    // socket: both senders on one socket count 1..=30 between them, on
    // two sockets 1..=15 each.
    let mut replies = Vec::new();
    for i in 0..30 {
        let client = if i % 2 == 0 { &a } else { &b };
        let n: u32 = String::from_utf8(udp_round_trip(client, to, b"x"))
            .unwrap()
            .parse()
            .unwrap();
        replies.push(n);
    }
    replies.sort_unstable();
    let shared: Vec<u32> = (1..=30).collect();
    let apart: Vec<u32> = (1..=15).flat_map(|n| [n, n]).collect();
    assert!(replies == shared || replies == apart, "{replies:?}");
    assert_eq!(UDP_MADE.load(Ordering::SeqCst), LOOPS, "no state per sender");
    assert_eq!(UDP_DROPPED.load(Ordering::SeqCst), 0);
    engine.stop();
    assert_eq!(
        UDP_DROPPED.load(Ordering::SeqCst),
        LOOPS,
        "each socket's state dropped once"
    );
}

#[test]
fn udp_state_counts_every_sender_on_one_loop() {
    struct Seq;
    impl Service for Seq {
        type State = u32;
        fn on_traffic(&self, conn: &mut Conn, n: &mut u32) -> Action {
            *n += 1;
            conn.discard(usize::MAX);
            conn.write(n.to_string().as_bytes());
            Action::Continue
        }
    }
    let engine = Engine::builder()
        .event_loops(1)
        .start(Seq, "udp://127.0.0.1:0")
        .unwrap();
    let to = udp_addr(&engine);
    let clients: Vec<_> = (0..3).map(|_| udp_client()).collect();
    for i in 1..=12u32 {
        let got = udp_round_trip(&clients[i as usize % 3], to, b"?");
        assert_eq!(got, i.to_string().as_bytes());
    }
    engine.stop();
}

// ---------------------------------------------------------------------------
// Bind: several services on one engine.

/// Lines: "L<listener> <n>: <line>", n counting this connection's lines.
struct Lines;

impl Service for Lines {
    type State = u64;
    fn on_frame(&self, conn: &mut Conn, n: &mut u64, line: Frame<'_>) -> Action {
        *n += 1;
        let Origin::Accepted { listener } = conn.origin() else {
            panic!("accepted connections only")
        };
        let reply = format!("L{listener} {n}: {}", String::from_utf8_lossy(&line));
        conn.write_frame(reply.as_bytes()).into()
    }
}

/// Raw: upper-cases every byte, keeps a running byte count in its state
/// and says it at EOF.
struct Upper;

impl Service for Upper {
    type State = usize;
    fn on_traffic(&self, conn: &mut Conn, total: &mut usize) -> Action {
        let data = conn.take_inbound();
        *total += data.len();
        conn.write(&data.to_ascii_uppercase());
        Action::Continue
    }
    fn on_eof(&self, conn: &mut Conn, total: &mut usize) -> Action {
        let Origin::Accepted { listener } = conn.origin() else {
            panic!("accepted connections only")
        };
        conn.write(format!("[{total} bytes on listener {listener}]").as_bytes());
        Action::Close
    }
}

/// UDP: "<listener>/<n>" per datagram, n counting this socket's datagrams.
struct Datagrams;

impl Service for Datagrams {
    type State = (u8, u32);
    fn on_traffic(&self, conn: &mut Conn, st: &mut (u8, u32)) -> Action {
        st.1 += 1;
        conn.discard(usize::MAX);
        let Origin::Accepted { listener } = conn.origin() else {
            panic!("accepted sockets only")
        };
        conn.write(format!("{listener}/{}", st.1).as_bytes());
        Action::Continue
    }
}

#[test]
fn three_services_on_tcp_unix_and_udp_each_with_its_codec_state_and_listener_numbers_in_bind_order() {
    let dir = scratch_dir("services-three");
    let unix_path = dir.join("raw.sock");
    let engine = util::Engine(
        Engine::builder()
            .event_loops(2)
            // No engine codec: "lines" brings its own, "raw" stays raw.
            .bind(Bind::new("lines", ["tcp://127.0.0.1:0", "tcp://127.0.0.1:0"], Lines).codec(LineCodec::new()))
            .bind(Bind::new(
                "raw",
                format!("unix://{}", unix_path.display()).as_str(),
                Upper,
            ))
            .bind(Bind::new("udp", "udp://127.0.0.1:0", Datagrams))
            .start_bound()
            .unwrap(),
    );
    let addrs = engine.local_addrs();
    assert_eq!(addrs.len(), 4, "{addrs:?}");
    let tcp: Vec<SocketAddr> = addrs[..2]
        .iter()
        .map(|a| match a {
            Address::Tcp(a) => *a,
            other => panic!("listener 0 and 1 are the TCP ones: {other}"),
        })
        .collect();
    assert!(matches!(&addrs[2], Address::Unix(p) if *p == unix_path), "{addrs:?}");
    assert!(matches!(&addrs[3], Address::Udp(_)), "{addrs:?}");

    // Lines, on both its listeners, framed by its codec, counted per connection.
    for (i, addr) in tcp.iter().enumerate() {
        let mut s = connect(*addr);
        s.write_all(b"a\nbb\r\nccc\npartial").unwrap();
        let expected = format!("L{i} 1: a\nL{i} 2: bb\nL{i} 3: ccc\n");
        assert_eq!(
            read_exact_within(&mut s, expected.len(), IO_TIMEOUT),
            expected.as_bytes()
        );
        s.write_all(b" line\n").unwrap();
        let expected = format!("L{i} 4: partial line\n");
        assert_eq!(
            read_exact_within(&mut s, expected.len(), IO_TIMEOUT),
            expected.as_bytes()
        );
    }

    // Raw on Unix: no framing, its own state.
    let mut u = UnixStream::connect(&unix_path).unwrap();
    u.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    u.write_all(b"a\nb\0c\xff").unwrap();
    let mut got = [0u8; 6];
    u.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"A\nB\0C\xff");
    u.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    u.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"[6 bytes on listener 2]");

    // UDP: listener 3, one state per socket (the kernel sends all of one
    // sender's datagrams to the same loop's socket).
    let c = udp_client();
    let to = udp_addr(&engine);
    let first = String::from_utf8(udp_round_trip(&c, to, b"x")).unwrap();
    let second = String::from_utf8(udp_round_trip(&c, to, b"y")).unwrap();
    assert_eq!((first.as_str(), second.as_str()), ("3/1", "3/2"));
    wait_until(SETTLE, "the Unix connection is closed", || {
        engine.connection_count() == 0
    });
    engine.stop();
}

#[test]
fn an_engine_codec_frames_the_services_without_one_and_a_bind_codec_overrides_it() {
    /// Answers each frame with its length, as a frame.
    struct Len;
    impl EventHandler for Len {
        fn on_frame(&self, conn: &mut Conn, frame: Frame<'_>) -> Action {
            conn.write_frame(frame.len().to_string().as_bytes()).into()
        }
    }
    let engine = util::Engine(
        Engine::builder()
            .event_loops(1)
            .codec(LineCodec::new())
            .bind(Bind::new("engine-codec", "tcp://127.0.0.1:0", Len))
            .bind(
                Bind::new("own-codec", "tcp://127.0.0.1:0", Len)
                    .codec(netreactor::codec::DelimiterCodec::new([b";"]).unwrap()),
            )
            .start_bound()
            .unwrap(),
    );
    let addrs = engine.local_addrs();
    let Address::Tcp(lines) = addrs[0] else { panic!() };
    let Address::Tcp(semis) = addrs[1] else { panic!() };
    let mut s = connect(lines);
    s.write_all(b"abc\nde;f\n").unwrap();
    assert_eq!(read_exact_within(&mut s, 4, IO_TIMEOUT), b"3\n4\n");
    let mut s = connect(semis);
    s.write_all(b"abc\nde;f;").unwrap();
    assert_eq!(read_exact_within(&mut s, 4, IO_TIMEOUT), b"6;1;");
}

/// The dialed service: states are strings, framed by lines.
struct LineClient(Mutex<mpsc::Sender<(String, String)>>);

impl Service for LineClient {
    type State = String;
    fn on_open(&self, conn: &mut Conn, tag: &mut String) -> Action {
        conn.write_frame(format!("hello from {tag}").as_bytes()).into()
    }
    fn on_frame(&self, _conn: &mut Conn, tag: &mut String, line: Frame<'_>) -> Action {
        let _ = lock(&self.0).send((tag.clone(), String::from_utf8_lossy(&line).into_owned()));
        Action::Close
    }
}

/// The listening service: raw, reports its opens.
struct Front(Arc<AtomicUsize>);

impl Service for Front {
    type State = ();
    fn on_open(&self, _conn: &mut Conn, _: &mut ()) -> Action {
        self.0.fetch_add(1, Ordering::SeqCst);
        Action::Close
    }
}

#[test]
fn a_dial_to_a_named_dialing_service_is_served_by_its_callbacks_and_codec() {
    // An echo upstream (raw): it echoes "hello from x\n" whole.
    let echo = start(Engine::builder().event_loops(1), Echo);
    let (tx, rx) = mpsc::channel();
    let front_opens = Arc::new(AtomicUsize::new(0));
    let engine = util::Engine(
        Engine::builder()
            .event_loops(2)
            .bind(Bind::new("front", "tcp://127.0.0.1:0", Front(front_opens.clone())))
            .bind(Bind::dialing("upstream", LineClient(Mutex::new(tx))).codec(LineCodec::new()))
            .start_bound()
            .unwrap(),
    );
    assert_eq!(engine.local_addrs().len(), 1, "a dialing service listens nowhere");
    let to = echo.local_addr().to_string();
    engine
        .dial_with(
            &to,
            IO_TIMEOUT,
            DialOptions::new().service("upstream").state("one".to_string()),
        )
        .unwrap();
    assert_eq!(
        rx.recv_timeout(IO_TIMEOUT).unwrap(),
        ("one".to_string(), "hello from one".to_string())
    );
    // Without a state: the service's Default (an empty String).
    engine
        .dial_with(&to, IO_TIMEOUT, DialOptions::new().service("upstream"))
        .unwrap();
    assert_eq!(
        rx.recv_timeout(IO_TIMEOUT).unwrap(),
        (String::new(), "hello from ".to_string())
    );
    // The upstream service's state type is checked, not the first one's.
    match engine.dial_with(&to, IO_TIMEOUT, DialOptions::new().service("upstream").state(())) {
        Err(Error::InvalidConfig(msg)) => assert!(msg.contains("String"), "{msg}"),
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
    match engine.dial_with(&to, IO_TIMEOUT, DialOptions::new().state("front".to_string())) {
        Err(Error::InvalidConfig(msg)) => assert!(msg.contains("front"), "{msg}"),
        other => panic!("a dial without a service goes to the first bound, whose state is (): {other:?}"),
    }
    // No service named: the first bound serves it.
    engine.dial(&to, IO_TIMEOUT).unwrap();
    wait_until(SETTLE, "front's on_open ran for the dial", || {
        front_opens.load(Ordering::SeqCst) == 1
    });
    wait_until(SETTLE, "every dial is closed", || engine.connection_count() == 0);
    assert!(rx.try_recv().is_err(), "the upstream service saw only its own dials");
}

#[test]
fn a_dial_to_an_unknown_service_name_is_refused_naming_the_services() {
    let engine = util::Engine(
        Engine::builder()
            .bind(Bind::new("alpha", "tcp://127.0.0.1:0", Echo))
            .bind(Bind::dialing("beta", Echo))
            .start_bound()
            .unwrap(),
    );
    let target = TcpListener::bind("127.0.0.1:0").unwrap();
    target.set_nonblocking(true).unwrap();
    let to = target.local_addr().unwrap().to_string();
    for name in ["gamma", "", "Alpha", "beta "] {
        match engine.dial_with(&to, IO_TIMEOUT, DialOptions::new().service(name)) {
            Err(Error::InvalidConfig(msg)) => {
                assert!(msg.contains("\"alpha\"") && msg.contains("\"beta\""), "{msg}")
            }
            other => panic!("service {name:?}: expected InvalidConfig, got {other:?}"),
        }
    }
    assert_eq!(target.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    // An engine of one service has one unnamed service.
    let single = start(Engine::builder(), Echo);
    assert!(matches!(
        single.dial_with(&to, IO_TIMEOUT, DialOptions::new().service("alpha")),
        Err(Error::InvalidConfig(_))
    ));
    assert_eq!(target.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
}

#[test]
fn start_bound_refuses_duplicate_names_bad_addresses_and_no_bind() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = format!("tcp://{}", port.local_addr().unwrap());
    match Engine::builder()
        .bind(Bind::new("same", "tcp://127.0.0.1:0", Echo))
        .bind(Bind::new("other", "tcp://127.0.0.1:0", Echo))
        .bind(Bind::new("same", "udp://127.0.0.1:0", Echo))
        .start_bound()
    {
        Err(Error::InvalidConfig(msg)) => assert!(msg.contains("\"same\""), "{msg}"),
        other => panic!("expected InvalidConfig for a duplicate name, got {other:?}"),
    }
    for bad in ["tcp://127.0.0.1", "bogus://127.0.0.1:1", "tcp://not an address:1", ""] {
        match Engine::builder()
            .bind(Bind::new("good", "tcp://127.0.0.1:0", Echo))
            .bind(Bind::new("bad", bad, Echo))
            .start_bound()
        {
            Err(Error::InvalidAddress(_)) => {}
            other => panic!("{bad:?}: expected InvalidAddress, got {other:?}"),
        }
    }
    // A port in use: the listeners bound before it are released.
    let free = closed_port();
    match Engine::builder()
        .bind(Bind::new("first", format!("tcp://{free}").as_str(), Echo))
        .bind(Bind::new("taken", busy.as_str(), Echo))
        .start_bound()
    {
        Err(Error::Io(e)) => assert_eq!(e.kind(), ErrorKind::AddrInUse),
        other => panic!("expected AddrInUse, got {other:?}"),
    }
    TcpListener::bind(free).expect("the first service's port was released");
    match Engine::builder().start_bound() {
        Err(Error::InvalidConfig(msg)) => assert!(msg.contains("bind"), "{msg}"),
        other => panic!("expected InvalidConfig with no Bind, got {other:?}"),
    }
    match Engine::builder().run_bound() {
        Err(Error::InvalidConfig(_)) => {}
        other => panic!("run_bound with no Bind: expected InvalidConfig, got {other:?}"),
    }
}

#[test]
fn start_start_client_and_run_refuse_a_builder_with_binds() {
    let addr = closed_port();
    let with_bind = || Engine::builder().bind(Bind::new("x", format!("tcp://{addr}").as_str(), Echo));
    match with_bind().start(Echo, "tcp://127.0.0.1:0") {
        Err(Error::InvalidConfig(msg)) => assert!(msg.contains("start_bound"), "{msg}"),
        other => panic!("start: expected InvalidConfig, got {other:?}"),
    }
    match with_bind().start_client(Echo) {
        Err(Error::InvalidConfig(msg)) => assert!(msg.contains("start_bound"), "{msg}"),
        other => panic!("start_client: expected InvalidConfig, got {other:?}"),
    }
    match with_bind().run(Echo, "tcp://127.0.0.1:0") {
        Err(Error::InvalidConfig(_)) => {}
        other => panic!("run: expected InvalidConfig, got {other:?}"),
    }
    // Nothing was bound by any of them.
    TcpListener::bind(addr).expect("the bound service's port is free");
}

/// Counts engine-wide callbacks; ticks every `every`.
struct Engineish {
    every: Duration,
    boots: AtomicUsize,
    ticks: AtomicUsize,
    shutdowns: AtomicUsize,
}

impl Engineish {
    fn new(every: Duration) -> Arc<Self> {
        Arc::new(Engineish {
            every,
            boots: AtomicUsize::new(0),
            ticks: AtomicUsize::new(0),
            shutdowns: AtomicUsize::new(0),
        })
    }
    fn counts(&self) -> (usize, usize, usize) {
        (
            self.boots.load(Ordering::SeqCst),
            self.ticks.load(Ordering::SeqCst),
            self.shutdowns.load(Ordering::SeqCst),
        )
    }
}

impl EventHandler for Engineish {
    fn on_boot(&self, _engine: &EngineHandle) -> Action {
        self.boots.fetch_add(1, Ordering::SeqCst);
        Action::Continue
    }
    fn on_tick(&self, _engine: &EngineHandle) -> (Duration, Action) {
        self.ticks.fetch_add(1, Ordering::SeqCst);
        (self.every, Action::Continue)
    }
    fn on_shutdown(&self, _engine: &EngineHandle) {
        self.shutdowns.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn on_boot_on_tick_and_on_shutdown_reach_every_bound_service() {
    let fast = Engineish::new(Duration::from_millis(5));
    let slow = Engineish::new(Duration::MAX);
    let dialing = Engineish::new(Duration::from_secs(3600));
    let engine = Engine::builder()
        .event_loops(2)
        .ticker(true)
        .bind(Bind::new("fast", "tcp://127.0.0.1:0", fast.clone()))
        .bind(Bind::new("slow", "udp://127.0.0.1:0", slow.clone()))
        .bind(Bind::dialing("dialing", dialing.clone()))
        .start_bound()
        .unwrap();
    for s in [&fast, &slow, &dialing] {
        assert_eq!(
            s.counts().0,
            1,
            "on_boot ran once for each service before start returned"
        );
    }
    // The soonest asked for (5 ms) paces every service's tick.
    wait_until(SETTLE, "every service ticked 3 times", || {
        [&fast, &slow, &dialing].iter().all(|s| s.counts().1 >= 3)
    });
    engine.stop();
    for s in [&fast, &slow, &dialing] {
        let (boots, _, shutdowns) = s.counts();
        assert_eq!((boots, shutdowns), (1, 1));
    }
}

/// Panics on the frame "boom"; echoes the others as frames.
struct Fuse(Arc<Recorder>);

impl Service for Fuse {
    type State = u32;
    fn on_frame(&self, conn: &mut Conn, n: &mut u32, line: Frame<'_>) -> Action {
        *n += 1;
        if &*line == b"boom" {
            panic!("fuse blown on line {n}");
        }
        conn.write_frame(&line).into()
    }
    fn on_close(&self, conn: &mut Conn, _: &mut u32, reason: CloseReason) {
        self.0.close(conn, reason);
    }
}

#[test]
fn a_panic_in_one_services_callback_closes_only_that_connection() {
    let rec = Arc::new(Recorder::default());
    let engine = util::Engine(
        Engine::builder()
            .event_loops(1)
            .bind(Bind::new("fuse", "tcp://127.0.0.1:0", Fuse(rec.clone())).codec(LineCodec::new()))
            .bind(Bind::new("upper", "tcp://127.0.0.1:0", Upper))
            .bind(Bind::new("udp", "udp://127.0.0.1:0", Datagrams))
            .start_bound()
            .unwrap(),
    );
    let addrs = engine.local_addrs();
    let (Address::Tcp(fuse), Address::Tcp(upper)) = (&addrs[0], &addrs[1]) else {
        panic!("{addrs:?}")
    };
    let mut calm = connect(*fuse);
    let mut other = connect(*upper);
    calm.write_all(b"calm\n").unwrap();
    assert_eq!(read_exact_within(&mut calm, 5, IO_TIMEOUT), b"calm\n");
    other.write_all(b"x").unwrap();
    assert_eq!(read_exact_within(&mut other, 1, IO_TIMEOUT), b"X");

    let mut victim = connect(*fuse);
    victim.write_all(b"ok\nboom\nnever\n").unwrap();
    // The pass's output ("ok\n") is dropped with the panic: a reset, not
    // a clean end.
    expect_reset(&mut victim, IO_TIMEOUT);
    let peer = victim.local_addr().unwrap();
    let reason = rec.wait_close_of(peer, |r| r.clone());
    match reason {
        CloseReason::HandlerPanic(msg) => assert!(msg.contains("fuse blown on line 2"), "{msg}"),
        other => panic!("expected HandlerPanic, got {other:?}"),
    }
    // Everything else, on every service, goes on.
    calm.write_all(b"still\n").unwrap();
    assert_eq!(read_exact_within(&mut calm, 6, IO_TIMEOUT), b"still\n");
    other.write_all(b"y").unwrap();
    assert_eq!(read_exact_within(&mut other, 1, IO_TIMEOUT), b"Y");
    let c = udp_client();
    assert_eq!(udp_round_trip(&c, udp_addr(&engine), b"."), b"2/1");
    assert_eq!(rec.closes(), 1);
    assert_eq!(engine.connection_count(), 2);
}

static UDP_FRAGILE: AtomicUsize = AtomicUsize::new(0);

/// A state whose `Default` always panics.
struct NeverMade;

impl Default for NeverMade {
    fn default() -> Self {
        UDP_FRAGILE.fetch_add(1, Ordering::SeqCst);
        panic!("NeverMade::default");
    }
}

struct NeverServed;

impl Service for NeverServed {
    type State = NeverMade;
}

#[test]
fn a_udp_socket_whose_state_default_panics_fails_start_and_frees_the_port() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    drop(taken);
    for result in [
        Engine::builder()
            .event_loops(2)
            .start(NeverServed, format!("udp://{addr}").as_str()),
        Engine::builder()
            .event_loops(2)
            .bind(Bind::new("tcp", "tcp://127.0.0.1:0", Echo))
            .bind(Bind::new("udp", format!("udp://{addr}").as_str(), NeverServed))
            .start_bound(),
    ] {
        match result {
            Err(e) => assert!(e.to_string().contains("state"), "{e}"),
            Ok(engine) => {
                engine.stop();
                panic!("an engine whose UDP socket has no state started");
            }
        }
        std::net::UdpSocket::bind(addr).expect("the UDP port was freed");
    }
    assert!(UDP_FRAGILE.load(Ordering::SeqCst) >= 2);
}

#[test]
fn an_engine_of_dialing_services_only_listens_nowhere_and_serves_its_dials() {
    let echo = start(Engine::builder().event_loops(1), Echo);
    let (tx, rx) = mpsc::channel();
    let (tx2, rx2) = mpsc::channel();
    let engine = util::Engine(
        Engine::builder()
            .event_loops(2)
            .bind(Bind::dialing("a", LineClient(Mutex::new(tx))).codec(LineCodec::new()))
            .bind(
                Bind::dialing("b", LineClient(Mutex::new(tx2)))
                    .codec(netreactor::codec::DelimiterCodec::new([b";"]).unwrap()),
            )
            .start_bound()
            .unwrap(),
    );
    assert!(engine.local_addrs().is_empty());
    let to = echo.local_addr().to_string();
    engine
        .dial_with(&to, IO_TIMEOUT, DialOptions::new().service("b").state("B".to_string()))
        .unwrap();
    assert_eq!(
        rx2.recv_timeout(IO_TIMEOUT).unwrap(),
        ("B".into(), "hello from B".into())
    );
    // No service named: the first bound ("a").
    engine
        .dial_with(&to, IO_TIMEOUT, DialOptions::new().state("A".to_string()))
        .unwrap();
    assert_eq!(
        rx.recv_timeout(IO_TIMEOUT).unwrap(),
        ("A".into(), "hello from A".into())
    );
    wait_until(SETTLE, "both dials closed", || engine.connection_count() == 0);
    assert!(rx.try_recv().is_err() && rx2.try_recv().is_err());
}

#[test]
fn services_are_routed_by_listener_in_reuse_port_mode_too() {
    let engine = util::Engine(
        Engine::builder()
            .event_loops(3)
            .reuse_port(true)
            .bind(Bind::new("lines", "tcp://127.0.0.1:0", Lines).codec(LineCodec::new()))
            .bind(Bind::new("upper", "tcp://127.0.0.1:0", Upper))
            .start_bound()
            .unwrap(),
    );
    let addrs = engine.local_addrs();
    let (Address::Tcp(lines), Address::Tcp(upper)) = (&addrs[0], &addrs[1]) else {
        panic!("{addrs:?}")
    };
    for i in 0..12 {
        let mut l = connect(*lines);
        l.write_all(format!("n{i}\n").as_bytes()).unwrap();
        let expected = format!("L0 1: n{i}\n");
        assert_eq!(
            read_exact_within(&mut l, expected.len(), IO_TIMEOUT),
            expected.as_bytes()
        );
        let mut u = connect(*upper);
        u.write_all(format!("n{i}\n").as_bytes()).unwrap();
        let expected = format!("N{i}\n");
        assert_eq!(
            read_exact_within(&mut u, expected.len(), IO_TIMEOUT),
            expected.as_bytes()
        );
        u.shutdown(std::net::Shutdown::Write).unwrap();
        let tail = format!("[{} bytes on listener 1]", expected.len());
        assert_eq!(read_to_eof(&mut u, IO_TIMEOUT), tail.as_bytes());
    }
}

/// 1 MiB inline: made, moved into its slot and out of it on a loop's stack
/// (a 128 KiB one overflowed the 2 MiB default stack in a debug build and
/// aborted the whole process).
const BIG_STATE_BYTES: usize = 1024 * 1024;

struct BigState(Box<u8>, [u8; BIG_STATE_BYTES]);

impl Default for BigState {
    fn default() -> Self {
        BigState(Box::new(0), [7u8; BIG_STATE_BYTES])
    }
}

/// Answers each read with as many bytes of its state.
struct BigEcho;

impl Service for BigEcho {
    type State = BigState;
    fn on_traffic(&self, conn: &mut Conn, st: &mut BigState) -> Action {
        let n = conn.discard(usize::MAX);
        *st.0 += 1;
        st.1[n] = *st.0;
        conn.write(&st.1[..n]);
        Action::Continue
    }
}

#[test]
fn a_megabyte_state_inline_does_not_overflow_a_loops_stack() {
    let engine = start(Engine::builder().event_loops(2), BigEcho);
    let mut clients: Vec<_> = (0..16).map(|_| connect(engine.local_addr())).collect();
    for c in &mut clients {
        c.write_all(b"abc").unwrap();
        assert_eq!(read_exact_within(c, 3, IO_TIMEOUT), [7, 7, 7]);
        c.write_all(b"abcd").unwrap();
        assert_eq!(read_exact_within(c, 4, IO_TIMEOUT), [7, 7, 7, 1]);
    }
    for c in clients {
        finish(c);
    }
    wait_until(SETTLE, "every connection is closed", || engine.connection_count() == 0);
}

#[test]
fn a_megabyte_state_on_bound_tcp_and_udp_services_does_not_overflow_any_stack() {
    // A UDP socket's state is made at start: not on the caller's stack
    // (this test's thread has 2 MiB).
    let engine = util::Engine(
        Engine::builder()
            .event_loops(2)
            .bind(Bind::new("tcp", "tcp://127.0.0.1:0", BigEcho))
            .bind(Bind::new("udp", "udp://127.0.0.1:0", BigEcho))
            .start_bound()
            .unwrap(),
    );
    let Address::Tcp(tcp) = engine.local_addrs()[0] else {
        panic!("{:?}", engine.local_addrs())
    };
    let mut c = connect(tcp);
    c.write_all(b"ab").unwrap();
    assert_eq!(read_exact_within(&mut c, 2, IO_TIMEOUT), [7, 7]);
    let u = udp_client();
    assert_eq!(udp_round_trip(&u, udp_addr(&engine), b"ab"), [7, 7]);
    let single = Engine::builder()
        .event_loops(2)
        .start(BigEcho, "udp://127.0.0.1:0")
        .unwrap();
    assert_eq!(udp_round_trip(&u, udp_addr(&single), b"xyz"), [7, 7, 7]);
    single.stop();
}
