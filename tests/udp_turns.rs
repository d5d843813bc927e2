//! A UDP socket is not a connection: whatever a handler does to the `Conn`
//! of the datagram it serves (`close_now`, `close`, `shutdown_write`,
//! `pause_reading`, `end_decoding`) ends with that datagram, and the next
//! datagram is served as usual. `close_now` drops the datagram's reply;
//! `close` and `shutdown_write` still send what was written before them.
//!
//! The same holds for a turn run by `ConnHandle::call` on the socket, and
//! nothing done in one turn comes back at the next: each test also has the
//! loop re-sync the socket (an empty `call`) and then does the same thing
//! inside a `call`.
//!
//! Before issue 17's hardening these silenced the loop's only UDP socket
//! (closed it, or left it half-closed, paused or codec-less, sometimes only
//! once the loop next synced it): every later datagram went unanswered. One
//! loop, so every datagram reaches the same socket.

mod util;

use std::net::{SocketAddr, UdpSocket};
use std::sync::{mpsc, Mutex};

use netreactor::codec::LineCodec;
use netreactor::{Action, Conn, ConnHandle, Engine, EventHandler, Frame};
use util::*;

/// What a test can do to the socket's `Conn`.
#[derive(Debug, Clone, Copy)]
enum Op {
    CloseNow,
    Close,
    ShutdownWrite,
    PauseReading,
    ActionClose,
}

impl Op {
    /// Does it to `conn`, after writing something.
    fn apply(self, conn: &mut Conn) -> Action {
        match self {
            Op::CloseNow => {
                conn.write(b"never sent");
                conn.close_now();
            }
            Op::Close => {
                conn.write(b"sent before close");
                conn.close();
            }
            Op::ShutdownWrite => {
                conn.write(b"sent before shutdown_write");
                conn.shutdown_write();
                conn.write(b" dropped after it");
            }
            Op::PauseReading => {
                conn.write(b"paused");
                conn.pause_reading();
            }
            Op::ActionClose => {
                conn.write(b"closing by action");
                return Action::Close;
            }
        }
        Action::Continue
    }
}

/// Datagram commands: each writes a reply, then does something to the
/// `Conn`; `handle` hands the socket's handle to the test; anything else is
/// echoed.
#[derive(Default)]
struct Commands {
    handles: Mutex<Option<mpsc::Sender<ConnHandle>>>,
}

impl EventHandler for Commands {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        let op = match conn.peek_all() {
            b"close_now" => Some(Op::CloseNow),
            b"close" => Some(Op::Close),
            b"shutdown_write" => Some(Op::ShutdownWrite),
            b"pause_reading" => Some(Op::PauseReading),
            b"action_close" => Some(Op::ActionClose),
            b"handle" => {
                if let Some(tx) = lock(&self.handles).as_ref() {
                    let _ = tx.send(conn.handle());
                }
                None
            }
            _ => None,
        };
        if let Some(op) = op {
            conn.discard(usize::MAX);
            return op.apply(conn);
        }
        conn.echo_all();
        Action::Continue
    }
}

/// A one-loop UDP engine serving [`Commands`], a client, and the socket's
/// handle.
fn commands() -> (util::Engine, UdpSocket, SocketAddr, ConnHandle) {
    let (tx, rx) = mpsc::channel();
    let handler = Commands {
        handles: Mutex::new(Some(tx)),
    };
    let engine = one_loop_udp(Engine::builder(), handler);
    let server = udp_addr(&engine);
    let client = udp_client();
    assert_eq!(udp_round_trip(&client, server, b"handle"), b"handle");
    let handle = rx.recv_timeout(IO_TIMEOUT).expect("the handler handed out its handle");
    (engine, client, server, handle)
}

/// Runs `f` as a turn of its own on the socket (`ConnHandle::call`) and
/// waits until it has run.
fn in_a_call(handle: &ConnHandle, f: impl FnOnce(&mut Conn) -> Action + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    handle
        .call(move |conn| {
            let action = f(conn);
            let _ = tx.send(());
            action
        })
        .expect("call on the UDP socket");
    rx.recv_timeout(IO_TIMEOUT).expect("the call ran");
}

/// After `command` was served: the socket answers, also once the loop has
/// re-synced it (an empty call), and after `op` is done inside a call.
fn still_serving_after_any_turn(client: &UdpSocket, server: SocketAddr, handle: &ConnHandle, command: &str, op: Op) {
    still_serving_after(client, server, command);
    in_a_call(handle, |_| Action::Continue);
    still_serving_after(client, server, &format!("{command} and a later call"));
    in_a_call(handle, move |conn| op.apply(conn));
    still_serving_after(client, server, &format!("{op:?} inside a call"));
}

fn one_loop_udp<H: EventHandler>(builder: netreactor::EngineBuilder, handler: H) -> util::Engine {
    util::Engine(
        builder
            .event_loops(1)
            .start(handler, "udp://127.0.0.1:0")
            .expect("UDP engine starts"),
    )
}

