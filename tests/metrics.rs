//! `netreactor::metrics::render` read back by the real Prometheus parser
//! (Python's `prometheus_client.parser`, installed by .ci/run): every
//! family parses with its type, every sample equals the counter it renders,
//! and counters only grow between two scrapes; examples/http serves them on
//! `/metrics` to curl.

mod util;

#[path = "http/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netreactor::{Action, Conn, Engine, EngineHandle, EventHandler, Stats};

struct Echo;
impl EventHandler for Echo {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }
}

/// Reads one counter from a loop's stats.
type Counter = fn(&Stats) -> u64;

/// One parsed sample: (sample name, sorted labels) -> value.
type Samples = BTreeMap<(String, Vec<(String, String)>), f64>;

/// Parses `text` with `prometheus_client.parser.text_string_to_metric_families`
/// and returns each family's type and every sample. The parser raises on
/// anything malformed, which fails the test with its message.
fn parse(text: &str) -> (BTreeMap<String, String>, Samples) {
    const SCRIPT: &str = r#"
import sys, json
from prometheus_client.parser import text_string_to_metric_families
out = {"families": {}, "samples": []}
for f in text_string_to_metric_families(sys.stdin.read()):
    out["families"][f.name] = f.type
    for s in f.samples:
        out["samples"].append([s.name, sorted(s.labels.items()), s.value])
print(json.dumps(out))
"#;
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (with prometheus_client: .ci/run installs it)");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused the text: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let families = v["families"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, t)| (k.clone(), t.as_str().unwrap().to_string()))
        .collect();
    let mut samples = Samples::new();
    for s in v["samples"].as_array().unwrap() {
        let labels = s[1]
            .as_array()
            .unwrap()
            .iter()
            .map(|kv| (kv[0].as_str().unwrap().to_string(), kv[1].as_str().unwrap().to_string()))
            .collect();
        let key = (s[0].as_str().unwrap().to_string(), labels);
        assert!(
            samples.insert(key.clone(), s[2].as_f64().unwrap()).is_none(),
            "{key:?} twice"
        );
    }
    (families, samples)
}

