//! Peer: one tokio current-thread runtime per thread (`--threads N`), each
//! with its own `SO_REUSEPORT` listener, so the kernel spreads connections
//! and no task ever moves between threads (the "thread per core" layout).
//! Prints `pid=PID addr=IP:PORT` when listening.

use netreactor_bench::{announce, parse_addr, raise_nofile_limit, reuseport_listeners, Flags};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const USAGE: &str = "peer-tokio-ct --addr IP:PORT --threads N";

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
    let listeners = reuseport_listeners(addr, threads).expect("bind");
    let bound = listeners[0].local_addr().expect("local addr");
    let mut handles = Vec::new();
    for (i, std_listener) in listeners.into_iter().enumerate() {
        std_listener.set_nonblocking(true).expect("nonblocking");
        let h = std::thread::Builder::new()
            .name(format!("tokio-ct-{i}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    let l = TcpListener::from_std(std_listener).expect("listener");
                    loop {
                        match l.accept().await {
                            Ok((s, _)) => {
                                tokio::spawn(echo(s));
                            }
                            Err(e) => eprintln!("peer-tokio-ct: accept: {e}"),
                        }
                    }
                });
            })
            .expect("spawn");
        handles.push(h);
    }
    announce("peer-tokio-ct", bound);
    for h in handles {
        let _ = h.join();
    }
}
