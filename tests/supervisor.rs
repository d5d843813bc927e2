//! examples/supervisor: K = 2 worker processes on one port (`SO_REUSEPORT`),
//! a worker that dies is restarted, SIGTERM drains every worker, SIGUSR2
//! upgrades them one at a time. The upgrade runs under a closed-loop load
//! of fresh connections (every request goes through an accept queue) with
//! `net.ipv4.tcp_migrate_req` on and, where this test may change it, off:
//! with it on no request may fail; with it off the resets clients see when
//! an old worker closes its listener are counted and printed.

mod util;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use util::http_load::Load;
use util::process::{is_gone, signal, Server, PROCESS_WAIT};
use util::{examples, scratch_dir, wait_until};

const MIGRATE_REQ: &str = "/proc/sys/net/ipv4/tcp_migrate_req";
const PROGRESS: u64 = 300;
/// Enough clients on fresh connections that some wait in an accept queue
/// when an old worker closes its listener.
const CLIENTS: usize = 16;
const LOAD_WAIT: Duration = Duration::from_secs(30);

/// The supervisor's children (its workers, and old ones not yet reaped).
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// A free port on 127.0.0.1 (bound and released: the workers bind it with
/// `SO_REUSEPORT`, which a stray listener without it would refuse).
fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

fn start(dir: &Path, addr: SocketAddr) -> Server {
    let server = Server::start(
        examples::binary("supervisor"),
        &[
            "--addr",
            &format!("tcp://{addr}"),
            "--workers",
            "2",
            "--loops",
            "1",
            "--drain-timeout",
            "2",
        ],
        dir,
        "supervisor",
    );
    let pid = server.pid();
    wait_until(PROCESS_WAIT, "two workers serve", || children(pid).len() == 2);
    let mut server = server;
    server.pids.extend(children(pid)); // killed too if the test fails
    server
}

/// Sets `tcp_migrate_req` and puts the old value back when dropped.
struct MigrateReq(String);

impl MigrateReq {
    fn set(on: bool) -> Option<MigrateReq> {
        let old = std::fs::read_to_string(MIGRATE_REQ).ok()?;
        std::fs::write(MIGRATE_REQ, if on { "1" } else { "0" }).ok()?;
        Some(MigrateReq(old))
    }
}

impl Drop for MigrateReq {
    fn drop(&mut self) {
        let _ = std::fs::write(MIGRATE_REQ, self.0.trim());
    }
}

#[test]
fn a_dead_worker_is_restarted_and_sigterm_drains_every_worker() {
    let dir = scratch_dir("supervisor-restart");
    let addr = free_addr();
    let mut server = start(&dir, addr);
    let supervisor = server.pid();
    let before = children(supervisor);
    signal(before[0], Signal::SIGKILL);
    wait_until(PROCESS_WAIT, "the dead worker is replaced", || {
        let now = children(supervisor);
        now.len() == 2 && !now.contains(&before[0]) && now.contains(&before[1])
    });
    let load = Load::start(addr, 2);
    load.wait_for_more(PROGRESS, LOAD_WAIT);
    let tally = load.finish();
    assert_eq!((tally.failed, tally.resets), (0, 0), "{:?}", tally.errors);
    let workers = children(supervisor);
    server.terminate();
    for w in workers {
        assert!(is_gone(w), "worker {w} outlived the supervisor's drain");
    }
}

/// One rolling upgrade under load; returns the figures for the report and
/// the tally's failures.
fn upgrade_under_load(dir: &Path, label: &str) -> (u64, u64, u64) {
    let addr = free_addr();
    let mut server = start(dir, addr);
    let supervisor = server.pid();
    let old = children(supervisor);
    let load = Load::start_fresh(addr, CLIENTS);
    let steady_from = Instant::now();
    load.wait_for_more(PROGRESS, LOAD_WAIT);
    let upgrade_from = Instant::now();
    signal(supervisor, Signal::SIGUSR2);
    wait_until(PROCESS_WAIT, "both workers are replaced and the old ones gone", || {
        let now = children(supervisor);
        now.len() == 2 && now.iter().all(|p| !old.contains(p))
    });
    let upgrade_to = Instant::now();
    server.pids.extend(children(supervisor));
    load.wait_for_more(PROGRESS, LOAD_WAIT);
    let tally = load.finish();
    let (p99_steady, n_steady) = tally.quantile(0.99, steady_from, upgrade_from);
    let (p99_upgrade, n_upgrade) = tally.quantile(0.99, upgrade_from, upgrade_to);
    println!(
        "supervisor upgrade, {label}: sent {} answered {} non-2xx {} failed {} resets {}; \
         p99 without an upgrade {p99_steady:?} ({n_steady} requests), during it {p99_upgrade:?} ({n_upgrade}); first errors {:?}",
        tally.sent,
        tally.answered,
        tally.non_2xx,
        tally.failed,
        tally.resets,
        &tally.errors[..tally.errors.len().min(2)]
    );
    server.terminate();
    (tally.failed, tally.resets, tally.non_2xx)
}

#[test]
fn rolling_upgrade_under_load_with_and_without_tcp_migrate_req() {
    let dir = scratch_dir("supervisor-upgrade");
    // Off first, measured only: the kernel resets what waits in the queue
    // of a listener that closes.
    match MigrateReq::set(false) {
        Some(_off) => {
            upgrade_under_load(&dir, "tcp_migrate_req=0");
        }
        None => {
            // Not ours to change (not root): the setting as it is.
            let current = std::fs::read_to_string(MIGRATE_REQ).unwrap_or_default();
            let lost = upgrade_under_load(&dir, &format!("tcp_migrate_req={} (fixed)", current.trim()));
            if current.trim() == "1" {
                assert_eq!(lost, (0, 0, 0), "with tcp_migrate_req=1 no request may fail");
            }
            return;
        }
    }
    let _on = MigrateReq::set(true).expect("changed once, it changes again");
    let lost = upgrade_under_load(&dir, "tcp_migrate_req=1");
    assert_eq!(lost, (0, 0, 0), "with tcp_migrate_req=1 no request may fail");
}
