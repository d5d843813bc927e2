//! Reply encoding in RESP2 or RESP3 (chosen per connection by `HELLO`),
//! written straight into the connection's outbound queue.

use netreactor::Writer;

/// Where replies go: a connection's outbound queue, or a buffer (for a
/// reply whose length is known only at its end, as KEYS).
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);
    /// Bytes queued so far.
    fn queued(&self) -> usize;
}

impl Sink for Writer<'_> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.write(bytes);
    }

    fn queued(&self) -> usize {
        self.len()
    }
}

impl Sink for Vec<u8> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    fn queued(&self) -> usize {
        self.len()
    }
}

/// The protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Proto {
    #[default]
    Resp2,
    Resp3,
}

impl Proto {
    pub(crate) fn number(self) -> i64 {
        match self {
            Proto::Resp2 => 2,
            Proto::Resp3 => 3,
        }
    }
}

/// Writes replies for one connection.
pub(crate) struct Reply<'s> {
    sink: &'s mut dyn Sink,
    pub(crate) proto: Proto,
    /// Error replies written (INFO's `total_error_replies`).
    pub(crate) errors: u64,
}

/// Bulk payloads up to this size are written with their header and CRLF
/// in one piece (a stack copy is cheaper than three queue appends).
const SMALL_BULK_BYTES: usize = 128;

impl<'s> Reply<'s> {
    pub(crate) fn new(sink: &'s mut dyn Sink, proto: Proto) -> Self {
        Reply { sink, proto, errors: 0 }
    }

    pub(crate) fn queued(&self) -> usize {
        self.sink.queued()
    }

    /// Raw protocol bytes (a reply built elsewhere).
    pub(crate) fn raw(&mut self, bytes: &[u8]) {
        self.sink.put(bytes);
    }

    pub(crate) fn ok(&mut self) {
        self.sink.put(b"+OK\r\n");
    }

    /// `+text` (the text must not hold CR or LF).
    pub(crate) fn status(&mut self, text: &[u8]) {
        self.line(b'+', text);
    }

    /// `-text`; CR and LF in the text become spaces, as Redis does.
    pub(crate) fn error(&mut self, text: &[u8]) {
        self.errors += 1;
        if text.iter().any(|&b| b == b'\r' || b == b'\n') {
            let clean: Vec<u8> = text
                .iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
                .collect();
            return self.line(b'-', &clean);
        }
        self.line(b'-', text);
    }

    pub(crate) fn error_str(&mut self, text: &str) {
        self.error(text.as_bytes());
    }

    pub(crate) fn wrong_type(&mut self) {
        self.error(b"WRONGTYPE Operation against a key holding the wrong kind of value");
    }

    pub(crate) fn syntax_error(&mut self) {
        self.error(b"ERR syntax error");
    }

    pub(crate) fn not_an_integer(&mut self) {
        self.error(b"ERR value is not an integer or out of range");
    }

    fn line(&mut self, kind: u8, text: &[u8]) {
        if text.len() <= SMALL_BULK_BYTES {
            let mut buf = [0u8; SMALL_BULK_BYTES + 3];
            buf[0] = kind;
            buf[1..1 + text.len()].copy_from_slice(text);
            buf[1 + text.len()..3 + text.len()].copy_from_slice(b"\r\n");
            self.sink.put(&buf[..3 + text.len()]);
        } else {
            self.sink.put(&[kind]);
            self.sink.put(text);
            self.sink.put(b"\r\n");
        }
    }

    fn header(&mut self, kind: u8, n: i64) {
        let mut buf = [0u8; 24];
        buf[0] = kind;
        let len = 1 + write_i64(n, &mut buf[1..]);
        buf[len..len + 2].copy_from_slice(b"\r\n");
        self.sink.put(&buf[..len + 2]);
    }

    pub(crate) fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    pub(crate) fn bulk(&mut self, data: &[u8]) {
        if data.len() <= SMALL_BULK_BYTES {
            let mut buf = [0u8; SMALL_BULK_BYTES + 8];
            buf[0] = b'$';
            let mut at = 1 + write_i64(data.len() as i64, &mut buf[1..]);
            buf[at..at + 2].copy_from_slice(b"\r\n");
            at += 2;
            buf[at..at + data.len()].copy_from_slice(data);
            at += data.len();
            buf[at..at + 2].copy_from_slice(b"\r\n");
            self.sink.put(&buf[..at + 2]);
        } else {
            self.header(b'$', data.len() as i64);
            self.sink.put(data);
            self.sink.put(b"\r\n");
        }
    }

