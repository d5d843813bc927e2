//! netreactor echo server through the public API (`conn.echo_all()`).
//!
//! `--addr IP:PORT` (127.0.0.1:0), `--loops N` (1), `--reuseport 0|1` (0).
//! Prints `pid=PID addr=IP:PORT` when listening; SIGTERM/SIGINT stop it.

use netreactor::{Action, Conn, Engine, EventHandler};
use netreactor_bench::{announce, raise_nofile_limit, Flags};

const USAGE: &str = "nr-echo --addr IP:PORT --loops N --reuseport 0|1";

struct Echo;

impl EventHandler for Echo {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }
}

fn main() {
    let flags = Flags::parse(USAGE, &[]);
    flags.only(&["addr", "loops", "threads", "reuseport"]);
    let addr = flags.get("addr").unwrap_or("127.0.0.1:0");
    let loops: usize = flags.or("loops", flags.or("threads", 1usize));
    let reuse_port = flags.or("reuseport", 0u8) == 1;
    raise_nofile_limit();
    let url = if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("tcp://{addr}")
    };
    let engine = Engine::builder()
        .event_loops(loops)
        .reuse_port(reuse_port)
        .handle_signals(true)
        .start(Echo, &url)
        .unwrap_or_else(|e| {
            eprintln!("nr-echo: {e}");
            std::process::exit(1)
        });
    announce("nr-echo", engine.local_addr());
    engine.wait();
}
