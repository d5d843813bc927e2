//! TLS load generator for benches/tls.sh (rustls with ring, TLS 1.3 only,
//! trusting the CA in `--ca`; loadgen's plain hot path stays untouched).
//!
//! `--mode echo`: `--conns` TLS connections (tokio-rustls on one
//! current-thread runtime); each, in rounds, writes `--pipeline` messages of
//! `--size` bytes in one write while it reads the echoes back (so 16 × 16 KiB
//! in flight cannot deadlock), and checks every byte (each round stamps its
//! number into every message, so a stale or misplaced echo fails). Counts
//! messages echoed.
//!
//! `--mode handshake`: `--threads` blocking client threads, each connecting,
//! completing a handshake, sending close_notify and reading until the
//! server closes (so the server has processed the client's Finished and
//! any ticket has arrived), then again. Full handshakes without `--resume`
//! (the client keeps no session), resumed ones with it (rustls's in-memory
//! session store; the first handshake per server is full). Counts
//! handshakes, full and resumed apart.
//!
//! Both measure a window: after all connections are up (echo) and
//! `--warmup` seconds, the server's CPU time (the sum over `--server-pid`,
//! a comma-separated list: nginx's master and worker) and the count are read,
//! and again `--duration` seconds later.
//!
//! `--mode hold`: waits until the server's memory settles, opens `--conns`
//! connections and completes their handshakes (`--threads` threads), then
//! keeps only the sockets, idle, and waits until the server holds that many
//! more fds and its RSS settles again: the RSS growth (smaps_rollup `Rss`,
//! a page-table walk) per connection. Then exits, closing them.
//!
//! Prints one line on stdout:
//! `n=COUNT secs=SECONDS cost=SERVER_CPU_US_OR_BYTES ...`, and a human line
//! on stderr. Exits 1 on any connection, TLS or echo error.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netreactor::tls::rustls::crypto::SupportedKxGroup;
use netreactor::tls::rustls::pki_types::ServerName;
use netreactor::tls::rustls::{ClientConfig, ClientConnection, HandshakeKind};
use netreactor_bench::{parse_addr, proc_cpu_us, raise_nofile_limit, tls, Flags};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const USAGE: &str = "\
tlsgen: TLS load for benches/tls.sh

  --mode echo|handshake|hold
  --addr IP:PORT         server (127.0.0.1:9000)
  --ca FILE              PEM CA the server's certificate chains to (required)
  --server-name NAME     SNI and the name checked in the certificate (localhost)
  --server-pid P[,P..]   the server's processes (required): CPU time, memory
  --conns N              echo, hold: connections (echo 500, hold 10000)
  --size BYTES           echo: message size (64)
  --pipeline N           echo: messages per write and round (1)
  --threads N            handshake, hold: client threads (4)
  --resume               handshake: offer session tickets
  --kx GROUP             the one key exchange group offered: x25519,
                         secp256r1, secp384r1 (x25519, as OpenSSL clients)
  --warmup SECS          seconds before the window (1)
  --duration SECS        the measured window (5)
  --timeout SECS         deadline for connecting and settling (120)";

struct Opts {
    addr: SocketAddr,
    ca: String,
    name: ServerName<'static>,
    pids: Vec<String>,
    kx: &'static dyn SupportedKxGroup,
    conns: usize,
    size: usize,
    pipeline: usize,
    threads: usize,
    warmup: Duration,
    duration: Duration,
    timeout: Duration,
}

fn server_cpu_us(pids: &[String]) -> u64 {
    pids.iter().map(|p| proc_cpu_us(p).unwrap_or(0)).sum()
}

fn fail(msg: &str) -> ! {
    eprintln!("tlsgen: {msg}");
    std::process::exit(1)
}

fn secs(flags: &Flags, name: &str, default: f64) -> Duration {
    Duration::from_secs_f64(flags.or(name, default))
}

