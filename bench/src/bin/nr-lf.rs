//! netreactor length-field echo server: `LengthFieldCodec::new()` (4-byte
//! big-endian payload length, then the payload); every frame is echoed with
//! `write_frame`.
//!
//! `--addr IP:PORT` (127.0.0.1:0), `--loops N` (1), `--reuseport 0|1` (0).
//! Prints `pid=PID addr=IP:PORT` when listening; SIGTERM/SIGINT stop it.

use netreactor::codec::LengthFieldCodec;
use netreactor::{Action, Conn, EventHandler, Frame};
use netreactor_bench::serve_netreactor;

const USAGE: &str = "nr-lf --addr IP:PORT --loops N --reuseport 0|1";

struct FrameEcho;

impl EventHandler for FrameEcho {
    fn on_frame(&self, conn: &mut Conn, frame: Frame<'_>) -> Action {
        match conn.write_frame(&frame) {
            Ok(()) => Action::Continue,
            Err(_) => Action::Close,
        }
    }
}

fn main() {
    serve_netreactor("nr-lf", USAGE, FrameEcho, |b| b.codec(LengthFieldCodec::new()));
}
