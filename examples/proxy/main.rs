//! A TCP proxy: `cargo run --release --example proxy -- --upstream tcp://127.0.0.1:9000`
//! listens on tcp://127.0.0.1:8000 and relays every connection to the
//! upstream (start `cargo run --release --example echo` first, then
//! `nc 127.0.0.1 8000`). Flags: `--addr`, `--loops`, `--upstream`.
//! Each inbound connection dials the upstream on its own loop; bytes are
//! relayed both ways without copying, a slow side pauses reading on the
//! other (memory stays bounded), and either side closing closes the other
//! after it has flushed.

#[path = "../common/mod.rs"]
mod common;
mod relay;

fn main() -> netreactor::Result<()> {
    let args = common::Args::parse(
        common::command(
            "proxy",
            "Relays every connection to the upstream, both ways.",
            "tcp://127.0.0.1:8000",
        )
        .arg(
            common::flag(
                "upstream",
                "ADDR",
                "Where to relay each connection (a host name is resolved once, at start)",
            )
            .default_value("tcp://127.0.0.1:9000")
            // Checked and resolved before serving: the loops dial it and
            // must not block on a name lookup.
            .value_parser(|v: &str| netreactor::Address::parse(v).map(|a| a.to_string())),
        ),
    );
    let upstream: String = args.get("upstream").expect("defaulted");
    eprintln!("proxy: {} -> {upstream}", args.addr);
    relay::engine_builder()
        .event_loops(args.loops)
        .handle_signals(true)
        .run(relay::Relay::new(&upstream), args.addr.as_str())
}