fn main() {
    let flags = Flags::parse(USAGE, &["resume"]);
    flags.only(&[
        "mode",
        "addr",
        "ca",
        "server-name",
        "server-pid",
        "conns",
        "size",
        "pipeline",
        "threads",
        "resume",
        "kx",
        "warmup",
        "duration",
        "timeout",
    ]);
    let mode = flags.get("mode").unwrap_or("echo").to_owned();
    let o = Opts {
        addr: parse_addr(flags.get("addr").unwrap_or("127.0.0.1:9000")).unwrap_or_else(|| flags.fail("bad --addr")),
        ca: flags
            .get("ca")
            .unwrap_or_else(|| flags.fail("--ca is required"))
            .to_owned(),
        name: ServerName::try_from(flags.get("server-name").unwrap_or("localhost").to_owned())
            .unwrap_or_else(|_| flags.fail("bad --server-name")),
        pids: flags
            .get("server-pid")
            .unwrap_or_else(|| flags.fail("--server-pid is required"))
            .split(',')
            .map(str::to_owned)
            .collect(),
        kx: tls::kx_group(flags.get("kx").unwrap_or("x25519")).unwrap_or_else(|| flags.fail("bad --kx")),
        conns: flags.or("conns", if mode == "hold" { 10_000 } else { 500 }),
        size: flags.or("size", 64usize).max(1),
        pipeline: flags.or("pipeline", 1usize).max(1),
        threads: flags.or("threads", 4usize).max(1),
        warmup: secs(&flags, "warmup", 1.0),
        duration: secs(&flags, "duration", 5.0),
        timeout: secs(&flags, "timeout", 120.0),
    };
    raise_nofile_limit();
    match mode.as_str() {
        "echo" => echo(&o),
        "handshake" => handshake(&o, flags.on("resume")),
        "hold" => hold(&o),
        m => flags.fail(&format!("bad --mode {m:?}")),
    }
}

/// Waits out the warm-up, then measures the two counts of `count` and the
/// server's CPU over the window; returns (counts, seconds, server CPU µs).
fn window(o: &Opts, count: impl Fn() -> (u64, u64), errors: &AtomicU64) -> ((u64, u64), f64, u64) {
    std::thread::sleep(o.warmup);
    let (n0, c0, t0) = (count(), server_cpu_us(&o.pids), Instant::now());
    std::thread::sleep(o.duration);
    let (n1, c1, secs) = (count(), server_cpu_us(&o.pids), t0.elapsed().as_secs_f64());
    if errors.load(Relaxed) > 0 {
        fail(&format!("{} errors during the run", errors.load(Relaxed)));
    }
    ((n1.0 - n0.0, n1.1 - n0.1), secs, c1 - c0)
}

// ---- echo ---------------------------------------------------------------------

