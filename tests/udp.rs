//! UDP: one SO_REUSEPORT socket per loop; a datagram is one `on_traffic`
//! (or one `on_frame` per frame in it) with its sender as `peer_addr`, and
//! what the handler writes goes back to that sender as one datagram.

mod util;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Mutex;
use std::thread;

use netreactor::codec::LineCodec;
use netreactor::{Action, Conn, Engine, EventHandler, Frame, Origin};
use util::*;

/// Echoes each datagram, prefixed with the loop that served it.
struct UdpEcho;

impl EventHandler for UdpEcho {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        assert_eq!(conn.origin(), Origin::Accepted { listener: 0 });
        let tag = format!("{}:", conn.id().event_loop());
        conn.write(tag.as_bytes());
        conn.echo_all();
        Action::Continue
    }
}

fn udp_client() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

fn udp_addr(engine: &netreactor::EngineHandle) -> SocketAddr {
    engine.local_addrs()[0].socket_addr().unwrap()
}

#[test]
fn a_thousand_datagrams_from_ten_clients_each_reach_the_right_sender() {
    let engine = Engine::builder()
        .event_loops(2)
        .start(UdpEcho, "udp://127.0.0.1:0")
        .unwrap();
    let server = udp_addr(&engine);
    let clients: Vec<_> = (0..10)
        .map(|c| {
            thread::spawn(move || {
                let s = udp_client();
                let mut loops = HashMap::new();
                for i in 0..100 {
                    let msg = format!("client {c} datagram {i}");
                    s.send_to(msg.as_bytes(), server).unwrap();
                    let mut buf = [0u8; 256];
                    let (n, from) = s.recv_from(&mut buf).unwrap();
                    assert_eq!(from, server);
                    let reply = std::str::from_utf8(&buf[..n]).unwrap();
                    let (event_loop, echoed) = reply.split_once(':').unwrap();
                    assert_eq!(echoed, msg, "a reply reached the wrong sender or was merged");
                    *loops.entry(event_loop.to_string()).or_insert(0) += 1;
                }
                loops
            })
        })
        .collect();
    let mut served_by = HashMap::new();
    for c in clients {
        for (l, n) in c.join().unwrap() {
            *served_by.entry(l).or_insert(0) += n;
        }
    }
    assert_eq!(served_by.values().sum::<i32>(), 1000);
    // The loop counts a reply just after sending it: a client may read it first.
    wait_until(SETTLE, "every datagram and reply is counted", || {
        let stats = engine.stats();
        (stats.datagrams_in, stats.datagrams_out) == (1000, 1000)
    });
    assert_eq!(engine.connection_count(), 0, "UDP sockets are not connections");
    engine.stop();
}

#[test]
fn an_oversize_datagram_is_counted_and_dropped_not_cut_short() {
    let engine = Engine::builder()
        .event_loops(1)
        .read_buffer_size(1024)
        .start(UdpEcho, "udp://127.0.0.1:0")
        .unwrap();
    let server = udp_addr(&engine);
    let s = udp_client();
    s.send_to(&vec![b'x'; 2000], server).unwrap();
    s.send_to(b"small", server).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = s.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"0:small", "the oversize datagram got a reply");
    assert_eq!(engine.stats().datagrams_truncated, 1);
    // Exactly the read buffer's size fits.
    s.send_to(&vec![b'y'; 1024], server).unwrap();
    let (n, _) = s.recv_from(&mut buf).unwrap();
    assert_eq!(n, 2 + 1024);
    engine.stop();
}

/// Answers each line of a datagram; all answers to one datagram form one
/// reply datagram.
struct Lines;

impl EventHandler for Lines {
    fn on_frame(&self, conn: &mut Conn, line: Frame<'_>) -> Action {
        let reply = line.to_ascii_uppercase();
        conn.write_frame(&reply).map_or(Action::Close, |_| Action::Continue)
    }
}

#[test]
fn with_a_codec_each_frame_of_a_datagram_is_one_on_frame_and_nothing_carries_over() {
    let engine = Engine::builder()
        .event_loops(1)
        .codec(LineCodec::new())
        .start(Lines, "udp://127.0.0.1:0")
        .unwrap();
    let server = udp_addr(&engine);
    let s = udp_client();
    let mut buf = [0u8; 256];
    // The end of a datagram is the end of the stream for the codec
    // (`decode_eof`): the unterminated last line is a line.
    s.send_to(b"one\ntwo\npart", server).unwrap();
    let (n, _) = s.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ONE\nTWO\nPART\n");
    // Nothing of it is glued to the next datagram.
    s.send_to(b"ial\n", server).unwrap();
    let (n, _) = s.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"IAL\n");
    engine.stop();
}

#[test]
fn one_engine_serves_tcp_unix_and_udp_at_once() {
    let path = std::env::temp_dir().join(format!("nr-{}-mixed.sock", std::process::id()));
    struct Mixed;
    impl EventHandler for Mixed {
        fn on_traffic(&self, conn: &mut Conn) -> Action {
            let Origin::Accepted { listener } = conn.origin() else {
                return Action::Close;
            };
            conn.write(format!("{listener}:").as_bytes());
            conn.echo_all();
            Action::Continue
        }
    }
    let engine = Engine::builder()
        .event_loops(2)
        .start(
            Mixed,
            [
                "tcp://127.0.0.1:0".to_string(),
                format!("unix://{}", path.display()),
                "udp://127.0.0.1:0".to_string(),
            ],
        )
        .unwrap();
    let mut tcp = connect(engine.local_addr());
    round_trip_prefixed(&mut tcp, b"0:", b"over tcp");
    let mut unix = std::os::unix::net::UnixStream::connect(&path).unwrap();
    unix.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    round_trip_prefixed(&mut unix, b"1:", b"over unix");
    let udp = udp_client();
    udp.send_to(b"over udp", engine.local_addrs()[2].socket_addr().unwrap())
        .unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = udp.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"2:over udp");
    engine.stop();
    assert!(!path.exists());
    // The UDP port is closed: a datagram now gets no answer (ICMP
    // unreachable comes back as an error on a connected socket).
    let probe = udp_client();
    probe.connect(udp_addr(&engine)).unwrap();
    probe.send(b"anyone?").unwrap();
    assert!(probe.recv(&mut buf).is_err());
}

fn round_trip_prefixed<S: std::io::Read + std::io::Write>(s: &mut S, prefix: &[u8], msg: &[u8]) {
    s.write_all(msg).unwrap();
    let mut got = vec![0; prefix.len() + msg.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(&got[..prefix.len()], prefix);
    assert_eq!(&got[prefix.len()..], msg);
}

#[test]
fn a_panic_or_close_on_a_datagram_leaves_the_socket_serving() {
    struct Moody(Mutex<u32>);
    impl EventHandler for Moody {
        fn on_traffic(&self, conn: &mut Conn) -> Action {
            match conn.peek_all() {
                b"panic" => panic!("a bad datagram"),
                b"close" => Action::Close,
                _ => {
                    *self.0.lock().unwrap() += 1;
                    conn.echo_all();
                    Action::Continue
                }
            }
        }
    }
    let engine = Engine::builder()
        .event_loops(1)
        .start(Moody(Mutex::new(0)), "udp://127.0.0.1:0")
        .unwrap();
    let server = udp_addr(&engine);
    let s = udp_client();
    let mut buf = [0u8; 64];
    for bad in [&b"panic"[..], b"close", b"panic"] {
        s.send_to(bad, server).unwrap();
        s.send_to(b"still there?", server).unwrap();
        let (n, _) = s.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"still there?");
    }
    engine.stop();
}
