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

/// `n` non-blocking UDP sockets sharing one port through `SO_REUSEPORT`
/// (port 0 picks a free port for the first), for the UDP peers.
pub fn reuseport_udp_sockets(addr: SocketAddr, n: usize) -> std::io::Result<Vec<std::net::UdpSocket>> {
    let bind = |addr: SocketAddr| -> std::io::Result<std::net::UdpSocket> {
        let s = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::DGRAM, None)?;
        s.set_reuse_port(true)?;
        s.bind(&addr.into())?;
        s.set_nonblocking(true)?;
        Ok(s.into())
    };
    let first = bind(addr)?;
    let bound = first.local_addr()?;
    let mut v = vec![first];
    for _ in 1..n.max(1) {
        v.push(bind(bound)?);
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
    proc_user_sys_us(pid).map(|(user, sys)| user + sys)
}

/// (utime, stime) from `/proc/<pid>/stat`: the user-space and kernel CPU time
/// of a process (all its threads, including exited ones), in microseconds,
/// or `None` if the process is gone. `pid` may be `"self"`.
///
/// The kernel reports both in clock ticks (`USER_HZ`, 100 per second), so
/// the resolution is one tick, 10 ms: a difference of two readings is off by
/// up to one tick, so over a 4 s window on a busy core the user figure is
/// good to a few percent once it holds a few tens of ticks. With tick-based
/// accounting (`CONFIG_TICK_CPU_ACCOUNTING`, the common default) the split is
/// also sampled: each timer interrupt (`CONFIG_HZ`, e.g. 250/s) charges its
/// whole tick to user or system by where the CPU was at that moment, and the
/// two are then scaled so that they add up to the exact runtime. That adds a
/// sampling error of about 1/sqrt(user samples): a server with a 6% user
/// share at HZ=250 has ~60 user samples in 4 s, ±13% per run (what repeated
/// runs show on the development machine), so compare medians of several
/// runs, and use benches/callgrind.sh for exact user-space instruction
/// counts. Kernel work done in the process's context (system calls, and the
/// loopback TCP receive processing done in softirq on the sender's behalf)
/// counts as system time.
pub fn proc_user_sys_us(pid: &str) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_user_sys(&stat).map(|(utime, stime)| {
        let hz = clock_ticks();
        (utime * 1_000_000 / hz, stime * 1_000_000 / hz)
    })
}

/// utime and stime, in clock ticks, from the text of a `/proc/<pid>/stat`.
fn parse_stat_user_sys(stat: &str) -> Option<(u64, u64)> {
    // The command name (field 2) may contain spaces; fields resume after ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((utime, stime))
}

/// Runs a raw UDP echo peer the way every one starts: flags `--addr
/// IP:PORT` (127.0.0.1:0, `udp://` allowed) and `--threads N` (or
/// `--loops N`, 1), one `SO_REUSEPORT` socket per thread, each served by
/// `serve` on a thread named `NAME-i`, the `pid=… addr=…` ready line.
pub fn serve_raw_udp(name: &str, usage: &'static str, serve: fn(std::os::fd::OwnedFd)) {
    use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
    let flags = Flags::parse(usage, &[]);
    flags.only(&["addr", "threads", "loops"]);
    let addr = flags.get("addr").unwrap_or("127.0.0.1:0");
    let addr = parse_addr(addr.trim_start_matches("udp://")).unwrap_or_else(|| flags.fail("bad --addr"));
    let threads: usize = flags.or("threads", flags.or("loops", 1usize)).max(1);
    let sockets = reuseport_udp_sockets(addr, threads).expect("bind");
    let bound = sockets[0].local_addr().expect("local addr");
    let short = name.trim_start_matches("peer-");
    let handles: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            // SAFETY: the descriptor comes straight from the socket we own.
            let fd = unsafe { OwnedFd::from_raw_fd(s.into_raw_fd()) };
            std::thread::Builder::new()
                .name(format!("{short}-{i}"))
                .spawn(move || serve(fd))
                .expect("spawn")
        })
        .collect();
    announce(name, bound);
    for h in handles {
        let _ = h.join();
    }
}

/// Parses `host:port`, also accepting a `tcp://` prefix.
pub fn parse_addr(s: &str) -> Option<SocketAddr> {
    s.trim_start_matches("tcp://").parse().ok()
}

/// Reading the JSON lines that loadgen and conn-mem print (and benches/e2e.sh
/// collects in `results.jsonl`), for e2e-report and e2e-chart.
pub mod results {
    use std::collections::BTreeMap;

