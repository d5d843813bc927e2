//! A `tcp://[::]:port` listener is dual-stack by default, as the OS and
//! `std` make it (regression: IPV6_V6ONLY was forced on, so IPv4 clients
//! were refused); `ipv6_only(true)` restores IPv6-only.

mod util;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};

use netreactor::{Engine, EngineHandle};
use util::*;

fn v4_port(engine: &EngineHandle) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, engine.local_addr().port()))
}

fn v6_port(engine: &EngineHandle) -> SocketAddr {
    SocketAddr::from((Ipv6Addr::LOCALHOST, engine.local_addr().port()))
}

#[test]
fn ipv6_any_listener_serves_ipv4_and_ipv6_clients_by_default() {
    let engine = Engine::builder().event_loops(1).start(Echo, "tcp://[::]:0").unwrap();
    let mut v4 = connect(v4_port(&engine));
    round_trip(&mut v4, b"over IPv4");
    let mut v6 = connect(v6_port(&engine));
    round_trip(&mut v6, b"over IPv6");
    engine.stop();
}

#[test]
fn ipv6_only_refuses_ipv4_clients() {
    let engine = Engine::builder()
        .event_loops(1)
        .ipv6_only(true)
        .start(Echo, "tcp://[::]:0")
        .unwrap();
    assert!(
        TcpStream::connect(v4_port(&engine)).is_err(),
        "an IPv4 client reached an IPv6-only listener"
    );
    let mut v6 = connect(v6_port(&engine));
    round_trip(&mut v6, b"over IPv6");
    engine.stop();
}
