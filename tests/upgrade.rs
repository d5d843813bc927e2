//! examples/http and examples/redis run as processes the way nginx runs (the pattern only: no test runs nginx):
//! `--pid-file`, an upgrade in place on SIGUSR2 (a new copy inherits the
//! listening sockets, rewrites the pid file; the old one drains and exits)
//! and a drain on SIGTERM, each under a closed-loop load that must lose no
//! request; and, started by systemd-socket-activate, they serve systemd's
//! socket instead of `--addr`.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use util::http_load::Load;
use util::process::{is_gone, Server};
use util::{examples, scratch_dir};

/// Responses each phase must see, so the load really runs through it.
const PROGRESS: u64 = 200;
const LOAD_WAIT: Duration = Duration::from_secs(30);

#[test]
fn http_sigusr2_under_load_loses_no_request_and_the_new_process_takes_the_pid_file() {
    let dir = scratch_dir("upgrade-http");
    let exe = examples::binary("http");
    let mut server = Server::start(
        exe,
        &["--addr", "tcp://127.0.0.1:0", "--loops", "2", "--drain-timeout", "5"],
        &dir,
        "http",
    );
    let addr = server.tcp_addr();
    let first = server.pid();
    let load = Load::start(addr, 4);
    load.wait_for_more(PROGRESS, LOAD_WAIT);
    let upgrade_began = Instant::now();
    let second = server.upgrade();
    let upgrade_ended = Instant::now();
    assert_ne!(first, second);
    load.wait_for_more(PROGRESS, LOAD_WAIT); // served by the new process alone
    let third = server.upgrade(); // and the upgraded one upgrades again
    load.wait_for_more(PROGRESS, LOAD_WAIT);
    let tally = load.finish();
    let (p99_upgrade, n_upgrade) = tally.quantile(0.99, upgrade_began, upgrade_ended);
    println!(
        "http SIGUSR2 x2 under load: sent {} answered {} non-2xx {} failed {} resets {}; \
         p99 during the first upgrade {p99_upgrade:?} over {n_upgrade} requests; pids {first} -> {second} -> {third}",
        tally.sent, tally.answered, tally.non_2xx, tally.failed, tally.resets
    );
    assert_eq!(
        (tally.failed, tally.resets, tally.non_2xx),
        (0, 0, 0),
        "{:?}\n{}",
        tally.errors,
        server.log_text()
    );
    assert_eq!(tally.sent, tally.answered);
    assert!(is_gone(first) && is_gone(second));
    server.terminate();
}

#[test]
fn http_sigterm_drains_answers_in_flight_and_exits() {
    let dir = scratch_dir("sigterm-http");
    let exe = examples::binary("http");
    let mut server = Server::start(
        exe,
        &["--addr", "tcp://127.0.0.1:0", "--loops", "1", "--drain-timeout", "30"],
        &dir,
        "http",
    );
    let addr = server.tcp_addr();
    let mut client = util::connect(addr);
    // Half a request in flight when SIGTERM comes.
    client.write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n").unwrap();
    let started = Instant::now();
    util::process::signal(server.pid(), nix::sys::signal::Signal::SIGTERM);
    // The listener closes at once (no new connection is taken)...
    util::wait_until(LOAD_WAIT, "the listener closes", || TcpStream::connect(addr).is_err());
    // ...and the request in flight is answered, with Connection: close.
    client.write_all(b"\r\n").unwrap();
    let reply = String::from_utf8(util::read_to_eof(&mut client, LOAD_WAIT)).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(reply.contains("\r\nConnection: close\r\n"), "{reply}");
    assert!(reply.ends_with("\r\n\r\nHello, World!"), "{reply}");
    let pid = server.pid();
    server.wait_gone(pid);
    // Its last connection gone, it exits long before the 30 s deadline.
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(!server.pid_file.exists());
}

/// A closed-loop RESP client: `ECHO n`, expecting `n` back. A connection
/// the server closed before any byte of the reply (a drain closing it
/// idle while the command was on the wire; the server never read it) is
/// retried on a new connection, as redis-py's retry does; anything else
/// is a failure.
#[derive(Debug, Default)]
struct RedisTally {
    sent: u64,
    answered: u64,
    retried: u64,
    failed: u64,
    errors: Vec<String>,
}

fn redis_client(addr: SocketAddr, stop: &AtomicBool, answered: &AtomicU64, id: u64) -> RedisTally {
    let mut t = RedisTally::default();
    let mut conn: Option<TcpStream> = None;
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let value = format!("{id}-{n}");
        let command = format!("*2\r\n$4\r\nECHO\r\n${}\r\n{value}\r\n", value.len());
        let expected = format!("${}\r\n{value}\r\n", value.len());
        t.sent += 1;
        let mut tries = 0;
        loop {
            tries += 1;
            let mut s = match conn.take() {
                Some(s) => s,
                None => match TcpStream::connect(addr) {
                    Ok(s) => {
                        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                        s
                    }
                    Err(e) => {
                        t.failed += 1;
                        t.errors.push(format!("connect: {e}"));
                        break;
                    }
                },
            };
            let mut got = vec![0u8; expected.len()];
            let outcome = match s.write_all(command.as_bytes()) {
                Ok(()) => read_reply(&mut s, &mut got),
                Err(e) => Err((0, e)),
            };
            match outcome {
                Ok(()) if got == expected.as_bytes() => {
                    t.answered += 1;
                    answered.fetch_add(1, Ordering::Relaxed);
                    conn = Some(s);
                    break;
                }
                Ok(()) => {
                    t.failed += 1;
                    t.errors
                        .push(format!("{value}: got {:?}", String::from_utf8_lossy(&got)));
                    break;
                }
                // Nothing of the reply came: the command was never read.
                Err((0, _)) if tries < 3 => t.retried += 1,
                Err((k, e)) => {
                    t.failed += 1;
                    t.errors.push(format!("{value}: {e} after {k} reply bytes"));
                    break;
                }
            }
        }
    }
    t
}