    /// A value of a flat JSON object.
    #[derive(Debug, Clone, PartialEq)]
    pub enum Val {
        /// A number (booleans become 1 and 0).
        Num(f64),
        /// A string, or the raw text of an array.
        Str(String),
        /// `null`.
        Null,
    }

    /// Parses one flat JSON object of strings, numbers, booleans and nulls.
    pub fn parse_flat(line: &str) -> Option<BTreeMap<String, Val>> {
        let mut p = line.trim().chars().peekable();
        let mut out = BTreeMap::new();
        let skip_ws = |p: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            while p.peek().is_some_and(|c| c.is_whitespace()) {
                p.next();
            }
        };
        let string = |p: &mut std::iter::Peekable<std::str::Chars<'_>>| -> Option<String> {
            if p.next()? != '"' {
                return None;
            }
            let mut s = String::new();
            loop {
                match p.next()? {
                    '"' => return Some(s),
                    '\\' => match p.next()? {
                        'n' => s.push('\n'),
                        't' => s.push('\t'),
                        'u' => {
                            let hex: String = (0..4).filter_map(|_| p.next()).collect();
                            s.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                        }
                        c => s.push(c),
                    },
                    c => s.push(c),
                }
            }
        };
        skip_ws(&mut p);
        if p.next()? != '{' {
            return None;
        }
        loop {
            skip_ws(&mut p);
            if p.peek() == Some(&'}') {
                return Some(out);
            }
            let key = string(&mut p)?;
            skip_ws(&mut p);
            if p.next()? != ':' {
                return None;
            }
            skip_ws(&mut p);
            let val = if p.peek() == Some(&'"') {
                Val::Str(string(&mut p)?)
            } else if p.peek() == Some(&'[') {
                // A flat array of numbers (conn-mem's samples): kept as its text.
                let mut raw = String::new();
                while p.peek() != Some(&']') {
                    raw.push(p.next()?);
                }
                raw.push(p.next()?);
                Val::Str(raw)
            } else {
                let mut tok = String::new();
                while p.peek().is_some_and(|c| !matches!(c, ',' | '}') && !c.is_whitespace()) {
                    tok.push(p.next()?);
                }
                match tok.as_str() {
                    "null" => Val::Null,
                    "true" => Val::Num(1.0),
                    "false" => Val::Num(0.0),
                    t => Val::Num(t.parse().ok()?),
                }
            };
            out.insert(key, val);
            skip_ws(&mut p);
            match p.next()? {
                ',' => continue,
                '}' => return Some(out),
                _ => return None,
            }
        }
    }

    /// The number under `k`, if it is one.
    pub fn num(r: &BTreeMap<String, Val>, k: &str) -> Option<f64> {
        match r.get(k) {
            Some(Val::Num(x)) => Some(*x),
            _ => None,
        }
    }

    /// The value under `k` as text (empty when absent or null).
    pub fn text(r: &BTreeMap<String, Val>, k: &str) -> String {
        match r.get(k) {
            Some(Val::Str(s)) => s.clone(),
            Some(Val::Num(x)) => format!("{x}"),
            _ => String::new(),
        }
    }

    /// Summary of repeated runs.
    #[derive(Debug, Clone, Copy)]
    pub struct Stat {
        /// Median (the mean of the middle two for an even count).
        pub median: f64,
        /// Smallest value.
        pub min: f64,
        /// Largest value.
        pub max: f64,
    }

    /// Median, min and max of `v` (`None` when empty).
    pub fn stat(mut v: Vec<f64>) -> Option<Stat> {
        if v.is_empty() {
            return None;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Stat {
            median,
            min: v[0],
            max: v[n - 1],
        })
    }
}

