//! Shared by the HTTP tests: the example's modules, compiled in, and a
//! minimal HTTP/1.1 client over a blocking socket that reads exactly what the
//! server sent.

#![allow(dead_code)]

#[path = "../../examples/http/chunked.rs"]
pub(crate) mod chunked;
#[path = "../../examples/http/date.rs"]
pub(crate) mod date;
#[path = "../../examples/http/request.rs"]
pub(crate) mod request;
#[path = "../../examples/http/response.rs"]
pub(crate) mod response;
#[path = "../../examples/http/routes.rs"]
pub(crate) mod routes;
#[path = "../../examples/http/server.rs"]
pub(crate) mod server;
#[path = "../../examples/http/words.rs"]
pub(crate) mod words;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use server::{Config, HttpServer};

/// Starts the example's server on 127.0.0.1:0 with one loop; stopped on drop.
pub(crate) fn serve(config: Config) -> super::util::Engine {
    let builder = server::engine_builder(&config).event_loops(1);
    super::util::start(builder, HttpServer::new(config))
}

/// The default configuration with short timeouts, so a test that waits for
/// one is quick.
pub(crate) fn quick_timeouts(idle: Duration, request: Duration) -> Config {
    Config {
        idle_timeout: idle,
        request_timeout: request,
        ..Config::default()
    }
}

/// One response as received.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) reason: String,
    /// (name, value) as sent.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// The value of the one field called `name` (any case); panics if it
    /// is missing or repeated.
    pub(crate) fn header(&self, name: &str) -> &str {
        let found: Vec<_> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .collect();
        assert_eq!(found.len(), 1, "expected one {name} field in {:?}", self.headers);
        &found[0].1
    }

    pub(crate) fn has_header(&self, name: &str) -> bool {
        self.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    pub(crate) fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("body is UTF-8")
    }
}

/// A client connection that reads responses one at a time, keeping what
/// arrived beyond the current one for the next.
pub(crate) struct Client {
    pub(crate) stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub(crate) fn connect(addr: SocketAddr) -> Client {
        Client {
            stream: super::util::connect(addr),
            buf: Vec::new(),
        }
    }

    pub(crate) fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send to the server");
    }

    /// Sends `raw` and reads one response.
    pub(crate) fn exchange(&mut self, raw: &[u8]) -> Response {
        self.send(raw);
        self.response()
    }

    /// Reads more bytes into the buffer; false on end of file.
    fn fill(&mut self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no complete response in time; have {:?}", self.shown());
        self.stream.set_read_timeout(Some(left)).unwrap();
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!("read failed with {:?} buffered: {e}", self.shown()),
            }
        }
    }

    fn shown(&self) -> String {
        String::from_utf8_lossy(&self.buf[..self.buf.len().min(300)]).into_owned()
    }

    /// Reads exactly `n` bytes (for interim responses such as 100 Continue).
    pub(crate) fn read_bytes(&mut self, n: usize) -> Vec<u8> {
        let deadline = Instant::now() + super::util::IO_TIMEOUT;
        while self.buf.len() < n {
            assert!(self.fill(deadline), "EOF before {n} bytes; have {:?}", self.shown());
        }
        self.buf.drain(..n).collect()
    }

    /// Reads one response with a `Content-Length` body (every response of
    /// this server has one).
    pub(crate) fn response(&mut self) -> Response {
        self.response_to(false)
    }

    /// As [`Client::response`], for a HEAD request (no body follows).
    pub(crate) fn response_to(&mut self, head_request: bool) -> Response {
        let deadline = Instant::now() + super::util::IO_TIMEOUT;
        let head_len = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(self.fill(deadline), "EOF inside a response head: {:?}", self.shown());
        };
        let head = String::from_utf8(self.buf[..head_len - 4].to_vec()).expect("head is UTF-8");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let mut parts = status_line.splitn(3, ' ');
        assert_eq!(parts.next(), Some("HTTP/1.1"), "status line {status_line:?}");
        let status: u16 = parts.next().and_then(|c| c.parse().ok()).expect("status code");
        let reason = parts.next().unwrap_or("").to_owned();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(": ").unwrap_or_else(|| panic!("field line {l:?}"));
                (n.to_owned(), v.to_owned())
            })
            .collect();
        let mut response = Response {
            status,
            reason,
            headers,
            body: Vec::new(),
        };
        let body_len = if head_request || status == 100 {
            0
        } else {
            response.header("Content-Length").parse().expect("Content-Length")
        };
        while self.buf.len() < head_len + body_len {
            assert!(self.fill(deadline), "EOF inside a body: {:?}", self.shown());
        }
        response.body = self.buf[head_len..head_len + body_len].to_vec();
        self.buf.drain(..head_len + body_len);
        response
    }

    /// Everything the server sends until it closes (end of file or reset),
    /// within `within`.
    pub(crate) fn rest_until_closed(&mut self, within: Duration) -> Vec<u8> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the server did not close within {within:?}; have {:?}",
                self.shown()
            );
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!("waiting for the close: {e}"),
            }
        }
        std::mem::take(&mut self.buf)
    }

    /// Asserts that the server closes the connection (end of file, or a
    /// reset after it) with nothing more sent, within `within`.
    pub(crate) fn expect_closed(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            assert!(self.buf.is_empty(), "unexpected bytes: {:?}", self.shown());
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the server did not close within {within:?}");
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!("waiting for the close: {e}"),
            }
        }
    }
}

/// `GET path` with a Host field and nothing else.
pub(crate) fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").into_bytes()
}
