//! Peer for benches/tls.sh: peer-hyper (hyper 1.x on one tokio
//! current-thread runtime, `netreactor_bench::hyper_peer`) behind
//! tokio-rustls (ring), with the server config netreactor's examples use.
//! Prints `pid=PID addr=IP:PORT` when listening; stops on SIGTERM.

use netreactor_bench::{hyper_peer, parse_addr, tls, Flags};

const USAGE: &str = "peer-hyper-tls --addr IP:PORT --tls-cert FILE --tls-key FILE";

fn main() {
    let flags = Flags::parse(USAGE, &[]);
    flags.only(&["addr", "tls-cert", "tls-key"]);
    let addr = parse_addr(flags.get("addr").unwrap_or("127.0.0.1:0")).unwrap_or_else(|| flags.fail("bad --addr"));
    let (Some(cert), Some(key)) = (flags.get("tls-cert"), flags.get("tls-key")) else {
        flags.fail("--tls-cert and --tls-key are required");
    };
    hyper_peer::run("peer-hyper-tls", addr, Some(tls::server_config(cert, key)));
}
