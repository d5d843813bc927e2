//! Socket options on the builder and per connection, read back with
//! getsockopt on the server's side of the connection.

mod util;

use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use netreactor::{Action, Conn, Engine, EngineBuilder, Error, EventHandler, Keepalive};
use util::*;

/// What the server side of a connection reports, read in `on_open`.
#[derive(Debug)]
struct Seen {
    keepalive: Option<Keepalive>,
    keepalive_after_off: Option<Keepalive>,
    recv_buffer: usize,
    send_buffer: usize,
    nodelay: bool,
}

struct Report(Mutex<mpsc::Sender<Seen>>);

impl EventHandler for Report {
    fn on_open(&self, conn: &mut Conn) -> Action {
        let keepalive = conn.keepalive().unwrap();
        // SAFETY: the descriptor is the live connection's, for this call only.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(conn.fd()) };
        let nodelay = socket2::SockRef::from(&fd).tcp_nodelay().unwrap();
        conn.set_keepalive(None).unwrap();
        let seen = Seen {
            keepalive,
            keepalive_after_off: conn.keepalive().unwrap(),
            recv_buffer: conn.recv_buffer_size().unwrap(),
            send_buffer: conn.send_buffer_size().unwrap(),
            nodelay,
        };
        let _ = self.0.lock().unwrap().send(seen);
        Action::Continue
    }
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        if conn.peek_all() == b"bye" {
            conn.discard(3);
            return Action::Close;
        }
        conn.echo_all();
        Action::Continue
    }
}

fn seen_with(builder: EngineBuilder) -> Seen {
    let (tx, rx) = mpsc::channel();
    let engine = start(builder.event_loops(1), Report(Mutex::new(tx)));
    let _client = connect(engine.local_addr());
    rx.recv_timeout(IO_TIMEOUT).unwrap()
}

#[test]
fn keepalive_and_buffer_sizes_from_the_builder_are_on_every_accepted_socket() {
    let probes = Keepalive {
        idle: Duration::from_secs(75),
        interval: Duration::from_secs(15),
        retries: 7,
    };
    let seen = seen_with(
        Engine::builder()
            .tcp_keepalive(probes)
            .recv_buffer_size(96 * 1024)
            .send_buffer_size(48 * 1024),
    );
    assert_eq!(seen.keepalive, Some(probes));
    assert_eq!(seen.keepalive_after_off, None, "Conn::set_keepalive(None) turns it off");
    // Linux doubles the value for its bookkeeping.
    assert_eq!(seen.recv_buffer, 2 * 96 * 1024);
    assert_eq!(seen.send_buffer, 2 * 48 * 1024);
    assert!(seen.nodelay, "TCP_NODELAY is on by default");
}

#[test]
fn without_options_the_system_defaults_stay() {
    let seen = seen_with(Engine::builder().tcp_nodelay(false));
    assert_eq!(seen.keepalive, None);
    assert!(!seen.nodelay);
}

#[test]
fn linger_zero_closes_with_a_reset() {
    let (tx, _rx) = mpsc::channel();
    let engine = start(
        Engine::builder().event_loops(1).linger_zero(true),
        Report(Mutex::new(tx)),
    );
    let mut s = connect(engine.local_addr());
    round_trip(&mut s, b"hello");
    std::io::Write::write_all(&mut s, b"bye").unwrap();
    expect_reset(&mut s, IO_TIMEOUT);
}

#[test]
fn listener_options_backlog_device_and_freebind() {
    let serve = |b: EngineBuilder, addr: &str| b.event_loops(1).start(Echo, addr.to_string());
    let engine = serve(
        Engine::builder().listen_backlog(1).bind_device("lo"),
        "tcp://127.0.0.1:0",
    )
    .unwrap();
    round_trip(&mut connect(engine.local_addr()), b"on lo");
    engine.stop();
    // 192.0.2.1 (TEST-NET-1) is on no interface here: binding needs IP_FREEBIND.
    assert!(serve(Engine::builder(), "tcp://192.0.2.1:0").is_err());
    let engine = serve(Engine::builder().freebind(true), "tcp://192.0.2.1:0").unwrap();
    assert_eq!(engine.local_addr().ip().to_string(), "192.0.2.1");
    engine.stop();
}

#[test]
fn threads_pin_to_an_explicit_core_list_and_unknown_cores_are_refused() {
    let engine = Engine::builder()
        .event_loops(2)
        .pin_threads_to([0])
        .start(Echo, "tcp://127.0.0.1:0")
        .unwrap();
    round_trip(&mut connect(engine.local_addr()), b"pinned");
    engine.stop();
    let err = Engine::builder()
        .event_loops(1)
        .pin_threads_to([100_000])
        .start(Echo, "tcp://127.0.0.1:0")
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig(m) if m.contains("pin_threads_to")),
        "{err}"
    );
}
