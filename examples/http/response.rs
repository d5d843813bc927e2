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
    pub(crate) const EXPECTATION_FAILED: Status = Status::new(417, "Expectation Failed");
    pub(crate) const HEADERS_TOO_LARGE: Status = Status::new(431, "Request Header Fields Too Large");
    pub(crate) const NOT_IMPLEMENTED: Status = Status::new(501, "Not Implemented");

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

impl Head<'_> {
    /// Queues the head (the body follows with `tx.write`).
    pub(crate) fn write(&self, tx: &mut Writer<'_>) {
        let mut buf = [0u8; HEAD_CAPACITY];
        let mut len = 0;
        let mut put = |bytes: &[u8]| {
            buf[len..len + bytes.len()].copy_from_slice(bytes);
            len += bytes.len();
        };
        put(b"HTTP/1.1 ");
        put(&three_digits(self.status.code));
        put(b" ");
        put(self.status.reason.as_bytes());
        put(b"\r\nServer: netreactor\r\nDate: ");
        put(self.date);
        put(b"\r\nContent-Type: ");
        put(self.content_type.as_bytes());
        put(b"\r\nContent-Length: ");
        let mut digits = [0u8; 20];
        put(decimal(self.content_length, &mut digits));
        put(b"\r\n");
        put(self.connection.header());
        put(self.extra.as_bytes());
        put(b"\r\n");
        tx.write(&buf[..len]);
    }
}

/// Writes a complete response whose body is `body`.
pub(crate) fn write(tx: &mut Writer<'_>, head: Head<'_>, body: &[u8]) {
    head.write(tx);
    tx.write(body);
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
