//! Long soak: an in-process netreactor echo engine under connect / send /
//! echo / close churn for `--duration` seconds, printing cycles/s, open fds
//! and RSS every `--every` seconds, then checking that descriptors and
//! connections return to their baseline. (`tests/soak.rs` is the bounded
//! 20,000-cycle variant that CI runs.)
//!
//! `cargo run --release -p netreactor-bench --bin soak -- --duration 300 --threads 4 --loops 2`

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netreactor::{Action, Conn, Engine, EventHandler};
use netreactor_bench::{raise_nofile_limit, Flags};

const USAGE: &str = "soak --duration SECS --threads N --loops N --every SECS";

struct Echo;

impl EventHandler for Echo {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    let flags = Flags::parse(USAGE, &[]);
    flags.only(&["duration", "threads", "loops", "every"]);
    let duration = Duration::from_secs(flags.or("duration", 60u64));
    let threads: usize = flags.or("threads", 4);
    let loops: usize = flags.or("loops", 2);
    let every = Duration::from_secs(flags.or("every", 10u64));
    raise_nofile_limit();

    let fds_before = open_fds();
    let engine = Engine::builder()
        .event_loops(loops)
        .start(Echo, "tcp://127.0.0.1:0")
        .unwrap_or_else(|e| {
            eprintln!("soak: {e}");
            std::process::exit(1)
        });
    let addr = engine.local_addr();
    let cycles = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (cycles, errors, done) = (cycles.clone(), errors.clone(), done.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                let mut i = 0u64;
                while !done.load(Ordering::Relaxed) {
                    i += 1;
                    let msg = [(t as u8) ^ (i as u8); 64];
                    let ok = TcpStream::connect(addr).and_then(|mut s| {
                        s.set_read_timeout(Some(Duration::from_secs(5)))?;
                        s.write_all(&msg)?;
                        s.read_exact(&mut buf)?;
                        Ok(buf == msg)
                    });
                    match ok {
                        Ok(true) => cycles.fetch_add(1, Ordering::Relaxed),
                        _ => errors.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();

    let start = Instant::now();
    let (mut last_t, mut last_c) = (start, 0);
    let first_rss = rss_kib();
    while start.elapsed() < duration {
        std::thread::sleep(
            every
                .min(duration.saturating_sub(start.elapsed()))
                .max(Duration::from_millis(10)),
        );
        let c = cycles.load(Ordering::Relaxed);
        let rate = (c - last_c) as f64 / last_t.elapsed().as_secs_f64();
        println!(
            "t={:>5.0}s cycles={c} ({rate:.0}/s) errors={} open_conns={} fds={} rss={} KiB",
            start.elapsed().as_secs_f64(),
            errors.load(Ordering::Relaxed),
            engine.connection_count(),
            open_fds(),
            rss_kib()
        );
        (last_t, last_c) = (Instant::now(), c);
    }
    done.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let settle = Instant::now() + Duration::from_secs(10);
    while engine.connection_count() != 0 && Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(5));
    }
    let stats = engine.stats();
    engine.stop();
    let (fds_after, rss_end) = (open_fds(), rss_kib());
    println!(
        "done: {} cycles, {} errors, accepted {} closed {}, fds {fds_before} -> {fds_after}, rss {first_rss} -> {rss_end} KiB",
        cycles.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
        stats.accepted,
        stats.closed()
    );
    if fds_after != fds_before || errors.load(Ordering::Relaxed) != 0 {
        eprintln!("soak: FAILED (descriptor leak or errors)");
        std::process::exit(1);
    }
}
