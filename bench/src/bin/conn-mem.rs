//! Memory per connection of a running TCP echo server.
//!
//! Given the server's pid and address:
//!
//! 1. waits until the server's fd count (`/proc/PID/fd`) and RSS stop
//!    changing, then reads its memory (baseline);
//! 2. opens `--conns` idle connections, waits (deadline, polling) until the
//!    server holds that many more fds, i.e. has accepted them all, and until
//!    its RSS settles; reads its memory again → bytes per idle connection;
//! 3. sends one `--size`-byte message on every connection, reads every echo
//!    back and checks every byte, waits for RSS to settle again, reads the
//!    memory → bytes per connection after one echo (the connections stay open
//!    and idle).
//!
//! Memory is read twice each time: `VmRSS` and `RssAnon` from
//! `/proc/PID/status` (the kernel's RSS counters, which since Linux 6.2 are
//! per-CPU counters read approximately: off by up to a few hundred KiB) and
//! `Rss` and `Anonymous` from `/proc/PID/smaps_rollup` (a page-table walk,
//! exact). Kernel socket memory is not in either; it is the same for every
//! server.
//!
//! Prints one human line (stderr with `--json`, stdout without) and, with
//! `--json`, one JSON line on stdout. Exits 1 on any connect, echo or
//! verification error, or when a deadline passes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use netreactor_bench::{parse_addr, raise_nofile_limit, Flags};

const USAGE: &str = "\
conn-mem: memory per idle connection of a running server

  --addr IP:PORT        server address (127.0.0.1:9000)
  --server-pid PID      the server's pid (required)
  --conns N             idle connections to open (10000)
  --size BYTES          bytes of the one message echoed per connection (64)
  --timeout SECS        deadline for each wait (accepts, echoes, settling) (60)
  --settle-ms MS        memory counts as settled when unchanged for this long (300)
  --label NAME          copied into the output
  --json                also print one JSON line on stdout";

/// Memory of a process in KiB, from both sources.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Mem {
    /// `VmRSS` from /proc/PID/status.
    vm_rss: u64,
    /// `RssAnon` from /proc/PID/status.
    rss_anon: u64,
    /// `Rss` from /proc/PID/smaps_rollup (0 if unreadable).
    smaps_rss: u64,
    /// `Anonymous` from /proc/PID/smaps_rollup (0 if unreadable).
    smaps_anon: u64,
}

fn kb_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

fn read_mem(pid: &str) -> Option<Mem> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    Some(Mem {
        vm_rss: kb_field(&status, "VmRSS")?,
        rss_anon: kb_field(&status, "RssAnon").unwrap_or(0),
        smaps_rss: kb_field(&rollup, "Rss").unwrap_or(0),
        smaps_anon: kb_field(&rollup, "Anonymous").unwrap_or(0),
    })
}

fn fd_count(pid: &str) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// Polls until `sample` returns the same value for `settle` in a row
/// (sampling every `step`), or the deadline passes. Returns the last value
/// and whether it settled.
fn settle<T: PartialEq + Copy>(
    mut sample: impl FnMut() -> Option<T>,
    settle: Duration,
    deadline: Instant,
) -> Option<(T, bool)> {
    let step = Duration::from_millis(20);
    let mut last = sample()?;
    let mut since = Instant::now();
    loop {
        if since.elapsed() >= settle {
            return Some((last, true));
        }
        if Instant::now() >= deadline {
            return Some((last, false));
        }
        std::thread::sleep(step);
        let v = sample()?;
        if v != last {
            last = v;
            since = Instant::now();
        }
    }
}

/// Byte `i` of the message on connection `c`: the connection number in the
/// first 4 bytes (little endian), then a pattern of (connection, offset).
fn msg_byte(c: u32, i: usize) -> u8 {
    if i < 4 {
        c.to_le_bytes()[i]
    } else {
        ((i as u32)
            .wrapping_mul(0x9E37_79B1)
            .wrapping_add(c.wrapping_mul(0x85EB_CA6B))
            >> 24) as u8
    }
}

fn die(msg: &str) -> ! {
    eprintln!("conn-mem: {msg}");
    std::process::exit(1)
}

