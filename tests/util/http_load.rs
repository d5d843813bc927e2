//! A closed-loop HTTP/1.1 load: each client thread keeps one keep-alive
//! connection, sends `GET /plaintext`, waits for the whole response, and
//! sends the next; after a `Connection: close` it reconnects. Every request
//! is counted (answered, non-2xx, failed, reset) and timed, so a test can
//! assert that none was lost and report percentiles for a time window.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const REQUEST: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: load\r\n\r\n";
/// The same, on a connection of its own.
const REQUEST_AND_CLOSE: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: load\r\nConnection: close\r\n\r\n";
const BODY: &[u8] = b"Hello, World!";
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// What one client saw.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) sent: u64,
    pub(crate) answered: u64,
    pub(crate) non_2xx: u64,
    /// Connection refused, timed out, closed before the whole response...
    pub(crate) failed: u64,
    /// ECONNRESET on connect, write or read.
    pub(crate) resets: u64,
    pub(crate) errors: Vec<String>,
    /// (when the request was sent, how long its response took).
    pub(crate) latencies: Vec<(Instant, Duration)>,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.sent += o.sent;
        self.answered += o.answered;
        self.non_2xx += o.non_2xx;
        self.failed += o.failed;
        self.resets += o.resets;
        self.errors.extend(o.errors);
        self.latencies.extend(o.latencies);
    }

    /// The `q` quantile (0..=1) of the latencies of requests sent in
    /// `[from, to)`, and how many there were.
    pub(crate) fn quantile(&self, q: f64, from: Instant, to: Instant) -> (Duration, usize) {
        let mut window: Vec<Duration> = self
            .latencies
            .iter()
            .filter(|(at, _)| *at >= from && *at < to)
            .map(|(_, d)| *d)
            .collect();
        window.sort();
        if window.is_empty() {
            return (Duration::ZERO, 0);
        }
        let i = ((window.len() as f64 * q).ceil() as usize).clamp(1, window.len()) - 1;
        (window[i], window.len())
    }
}

/// A running load; [`Load::finish`] stops it and sums the clients' tallies.
#[derive(Debug)]
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    clients: Vec<JoinHandle<Tally>>,
}

impl Load {
    /// Starts `clients` closed-loop clients against `addr`, each on a
    /// keep-alive connection.
    pub(crate) fn start(addr: SocketAddr, clients: usize) -> Load {
        Load::spawn(addr, clients, REQUEST)
    }

    /// As [`Load::start`], each request on a new connection (`Connection:
    /// close`): every request goes through a listener's accept queue.
    pub(crate) fn start_fresh(addr: SocketAddr, clients: usize) -> Load {
        Load::spawn(addr, clients, REQUEST_AND_CLOSE)
    }

    fn spawn(addr: SocketAddr, clients: usize, request: &'static [u8]) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let clients = (0..clients)
            .map(|_| {
                let (stop, answered) = (stop.clone(), answered.clone());
                std::thread::spawn(move || client(addr, request, &stop, &answered))
            })
            .collect();
        Load {
            stop,
            answered,
            clients,
        }
    }

    /// Responses received so far, over every client.
    pub(crate) fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    /// Waits until `more` further responses have come (the load makes
    /// progress), panicking after `timeout`.
    pub(crate) fn wait_for_more(&self, more: u64, timeout: Duration) {
        let target = self.answered() + more;
        super::wait_until(timeout, "the load makes progress", || self.answered() >= target);
    }

    pub(crate) fn finish(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        let mut total = Tally::default();
        for c in self.clients {
            total.merge(c.join().expect("a load client panicked"));
        }
        total
    }
}

fn client(addr: SocketAddr, request: &[u8], stop: &AtomicBool, answered: &AtomicU64) -> Tally {
    let mut t = Tally::default();
    let mut conn: Option<TcpStream> = None;
    let mut buf = Vec::with_capacity(4096);
    while !stop.load(Ordering::Relaxed) {
        let s = match conn.take() {
            Some(s) => s,
            None => match TcpStream::connect_timeout(&addr, IO_TIMEOUT) {
                Ok(s) => {
                    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
                    s.set_nodelay(true).unwrap();
                    s
                }
                Err(e) => {
                    t.sent += 1;
                    fail(&mut t, "connect", &e);
                    continue;
                }
            },
        };
        t.sent += 1;
        let sent_at = Instant::now();
        let mut s = s;
        if let Err(e) = s.write_all(request) {
            fail(&mut t, "write", &e);
            continue;
        }
        match read_response(&mut s, &mut buf) {
            Ok((status, keep)) => {
                t.latencies.push((sent_at, sent_at.elapsed()));
                t.answered += 1;
                answered.fetch_add(1, Ordering::Relaxed);
                if !(200..300).contains(&status) {
                    t.non_2xx += 1;
                }
                if keep {
                    conn = Some(s);
                }
            }
            Err(e) => fail(&mut t, "read", &e),
        }
    }
    t
}

fn fail(t: &mut Tally, during: &str, e: &std::io::Error) {
    if e.kind() == ErrorKind::ConnectionReset {
        t.resets += 1;
    } else {
        t.failed += 1;
    }
    if t.errors.len() < 10 {
        t.errors.push(format!("{during}: {e}"));
    }
}

/// Reads one whole response to `GET /plaintext`: (status, keep-alive).
fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<(u16, bool)> {
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(
                ErrorKind::UnexpectedEof,
                format!("closed after {} bytes of a response", buf.len()),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(head_len)) = response.parse(buf) else {
            continue;
        };
        let field = |name: &str| {
            response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).into_owned())
        };
        let len: usize = field("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        if buf.len() < head_len + len {
            continue;
        }
        let body = &buf[head_len..head_len + len];
        if body != BODY {
            return Err(std::io::Error::new(ErrorKind::InvalidData, "wrong body"));
        }
        let close = field("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        return Ok((response.code.unwrap_or(0), !close));
    }
}
