//! `Conn::engine`: the engine reached from inside a callback, over real
//! sockets: a dial from `on_open` whose answer goes back to the client,
//! stats and counts read by an admin command, and a stop asked by a
//! client.

mod util;

use std::io::Write;
use std::net::TcpListener;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use netreactor::codec::LineCodec;
use netreactor::{Action, CloseReason, Conn, ConnHandle, DialOptions, Engine, Frame, Service};
use util::*;

/// A connection is either a client, or the dial made for one (holding
/// the client's handle).
#[derive(Default)]
enum Side {
    #[default]
    Client,
    Dialed(ConnHandle),
}

/// Each client gets a dial to `to` from its `on_open`; what the dialed
/// side reads goes to its client.
struct Fetch {
    to: String,
    dial_errors: Mutex<Vec<String>>,
}

impl Service for Fetch {
    type State = Side;
    fn on_open(&self, conn: &mut Conn, side: &mut Side) -> Action {
        match side {
            Side::Client => {
                let state = Side::Dialed(conn.handle());
                if let Err(e) = conn
                    .engine()
                    .dial_with(&self.to, IO_TIMEOUT, DialOptions::new().state(state))
                {
                    lock(&self.dial_errors).push(e.to_string());
                    return Action::Close;
                }
                Action::Continue
            }
            Side::Dialed(_) => {
                conn.write(b"GET\n");
                Action::Continue
            }
        }
    }
    fn on_traffic(&self, conn: &mut Conn, side: &mut Side) -> Action {
        match side {
            Side::Client => {
                conn.discard(usize::MAX);
                Action::Continue
            }
            Side::Dialed(client) => {
                let data = conn.take_inbound();
                match client.async_write(data) {
                    Ok(()) => Action::Continue,
                    Err(_) => Action::Close,
                }
            }
        }
    }
    fn on_close(&self, _conn: &mut Conn, side: &mut Side, _reason: CloseReason) {
        if let Side::Dialed(client) = side {
            let _ = client.close();
        }
    }
}

#[test]
fn a_dial_from_on_open_through_conn_engine_answers_the_client() {
    // The upstream: answers "GET\n" with a body, then closes.
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let to = up.local_addr().unwrap().to_string();
    let fetch = Arc::new(Fetch {
        to,
        dial_errors: Mutex::new(Vec::new()),
    });
    let engine = start(Engine::builder().event_loops(2), fetch.clone());
    let server = std::thread::spawn(move || {
        for i in 0..3 {
            let (mut s, _) = up.accept().unwrap();
            s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
            let mut req = [0u8; 4];
            std::io::Read::read_exact(&mut s, &mut req).unwrap();
            assert_eq!(&req, b"GET\n");
            s.write_all(format!("body {i}").as_bytes()).unwrap();
        }
    });
    for i in 0..3 {
        let mut client = connect(engine.local_addr());
        assert_eq!(read_to_eof(&mut client, IO_TIMEOUT), format!("body {i}").as_bytes());
    }
    server.join().unwrap();
    wait_until(SETTLE, "every client and dial is closed", || {
        engine.connection_count() == 0
    });
    assert_eq!(engine.stats().dialed, 3);
    assert_eq!(engine.stats().accepted, 3);
    assert!(lock(&fetch.dial_errors).is_empty());
}

#[test]
fn a_dial_from_a_callback_with_a_wrong_state_type_is_refused_there() {
    struct Wrong(mpsc::SyncSender<String>);
    impl Service for Wrong {
        type State = u8;
        fn on_open(&self, conn: &mut Conn, _: &mut u8) -> Action {
            let to = conn.local_addr().unwrap().to_string();
            let r = conn.engine().dial_with(&to, IO_TIMEOUT, DialOptions::new().state(1u16));
            let _ = self.0.send(format!("{r:?}"));
            Action::Close
        }
    }
    let (tx, rx) = mpsc::sync_channel(4);
    let engine = start(Engine::builder().event_loops(1), Wrong(tx));
    let mut client = connect(engine.local_addr());
    expect_eof(&mut client, IO_TIMEOUT);
    let answer = rx.recv_timeout(IO_TIMEOUT).unwrap();
    assert!(answer.starts_with("Err(InvalidConfig("), "{answer}");
    assert!(answer.contains("u16") && answer.contains("u8"), "{answer}");
    wait_until(SETTLE, "the client is closed", || engine.connection_count() == 0);
    assert_eq!(engine.stats().dialed, 0);
    assert_eq!(engine.stats().accepted, 1, "the refused dial did not connect back");
}

