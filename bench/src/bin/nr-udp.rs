//! netreactor UDP echo (`conn.echo_all()`: each datagram back to its sender).
//!
//! `--addr IP:PORT` (127.0.0.1:0), `--loops N` (1). Prints
//! `pid=PID addr=IP:PORT` when listening; SIGTERM/SIGINT stop it.

use netreactor::{Action, Conn, EventHandler};
use netreactor_bench::serve_netreactor;

const USAGE: &str = "nr-udp --addr udp://IP:PORT --loops N";

struct Echo;

impl EventHandler for Echo {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }
}

fn main() {
    serve_netreactor("nr-udp", USAGE, Echo, |b| b);
}
