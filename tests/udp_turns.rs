//! A UDP socket is not a connection: whatever a handler does to the `Conn`
//! of the datagram it serves (`close_now`, `close`, `shutdown_write`,
//! `pause_reading`, `end_decoding`) ends with that datagram, and the next
//! datagram is served as usual. `close_now` drops the datagram's reply;
//! `close` and `shutdown_write` still send what was written before them.
//!
//! Before issue 17's hardening each of these silenced the loop's only UDP
//! socket (closed it, or left it half-closed, paused or codec-less): every
//! later datagram went unanswered. One loop, so every datagram reaches the
//! same socket.

mod util;

use netreactor::codec::LineCodec;
use netreactor::{Action, Conn, Engine, EventHandler, Frame};
use util::*;

/// Datagram commands: each writes a reply, then does something to the
/// `Conn`; anything else is echoed.
struct Commands;

impl EventHandler for Commands {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        match conn.peek_all() {
            b"close_now" => {
                conn.write(b"never sent");
                conn.close_now();
            }
            b"close" => {
                conn.write(b"sent before close");
                conn.close();
            }
            b"shutdown_write" => {
                conn.write(b"sent before shutdown_write");
                conn.shutdown_write();
                conn.write(b" dropped after it");
            }
            b"pause_reading" => {
                conn.write(b"paused");
                conn.pause_reading();
            }
            b"action_close" => {
                conn.write(b"closing by action");
                conn.discard(usize::MAX);
                return Action::Close;
            }
            _ => conn.echo_all(),
        }
        conn.discard(usize::MAX);
        Action::Continue
    }
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
fn still_serving_after(client: &std::net::UdpSocket, server: std::net::SocketAddr, command: &str) {
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
    let engine = one_loop_udp(Engine::builder(), Commands);
    let server = udp_addr(&engine);
    let client = udp_client();
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
    // The loop counts a reply just after sending it: a client may read it first.
    wait_for(
        SETTLE,
        "15 datagrams in, 12 replies out (none for close_now)",
        || {
            let s = engine.stats();
            (s.datagrams_in, s.datagrams_out)
        },
        |&counts| counts == (15, 12),
    );
    engine.stop();
}

#[test]
fn close_on_a_datagram_sends_the_reply_written_before_and_the_socket_keeps_answering() {
    let engine = one_loop_udp(Engine::builder(), Commands);
    let server = udp_addr(&engine);
    let client = udp_client();
    for _ in 0..3 {
        // As a stream's close: what was written before it is sent.
        assert_eq!(udp_round_trip(&client, server, b"close"), b"sent before close");
        still_serving_after(&client, server, "close");
        assert_eq!(
            udp_round_trip(&client, server, b"action_close"),
            b"closing by action"
        );
        still_serving_after(&client, server, "Action::Close");
    }
    engine.stop();
}

#[test]
fn shutdown_write_on_a_datagram_sends_what_came_before_and_the_socket_keeps_answering() {
    let engine = one_loop_udp(Engine::builder(), Commands);
    let server = udp_addr(&engine);
    let client = udp_client();
    for _ in 0..3 {
        assert_eq!(
            udp_round_trip(&client, server, b"shutdown_write"),
            b"sent before shutdown_write",
            "the reply must be what was written before shutdown_write, nothing after"
        );
        still_serving_after(&client, server, "shutdown_write");
    }
    engine.stop();
}

#[test]
fn pause_reading_on_a_datagram_does_not_stop_the_socket_reading() {
    let engine = one_loop_udp(Engine::builder(), Commands);
    let server = udp_addr(&engine);
    let client = udp_client();
    for _ in 0..3 {
        assert_eq!(udp_round_trip(&client, server, b"pause_reading"), b"paused");
        still_serving_after(&client, server, "pause_reading");
    }
    engine.stop();
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
