//! Writing on a UDP socket outside the reply to the datagram being served:
//! a `ConnHandle` taken from a datagram's `Conn` refuses what needs a
//! connection (`async_write*`, `wake`, `close`: `Error::Unsupported`) and
//! offers `send_to`; `call` runs a turn with no sender; `Conn::send_to`
//! writes to any address from a callback; `Conn::flush` sends what was
//! written so far as its own datagram; a timer scheduled on a socket fires
//! `on_timer` for that socket, on its loop, with no `peer_addr`.
//!
//! Issue 17 (items 2 and 12): before it a UDP socket's handle offered only
//! the stream calls (a `close` done in its `call` closed the loop's socket:
//! see `tests/udp_turns.rs`), and nothing could write to an address from a
//! callback, a timer or another thread (`send_to` is new).

mod util;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use netreactor::{Action, Conn, ConnHandle, ConnId, Engine, Error, EventHandler};
use util::*;

/// What a timer on the socket saw.
#[derive(Debug, Clone, PartialEq)]
struct TimerFired {
    token: u64,
    socket: ConnId,
    thread: String,
    peer: Option<SocketAddr>,
    sent: Result<usize, String>,
}

/// Datagram commands:
/// - `handle`: hands the socket's handle and the sender to the test;
/// - `forward <addr>`: `Conn::send_to(addr)`, then replies `sent <n>`;
/// - `flush`: two datagrams back (a flushed part, then the rest);
/// - `timer <ms>`: schedules token 7 on the socket, to `send_to` the sender;
/// - anything else is echoed.
#[derive(Default)]
struct UdpService {
    handles: Mutex<Option<mpsc::Sender<(ConnHandle, SocketAddr)>>>,
    /// The sender each socket's timer writes to, by socket.
    timer_target: Mutex<HashMap<ConnId, SocketAddr>>,
    fired: Mutex<Vec<TimerFired>>,
}

impl EventHandler for UdpService {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        let peer = conn.peer_addr().expect("a datagram has a sender");
        let text = String::from_utf8_lossy(conn.peek_all()).into_owned();
        conn.discard(usize::MAX);
        let (command, arg) = text.split_once(' ').unwrap_or((&text, ""));
        match command {
            "handle" => {
                if let Some(tx) = lock(&self.handles).as_ref() {
                    let _ = tx.send((conn.handle(), peer));
                }
                conn.write(b"handle");
            }
            "forward" => {
                let to: SocketAddr = arg.parse().expect("forward <addr>");
                match conn.send_to(to, b"forwarded by send_to") {
                    Ok(n) => conn.write(format!("sent {n}").as_bytes()),
                    Err(e) => conn.write(format!("send_to failed: {e}").as_bytes()),
                }
            }
            "flush" => {
                conn.write(b"flushed part");
                if let Err(e) = conn.flush() {
                    conn.write(format!("flush failed: {e}").as_bytes());
                }
                conn.write(b"the rest");
            }
            "timer" => {
                let ms: u64 = arg.parse().expect("timer <ms>");
                lock(&self.timer_target).insert(conn.id(), peer);
                conn.schedule(Duration::from_millis(ms), 7);
                conn.write(b"scheduled");
            }
            _ => conn.write(text.as_bytes()),
        }
        Action::Continue
    }

    fn on_timer(&self, conn: &mut Conn, token: u64) -> Action {
        let to = lock(&self.timer_target)[&conn.id()];
        let sent = conn
            .send_to(to, format!("timer {token}").as_bytes())
            .map_err(|e| e.to_string());
        lock(&self.fired).push(TimerFired {
            token,
            socket: conn.id(),
            thread: thread_name(),
            peer: conn.peer_addr(),
            sent,
        });
        Action::Continue
    }
}

/// An engine with one loop (one UDP socket) serving `UdpService`.
fn udp_service() -> (util::Engine, Arc<UdpService>, SocketAddr) {
    udp_service_with(Engine::builder().event_loops(1))
}