fn echo(o: &Opts) {
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let connected = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let connector = tokio_rustls::TlsConnector::from(tls::client_config(&o.ca, false, o.kx));
    {
        let (done, errors, connected, stop, started) = (
            done.clone(),
            errors.clone(),
            connected.clone(),
            stop.clone(),
            started.clone(),
        );
        let (addr, name, conns, size, pipeline) = (o.addr, o.name.clone(), o.conns, o.size, o.pipeline);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let mut streams = Vec::with_capacity(conns);
                for id in 0..conns {
                    let tcp = match tokio::net::TcpStream::connect(addr).await {
                        Ok(t) => t,
                        Err(e) => fail(&format!("connect {id}: {e}")),
                    };
                    let _ = tcp.set_nodelay(true);
                    let stream = match connector.connect(name.clone(), tcp).await {
                        Ok(s) => s,
                        Err(e) => fail(&format!("handshake {id}: {e}")),
                    };
                    streams.push(stream);
                    connected.fetch_add(1, Relaxed);
                }
                // Traffic starts once every handshake is done: a server busy
                // echoing could miss a late handshake's deadline.
                for (id, stream) in streams.into_iter().enumerate() {
                    let (done, errors, stop) = (done.clone(), errors.clone(), stop.clone());
                    tokio::spawn(echo_conn(stream, id as u64, size, pipeline, done, errors, stop));
                }
                started.store(true, Relaxed);
                std::future::pending::<()>().await;
            });
        });
    }
    let deadline = Instant::now() + o.timeout;
    while !started.load(Relaxed) {
        if Instant::now() > deadline {
            fail(&format!(
                "only {} of {} connected in time",
                connected.load(Relaxed),
                o.conns
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let ((n, _), secs, cpu) = window(o, || (done.load(Relaxed), 0), &errors);
    stop.store(true, Relaxed);
    if n == 0 {
        fail("no message echoed in the window");
    }
    println!("n={n} secs={secs:.3} cost={cpu} unit=cpu_us");
    eprintln!(
        "tlsgen echo: {} conns, {} B x {}: {:.0} messages/s, server {:.3} µs CPU/message",
        o.conns,
        o.size,
        o.pipeline,
        n as f64 / secs,
        cpu as f64 / n as f64
    );
    std::process::exit(0);
}

async fn echo_conn(
    stream: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    id: u64,
    size: usize,
    pipeline: usize,
    done: Arc<AtomicU64>,
    errors: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut batch: Vec<u8> = (0..size * pipeline).map(|i| (i as u64 * 31 + id * 7) as u8).collect();
    let mut back = vec![0u8; batch.len()];
    let stamp_len = size.min(8);
    let mut round = 0u64;
    while !stop.load(Relaxed) {
        let stamp = (round ^ (id << 40)).to_le_bytes();
        for m in batch.chunks_mut(size) {
            m[..stamp_len].copy_from_slice(&stamp[..stamp_len]);
        }
        let write = async {
            wr.write_all(&batch).await?;
            wr.flush().await
        };
        let (w, r) = tokio::join!(write, rd.read_exact(&mut back));
        let why = match (w, r) {
            (Err(e), _) | (_, Err(e)) => e.to_string(),
            _ if back != batch => "an echo differs from what was sent".to_owned(),
            _ => {
                done.fetch_add(pipeline as u64, Relaxed);
                round += 1;
                continue;
            }
        };
        if !stop.load(Relaxed) {
            errors.fetch_add(1, Relaxed);
            eprintln!("tlsgen: connection {id}, round {round}: {why}");
        }
        return;
    }
}

// ---- handshake ----------------------------------------------------------------

/// Connects and completes a handshake; returns the socket and the session.
fn connect(o: &Opts, config: &Arc<ClientConfig>) -> io::Result<(TcpStream, ClientConnection)> {
    let mut tcp = TcpStream::connect(o.addr)?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut conn = ClientConnection::new(config.clone(), o.name.clone()).map_err(io::Error::other)?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)?;
    }
    // complete_io may return with the client's Finished still queued.
    while conn.wants_write() {
        conn.write_tls(&mut tcp)?;
    }
    tcp.flush()?;
    Ok((tcp, conn))
}

/// One handshake, then close_notify, then reads until the server closes.
/// Returns whether the handshake was a resumed one.
fn one_handshake(o: &Opts, config: &Arc<ClientConfig>) -> io::Result<bool> {
    let (mut tcp, mut conn) = connect(o, config)?;
    let resumed = conn.handshake_kind() == Some(HandshakeKind::Resumed);
    conn.send_close_notify();
    while conn.wants_write() {
        conn.write_tls(&mut tcp)?;
    }
    loop {
        match conn.read_tls(&mut tcp) {
            Ok(0) => return Ok(resumed),
            Ok(_) => {
                conn.process_new_packets().map_err(io::Error::other)?;
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(resumed),
            Err(e) => return Err(e),
        }
    }
}

fn handshake(o: &Opts, resume: bool) {
    let config = tls::client_config(&o.ca, resume, o.kx);
    let full = Arc::new(AtomicU64::new(0));
    let resumed = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    std::thread::scope(|s| {
        for _ in 0..o.threads {
            let (config, full, resumed, errors, stop) = (&config, &full, &resumed, &errors, &stop);
            s.spawn(move || {
                while !stop.load(Relaxed) {
                    match one_handshake(o, config) {
                        Ok(true) => resumed.fetch_add(1, Relaxed),
                        Ok(false) => full.fetch_add(1, Relaxed),
                        Err(e) => {
                            if errors.fetch_add(1, Relaxed) < 5 {
                                eprintln!("tlsgen: handshake: {e}");
                            }
                            0
                        }
                    };
                }
            });
        }
        let count = || {
            let r = resumed.load(Relaxed);
            (full.load(Relaxed) + r, r)
        };
        let ((n, r), secs, cpu) = window(o, count, &errors);
        stop.store(true, Relaxed);
        if n == 0 {
            fail("no handshake completed in the window");
        }
        // Without --resume every handshake must be a full one; with it,
        // all but the first few (before a ticket arrived) resumed ones.
        if (!resume && r > 0) || (resume && r * 10 < n * 9) {
            fail(&format!("{r} of {n} handshakes resumed (--resume {resume})"));
        }
        println!("n={n} secs={secs:.3} cost={cpu} unit=cpu_us resumed={r}");
        eprintln!(
            "tlsgen handshake{}: {:.0} handshakes/s ({r} resumed of {n}), server {:.1} µs CPU/handshake",
            if resume { " --resume" } else { "" },
            n as f64 / secs,
            cpu as f64 / n as f64
        );
    });
}

// ---- hold ---------------------------------------------------------------------

fn rss_kib(pids: &[String]) -> u64 {
    pids.iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")).ok())
        .filter_map(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("Rss:")?.split_whitespace().next()?.parse::<u64>().ok())
        })
        .sum()
}