/// Runs a netreactor server the way every bench server starts: flags
/// `--addr IP:PORT` (127.0.0.1:0), `--loops N` (or `--threads N`, 1) and
/// `--reuseport 0|1`, a raised fd limit, the `pid=… addr=…` ready line, and
/// SIGTERM/SIGINT to stop. `configure` adds what differs (a codec, say).
/// With `NR_BOUND=1` in the environment the handler is started as the one
/// service of `start_bound` (the router of `Bind`) instead of by `start`,
/// to measure what the routing costs (benches/callgrind.sh).
pub fn serve_netreactor<H: netreactor::EventHandler>(
    name: &str,
    usage: &'static str,
    handler: H,
    configure: impl FnOnce(netreactor::EngineBuilder) -> netreactor::EngineBuilder,
) {
    let flags = Flags::parse(usage, &[]);
    flags.only(&["addr", "loops", "threads", "reuseport", "rcvbuf"]);
    let addr = flags.get("addr").unwrap_or("127.0.0.1:0");
    let loops: usize = flags.or("loops", flags.or("threads", 1usize));
    let reuse_port = flags.or("reuseport", 0u8) == 1;
    raise_nofile_limit();
    let url = if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("tcp://{addr}")
    };
    let mut builder = netreactor::Engine::builder()
        .event_loops(loops)
        .reuse_port(reuse_port)
        .handle_signals(true);
    // --rcvbuf BYTES: SO_RCVBUF of the listening (or UDP) sockets.
    if let Some(bytes) = flags.get("rcvbuf") {
        builder = builder.recv_buffer_size(bytes.parse().unwrap_or_else(|_| flags.fail("bad --rcvbuf")));
    }
    // NR_BOUND=1: the same handler as the one service of `start_bound`, so
    // the router's cost per message can be measured against `start`.
    let started = if std::env::var_os("NR_BOUND").is_some_and(|v| v == "1") {
        configure(builder)
            .bind(netreactor::Bind::new(name, url.as_str(), handler))
            .start_bound()
    } else {
        configure(builder).start(handler, &url)
    };
    let engine = started.unwrap_or_else(|e| {
        eprintln!("{name}: {e}");
        std::process::exit(1)
    });
    let bound = engine.local_addrs()[0].socket_addr().expect("an IP address");
    announce(name, bound);
    if let Err(e) = engine.wait() {
        eprintln!("{name}: {e}");
        std::process::exit(1);
    }
}

/// The TLS configs of the TLS peers and load generators (benches/tls.sh).
pub mod tls {
    use std::sync::Arc;

    use netreactor::tls::rustls::pki_types::pem::PemObject;
    use netreactor::tls::rustls::{self, ClientConfig, ServerConfig};

    /// The server config of every TLS peer: the one netreactor's examples
    /// build (`netreactor::tls::server_config_from_pem`: rustls's defaults,
    /// ring, its stateful session cache), so the peers differ from
    /// netreactor only in what runs around rustls.
    pub fn server_config(cert: &str, key: &str) -> Arc<ServerConfig> {
        Arc::new(netreactor::tls::server_config_from_pem(cert, key).unwrap_or_else(|e| {
            eprintln!("TLS: {e}");
            std::process::exit(2)
        }))
    }

    /// A TLS peer's flags: `--addr` and its `server_config` from
    /// `--tls-cert`/`--tls-key` (both required).
    pub fn peer_flags(usage: &'static str) -> (std::net::SocketAddr, Arc<ServerConfig>) {
        let flags = crate::Flags::parse(usage, &[]);
        flags.only(&["addr", "tls-cert", "tls-key"]);
        let addr =
            crate::parse_addr(flags.get("addr").unwrap_or("127.0.0.1:0")).unwrap_or_else(|| flags.fail("bad --addr"));
        let (Some(cert), Some(key)) = (flags.get("tls-cert"), flags.get("tls-key")) else {
            flags.fail("--tls-cert and --tls-key are required");
        };
        (addr, server_config(cert, key))
    }

    /// The key exchange groups a client may offer, by the names of
    /// `--kx`: x25519 (what OpenSSL, curl and browsers send first),
    /// secp256r1, secp384r1.
    pub fn kx_group(name: &str) -> Option<&'static dyn rustls::crypto::SupportedKxGroup> {
        use rustls::crypto::ring::kx_group;
        match name {
            "x25519" => Some(kx_group::X25519),
            "secp256r1" => Some(kx_group::SECP256R1),
            "secp384r1" => Some(kx_group::SECP384R1),
            _ => None,
        }
    }

    /// A TLS 1.3-only client config (ring) trusting the CA certificates in
    /// `ca` and offering only the key exchange group `kx` (rustls 0.23.48's
    /// ring provider lists secp384r1 first, which costs both ends several
    /// times an X25519 exchange; OpenSSL clients such as wrk and
    /// redis-benchmark offer X25519). `resume`: keep and offer session
    /// tickets (rustls's default in-memory store), otherwise every
    /// handshake is a full one.
    pub fn client_config(
        ca: &str,
        resume: bool,
        kx: &'static dyn rustls::crypto::SupportedKxGroup,
    ) -> Arc<ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(ca).unwrap_or_else(|e| {
            eprintln!("TLS: {ca}: {e}");
            std::process::exit(2)
        });
        for cert in certs {
            let added = cert
                .map_err(|e| e.to_string())
                .and_then(|c| roots.add(c).map_err(|e| e.to_string()));
            if let Err(e) = added {
                eprintln!("TLS: {ca}: {e}");
                std::process::exit(2)
            }
        }
        // The provider rustls picks from its crate features (ring), but
        // with only `kx`.
        let default = ClientConfig::builder()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let provider = rustls::crypto::CryptoProvider {
            kx_groups: vec![kx],
            ..(**default.crypto_provider()).clone()
        };
        let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("TLS 1.3 with ring")
            .with_root_certificates(roots)
            .with_no_client_auth();
        if !resume {
            config.resumption = rustls::client::Resumption::disabled();
        }
        Arc::new(config)
    }
}

