//! Peer: tokio + tokio-util `LengthDelimitedCodec` (4-byte big-endian length,
//! then payload) echoing whole frames: `Framed`, feed every frame that can be
//! decoded without waiting, then one flush. `--threads N` multi-thread
//! workers. Prints `pid=PID addr=IP:PORT` when listening.

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use netreactor_bench::{announce, listener, parse_addr, raise_nofile_limit, Flags};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

const USAGE: &str = "peer-tokio-lf --addr IP:PORT --threads N";

async fn serve(s: TcpStream) -> std::io::Result<()> {
    s.set_nodelay(true)?;
    let codec = LengthDelimitedCodec::builder()
        .length_field_length(4)
        .max_frame_length(16 << 20)
        .new_codec();
    let mut framed = Framed::new(s, codec);
    while let Some(frame) = framed.next().await {
        SinkExt::<Bytes>::feed(&mut framed, frame?.freeze()).await?;
        // Everything already buffered (or readable right now) goes out with
        // the same flush.
        while let Some(next) = framed.next().now_or_never() {
            match next {
                Some(frame) => SinkExt::<Bytes>::feed(&mut framed, frame?.freeze()).await?,
                None => {
                    SinkExt::<Bytes>::flush(&mut framed).await?;
                    return Ok(());
                }
            }
        }
        SinkExt::<Bytes>::flush(&mut framed).await?;
    }
    Ok(())
}

fn main() {
    let flags = Flags::parse(USAGE, &[]);
    flags.only(&["addr", "threads", "loops"]);
    let addr = parse_addr(flags.get("addr").unwrap_or("127.0.0.1:0")).unwrap_or_else(|| flags.fail("bad --addr"));
    let threads: usize = flags.or("threads", flags.or("loops", 1usize)).max(1);
    raise_nofile_limit();
    let std_listener = listener(addr, false).expect("bind");
    std_listener.set_nonblocking(true).expect("nonblocking");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_io()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let l = TcpListener::from_std(std_listener).expect("listener");
        announce("peer-tokio-lf", l.local_addr().expect("local addr"));
        loop {
            match l.accept().await {
                Ok((s, _)) => {
                    tokio::spawn(serve(s));
                }
                Err(e) => eprintln!("peer-tokio-lf: accept: {e}"),
            }
        }
    });
}
