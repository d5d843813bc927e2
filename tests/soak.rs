//! Connection churn: ~20,000 connect / send / echo / close cycles from a few
//! client threads against a 2-loop echo engine. Afterwards no descriptor,
//! connection or memory is left behind.
//!
//! This file holds one test only: it counts the process's descriptors and
//! resident memory, which other tests running alongside would disturb.

mod util;

use std::thread;
use std::time::{Duration, Instant};

use netreactor::Engine;
use util::*;

const THREADS: usize = 4;
const WARM_UP_CYCLES: usize = 5_000;
const CYCLES: usize = 20_000;

/// `cycles` connect / round trip / FIN / EOF cycles spread over THREADS threads.
fn churn(addr: std::net::SocketAddr, cycles: usize, seed: u64) {
    let per_thread = cycles / THREADS;
    assert_eq!(per_thread * THREADS, cycles);
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            thread::Builder::new()
                .name(format!("churn-{t}"))
                .spawn(move || {
                    let mut rng = Rng::new(seed + t as u64);
                    for i in 0..per_thread {
                        let mut s = connect(addr);
                        let n = rng.range(1, 512);
                        let mut msg = rng.bytes(n);
                        msg[0] = t as u8;
                        round_trip(&mut s, &msg);
                        // Nothing more comes back, then the server's FIN.
                        s.shutdown(std::net::Shutdown::Write)
                            .unwrap_or_else(|e| panic!("thread {t} cycle {i}: {e}"));
                        expect_eof(&mut s, IO_TIMEOUT);
                    }
                })
                .unwrap()
        })
        .collect();
    for (t, th) in threads.into_iter().enumerate() {
        if th.join().is_err() {
            panic!("churn thread {t} failed");
        }
    }
}

#[test]
fn churn_of_20000_connections_leaves_no_fd_connection_or_memory_behind() {
    let fds_before_engine = open_fd_count();
    // Plain echo: a recording handler would itself grow with every connection.
    let engine = start(Engine::builder().event_loops(2), Echo);
    let addr = engine.local_addr();
    let fds_baseline = open_fd_count();
    let started = Instant::now();

    churn(addr, WARM_UP_CYCLES, 1);
    wait_until(SETTLE, "the warm-up connections are closed", || {
        engine.connection_count() == 0
    });
    let rss_warm = vm_rss_kib() * 1024;

    churn(addr, CYCLES - WARM_UP_CYCLES, 2);
    wait_until(SETTLE, "every connection is closed", || engine.connection_count() == 0);
    let took = started.elapsed();
    let rss_after = vm_rss_kib() * 1024;

    let stats = engine.stats();
    assert_eq!(stats.accepted, CYCLES as u64, "connections accepted");
    assert_eq!(stats.closed(), CYCLES as u64, "connections closed");
    assert_eq!(stats.closed_peer_eof, CYCLES as u64, "all closed by the client's FIN");
    assert_eq!(stats.open, 0);
    assert_eq!(stats.bytes_in, stats.bytes_out);
    // Descriptors: back to the baseline once the last close has run.
    wait_for(
        SETTLE,
        "the descriptor count is back to its baseline",
        open_fd_count,
        |&n| n == fds_baseline,
    );
    let growth = rss_after.saturating_sub(rss_warm);
    eprintln!(
        "{CYCLES} cycles in {took:?}; RSS {} KiB after warm-up, {} KiB after (+{} KiB)",
        rss_warm / 1024,
        rss_after / 1024,
        growth / 1024
    );
    // 1 MiB over 15,000 connections: a leak of 70 bytes per connection shows.
    assert!(
        growth < 1024 * 1024,
        "RSS grew by {} KiB over {} cycles after the warm-up",
        growth / 1024,
        CYCLES - WARM_UP_CYCLES
    );
    assert!(took < Duration::from_secs(60), "churn took {took:?}");

    engine.stop();
    assert_eq!(open_fd_count(), fds_before_engine, "descriptors left after stop()");
}