fn udp_service_with(builder: netreactor::EngineBuilder) -> (util::Engine, Arc<UdpService>, SocketAddr) {
    let service = Arc::new(UdpService::default());
    let engine = builder
        .start(service.clone(), "udp://127.0.0.1:0")
        .expect("UDP engine starts");
    let server = udp_addr(&engine);
    (util::Engine(engine), service, server)
}

/// Asks the socket for its handle with a datagram from `client`.
fn take_handle(service: &UdpService, client: &UdpSocket, server: SocketAddr) -> (ConnHandle, SocketAddr) {
    let (tx, rx) = mpsc::channel();
    *lock(&service.handles) = Some(tx);
    assert_eq!(udp_round_trip(client, server, b"handle"), b"handle");
    rx.recv_timeout(IO_TIMEOUT).expect("the handler handed out its handle")
}

fn assert_unsupported(what: &str, result: netreactor::Result<()>) {
    match result {
        Err(Error::Unsupported(why)) => assert!(!why.is_empty(), "{what}: an empty reason"),
        other => panic!("{what} on a UDP socket's handle: expected Err(Unsupported), got {other:?}"),
    }
}

#[test]
fn udp_handle_refuses_async_writes_wake_and_close_and_the_socket_keeps_answering() {
    let (engine, service, server) = udp_service();
    let client = udp_client();
    let (handle, peer) = take_handle(&service, &client, server);
    assert_eq!(peer, client.local_addr().unwrap());
    for round in 0..2 {
        assert_unsupported("async_write", handle.async_write("no destination"));
        assert_unsupported(
            "async_write_vectored",
            handle.async_write_vectored(["no ", "destination"]),
        );
        assert_unsupported("async_write_frame", handle.async_write_frame("no destination"));
        assert_unsupported("wake", handle.wake());
        assert_unsupported("close", handle.close());
        assert_unsupported("reset", handle.reset());
        assert_eq!(handle.queued_bytes(), 0, "a refused write was counted");
        let msg = format!("still answering, round {round}");
        assert_eq!(udp_round_trip(&client, server, msg.as_bytes()), msg.as_bytes());
        assert!(handle.is_alive());
    }
    let stats = engine.stats();
    assert_eq!(
        stats.datagrams_dropped, 0,
        "a refused write reached the loop: {stats:?}"
    );
    engine.stop();
}

#[test]
fn udp_handle_is_alive_while_the_engine_runs_and_not_after_it_stops() {
    let (engine, service, server) = udp_service();
    let client = udp_client();
    let (handle, _) = take_handle(&service, &client, server);
    assert!(handle.is_alive(), "a UDP socket's handle is dead while the engine runs");
    // Datagrams come and go; the handle stays alive (the socket is not a
    // connection that a datagram's end closes).
    for i in 0..5 {
        let msg = format!("datagram {i}");
        assert_eq!(udp_round_trip(&client, server, msg.as_bytes()), msg.as_bytes());
    }
    assert!(handle.is_alive());
    engine.stop();
    assert!(!handle.is_alive(), "the handle outlived the engine's socket");
    match handle.send_to(client.local_addr().unwrap(), "too late") {
        Err(Error::ConnectionClosed | Error::EngineStopped) => {}
        other => panic!("send_to after stop: {other:?}"),
    }
}

