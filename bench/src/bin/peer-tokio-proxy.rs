//! Peer: a TCP proxy on one tokio current-thread runtime, the way a tokio
//! user writes one: each accepted connection dials `--upstream` and
//! `tokio::io::copy_bidirectional` relays the pair (half-close passed on).
//! The anchor of benches/proxy.sh's `tokio` path. Prints `pid=PID
//! addr=IP:PORT` when listening.

use netreactor_bench::{announce, parse_addr, raise_nofile_limit, Flags};
use tokio::net::{TcpListener, TcpStream};

const USAGE: &str = "peer-tokio-proxy --addr IP:PORT --upstream IP:PORT";

async fn relay(mut client: TcpStream, upstream: std::net::SocketAddr) {
    let _ = client.set_nodelay(true);
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = server.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

fn main() {
    let flags = Flags::parse(USAGE, &[]);
    flags.only(&["addr", "upstream"]);
    let addr = parse_addr(flags.get("addr").unwrap_or("127.0.0.1:0")).unwrap_or_else(|| flags.fail("bad --addr"));
    let upstream = parse_addr(
        flags
            .get("upstream")
            .unwrap_or_else(|| flags.fail("--upstream is required")),
    )
    .unwrap_or_else(|| flags.fail("bad --upstream"));
    raise_nofile_limit();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind(addr).await.expect("bind");
        announce("peer-tokio-proxy", listener.local_addr().expect("local addr"));
        loop {
            match listener.accept().await {
                Ok((s, _)) => {
                    tokio::spawn(relay(s, upstream));
                }
                Err(e) => eprintln!("peer-tokio-proxy: accept: {e}"),
            }
        }
    });
}
