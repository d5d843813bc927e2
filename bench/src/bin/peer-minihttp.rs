//! Peer for benches/http.sh: may_minihttp (stackful coroutines on the `may`
//! runtime, one worker thread: one core, as the netreactor example with
//! `--loops 1`). `GET /plaintext` answers "Hello, World!" with
//! Content-Type text/plain; may_minihttp writes its own status line,
//! `Server: M`, Date (cached, refreshed every 500 ms) and Content-Length, so
//! its plaintext response is 9 bytes shorter than the others'. Anything else
//! is 404. may_minihttp cannot report a port it chose, so `--addr` needs a
//! real port. Prints `pid=PID addr=IP:PORT` when listening; stops on SIGTERM.

use std::io;

use may_minihttp::{HttpServer, HttpService, Request, Response};
use netreactor_bench::{announce, parse_addr, raise_nofile_limit, Flags};

const USAGE: &str = "peer-minihttp --addr IP:PORT (a fixed port)";

#[derive(Clone)]
struct Plaintext;

impl HttpService for Plaintext {
    fn call(&mut self, req: Request<'_, '_, '_>, rsp: &mut Response<'_>) -> io::Result<()> {
        if req.path() == "/plaintext" {
            rsp.header("Content-Type: text/plain").body("Hello, World!");
        } else {
            rsp.status_code(404, "Not Found").body("Not Found");
        }
        Ok(())
    }
}

fn main() {
    let flags = Flags::parse(USAGE, &[]);
    flags.only(&["addr"]);
    let addr = flags
        .get("addr")
        .and_then(parse_addr)
        .unwrap_or_else(|| flags.fail("bad --addr"));
    if addr.port() == 0 {
        flags.fail("--addr needs a fixed port");
    }
    raise_nofile_limit();
    may::config()
        .set_workers(1)
        .set_pool_capacity(1000)
        .set_stack_size(0x4000);
    let server = HttpServer(Plaintext).start(addr).expect("bind");
    announce("peer-minihttp", addr);
    let _ = server.join();
}
