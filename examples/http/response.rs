//! Status codes and writing a response head into the connection's outbound
//! queue: assembled on the stack and queued with one copy, no allocation.

use netreactor::Writer;

use super::date::HttpDate;

/// A status code and its reason phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Status {
    pub(crate) code: u16,
    pub(crate) reason: &'static str,
}

impl Status {
    pub(crate) const OK: Status = Status::new(200, "OK");
    pub(crate) const BAD_REQUEST: Status = Status::new(400, "Bad Request");
    pub(crate) const NOT_FOUND: Status = Status::new(404, "Not Found");
    pub(crate) const METHOD_NOT_ALLOWED: Status = Status::new(405, "Method Not Allowed");
    pub(crate) const PAYLOAD_TOO_LARGE: Status = Status::new(413, "Content Too Large");
    pub(crate) const URI_TOO_LONG: Status = Status::new(414, "URI Too Long");
    pub(crate) const EXPECTATION_FAILED: Status = Status::new(417, "Expectation Failed");
    pub(crate) const HEADERS_TOO_LARGE: Status = Status::new(431, "Request Header Fields Too Large");
    pub(crate) const NOT_IMPLEMENTED: Status = Status::new(501, "Not Implemented");
    pub(crate) const VERSION_NOT_SUPPORTED: Status = Status::new(505, "HTTP Version Not Supported");

    const fn new(code: u16, reason: &'static str) -> Status {
        Status { code, reason }
    }
}

/// The interim response that tells an `Expect: 100-continue` client to send
/// its body.
pub(crate) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What the response says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Connection {
    /// HTTP/1.1 keeps the connection by default: no header needed.
    KeepAlive,
    /// An HTTP/1.0 client asked to keep it: `Connection: keep-alive`.
    KeepAliveHttp10,
    /// `Connection: close`; the server closes after this response.
    Close,
}

impl Connection {
    pub(crate) fn new(keep_alive: bool, minor_version: u8) -> Connection {
        match (keep_alive, minor_version) {
            (false, _) => Connection::Close,
            (true, 0) => Connection::KeepAliveHttp10,
            (true, _) => Connection::KeepAlive,
        }
    }

    fn header(self) -> &'static [u8] {
        match self {
            Connection::KeepAlive => b"",
            Connection::KeepAliveHttp10 => b"Connection: keep-alive\r\n",
            Connection::Close => b"Connection: close\r\n",
        }
    }
}

/// The parts of a response head.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head<'a> {
    pub(crate) status: Status,
    pub(crate) content_type: &'static str,
    pub(crate) content_length: usize,
    pub(crate) connection: Connection,
    /// Further header lines, each ending in CRLF (e.g. `Allow: GET\r\n`).
    pub(crate) extra: &'static str,
    pub(crate) date: &'a HttpDate,
}

/// Room for the longest head this server writes (status line, five fields).
const HEAD_CAPACITY: usize = 320;
/// A body up to this size is assembled beside the head: one queued write.
const SMALL_BODY_BYTES: usize = 128;

/// A response head, and a small body after it, assembled on the stack.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Assembled {
    buf: [u8; HEAD_CAPACITY + SMALL_BODY_BYTES],
    len: usize,
    /// The body is in `buf` (it was small enough).
    has_body: bool,
}

impl Assembled {
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }
}

impl Head<'_> {
    /// Queues the head (the body follows with `tx.write`).
    pub(crate) fn write(&self, tx: &mut Writer<'_>) {
        tx.write(self.assemble(b"").bytes());
    }

    /// The head, followed by `body` if it is small.
    pub(crate) fn assemble(&self, body: &[u8]) -> Assembled {
        let mut out = Assembled {
            buf: [0; HEAD_CAPACITY + SMALL_BODY_BYTES],
            len: 0,
            has_body: false,
        };
        out.put(b"HTTP/1.1 ");
        out.put(&three_digits(self.status.code));
        out.put(b" ");
        out.put(self.status.reason.as_bytes());
        out.put(b"\r\nServer: netreactor\r\nDate: ");
        out.put(self.date);
        out.put(b"\r\nContent-Type: ");
        out.put(self.content_type.as_bytes());
        out.put(b"\r\nContent-Length: ");
        let mut digits = [0u8; 20];
        out.put(decimal(self.content_length, &mut digits));
        out.put(b"\r\n");
        out.put(self.connection.header());
        out.put(self.extra.as_bytes());
        out.put(b"\r\n");
        if body.len() <= SMALL_BODY_BYTES {
            out.put(body);
            out.has_body = true;
        }
        out
    }
}

/// Writes a complete response whose body is `body`: one copy into the
/// outbound queue when the body is small (every fixed answer here), else two.
pub(crate) fn write(tx: &mut Writer<'_>, head: Head<'_>, body: &[u8]) {
    let assembled = head.assemble(body);
    tx.write(assembled.bytes());
    if !assembled.has_body {
        tx.write(body);
    }
}

/// Writes an error response (its reason phrase as a plain-text body) that
/// closes the connection.
pub(crate) fn write_error(tx: &mut Writer<'_>, status: Status, date: &HttpDate) {
    let body = status.reason.as_bytes();
    let head = Head {
        status,
        content_type: "text/plain",
        content_length: body.len(),
        connection: Connection::Close,
        extra: "",
        date,
    };
    write(tx, head, body);
}

fn three_digits(code: u16) -> [u8; 3] {
    [
        b'0' + (code / 100 % 10) as u8,
        b'0' + (code / 10 % 10) as u8,
        b'0' + (code % 10) as u8,
    ]
}

/// `n` in decimal, written at the end of `buf`.
fn decimal(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}
