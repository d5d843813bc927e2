//! systemd socket activation (`EngineBuilder::socket_activation`): the
//! engine adopts `LISTEN_FDS` sockets with `sd_listen_fds` semantics.
//!
//! Each scenario runs in a child process of this test binary (the
//! variables and descriptors 3.. are process-wide): the parent makes the
//! sockets, places them at descriptors 3, 4, ... in the child (as systemd
//! does) and sets the variables; the child (`activation_child`, which does
//! nothing in a normal run) starts an engine and checks what it sees, then
//! exits 0 or panics. `systemd_socket_activate_starts_the_server_on_first_connection`
//! uses the real `systemd-socket-activate` (Debian's systemd package,
//! installed by .ci/run) instead of the fake.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use netreactor::{Action, Conn, Engine, Error, EventHandler};

const SCENARIO_ENV: &str = "NR_ACTIVATION_SCENARIO";
/// The addresses the child listens on, space-separated.
const ADDRS_ENV: &str = "NR_ACTIVATION_ADDRS";
/// Set: the child sets `LISTEN_PID` to its own pid (the parent cannot know
/// it before the child exists; systemd sets it after fork, as here).
const PID_SELF_ENV: &str = "NR_ACTIVATION_PID_SELF";
const CHILD_TEST: &str = "activation_child";

struct Echo;
impl EventHandler for Echo {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }
}

/// Kills the child when the test ends, however it ends.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs scenario `scenario` in a child with `fds` at descriptors 3, 4, ...
/// and `env` set; returns its output once it exits (bounded: 60 s).
fn run_child(scenario: &str, fds: &[RawFd], env: &[(&str, String)]) -> Output {
    // First copy every descriptor above the range the child's are placed in,
    // so that placing one cannot overwrite another that is still to be placed.
    let high: Vec<OwnedFd> = fds
        .iter()
        .map(|&fd| {
            // SAFETY: F_DUPFD_CLOEXEC only duplicates the caller's open fd.
            let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100) };
            assert!(dup >= 100, "dup: {}", std::io::Error::last_os_error());
            // SAFETY: `dup` was just made and is owned here only.
            unsafe { std::os::fd::FromRawFd::from_raw_fd(dup) }
        })
        .collect();
    let raws: Vec<RawFd> = high.iter().map(AsRawFd::as_raw_fd).collect();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
        .env(SCENARIO_ENV, scenario)
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_FDNAMES")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    // SAFETY: between fork and exec only dup2 runs (async-signal-safe); it
    // places each socket at 3 + i without close-on-exec, as systemd does.
    unsafe {
        cmd.pre_exec(move || {
            for (i, &fd) in raws.iter().enumerate() {
                if libc::dup2(fd, 3 + i as RawFd) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = cmd.spawn().expect("spawn the child");
    drop(high);
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx
        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .unwrap_or_else(|_| {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("child {scenario} did not finish in 60 s")
        })
        .unwrap();
    assert!(
        out.status.success(),
        "child {scenario} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn addrs_env(addrs: &[String]) -> (&'static str, String) {
    (ADDRS_ENV, addrs.join(" "))
}

fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags; EBADF if closed.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

fn listen_env_is_gone() -> bool {
    ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"]
        .iter()
        .all(|v| std::env::var_os(v).is_none())
}

fn tcp_echo(addr: SocketAddr) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(util::IO_TIMEOUT)).unwrap();
    s.write_all(b"tcp ping").unwrap();
    let mut back = [0; 8];
    s.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"tcp ping");
}

fn unix_echo(path: &Path) {
    let mut s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(util::IO_TIMEOUT)).unwrap();
    s.write_all(b"unix ping").unwrap();
    let mut back = [0; 9];
    s.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"unix ping");
}

fn udp_echo(addr: SocketAddr) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(util::IO_TIMEOUT)).unwrap();
    s.send_to(b"udp ping", addr).unwrap();
    let mut back = [0; 64];
    let (n, from) = s.recv_from(&mut back).unwrap();
    assert_eq!((&back[..n], from), (&b"udp ping"[..], addr));
}