/// Line commands: "stats", "count", "stop"; anything else is echoed.
struct Admin;

impl Service for Admin {
    type State = ();
    fn on_frame(&self, conn: &mut Conn, _: &mut (), line: Frame<'_>) -> Action {
        match &*line {
            b"stats" => {
                let s = conn.engine().stats();
                let reply = format!(
                    "accepted={} open={} in={}",
                    s.accepted,
                    conn.engine().connection_count(),
                    s.bytes_in
                );
                conn.write_frame(reply.as_bytes()).into()
            }
            b"count" => {
                let counts = conn.engine().loop_connection_counts();
                conn.write_frame(format!("{counts:?}").as_bytes()).into()
            }
            b"stop" => {
                // From a callback, stop only asks: it returns at once, and
                // this reply still goes out before the connection closes.
                let asked = Instant::now();
                conn.engine().stop();
                let took = asked.elapsed();
                let reply = format!("stopping (asked in under a second: {})", took < Duration::from_secs(1));
                conn.write_frame(reply.as_bytes()).into()
            }
            other => conn.write_frame(other).into(),
        }
    }
}

#[test]
fn stats_and_counts_read_from_a_callback_are_the_engines() {
    let engine = start(Engine::builder().event_loops(2).codec(LineCodec::new()), Admin);
    let mut others: Vec<_> = (0..3).map(|_| connect(engine.local_addr())).collect();
    for o in &mut others {
        o.write_all(b"hi\n").unwrap();
        assert_eq!(read_exact_within(o, 3, IO_TIMEOUT), b"hi\n");
    }
    let mut admin = connect(engine.local_addr());
    wait_until(SETTLE, "four connections are open", || engine.connection_count() == 4);
    admin.write_all(b"stats\n").unwrap();
    // 3 x "hi\n" and "stats\n" read so far.
    let expected = b"accepted=4 open=4 in=15\n";
    assert_eq!(read_exact_within(&mut admin, expected.len(), IO_TIMEOUT), expected);
    admin.write_all(b"count\n").unwrap();
    let counts = engine.loop_connection_counts();
    let expected = format!("{counts:?}\n");
    assert_eq!(counts.iter().sum::<usize>(), 4);
    assert_eq!(
        read_exact_within(&mut admin, expected.len(), IO_TIMEOUT),
        expected.as_bytes()
    );
}

#[test]
fn stop_from_a_callback_returns_at_once_and_the_engine_stops_flushing_the_reply() {
    let engine = start(Engine::builder().event_loops(2).codec(LineCodec::new()), Admin);
    let mut bystander = connect(engine.local_addr());
    bystander.write_all(b"here\n").unwrap();
    assert_eq!(read_exact_within(&mut bystander, 5, IO_TIMEOUT), b"here\n");
    let mut admin = connect(engine.local_addr());
    admin.write_all(b"stop\n").unwrap();
    assert_eq!(
        read_to_eof(&mut admin, IO_TIMEOUT),
        b"stopping (asked in under a second: true)\n"
    );
    expect_eof(&mut bystander, IO_TIMEOUT);
    let waited = Instant::now();
    engine.wait().expect("a stop asked from a callback is a clean stop");
    assert!(waited.elapsed() < SETTLE);
    assert!(engine.is_stopped());
    assert_eq!(engine.stats().closed_shutdown, 2);
    assert!(
        std::net::TcpStream::connect(engine.local_addr()).is_err(),
        "no longer listening"
    );
}
