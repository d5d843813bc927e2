//! The HTTP/1.1 server as a netreactor [`Service`]: every complete
//! request of a read is answered in `on_traffic` (the engine sends all the
//! responses with one write when it returns), a partial request is left in
//! the buffer for the next read, and a response that ends the connection is
//! followed by a lingering close.
//!
//! Timeouts are the engine's, so they cost nothing per request:
//! `read_idle_timeout` is the keep-alive idle timeout, `frame_timeout` (input
//! left unconsumed, i.e. a request still incomplete, for too long) is the
//! request deadline that stops slowloris clients, `write_idle_timeout` drops
//! clients that stop reading their responses.
//!
//! While the engine drains, each connection's next response carries
//! `Connection: close` and ends it; silent ones are closed at the drain's
//! deadline.

use std::time::Duration;

use netreactor::options::DEFAULT_READ_BUFFER_BYTES;
use std::sync::OnceLock;

use netreactor::{Action, Conn, Engine, EngineBuilder, EngineHandle, Service, Writer};

use super::chunked::{self, Scan};
use super::date::{self, HttpDate};
use super::request::{self, Framing, Head, Limits, Parsed};
use super::response::{self, Status};
use super::routes::{self, Body, Now};

/// The server's limits and timeouts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub(crate) limits: Limits,
    /// A keep-alive connection that sends nothing for this long is closed.
    pub(crate) idle_timeout: Duration,
    /// A request must arrive whole (head and body) this long after its first
    /// byte, or the connection is closed.
    pub(crate) request_timeout: Duration,
    /// After a response that ends the connection the server sends FIN and
    /// keeps reading (and discarding) for at most this long before closing,
    /// so that a client still sending does not get a reset that would
    /// destroy the response before it reads it (RFC 9112 §9.6).
    pub(crate) linger: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits {
                max_head_bytes: 8 * 1024,
                max_body_bytes: 1024 * 1024,
            },
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
            linger: Duration::from_secs(2),
        }
    }
}

/// An engine builder with the server's timeouts and input limit applied;
/// loops, address and signals are the caller's.
pub(crate) fn engine_builder(config: &Config) -> EngineBuilder {
    // Never reached by a request the server accepts (it answers 431/413
    // first); a backstop that closes without an answer.
    let max_inbound = config.limits.max_head_bytes + config.limits.max_body_bytes + DEFAULT_READ_BUFFER_BYTES;
    Engine::builder()
        .read_idle_timeout(config.idle_timeout)
        .write_idle_timeout(config.idle_timeout)
        .frame_timeout(config.request_timeout)
        .max_inbound_buffer(max_inbound)
        // A drain never closes a keep-alive connection between requests
        // (the client's next one may be on the wire): the next response
        // says `Connection: close`; silent ones go at the drain's deadline.
        .close_idle_on_drain(false)
}

/// The handler.
#[derive(Debug)]
pub(crate) struct HttpServer {
    config: Config,
    /// The engine serving this handler (set in `on_boot`), for `/metrics`.
    engine: OnceLock<EngineHandle>,
}

/// Per-connection state (the service's `State`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ConnState {
    /// How far the chunked body of the request at the front of the buffer
    /// has been checked.
    chunked: chunked::Progress,
    /// The last response was written; input is discarded until the peer
    /// closes or the linger time ends.
    draining: bool,
}

/// Token of the timer that ends a lingering close.
const LINGER_TIMER: u64 = 1;

/// What became of the request at the front of the buffer.
enum Served {
    /// Answered; it was `len` bytes long.
    Answered { len: usize, keep_alive: bool },
    /// Not all here yet.
    Incomplete,
    /// Answered with an error; the connection ends.
    Rejected,
}

impl HttpServer {
    pub(crate) fn new(config: Config) -> HttpServer {
        HttpServer {
            config,
            engine: OnceLock::new(),
        }
    }

