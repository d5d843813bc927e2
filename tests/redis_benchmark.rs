//! redis-benchmark (Debian's redis-tools) against examples/redis: the
//! whole default suite at -P 1 and -P 16 with 50 clients, and SET/GET with
//! 1000 clients, with every reply checked.
//!
//! redis-benchmark itself only notices error replies, so it talks to the
//! server through a checking proxy here: the proxy reads each command the
//! benchmark sends, forwards it, reads the server's reply, checks it against
//! what that command must answer (and the value the benchmark stored), and
//! only then passes it on. A wrong reply fails the run; so does one INCR
//! result that repeats or goes missing (INCR must count exactly). Small
//! request counts keep the test to seconds.

mod util;

#[path = "redis/harness.rs"]
mod harness;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use harness::{run, serve_with, Client, Config, Reply};

/// What the checks learnt over the whole run.
#[derive(Debug, Default)]
struct Seen {
    /// Values the benchmark stored with SET, MSET, pushes, HSET.
    values: HashSet<Vec<u8>>,
    incr_results: Vec<i64>,
    /// The list's length after the last push, while no pop has run since.
    list_len: Option<i64>,
    replies: u64,
    failures: Vec<String>,
}

/// A command as the benchmark sent it (inline PING included).
type Command = Vec<Vec<u8>>;

/// Parses every whole command at the front of `buf`; returns them and the
/// bytes they took.
fn commands(buf: &[u8]) -> (Vec<Command>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let rest = &buf[at..];
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            break;
        };
        if rest[0] != b'*' {
            let line = String::from_utf8_lossy(&rest[..nl]).trim().to_owned();
            out.push(line.split_whitespace().map(|w| w.as_bytes().to_vec()).collect());
            at += nl + 1;
            continue;
        }
        let n: usize = std::str::from_utf8(&rest[1..nl - 1]).unwrap().parse().unwrap();
        let mut pos = nl + 1;
        let mut args = Vec::new();
        for _ in 0..n {
            let Some(hl) = rest[pos..].iter().position(|&b| b == b'\n') else {
                return (out, at);
            };
            let len: usize = std::str::from_utf8(&rest[pos + 1..pos + hl - 1])
                .unwrap()
                .parse()
                .unwrap();
            let start = pos + hl + 1;
            if rest.len() < start + len + 2 {
                return (out, at);
            }
            args.push(rest[start..start + len].to_vec());
            pos = start + len + 2;
        }
        out.push(args);
        at += pos;
    }
    (out, at)
}

/// Reads one reply, returning it parsed and as raw bytes.
fn read_reply(r: &mut BufReader<TcpStream>, raw: &mut Vec<u8>) -> Reply {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line).expect("a reply from the server");
    assert!(!line.is_empty(), "the server closed the connection");
    raw.extend_from_slice(&line);
    let text = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
    match line[0] {
        b'+' => Reply::Status(text),
        b'-' => Reply::Error(text),
        b':' => Reply::Int(text.parse().unwrap()),
        b'$' => {
            let n: i64 = text.parse().unwrap();
            if n < 0 {
                return Reply::Null;
            }
            let mut body = vec![0; n as usize + 2];
            r.read_exact(&mut body).unwrap();
            raw.extend_from_slice(&body);
            body.truncate(n as usize);
            Reply::Bulk(body)
        }
        b'*' => {
            let n: i64 = text.parse().unwrap();
            if n < 0 {
                return Reply::Null;
            }
            Reply::Array((0..n).map(|_| read_reply(r, raw)).collect())
        }
        other => panic!("unexpected reply type {:?}", other as char),
    }
}

