//! Helpers shared by the integration tests: starting and stopping engines,
//! deadline-based waiting (never a sleep as synchronisation), socket reads
//! with timeouts, a deterministic PRNG, fd counting and a recorder of
//! connection callbacks.

#![allow(dead_code)]

pub(crate) mod counting;
pub(crate) mod examples;
pub(crate) mod http_load;
pub(crate) mod process;
#[cfg(feature = "tls")]
pub(crate) mod tls;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::ops::Deref;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use netreactor::{Action, Address, CloseReason, Conn, ConnId, EngineBuilder, EngineHandle, EventHandler, Service};

/// Read/write timeout put on every client socket: a bug fails a test instead
/// of hanging it.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `wait_until` callers usually allow for something the engine does
/// asynchronously (a close, a count update).
pub(crate) const SETTLE: Duration = Duration::from_secs(5);

/// Starts `handler` on 127.0.0.1 with an ephemeral port. The returned guard
/// stops the engine when dropped (also when a test panics).
pub(crate) fn start<H: Service>(builder: EngineBuilder, handler: H) -> Engine {
    let handle = builder
        .start(handler, "tcp://127.0.0.1:0")
        .expect("engine failed to start on tcp://127.0.0.1:0");
    Engine(handle)
}

/// An engine that is stopped when dropped. Tests stop it explicitly where
/// they assert something about the stop; stopping twice is harmless.
#[derive(Debug)]
pub(crate) struct Engine(pub(crate) EngineHandle);

impl Deref for Engine {
    type Target = EngineHandle;
    fn deref(&self) -> &EngineHandle {
        &self.0
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.0.stop_with_deadline(Duration::from_secs(1));
    }
}

/// Polls `cond` every millisecond until it holds; panics naming `what` if it
/// does not within `timeout`.
pub(crate) fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting until {what}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Starts `engine.drain(grace)` on another thread (it blocks until the
/// engine has stopped) and waits until every loop drains, or until the
/// drain is already over: one with nothing left to wait for can begin and
/// end between two polls. The thread returns how long the drain took.
pub(crate) fn drain_in_background(engine: &EngineHandle, grace: Duration) -> std::thread::JoinHandle<Duration> {
    let e = engine.clone();
    let started = Instant::now();
    let t = std::thread::spawn(move || {
        e.drain(grace);
        started.elapsed()
    });
    wait_until(SETTLE, "the engine drains", || engine.is_draining() || t.is_finished());
    t
}

/// As [`wait_until`], with a message built lazily from the last state seen.
pub(crate) fn wait_for<T: std::fmt::Debug>(
    timeout: Duration,
    what: &str,
    mut probe: impl FnMut() -> T,
    mut ok: impl FnMut(&T) -> bool,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let v = probe();
        if ok(&v) {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting until {what}; last seen: {v:?}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A blocking client socket with [`IO_TIMEOUT`] on reads and writes.
pub(crate) fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// A client socket bound to `local_ip` before connecting (so tests can
/// connect from 127.0.0.2 and so on). `None` if the address cannot be bound.
pub(crate) fn connect_from(local_ip: std::net::IpAddr, addr: SocketAddr) -> Option<TcpStream> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .unwrap();
    sock.bind(&SocketAddr::new(local_ip, 0).into()).ok()?;
    sock.connect(&addr.into())
        .unwrap_or_else(|e| panic!("connect from {local_ip} to {addr}: {e}"));
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    Some(s)
}

/// Reads exactly `n` bytes, failing the test if they do not all arrive
/// within `timeout` (the socket's own read timeout bounds each read).
pub(crate) fn read_exact_within(s: &mut TcpStream, n: usize, timeout: Duration) -> Vec<u8> {
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "only {got} of {n} bytes arrived within {timeout:?}");
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf[got..]) {
            Ok(0) => panic!("EOF after {got} of {n} expected bytes"),
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read failed after {got} of {n} bytes: {e}"),
        }
    }
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    buf
}

/// Reads until end of file; panics on a timeout or an error (a reset is
/// not an orderly end of file).
pub(crate) fn read_to_eof(s: &mut TcpStream, timeout: Duration) -> Vec<u8> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no EOF within {timeout:?} ({} bytes read)", out.len());
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => out.extend_from_slice(&buf[..k]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read failed before EOF after {} bytes: {e}", out.len()),
        }
    }
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    out
}

