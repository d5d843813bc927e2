//! UDP echo: `cargo run --release --example udp_echo` serves
//! udp://127.0.0.1:9001 (try `nc -u 127.0.0.1 9001`). Flags: `--addr
//! udp://host:port` (`udp4://`, `udp6://`), `--loops N`: every loop gets its
//! own SO_REUSEPORT socket on the port. Ctrl-C stops it.

mod common;

use netreactor::{Action, Conn, Engine, EngineHandle, EventHandler};

struct Echo;

impl EventHandler for Echo {
    fn on_boot(&self, engine: &EngineHandle) -> Action {
        eprintln!("udp_echo: listening on {:?}", engine.local_addrs());
        Action::Continue
    }

    /// One datagram: `peer_addr` is its sender, and what is written here
    /// goes back to it as one datagram.
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }

    fn on_shutdown(&self, engine: &EngineHandle) {
        let stats = engine.stats();
        eprintln!(
            "udp_echo: {} datagrams in, {} out, {} too large for the read buffer",
            stats.datagrams_in, stats.datagrams_out, stats.datagrams_truncated
        );
    }
}

fn main() -> netreactor::Result<()> {
    let args = common::Args::parse(common::command(
        "udp_echo",
        "Echoes every datagram back to its sender; every loop has its own SO_REUSEPORT socket on the port.",
        "udp://127.0.0.1:9001",
    ));
    Engine::builder()
        .event_loops(args.loops)
        .handle_signals(true)
        .run(Echo, args.addr.as_str())
}