/// Sends `command`, then checks the socket answers three more datagrams.
fn still_serving_after(client: &UdpSocket, server: SocketAddr, command: &str) {
    for i in 0..3 {
        let msg = format!("after {command} #{i}");
        assert_eq!(
            udp_round_trip(client, server, msg.as_bytes()),
            msg.as_bytes(),
            "the socket stopped answering after a handler called {command}"
        );
    }
}

#[test]
fn close_now_on_a_datagram_drops_its_reply_and_the_socket_keeps_answering() {
    let (engine, client, server, handle) = commands();
    for _ in 0..3 {
        client.send_to(b"close_now", server).unwrap();
        // Datagrams to one socket over loopback keep their order: the next
        // one to arrive answers "ping", so "close_now" got no reply.
        assert_eq!(
            udp_round_trip(&client, server, b"ping"),
            b"ping",
            "close_now's reply was sent, or the socket went silent"
        );
        still_serving_after(&client, server, "close_now");
    }
    // 1 + 3 x (1 + 1 + 3) datagrams in, all but the three close_now answered.
    // The loop counts a reply just after sending it: a client may read it first.
    wait_for(
        SETTLE,
        "16 datagrams in, 13 replies out (none for close_now)",
        || {
            let s = engine.stats();
            (s.datagrams_in, s.datagrams_out)
        },
        |&counts| counts == (16, 13),
    );
    still_serving_after_any_turn(&client, server, &handle, "close_now", Op::CloseNow);
    engine.stop();
}

/// Three times: `command` is answered with `reply`, then the socket serves
/// on (see [`still_serving_after_any_turn`]).
fn op_ends_with_its_turn(command: &str, reply: &[u8], op: Op) {
    let (engine, client, server, handle) = commands();
    for _ in 0..3 {
        assert_eq!(
            udp_round_trip(&client, server, command.as_bytes()),
            reply,
            "the reply to {command} must be what was written before it"
        );
        still_serving_after_any_turn(&client, server, &handle, command, op);
    }
    assert!(handle.is_alive());
    engine.stop();
}

#[test]
fn close_on_a_datagram_sends_the_reply_written_before_and_the_socket_keeps_answering() {
    // As a stream's close: what was written before it is sent.
    op_ends_with_its_turn("close", b"sent before close", Op::Close);
    op_ends_with_its_turn("action_close", b"closing by action", Op::ActionClose);
}

#[test]
fn shutdown_write_on_a_datagram_sends_what_came_before_and_the_socket_keeps_answering() {
    // Nothing written after shutdown_write is sent.
    op_ends_with_its_turn("shutdown_write", b"sent before shutdown_write", Op::ShutdownWrite);
}

#[test]
fn pause_reading_on_a_datagram_does_not_stop_the_socket_reading() {
    op_ends_with_its_turn("pause_reading", b"paused", Op::PauseReading);
}

/// Upper-cases each line; "end" ends decoding and answers the rest of the
/// datagram raw, through `on_traffic`.
struct Upgrading;

impl EventHandler for Upgrading {
    fn on_frame(&self, conn: &mut Conn, line: Frame<'_>) -> Action {
        if &line[..] == b"end" {
            conn.end_decoding();
            conn.write(b"ended;");
            return Action::Continue;
        }
        let reply = line.to_ascii_uppercase();
        conn.write_frame(&reply).map_or(Action::Close, |_| Action::Continue)
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.write(b"raw:");
        conn.echo_all();
        Action::Continue
    }
}

#[test]
fn end_decoding_on_a_datagram_lasts_for_that_datagram_only() {
    let engine = one_loop_udp(Engine::builder().codec(LineCodec::new()), Upgrading);
    let server = udp_addr(&engine);
    let client = udp_client();
    assert_eq!(udp_round_trip(&client, server, b"a\nb\n"), b"A\nB\n");
    for _ in 0..3 {
        let reply = udp_round_trip(&client, server, b"x\nend\n");
        assert_eq!(reply, b"X\nended;");
        // The next datagram is decoded again, with a fresh codec.
        assert_eq!(
            udp_round_trip(&client, server, b"decoded\nagain\n"),
            b"DECODED\nAGAIN\n",
            "end_decoding on one datagram outlived it"
        );
    }
    engine.stop();
}

#[test]
fn end_decoding_mid_datagram_hands_the_rest_of_that_datagram_to_on_traffic() {
    // As on a stream (see `Conn::end_decoding`): the bytes after the frame
    // that ended decoding go to on_traffic at once; a datagram's end is no
    // reason to lose them.
    let engine = one_loop_udp(Engine::builder().codec(LineCodec::new()), Upgrading);
    let server = udp_addr(&engine);
    let client = udp_client();
    assert_eq!(
        udp_round_trip(&client, server, b"x\nend\nraw\nbytes\n"),
        b"X\nended;raw:raw\nbytes\n",
        "the rest of the datagram after end_decoding was not handed to on_traffic"
    );
    assert_eq!(udp_round_trip(&client, server, b"decoded\n"), b"DECODED\n");
    engine.stop();
}
