//! Listener hand-off (`EngineHandle::hand_off_listeners` and
//! `EngineBuilder::inherit_listeners`): a running engine hands its
//! listening sockets to a new engine over a Unix socket (SCM_RIGHTS), stops
//! accepting and drains; clients hammering it all the while see every
//! request answered, none refused or reset. A receiver that fails leaves
//! the old engine serving. (Hostile senders and peers of another user:
//! tests/hand_off_hostile.rs.)

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use netreactor::{Action, Address, Conn, Engine, EngineHandle, EventHandler};

/// Answers a request line (`ping\n`) with `pong <tag>\n` and closes (a
/// UDP datagram `ping\n` gets the same datagram back; the socket lives on).
struct Pong(&'static str);

impl EventHandler for Pong {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        if !conn.peek_all().ends_with(b"\n") {
            return Action::Continue; // not whole yet
        }
        conn.discard(conn.inbound_len());
        conn.write(format!("pong {}\n", self.0).as_bytes());
        Action::Close
    }
}

/// Starts `old.hand_off_listeners(path)` on a thread and waits until it
/// listens.
fn hand_off_in_background(old: &EngineHandle, path: &Path) -> thread::JoinHandle<netreactor::Result<()>> {
    let (old, p) = (old.clone(), path.to_owned());
    let t = thread::spawn(move || old.hand_off_listeners(&p, Duration::from_secs(30)));
    util::wait_until(Duration::from_secs(30), "the hand-off socket", || path.exists());
    t
}

/// What the clients saw.
#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    answered_old: AtomicU64,
    answered_new: AtomicU64,
    refused: AtomicU64,
    reset: AtomicU64,
    other: AtomicU64,
}

impl Tally {
    fn answered(&self) -> u64 {
        self.answered_old.load(Ordering::SeqCst) + self.answered_new.load(Ordering::SeqCst)
    }

    fn report(&self) -> String {
        format!(
            "sent {}, answered {} (old {}, new {}), refused {}, reset {}, other errors {}",
            self.sent.load(Ordering::SeqCst),
            self.answered(),
            self.answered_old.load(Ordering::SeqCst),
            self.answered_new.load(Ordering::SeqCst),
            self.refused.load(Ordering::SeqCst),
            self.reset.load(Ordering::SeqCst),
            self.other.load(Ordering::SeqCst)
        )
    }

    /// One request on a fresh connection: connect, `ping\n`, read to EOF.
    fn one<S: Read + Write>(&self, connect: impl FnOnce() -> std::io::Result<S>) {
        self.sent.fetch_add(1, Ordering::SeqCst);
        let outcome = connect().and_then(|mut s| {
            s.write_all(b"ping\n")?;
            let mut reply = Vec::new();
            s.read_to_end(&mut reply)?;
            Ok(reply)
        });
        match outcome {
            Ok(r) if r == b"pong old\n" => self.answered_old.fetch_add(1, Ordering::SeqCst),
            Ok(r) if r == b"pong new\n" => self.answered_new.fetch_add(1, Ordering::SeqCst),
            Ok(r) => {
                eprintln!("unexpected reply {:?}", String::from_utf8_lossy(&r));
                self.reset.fetch_add(1, Ordering::SeqCst) // cut short: EOF before the reply
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                eprintln!("refused: {e}");
                self.refused.fetch_add(1, Ordering::SeqCst)
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                eprintln!("reset: {e}");
                self.reset.fetch_add(1, Ordering::SeqCst)
            }
            Err(e) => {
                eprintln!("error: {e}");
                self.other.fetch_add(1, Ordering::SeqCst)
            }
        };
    }
}

fn tcp(addr: SocketAddr) -> impl FnOnce() -> std::io::Result<TcpStream> {
    move || {
        let s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(s)
    }
}

fn unix(path: PathBuf) -> impl FnOnce() -> std::io::Result<UnixStream> {
    move || {
        let s = UnixStream::connect(path)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(s)
    }
}

