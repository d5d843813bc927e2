//! Peer: a tokio `UdpSocket` echo on a current-thread runtime per thread,
//! each with its own `SO_REUSEPORT` socket (`--threads N`), the way a tokio
//! UDP server is usually written: `recv_from`, then `send_to`. Prints
//! `pid=PID addr=IP:PORT` when listening.

use std::net::SocketAddr;

use netreactor_bench::{announce, parse_addr, Flags};

const USAGE: &str = "peer-udp-tokio --addr IP:PORT --threads N";

fn socket(addr: SocketAddr) -> std::net::UdpSocket {
    let s = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::DGRAM, None).expect("socket");
    s.set_reuse_port(true).expect("SO_REUSEPORT");
    s.bind(&addr.into()).expect("bind");
    s.set_nonblocking(true).expect("nonblocking");
    s.into()
}

fn main() {
    let flags = Flags::parse(USAGE, &[]);
    flags.only(&["addr", "threads", "loops"]);
    let addr = flags.get("addr").unwrap_or("127.0.0.1:0");
    let addr = parse_addr(addr.trim_start_matches("udp://")).unwrap_or_else(|| flags.fail("bad --addr"));
    let threads: usize = flags.or("threads", flags.or("loops", 1usize)).max(1);
    let first = socket(addr);
    let bound = first.local_addr().expect("local addr");
    let mut sockets = vec![first];
    for _ in 1..threads {
        sockets.push(socket(bound));
    }
    let handles: Vec<_> = sockets
        .into_iter()
        .map(|s| {
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    let socket = tokio::net::UdpSocket::from_std(s).expect("tokio socket");
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        if let Ok((n, from)) = socket.recv_from(&mut buf).await {
                            let _ = socket.send_to(&buf[..n], from).await;
                        }
                    }
                });
            })
        })
        .collect();
    announce("peer-udp-tokio", bound);
    for h in handles {
        let _ = h.join();
    }
}
