//! What `start` checks about a Unix socket path before binding it, and
//! `Conn::peer_credentials` on the kinds of socket that have none.
//!
//! Issue 17: before it the stale-socket check connected with a blocking
//! connect, so a live listener whose backlog was full (a busy or wedged
//! server) hung `start` forever; a missing directory gave a bare "No such
//! file or directory"; and `peer_credentials` on a TCP connection returned
//! made-up credentials (pid 0, the overflow uid) instead of an error.

mod util;

use std::io::{ErrorKind, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use netreactor::{Action, Conn, Engine, Error, EventHandler, Origin, PeerCredentials};
use util::*;

/// A fresh path in the temp directory for this test process.
fn socket_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("nr-{}-{name}.sock", std::process::id()))
}

/// How long `start` may take to refuse a path in use.
const REFUSAL_BOUND: Duration = Duration::from_secs(5);

/// A live listener at `path` that never accepts, its backlog filled with
/// non-blocking clients until the kernel refuses one more (EAGAIN). The
/// clients are returned: they hold the backlog.
fn wedged_listener(path: &Path) -> (UnixListener, Vec<socket2::Socket>) {
    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
    socket.bind(&socket2::SockAddr::unix(path).unwrap()).unwrap();
    socket.listen(1).unwrap();
    let listener: UnixListener = socket.into();
    let target = socket2::SockAddr::unix(path).unwrap();
    let mut clients = Vec::new();
    loop {
        let c = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
        c.set_nonblocking(true).unwrap();
        match c.connect(&target) {
            Ok(()) => clients.push(c),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("filling the backlog of {}: {e}", path.display()),
        }
        assert!(clients.len() < 10_000, "the backlog never filled");
    }
    (listener, clients)
}

#[test]
fn start_on_a_live_unix_listener_with_a_full_backlog_fails_with_addr_in_use_at_once() {
    let path = socket_path("wedged");
    let (listener, clients) = wedged_listener(&path);
    eprintln!("backlog full after {} queued clients", clients.len());
    let (tx, rx) = mpsc::channel();
    let addr = format!("unix://{}", path.display());
    let started = Instant::now();
    // In a thread of its own: before the fix this call never returned.
    std::thread::spawn(move || {
        let result = Engine::builder().event_loops(1).start(Echo, addr);
        let _ = tx.send(result.map(util::Engine));
    });
    let result = rx
        .recv_timeout(REFUSAL_BOUND)
        .unwrap_or_else(|_| panic!("start on a wedged listener's path has not returned in {REFUSAL_BOUND:?}"));
    eprintln!("refused in {:?}", started.elapsed());
    match result {
        Err(Error::Io(e)) if e.kind() == ErrorKind::AddrInUse => {
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        }
        Err(other) => panic!("expected Io(AddrInUse), got {other:?}"),
        Ok(engine) => panic!(
            "the engine took over a live listener's path: {:?}",
            engine.local_addrs()
        ),
    }
    // The other server keeps its socket file, and its queued clients.
    assert!(path.exists(), "the live listener's file was removed");
    listener.set_nonblocking(true).unwrap();
    let accepted = (0..clients.len()).filter(|_| listener.accept().is_ok()).count();
    assert_eq!(accepted, clients.len(), "the live listener lost queued clients");
    drop((listener, clients));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_unix_path_in_a_missing_directory_fails_naming_the_directory() {
    let dir = std::env::temp_dir().join(format!("nr-{}-no-such-dir", std::process::id()));
    let missing = dir.join("nor-this-one");
    let path = missing.join("s.sock");
    assert!(!dir.exists());
    let err = Engine::builder()
        .event_loops(1)
        .start(Echo, format!("unix://{}", path.display()))
        .map(util::Engine)
        .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == ErrorKind::NotFound),
        "expected Io(NotFound), got {err:?}"
    );
    // Naming the whole path is not naming the directory: "No such file or
    // directory" about a path that is not there yet says nothing.
    let without_path = message.replace(&path.display().to_string(), "<path>");
    assert!(
        without_path.contains(&missing.display().to_string()),
        "the error does not name the missing directory {}: {message}",
        missing.display()
    );
    assert!(!dir.exists(), "start created directories");
}

/// Records each connection's `peer_credentials` by the listener it came
/// through, then echoes.
#[derive(Default)]
struct Credentials(Mutex<Vec<(Origin, Result<PeerCredentials, ErrorKind>)>>);

impl EventHandler for Credentials {
    fn on_open(&self, conn: &mut Conn) -> Action {
        let creds = conn.peer_credentials().map_err(|e| e.kind());
        lock(&self.0).push((conn.origin(), creds));
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }
}

#[test]
fn peer_credentials_is_invalid_input_on_tcp_and_ours_on_unix() {
    let path = socket_path("creds");
    let handler = std::sync::Arc::new(Credentials::default());
    let engine = util::Engine(
        Engine::builder()
            .event_loops(1)
            .start(
                handler.clone(),
                ["tcp://127.0.0.1:0".to_string(), format!("unix://{}", path.display())],
            )
            .unwrap(),
    );
    let mut tcp = connect(engine.local_addr());
    round_trip(&mut tcp, b"over tcp");
    let mut unix = UnixStream::connect(&path).unwrap();
    unix.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    unix.write_all(b"over unix").unwrap();
    let mut echo = [0u8; 9];
    std::io::Read::read_exact(&mut unix, &mut echo).unwrap();
    assert_eq!(&echo, b"over unix");

    let seen = std::mem::take(&mut *lock(&handler.0));
    let ours = PeerCredentials {
        pid: std::process::id() as i32,
        // SAFETY: geteuid cannot fail and touches no memory.
        uid: unsafe { libc::geteuid() },
        // SAFETY: getegid cannot fail and touches no memory.
        gid: unsafe { libc::getegid() },
    };
    assert_eq!(
        seen,
        [
            (Origin::Accepted { listener: 0 }, Err(ErrorKind::InvalidInput)),
            (Origin::Accepted { listener: 1 }, Ok(ours)),
        ],
        "TCP has no peer credentials; a Unix peer's are this process's"
    );
    engine.stop();
}
