//! Echo server: `cargo run --release --example echo` serves tcp://127.0.0.1:9000.
//! Flags: `--addr proto://host:port`, `--loops N`, `--reuseport 0|1`,
//! `--tls-cert FILE --tls-key FILE` (serve TLS on `--addr`; `--help` lists
//! them). Ctrl-C stops it cleanly.
//! Under systemd socket activation (`systemd-socket-activate -l
//! 127.0.0.1:9000 target/release/examples/echo`) it serves the inherited
//! socket whose address is `--addr`.

mod common;

use netreactor::{Action, Conn, Engine, EngineHandle, EventHandler};

struct Echo;

impl EventHandler for Echo {
    fn on_boot(&self, engine: &EngineHandle) -> Action {
        eprintln!("echo: listening on {:?}", engine.local_addrs());
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }

    fn on_shutdown(&self, engine: &EngineHandle) {
        eprintln!("echo: shutting down with {} connections", engine.connection_count());
    }
}

fn main() -> netreactor::Result<()> {
    let args = common::Args::parse(
        common::tls::flags(common::command(
            "echo",
            "Echoes every byte back to its sender.",
            "tcp://127.0.0.1:9000",
        ))
        .arg(
            common::flag(
                "reuseport",
                "0|1",
                "1: every loop accepts on its own SO_REUSEPORT listener (the kernel spreads connections) instead of one acceptor thread",
            )
            .value_parser(["0", "1"])
            .default_value("0"),
        ),
    );
    let mut builder = Engine::builder()
        .event_loops(args.loops)
        .reuse_port(args.get::<String>("reuseport").is_some_and(|v| v == "1"))
        .handle_signals(true)
        .socket_activation(true);
    let mut addr = args.addr.clone();
    if let Some((config, tls_addr)) = common::tls::server(&args, &[])? {
        builder = builder.tls(config);
        addr = tls_addr;
    }
    builder.run(Echo, &addr)
}
