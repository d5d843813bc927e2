//! The examples over TLS with the real clients: the HTTP example as HTTPS
//! (ALPN http/1.1) for `curl --cacert`, keep-alive, pipelining and wrk; the
//! Redis example's TLS listener beside its plain one for `redis-cli --tls`
//! and `redis-benchmark --tls`. The example's modules are compiled in, as
//! tests/http_clients.rs and tests/redis_cli.rs do.
#![cfg(feature = "tls")]

mod util;

#[path = "http/harness.rs"]
mod http;
#[path = "redis/harness.rs"]
mod redis;

use std::io::{Read, Write};
use std::process::{Command, Output};
use std::time::Instant;

use netreactor::{Address, Engine};
use util::tls::{client_config, connect, pki, server_config};
use util::IO_TIMEOUT;

/// Runs `program` with `args`; panics if it is missing or fails.
fn run(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}); .ci/run installs it"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn https_engine(name: &str) -> (util::Engine, util::tls::Pki, u16) {
    let pki = pki(name);
    let config = http::server::Config::default();
    let engine = http::server::engine_builder(&config)
        .event_loops(1)
        .tls(server_config(&pki, &[b"http/1.1"]))
        .start(http::server::HttpServer::new(config), "tls://127.0.0.1:0")
        .unwrap();
    let port = engine.local_addrs()[0].socket_addr().unwrap().port();
    (util::Engine(engine), pki, port)
}

#[test]
fn curl_over_https_with_keep_alive() {
    let (_engine, pki, port) = https_engine("tls_https_curl");
    let url = format!("https://127.0.0.1:{port}/plaintext");
    let out = run(
        "curl",
        &[
            "--silent",
            "--show-error",
            "--cacert",
            pki.ca.to_str().unwrap(),
            "--write-out",
            " %{http_version} %{num_connects}\n",
            &url,
            &url,
        ],
    );
    // Two requests, one connection (the second reused it), HTTP/1.1 by ALPN.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Hello, World! 1.1 1\nHello, World! 1.1 0\n"
    );
}

#[test]
fn pipelined_requests_over_https_are_answered_in_order() {
    let (_engine, pki, port) = https_engine("tls_https_pipeline");
    let mut client = connect(
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        client_config(&pki, &[b"http/1.1"]),
        "localhost",
    );
    let mut requests = Vec::new();
    for i in 0..16 {
        let path = if i % 2 == 0 { "/plaintext" } else { "/json" };
        requests.extend_from_slice(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    client.write_all(&requests).unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut buf = [0u8; 16384];
    while count(&got, b"HTTP/1.1 200 OK") < 16 || !got.ends_with(b"}") {
        assert!(
            Instant::now() < deadline,
            "16 pipelined responses not back: {}",
            String::from_utf8_lossy(&got)
        );
        let n = client.read(&mut buf).unwrap();
        assert!(n > 0, "closed early");
        got.extend_from_slice(&buf[..n]);
    }
    // In order: plaintext, json, plaintext, ...
    let text = String::from_utf8(got).unwrap();
    let responses: Vec<&str> = text.split("HTTP/1.1 200 OK").skip(1).collect();
    for (i, r) in responses.iter().enumerate() {
        let json = r.contains(r#"{"message":"Hello, World!"}"#);
        assert_eq!(json, i % 2 == 1, "response {i} out of order: {r}");
    }
}

#[test]
fn wrk_over_https_at_depth_1_and_16() {
    let (engine, _pki, port) = https_engine("tls_https_wrk");
    let target = format!("https://127.0.0.1:{port}/plaintext");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/http/pipeline.lua");
    for depth in ["1", "16"] {
        // wrk does not verify certificates: the other tests do.
        let out = run("wrk", &["-t1", "-c16", "-d1s", "-s", script, &target, "--", depth]);
        let text = String::from_utf8(out.stdout).unwrap();
        for bad in ["Non-2xx", "Socket errors"] {
            assert!(!text.contains(bad), "wrk at depth {depth}:\n{text}");
        }
        let done: u64 = text
            .lines()
            .find(|l| l.contains(" requests in "))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no request count in wrk's output:\n{text}"));
        // Low bars (a debug build on a loaded machine): wrk parsed every
        // response over TLS and saw no error.
        assert!(done >= 100, "only {done} responses at depth {depth}:\n{text}");
    }
    // wrk ends its run by closing its sockets without close_notify: those
    // are truncations (closed_tls_error), as they should be; nothing else.
    let stats = engine.stats();
    assert_eq!(
        stats.closed_timeout + stats.closed_overflow + stats.closed_handler_panic,
        0,
        "{stats:?}"
    );
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

#[test]
fn redis_cli_and_redis_benchmark_over_tls_beside_plain() {
    let pki = pki("tls_redis");
    let builder = Engine::builder().event_loops(2).tls(server_config(&pki, &[]));
    let engine = util::Engine(
        redis::server::start(
            redis::Config::default(),
            builder,
            ["tcp://127.0.0.1:0", "tls://127.0.0.1:0"].as_slice(),
        )
        .unwrap(),
    );
    let addrs = engine.local_addrs();
    assert!(matches!(addrs[1], Address::Tls(_)));
    let plain = addrs[0].socket_addr().unwrap().port().to_string();
    let tls = addrs[1].socket_addr().unwrap().port().to_string();
    let ca = pki.ca.to_str().unwrap();
    let cli = |port: &str, tls: bool, cmd: &[&str]| {
        let mut args = vec!["-h", "127.0.0.1", "-p", port];
        if tls {
            args.extend(["--tls", "--cacert", ca]);
        }
        args.extend(cmd);
        String::from_utf8(run("redis-cli", &args).stdout).unwrap()
    };
    assert_eq!(cli(&tls, true, &["SET", "greeting", "over tls"]), "OK\n");
    assert_eq!(cli(&plain, false, &["GET", "greeting"]), "over tls\n");
    assert_eq!(cli(&tls, true, &["GET", "greeting"]), "over tls\n");
    let out = run(
        "redis-benchmark",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &tls,
            "--tls",
            "--cacert",
            ca,
            "-t",
            "set,get",
            "-n",
            "2000",
            "-c",
            "8",
            "-P",
            "16",
            "-q",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SET: ") && text.contains("GET: "), "{text}");
    assert_eq!(engine.stats().closed_tls_handshake, 0, "{text}");
}