    /// Answers every complete request at the front of `input`; returns the
    /// bytes consumed and whether the connection ends. While the engine
    /// drains, the next response says `Connection: close` and ends it.
    fn serve_all(
        &self,
        input: &[u8],
        state: &mut ConnState,
        finish: bool,
        now: &Now<'_>,
        tx: &mut Writer<'_>,
    ) -> (usize, bool) {
        let mut consumed = 0;
        while consumed < input.len() {
            match self.serve_one(&input[consumed..], &mut state.chunked, finish, now, tx) {
                Served::Answered { len, keep_alive } => {
                    consumed += len;
                    state.chunked = chunked::Progress::default();
                    if !keep_alive {
                        return (consumed, true);
                    }
                }
                Served::Incomplete => break,
                Served::Rejected => return (consumed, true),
            }
        }
        (consumed, false)
    }

    fn serve_one(
        &self,
        buf: &[u8],
        progress: &mut chunked::Progress,
        finish: bool,
        now: &Now<'_>,
        tx: &mut Writer<'_>,
    ) -> Served {
        let mut head = match request::parse_head(buf, &self.config.limits) {
            Parsed::Complete(head) => head,
            Parsed::Partial => return Served::Incomplete,
            Parsed::Reject(status) => return reject(tx, status, now.date),
        };
        let rest = &buf[head.len..];
        let (body, body_len) = match head.framing {
            Framing::Empty => (Body::Plain(&[]), 0),
            Framing::Length(n) if rest.len() >= n => (Body::Plain(&rest[..n]), n),
            Framing::Length(_) => return await_body(&head, rest, tx),
            Framing::Chunked => match chunked::scan(rest, progress, self.config.limits.max_body_bytes) {
                Scan::Complete { wire_len, data_len } => (
                    Body::Chunked {
                        wire: &rest[..wire_len],
                        data_len,
                    },
                    wire_len,
                ),
                Scan::Partial => return await_body(&head, rest, tx),
                Scan::Invalid => return reject(tx, Status::BAD_REQUEST, now.date),
                Scan::TooLarge => return reject(tx, Status::PAYLOAD_TOO_LARGE, now.date),
            },
        };
        head.keep_alive &= !finish;
        routes::respond(tx, &head, body, now, self.engine.get());
        Served::Answered {
            len: head.len + body_len,
            keep_alive: head.keep_alive,
        }
    }
}

fn reject(tx: &mut Writer<'_>, status: Status, date: &HttpDate) -> Served {
    response::write_error(tx, status, date);
    Served::Rejected
}

/// The head is here, the body is not (all of it). A client that asked
/// `Expect: 100-continue` is waiting for the go-ahead before sending it;
/// it is given once, when nothing of the body has come yet (a read always
/// brings bytes, so the next call for this request has some).
fn await_body(head: &Head<'_>, body_so_far: &[u8], tx: &mut Writer<'_>) -> Served {
    if head.expect_continue && body_so_far.is_empty() {
        tx.write(response::CONTINUE);
    }
    Served::Incomplete
}

impl Service for HttpServer {
    type State = ConnState;

    fn on_boot(&self, engine: &EngineHandle) -> Action {
        let _ = self.engine.set(engine.clone());
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn, state: &mut ConnState) -> Action {
        if state.draining {
            let n = conn.inbound_len();
            conn.discard(n);
            return Action::Continue;
        }
        let date = date::now();
        let finish = conn.is_draining();
        let (mut rx, mut tx) = conn.split();
        let (consumed, ends) =
            routes::with_now(&date, |now| self.serve_all(rx.peek_all(), state, finish, now, &mut tx));
        rx.discard(consumed);
        if ends {
            // Lingering close: FIN after the response, then drop whatever
            // still comes until the peer closes or the linger timer fires.
            state.draining = true;
            let n = conn.inbound_len();
            conn.discard(n);
            conn.shutdown_write();
            conn.schedule(self.config.linger, LINGER_TIMER);
        }
        Action::Continue
    }

    fn on_timer(&self, _conn: &mut Conn, _: &mut ConnState, token: u64) -> Action {
        if token == LINGER_TIMER {
            Action::Close
        } else {
            Action::Continue
        }
    }
}
