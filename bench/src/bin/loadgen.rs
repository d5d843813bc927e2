//! Load generator for TCP echo servers.
//!
//! Each client thread owns a share of the connections and drives them from
//! one epoll instance (level-triggered, nonblocking sockets), so 10,000
//! connections run on one core. Every echoed byte is checked: a message
//! carries its per-connection sequence number and a pattern derived from
//! (connection, sequence, offset).
//!
//! Closed loop (`--rate 0`, the default): every connection keeps
//! `--pipeline` messages in flight; latency is measured from the moment a
//! message is queued to the moment its last byte comes back.
//!
//! Open loop (`--rate R`): R messages per second in total are scheduled at
//! fixed times, round-robin over each thread's connections, whatever the
//! server does; latency is measured from the *scheduled* send time, so a
//! stalled server shows up in the tail instead of being hidden by the client
//! waiting for it (coordinated omission). `--pipeline` is ignored.

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{IntoRawFd, RawFd};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use netreactor_bench::{parse_addr, proc_cpu_us, proc_user_sys_us, raise_nofile_limit, Flags};

const USAGE: &str = "\
loadgen: drive a TCP echo server and measure it

  --addr IP:PORT        server address (127.0.0.1:9000)
  --conns N             connections (100)
  --size BYTES          payload bytes per message (64)
  --pipeline K          messages in flight per connection, closed loop (1)
  --duration SECS       measured window (5)
  --warmup SECS         load before the window, not measured (1)
  --threads T           client threads, each with its own epoll (1)
  --mode echo|lf        echo: raw payloads; lf: 4-byte big-endian length + payload (echo)
  --rate MSGS_PER_SEC   open loop at this total rate, latency from scheduled time (0 = closed loop)
  --server-pid PID      report the server's CPU time per message: the total from its
                        process CPU clock (exact), and user space and kernel apart from
                        utime and stime in /proc/PID/stat (clock ticks: one tick, 10 ms,
                        is the resolution, so over a 4 s window the user figure is good
                        to a few percent; kernels with tick-based accounting also sample
                        the split at each timer tick, ~10-15% per run for a user share
                        of a few percent: compare medians)
  --syscalls            with --server-pid: count the server's system calls in the window
                        (perf stat -e raw_syscalls:sys_enter -p PID)
  --label NAME          copied into the output (the harness puts the server's name here)
  --connect-timeout S   per-connection connect timeout (10)
  --json                one line of JSON instead of text";

const FLAGS: &[&str] = &[
    "addr",
    "conns",
    "size",
    "pipeline",
    "duration",
    "warmup",
    "threads",
    "mode",
    "rate",
    "server-pid",
    "syscalls",
    "label",
    "connect-timeout",
    "json",
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Echo,
    Lf,
}

#[derive(Clone, Debug)]
struct Opts {
    addr: SocketAddr,
    conns: usize,
    size: usize,
    pipeline: usize,
    duration: f64,
    warmup: f64,
    threads: usize,
    mode: Mode,
    rate: f64,
    connect_timeout: f64,
}

impl Opts {
    /// Bytes of one message on the wire.
    fn msg_len(&self) -> usize {
        match self.mode {
            Mode::Echo => self.size,
            Mode::Lf => self.size + 4,
        }
    }
}

/// The message format, shared by sender and checker.
#[derive(Clone, Copy)]
struct Format {
    mode: Mode,
    size: usize,
}

impl Format {
    /// Byte `pos` of message `seq` on connection `conn`.
    #[inline]
    fn byte(self, conn: u32, seq: u64, pos: usize) -> u8 {
        let i = match self.mode {
            Mode::Echo => pos,
            Mode::Lf if pos < 4 => return (self.size as u32).to_be_bytes()[pos],
            Mode::Lf => pos - 4,
        };
        if self.size >= 8 && i < 8 {
            (seq >> (8 * i)) as u8
        } else {
            let x = (i as u32)
                .wrapping_mul(0x9E37_79B1)
                .wrapping_add(conn.wrapping_mul(0x85EB_CA6B))
                .wrapping_add((seq as u32).wrapping_mul(0xC2B2_AE35));
            (x >> 24) as u8
        }
    }

    /// Writes bytes `start..start + out.len()` of a message into `out`.
    fn fill(self, out: &mut [u8], conn: u32, seq: u64, start: usize) {
        for (k, b) in out.iter_mut().enumerate() {
            *b = self.byte(conn, seq, start + k);
        }
    }
}

struct Conn {
    fd: RawFd,
    id: u32,
    tx: Vec<u8>,
    tx_off: usize,
    out_armed: bool,
    next_tx: u64,
    next_rx: u64,
    /// Bytes of message `next_rx` received so far.
    rx_pos: usize,
    /// Send (or scheduled send) time of every message in flight, ns since t0.
    stamps: VecDeque<u64>,
    alive: bool,
    dirty: bool,
}

#[derive(Default)]
struct ThreadResult {
    hist: Option<Histogram<u64>>,
    msgs: u64,
    errors: u64,
    connect_errors: u64,
    connected: u64,
    /// Messages scheduled in the window that the open loop could not even
    /// queue (all connections dead). Counted as errors too.
    unsent: u64,
}

static NO_PWAIT2: AtomicBool = AtomicBool::new(false);

/// epoll_wait with a nanosecond timeout (epoll_pwait2), falling back to
/// millisecond epoll_wait on kernels without it.
fn epoll_wait_ns(epfd: RawFd, events: &mut [libc::epoll_event], timeout_ns: u64) -> i32 {
    if !NO_PWAIT2.load(Ordering::Relaxed) {
        let ts = libc::timespec {
            tv_sec: (timeout_ns / 1_000_000_000) as libc::time_t,
            tv_nsec: (timeout_ns % 1_000_000_000) as libc::c_long,
        };
        // SAFETY: `events` is a valid writable array of `events.len()`
        // entries, `ts` outlives the call, and a null sigmask is allowed.
        let r = unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait2,
                epfd,
                events.as_mut_ptr(),
                events.len() as libc::c_int,
                &ts as *const libc::timespec,
                std::ptr::null::<libc::sigset_t>(),
                8usize,
            )
        };
        if r >= 0 {
            return r as i32;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS) {
            return -1;
        }
        NO_PWAIT2.store(true, Ordering::Relaxed);
    }
    let ms = timeout_ns.div_ceil(1_000_000).min(i32::MAX as u64) as i32;
    // SAFETY: as above.
    unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), events.len() as i32, ms) }
}