#[test]
fn udp_handle_call_runs_a_turn_with_no_sender_whose_writes_are_dropped_and_counted() {
    let (engine, service, server) = udp_service();
    let client = udp_client();
    let (handle, _) = take_handle(&service, &client, server);
    let dropped_before = engine.stats().datagrams_dropped;
    let client_addr = client.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    handle
        .call(move |conn| {
            conn.write(b"no destination: dropped");
            let sent = conn.send_to(client_addr, b"send_to works in a call");
            let _ = tx.send((
                conn.peer_addr(),
                conn.id(),
                thread_name(),
                sent.map_err(|e| e.to_string()),
            ));
            Action::Continue
        })
        .expect("call on a UDP socket's handle");
    let (peer, id, thread, sent) = rx.recv_timeout(IO_TIMEOUT).expect("the call ran");
    assert_eq!(peer, None, "a call is no datagram: it has no sender");
    assert_eq!(sent, Ok(23));
    assert_eq!(recv_datagram(&client, server), b"send_to works in a call");
    assert_eq!(id, handle.id());
    assert_eq!(thread, "nr-loop-0");
    wait_for(
        SETTLE,
        "the call's write is counted as dropped",
        || engine.stats().datagrams_dropped - dropped_before,
        |&n| n == 1,
    );
    // Nothing reached the client: the next datagram it gets is its echo.
    assert_eq!(udp_round_trip(&client, server, b"after the call"), b"after the call");
    // A call that ends in Action::Close ends only its own turn.
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    handle
        .call(move |_conn| {
            flag.store(true, Ordering::SeqCst);
            Action::Close
        })
        .unwrap();
    wait_until(SETTLE, "the second call ran", || ran.load(Ordering::SeqCst));
    assert_eq!(udp_round_trip(&client, server, b"and after close"), b"and after close");
    assert!(handle.is_alive());
    engine.stop();
}

#[test]
fn udp_handle_send_to_from_another_thread_reaches_the_address() {
    let (engine, service, server) = udp_service();
    let client = udp_client();
    let (handle, peer) = take_handle(&service, &client, server);
    let third = udp_client();
    let third_addr = third.local_addr().unwrap();
    let sender = std::thread::spawn(move || {
        for i in 0..10 {
            handle.send_to(peer, format!("news {i}")).unwrap();
            handle.send_to(third_addr, format!("to the third {i}")).unwrap();
        }
        handle
    });
    let handle = sender.join().unwrap();
    for i in 0..10 {
        assert_eq!(recv_datagram(&client, server), format!("news {i}").as_bytes());
        assert_eq!(recv_datagram(&third, server), format!("to the third {i}").as_bytes());
    }
    wait_until(SETTLE, "every send_to left the queue", || handle.queued_bytes() == 0);
    assert_eq!(udp_round_trip(&client, server, b"still here"), b"still here");
    engine.stop();
}

