//! Out of file descriptors: the acceptor neither spins nor stops the engine,
//! logs the condition once per episode, and accepts again once descriptors
//! are freed.
//!
//! The server runs in a child process (this test binary re-run with
//! `EMFILE_CHILD_ENV` set, executing only `emfile_child_server`), because it
//! lowers its own RLIMIT_NOFILE and its CPU time is measured as a whole.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use netreactor::Engine;
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use util::*;

const EMFILE_CHILD_ENV: &str = "NETREACTOR_EMFILE_CHILD";
const CHILD_TEST: &str = "emfile_child_server";
const EXHAUSTED_LOG: &str = "out of file descriptors";
const RECOVERED_LOG: &str = "file descriptors available again";
/// Descriptors the child allows itself beyond those open before its engine starts.
const HEADROOM: u64 = 40;
const CLIENTS: usize = 100;

/// Writes every log record to stderr, one line each.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        eprintln!("[{}] {}", record.level(), record.args());
    }

    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;

/// The server side, run only in the child process.
#[test]
fn emfile_child_server() {
    if std::env::var_os(EMFILE_CHILD_ENV).is_none() {
        return; // a normal test run: nothing to do here
    }
    log::set_logger(&LOGGER).expect("logger");
    log::set_max_level(log::LevelFilter::Info);

    let (_soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let limit = open_fd_count() as u64 + HEADROOM;
    setrlimit(Resource::RLIMIT_NOFILE, limit, hard).unwrap();
    eprintln!("child: RLIMIT_NOFILE lowered to {limit}");

    let engine = start(Engine::builder().event_loops(1), Echo);
    println!("PORT={}", engine.local_addr().port());
    std::io::stdout().flush().unwrap();

    // Serve until the parent closes our stdin.
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    engine.stop();
    eprintln!("child: stopped");
}

/// Kills the child when the test ends, however it ends.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CPU time (user + system, all threads) of process `pid`, from
/// /proc/<pid>/stat (fields 14 and 15, in USER_HZ = 100 ticks/s).
fn process_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("child stat");
    let after = &stat[stat.rfind(')').expect("stat has (comm)") + 1..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn accept_survives_emfile() {
    if std::env::var_os(EMFILE_CHILD_ENV).is_some() {
        return; // we are the child
    }
    let exe = std::env::current_exe().unwrap();
    let child = Command::new(exe)
        .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
        .env(EMFILE_CHILD_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child server");
    let mut child = ChildGuard(child);
    let pid = child.0.id();

    // Its stderr (the log) is collected as it comes.
    let log = Arc::new(Mutex::new(String::new()));
    let stderr = child.0.stderr.take().unwrap();
    let log_reader = {
        let log = log.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut l = lock(&log);
                l.push_str(&line);
                l.push('\n');
            }
        })
    };
    // Its stdout announces the port.
    let stdout = child.0.stdout.take().unwrap();
    let (port_tx, port_rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // The harness prints "test emfile_child_server ... " before it.
            if let Some((_, p)) = line.split_once("PORT=") {
                let _ = port_tx.send(p.trim().parse::<u16>().unwrap());
            }
        }
    });
    let port = port_rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("the child announced no port; its stderr:\n{}", lock(&log)));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    // Far more connections than the child has descriptors for. The kernel
    // completes each handshake, so every connect succeeds.
    let mut clients: Vec<TcpStream> = (0..CLIENTS).map(|_| connect(addr)).collect();
    wait_until(
        Duration::from_secs(10),
        "the child logs that it is out of descriptors",
        || lock(&log).contains(EXHAUSTED_LOG),
    );

    // Saturated for a second: the child must sleep, not spin on accept.
    let cpu_before = process_cpu(pid);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(1) {
        thread::sleep(Duration::from_millis(50)); // the measuring window, not a synchronisation
    }
    let cpu = process_cpu(pid) - cpu_before;
    let window = t.elapsed();
    eprintln!("child CPU while out of descriptors: {cpu:?} in {window:?}");
    assert!(
        cpu < window / 10,
        "the out-of-descriptors child used {cpu:?} of CPU in {window:?}"
    );

    // The engine still serves the connections it has (the first ones were
    // accepted before the limit was reached).
    for (i, c) in clients.iter_mut().take(5).enumerate() {
        round_trip(c, format!("still served {i}").as_bytes());
    }
    {
        let l = lock(&log);
        assert_eq!(count(&l, EXHAUSTED_LOG), 1, "logged once for the episode; log:\n{l}");
        assert_eq!(
            count(&l, RECOVERED_LOG),
            0,
            "recovered while still saturated; log:\n{l}"
        );
    }

    // Free descriptors: close all but the first five connections.
    clients.truncate(5);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut fresh = loop {
        // Backoff is at most 1 s; the closed connections still waiting in
        // the backlog are accepted (and closed) first.
        let mut s = connect(addr);
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s.write_all(b"new").unwrap();
        let mut buf = [0u8; 3];
        match s.read_exact(&mut buf) {
            Ok(()) => {
                assert_eq!(&buf, b"new");
                break s;
            }
            // Accepted and closed by the reserve-descriptor trick while
            // still exhausted: try again.
            Err(e) => assert!(
                Instant::now() < deadline,
                "no new connection served after freeing descriptors ({e}); log:\n{}",
                lock(&log)
            ),
        }
    };
    round_trip(&mut fresh, b"and again");
    for (i, c) in clients.iter_mut().enumerate() {
        round_trip(c, format!("survivor {i}").as_bytes());
    }
    assert!(lock(&log).contains(RECOVERED_LOG), "log:\n{}", lock(&log));

    // Orderly end: closing stdin stops the child's engine.
    drop(child.0.stdin.take());
    let mut status = None;
    wait_until(Duration::from_secs(10), "the child exited after stdin closed", || {
        status = child.0.try_wait().unwrap();
        status.is_some()
    });
    let status = status.expect("exited");
    log_reader.join().unwrap();
    let l = lock(&log);
    assert!(status.success(), "child exited with {status}; log:\n{l}");
    assert!(l.contains("child: stopped"), "log:\n{l}");
    eprintln!("child log:\n{l}");
    drop((fresh, clients));
}
