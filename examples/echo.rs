//! Echo server: `cargo run --release --example echo` serves tcp://127.0.0.1:9000.
//! Flags: `--addr proto://host:port`, `--loops N`. Ctrl-C stops it cleanly.
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
    let args = common::Args::parse("tcp://127.0.0.1:9000");
    Engine::builder()
        .event_loops(args.loops)
        .reuse_port(args.get("reuseport").is_some_and(|v| v == "1"))
        .handle_signals(true)
        .socket_activation(true)
        .run(Echo, &args.addr)
}