fn main() {
    let flags = Flags::parse(USAGE, &["json"]);
    flags.only(&[
        "addr",
        "server-pid",
        "conns",
        "size",
        "timeout",
        "settle-ms",
        "label",
        "json",
    ]);
    let addr: SocketAddr =
        parse_addr(flags.get("addr").unwrap_or("127.0.0.1:9000")).unwrap_or_else(|| flags.fail("bad --addr"));
    let pid = flags
        .get("server-pid")
        .unwrap_or_else(|| flags.fail("--server-pid is required"))
        .to_owned();
    let conns: usize = flags.or("conns", 10_000usize);
    let size: usize = flags.or("size", 64usize).max(1);
    let timeout = Duration::from_secs_f64(flags.or("timeout", 60.0f64));
    let settle_for = Duration::from_millis(flags.or("settle-ms", 300u64));
    let label = flags.get("label").unwrap_or("").to_owned();
    let json = flags.on("json");

    let limit = raise_nofile_limit();
    if (limit as usize) < conns + 16 {
        die(&format!("RLIMIT_NOFILE is {limit}, too low for {conns} connections"));
    }
    let mem = || read_mem(&pid);
    let fds = || fd_count(&pid);

    // 1. Baseline: fds and memory settled (the harness's readiness probe may
    // still be closing).
    let (fd0, fd_ok) = settle(fds, settle_for, Instant::now() + timeout).unwrap_or_else(|| gone(&pid));
    let (m0, ok0) = settle(mem, settle_for, Instant::now() + timeout).unwrap_or_else(|| gone(&pid));
    if !fd_ok || !ok0 {
        eprintln!("conn-mem: warning: baseline did not settle within the deadline");
    }

    // 2. Idle connections.
    let t_connect = Instant::now();
    let mut streams = Vec::with_capacity(conns);
    for _ in 0..conns {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                streams.push(s);
            }
            Err(e) => die(&format!("connect {addr} (after {} connections): {e}", streams.len())),
        }
    }
    let connect_s = t_connect.elapsed().as_secs_f64();
    let deadline = Instant::now() + timeout;
    let mut fd1 = fds().unwrap_or_else(|| gone(&pid));
    while fd1 < fd0 + conns {
        if Instant::now() >= deadline {
            die(&format!(
                "server holds {} fds, expected {} ({fd0} + {conns}) within {:?}",
                fd1,
                fd0 + conns,
                timeout
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
        fd1 = fds().unwrap_or_else(|| gone(&pid));
    }
    let accept_s = t_connect.elapsed().as_secs_f64();
    let (m1, ok1) = settle(mem, settle_for, Instant::now() + timeout).unwrap_or_else(|| gone(&pid));
    if !ok1 {
        eprintln!("conn-mem: warning: RSS with idle connections did not settle within the deadline");
    }

    // 3. One echo per connection: send all, then read all back.
    let t_echo = Instant::now();
    let mut msg = vec![0u8; size];
    for (c, s) in streams.iter_mut().enumerate() {
        for (i, b) in msg.iter_mut().enumerate() {
            *b = msg_byte(c as u32, i);
        }
        if let Err(e) = s.write_all(&msg) {
            die(&format!("write on connection {c}: {e}"));
        }
    }
    let mut buf = vec![0u8; size];
    for (c, s) in streams.iter_mut().enumerate() {
        let left = deadline_left(t_echo + timeout).unwrap_or_else(|| die("echo deadline passed"));
        let _ = s.set_read_timeout(Some(left));
        if let Err(e) = s.read_exact(&mut buf) {
            die(&format!("reading the echo on connection {c}: {e}"));
        }
        if let Some(i) = (0..size).find(|&i| buf[i] != msg_byte(c as u32, i)) {
            die(&format!(
                "connection {c}: echoed byte {i} is {:#04x}, sent {:#04x}",
                buf[i],
                msg_byte(c as u32, i)
            ));
        }
    }
    let echo_s = t_echo.elapsed().as_secs_f64();
    let (m2, ok2) = settle(mem, settle_for, Instant::now() + timeout).unwrap_or_else(|| gone(&pid));
    if !ok2 {
        eprintln!("conn-mem: warning: RSS after the echoes did not settle within the deadline");
    }
    let fd2 = fds().unwrap_or(0);

    // Bytes per connection: growth over the baseline / connections.
    let per = |a: u64, b: u64| (b as f64 - a as f64) * 1024.0 / conns as f64;
    let idle = per(m0.vm_rss, m1.vm_rss);
    let idle_anon = per(m0.rss_anon, m1.rss_anon);
    let echo = per(m0.vm_rss, m2.vm_rss);
    let echo_anon = per(m0.rss_anon, m2.rss_anon);
    let idle_smaps = per(m0.smaps_rss, m1.smaps_rss);
    let echo_smaps = per(m0.smaps_rss, m2.smaps_rss);

    let human = format!(
        "{label}{}conns={conns}: idle {idle:.0} B/conn (anon {idle_anon:.0}, smaps {idle_smaps:.0}), \
         after one {size}-byte echo {echo:.0} B/conn (anon {echo_anon:.0}, smaps {echo_smaps:.0}); \
         VmRSS {} -> {} -> {} KiB; fds {fd0} -> {fd1} -> {fd2}; connect {connect_s:.2}s, accepted by {accept_s:.2}s, \
         echoes {echo_s:.2}s",
        if label.is_empty() { "" } else { ": " },
        m0.vm_rss,
        m1.vm_rss,
        m2.vm_rss,
    );
    if json {
        eprintln!("{human}");
        println!(
            "{{\"kind\":\"conn-mem\",\"label\":\"{}\",\"addr\":\"{addr}\",\"conns\":{conns},\"size\":{size},\
             \"vm_rss_kib\":[{},{},{}],\"rss_anon_kib\":[{},{},{}],\"smaps_rss_kib\":[{},{},{}],\
             \"smaps_anon_kib\":[{},{},{}],\"fds\":[{fd0},{fd1},{fd2}],\
             \"idle_b_per_conn\":{idle:.1},\"idle_anon_b_per_conn\":{idle_anon:.1},\
             \"idle_smaps_b_per_conn\":{idle_smaps:.1},\"echo_b_per_conn\":{echo:.1},\
             \"echo_anon_b_per_conn\":{echo_anon:.1},\"echo_smaps_b_per_conn\":{echo_smaps:.1},\
             \"settled\":{},\"connect_s\":{connect_s:.3},\"accept_s\":{accept_s:.3},\"echo_s\":{echo_s:.3},\
             \"errors\":0}}",
            label.replace(['"', '\\'], "_"),
            m0.vm_rss,
            m1.vm_rss,
            m2.vm_rss,
            m0.rss_anon,
            m1.rss_anon,
            m2.rss_anon,
            m0.smaps_rss,
            m1.smaps_rss,
            m2.smaps_rss,
            m0.smaps_anon,
            m1.smaps_anon,
            m2.smaps_anon,
            ok0 && ok1 && ok2,
        );
    } else {
        println!("{human}");
    }
}

fn gone<T>(pid: &str) -> T {
    die(&format!("cannot read /proc/{pid} (server gone?)"))
}

fn deadline_left(deadline: Instant) -> Option<Duration> {
    let left = deadline.checked_duration_since(Instant::now())?;
    (!left.is_zero()).then_some(left)
}
