//! A UDP port is the engine's alone unless the user opts into sharing it:
//! a port that another engine or any other socket holds is refused with
//! `AddrInUse`, as a TCP port is; `reuse_port(true)` joins the port's
//! SO_REUSEPORT group instead, and the kernel spreads senders over both.
//!
//! Issue 17: before it every UDP socket was bound with SO_REUSEPORT and no
//! check, so a second engine (or a second copy of a server started by
//! mistake) silently joined the first one's port and took half its traffic.

mod util;

use std::collections::HashSet;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};

use netreactor::{Action, Conn, Engine, Error, EventHandler};
use util::*;

/// Answers every datagram with its own name.
struct Named(&'static str);

impl EventHandler for Named {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.discard(usize::MAX);
        conn.write(self.0.as_bytes());
        Action::Continue
    }
}

fn udp_engine(name: &'static str, addr: &str, reuse_port: bool) -> netreactor::Result<util::Engine> {
    Engine::builder()
        .event_loops(1)
        .reuse_port(reuse_port)
        .start(Named(name), format!("udp://{addr}"))
        .map(util::Engine)
}

fn assert_addr_in_use(what: &str, result: netreactor::Result<util::Engine>) {
    match result {
        Err(Error::Io(e)) if e.kind() == ErrorKind::AddrInUse => {}
        Err(other) => panic!("{what}: expected Io(AddrInUse), got {other:?}"),
        Ok(engine) => panic!(
            "{what}: the engine started on {:?}, sharing a port it was not told to share",
            engine.local_addrs()
        ),
    }
}

/// Who answers datagrams from `clients` fresh sockets.
fn answerers(server: SocketAddr, clients: usize) -> HashSet<Vec<u8>> {
    (0..clients)
        .map(|_| udp_round_trip(&udp_client(), server, b"who?"))
        .collect()
}

#[test]
fn a_second_engine_on_the_same_udp_port_fails_with_addr_in_use_unless_reuse_port() {
    let first = udp_engine("first", "127.0.0.1:0", false).unwrap();
    let port = udp_addr(&first);
    assert_addr_in_use(
        "a second engine on the first one's UDP port",
        udp_engine("second", &port.to_string(), false),
    );
    // The refused engine took nothing: the first answers every sender.
    assert_eq!(answerers(port, 16), HashSet::from([b"first".to_vec()]));

    // Opting in shares the port: the kernel spreads senders (by address)
    // over both engines' sockets. 64 senders all hashed to one of two
    // sockets would be a 1-in-2^63 event.
    let second = udp_engine("second", &port.to_string(), true).expect("reuse_port(true) shares the port");
    assert_eq!(udp_addr(&second), port);
    assert_eq!(
        answerers(port, 64),
        HashSet::from([b"first".to_vec(), b"second".to_vec()])
    );
    second.stop();
    first.stop();
}

#[test]
fn a_udp_port_held_by_another_socket_is_refused_with_addr_in_use() {
    // A plain socket (no SO_REUSEPORT): the kernel itself refuses to share.
    let plain = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = plain.local_addr().unwrap();
    assert_addr_in_use(
        "a port a std UdpSocket holds",
        udp_engine("engine", &port.to_string(), false),
    );

    // A socket of ours that allows sharing (SO_REUSEPORT, same user): the
    // kernel would let the engine join, and only the engine's own check
    // keeps it out.
    let sharing = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    sharing.set_reuse_port(true).unwrap();
    sharing.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
    let sharing: UdpSocket = sharing.into();
    let port = sharing.local_addr().unwrap();
    assert_addr_in_use(
        "a port an SO_REUSEPORT socket holds",
        udp_engine("engine", &port.to_string(), false),
    );
    // With reuse_port(true) the engine joins that group.
    let joined = udp_engine("engine", &port.to_string(), true).expect("reuse_port(true) joins");
    assert_eq!(udp_addr(&joined), port);
    joined.stop();
}
