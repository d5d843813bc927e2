//! Outbound connections: `EngineHandle::dial` connects without blocking on a
//! loop; success is `on_open` (`Origin::Dialed`), failure or timeout is
//! `on_close` with `CloseReason::ConnectFailed`, and `on_open` never runs.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use netreactor::{Action, CloseReason, Conn, DialOptions, Engine, Origin, Service};
use util::*;

#[derive(Debug, PartialEq)]
enum Event {
    Open {
        tag: u32,
        origin: Origin,
        peer: Option<SocketAddr>,
        event_loop: usize,
    },
    Data(Vec<u8>),
    Close {
        tag: u32,
        reason: CloseReason,
    },
}

/// Greets what it dials, reports every event with the dial's tag.
struct Dialer(Mutex<mpsc::Sender<Event>>);

impl Dialer {
    fn send(&self, e: Event) {
        let _ = self.0.lock().unwrap().send(e);
    }
}

impl Service for Dialer {
    type State = u32; // the dial's tag (0: the default)

    fn on_open(&self, conn: &mut Conn, &mut tag: &mut u32) -> Action {
        self.send(Event::Open {
            tag,
            origin: conn.origin(),
            peer: conn.peer_addr(),
            event_loop: conn.id().event_loop(),
        });
        conn.write(b"hello upstream\n");
        Action::Continue
    }
    fn on_traffic(&self, conn: &mut Conn, _: &mut u32) -> Action {
        self.send(Event::Data(conn.take_inbound().to_vec()));
        Action::Continue
    }
    fn on_close(&self, _conn: &mut Conn, &mut tag: &mut u32, reason: CloseReason) {
        self.send(Event::Close { tag, reason });
    }
}

fn dialer(loops: usize) -> (util::Engine, mpsc::Receiver<Event>) {
    let (tx, rx) = mpsc::channel();
    (start(Engine::builder().event_loops(loops), Dialer(Mutex::new(tx))), rx)
}

#[test]
fn dial_to_a_live_listener_opens_a_connection_both_ways() {
    let (engine, events) = dialer(2);
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = upstream.local_addr().unwrap();
    engine
        .dial_with(
            &addr.to_string(),
            Duration::from_secs(5),
            DialOptions::new().on_loop(1).state(5u32),
        )
        .unwrap();
    let (mut far, _) = upstream.accept().unwrap();
    far.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut greeting = [0; 15];
    far.read_exact(&mut greeting).unwrap();
    assert_eq!(&greeting, b"hello upstream\n");
    assert_eq!(
        events.recv_timeout(IO_TIMEOUT).unwrap(),
        Event::Open {
            tag: 5,
            origin: Origin::Dialed,
            peer: Some(addr),
            event_loop: 1
        }
    );
    far.write_all(b"hello engine").unwrap();
    assert_eq!(
        events.recv_timeout(IO_TIMEOUT).unwrap(),
        Event::Data(b"hello engine".to_vec())
    );
    assert_eq!(engine.stats().dialed, 1);
    assert_eq!(engine.connection_count(), 1);
    drop(far);
    assert_eq!(
        events.recv_timeout(IO_TIMEOUT).unwrap(),
        Event::Close {
            tag: 5,
            reason: CloseReason::PeerEof
        }
    );
    // A host name works too (resolved on the calling thread).
    let upstream2 = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = upstream2.local_addr().unwrap().port();
    engine
        .dial(&format!("tcp://localhost:{port}"), Duration::from_secs(5))
        .unwrap();
    assert!(upstream2.accept().is_ok());
    engine.stop();
}

#[test]
fn dial_to_a_closed_port_is_reported_as_connect_failed_without_on_open() {
    let (engine, events) = dialer(1);
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    engine
        .dial_with(
            &closed.to_string(),
            Duration::from_secs(5),
            DialOptions::new().state(9u32),
        )
        .unwrap();
    match events.recv_timeout(IO_TIMEOUT).unwrap() {
        Event::Close {
            tag: 9,
            reason: CloseReason::ConnectFailed(e),
        } => {
            assert_eq!(e.kind(), ErrorKind::ConnectionRefused)
        }
        other => panic!("expected a refused connect, got {other:?}"),
    }
    wait_until(SETTLE, "the failed dial is no longer counted", || {
        engine.connection_count() == 0
    });
    assert_eq!(engine.stats().dialed, 1);
    engine.stop();
}

#[test]
fn dial_to_a_listener_whose_accept_queue_is_full_times_out() {
    // A loopback listener that never accepts, with the shortest queue: once
    // the queue is full the kernel drops further SYNs, so a connect hangs.
    let listener = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    listener
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let mut queued = Vec::new();
    loop {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => queued.push(s),
            Err(e) if e.kind() == ErrorKind::TimedOut => break, // full: SYNs are dropped now
            Err(e) => panic!("filling the accept queue: {e}"),
        }
        assert!(queued.len() < 64, "the accept queue never filled");
    }

    let (engine, events) = dialer(1);
    let asked = Instant::now();
    engine
        .dial_with(
            &addr.to_string(),
            Duration::from_millis(300),
            DialOptions::new().state(3u32),
        )
        .unwrap();
    match events.recv_timeout(IO_TIMEOUT).unwrap() {
        Event::Close {
            tag: 3,
            reason: CloseReason::ConnectFailed(e),
        } => assert_eq!(e.kind(), ErrorKind::TimedOut),
        other => panic!("expected a timed-out connect, got {other:?}"),
    }
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "timed out after {took:?}"
    );
    engine.stop();
}

#[test]
fn dial_with_a_loop_that_does_not_exist_or_a_unix_address_is_refused() {
    let (engine, _events) = dialer(2);
    assert!(engine
        .dial_with("127.0.0.1:1", Duration::from_secs(1), DialOptions::new().on_loop(2))
        .is_err());
    assert!(engine.dial("unix:///tmp/x.sock", Duration::from_secs(1)).is_err());
    engine.stop();
    assert!(
        engine.dial("127.0.0.1:1", Duration::from_secs(1)).is_err(),
        "a stopped engine dials nothing"
    );
}