    pub(crate) fn bulk_i64(&mut self, n: i64) {
        let mut buf = [0u8; 20];
        let len = write_i64(n, &mut buf);
        self.bulk(&buf[..len]);
    }

    /// A null bulk string: `$-1` / `_`.
    pub(crate) fn null(&mut self) {
        self.sink.put(match self.proto {
            Proto::Resp2 => b"$-1\r\n",
            Proto::Resp3 => b"_\r\n",
        });
    }

    /// A null array: `*-1` / `_`.
    pub(crate) fn null_array(&mut self) {
        self.sink.put(match self.proto {
            Proto::Resp2 => b"*-1\r\n",
            Proto::Resp3 => b"_\r\n",
        });
    }

    pub(crate) fn array(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }

    /// Out-of-band data of `n` elements (pub/sub messages): a push `>n` /
    /// an array in RESP2.
    pub(crate) fn push(&mut self, n: usize) {
        match self.proto {
            Proto::Resp2 => self.header(b'*', n as i64),
            Proto::Resp3 => self.header(b'>', n as i64),
        }
    }

    /// A map of `n` pairs: `%n` / a flat array of 2n in RESP2.
    pub(crate) fn map(&mut self, n: usize) {
        match self.proto {
            Proto::Resp2 => self.header(b'*', 2 * n as i64),
            Proto::Resp3 => self.header(b'%', n as i64),
        }
    }

    /// A set of `n` members: `~n` / an array in RESP2.
    pub(crate) fn set(&mut self, n: usize) {
        match self.proto {
            Proto::Resp2 => self.header(b'*', n as i64),
            Proto::Resp3 => self.header(b'~', n as i64),
        }
    }

    /// A double: `,d` / a bulk string in RESP2, formatted as Redis 7.0's
    /// `%.17g`.
    pub(crate) fn double(&mut self, d: f64) {
        let text = format_g17(d);
        match self.proto {
            Proto::Resp2 => self.bulk(text.as_bytes()),
            Proto::Resp3 => self.line(b',', text.as_bytes()),
        }
    }

    /// Text for humans (INFO, CLIENT LIST): a verbatim string `=` in RESP3.
    pub(crate) fn verbatim(&mut self, text: &[u8]) {
        match self.proto {
            Proto::Resp2 => self.bulk(text),
            Proto::Resp3 => {
                self.header(b'=', text.len() as i64 + 4);
                self.sink.put(b"txt:");
                self.sink.put(text);
                self.sink.put(b"\r\n");
            }
        }
    }
}

/// Writes `n` in decimal at the front of `out` (at least 20 bytes);
/// returns the length.
pub(crate) fn write_i64(n: i64, out: &mut [u8]) -> usize {
    let mut digits = [0u8; 20];
    let mut v = n.unsigned_abs();
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let mut len = 0;
    if n < 0 {
        out[0] = b'-';
        len = 1;
    }
    let d = &digits[i..];
    out[len..len + d.len()].copy_from_slice(d);
    len + d.len()
}

/// C's `printf("%.17g", d)`, which Redis 7.0 uses for scores.
pub(crate) fn format_g17(d: f64) -> String {
    if d.is_nan() {
        return "nan".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    // 17 significant digits in scientific form, then %g's choice of style.
    let sci = format!("{d:.16e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("exponent digits");
    if !(-4..17).contains(&exp) {
        let m = trim_fraction(mantissa);
        return format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    let decimals = (16 - exp).max(0) as usize;
    trim_fraction(&format!("{d:.decimals$}")).to_owned()
}

fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g17_matches_printf() {
        assert_eq!(format_g17(0.1), "0.10000000000000001");
        assert_eq!(format_g17(1.0), "1");
        assert_eq!(format_g17(2.5), "2.5");
        assert_eq!(format_g17(-3.0), "-3");
        assert_eq!(format_g17(1e20), "1e+20");
        assert_eq!(format_g17(1.5e-7), "1.4999999999999999e-07");
        assert_eq!(format_g17(123456789012345678.0), "1.2345678901234568e+17");
        assert_eq!(format_g17(12345678901234567.0), "12345678901234568");
        assert_eq!(format_g17(0.0001), "0.0001");
        assert_eq!(format_g17(f64::INFINITY), "inf");
    }

    #[test]
    fn integers() {
        let mut b = [0u8; 20];
        for n in [0, 7, -7, 10, i64::MAX, i64::MIN] {
            let len = write_i64(n, &mut b);
            assert_eq!(std::str::from_utf8(&b[..len]).unwrap(), n.to_string());
        }
    }
}
