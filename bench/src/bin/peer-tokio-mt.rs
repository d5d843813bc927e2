//! Peer: tokio multi-thread runtime echo server (`--threads N` workers).
//!
//! The accept loop spawns one task per connection: read up to 8 KiB,
//! `write_all` it back. Prints `pid=PID addr=IP:PORT` when listening.

use netreactor_bench::{announce, listener, parse_addr, raise_nofile_limit, Flags};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const USAGE: &str = "peer-tokio-mt --addr IP:PORT --threads N";

async fn echo(mut s: TcpStream) {
    let _ = s.set_nodelay(true);
    let mut buf = vec![0u8; 8192];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
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
        announce("peer-tokio-mt", l.local_addr().expect("local addr"));
        loop {
            match l.accept().await {
                Ok((s, _)) => {
                    tokio::spawn(echo(s));
                }
                Err(e) => eprintln!("peer-tokio-mt: accept: {e}"),
            }
        }
    });
}
