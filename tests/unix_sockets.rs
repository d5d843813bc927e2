//! Unix stream sockets: `unix:///path` and Linux abstract names
//! `unix://@name`, served by the same loops and callbacks as TCP.

mod util;

use std::io::{Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use netreactor::{Action, Address, Conn, Engine, Error, EventHandler, PeerCredentials};
use util::*;

/// A fresh path in the temp directory for this test process.
fn socket_path(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("nr-{}-{n}-{name}.sock", std::process::id()))
}

fn unix_client(path: &std::path::Path) -> UnixStream {
    let s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

fn unix_round_trip(s: &mut UnixStream, msg: &[u8]) {
    s.write_all(msg).unwrap();
    let mut got = vec![0; msg.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(got, msg);
}

/// Echoes, and records the peer credentials of each connection.
#[derive(Default)]
struct CredEcho(Mutex<Vec<PeerCredentials>>);

impl EventHandler for CredEcho {
    fn on_open(&self, conn: &mut Conn) -> Action {
        self.0.lock().unwrap().push(conn.peer_credentials().unwrap());
        assert_eq!(conn.peer_addr(), None, "a Unix peer has no IP address");
        Action::Continue
    }
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }
}

/// This process's effective user or group id, from /proc/self/status.
fn effective_id(field: &str) -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

#[test]
fn unix_echo_reads_peer_credentials_and_removes_the_file_at_stop() {
    let path = socket_path("echo");
    let h = Arc::new(CredEcho::default());
    let engine = Engine::builder()
        .event_loops(2)
        .start(h.clone(), format!("unix://{}", path.display()))
        .unwrap();
    assert_eq!(engine.local_addrs(), [Address::Unix(path.clone())]);
    let mut clients: Vec<_> = (0..4).map(|_| unix_client(&path)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        unix_round_trip(c, format!("hello {i}").as_bytes());
    }
    let creds = h.0.lock().unwrap().clone();
    assert_eq!(creds.len(), 4);
    for c in creds {
        assert_eq!(c.pid, std::process::id() as i32);
        assert_eq!(c.uid, effective_id("Uid:"));
        assert_eq!(c.gid, effective_id("Gid:"));
    }
    engine.stop();
    assert!(!path.exists(), "the socket file outlived the engine");
    assert!(UnixStream::connect(&path).is_err());
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let path = socket_path("stale");
    drop(UnixListener::bind(&path).unwrap()); // a server that died: the file stays
    assert!(path.exists());
    let engine = Engine::builder()
        .event_loops(1)
        .start(Echo, format!("unix://{}", path.display()))
        .unwrap();
    unix_round_trip(&mut unix_client(&path), b"over the stale file");
    engine.stop();
    assert!(!path.exists());
}

#[test]
fn a_socket_in_use_is_refused_and_left_alone() {
    let path = socket_path("live");
    let live = UnixListener::bind(&path).unwrap();
    let err = Engine::builder()
        .event_loops(1)
        .start(Echo, format!("unix://{}", path.display()))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == std::io::ErrorKind::AddrInUse),
        "{err}"
    );
    // The other server still has its socket.
    let _client = UnixStream::connect(&path).unwrap();
    drop(live);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_regular_file_at_the_path_is_refused_never_removed() {
    let path = socket_path("regular");
    std::fs::write(&path, b"precious data").unwrap();
    let err = Engine::builder()
        .event_loops(1)
        .start(Echo, format!("unix://{}", path.display()))
        .unwrap_err();
    assert!(err.to_string().contains("not a socket"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious data");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn abstract_names_leave_no_file() {
    let name = format!("nr-test-{}", std::process::id());
    let engine = Engine::builder()
        .event_loops(1)
        .start(Echo, format!("unix://@{name}"))
        .unwrap();
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let mut c = UnixStream::connect_addr(&addr).unwrap();
    c.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    unix_round_trip(&mut c, b"abstract");
    engine.stop();
    assert!(UnixStream::connect_addr(&addr).is_err(), "the name is released at stop");
}