/// Checks `reply` against what `cmd` must answer.
fn check(cmd: &Command, reply: &Reply, seen: &mut Seen) {
    seen.replies += 1;
    let name = String::from_utf8_lossy(&cmd[0]).to_ascii_uppercase();
    let known = |v: &Reply, seen: &Seen| matches!(v, Reply::Bulk(b) if seen.values.contains(b));
    let ok = match (name.as_str(), reply) {
        ("PING", Reply::Status(s)) => s == "PONG",
        ("SET", Reply::Status(s)) => {
            seen.values.insert(cmd[2].clone());
            s == "OK"
        }
        ("MSET", Reply::Status(s)) => {
            seen.values.extend(cmd[2..].iter().step_by(2).cloned());
            s == "OK"
        }
        ("GET", r) => known(r, seen),
        ("INCR", Reply::Int(n)) => {
            seen.incr_results.push(*n);
            true
        }
        ("LPUSH" | "RPUSH", Reply::Int(n)) => {
            seen.values.insert(cmd[2].clone());
            seen.list_len = Some(seen.list_len.unwrap_or(0).max(*n));
            *n >= 1
        }
        ("LPOP" | "RPOP", r) => {
            seen.list_len = None;
            *r == Reply::Null || known(r, seen)
        }
        ("LRANGE", Reply::Array(items)) => {
            let want: i64 = String::from_utf8_lossy(&cmd[3]).parse::<i64>().unwrap() + 1;
            let len_ok = match seen.list_len {
                Some(len) => items.len() as i64 == want.min(len),
                None => items.len() as i64 <= want,
            };
            len_ok && items.iter().all(|i| known(i, seen))
        }
        ("SADD" | "HSET" | "ZADD", Reply::Int(n)) => {
            seen.values.insert(cmd[cmd.len() - 1].clone());
            seen.values.insert(cmd[cmd.len() - 2].clone());
            *n == 0 || *n == 1
        }
        ("SPOP", r) => *r == Reply::Null || known(r, seen),
        ("ZPOPMIN", Reply::Array(items)) => {
            items.is_empty() || (items.len() == 2 && known(&items[0], seen) && items[1] == Reply::bulk("0"))
        }
        ("CONFIG", Reply::Array(items)) => items.len() == 2 && items[0] == Reply::Bulk(cmd[2].to_ascii_lowercase()),
        _ => false,
    };
    if !ok && seen.failures.len() < 20 {
        let args: Vec<String> = cmd.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        seen.failures.push(format!("{args:?} got {reply:?}"));
    }
}

/// Carries one benchmark connection to the server, checking every reply.
fn relay(client: TcpStream, server: SocketAddr, seen: Arc<Mutex<Seen>>) {
    let upstream = TcpStream::connect(server).expect("connect to the server");
    upstream.set_nodelay(true).unwrap();
    client.set_nodelay(true).unwrap();
    let mut to_server = upstream.try_clone().unwrap();
    let mut from_server = BufReader::new(upstream);
    let mut to_client = client.try_clone().unwrap();
    let mut from_client = client;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match from_client.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let (cmds, used) = commands(&buf);
        if cmds.is_empty() {
            continue;
        }
        to_server.write_all(&buf[..used]).unwrap();
        buf.drain(..used);
        let mut raw = Vec::new();
        let mut checked = Vec::with_capacity(cmds.len());
        for _ in &cmds {
            checked.push(read_reply(&mut from_server, &mut raw));
        }
        {
            let mut seen = seen.lock().unwrap();
            for (cmd, reply) in cmds.iter().zip(&checked) {
                check(cmd, reply, &mut seen);
            }
        }
        if to_client.write_all(&raw).is_err() {
            break;
        }
    }
    let _ = to_server.shutdown(Shutdown::Both);
}

/// Starts the checking proxy in front of `server`; returns its address.
fn proxy(server: SocketAddr, seen: Arc<Mutex<Seen>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let seen = seen.clone();
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || relay(conn, server, seen))
                .expect("a proxy thread");
        }
    });
    addr
}

