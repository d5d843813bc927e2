//! Peer for benches/tls.sh: peer-hyper (hyper 1.x on one tokio
//! current-thread runtime, `netreactor_bench::hyper_peer`) behind
//! tokio-rustls (ring), with the server config netreactor's examples use.
//! Prints `pid=PID addr=IP:PORT` when listening; stops on SIGTERM.

use netreactor_bench::{hyper_peer, tls};

const USAGE: &str = "peer-hyper-tls --addr IP:PORT --tls-cert FILE --tls-key FILE";

fn main() {
    let (addr, config) = tls::peer_flags(USAGE);
    hyper_peer::run("peer-hyper-tls", addr, Some(config));
}