fn lp(i: usize) -> Vec<(String, String)> {
    vec![("loop".to_string(), i.to_string())]
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

fn echo_once(engine: &EngineHandle, payload: &[u8]) -> TcpStream {
    let mut c = TcpStream::connect(engine.local_addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(payload).unwrap();
    let mut back = vec![0; payload.len()];
    c.read_exact(&mut back).unwrap();
    assert_eq!(back, payload);
    c
}

#[test]
fn prometheus_parser_reads_every_family_with_exact_values() {
    let engine = Engine::builder()
        .event_loops(2)
        .start(Echo, "tcp://127.0.0.1:0")
        .unwrap();
    // Round robin: the first client on loop 0, the second on loop 1.
    let a = echo_once(&engine, b"hello");
    let b = echo_once(&engine, &[7u8; 1000]);
    drop(a); // peer EOF on loop 0
             // A close is counted before the connection leaves `open`, and bytes
             // after the send that delivered them: wait until all settled.
    wait_for("the counters to settle", || {
        let s = engine.stats();
        (s.closed(), s.open, s.bytes_in, s.bytes_out) == (1, 1, 1005, 1005)
    });

    let mut text = String::new();
    netreactor::metrics::render(&engine, &mut text);
    let loops = engine.loop_stats();
    let (families, samples) = parse(&text);

    let expected_types = [
        ("netreactor_connections_open", "gauge"),
        ("netreactor_connections_accepted", "counter"),
        ("netreactor_connections_dialed", "counter"),
        ("netreactor_connections_closed", "counter"),
        ("netreactor_connections_rejected", "counter"),
        ("netreactor_received_bytes", "counter"),
        ("netreactor_sent_bytes", "counter"),
        ("netreactor_frames_decoded", "counter"),
        ("netreactor_datagrams_received", "counter"),
        ("netreactor_datagrams_sent", "counter"),
        ("netreactor_datagrams_truncated", "counter"),
        ("netreactor_datagrams_dropped", "counter"),
        ("netreactor_loop_wakeups", "counter"),
        ("netreactor_loop_tasks", "counter"),
        ("netreactor_partial_inbound_bytes", "gauge"),
        ("netreactor_event_loops", "gauge"),
        ("netreactor_draining", "gauge"),
        ("netreactor_listener_connections_accepted", "counter"),
        ("netreactor_listener_connections_open", "gauge"),
    ];
    let expected: BTreeMap<String, String> = expected_types
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    assert_eq!(families, expected);

    let get = |name: &str, labels: Vec<(String, String)>| -> f64 {
        *samples
            .get(&(name.to_string(), labels.clone()))
            .unwrap_or_else(|| panic!("no sample {name}{labels:?} in\n{text}"))
    };
    for (i, s) in loops.iter().enumerate() {
        let per_loop: [(&str, Counter); 12] = [
            ("netreactor_connections_open", |s| s.open),
            ("netreactor_connections_accepted_total", |s| s.accepted),
            ("netreactor_connections_dialed_total", |s| s.dialed),
            ("netreactor_received_bytes_total", |s| s.bytes_in),
            ("netreactor_sent_bytes_total", |s| s.bytes_out),
            ("netreactor_frames_decoded_total", |s| s.frames_in),
            ("netreactor_datagrams_received_total", |s| s.datagrams_in),
            ("netreactor_datagrams_sent_total", |s| s.datagrams_out),
            ("netreactor_datagrams_truncated_total", |s| s.datagrams_truncated),
            ("netreactor_datagrams_dropped_total", |s| s.datagrams_dropped),
            ("netreactor_loop_wakeups_total", |s| s.wakeups),
            ("netreactor_loop_tasks_total", |s| s.tasks_run),
        ];
        for (name, read) in per_loop {
            if name.starts_with("netreactor_loop_") {
                // Wakeups and tasks may move between two reads; only checked
                // to exist and to be monotonic below.
                get(name, lp(i));
            } else {
                assert_eq!(get(name, lp(i)), read(s) as f64, "{name} loop {i}");
            }
        }
    }
    // The workload, exactly: loop 0 echoed 5 bytes and saw one EOF, loop 1
    // echoed 1000 bytes and still holds its connection.
    assert_eq!(get("netreactor_received_bytes_total", lp(0)), 5.0);
    assert_eq!(get("netreactor_sent_bytes_total", lp(1)), 1000.0);
    assert_eq!(get("netreactor_connections_open", lp(0)), 0.0);
    assert_eq!(get("netreactor_connections_open", lp(1)), 1.0);
    let closed = |i: usize, reason: &str| {
        let mut l = lp(i);
        l.push(("reason".into(), reason.into()));
        get("netreactor_connections_closed_total", l)
    };
    assert_eq!(closed(0, "peer_eof"), 1.0);
    for reason in [
        "peer_reset",
        "io_error",
        "local",
        "shutdown",
        "handler_panic",
        "overflow",
        "timeout",
        "codec_error",
        "tls_handshake",
        "tls_error",
    ] {
        assert_eq!(closed(0, reason), 0.0, "{reason}");
        assert_eq!(closed(1, reason), 0.0, "{reason}");
    }
    assert_eq!(closed(1, "peer_eof"), 0.0);
    assert_eq!(get("netreactor_connections_rejected_total", vec![]), 0.0);
    assert_eq!(get("netreactor_partial_inbound_bytes", vec![]), 0.0);
    assert_eq!(get("netreactor_event_loops", vec![]), 2.0);
    assert_eq!(get("netreactor_draining", vec![]), 0.0);
    // The one listener: both connections came from it, one is still open.
    let listener = vec![
        ("address".to_string(), engine.local_addrs()[0].to_string()),
        ("listener".to_string(), "0".to_string()),
    ];
    assert_eq!(
        get("netreactor_listener_connections_accepted_total", listener.clone()),
        2.0
    );
    assert_eq!(get("netreactor_listener_connections_open", listener), 1.0);
    // Nothing else: 12 per-loop families and 11 close reasons on 2 loops,
    // 4 engine-wide values, 2 per-listener families on 1 listener.
    assert_eq!(samples.len(), 12 * 2 + 11 * 2 + 4 + 2);

    // More traffic, then a second scrape: no counter went down, and the
    // ones the traffic moves went up.
    drop(b);
    let c = echo_once(&engine, b"again");
    drop(c);
    wait_for("both closes to be counted", || {
        let s = engine.stats();
        (s.closed(), s.open, s.bytes_out) == (3, 0, 1010)
    });
    let mut later = String::new();
    netreactor::metrics::render(&engine, &mut later);
    let (_, after) = parse(&later);
    assert_eq!(after.len(), samples.len());
    for (key, before) in &samples {
        if key.0.ends_with("_total") {
            assert!(after[key] >= *before, "{key:?} went down: {before} -> {}", after[key]);
        }
    }
    let sum = |m: &Samples, name: &str| -> f64 { m.iter().filter(|(k, _)| k.0 == name).map(|(_, v)| v).sum() };
    assert_eq!(sum(&after, "netreactor_connections_accepted_total"), 3.0);
    assert_eq!(sum(&after, "netreactor_received_bytes_total"), 1010.0);
    assert_eq!(sum(&after, "netreactor_connections_open"), 0.0);
    engine.stop();
}

#[test]
fn a_stopped_engine_still_renders_its_final_counters() {
    let engine = Engine::builder()
        .event_loops(1)
        .start(Echo, "tcp://127.0.0.1:0")
        .unwrap();
    let c = echo_once(&engine, b"x");
    engine.stop();
    drop(c);
    let mut text = String::new();
    netreactor::metrics::render(&engine, &mut text);
    let (_, samples) = parse(&text);
    let key = |n: &str, l: Vec<(String, String)>| (n.to_string(), l);
    let mut shutdown = lp(0);
    shutdown.push(("reason".into(), "shutdown".into()));
    assert_eq!(samples[&key("netreactor_connections_closed_total", shutdown)], 1.0);
    assert_eq!(samples[&key("netreactor_received_bytes_total", lp(0))], 1.0);
    assert_eq!(samples[&key("netreactor_connections_open", lp(0))], 0.0);
}

/// examples/http's `/metrics`, fetched by curl, is the exposition of the
/// engine serving it: the scrape's own connection is counted in it.
#[test]
fn http_example_serves_its_engine_on_metrics() {
    let engine = harness::serve(harness::server::Config::default());
    let addr = engine.local_addr();
    let url = format!("http://{addr}/metrics");
    let curl = |extra: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "--fail", "--max-time", "20"])
            .args(extra)
            .arg(&url)
            .output()
            .expect("curl (.ci/run installs it)");
        assert!(out.status.success(), "curl: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let content_type = curl(&["-o", "/dev/null", "-w", "%{content_type}"]);
    assert_eq!(content_type, netreactor::metrics::CONTENT_TYPE);
    // The second scrape: one connection closed (the first curl's) and one
    // open (this one), both on the example's single loop.
    wait_for("the first scrape's close", || {
        let s = engine.stats();
        (s.closed(), s.open) == (1, 0)
    });
    let (families, samples) = parse(&curl(&[]));
    assert_eq!(families["netreactor_connections_accepted"], "counter");
    let key = |n: &str, l: Vec<(String, String)>| (n.to_string(), l);
    assert_eq!(samples[&key("netreactor_connections_accepted_total", lp(0))], 2.0);
    assert_eq!(samples[&key("netreactor_connections_open", lp(0))], 1.0);
    assert_eq!(samples[&key("netreactor_event_loops", vec![])], 1.0);
    assert!(samples[&key("netreactor_received_bytes_total", lp(0))] > 0.0);

    // HEAD: the same head, no body; another method: 405 naming GET and HEAD.
    let mut client = harness::Client::connect(addr);
    client.send(b"HEAD /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = client.response_to(true);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Type"), netreactor::metrics::CONTENT_TYPE);
    assert!(head.body.is_empty());
    let post = client.exchange(b"POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    assert_eq!((post.status, post.header("Allow")), (405, "GET, HEAD"));
}
