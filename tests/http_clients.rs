//! examples/http against real clients: curl, Python's http.client
//! (tests/http/client.py) and wrk (at depth 1 and pipelined 16 deep). Each
//! client must be installed (`.ci/run` installs them); a missing one fails
//! the test with a message saying so, rather than skipping it.

mod util;

#[path = "http/harness.rs"]
mod harness;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output};

use harness::serve;
use harness::server::Config;
use util::Rng;

/// Runs `program` with `args`; panics if it is missing or fails.
fn run(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {program} ({e}); install it (.ci/run: apt-get install -y curl wrk python3)")
    });
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

fn scratch_file(name: &str, contents: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("http_clients");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn curl_gets_both_routes_over_one_connection() {
    let engine = serve(Config::default());
    let addr = engine.local_addr();
    let out = run(
        "curl",
        &[
            "-sS",
            "-w",
            "\n%{http_code} %{num_connects}\n",
            &url(addr, "/plaintext"),
            &url(addr, "/json"),
            &url(addr, "/missing"),
        ],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    // num_connects: 1 for the first transfer, 0 when the connection is reused.
    assert_eq!(
        text,
        "Hello, World!\n200 1\n{\"message\":\"Hello, World!\"}\n200 0\nNot Found\n404 0\n"
    );
    assert_eq!(engine.stats().accepted, 1);
}

#[test]
fn curl_uploads_chunked_and_with_expect_100_continue() {
    let engine = serve(Config::default());
    let addr = engine.local_addr();
    let body = Rng::new(3).bytes(300_000);
    let file = scratch_file("upload", &body);
    let data = format!("@{}", file.display());
    let chunked = ["-H", "Transfer-Encoding: chunked"];
    let expect = ["-H", "Expect: 100-continue"];
    for (headers, go_ahead) in [
        (&chunked[..], false),
        (&[chunked, expect].concat()[..], true),
        (&expect[..], true),
    ] {
        let target = url(addr, "/echo");
        // --expect100-timeout: never send the body before the go-ahead.
        let mut args = vec![
            "-sS",
            "-v",
            "--expect100-timeout",
            "30",
            "--data-binary",
            &data,
            &target,
        ];
        args.extend(headers);
        let out = run("curl", &args);
        assert!(
            out.stdout == body,
            "{headers:?}: echo differs ({} bytes back)",
            out.stdout.len()
        );
        let trace = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            trace.contains("< HTTP/1.1 100 Continue"),
            go_ahead,
            "{headers:?}:\n{trace}"
        );
    }
    std::fs::remove_file(file).unwrap();
}

#[test]
fn curl_http_1_0_and_an_oversized_body() {
    let engine = serve(Config::default());
    let addr = engine.local_addr();
    let out = run("curl", &["-sS", "-0", "-i", &url(addr, "/plaintext")]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("\r\nConnection: close\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nHello, World!"), "{text}");

    let file = scratch_file("big", &vec![b'z'; 1024 * 1024 + 1]);
    let data = format!("@{}", file.display());
    let out = run(
        "curl",
        &[
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--data-binary",
            &data,
            &url(addr, "/echo"),
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "413");
    std::fs::remove_file(file).unwrap();
}

#[test]
fn python_http_client() {
    let engine = serve(Config::default());
    let addr = engine.local_addr();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/http/client.py");
    let port = addr.port().to_string();
    let out = run("python3", &[script, &addr.ip().to_string(), &port]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.trim_end().ends_with("passed, 0 failed"), "{text}");
}

/// Runs wrk for one second; returns the responses it counted.
fn wrk(addr: SocketAddr, depth: usize) -> u64 {
    let target = url(addr, "/plaintext");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/http/pipeline.lua");
    let depth_arg = depth.to_string();
    let out = run("wrk", &["-t1", "-c16", "-d1s", "-s", script, &target, "--", &depth_arg]);
    let text = String::from_utf8(out.stdout).unwrap();
    // wrk reports what went wrong on lines of their own.
    for bad in ["Non-2xx", "Socket errors"] {
        assert!(!text.contains(bad), "wrk at depth {depth}:\n{text}");
    }
    let line = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .unwrap_or_else(|| panic!("no request count in wrk's output:\n{text}"));
    line.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn wrk_at_depth_1_and_16() {
    let engine = serve(Config::default());
    let addr = engine.local_addr();
    let plain = wrk(addr, 1);
    let pipelined = wrk(addr, 16);
    // Low bars (a debug build on a loaded machine): the point is that wrk
    // parsed every response and saw no error.
    assert!(plain >= 200, "only {plain} responses at depth 1");
    assert!(pipelined >= 3200, "only {pipelined} responses at depth 16");
    let stats = engine.stats();
    assert!(stats.accepted >= 32, "{stats:?}"); // wrk may open one more to probe
    assert_eq!(
        stats.closed_timeout + stats.closed_overflow + stats.closed_handler_panic,
        0,
        "{stats:?}"
    );
}
