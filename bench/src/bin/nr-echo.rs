//! netreactor echo server through the public API (`conn.echo_all()`).
//!
//! `--addr IP:PORT` (127.0.0.1:0; `udp://IP:PORT` serves UDP: each datagram
//! back to its sender), `--loops N` (1), `--reuseport 0|1` (0), `--rcvbuf
//! BYTES` (SO_RCVBUF of its sockets; the kernel default when left out).
//! Prints `pid=PID addr=IP:PORT` when listening; SIGTERM/SIGINT stop it.

use netreactor::{Action, Conn, EventHandler};
use netreactor_bench::serve_netreactor;

const USAGE: &str = "nr-echo --addr IP:PORT --loops N --reuseport 0|1 [--rcvbuf BYTES]";

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
