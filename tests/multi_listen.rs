//! One engine on several addresses of mixed kinds: every one served,
//! reported by `local_addrs`, visible to the handler as the connection's
//! origin, and closed at stop.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use netreactor::{Action, Address, Conn, Engine, EventHandler, Origin};
use util::*;

/// Replies with the index of the listener that accepted the connection.
struct WhichListener;

impl EventHandler for WhichListener {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.discard(usize::MAX);
        let reply = match conn.origin() {
            Origin::Accepted { listener } => format!("{listener}"),
            other => format!("{other:?}"),
        };
        conn.write(reply.as_bytes());
        Action::Continue
    }
}

fn ask<S: Read + Write>(s: &mut S) -> String {
    s.write_all(b"?").unwrap();
    let mut buf = [0u8; 1];
    s.read_exact(&mut buf).unwrap();
    String::from_utf8_lossy(&buf).into_owned()
}

fn path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("nr-{}-{name}.sock", std::process::id()))
}

fn serves_tcp_unix_and_abstract_at_once(reuse_port: bool) {
    let file = path(if reuse_port { "multi-rp" } else { "multi" });
    let name = format!("nr-multi-{}-{reuse_port}", std::process::id());
    let engine = Engine::builder()
        .event_loops(2)
        .reuse_port(reuse_port)
        .start(
            WhichListener,
            [
                "tcp://127.0.0.1:0".to_string(),
                format!("unix://{}", file.display()),
                format!("unix://@{name}"),
                "tcp://[::1]:0".to_string(),
            ],
        )
        .unwrap();
    let addrs = engine.local_addrs().to_vec();
    assert_eq!(addrs.len(), 4);
    assert_eq!(addrs[1], Address::Unix(file.clone()));
    assert_eq!(addrs[2], Address::UnixAbstract(name.as_bytes().to_vec()));
    let (v4, v6) = (addrs[0].socket_addr().unwrap(), addrs[3].socket_addr().unwrap());
    assert!(v4.port() != 0 && v6.port() != 0 && v6.is_ipv6());
    assert_eq!(engine.local_addr(), v4);

    for _ in 0..3 {
        assert_eq!(ask(&mut connect(v4)), "0");
        let mut u = UnixStream::connect(&file).unwrap();
        u.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        assert_eq!(ask(&mut u), "1");
        let abs = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let mut a = UnixStream::connect_addr(&abs).unwrap();
        a.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        assert_eq!(ask(&mut a), "2");
        assert_eq!(ask(&mut connect(v6)), "3");
    }
    let fds_before_stop = open_fd_count();
    engine.stop();
    // Every listener is closed.
    assert!(TcpStream::connect(v4).is_err());
    assert!(TcpStream::connect(v6).is_err());
    assert!(UnixStream::connect(&file).is_err());
    assert!(!file.exists());
    assert!(open_fd_count() < fds_before_stop);
}

#[test]
fn one_engine_serves_tcp_unix_and_abstract_listeners_and_names_each() {
    serves_tcp_unix_and_abstract_at_once(false);
}

#[test]
fn with_reuse_port_tcp_listeners_go_to_the_loops_and_unix_ones_still_work() {
    serves_tcp_unix_and_abstract_at_once(true);
}

#[test]
fn a_failing_address_releases_the_ones_bound_before_it() {
    let file = path("rollback");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = Engine::builder()
        .event_loops(1)
        .start(
            Echo,
            [
                format!("unix://{}", file.display()),
                format!("tcp://{}", taken.local_addr().unwrap()),
            ],
        )
        .unwrap_err();
    assert!(
        err.to_string().contains(&taken.local_addr().unwrap().to_string()),
        "{err}"
    );
    assert!(!file.exists(), "the socket file of the first address was left behind");
}
