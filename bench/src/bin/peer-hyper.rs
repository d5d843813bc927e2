//! Peer for benches/http.sh: hyper 1.x on one tokio current-thread runtime
//! (`netreactor_bench::hyper_peer`, shared with peer-hyper-tls), serving
//! `GET /plaintext` over plain TCP.
//! Prints `pid=PID addr=IP:PORT` when listening; stops on SIGTERM.

use netreactor_bench::{hyper_peer, parse_addr, Flags};

const USAGE: &str = "peer-hyper --addr IP:PORT";

fn main() {
    let flags = Flags::parse(USAGE, &[]);
    flags.only(&["addr"]);
    let addr = parse_addr(flags.get("addr").unwrap_or("127.0.0.1:0")).unwrap_or_else(|| flags.fail("bad --addr"));
    hyper_peer::run("peer-hyper", addr, None);
}