fn epoll_ctl(epfd: RawFd, op: i32, fd: RawFd, events: u32, data: u64) -> bool {
    let mut ev = libc::epoll_event { events, u64: data };
    // SAFETY: `ev` is a valid epoll_event; bad fds only make the call fail.
    unsafe { libc::epoll_ctl(epfd, op, fd, &mut ev) == 0 }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

struct Worker {
    o: Opts,
    fmt: Format,
    msg_len: usize,
    epfd: RawFd,
    conns: Vec<Conn>,
    rbuf: Vec<u8>,
    scratch: Vec<u8>,
    warm_end: u64,
    meas_end: u64,
    res: ThreadResult,
    hist: Histogram<u64>,
    reported_mismatch: bool,
}

impl Worker {
    fn in_window(&self, now: u64) -> bool {
        now >= self.warm_end && now < self.meas_end
    }

    /// Appends the next message to the connection's output.
    fn queue(&mut self, ci: usize, stamp: u64) {
        let fmt = self.fmt;
        let len = self.msg_len;
        let c = &mut self.conns[ci];
        let start = c.tx.len();
        c.tx.resize(start + len, 0);
        fmt.fill(&mut c.tx[start..], c.id, c.next_tx, 0);
        c.next_tx += 1;
        c.stamps.push_back(stamp);
        c.dirty = true;
    }

    fn kill(&mut self, ci: usize, why: &str) {
        let c = &mut self.conns[ci];
        if !c.alive {
            return;
        }
        c.alive = false;
        epoll_ctl(self.epfd, libc::EPOLL_CTL_DEL, c.fd, 0, 0);
        // SAFETY: the fd is ours and closed exactly once (alive was true).
        unsafe { libc::close(c.fd) };
        self.res.errors += 1;
        if self.res.errors <= 5 {
            eprintln!("loadgen: connection {} failed: {why}", c.id);
        }
    }

    /// Writes as much queued output as the socket takes.
    fn flush(&mut self, ci: usize) {
        let c = &mut self.conns[ci];
        c.dirty = false;
        if !c.alive {
            return;
        }
        while c.tx_off < c.tx.len() {
            let rest = &c.tx[c.tx_off..];
            // SAFETY: `rest` is a valid readable slice.
            let n = unsafe { libc::write(c.fd, rest.as_ptr().cast(), rest.len()) };
            if n > 0 {
                c.tx_off += n as usize;
                continue;
            }
            let e = errno();
            if n < 0 && e == libc::EINTR {
                continue;
            }
            if n < 0 && e == libc::EAGAIN {
                if !c.out_armed {
                    c.out_armed = true;
                    let (fd, id) = (c.fd, ci as u64);
                    epoll_ctl(
                        self.epfd,
                        libc::EPOLL_CTL_MOD,
                        fd,
                        (libc::EPOLLIN | libc::EPOLLOUT) as u32,
                        id,
                    );
                }
                return;
            }
            let msg = format!("write: {}", std::io::Error::from_raw_os_error(e));
            self.kill(ci, &msg);
            return;
        }
        c.tx.clear();
        c.tx_off = 0;
        if c.out_armed {
            c.out_armed = false;
            let (fd, id) = (c.fd, ci as u64);
            epoll_ctl(self.epfd, libc::EPOLL_CTL_MOD, fd, libc::EPOLLIN as u32, id);
        }
    }

    /// One read, every byte checked, completed messages recorded (and, in
    /// closed loop, replaced by new ones).
    fn readable(&mut self, ci: usize, now: u64) {
        if !self.conns[ci].alive {
            return;
        }
        let fd = self.conns[ci].fd;
        let mut rbuf = std::mem::take(&mut self.rbuf);
        // SAFETY: `rbuf` is a valid writable buffer of its length.
        let n = unsafe { libc::read(fd, rbuf.as_mut_ptr().cast(), rbuf.len()) };
        if n <= 0 {
            self.rbuf = rbuf;
            let e = errno();
            if n < 0 && (e == libc::EAGAIN || e == libc::EINTR) {
                return;
            }
            let why = if n == 0 {
                "server closed the connection".to_string()
            } else {
                format!("read: {}", std::io::Error::from_raw_os_error(e))
            };
            self.kill(ci, &why);
            return;
        }
        let mut data = &rbuf[..n as usize];
        let closed_loop = self.o.rate <= 0.0;
        let mut completed = 0usize;
        while !data.is_empty() {
            let c = &mut self.conns[ci];
            if c.next_rx >= c.next_tx {
                let msg = format!("{} unexpected bytes received", data.len());
                self.rbuf = rbuf;
                self.kill(ci, &msg);
                return;
            }
            let take = (self.msg_len - c.rx_pos).min(data.len());
            let exp = &mut self.scratch[..take];
            self.fmt.fill(exp, c.id, c.next_rx, c.rx_pos);
            if exp != &data[..take] {
                let off = exp.iter().zip(data).position(|(a, b)| a != b).unwrap_or(0);
                let msg = format!(
                    "payload mismatch in message {} at byte {} (expected {:#04x}, got {:#04x})",
                    c.next_rx,
                    c.rx_pos + off,
                    exp[off],
                    data[off]
                );
                if !self.reported_mismatch {
                    self.reported_mismatch = true;
                    eprintln!("loadgen: {msg}");
                }
                self.rbuf = rbuf;
                self.kill(ci, &msg);
                return;
            }
            data = &data[take..];
            c.rx_pos += take;
            if c.rx_pos == self.msg_len {
                c.rx_pos = 0;
                c.next_rx += 1;
                let sent = c.stamps.pop_front().unwrap_or(now);
                if now >= self.warm_end && now < self.meas_end {
                    self.hist.saturating_record(now.saturating_sub(sent).max(1));
                    self.res.msgs += 1;
                }
                completed += 1;
            }
        }
        self.rbuf = rbuf;
        if closed_loop && now < self.meas_end {
            for _ in 0..completed {
                self.queue(ci, now);
            }
        }
        if self.conns[ci].dirty {
            self.flush(ci);
        }
    }

    fn run(&mut self, t0: Instant) {
        let ns = |t0: Instant| t0.elapsed().as_nanos() as u64;
        let rate_mode = self.o.rate > 0.0;
        let n = self.conns.len();
        let now = ns(t0);
        if !rate_mode {
            for ci in 0..n {
                if self.conns[ci].alive {
                    for _ in 0..self.o.pipeline.max(1) {
                        self.queue(ci, now);
                    }
                    self.flush(ci);
                }
            }
        }
        // Open loop: this thread's share of the total rate.
        let interval_ns = if rate_mode && n > 0 {
            let thread_rate = self.o.rate * n as f64 / self.o.conns as f64;
            1e9 / thread_rate
        } else {
            f64::INFINITY
        };
        let mut next_msg: u64 = 0;
        let mut dirty: Vec<usize> = Vec::new();
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
        loop {
            let mut now = ns(t0);
            if now >= self.meas_end {
                break;
            }
            if rate_mode {
                loop {
                    let due = (next_msg as f64 * interval_ns) as u64;
                    if due > now || due >= self.meas_end {
                        break;
                    }
                    // Round-robin over the live connections.
                    let mut ci = (next_msg % n as u64) as usize;
                    let mut tries = 0;
                    while !self.conns[ci].alive && tries < n {
                        ci = (ci + 1) % n;
                        tries += 1;
                    }
                    if self.conns[ci].alive {
                        if !self.conns[ci].dirty {
                            dirty.push(ci);
                        }
                        self.queue(ci, due);
                    } else if self.in_window(due) {
                        self.res.unsent += 1;
                    }
                    next_msg += 1;
                }
                for ci in dirty.drain(..) {
                    self.flush(ci);
                }
            }
            let until = if rate_mode {
                ((next_msg as f64 * interval_ns) as u64).min(self.meas_end)
            } else {
                self.meas_end.min(now + 100_000_000)
            };
            let timeout = until.saturating_sub(ns(t0));
            let got = epoll_wait_ns(self.epfd, &mut events, timeout);
            if got < 0 {
                if errno() == libc::EINTR {
                    continue;
                }
                eprintln!("loadgen: epoll_wait: {}", std::io::Error::last_os_error());
                self.res.errors += 1;
                break;
            }
            now = ns(t0);
            for ev in &events[..got as usize] {
                let (flags, ci) = (ev.events, ev.u64 as usize);
                if flags & (libc::EPOLLIN | libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0 {
                    self.readable(ci, now);
                }
                if flags & libc::EPOLLOUT as u32 != 0 {
                    self.flush(ci);
                }
            }
        }
        for c in &mut self.conns {
            if c.alive {
                c.alive = false;
                // SAFETY: our fd, closed once.
                unsafe { libc::close(c.fd) };
            }
        }
        // SAFETY: our epoll fd, closed once.
        unsafe { libc::close(self.epfd) };
    }
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000_000, 3).expect("valid histogram bounds")
}

/// Connects this thread's connections (blocking connect, then nonblocking).
fn connect_all(o: &Opts, ids: std::ops::Range<usize>, epfd: RawFd, res: &mut ThreadResult) -> Vec<Conn> {
    let mut conns = Vec::with_capacity(ids.len());
    let timeout = Duration::from_secs_f64(o.connect_timeout.max(0.001));
    for id in ids {
        let stream = match TcpStream::connect_timeout(&o.addr, timeout) {
            Ok(s) => s,
            Err(e) => {
                res.connect_errors += 1;
                if res.connect_errors <= 3 {
                    eprintln!("loadgen: connect {}: {e}", o.addr);
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        if stream.set_nonblocking(true).is_err() {
            res.connect_errors += 1;
            continue;
        }
        let fd = stream.into_raw_fd();
        let idx = conns.len() as u64;
        if !epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32, idx) {
            res.connect_errors += 1;
            // SAFETY: our fd, closed once.
            unsafe { libc::close(fd) };
            continue;
        }
        conns.push(Conn {
            fd,
            id: id as u32,
            tx: Vec::new(),
            tx_off: 0,
            out_armed: false,
            next_tx: 0,
            next_rx: 0,
            rx_pos: 0,
            stamps: VecDeque::new(),
            alive: true,
            dirty: false,
        });
    }
    res.connected = conns.len() as u64;
    conns
}

fn start_perf(pid: &str) -> Option<Child> {
    Command::new("perf")
        .args(["stat", "-x,", "-e", "raw_syscalls:sys_enter", "-p", pid])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| eprintln!("loadgen: cannot run perf: {e}"))
        .ok()
}

fn stop_perf(child: Child) -> Option<u64> {
    // SAFETY: kill on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let out = child.wait_with_output().ok()?;
    let text = String::from_utf8_lossy(&out.stderr);
    let count = text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(',').collect();
        (f.len() > 2 && f[2].starts_with("raw_syscalls:sys_enter"))
            .then(|| f[0].trim().parse::<u64>().ok())
            .flatten()
    });
    if count.is_none() {
        eprintln!("loadgen: perf gave no syscall count: {}", text.trim());
    }
    count
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

fn num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.3}"),
        _ => "null".to_string(),
    }
}