/// Engine A (two loops, `reuse_port`: two TCP listeners on the port, and a
/// Unix socket) serves four TCP clients and one Unix client, each sending
/// request after request on fresh connections; engine B inherits A's
/// listeners, A stops accepting, drains and stops; the clients go on until
/// B has answered 300 more. Every request is answered; none refused or reset.
#[test]
fn upgrade_under_load_answers_every_request() {
    let dir = util::scratch_dir("hand-off-load");
    let sock = dir.join("app.sock");
    let old = Engine::builder()
        .event_loops(2)
        .reuse_port(true)
        .start(
            Pong("old"),
            ["tcp://127.0.0.1:0".to_string(), format!("unix://{}", sock.display())],
        )
        .unwrap();
    let addrs: Vec<String> = old.local_addrs().iter().map(ToString::to_string).collect();
    let tcp_addr = old.local_addr();

    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for i in 0..5 {
        let (tally, stop, sock) = (tally.clone(), stop.clone(), sock.clone());
        clients.push(thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                if i == 4 {
                    tally.one(unix(sock.clone()));
                } else {
                    tally.one(tcp(tcp_addr));
                }
            }
        }));
    }
    util::wait_until(Duration::from_secs(60), "the old engine to answer 300", || {
        tally.answered_old.load(Ordering::SeqCst) >= 300
    });

    let path = dir.join("hand-off.sock");
    let handing = hand_off_in_background(&old, &path);
    let new = Engine::builder()
        .event_loops(2)
        .inherit_listeners(&path)
        .start(Pong("new"), &addrs)
        .expect("the new engine inherits");
    handing.join().unwrap().expect("the hand-off succeeds");
    assert!(old.is_stopped());
    assert_eq!(
        new.local_addrs().iter().map(ToString::to_string).collect::<Vec<_>>(),
        addrs
    );
    assert!(sock.exists(), "the handed-off Unix socket file must stay");
    let at_stop = tally.answered_new.load(Ordering::SeqCst);
    util::wait_until(Duration::from_secs(60), "the new engine to answer 300 more", || {
        tally.answered_new.load(Ordering::SeqCst) >= at_stop + 300
    });
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    eprintln!("hand-off under load: {}", tally.report());
    assert_eq!(tally.refused.load(Ordering::SeqCst), 0, "{}", tally.report());
    assert_eq!(tally.reset.load(Ordering::SeqCst), 0, "{}", tally.report());
    assert_eq!(tally.other.load(Ordering::SeqCst), 0, "{}", tally.report());
    assert_eq!(
        tally.answered(),
        tally.sent.load(Ordering::SeqCst),
        "{}",
        tally.report()
    );
    // The old engine accepted nothing after it stopped; the new one serves.
    new.stop();
    assert!(
        !sock.exists(),
        "the new engine removes the file it was handed at its stop"
    );
    assert!(
        TcpStream::connect(tcp_addr).is_err(),
        "no listener left after both stopped"
    );
}

/// The child side of `upgrade_to_another_process_under_load`: inherits
/// through the path in `NR_HAND_OFF_RECEIVER`, serves the addresses in
/// `NR_HAND_OFF_ADDRS` until its stdin closes. Does nothing in a normal run.
#[test]
fn receiver_child() {
    let Some(path) = std::env::var_os("NR_HAND_OFF_RECEIVER") else {
        return;
    };
    let addrs: Vec<String> = std::env::var("NR_HAND_OFF_ADDRS")
        .unwrap()
        .split(' ')
        .map(str::to_owned)
        .collect();
    // reuse_port: the inherited listener is served by a loop, not the acceptor.
    let engine = Engine::builder()
        .event_loops(2)
        .reuse_port(true)
        .inherit_listeners(path)
        .start(Pong("new"), &addrs)
        .expect("the new process inherits");
    println!("SERVING");
    std::io::stdout().flush().unwrap();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    engine.stop();
}

/// The real upgrade: the new engine is another process (this test binary,
/// `receiver_child`), started while four TCP clients hammer the old one;
/// every request is answered, by the old process or the new one.
#[test]
fn upgrade_to_another_process_under_load() {
    if std::env::var_os("NR_HAND_OFF_RECEIVER").is_some() {
        return;
    }
    let dir = util::scratch_dir("hand-off-process");
    let old = Engine::builder()
        .event_loops(2)
        .start(Pong("old"), "tcp://127.0.0.1:0")
        .unwrap();
    let addr = old.local_addr();
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (tally, stop) = (tally.clone(), stop.clone());
            thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(120);
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    tally.one(tcp(addr));
                }
            })
        })
        .collect();
    util::wait_until(Duration::from_secs(60), "the old engine to answer 200", || {
        tally.answered_old.load(Ordering::SeqCst) >= 200
    });
    let path = dir.join("hand-off.sock");
    let handing = hand_off_in_background(&old, &path);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "receiver_child", "--nocapture", "--test-threads=1"])
        .env("NR_HAND_OFF_RECEIVER", &path)
        .env("NR_HAND_OFF_ADDRS", format!("tcp://{addr}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let handed = handing.join().unwrap();
    if handed.is_err() {
        let _ = child.kill();
    }
    handed.expect("the hand-off to the child succeeds");
    assert!(old.is_stopped());
    let at_stop = tally.answered_new.load(Ordering::SeqCst);
    util::wait_until(Duration::from_secs(60), "the new process to answer 200 more", || {
        tally.answered_new.load(Ordering::SeqCst) >= at_stop + 200
    });
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    drop(child.stdin.take()); // the child stops
    assert!(child.wait().unwrap().success());
    eprintln!("hand-off to another process under load: {}", tally.report());
    assert_eq!(
        tally.answered(),
        tally.sent.load(Ordering::SeqCst),
        "{}",
        tally.report()
    );
    assert_eq!(
        tally.refused.load(Ordering::SeqCst) + tally.reset.load(Ordering::SeqCst) + tally.other.load(Ordering::SeqCst),
        0,
        "{}",
        tally.report()
    );
}

/// UDP sockets (one per loop in the old engine) and an abstract Unix
/// listener are handed over too: after the old engine stopped, every
/// datagram is answered by the new one, and the abstract name serves.
#[test]
fn udp_and_abstract_sockets_are_handed_over() {
    let dir = util::scratch_dir("hand-off-udp");
    let name = format!("nr-hand-off-{}", std::process::id());
    let old = Engine::builder()
        .event_loops(2)
        .start(
            Pong("old"),
            [
                "tcp://127.0.0.1:0".to_string(),
                "udp://127.0.0.1:0".to_string(),
                format!("unix://@{name}"),
            ],
        )
        .unwrap();
    let addrs: Vec<String> = old.local_addrs().iter().map(ToString::to_string).collect();
    let Address::Udp(udp) = old.local_addrs()[1] else {
        panic!()
    };
    let path = dir.join("hand-off.sock");
    let handing = hand_off_in_background(&old, &path);
    let new = Engine::builder()
        .event_loops(1)
        .inherit_listeners(&path)
        .start(Pong("new"), &addrs)
        .unwrap();
    handing.join().unwrap().unwrap();
    assert!(old.is_stopped());
    // Datagrams from many source ports (SO_REUSEPORT spreads them over the
    // old engine's two sockets, both now the new engine's).
    for _ in 0..50 {
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.send_to(b"ping\n", udp).unwrap();
        let mut buf = [0; 64];
        let (n, from) = c.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"pong new\n"[..], udp));
    }
    use std::os::linux::net::SocketAddrExt;
    let abstract_addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let tally = Tally::default();
    tally.one(|| {
        let s = UnixStream::connect_addr(&abstract_addr)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(s)
    });
    assert_eq!(tally.answered_new.load(Ordering::SeqCst), 1, "{}", tally.report());
    new.stop();
}