#[test]
fn udp_handle_send_to_is_bounded_by_the_queue_cap() {
    const CAP: usize = 4096;
    let (engine, service, server) = udp_service_with(Engine::builder().event_loops(1).max_outbound_buffer(CAP));
    let client = udp_client();
    let (handle, peer) = take_handle(&service, &client, server);
    match handle.send_to(peer, vec![b'x'; CAP + 1]) {
        Err(Error::TooLarge { len, limit }) => assert_eq!((len, limit), (CAP + 1, CAP)),
        other => panic!("a datagram over the whole cap: expected TooLarge, got {other:?}"),
    }
    // Hold the loop busy, so nothing posted is sent: exactly four 1000-byte
    // datagrams fit the 4096-byte cap.
    let (busy_tx, busy_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    handle
        .call(move |_conn| {
            let _ = busy_tx.send(());
            let _ = release_rx.recv();
            Action::Continue
        })
        .unwrap();
    busy_rx.recv_timeout(IO_TIMEOUT).expect("the loop runs the call");
    let mut accepted = 0;
    let refusal = loop {
        match handle.send_to(peer, vec![b'0' + accepted as u8; 1000]) {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted <= 4, "send_to queued past the cap");
    };
    assert_eq!(accepted, 4);
    assert!(
        matches!(
            refusal,
            Error::QueueFull {
                queued: 4000,
                limit: CAP
            }
        ),
        "{refusal:?}"
    );
    release_tx.send(()).unwrap();
    for i in 0..4u8 {
        assert_eq!(recv_datagram(&client, server), vec![b'0' + i; 1000]);
    }
    wait_until(SETTLE, "the queue drained", || handle.queued_bytes() == 0);
    handle.send_to(peer, "room again").unwrap();
    assert_eq!(recv_datagram(&client, server), b"room again");
    engine.stop();
}

#[test]
fn stream_handle_send_to_is_unsupported() {
    let (tx, rx) = mpsc::channel();
    let service = UdpService {
        handles: Mutex::new(Some(tx)),
        ..UdpService::default()
    };
    let engine = start(Engine::builder().event_loops(1), service);
    let mut client = connect(engine.local_addr());
    // The stream's on_traffic is the same command handler.
    client.write_all(b"handle").unwrap();
    assert_eq!(read_exact_within(&mut client, 6, IO_TIMEOUT), b"handle");
    let (handle, _) = rx.recv_timeout(IO_TIMEOUT).unwrap();
    let target = udp_client();
    assert_unsupported(
        "send_to on a stream connection's handle",
        handle.send_to(target.local_addr().unwrap(), "nowhere"),
    );
    // The stream itself is unharmed.
    handle.async_write("still a stream").unwrap();
    assert_eq!(read_exact_within(&mut client, 14, IO_TIMEOUT), b"still a stream");
    engine.stop();
}

#[test]
fn conn_send_to_in_a_callback_reaches_a_third_socket() {
    let (engine, _service, server) = udp_service();
    let client = udp_client();
    let third = udp_client();
    let command = format!("forward {}", third.local_addr().unwrap());
    assert_eq!(
        udp_round_trip(&client, server, command.as_bytes()),
        format!("sent {}", b"forwarded by send_to".len()).as_bytes()
    );
    assert_eq!(recv_datagram(&third, server), b"forwarded by send_to");
    engine.stop();
}

#[test]
fn conn_flush_on_udp_sends_what_was_written_so_far_as_its_own_datagram() {
    let (engine, _service, server) = udp_service();
    let client = udp_client();
    for _ in 0..3 {
        client.send_to(b"flush", server).unwrap();
        assert_eq!(recv_datagram(&client, server), b"flushed part");
        assert_eq!(recv_datagram(&client, server), b"the rest");
    }
    assert_eq!(udp_round_trip(&client, server, b"echo"), b"echo");
    engine.stop();
}

#[test]
fn a_timer_scheduled_on_a_udp_socket_fires_on_timer_with_no_peer_and_send_to_works() {
    let (engine, service, server) = udp_service();
    let client = udp_client();
    for delay_ms in [0, 20] {
        assert_eq!(
            udp_round_trip(&client, server, format!("timer {delay_ms}").as_bytes()),
            b"scheduled"
        );
        assert_eq!(recv_datagram(&client, server), b"timer 7", "on_timer did not send");
    }
    let socket = *lock(&service.timer_target).keys().next().unwrap();
    // on_timer records after sending: the client may read first.
    let fired = wait_for(
        SETTLE,
        "both timers recorded",
        || lock(&service.fired).clone(),
        |f| f.len() >= 2,
    );
    let expected = TimerFired {
        token: 7,
        socket,
        thread: "nr-loop-0".to_string(),
        peer: None,
        sent: Ok(7),
    };
    assert_eq!(fired, [expected.clone(), expected], "one on_timer per schedule");
    // The socket still answers datagrams.
    assert_eq!(udp_round_trip(&client, server, b"echo"), b"echo");
    engine.stop();
}

#[test]
fn each_loops_udp_socket_runs_its_own_timers_on_its_own_loop() {
    // Two loops: two sockets on the port, the kernel spreading senders over
    // them. 32 senders all hashed to one socket would be a 1-in-2^31 event.
    let (engine, service, server) = udp_service_with(Engine::builder().event_loops(2));
    for _ in 0..32 {
        let client = udp_client();
        assert_eq!(udp_round_trip(&client, server, b"timer 1"), b"scheduled");
        assert_eq!(recv_datagram(&client, server), b"timer 7");
    }
    let fired = wait_for(
        SETTLE,
        "32 timers recorded",
        || lock(&service.fired).clone(),
        |f| f.len() >= 32,
    );
    assert_eq!(fired.len(), 32);
    for f in &fired {
        assert_eq!(f.thread, format!("nr-loop-{}", f.socket.event_loop()), "{f:?}");
        assert_eq!((f.peer, &f.sent), (None, &Ok(7)), "{f:?}");
    }
    let sockets: HashSet<ConnId> = fired.iter().map(|f| f.socket).collect();
    assert_eq!(sockets.len(), 2, "timers ran on one socket only: {sockets:?}");
    engine.stop();
}
