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
//! try it by hand. Redis's TLS flags, `--tls-port P --tls-cert-file FILE
//! --tls-key-file FILE`, serve TLS on port P of `--addr`'s host beside
//! the plain listener (`redis-cli --tls`).

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
            .arg(common::number(
                "tls-port",
                "PORT",
                "Also serve TLS on this port of --addr's host (0: none, as in Redis) [default: 0]",
            ))
            .arg(common::flag(
                "tls-cert-file",
                "FILE",
                "The TLS server's PEM certificate chain",
            ))
            .arg(common::flag("tls-key-file", "FILE", "The TLS server's PEM private key"))
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
    let mut builder = lifecycle.configure(netreactor::Engine::builder().event_loops(args.loops));
    let mut addrs = lifecycle.addrs().to_vec();
    if let Some(port) = args.get::<usize>("tls-port").filter(|&p| p != 0) {
        let (Some(cert), Some(key)) = (args.get::<String>("tls-cert-file"), args.get::<String>("tls-key-file")) else {
            return Err(netreactor::Error::InvalidConfig(
                "--tls-port needs --tls-cert-file and --tls-key-file".into(),
            ));
        };
        let port = u16::try_from(port)
            .map_err(|_| netreactor::Error::InvalidConfig(format!("--tls-port {port}: not a port")))?;
        let host = netreactor::Address::parse(&args.addr)?
            .socket_addr()
            .ok_or_else(|| netreactor::Error::InvalidConfig("--tls-port needs a TCP --addr".into()))?;
        builder = builder.tls(std::sync::Arc::new(netreactor::tls::server_config_from_pem(cert, key)?));
        addrs.push(format!("tls://{}", std::net::SocketAddr::new(host.ip(), port)));
    }
    let engine = server::start(config, builder, addrs.as_slice())?;
    // The ready line the benchmark scripts wait for.
    println!("pid={} addr={}", std::process::id(), engine.local_addr());
    eprintln!(
        "redis: listening on {:?} with {} loops",
        engine.local_addrs(),
        args.loops
    );
    lifecycle.serve(&engine)
}