/// Reads until the connection is reset (ECONNRESET) and returns what came
/// before; panics on an orderly end of file (a truncated stream must not
/// look complete) or if nothing happens within `timeout`.
pub(crate) fn read_to_reset(s: &mut TcpStream, timeout: Duration) -> Vec<u8> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no reset within {timeout:?} ({} bytes read)",
            out.len()
        );
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => panic!(
                "orderly EOF after {} bytes where the server dropped output: the peer cannot tell the stream was cut",
                out.len()
            ),
            Ok(k) => out.extend_from_slice(&buf[..k]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("read failed with {e} (not a reset) after {} bytes", out.len()),
        }
    }
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    out
}

/// Asserts the connection is reset with no bytes first.
pub(crate) fn expect_reset(s: &mut TcpStream, timeout: Duration) {
    let rest = read_to_reset(s, timeout);
    assert!(
        rest.is_empty(),
        "expected a reset, got {} bytes first: {:?}",
        rest.len(),
        String::from_utf8_lossy(&rest[..rest.len().min(64)])
    );
}

/// Asserts the next read is an orderly end of file (no bytes first).
pub(crate) fn expect_eof(s: &mut TcpStream, timeout: Duration) {
    let rest = read_to_eof(s, timeout);
    assert!(
        rest.is_empty(),
        "expected EOF, got {} more bytes first: {:?}",
        rest.len(),
        String::from_utf8_lossy(&rest[..rest.len().min(64)])
    );
}

/// Writes `msg` and asserts exactly `msg` comes back (for echo handlers).
pub(crate) fn round_trip(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).unwrap();
    let got = read_exact_within(s, msg.len(), IO_TIMEOUT);
    assert_eq!(got, msg, "echo mismatch");
}

/// Closes the client's writing side and waits for the server's EOF.
pub(crate) fn finish(mut s: TcpStream) {
    s.shutdown(Shutdown::Write).unwrap();
    expect_eof(&mut s, IO_TIMEOUT);
}

/// Entries in /proc/self/fd (the directory handle itself included, so the
/// count is consistent between calls).
pub(crate) fn open_fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").count()
}

/// The current thread's name ("" when unnamed).
pub(crate) fn thread_name() -> String {
    std::thread::current().name().unwrap_or("").to_owned()
}

/// The loop index in a thread name "nr-loop-{i}".
pub(crate) fn loop_index(thread: &str) -> usize {
    thread
        .strip_prefix("nr-loop-")
        .and_then(|i| i.parse().ok())
        .unwrap_or_else(|| panic!("{thread:?} is not an event-loop thread name"))
}

/// First index where `a` and `b` differ, for readable buffer-mismatch messages.
pub(crate) fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .or((a.len() != b.len()).then(|| a.len().min(b.len())))
}

/// Locks, ignoring poisoning (a failed assertion elsewhere must not hide
/// the recorded state).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// xorshift64*: tiny, deterministic, good enough for test data.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }

    pub(crate) fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next_u64().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.fill(&mut v);
        v
    }
}

/// One `on_open` call as seen by a [`Recorder`].
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) thread: String,
    pub(crate) id: ConnId,
    pub(crate) peer: Option<SocketAddr>,
}

/// One `on_close` call as seen by a [`Recorder`].
#[derive(Debug)]
pub(crate) struct Closed {
    pub(crate) thread: String,
    pub(crate) id: ConnId,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) reason: CloseReason,
}

/// Records every `on_open` and `on_close` with the calling thread.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    pub(crate) opened: Mutex<Vec<Opened>>,
    pub(crate) closed: Mutex<Vec<Closed>>,
}

impl Recorder {
    pub(crate) fn open(&self, conn: &Conn) {
        lock(&self.opened).push(Opened {
            thread: thread_name(),
            id: conn.id(),
            peer: conn.peer_addr(),
        });
    }

    pub(crate) fn close(&self, conn: &Conn, reason: CloseReason) {
        lock(&self.closed).push(Closed {
            thread: thread_name(),
            id: conn.id(),
            peer: conn.peer_addr(),
            reason,
        });
    }

