//! Echo over a Unix socket: `cargo run --release --example unix_echo` serves
//! unix:///tmp/netreactor-echo.sock (try `socat - UNIX-CONNECT:/tmp/netreactor-echo.sock`
//! or `nc -U /tmp/netreactor-echo.sock`). Flags: `--addr unix:///path` (or
//! `unix://@name` for a Linux abstract name, or several kinds at once with
//! `--addr tcp://127.0.0.1:9000,unix:///tmp/admin.sock`), `--loops N`.
//! Ctrl-C stops it and removes the socket file.

mod common;

use netreactor::{Action, Conn, Engine, EngineHandle, EventHandler};

struct Echo;

impl EventHandler for Echo {
    fn on_boot(&self, engine: &EngineHandle) -> Action {
        eprintln!("unix_echo: listening on {:?}", engine.local_addrs());
        Action::Continue
    }

    fn on_open(&self, conn: &mut Conn) -> Action {
        match conn.peer_credentials() {
            Ok(peer) => eprintln!("unix_echo: pid {} (uid {}) connected", peer.pid, peer.uid),
            Err(_) => eprintln!("unix_echo: {:?} connected", conn.peer_addr()),
        }
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }
}

fn main() -> netreactor::Result<()> {
    let args = common::Args::parse(common::command(
        "unix_echo",
        "Echo over a Unix socket (unix:///path or unix://@abstract-name; several addresses separated by commas).",
        "unix:///tmp/netreactor-echo.sock",
    ));
    let addrs: Vec<&str> = args.addr.split(',').collect();
    Engine::builder()
        .event_loops(args.loops)
        .handle_signals(true)
        .run(Echo, addrs)
}
