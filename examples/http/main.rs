//! HTTP/1.1 server: `cargo run --release --example http` serves
//! http://127.0.0.1:8080 (`GET /plaintext`, `GET /json`, `POST /echo`).
//!
//! Flags: `--addr proto://host:port`, `--loops N`, `--idle-timeout SECS`
//! (keep-alive, default 60), `--request-timeout SECS` (a request must arrive
//! whole within this, default 10), `--max-body BYTES` (default 1 MiB).
//! `--pid-file PATH`, `--drain-timeout SECS` (default 10). SIGTERM or
//! Ctrl-C drains (each connection's next response says `Connection:
//! close`), SIGUSR2 upgrades in place (a new copy takes the listening
//! sockets and rewrites the pid file; this one drains and exits); started
//! by systemd with `LISTEN_FDS`, it serves systemd's sockets instead of
//! `--addr`. `--tls-cert FILE --tls-key FILE` serve HTTPS on `--addr`
//! (ALPN `http/1.1`). docs/examples.md and docs/deployment.md show how to try it.

#[path = "../common/mod.rs"]
mod common;

mod chunked;
mod date;
mod request;
mod response;
mod routes;
mod server;
mod words;

use std::time::Duration;

fn main() -> netreactor::Result<()> {
    let mut config = server::Config::default();
    let command = common::lifecycle::flags(common::tls::flags(common::command(
        "http",
        "HTTP/1.1 server: GET /plaintext, GET /json, POST /echo.",
        "tcp://127.0.0.1:8080",
    )))
    .arg(seconds_flag(
        "idle-timeout",
        "A keep-alive connection idle this long is closed",
        config.idle_timeout,
    ))
    .arg(seconds_flag(
        "request-timeout",
        "A request must arrive whole within this",
        config.request_timeout,
    ))
    .arg(common::number(
        "max-body",
        "BYTES",
        format!(
            "Largest request body, as sent (chunk framing included) [default: {}]",
            config.limits.max_body_bytes
        ),
    ));
    let args = common::Args::parse(command);
    let lifecycle = common::lifecycle::Lifecycle::new(&args)?;
    if let Some(secs) = args.get("idle-timeout") {
        config.idle_timeout = secs;
    }
    if let Some(secs) = args.get("request-timeout") {
        config.request_timeout = secs;
    }
    if let Some(bytes) = args.get("max-body") {
        config.limits.max_body_bytes = bytes;
    }
    let mut builder = lifecycle.configure(server::engine_builder(&config).event_loops(args.loops));
    let mut addrs = lifecycle.addrs().to_vec();
    // HTTPS: HTTP/1.1 is all this server speaks, and ALPN says so.
    if let Some((tls, _)) = common::tls::server(&args, &[b"http/1.1"])? {
        builder = builder.tls(tls);
        addrs = addrs.iter().map(|a| common::tls::tls_address(a)).collect();
    }
    let engine = builder.start(server::HttpServer::new(config), addrs.as_slice())?;
    eprintln!(
        "http: listening on {:?} with {} loops",
        engine.local_addrs(),
        args.loops
    );
    lifecycle.serve(&engine)
}

/// A `--name SECS` flag: seconds, fractions allowed (`0.5`).
fn seconds_flag(name: &'static str, help: &str, default: Duration) -> clap::Arg {
    common::flag(name, "SECS", format!("{help} [default: {}]", default.as_secs_f64()))
        .allow_negative_numbers(true) // refused below, with a reason
        .value_parser(|value: &str| {
            let secs: f64 = value.parse().map_err(|e| format!("{e}"))?;
            Duration::try_from_secs_f64(secs).map_err(|e| format!("{e}"))
        })
}
