//! Length-field framing: every frame is a 4-byte big-endian payload length,
//! then the payload. The server echoes each frame back; the client sends
//! frames of varied sizes and checks every echo byte for byte.
//!
//! ```sh
//! cargo run --release --example length_field                      # server on tcp://127.0.0.1:9001
//! cargo run --release --example length_field -- --mode client --frames 10000
//! ```
//! Flags: `--addr proto://host:port`, `--loops N`, `--mode server|client`,
//! `--frames N` and `--max-size BYTES` (client).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use netreactor::codec::{Decoder, Encoder, LengthFieldCodec};
use netreactor::{Action, BytesMut, CloseReason, Conn, Engine, EngineHandle, EventHandler, Frame};

struct FrameEcho;

impl EventHandler for FrameEcho {
    fn on_boot(&self, engine: &EngineHandle) -> Action {
        eprintln!("length_field: listening on {:?}", engine.local_addrs());
        Action::Continue
    }

    fn on_frame(&self, conn: &mut Conn, frame: Frame<'_>) -> Action {
        match conn.write_frame(&frame) {
            Ok(()) => Action::Continue,
            Err(_) => Action::Close,
        }
    }

    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        if !matches!(reason, CloseReason::PeerEof | CloseReason::Shutdown) {
            eprintln!("length_field: {:?} closed: {reason}", conn.peer_addr());
        }
    }
}

fn client(addr: &str, frames: usize, max_size: usize) -> std::io::Result<()> {
    let addr = addr.split_once("://").map_or(addr, |(_, a)| a);
    let mut stream = TcpStream::connect(addr)?;
    let mut codec = LengthFieldCodec::new();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut sent, mut received) = (Vec::new(), 0usize);
    let mut inbound = BytesMut::new();
    let mut buf = vec![0u8; 64 * 1024];
    let started = std::time::Instant::now();
    for batch in (0..frames).collect::<Vec<_>>().chunks(16) {
        let mut out = BytesMut::new();
        for &i in batch {
            let len = (next() as usize) % (max_size + 1);
            let payload: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
            codec.encode(&payload[..], &mut out).map_err(std::io::Error::from)?;
            sent.push(payload);
        }
        stream.write_all(&out)?;
        while received < sent.len() {
            match codec.decode(&mut inbound).map_err(std::io::Error::from)? {
                Some(frame) => {
                    if frame[..] != sent[received][..] {
                        return Err(std::io::Error::other(format!("frame {received} differs")));
                    }
                    received += 1;
                }
                None => {
                    let n = stream.read(&mut buf)?;
                    if n == 0 {
                        return Err(std::io::Error::other("server closed early"));
                    }
                    inbound.extend_from_slice(&buf[..n]);
                }
            }
        }
    }
    println!(
        "length_field client: {received} frames echoed byte for byte in {:?}",
        started.elapsed()
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = common::Args::parse(
        common::command(
            "length_field",
            "Echoes length-prefixed frames (4-byte big-endian length, then the payload), or checks such a server as a client.",
            "tcp://127.0.0.1:9001",
        )
        .arg(
            common::flag("mode", "server|client", "Serve, or connect to --addr and check the echo of every frame")
                .value_parser(["server", "client"])
                .default_value("server"),
        )
        .arg(common::number("frames", "N", "Frames the client sends").default_value("1000"))
        .arg(common::number("max-size", "BYTES", "Largest payload the client sends (sizes are random up to it)").default_value("65536")),
    );
    if args.get::<String>("mode").as_deref() == Some("client") {
        let frames = args.get("frames").expect("defaulted");
        let max_size = args.get("max-size").expect("defaulted");
        return Ok(client(&args.addr, frames, max_size)?);
    }
    Engine::builder()
        .event_loops(args.loops)
        .codec(LengthFieldCodec::new())
        .handle_signals(true)
        .run(FrameEcho, &args.addr)?;
    Ok(())
}