/// The hyper peers of benches/http.sh and benches/tls.sh (`peer-hyper`,
/// `peer-hyper-tls`): hyper 1.x on one tokio current-thread runtime (one
/// core, as the netreactor example with `--loops 1`), HTTP/1.1 only,
/// `pipeline_flush` on so pipelined responses leave in one write, as
/// hyper's own benchmark setups do. `GET /plaintext` answers
/// "Hello, World!" with the same header fields as examples/http (Server,
/// Content-Type, Content-Length, Date: hyper adds Date itself, cached per
/// second) in title case; anything else is 404.
pub mod hyper_peer {
    use std::convert::Infallible;
    use std::net::SocketAddr;
    use std::sync::Arc;

    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::body::Incoming;
    use hyper::header::{HeaderValue, CONTENT_TYPE, SERVER};
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper::{Request, Response, StatusCode};
    use hyper_util::rt::TokioIo;
    use netreactor::tls::rustls::ServerConfig;
    use tokio::io::{AsyncRead, AsyncWrite};
    use tokio::net::TcpListener;

    async fn route(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let (status, body) = match req.uri().path() {
            "/plaintext" => (StatusCode::OK, Bytes::from_static(b"Hello, World!")),
            _ => (StatusCode::NOT_FOUND, Bytes::from_static(b"Not Found")),
        };
        let mut resp = Response::new(Full::new(body));
        *resp.status_mut() = status;
        let headers = resp.headers_mut();
        // Ten characters, as "netreactor": the same response length.
        headers.insert(SERVER, HeaderValue::from_static("hyper-peer"));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        Ok(resp)
    }

    async fn serve<IO: AsyncRead + AsyncWrite + Unpin + Send + 'static>(io: IO) {
        let _ = http1::Builder::new()
            .title_case_headers(true)
            .pipeline_flush(true)
            .serve_connection(TokioIo::new(io), service_fn(route))
            .await;
    }

    /// Serves on `addr` until killed; with `tls`, every connection through
    /// tokio-rustls first. Prints the ready line as `name`.
    pub fn run(name: &'static str, addr: SocketAddr, tls: Option<Arc<ServerConfig>>) {
        super::raise_nofile_limit();
        let std_listener = super::listener(addr, false).expect("bind");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let bound = std_listener.local_addr().expect("local addr");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        rt.block_on(async move {
            let l = TcpListener::from_std(std_listener).expect("listener");
            super::announce(name, bound);
            loop {
                let stream = match l.accept().await {
                    Ok((s, _)) => s,
                    Err(e) => {
                        eprintln!("{name}: accept: {e}");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                match &acceptor {
                    None => {
                        tokio::spawn(serve(stream));
                    }
                    Some(acceptor) => {
                        let accept = acceptor.accept(stream);
                        tokio::spawn(async move {
                            if let Ok(tls) = accept.await {
                                serve(tls).await;
                            }
                        });
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_user_sys_fields() {
        // Fields 14 and 15 (utime, stime); the command name has a space and a ')'.
        let line = "1234 (my (odd) srv) S 1 1234 1234 0 -1 4194560 100 0 0 0 37 412 0 0 20 0 3 0 5 0 0";
        assert_eq!(parse_stat_user_sys(line), Some((37, 412)));
        assert_eq!(parse_stat_user_sys("1234 (x) S 1 2"), None);
    }

    #[test]
    fn self_user_sys_is_consistent() {
        let (user, sys) = proc_user_sys_us("self").expect("/proc/self/stat is readable");
        // Read again afterwards: the times never go backwards.
        assert!(proc_stat_us("self").expect("/proc/self/stat is readable") >= user + sys);
    }
}