/// The child side: does nothing in a normal test run.
#[test]
fn activation_child() {
    let Ok(scenario) = std::env::var(SCENARIO_ENV) else {
        return;
    };
    if std::env::var_os(PID_SELF_ENV).is_some() {
        std::env::set_var("LISTEN_PID", std::process::id().to_string());
    }
    let addrs: Vec<String> = std::env::var(ADDRS_ENV)
        .unwrap_or_default()
        .split(' ')
        .map(str::to_owned)
        .collect();
    let builder = Engine::builder().event_loops(2).socket_activation(true);
    match scenario.as_str() {
        "serve_all_kinds" => {
            let engine = builder.start(Echo, &addrs).expect("start on the inherited sockets");
            assert!(listen_env_is_gone(), "LISTEN_* must be removed after adopting");
            // Served on the inherited sockets (their addresses, reported as
            // bound), and the address not inherited bound as usual.
            let local: Vec<String> = engine.local_addrs().iter().map(ToString::to_string).collect();
            assert_eq!(local[..3], addrs[..3]);
            assert_ne!(engine.local_addrs()[3].to_string(), "tcp://127.0.0.1:0");
            tcp_echo(engine.local_addr());
            let netreactor::Address::Udp(udp) = engine.local_addrs()[1] else {
                panic!()
            };
            udp_echo(udp);
            let netreactor::Address::Unix(ref path) = engine.local_addrs()[2] else {
                panic!()
            };
            unix_echo(path);
            let netreactor::Address::Tcp(own) = engine.local_addrs()[3] else {
                panic!()
            };
            tcp_echo(own);
            let path = path.clone();
            engine.stop();
            // systemd owns the socket file: left in place.
            assert!(path.exists(), "an inherited Unix socket's file must not be removed");
            // The descriptors were the engine's: closed at stop.
            assert!(!fd_is_open(3) && !fd_is_open(4) && !fd_is_open(5));
            println!("SERVED");
        }
        "unmatched" => {
            let err = builder
                .start(Echo, &addrs)
                .expect_err("an inherited socket matches no address");
            let msg = err.to_string();
            assert!(matches!(err, Error::InvalidConfig(_)), "{msg}");
            let inherited = std::env::var("NR_EXPECT").unwrap();
            assert!(
                msg.contains(r#"systemd socket "web" (fd 3)"#) && msg.contains(&inherited),
                "{msg}"
            );
            assert!(!fd_is_open(3), "the refused socket must be closed, not leaked");
            println!("REFUSED: {msg}");
        }
        "wrong_pid" => {
            let engine = builder.start(Echo, &addrs).expect("binds as usual");
            assert!(listen_env_is_gone());
            assert!(fd_is_open(3), "a socket meant for another process is not ours to take");
            tcp_echo(engine.local_addr());
            engine.stop();
            assert!(fd_is_open(3));
        }
        "keep_env_and_take_once" => {
            let engine = builder
                .clone()
                .keep_socket_activation_env(true)
                .start(Echo, &addrs)
                .expect("adopts");
            assert!(std::env::var_os("LISTEN_FDS").is_some(), "kept as asked");
            tcp_echo(engine.local_addr());
            let err = builder
                .keep_socket_activation_env(true)
                .start(Echo, &addrs)
                .expect_err("a second engine must not take the same descriptors");
            assert!(err.to_string().contains("already taken"), "{err}");
            tcp_echo(engine.local_addr()); // the first still serves
            engine.stop();
        }
        "bad_env" => {
            let try_env = |fds: &str, names: Option<&str>| {
                std::env::set_var("LISTEN_PID", std::process::id().to_string());
                std::env::set_var("LISTEN_FDS", fds);
                match names {
                    Some(n) => std::env::set_var("LISTEN_FDNAMES", n),
                    None => std::env::remove_var("LISTEN_FDNAMES"),
                }
                let err = Engine::builder()
                    .event_loops(1)
                    .socket_activation(true)
                    .start(Echo, "tcp://127.0.0.1:0")
                    .expect_err("malformed");
                assert!(listen_env_is_gone());
                err.to_string()
            };
            let msg = try_env("two", None);
            assert!(msg.contains(r#"LISTEN_FDS="two" is not a count"#), "{msg}");
            let msg = try_env("1", Some("a:b"));
            assert!(
                msg.contains("LISTEN_FDNAMES names 2 sockets, LISTEN_FDS says 1"),
                "{msg}"
            );
            // Descriptor 4 is a pipe: nothing is taken, 3 stays open.
            let msg = try_env("2", None);
            assert!(msg.contains("descriptor 4 is not an open socket"), "{msg}");
            assert!(fd_is_open(3) && fd_is_open(4));
            let msg = try_env("99999", None);
            assert!(msg.contains("LISTEN_FDS=99999 is more than 4096"), "{msg}");
        }
        "connected_stream" => {
            let err = builder.start(Echo, &addrs).expect_err("a connection is not a listener");
            assert!(err.to_string().contains("not listening"), "{err}");
        }
        "activated" => {
            // Under systemd-socket-activate: serve until stdin closes.
            let engine = builder.start(Echo, &addrs).expect("start on systemd's sockets");
            let gone = listen_env_is_gone();
            println!("ADOPTED env_gone={gone} addrs={:?}", engine.local_addrs());
            std::io::stdout().flush().unwrap();
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
            engine.stop();
        }
        other => panic!("unknown scenario {other}"),
    }
}

#[test]
fn adopts_tcp_udp_and_unix_sockets_and_binds_the_rest() {
    if std::env::var_os(SCENARIO_ENV).is_some() {
        return;
    }
    let dir = util::scratch_dir("activation-all");
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let path = dir.join("ctl.sock");
    let unix = UnixListener::bind(&path).unwrap();
    let addrs = vec![
        format!("tcp://{}", tcp.local_addr().unwrap()),
        format!("udp://{}", udp.local_addr().unwrap()),
        format!("unix://{}", path.display()),
        "tcp://127.0.0.1:0".to_string(),
    ];
    let out = run_child(
        "serve_all_kinds",
        &[tcp.as_raw_fd(), udp.as_raw_fd(), unix.as_raw_fd()],
        &[
            (PID_SELF_ENV, "1".into()),
            ("LISTEN_FDS", "3".into()),
            ("LISTEN_FDNAMES", "web:dns:ctl".into()),
            addrs_env(&addrs),
        ],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("SERVED"));
    assert!(path.exists());
}

#[test]
fn an_inherited_socket_matching_no_address_is_refused_by_name() {
    if std::env::var_os(SCENARIO_ENV).is_some() {
        return;
    }
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let inherited = format!("tcp://{}", tcp.local_addr().unwrap());
    run_child(
        "unmatched",
        &[tcp.as_raw_fd()],
        &[
            (PID_SELF_ENV, "1".into()),
            ("LISTEN_FDS", "1".into()),
            ("LISTEN_FDNAMES", "web".into()),
            ("NR_EXPECT", inherited),
            addrs_env(&["tcp://127.0.0.1:0".to_string()]),
        ],
    );
}

#[test]
fn listen_pid_of_another_process_adopts_nothing() {
    if std::env::var_os(SCENARIO_ENV).is_some() {
        return;
    }
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    run_child(
        "wrong_pid",
        &[tcp.as_raw_fd()],
        &[
            ("LISTEN_PID", "1".into()),
            ("LISTEN_FDS", "1".into()),
            addrs_env(&["tcp://127.0.0.1:0".to_string()]),
        ],
    );
}

#[test]
fn variables_kept_on_request_and_sockets_taken_once() {
    if std::env::var_os(SCENARIO_ENV).is_some() {
        return;
    }
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    run_child(
        "keep_env_and_take_once",
        &[tcp.as_raw_fd()],
        &[
            (PID_SELF_ENV, "1".into()),
            ("LISTEN_FDS", "1".into()),
            addrs_env(&[format!("tcp://{}", tcp.local_addr().unwrap())]),
        ],
    );
}

#[test]
fn malformed_variables_and_non_sockets_are_refused_and_nothing_is_taken() {
    if std::env::var_os(SCENARIO_ENV).is_some() {
        return;
    }
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let (pipe_r, _pipe_w) = nix::unistd::pipe().unwrap();
    run_child("bad_env", &[tcp.as_raw_fd(), pipe_r.as_raw_fd()], &[]);
}

#[test]
fn a_connected_stream_socket_is_refused() {
    if std::env::var_os(SCENARIO_ENV).is_some() {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let conn = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    run_child(
        "connected_stream",
        &[conn.as_raw_fd()],
        &[
            (PID_SELF_ENV, "1".into()),
            ("LISTEN_FDS", "1".into()),
            addrs_env(&["tcp://127.0.0.1:0".to_string()]),
        ],
    );
}

/// The real tool: `systemd-socket-activate -l PATH -l 127.0.0.1:PORT` binds
/// both, waits for the first connection, then execs this test binary (the
/// `activated` scenario) with `LISTEN_FDS=2`; the connection that woke it is
/// served, then another on each socket.
#[test]
fn systemd_socket_activate_starts_the_server_on_first_connection() {
    if std::env::var_os(SCENARIO_ENV).is_some() {
        return;
    }
    let dir = util::scratch_dir("activation-real");
    let path = dir.join("echo.sock");
    // A free port: bound and released; if another process takes it in
    // between, the tool fails to bind and we try another.
    for attempt in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let tcp: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let addrs = format!("unix://{} tcp://{tcp}", path.display());
        let child = Command::new("systemd-socket-activate")
            .arg("-l")
            .arg(&path)
            .arg("-l")
            .arg(tcp.to_string())
            .arg(format!("-E{SCENARIO_ENV}=activated"))
            .arg(format!("-E{ADDRS_ENV}={addrs}"))
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("systemd-socket-activate (Debian's systemd package; .ci/run installs it)");
        let mut child = ChildGuard(child);
        // Until it has bound both (the socket file appears first, the port
        // right after), or it exits (the port was taken).
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut exited = false;
        while !path.exists() || TcpStream::connect(tcp).is_err() {
            if child.0.try_wait().unwrap().is_some() {
                exited = true;
                break;
            }
            assert!(
                Instant::now() < deadline,
                "systemd-socket-activate did not bind in 20 s"
            );
            std::thread::sleep(Duration::from_millis(10)); // polling a process we do not control
        }
        if exited {
            let mut err = String::new();
            child.0.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            assert!(attempt < 4, "systemd-socket-activate failed: {err}");
            let _ = std::fs::remove_file(&path);
            continue;
        }
        // The probe connect above already woke it; these are served by the
        // activated server (each waits in the accept queue until it runs).
        unix_echo(&path);
        tcp_echo(tcp);
        // The test harness prints its own lines around the child's.
        let mut stdout = BufReader::new(child.0.stdout.take().unwrap()).lines();
        let line = stdout
            .by_ref()
            .map_while(Result::ok)
            .find(|l| l.contains("ADOPTED"))
            .expect("the activated server's report");
        assert!(line.contains("ADOPTED env_gone=true"), "{line}");
        assert!(line.contains(&format!("Tcp({tcp})")), "{line}");
        drop(child.0.stdin.take()); // the child stops and exits
        stdout.for_each(drop); // read to its end, so the child's last lines find a reader
        let status = child.0.wait().unwrap();
        let mut err = String::new();
        child.0.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert!(status.success(), "the activated server failed: {err}");
        return;
    }
}
