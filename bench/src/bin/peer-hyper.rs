//! Peer for benches/http.sh: hyper 1.x on one tokio current-thread runtime
//! (one core, as the netreactor example with `--loops 1`), HTTP/1.1 only,
//! `pipeline_flush` on so pipelined responses leave in one write, as
//! hyper's own benchmark setups do. `GET /plaintext` answers
//! "Hello, World!" with the same header fields as examples/http
//! (Server, Content-Type, Content-Length, Date: hyper adds Date itself,
//! cached per second) in title case; anything else is 404.
//! Prints `pid=PID addr=IP:PORT` when listening; stops on SIGTERM.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, SERVER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use netreactor_bench::{announce, listener, parse_addr, raise_nofile_limit, Flags};
use tokio::net::TcpListener;

const USAGE: &str = "peer-hyper --addr IP:PORT";

async fn route(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match req.uri().path() {
        "/plaintext" => (StatusCode::OK, Bytes::from_static(b"Hello, World!")),
        _ => (StatusCode::NOT_FOUND, Bytes::from_static(b"Not Found")),
    };
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    // Ten characters, as "netreactor": the same response length.
    headers.insert(SERVER, HeaderValue::from_static("hyper-peer"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(resp)
}

fn main() {
    let flags = Flags::parse(USAGE, &[]);
    flags.only(&["addr"]);
    let addr = parse_addr(flags.get("addr").unwrap_or("127.0.0.1:0")).unwrap_or_else(|| flags.fail("bad --addr"));
    raise_nofile_limit();
    let std_listener = listener(addr, false).expect("bind");
    std_listener.set_nonblocking(true).expect("nonblocking");
    let bound = std_listener.local_addr().expect("local addr");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let l = TcpListener::from_std(std_listener).expect("listener");
        announce("peer-hyper", bound);
        loop {
            let stream = match l.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    eprintln!("peer-hyper: accept: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .title_case_headers(true)
                    .pipeline_flush(true)
                    .serve_connection(TokioIo::new(stream), service_fn(route))
                    .await;
            });
        }
    });
}