/// Reads exactly `got.len()` bytes; on failure, how many came first.
fn read_reply(s: &mut TcpStream, got: &mut [u8]) -> Result<(), (usize, std::io::Error)> {
    let mut have = 0;
    while have < got.len() {
        match s.read(&mut got[have..]) {
            Ok(0) => return Err((have, ErrorKind::UnexpectedEof.into())),
            Ok(k) => have += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err((have, e)),
        }
    }
    Ok(())
}

#[test]
fn redis_sigusr2_under_load_answers_every_command() {
    let dir = scratch_dir("upgrade-redis");
    let exe = examples::binary("redis");
    let mut server = Server::start(
        exe,
        &["--addr", "tcp://127.0.0.1:0", "--loops", "2", "--drain-timeout", "5"],
        &dir,
        "redis",
    );
    let addr = server.tcp_addr();
    let first = server.pid();
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..4)
        .map(|id| {
            let (stop, answered) = (stop.clone(), answered.clone());
            std::thread::spawn(move || redis_client(addr, &stop, &answered, id))
        })
        .collect();
    let progress = |more: u64| {
        let target = answered.load(Ordering::Relaxed) + more;
        util::wait_until(LOAD_WAIT, "the redis load makes progress", || {
            answered.load(Ordering::Relaxed) >= target
        });
    };
    progress(PROGRESS);
    let second = server.upgrade();
    progress(PROGRESS);
    stop.store(true, Ordering::Relaxed);
    let mut total = RedisTally::default();
    for c in clients {
        let t = c.join().unwrap();
        total.sent += t.sent;
        total.answered += t.answered;
        total.retried += t.retried;
        total.failed += t.failed;
        total.errors.extend(t.errors);
    }
    println!(
        "redis SIGUSR2 under load: sent {} answered {} failed {} retried (closed idle, unread) {}; pids {first} -> {second}",
        total.sent, total.answered, total.failed, total.retried
    );
    assert_eq!(total.failed, 0, "{:?}\n{}", total.errors, server.log_text());
    assert_eq!(total.sent, total.answered);
    server.terminate();
}

#[test]
fn a_failed_upgrade_leaves_the_old_process_serving() {
    let dir = scratch_dir("upgrade-fails");
    // Run a copy, then put a binary that cannot serve at its path: the
    // upgrade starts that one.
    let exe = dir.join("http");
    std::fs::copy(examples::binary("http"), &exe).unwrap();
    let mut server = Server::start(&exe, &["--addr", "tcp://127.0.0.1:0", "--loops", "1"], &dir, "http");
    let addr = server.tcp_addr();
    let pid = server.pid();
    std::fs::remove_file(&exe).unwrap(); // the running process keeps its copy
    std::fs::write(&exe, "#!/bin/sh\necho broken build >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let load = Load::start(addr, 2);
    load.wait_for_more(PROGRESS, LOAD_WAIT);
    util::process::signal(pid, nix::sys::signal::Signal::SIGUSR2);
    // The old process waits for the new one to connect (10 s), then says
    // so and serves on, pid file unchanged.
    util::wait_until(LOAD_WAIT, "the old process reports the failed upgrade", || {
        server.log_text().contains("upgrade failed, still serving")
    });
    load.wait_for_more(PROGRESS, LOAD_WAIT);
    let tally = load.finish();
    assert_eq!(
        (tally.failed, tally.resets, tally.non_2xx),
        (0, 0, 0),
        "{:?}",
        tally.errors
    );
    assert_eq!(server.pid(), pid);
    assert!(server.log_text().contains("broken build"), "{}", server.log_text());
    server.terminate();
}

#[test]
fn under_systemd_socket_activation_the_example_serves_systemds_socket_not_addr() {
    let dir = scratch_dir("activated-http");
    let pid_file = dir.join("http.pid");
    let systemd = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let unused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let child = std::process::Command::new("systemd-socket-activate")
        .arg("-l")
        .arg(systemd.to_string())
        .arg(examples::binary("http"))
        .args(["--loops", "1", "--addr", &format!("tcp://{unused}"), "--pid-file"])
        .arg(&pid_file)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join("http.log")).unwrap())
        .spawn()
        .expect("systemd-socket-activate (Debian's systemd package; .ci/run installs it)");
    let mut server = Server {
        pids: vec![child.id()],
        child,
        log: dir.join("http.log"),
        pid_file,
    };
    // The first connection starts the server (systemd-socket-activate
    // execs it, so its pid is the tool's); it is served once it runs.
    let mut client = None;
    util::wait_until(LOAD_WAIT, "systemd-socket-activate listens", || {
        client = TcpStream::connect(systemd).ok();
        client.is_some()
    });
    let mut client = client.unwrap();
    client.set_read_timeout(Some(LOAD_WAIT)).unwrap();
    client
        .write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let reply = String::from_utf8(util::read_to_eof(&mut client, LOAD_WAIT)).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(reply.ends_with("Hello, World!"), "{reply}");
    util::wait_until(LOAD_WAIT, "the pid file", || server.pid_file.exists());
    assert_eq!(server.pid(), server.child.id());
    assert!(
        server.log_text().contains(&format!("Tcp({systemd})")),
        "{}",
        server.log_text()
    );
    assert!(TcpStream::connect(unused).is_err(), "--addr was bound too");
    server.terminate();
}