/// Lets this process (and the benchmark it starts) hold a few thousand sockets.
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit with a valid struct; no memory is shared.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max.min(65_536);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Runs redis-benchmark through the checking proxy; returns its CSV lines.
fn benchmark(clients: usize, pipeline: usize, requests: usize, tests: Option<&str>) -> Vec<String> {
    raise_fd_limit();
    let engine = serve_with(Config::default(), 2);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let via = proxy(engine.local_addr(), seen.clone());
    let (c, p, n, port) = (
        clients.to_string(),
        pipeline.to_string(),
        requests.to_string(),
        via.port().to_string(),
    );
    let mut args = vec!["-h", "127.0.0.1", "-p", &port, "-c", &c, "-P", &p, "-n", &n, "--csv"];
    if let Some(t) = tests {
        args.extend(["-t", t]);
    }
    let out = run("redis-benchmark", &args, None);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "redis-benchmark {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = seen.lock().unwrap();
    assert!(seen.failures.is_empty(), "wrong replies:\n{}", seen.failures.join("\n"));
    // Every INCR counted once: the results are exactly 1..=n.
    let mut incr = seen.incr_results.clone();
    incr.sort_unstable();
    assert!(
        incr.iter().enumerate().all(|(i, &v)| v == i as i64 + 1),
        "INCR results repeat or skip"
    );
    let mut c = Client::connect(engine.local_addr());
    if !incr.is_empty() {
        assert_eq!(c.cmd("GET counter:__rand_int__"), Reply::bulk(&incr.len().to_string()));
    }
    assert!(seen.replies >= requests as u64, "only {} replies checked", seen.replies);
    let info = c.cmd("INFO stats").text();
    assert!(info.contains("total_error_replies:0\r\n"), "{info}");
    stdout.lines().skip(1).map(str::to_owned).collect()
}

/// The tests redis-benchmark 7.0 runs when none is named.
const DEFAULT_SUITE: [&str; 20] = [
    "PING_INLINE",
    "PING_MBULK",
    "SET",
    "GET",
    "INCR",
    "LPUSH",
    "RPUSH",
    "LPOP",
    "RPOP",
    "SADD",
    "HSET",
    "SPOP",
    "ZADD",
    "ZPOPMIN",
    "LPUSH (needed to benchmark LRANGE)",
    "LRANGE_100 (first 100 elements)",
    "LRANGE_300 (first 300 elements)",
    "LRANGE_500 (first 500 elements)",
    "LRANGE_600 (first 600 elements)",
    "MSET (10 keys)",
];

fn assert_ran(lines: &[String], tests: &[&str]) {
    let names: Vec<String> = lines
        .iter()
        .map(|l| l.split("\",\"").next().unwrap_or("").trim_matches('"').to_owned())
        .collect();
    assert_eq!(names, tests, "the tests redis-benchmark reported");
}

#[test]
fn default_suite_with_50_clients_one_request_at_a_time() {
    let lines = benchmark(50, 1, 1_000, None);
    assert_ran(&lines, &DEFAULT_SUITE);
}

#[test]
fn default_suite_with_50_clients_16_pipelined() {
    let lines = benchmark(50, 16, 1_600, None);
    assert_ran(&lines, &DEFAULT_SUITE);
}

#[test]
fn set_get_with_1000_clients() {
    let lines = benchmark(1000, 1, 10_000, Some("set,get"));
    assert_ran(&lines, &["SET", "GET"]);
}

#[test]
fn set_get_with_1000_clients_16_pipelined() {
    let lines = benchmark(1000, 16, 40_000, Some("set,get,incr"));
    assert_ran(&lines, &["SET", "GET", "INCR"]);
}

#[test]
fn the_proxy_catches_a_wrong_reply() {
    let mut seen = Seen::default();
    check(
        &vec![b"SET".to_vec(), b"k".to_vec(), b"VXK".to_vec()],
        &Reply::status("OK"),
        &mut seen,
    );
    check(&vec![b"GET".to_vec(), b"k".to_vec()], &Reply::bulk("VXX"), &mut seen);
    check(&vec![b"PING".to_vec()], &Reply::error("ERR"), &mut seen);
    assert_eq!(seen.failures.len(), 2, "{:?}", seen.failures);
}