    pub(crate) fn opens(&self) -> usize {
        lock(&self.opened).len()
    }

    pub(crate) fn closes(&self) -> usize {
        lock(&self.closed).len()
    }

    /// The loop that ran `on_open` for the connection from `peer`.
    pub(crate) fn loop_of(&self, peer: SocketAddr) -> Option<usize> {
        lock(&self.opened)
            .iter()
            .find(|o| o.peer == Some(peer))
            .map(|o| loop_index(&o.thread))
    }

    /// Waits until `on_open` ran for the client `s`, returning its loop.
    pub(crate) fn wait_loop_of(&self, s: &TcpStream) -> usize {
        let peer = s.local_addr().unwrap();
        let mut found = None;
        wait_until(SETTLE, &format!("on_open ran for {peer}"), || {
            found = self.loop_of(peer);
            found.is_some()
        });
        found.unwrap()
    }

    /// Waits until `on_close` ran for the client `peer`, returning a
    /// description of its reason made by `f`.
    pub(crate) fn wait_close_of<T>(&self, peer: SocketAddr, f: impl Fn(&CloseReason) -> T) -> T {
        let mut out = None;
        wait_until(SETTLE, &format!("on_close ran for {peer}"), || {
            out = lock(&self.closed)
                .iter()
                .find(|c| c.peer == Some(peer))
                .map(|c| f(&c.reason));
            out.is_some()
        });
        out.unwrap()
    }
}

/// Echoes everything and records opens and closes.
#[derive(Debug, Default)]
pub(crate) struct RecordingEcho {
    pub(crate) rec: std::sync::Arc<Recorder>,
}

impl EventHandler for RecordingEcho {
    fn on_open(&self, conn: &mut Conn) -> Action {
        self.rec.open(conn);
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }

    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.rec.close(conn, reason);
    }
}

/// Plain echo.
#[derive(Debug, Default)]
pub(crate) struct Echo;

impl EventHandler for Echo {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }
}

/// Polls `value` until it has stayed the same for `settle` (something that
/// was moving has stopped: a stalled pipeline); panics naming `what` if it
/// has not within `timeout`. Returns the settled value.
pub(crate) fn wait_until_steady<T: PartialEq + std::fmt::Debug>(
    timeout: Duration,
    settle: Duration,
    what: &str,
    mut value: impl FnMut() -> T,
) -> T {
    let deadline = Instant::now() + timeout;
    let (mut last, mut since) = (value(), Instant::now());
    loop {
        std::thread::sleep(Duration::from_millis(10));
        let now = value();
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() >= settle {
            return last;
        }
        assert!(
            Instant::now() < deadline,
            "{what} still moving after {timeout:?} (last {last:?})"
        );
    }
}

/// This process's resident set size (VmRSS), in KiB.
pub(crate) fn vm_rss_kib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A UDP client socket on 127.0.0.1 with [`IO_TIMEOUT`] on reads.
pub(crate) fn udp_client() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

/// The address of the engine's first UDP listener.
pub(crate) fn udp_addr(engine: &EngineHandle) -> SocketAddr {
    engine
        .local_addrs()
        .iter()
        .find_map(|a| match a {
            Address::Udp(a) => Some(*a),
            _ => None,
        })
        .expect("the engine has no UDP listener")
}

/// Receives the next datagram on `s`, asserting it came from `from`; a
/// missing one fails the test after the socket's read timeout.
pub(crate) fn recv_datagram(s: &UdpSocket, from: SocketAddr) -> Vec<u8> {
    let mut buf = vec![0u8; 64 * 1024];
    let (n, sender) = s
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("no datagram from {from} arrived at {}: {e}", s.local_addr().unwrap()));
    assert_eq!(sender, from, "a datagram from an unexpected sender");
    buf.truncate(n);
    buf
}

/// Sends `msg` to `to` and returns the one datagram that comes back.
pub(crate) fn udp_round_trip(s: &UdpSocket, to: SocketAddr, msg: &[u8]) -> Vec<u8> {
    s.send_to(msg, to).unwrap();
    recv_datagram(s, to)
}

/// A fresh, empty directory under the test target's scratch space, named
/// for the test and this process (for Unix socket paths and the like).
pub(crate) fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
