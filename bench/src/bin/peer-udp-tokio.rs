//! Peer: a tokio `UdpSocket` echo on a current-thread runtime per thread,
//! each with its own `SO_REUSEPORT` socket (`--threads N`), the way a tokio
//! UDP server is usually written: `recv_from`, then `send_to`. Prints
//! `pid=PID addr=IP:PORT` when listening.

use netreactor_bench::{announce, parse_addr, reuseport_udp_sockets, Flags};

const USAGE: &str = "peer-udp-tokio --addr IP:PORT --threads N";

fn main() {
    let flags = Flags::parse(USAGE, &[]);
    flags.only(&["addr", "threads", "loops"]);
    let addr = flags.get("addr").unwrap_or("127.0.0.1:0");
    let addr = parse_addr(addr.trim_start_matches("udp://")).unwrap_or_else(|| flags.fail("bad --addr"));
    let threads: usize = flags.or("threads", flags.or("loops", 1usize)).max(1);
    let sockets = reuseport_udp_sockets(addr, threads).expect("bind");
    let bound = sockets[0].local_addr().expect("local addr");
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
