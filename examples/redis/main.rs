//! A Redis-compatible server: `cargo run --release --example redis` serves
//! 127.0.0.1:6379; try it with `redis-cli`, `redis-benchmark` or any client.
//!
//! Flags: `--addr tcp://host:port`, `--loops N` (event loops, default: one
//! per core), `--proto-max-bulk-len BYTES` (longest value, default 512 MiB),
//! `--max-args N`, `--client-query-buffer-limit BYTES`,
//! `--client-output-buffer-limit-pubsub "32mb 8mb 60"` (when a subscriber
//! that does not read is closed; Redis's syntax), `--pid-file PATH`,
//! `--drain-timeout SECS`. SIGTERM or Ctrl-C drains (commands in flight
//! are answered, idle clients closed), SIGUSR2 upgrades in place (a new
//! copy takes the listening sockets and rewrites the pid file; this one
//! drains and exits); started by systemd with `LISTEN_FDS`, it serves
//! systemd's sockets instead of `--addr`. docs/examples.md shows how to
//! try it by hand.

#[path = "../common/mod.rs"]
mod common;
mod server;

fn main() -> netreactor::Result<()> {
    let mut config = server::Config::default();
    let args = common::Args::parse(common::lifecycle::flags(
        common::command("redis", "A Redis-compatible server.", "tcp://127.0.0.1:6379")
            .arg(common::number(
                "proto-max-bulk-len",
                "BYTES",
                format!(
                    "Longest value (bulk string) a client may send [default: {}]",
                    config.limits.max_bulk_len
                ),
            ))
            .arg(common::number(
                "max-args",
                "N",
                format!("Most arguments in one command [default: {}]", config.limits.max_args),
            ))
            .arg(common::number(
                "client-query-buffer-limit",
                "BYTES",
                format!(
                    "Most unparsed input one client may hold [default: {}]",
                    config.query_buffer_limit
                ),
            ))
            .arg(
                common::flag(
                    "client-output-buffer-limit-pubsub",
                    "LIMITS",
                    "When a subscriber that does not read is closed: \"<hard> <soft> <seconds>\", \
                     Redis's syntax [default: \"32mb 8mb 60\"]",
                )
                .value_parser(|v: &str| {
                    server::OutputLimit::parse(v)
                        .ok_or_else(|| "wants \"<hard> <soft> <seconds>\", e.g. \"32mb 8mb 60\"".to_owned())
                }),
            ),
    ));
    let lifecycle = common::lifecycle::Lifecycle::new(&args)?;
    if let Some(n) = args.get("proto-max-bulk-len") {
        config.limits.max_bulk_len = n;
        config.output_limit = config.output_limit.max(2 * n + 64 * 1024 * 1024);
    }
    if let Some(n) = args.get("max-args") {
        config.limits.max_args = n;
    }
    if let Some(n) = args.get("client-query-buffer-limit") {
        config.query_buffer_limit = n;
    }
    if let Some(limit) = args.get("client-output-buffer-limit-pubsub") {
        config.pubsub_output_limit = limit;
    }
    // A value of the longest allowed length must fit a connection's input,
    // and two such commands the engine-wide budget.
    config.query_buffer_limit = config.query_buffer_limit.max(config.limits.max_bulk_len + 1024 * 1024);
    config.inbound_budget = config.inbound_budget.max(2 * config.query_buffer_limit);
    let builder = lifecycle.configure(netreactor::Engine::builder().event_loops(args.loops));
    let engine = server::start(config, builder, lifecycle.addrs())?;
    // The ready line the benchmark scripts wait for.
    println!("pid={} addr={}", std::process::id(), engine.local_addr());
    eprintln!(
        "redis: listening on {:?} with {} loops",
        engine.local_addrs(),
        args.loops
    );
    lifecycle.serve(&engine)
}