fn fds(pids: &[String]) -> usize {
    pids.iter()
        .filter_map(|p| std::fs::read_dir(format!("/proc/{p}/fd")).ok())
        .map(|d| d.count())
        .sum()
}

/// RSS once it has stayed the same for 500 ms (and `ready` holds), polling.
fn settled_rss(o: &Opts, ready: impl Fn() -> bool) -> u64 {
    let deadline = Instant::now() + o.timeout;
    let (mut last, mut since) = (u64::MAX, Instant::now());
    loop {
        let now = rss_kib(&o.pids);
        if now != last || !ready() {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() >= Duration::from_millis(500) {
            return now;
        }
        if Instant::now() > deadline {
            fail("the server's memory did not settle in time");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn hold(o: &Opts) {
    let config = tls::client_config(&o.ca, false, o.kx);
    let base_fds = fds(&o.pids);
    let base = settled_rss(o, || true);
    let t0 = Instant::now();
    let held: Vec<TcpStream> = std::thread::scope(|s| {
        let per = o.conns.div_ceil(o.threads);
        let workers: Vec<_> = (0..o.threads)
            .map(|t| {
                let n = per.min(o.conns.saturating_sub(t * per));
                let config = &config;
                s.spawn(move || {
                    (0..n)
                        .map(|_| match connect(o, config) {
                            // Only the socket stays: the client's session is
                            // not what is measured.
                            Ok((tcp, _session)) => tcp,
                            Err(e) => fail(&format!("hold: {e}")),
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("client thread"))
            .collect()
    });
    let connect_secs = t0.elapsed().as_secs_f64();
    let after = settled_rss(o, || fds(&o.pids) >= base_fds + held.len());
    let bytes = after.saturating_sub(base) * 1024;
    println!("n={} secs={connect_secs:.3} cost={bytes} unit=bytes", held.len());
    eprintln!(
        "tlsgen hold: {} idle TLS connections: server RSS {} KiB -> {} KiB, {} B/connection",
        held.len(),
        base,
        after,
        bytes / held.len() as u64
    );
}
