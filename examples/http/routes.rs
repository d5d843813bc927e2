//! What the server answers: `/plaintext` and `/json` (GET and HEAD), `/echo`
//! (POST or PUT: the request body back, so body framing can be checked from
//! outside), `/metrics` (GET and HEAD: the engine's counters in the
//! Prometheus text format), 405 for another method on those paths, 404 for anything else.
//!
//! The whole response to the most common request, `GET /plaintext` on a
//! keep-alive connection, is assembled once a second per loop thread (it
//! changes only with the `Date`) and copied out per request; everything else
//! is assembled per request.

use std::cell::RefCell;

use netreactor::{EngineHandle, Writer};
use serde::Serialize;

use super::chunked;
use super::date::HttpDate;
use super::request::Head;
use super::response::{self, Assembled, Connection, Status};

/// The body of `/plaintext`.
pub(crate) const PLAINTEXT: &[u8] = b"Hello, World!";

thread_local! {
    /// The whole `GET /plaintext` response of an HTTP/1.1 keep-alive
    /// connection, and the date it carries: it changes once a second.
    static PLAINTEXT_RESPONSE: RefCell<Option<(HttpDate, Assembled)>> = const { RefCell::new(None) };
}

/// The body of `/json`, serialized per request (as a real handler would).
#[derive(Serialize)]
struct Message<'a> {
    message: &'a str,
}

/// A request's body, as it lies in the read buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Body<'b> {
    /// `Content-Length` (or no body: empty).
    Plain(&'b [u8]),
    /// A complete chunked body (framing included) and its data length.
    Chunked { wire: &'b [u8], data_len: usize },
}

impl Body<'_> {
    fn data_len(&self) -> usize {
        match *self {
            Body::Plain(b) => b.len(),
            Body::Chunked { data_len, .. } => data_len,
        }
    }
}

/// What the responses to one read's requests share: the `Date`, and the
/// whole `GET /plaintext` response of an HTTP/1.1 keep-alive connection
/// that carries it.
pub(crate) struct Now<'a> {
    pub(crate) date: &'a HttpDate,
    plaintext: &'a Assembled,
}

/// Runs `f` with the responses' shared parts for `date`: the cached
/// `/plaintext` response is looked up (and assembled again when the date
/// has changed) once per read, not once per request.
pub(crate) fn with_now<R>(date: &HttpDate, f: impl FnOnce(&Now<'_>) -> R) -> R {
    PLAINTEXT_RESPONSE.with_borrow_mut(|cached| {
        let fresh = match cached {
            Some((at, response)) if at == date => response,
            _ => {
                let head = ok_head("text/plain", PLAINTEXT.len(), Connection::KeepAlive, date);
                &cached.insert((*date, head.assemble(PLAINTEXT))).1
            }
        };
        f(&Now { date, plaintext: fresh })
    })
}

/// The head of a 200 response.
fn ok_head<'a>(
    content_type: &'static str,
    content_length: usize,
    connection: Connection,
    date: &'a HttpDate,
) -> response::Head<'a> {
    response::Head {
        status: Status::OK,
        content_type,
        content_length,
        connection,
        extra: "",
        date,
    }
}

/// Writes the response to one complete, valid request.
/// `engine` is the engine serving the request, for `/metrics`.
pub(crate) fn respond(
    tx: &mut Writer<'_>,
    req: &Head<'_>,
    body: Body<'_>,
    now: &Now<'_>,
    engine: Option<&EngineHandle>,
) {
    let date = now.date;
    let connection = Connection::new(req.keep_alive, req.minor_version);
    let ok = |content_type, content_length| ok_head(content_type, content_length, connection, date);
    let head_only = req.method == "HEAD";
    match (req.path, req.method) {
        // The common case, assembled once per second per loop thread.
        ("/plaintext", "GET") if connection == Connection::KeepAlive => tx.write(now.plaintext.bytes()),
        ("/plaintext", "GET" | "HEAD") => {
            let head = ok("text/plain", PLAINTEXT.len());
            response::write(tx, head, if head_only { b"" } else { PLAINTEXT });
        }
        ("/json", "GET" | "HEAD") => {
            let mut buf = [0u8; 64];
            let len = {
                let mut cursor = &mut buf[..];
                let message = Message {
                    message: "Hello, World!",
                };
                serde_json::to_writer(&mut cursor, &message).expect("the message fits in 64 bytes");
                64 - cursor.len()
            };
            let head = ok("application/json", len);
            response::write(tx, head, if head_only { b"" } else { &buf[..len] });
        }
        ("/echo", "POST" | "PUT") => {
            ok("application/octet-stream", body.data_len()).write(tx);
            match body {
                Body::Plain(data) => tx.write(data),
                Body::Chunked { wire, .. } => chunked::data(wire).for_each(|chunk| tx.write(chunk)),
            }
        }
        ("/metrics", "GET" | "HEAD") if engine.is_some() => {
            let mut text = String::new();
            netreactor::metrics::render(engine.expect("checked"), &mut text);
            let head = ok(netreactor::metrics::CONTENT_TYPE, text.len());
            response::write(tx, head, if head_only { b"" } else { text.as_bytes() });
        }
        ("/metrics", _) => not_allowed(tx, connection, "Allow: GET, HEAD\r\n", date),
        ("/plaintext" | "/json", _) => not_allowed(tx, connection, "Allow: GET, HEAD\r\n", date),
        ("/echo", _) => not_allowed(tx, connection, "Allow: POST, PUT\r\n", date),
        _ => {
            let status = Status::NOT_FOUND;
            let head = response::Head {
                status,
                content_type: "text/plain",
                content_length: status.reason.len(),
                connection,
                extra: "",
                date,
            };
            response::write(tx, head, if head_only { b"" } else { status.reason.as_bytes() });
        }
    }
}

fn not_allowed(tx: &mut Writer<'_>, connection: Connection, allow: &'static str, date: &HttpDate) {
    let status = Status::METHOD_NOT_ALLOWED;
    let head = response::Head {
        status,
        content_type: "text/plain",
        content_length: status.reason.len(),
        connection,
        extra: allow,
        date,
    };
    response::write(tx, head, status.reason.as_bytes());
}
