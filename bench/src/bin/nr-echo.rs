//! netreactor echo server through the public API (`conn.echo_all()`).
//!
//! `--addr IP:PORT` (127.0.0.1:0; `udp://IP:PORT` serves UDP: each datagram
//! back to its sender), `--loops N` (1), `--reuseport 0|1` (0).
//! Prints `pid=PID addr=IP:PORT` when listening; SIGTERM/SIGINT stop it.

use netreactor::{Action, Conn, EventHandler};
use netreactor_bench::serve_netreactor;

const USAGE: &str = "nr-echo --addr IP:PORT --loops N --reuseport 0|1";

struct Echo;

impl EventHandler for Echo {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }
}

fn main() {
    serve_netreactor("nr-echo", USAGE, Echo, |b| b);
}
