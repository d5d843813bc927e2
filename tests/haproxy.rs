//! A rolling restart behind Debian's HAProxy (deploy/haproxy.cfg): two
//! instances of examples/http with health checks, a closed-loop load
//! through HAProxy, each instance upgraded in turn by listener hand-off
//! (SIGUSR2), then each drained (SIGTERM) and replaced by a fresh process
//! on the same port. Not one request may fail: 0 non-2xx, 0 socket
//! errors, 0 resets. The p99 latency during the upgrades and restarts and
//! without them is printed (not asserted: timing on a shared machine).

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use util::http_load::{Load, Tally};
use util::process::{Server, PROCESS_WAIT};
use util::{examples, scratch_dir, wait_until};

/// Responses each phase must see, so the load really runs through it.
const PROGRESS: u64 = 1000;
const LOAD_WAIT: Duration = Duration::from_secs(30);

/// HAProxy in the foreground, killed when dropped.
struct HaProxy {
    child: Child,
    stats: PathBuf,
    frontend: SocketAddr,
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl HaProxy {
    /// Starts deploy/haproxy.cfg in front of `a` and `b` on a free port.
    fn start(dir: &Path, a: SocketAddr, b: SocketAddr) -> HaProxy {
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/haproxy.cfg");
        let stats = dir.join("haproxy.sock");
        for _attempt in 0..5 {
            // A free port: bound and released; if another process takes
            // it meanwhile, HAProxy exits and we try another.
            let frontend = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
            let _ = std::fs::remove_file(&stats);
            let child = Command::new("haproxy")
                .arg("-db") // foreground
                .arg("-f")
                .arg(&config)
                .env("NR_FRONTEND", frontend.to_string())
                .env("NR_SERVER_A", a.to_string())
                .env("NR_SERVER_B", b.to_string())
                .env("NR_STATS_SOCKET", &stats)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.join("haproxy.log")).unwrap())
                .spawn()
                .expect("haproxy (Debian's package; .ci/run installs it)");
            let mut proxy = HaProxy {
                child,
                stats: stats.clone(),
                frontend,
            };
            let mut exited = false;
            wait_until(PROCESS_WAIT, "haproxy listens", || {
                exited = proxy.child.try_wait().unwrap().is_some();
                exited || (TcpStream::connect(frontend).is_ok() && proxy.stats.exists())
            });
            if !exited {
                return proxy;
            }
        }
        panic!(
            "haproxy failed 5 times: {}",
            std::fs::read_to_string(dir.join("haproxy.log")).unwrap_or_default()
        );
    }

    /// The health-check status HAProxy gives server `name` ("UP", "DOWN",
    /// "UP 1/2"...), from `show stat` on its stats socket.
    fn server_status(&self, name: &str) -> String {
        self.stat(name, "status")
    }

    /// Column `field` of the `show stat` row of `name` in backend `app`
    /// (`BACKEND`: the backend's totals).
    fn stat(&self, name: &str, field: &str) -> String {
        let mut s = UnixStream::connect(&self.stats).expect("haproxy's stats socket");
        s.write_all(b"show stat\n").unwrap();
        let mut csv = String::new();
        s.read_to_string(&mut csv).unwrap();
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap_or("").trim_start_matches("# ").split(',').collect();
        let col = |field: &str| header.iter().position(|h| *h == field).expect("a stat column");
        let (px, sv, status) = (col("pxname"), col("svname"), col(field));
        lines
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|f| f.get(px) == Some(&"app") && f.get(sv) == Some(&name))
            .map(|f| f[status].to_owned())
            .unwrap_or_default()
    }

    fn wait_up(&self, name: &str) {
        wait_until(PROCESS_WAIT, &format!("haproxy sees server {name} up"), || {
            self.server_status(name) == "UP"
        });
    }
}

fn start_http(dir: &Path, name: &str, addr: &str) -> Server {
    Server::start(
        examples::binary("http"),
        &["--addr", addr, "--loops", "1", "--drain-timeout", "2"],
        dir,
        name,
    )
}

/// A phase of the run: its name and when it began and ended.
struct Phase {
    name: String,
    from: Instant,
    to: Instant,
}

fn report(tally: &Tally, phases: &[Phase]) {
    println!(
        "haproxy rolling restart: sent {} answered {} non-2xx {} failed {} resets {}",
        tally.sent, tally.answered, tally.non_2xx, tally.failed, tally.resets
    );
    for p in phases {
        let (p99, n) = tally.quantile(0.99, p.from, p.to);
        let (p50, _) = tally.quantile(0.50, p.from, p.to);
        println!(
            "  {:<34} {:>6} requests  p50 {:>9.3} ms  p99 {:>9.3} ms",
            p.name,
            n,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
}

#[test]
fn rolling_upgrade_and_restart_behind_haproxy_lose_no_request() {
    let dir = scratch_dir("haproxy");
    let mut a = start_http(&dir, "a", "tcp://127.0.0.1:0");
    let mut b = start_http(&dir, "b", "tcp://127.0.0.1:0");
    let (a_addr, b_addr) = (a.tcp_addr(), b.tcp_addr());
    let proxy = HaProxy::start(&dir, a_addr, b_addr);
    proxy.wait_up("a");
    proxy.wait_up("b");

    let load = Load::start(proxy.frontend, 4);
    let mut phases = Vec::new();
    let mut phase = |name: &str, from: Instant| {
        phases.push(Phase {
            name: name.to_owned(),
            from,
            to: Instant::now(),
        })
    };

    let t = Instant::now();
    load.wait_for_more(PROGRESS, LOAD_WAIT);
    phase("steady, before (no restart)", t);

    for (name, server) in [("a", &mut a), ("b", &mut b)] {
        let t = Instant::now();
        server.upgrade();
        load.wait_for_more(PROGRESS / 3, LOAD_WAIT);
        phase(&format!("upgrade {name} by hand-off (SIGUSR2)"), t);
        proxy.wait_up(name);
    }

    let t = Instant::now();
    load.wait_for_more(PROGRESS, LOAD_WAIT);
    phase("steady, between", t);

    for (name, server, addr) in [("a", &mut a, a_addr), ("b", &mut b, b_addr)] {
        let t = Instant::now();
        server.terminate(); // drains, exits
        *server = start_http(&dir, &format!("{name}2"), &format!("tcp://{addr}"));
        proxy.wait_up(name);
        load.wait_for_more(PROGRESS / 3, LOAD_WAIT);
        phase(&format!("drain {name}, start a new one"), t);
    }

    let t = Instant::now();
    load.wait_for_more(PROGRESS, LOAD_WAIT);
    phase("steady, after", t);

    let tally = load.finish();
    report(&tally, &phases);
    println!(
        "  haproxy's own count: {} retries, {} redispatches, {} connection errors to servers",
        proxy.stat("BACKEND", "wretr"),
        proxy.stat("BACKEND", "wredis"),
        proxy.stat("BACKEND", "econ")
    );
    assert_eq!(
        (tally.non_2xx, tally.failed, tally.resets),
        (0, 0, 0),
        "{:?}\nhaproxy: {}",
        tally.errors,
        std::fs::read_to_string(dir.join("haproxy.log")).unwrap_or_default()
    );
    assert_eq!(tally.sent, tally.answered);
    a.terminate();
    b.terminate();
}
