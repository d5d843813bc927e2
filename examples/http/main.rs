//! HTTP/1.1 server: `cargo run --release --example http` serves
//! http://127.0.0.1:8080 (`GET /plaintext`, `GET /json`, `POST /echo`).
//!
//! Flags: `--addr proto://host:port`, `--loops N`, `--idle-timeout SECS`
//! (keep-alive, default 60), `--request-timeout SECS` (a request must arrive
//! whole within this, default 10), `--max-body BYTES` (default 1 MiB).
//! Ctrl-C stops it cleanly. docs/examples.md shows how to try it.

#[path = "../common/mod.rs"]
mod common;

mod chunked;
mod date;
mod request;
mod response;
mod routes;
mod server;

use std::time::Duration;

fn main() -> netreactor::Result<()> {
    let args = common::Args::parse("tcp://127.0.0.1:8080");
    let mut config = server::Config::default();
    if let Some(secs) = seconds(&args, "idle-timeout") {
        config.idle_timeout = secs;
    }
    if let Some(secs) = seconds(&args, "request-timeout") {
        config.request_timeout = secs;
    }
    if let Some(bytes) = args.get("max-body") {
        config.limits.max_body_bytes = bytes.parse().unwrap_or_else(|_| bad_flag("max-body", bytes));
    }
    let engine = server::engine_builder(&config)
        .event_loops(args.loops)
        .handle_signals(true)
        .start(server::HttpServer::new(config), &args.addr)?;
    eprintln!(
        "http: listening on {:?} with {} loops",
        engine.local_addrs(),
        args.loops
    );
    engine.wait()
}

fn seconds(args: &common::Args, flag: &str) -> Option<Duration> {
    let value = args.get(flag)?;
    let secs: f64 = value.parse().unwrap_or_else(|_| bad_flag(flag, value));
    Some(Duration::try_from_secs_f64(secs).unwrap_or_else(|_| bad_flag(flag, value)))
}

fn bad_flag(flag: &str, value: &str) -> ! {
    eprintln!("--{flag} {value:?}: not a valid value");
    std::process::exit(2)
}
