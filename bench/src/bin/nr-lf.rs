//! netreactor length-field echo server: `LengthFieldCodec::new()` (4-byte
//! big-endian payload length, then the payload); every frame is echoed with
//! `write_frame`.
//!
//! `--addr IP:PORT` (127.0.0.1:0), `--loops N` (1), `--reuseport 0|1` (0).
//! Prints `pid=PID addr=IP:PORT` when listening; SIGTERM/SIGINT stop it.

use netreactor::codec::LengthFieldCodec;
use netreactor::{Action, Bytes, Conn, Engine, EventHandler};
use netreactor_bench::{announce, raise_nofile_limit, Flags};

const USAGE: &str = "nr-lf --addr IP:PORT --loops N --reuseport 0|1";

struct FrameEcho;

impl EventHandler for FrameEcho {
    fn on_frame(&self, conn: &mut Conn, frame: Bytes) -> Action {
        match conn.write_frame(&frame) {
            Ok(()) => Action::Continue,
            Err(_) => Action::Close,
        }
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
        .codec(LengthFieldCodec::new())
        .handle_signals(true)
        .start(FrameEcho, &url)
        .unwrap_or_else(|e| {
            eprintln!("nr-lf: {e}");
            std::process::exit(1)
        });
    announce("nr-lf", engine.local_addr());
    engine.wait();
}
