//! A Redis-compatible server: `cargo run --release --example redis` serves
//! 127.0.0.1:6379; try it with `redis-cli`, `redis-benchmark` or any client.
//!
//! Flags: `--addr tcp://host:port`, `--loops N` (event loops, default: one
//! per core), `--proto-max-bulk-len BYTES` (longest value, default 512 MiB),
//! `--max-args N`, `--client-query-buffer-limit BYTES`,
//! `--client-output-buffer-limit-pubsub "32mb 8mb 60"` (when a subscriber
//! that does not read is closed; Redis's syntax). Ctrl-C stops it
//! cleanly. docs/examples.md shows how to try it by hand.

#[path = "../common/mod.rs"]
mod common;
mod server;

fn main() -> netreactor::Result<()> {
    let args = common::Args::parse("tcp://127.0.0.1:6379");
    let mut config = server::Config::default();
    let number = |name: &str| {
        args.get(name).map(|v| {
            v.parse::<usize>().unwrap_or_else(|_| {
                eprintln!("redis: --{name} wants a number, got {v:?}");
                std::process::exit(2)
            })
        })
    };
    if let Some(n) = number("proto-max-bulk-len") {
        config.limits.max_bulk_len = n;
        config.output_limit = config.output_limit.max(2 * n + 64 * 1024 * 1024);
    }
    if let Some(n) = number("max-args") {
        config.limits.max_args = n;
    }
    if let Some(n) = number("client-query-buffer-limit") {
        config.query_buffer_limit = n;
    }
    if let Some(v) = args.get("client-output-buffer-limit-pubsub") {
        config.pubsub_output_limit = server::OutputLimit::parse(v).unwrap_or_else(|| {
            eprintln!("redis: --client-output-buffer-limit-pubsub wants \"<hard> <soft> <seconds>\", e.g. \"32mb 8mb 60\"; got {v:?}");
            std::process::exit(2)
        });
    }
    // A value of the longest allowed length must fit a connection's input,
    // and two such commands the engine-wide budget.
    config.query_buffer_limit = config.query_buffer_limit.max(config.limits.max_bulk_len + 1024 * 1024);
    config.inbound_budget = config.inbound_budget.max(2 * config.query_buffer_limit);
    let builder = netreactor::Engine::builder()
        .event_loops(args.loops)
        .handle_signals(true);
    let engine = server::start(config, builder, &args.addr)?;
    // The ready line the benchmark scripts wait for.
    println!("pid={} addr={}", std::process::id(), engine.local_addr());
    eprintln!(
        "redis: listening on {:?} with {} loops",
        engine.local_addrs(),
        args.loops
    );
    engine.wait()
}