/// The old engine: a receiver that fails (closes without `ready`) leaves it
/// serving; so does a timeout; one that sends garbage instead of `ready`
/// too. Its listeners are still there for a real receiver afterwards.
#[test]
fn a_failed_receiver_leaves_the_old_engine_serving() {
    let dir = util::scratch_dir("hand-off-failed");
    let old = Engine::builder()
        .event_loops(1)
        .start(Pong("old"), "tcp://127.0.0.1:0")
        .unwrap();
    let addr = old.local_addr();
    let path = dir.join("hand-off.sock");
    for (what, answer) in [("hangs up", &b""[..]), ("answers garbage", &b"nope\n"[..])] {
        let handing = hand_off_in_background(&old, &path);
        let mut peer = UnixStream::connect(&path).unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = [0u8; 4096];
        let n = peer.read(&mut got).unwrap();
        assert!(got[..n].starts_with(b"netreactor-hand-off 1\n"), "{what}");
        peer.write_all(answer).unwrap();
        drop(peer); // the descriptors it received went with it
        let err = handing.join().unwrap().expect_err(what);
        assert!(err.to_string().contains("still serving here"), "{what}: {err}");
        assert!(!old.is_stopped());
        let tally = Tally::default();
        tally.one(tcp(addr));
        assert_eq!(
            tally.answered_old.load(Ordering::SeqCst),
            1,
            "{what}: the old engine serves on"
        );
        assert!(!path.exists(), "the hand-off socket's file is removed");
    }
    // Then a real receiver takes over.
    let handing = hand_off_in_background(&old, &path);
    let new = Engine::builder()
        .event_loops(1)
        .inherit_listeners(&path)
        .start(Pong("new"), format!("tcp://{addr}"))
        .unwrap();
    handing.join().unwrap().unwrap();
    let tally = Tally::default();
    tally.one(tcp(addr));
    assert_eq!(tally.answered_new.load(Ordering::SeqCst), 1);
    // A stopped engine has nothing left to hand off.
    let err = old.hand_off_listeners(dir.join("again.sock"), Duration::from_millis(10));
    assert!(err.is_err());
    new.stop();
}

/// Called on the engine's own thread (here `on_boot`), the hand-off would
/// wait for itself: refused at once, with the reason.
#[test]
fn hand_off_from_a_callback_is_refused() {
    type Said = Arc<std::sync::Mutex<Option<String>>>;
    struct Eager(Said, PathBuf);
    impl EventHandler for Eager {
        fn on_boot(&self, engine: &EngineHandle) -> Action {
            let r = engine.hand_off_listeners(&self.1, Duration::from_secs(30));
            *self.0.lock().unwrap() = Some(r.unwrap_err().to_string());
            Action::Continue
        }
    }
    let dir = util::scratch_dir("hand-off-callback");
    let said = Said::default();
    let engine = Engine::builder()
        .event_loops(1)
        .start(Eager(said.clone(), dir.join("h.sock")), "tcp://127.0.0.1:0")
        .unwrap();
    let msg = said.lock().unwrap().clone().unwrap();
    assert!(msg.contains("call it from a thread of your own"), "{msg}");
    assert!(!dir.join("h.sock").exists());
    engine.stop();
}
