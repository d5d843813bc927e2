//! Shared helpers for the benchmark binaries: flag parsing, raising the file
//! descriptor limit, `SO_REUSEPORT` listeners, CPU time from `/proc`, and the
//! one line every server prints when it is ready (`pid=PID addr=IP:PORT`).

use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::str::FromStr;

/// Listen backlog for every server in the harness (the kernel caps it at
/// `net.core.somaxconn`). Equal for all so that none is favoured at connect time.
pub const BACKLOG: i32 = 4096;

/// `--flag value` pairs (and bare `--flag` switches) from the command line.
#[derive(Debug, Default)]
pub struct Flags {
    values: HashMap<String, String>,
    usage: &'static str,
}

impl Flags {
    /// Parses `std::env::args()`. `switches` are flags that take no value.
    /// Exits with `usage` on `--help` or on a malformed command line.
    pub fn parse(usage: &'static str, switches: &[&str]) -> Flags {
        let mut flags = Flags {
            values: HashMap::new(),
            usage,
        };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            if arg == "-h" || arg == "--help" {
                println!("{usage}");
                std::process::exit(0);
            }
            let Some(name) = arg.strip_prefix("--") else {
                flags.fail(&format!("unexpected argument {arg:?}"));
            };
            if let Some((k, v)) = name.split_once('=') {
                flags.values.insert(k.to_owned(), v.to_owned());
            } else if switches.contains(&name) {
                flags.values.insert(name.to_owned(), "1".to_owned());
            } else {
                let Some(v) = it.next() else {
                    flags.fail(&format!("--{name} needs a value"));
                };
                flags.values.insert(name.to_owned(), v);
            }
        }
        flags
    }

    /// Prints `msg` and the usage text, then exits with status 2.
    pub fn fail(&self, msg: &str) -> ! {
        eprintln!("error: {msg}\n\n{}", self.usage);
        std::process::exit(2)
    }

    /// The raw value of `--name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// True if the switch `--name` was given (or `--name 1`/`true`).
    pub fn on(&self, name: &str) -> bool {
        matches!(self.get(name), Some("1" | "true" | "yes" | "on"))
    }

    /// `--name` parsed as `T`, or `default` when absent; exits on a bad value.
    pub fn or<T: FromStr>(&self, name: &str, default: T) -> T {
        match self.get(name) {
            None => default,
            Some(v) => v
                .parse()
                .unwrap_or_else(|_| self.fail(&format!("bad value {v:?} for --{name}"))),
        }
    }

    /// Rejects any flag not in `known`.
    pub fn only(&self, known: &[&str]) {
        for k in self.values.keys() {
            if !known.contains(&k.as_str()) {
                self.fail(&format!("unknown flag --{k}"));
            }
        }
    }
}

/// Raises `RLIMIT_NOFILE` to its hard limit (10,000 connections need it).
pub fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    if lim.rlim_cur < lim.rlim_max {
        let want = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `want` is a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
            return want.rlim_cur;
        }
    }
    lim.rlim_cur
}

/// Prints the ready line the harness waits for: `pid=PID addr=IP:PORT`.
pub fn announce(name: &str, addr: SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "pid={} addr={addr} server={name}", std::process::id());
    let _ = out.flush();
}

/// A bound, listening TCP socket with `SO_REUSEADDR` and, if asked,
/// `SO_REUSEPORT`, in blocking mode.
pub fn listener(addr: SocketAddr, reuse_port: bool) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    if reuse_port {
        sock.set_reuse_port(true)?;
    }
    sock.bind(&addr.into())?;
    sock.listen(BACKLOG)?;
    Ok(sock.into())
}

/// `n` listeners sharing one port through `SO_REUSEPORT`; port 0 picks a
/// free port for the first and reuses it for the rest.
pub fn reuseport_listeners(addr: SocketAddr, n: usize) -> std::io::Result<Vec<TcpListener>> {
    let first = listener(addr, true)?;
    let bound = first.local_addr()?;
    let mut v = vec![first];
    for _ in 1..n.max(1) {
        v.push(listener(bound, true)?);
    }
    Ok(v)
}

/// Clock ticks per second for `/proc/*/stat` times.
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// CPU time of a process (all its threads, user + system), in microseconds,
/// or `None` if the process is gone. `pid` may be `"self"`.
///
/// Reads the process CPU-time clock (`clock_getcpuclockid` +
/// `clock_gettime`, exact to the nanosecond and including threads that have
/// exited), and falls back to utime + stime from `/proc/<pid>/stat`, which the
/// kernel reports in clock ticks (10 ms at 100 Hz). Both include the loopback
/// receive processing the kernel does in the sending thread's context.
pub fn proc_cpu_us(pid: &str) -> Option<u64> {
    let clock = if pid == "self" {
        Some(libc::CLOCK_PROCESS_CPUTIME_ID)
    } else {
        let p: libc::pid_t = pid.parse().ok()?;
        let mut id: libc::clockid_t = 0;
        // SAFETY: `id` is a valid, writable clockid_t.
        (unsafe { libc::clock_getcpuclockid(p, &mut id) } == 0).then_some(id)
    };
    if let Some(clock) = clock {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid, writable timespec.
        if unsafe { libc::clock_gettime(clock, &mut ts) } == 0 {
            return Some(ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000);
        }
    }
    proc_stat_us(pid)
}

/// utime + stime from `/proc/<pid>/stat` (all threads), in microseconds.
pub fn proc_stat_us(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields resume after ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) * 1_000_000 / clock_ticks())
}

/// Parses `host:port`, also accepting a `tcp://` prefix.
pub fn parse_addr(s: &str) -> Option<SocketAddr> {
    s.trim_start_matches("tcp://").parse().ok()
}