/// Like `num`, with 4 decimals: the user-space share per message can be a
/// few hundredths of a µs.
fn num4(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.4}"),
        _ => "null".to_string(),
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn main() {
    let flags = Flags::parse(USAGE, &["json", "syscalls"]);
    flags.only(FLAGS);
    let addr_s = flags.get("addr").unwrap_or("127.0.0.1:9000");
    let addr = parse_addr(addr_s).unwrap_or_else(|| flags.fail(&format!("bad --addr {addr_s:?}")));
    let mode = match flags.get("mode").unwrap_or("echo") {
        "echo" => Mode::Echo,
        "lf" => Mode::Lf,
        m => flags.fail(&format!("bad --mode {m:?}")),
    };
    let o = Opts {
        addr,
        conns: flags.or("conns", 100usize).max(1),
        size: flags.or("size", 64usize).max(1),
        pipeline: flags.or("pipeline", 1usize).max(1),
        duration: flags.or("duration", 5.0f64).max(0.1),
        warmup: flags.or("warmup", 1.0f64).max(0.0),
        threads: flags.or("threads", 1usize).max(1),
        mode,
        rate: flags.or("rate", 0.0f64).max(0.0),
        connect_timeout: flags.or("connect-timeout", 10.0f64),
    };
    let server_pid: Option<String> = flags.get("server-pid").map(str::to_owned);
    let syscalls = flags.on("syscalls");
    if syscalls && server_pid.is_none() {
        flags.fail("--syscalls needs --server-pid");
    }
    let label = flags.get("label").unwrap_or("").to_owned();
    let json = flags.on("json");
    raise_nofile_limit();

    let threads = o.threads.min(o.conns);
    let barrier = Arc::new(Barrier::new(threads + 1));
    let start: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let warm_end = (o.warmup * 1e9) as u64;
    let meas_end = warm_end + (o.duration * 1e9) as u64;
    let fmt = Format { mode, size: o.size };
    let mut handles = Vec::new();
    for t in 0..threads {
        let lo = o.conns * t / threads;
        let hi = o.conns * (t + 1) / threads;
        let (o, barrier, start) = (o.clone(), barrier.clone(), start.clone());
        let h = std::thread::Builder::new()
            .name(format!("loadgen-{t}"))
            .spawn(move || {
                let mut res = ThreadResult::default();
                // SAFETY: plain syscall.
                let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
                let conns = if epfd >= 0 {
                    connect_all(&o, lo..hi, epfd, &mut res)
                } else {
                    res.connect_errors += (hi - lo) as u64;
                    Vec::new()
                };
                barrier.wait(); // everyone connected
                barrier.wait(); // start time set
                let t0 = *start.get().expect("start time set before the second barrier");
                if epfd < 0 {
                    return res;
                }
                let msg_len = o.msg_len();
                let mut w = Worker {
                    fmt,
                    msg_len,
                    epfd,
                    conns,
                    rbuf: vec![0; 256 * 1024],
                    scratch: vec![0; msg_len.max(256 * 1024)],
                    warm_end,
                    meas_end,
                    res,
                    hist: new_hist(),
                    reported_mismatch: false,
                    o,
                };
                w.run(t0);
                let mut res = w.res;
                res.hist = Some(w.hist);
                res
            })
            .expect("spawn client thread");
        handles.push(h);
    }
    let connect_started = Instant::now();
    barrier.wait();
    let connect_secs = connect_started.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let _ = start.set(t0);
    barrier.wait();

    sleep_until(t0 + Duration::from_nanos(warm_end));
    let srv0 = server_pid.as_deref().and_then(proc_cpu_us);
    let srv_us0 = server_pid.as_deref().and_then(proc_user_sys_us);
    let cli0 = proc_cpu_us("self");
    let perf = if syscalls {
        server_pid.as_deref().and_then(start_perf)
    } else {
        None
    };
    sleep_until(t0 + Duration::from_nanos(meas_end));
    let srv1 = server_pid.as_deref().and_then(proc_cpu_us);
    let srv_us1 = server_pid.as_deref().and_then(proc_user_sys_us);
    let cli1 = proc_cpu_us("self");
    let syscall_count = perf.and_then(stop_perf);

    let mut hist = new_hist();
    let (mut msgs, mut errors, mut connect_errors, mut connected, mut unsent) = (0, 0, 0, 0, 0);
    for h in handles {
        match h.join() {
            Ok(r) => {
                if let Some(th) = &r.hist {
                    hist.add(th).expect("same histogram bounds");
                }
                msgs += r.msgs;
                errors += r.errors;
                connect_errors += r.connect_errors;
                connected += r.connected;
                unsent += r.unsent;
            }
            Err(_) => errors += 1,
        }
    }
    errors += connect_errors + unsent;

    let secs = o.duration;
    let msgs_per_s = msgs as f64 / secs;
    let mib_per_s = msgs as f64 * o.msg_len() as f64 / secs / (1024.0 * 1024.0);
    let per_msg = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) if msgs > 0 => Some(b.saturating_sub(a) as f64 / msgs as f64),
        _ => None,
    };
    let util = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / (secs * 1e6)),
        _ => None,
    };
    let srv_us = per_msg(srv0, srv1);
    // User space and kernel apart, from /proc/PID/stat (tick resolution).
    let srv_user_us = per_msg(srv_us0.map(|t| t.0), srv_us1.map(|t| t.0));
    let srv_sys_us = per_msg(srv_us0.map(|t| t.1), srv_us1.map(|t| t.1));
    let cli_us = per_msg(cli0, cli1);
    let srv_util = util(srv0, srv1);
    let cli_util = util(cli0, cli1);
    let sys_per_msg = syscall_count.filter(|_| msgs > 0).map(|c| c as f64 / msgs as f64);
    let q = |p: f64| {
        if hist.is_empty() {
            None
        } else {
            Some(hist.value_at_quantile(p) as f64 / 1000.0)
        }
    };
    let (p50, p99, p999) = (q(0.5), q(0.99), q(0.999));
    let max = (!hist.is_empty()).then(|| hist.max() as f64 / 1000.0);
    let mean = (!hist.is_empty()).then(|| hist.mean() / 1000.0);
    let mode_s = match mode {
        Mode::Echo => "echo",
        Mode::Lf => "lf",
    };

    if json {
        println!(
            "{{\"label\":{},\"mode\":\"{mode_s}\",\"addr\":\"{}\",\"conns\":{},\"connected\":{connected},\
             \"threads\":{threads},\"size\":{},\"pipeline\":{},\"rate\":{},\"duration_s\":{},\
             \"warmup_s\":{},\"msgs\":{msgs},\"msgs_per_s\":{},\"mib_per_s\":{},\"p50_us\":{},\
             \"p99_us\":{},\"p999_us\":{},\"max_us\":{},\"mean_us\":{},\
             \"server_cpu_us_per_msg\":{},\"server_cpu_util\":{},\"client_cpu_us_per_msg\":{},\
             \"client_cpu_util\":{},\"server_syscalls_per_msg\":{},\"errors\":{errors},\
             \"connect_errors\":{connect_errors},\"connect_s\":{},\"server_user_us_per_msg\":{},\
             \"server_sys_us_per_msg\":{}}}",
            json_str(&label),
            o.addr,
            o.conns,
            o.size,
            o.pipeline,
            num(Some(o.rate)),
            num(Some(o.duration)),
            num(Some(o.warmup)),
            num(Some(msgs_per_s)),
            num(Some(mib_per_s)),
            num(p50),
            num(p99),
            num(p999),
            num(max),
            num(mean),
            num(srv_us),
            num(srv_util),
            num(cli_us),
            num(cli_util),
            num(sys_per_msg),
            num(Some(connect_secs)),
            num4(srv_user_us),
            num4(srv_sys_us),
        );
    } else {
        let f = |v: Option<f64>| v.map_or("n/a".to_string(), |x| format!("{x:.2}"));
        println!(
            "{label}{}mode={mode_s} conns={} (connected {connected}, {connect_secs:.2}s) threads={threads} \
             size={} pipeline={} rate={}",
            if label.is_empty() { "" } else { ": " },
            o.conns,
            o.size,
            if o.rate > 0.0 { 1 } else { o.pipeline },
            if o.rate > 0.0 {
                format!("{}", o.rate)
            } else {
                "closed loop".into()
            },
        );
        println!("  messages/s    {msgs_per_s:.0}  ({mib_per_s:.2} MiB/s each way, {msgs} in {secs}s)");
        println!(
            "  latency µs    p50 {}  p99 {}  p99.9 {}  max {}  mean {}",
            f(p50),
            f(p99),
            f(p999),
            f(max),
            f(mean)
        );
        println!("  server CPU    {} µs/msg ({} cores)", f(srv_us), f(srv_util));
        println!(
            "  server split  user {} + kernel {} µs/msg (/proc/PID/stat, 10 ms ticks)",
            f(srv_user_us),
            f(srv_sys_us)
        );
        println!("  client CPU    {} µs/msg ({} cores)", f(cli_us), f(cli_util));
        if syscalls {
            println!("  server syscalls/msg {}", f(sys_per_msg));
        }
        println!("  errors        {errors} (connect {connect_errors})");
    }
    if errors > 0 {
        std::process::exit(1);
    }
}
