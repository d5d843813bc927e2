//! A request head (request line and header fields) parsed with httparse, and
//! what its fields mean for framing and the connection (RFC 9112): the body
//! length, keep-alive, `Expect`, `Host`, the version (1.2 to 1.9 served as
//! 1.1). Everything that could let a request be read two ways (smuggling) is
//! refused here, before any body is read.

use std::mem::MaybeUninit;

use super::response::Status;
use super::words;

/// Header fields one request may carry; more is answered with 431.
pub(crate) const MAX_HEADERS: usize = 64;

/// How much of a request the server accepts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// The head (request line through the blank line); beyond it, 414 if
    /// the request line alone does not fit, else 431.
    pub(crate) max_head_bytes: usize,
    /// The body as it arrives (chunk framing included); beyond it, 413.
    pub(crate) max_body_bytes: usize,
}

/// How the body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    Empty,
    /// `Content-Length: n`.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A complete, valid request head; the strings borrow the read buffer.
#[derive(Debug)]
pub(crate) struct Head<'b> {
    pub(crate) method: &'b str,
    /// The request target without its query.
    pub(crate) path: &'b str,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1 (and for 1.2 to 1.9, handled as 1.1).
    pub(crate) minor_version: u8,
    /// Bytes of the head, blank line included: the body starts here.
    pub(crate) len: usize,
    pub(crate) framing: Framing,
    /// The connection may carry another request after this one.
    pub(crate) keep_alive: bool,
    /// `Expect: 100-continue` (HTTP/1.1 only; ignored for 1.0 as RFC 9110 asks).
    pub(crate) expect_continue: bool,
}

/// The outcome of parsing the front of the buffer.
#[derive(Debug)]
pub(crate) enum Parsed<'b> {
    Complete(Head<'b>),
    /// More bytes are needed (and may still come within the limits).
    Partial,
    /// Answer with this status and close the connection.
    Reject(Status),
}

/// Parses the request head at the front of `buf`.
pub(crate) fn parse_head<'b>(buf: &'b [u8], limits: &Limits) -> Parsed<'b> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(buf, &mut slots) {
        Ok(httparse::Status::Complete(len)) => match (req.method, req.path, req.version) {
            (Some(method), Some(target), Some(minor_version)) => {
                // One space, then `HTTP/1.x` (8 bytes), then the line end.
                let target_at = (target.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize);
                let lines = Lines {
                    method,
                    request_line_end: target_at.wrapping_add(target.len() + 1 + 8),
                    fields: req.headers,
                };
                complete(buf, len, target, minor_version, lines, limits)
            }
            _ => Parsed::Reject(Status::BAD_REQUEST),
        },
        Ok(httparse::Status::Partial) => partial(buf, limits),
        Err(httparse::Error::TooManyHeaders) => Parsed::Reject(Status::HEADERS_TOO_LARGE),
        // httparse knows HTTP/1.0 and 1.1 only; the method and target before
        // the version are parsed (and kept) by then.
        Err(httparse::Error::Version) => match (req.method, req.path) {
            (Some(method), Some(target)) => other_version(buf, method, target, limits),
            _ => Parsed::Reject(Status::BAD_REQUEST),
        },
        Err(_) => Parsed::Reject(Status::BAD_REQUEST),
    }
}

/// A head httparse found whole, `len` bytes long: checked and read.
fn complete<'b>(
    buf: &'b [u8],
    len: usize,
    target: &'b str,
    minor_version: u8,
    lines: Lines<'b, '_>,
    limits: &Limits,
) -> Parsed<'b> {
    if len > limits.max_head_bytes {
        return Parsed::Reject(too_large(buf, limits));
    }
    // httparse accepts a bare LF as a line end; RFC 9112 §2.2 lets a server
    // do so, but two parsers that disagree on line ends are a smuggling
    // vector when this server sits behind a proxy, so only CRLF is taken.
    if has_bare_lf(&buf[..len], &lines) {
        return Parsed::Reject(Status::BAD_REQUEST);
    }
    let fields = match Fields::read(lines.fields, minor_version, limits) {
        Ok(f) => f,
        Err(status) => return Parsed::Reject(status),
    };
    Parsed::Complete(Head {
        method: lines.method,
        path: path_of(target),
        minor_version,
        len,
        framing: fields.framing,
        keep_alive: fields.keep_alive,
        expect_continue: fields.expect_continue,
    })
}

/// The head is not whole yet: wait for more, unless it is already too long.
fn partial<'b>(buf: &[u8], limits: &Limits) -> Parsed<'b> {
    if buf.len() > limits.max_head_bytes {
        Parsed::Reject(too_large(buf, limits))
    } else {
        Parsed::Partial
    }
}

/// Which part made a head longer than the limit: a request line that does
/// not end within it is a long target (the method is a short token, the
/// version 8 bytes), 414 URI Too Long; else the header fields, 431.
fn too_large(buf: &[u8], limits: &Limits) -> Status {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(0); // empty lines before it are skipped
    let line = &buf[start..buf.len().min(start + limits.max_head_bytes)];
    if line.contains(&b'\n') {
        Status::HEADERS_TOO_LARGE
    } else if line.contains(&b' ') {
        Status::URI_TOO_LONG
    } else {
        Status::BAD_REQUEST // no method ends within the limit
    }
}

/// A version httparse does not parse. RFC 9110 §2.5: a higher minor
/// version of HTTP/1 is handled as HTTP/1.1 (the answer is 1.1 too), the
/// rest of the head parsed as usual; another major version is answered
/// 505. Anything else is not a version (RFC 9112 §2.3: `HTTP/` DIGIT `.` DIGIT).
fn other_version<'b>(buf: &'b [u8], method: &'b str, target: &'b str, limits: &Limits) -> Parsed<'b> {
    // httparse stopped after the space that ends the target.
    let at = target.as_ptr() as usize - buf.as_ptr() as usize + target.len() + 1;
    let Some(version) = buf.get(at..) else {
        return Parsed::Reject(Status::BAD_REQUEST);
    };
    let form = b"HTTP/#.#";
    let fits = |(&b, &f): (&u8, &u8)| if f == b'#' { b.is_ascii_digit() } else { b == f };
    if !version.iter().zip(form).all(fits) {
        return Parsed::Reject(Status::BAD_REQUEST);
    }
    if version.len() < form.len() {
        return partial(buf, limits);
    }
    if version[5] != b'1' {
        return Parsed::Reject(Status::VERSION_NOT_SUPPORTED);
    }
    let line_end = match &version[form.len()..] {
        [b'\r', b'\n', ..] => 2,
        [b'\n', ..] => 1,
        [] | [b'\r'] => return partial(buf, limits),
        _ => return Parsed::Reject(Status::BAD_REQUEST), // e.g. HTTP/1.10
    };
    let fields_at = at + form.len() + line_end;
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    match httparse::parse_headers(&buf[fields_at..], &mut headers) {
        Ok(httparse::Status::Complete((len, headers))) => {
            let lines = Lines {
                method,
                request_line_end: at + form.len(),
                fields: headers,
            };
            complete(buf, fields_at + len, target, 1, lines, limits)
        }
        Ok(httparse::Status::Partial) => partial(buf, limits),
        Err(httparse::Error::TooManyHeaders) => Parsed::Reject(Status::HEADERS_TOO_LARGE),
        Err(_) => Parsed::Reject(Status::BAD_REQUEST),
    }
}

/// Where httparse found the lines of a head, for [`has_bare_lf`].
struct Lines<'b, 'h> {
    /// The method: where the request line starts.
    method: &'b str,
    /// The offset of the request line's end (past the end of the head if
    /// it could not be located).
    request_line_end: usize,
    /// The header fields, each ending its line.
    fields: &'h [httparse::Header<'b>],
}

/// True if some line of a head httparse accepted ends in a bare LF.
///
/// httparse takes an LF only as a line end and a CR only as the start of
/// CRLF (a stray one is an error), and a request's lines are where its
/// slices say: the request line ends after ` HTTP/1.x`, each field after
/// its value and the spaces and tabs trimmed off it (an empty value points
/// at its line end), and the blank line two bytes before the head's end
/// (if it is a lone LF, those are the previous line's). A CR at each of
/// those places is a head of CRLFs only, found in a few instructions per
/// line where a pass over the whole head cost a hundred (a tenth of a
/// request's instructions). Anything else (a bare LF, empty lines before
/// the request line, or a line end that is not where the slices put it) is
/// settled by counting ([`counts_bare_lf`]), so the fast answer relies only
/// on httparse's request grammar (no folded lines, no skipped invalid
/// ones), which the tests check line end by line end.
fn has_bare_lf(head: &[u8], lines: &Lines<'_, '_>) -> bool {
    let base = head.as_ptr() as usize;
    let cr_at = |at: usize| head.get(at) == Some(&b'\r');
    // After a value: its end (an offset outside the head, wrapped, finds no
    // CR and is counted), then any spaces or tabs httparse trimmed off it.
    let cr_after = |value: &[u8]| {
        let end = (value.as_ptr() as usize).wrapping_sub(base).wrapping_add(value.len());
        match head.get(end) {
            Some(b' ' | b'\t') => head[end..].iter().find(|&&b| b != b' ' && b != b'\t') == Some(&b'\r'),
            _ => cr_at(end),
        }
    };
    let only_crlf = lines.method.as_ptr() as usize == base
        && cr_at(lines.request_line_end)
        && lines.fields.iter().all(|field| cr_after(field.value))
        && cr_at(head.len().wrapping_sub(2));
    !only_crlf && counts_bare_lf(head)
}

/// [`has_bare_lf`] by counting: a bare LF is exactly an LF more than there
/// are CRs. Counting in byte lanes, block by block (a block of 255 cannot
/// overflow them), compiles to 16 bytes per instruction; looking back from
/// each LF does not vectorize.
fn counts_bare_lf(head: &[u8]) -> bool {
    let (mut lf, mut cr) = (0usize, 0usize);
    for block in head.chunks(255) {
        let count = |byte: u8| block.iter().map(|&b| u8::from(b == byte)).fold(0u8, u8::wrapping_add);
        lf += usize::from(count(b'\n'));
        cr += usize::from(count(b'\r'));
    }
    lf != cr
}

/// The path of a request target: the query dropped, and an absolute-form
/// target (`http://host/path`, which servers must accept) reduced to its path.
fn path_of(target: &str) -> &str {
    let end = words::position_of(target.as_bytes(), b'?').unwrap_or(target.len());
    let target = &target[..end];
    if target.starts_with('/') {
        return target; // origin-form, nearly every request
    }
    for scheme in ["http://", "https://"] {
        if let Some(rest) = strip_prefix_ignore_case(target, scheme) {
            return rest.find('/').map_or("/", |i| &rest[i..]);
        }
    }
    target
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// What the header fields say about framing and the connection.
struct Fields {
    framing: Framing,
    keep_alive: bool,
    expect_continue: bool,
}

impl Fields {
    fn read(headers: &[httparse::Header<'_>], minor_version: u8, limits: &Limits) -> Result<Fields, Status> {
        let mut content_length: Option<usize> = None;
        let mut transfer_encoding: Option<&[u8]> = None;
        let mut hosts = 0;
        let mut close = false;
        let mut keep_alive_token = false;
        let mut expect_continue = false;
        for h in headers {
            let Some(field) = Known::of(h.name) else {
                continue;
            };
            match field {
                Known::ContentLength => {
                    let n = parse_content_length(h.value).ok_or(Status::BAD_REQUEST)?;
                    // Repeated with the same value is one length (RFC 9110
                    // §8.6); different values mean the framing is ambiguous.
                    if content_length.is_some_and(|m| m != n) {
                        return Err(Status::BAD_REQUEST);
                    }
                    content_length = Some(n);
                }
                Known::TransferEncoding => {
                    // A second field would have to be joined with the first;
                    // nobody legitimate sends that, a smuggler might.
                    if transfer_encoding.is_some() {
                        return Err(Status::BAD_REQUEST);
                    }
                    transfer_encoding = Some(h.value);
                }
                Known::Host => {
                    // RFC 9112 §3.2: a Host that is not a valid host is a 400.
                    if !is_valid_host(h.value) {
                        return Err(Status::BAD_REQUEST);
                    }
                    hosts += 1;
                }
                Known::Connection => {
                    for token in tokens(h.value) {
                        close |= token.eq_ignore_ascii_case(b"close");
                        keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
                    }
                }
                Known::Expect => {
                    // RFC 9110 §10.1.1: 100-continue is the only expectation;
                    // HTTP/1.0 clients cannot ask for it, so theirs is ignored.
                    if !trim(h.value).eq_ignore_ascii_case(b"100-continue") {
                        return Err(Status::EXPECTATION_FAILED);
                    }
                    expect_continue = minor_version >= 1;
                }
            }
        }
        // RFC 9112 §3.2: exactly one Host in an HTTP/1.1 request.
        if minor_version >= 1 && hosts != 1 {
            return Err(Status::BAD_REQUEST);
        }
        let framing = match (transfer_encoding, content_length) {
            // RFC 9112 §6.3: both at once is how requests are smuggled past
            // a proxy that reads the other one; refuse and close.
            (Some(_), Some(_)) => return Err(Status::BAD_REQUEST),
            // Transfer codings are HTTP/1.1; a 1.0 message with one is faulty.
            (Some(_), None) if minor_version == 0 => return Err(Status::BAD_REQUEST),
            (Some(te), None) => transfer_framing(te)?,
            (None, Some(0)) | (None, None) => Framing::Empty,
            (None, Some(n)) if n > limits.max_body_bytes => return Err(Status::PAYLOAD_TOO_LARGE),
            (None, Some(n)) => Framing::Length(n),
        };
        let keep_alive = !close && (minor_version >= 1 || keep_alive_token);
        Ok(Fields {
            framing,
            keep_alive,
            expect_continue: expect_continue && framing != Framing::Empty,
        })
    }
}

/// The header fields the server reads; the rest are passed over.
#[derive(Debug, Clone, Copy)]
enum Known {
    Host,
    Expect,
    Connection,
    ContentLength,
    TransferEncoding,
}

impl Known {
    /// The field named `name` (case-insensitively; httparse checked it is a
    /// token). The names differ in length, so a field is compared with one
    /// name at most, not five.
    fn of(name: &str) -> Option<Known> {
        let is = |spelled: &str| words::token_is(name.as_bytes(), spelled.as_bytes());
        match name.len() {
            4 if is("host") => Some(Known::Host),
            6 if is("expect") => Some(Known::Expect),
            10 if is("connection") => Some(Known::Connection),
            14 if is("content-length") => Some(Known::ContentLength),
            17 if is("transfer-encoding") => Some(Known::TransferEncoding),
            _ => None,
        }
    }
}

/// RFC 9110 §7.2: `Host = uri-host [ ":" port ]`, with RFC 3986's
/// `uri-host = IP-literal / IPv4address / reg-name` and `port = *DIGIT`. A
/// reg-name (an IPv4 address is one too, syntactically) is unreserved
/// characters, sub-delims and %-escapes, so no space, `/`, `@` or second
/// `:`; an IP-literal is `[` IPv6 or IPvFuture `]`. Empty is valid (a target
/// without an authority has an empty Host).
fn is_valid_host(value: &[u8]) -> bool {
    let (host, port) = match value {
        [b'[', rest @ ..] => {
            let Some(close) = rest.iter().position(|&b| b == b']') else {
                return false;
            };
            if !is_ip_literal(&rest[..close]) {
                return false;
            }
            match &rest[close + 1..] {
                [] => return true,
                [b':', port @ ..] => (&[][..], port),
                _ => return false,
            }
        }
        // The usual Host, a name or an IPv4 address and maybe a port, in
        // one pass: one table lookup per byte up to the colon.
        _ => match reg_name_len(value) {
            len if len == value.len() => return true,
            colon if value[colon] == b':' => return value[colon + 1..].iter().all(u8::is_ascii_digit),
            // A %-escape, or not a host.
            _ => match value.iter().position(|&b| b == b':') {
                Some(colon) => (&value[..colon], &value[colon + 1..]),
                None => (value, &[][..]),
            },
        },
    };
    port.iter().all(u8::is_ascii_digit) && is_reg_name(host)
}

/// Inside the brackets of an RFC 3986 `IP-literal`: an IPv6 address, or
/// `IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )`.
fn is_ip_literal(inside: &[u8]) -> bool {
    if let [b'v' | b'V', rest @ ..] = inside {
        let Some(dot) = rest.iter().position(|&b| b == b'.') else {
            return false;
        };
        let (version, address) = (&rest[..dot], &rest[dot + 1..]);
        return !version.is_empty()
            && version.iter().all(u8::is_ascii_hexdigit)
            && !address.is_empty()
            && address.iter().all(|&b| b == b':' || is_unreserved_or_sub_delim(b));
    }
    std::str::from_utf8(inside).is_ok_and(|s| s.parse::<std::net::Ipv6Addr>().is_ok())
}

/// RFC 3986 `reg-name = *( unreserved / pct-encoded / sub-delims )`.
fn is_reg_name(name: &[u8]) -> bool {
    let mut rest = name;
    while let Some((&b, tail)) = rest.split_first() {
        rest = match (b, tail) {
            (b'%', [hi, lo, tail @ ..]) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => tail,
            (b, tail) if is_unreserved_or_sub_delim(b) => tail,
            _ => return false,
        };
    }
    true
}

/// How many bytes at the front of `value` are unreserved characters or
/// sub-delims. Kept out of line: inlined in the head's checks, with their
/// registers all taken, the loop cost 11 instructions a byte instead of 5.
#[inline(never)]
fn reg_name_len(value: &[u8]) -> usize {
    value.iter().take_while(|&&b| is_unreserved_or_sub_delim(b)).count()
}

/// RFC 3986 `unreserved` (ALPHA DIGIT `-._~`) or `sub-delims` (`!$&'()*+,;=`).
fn is_unreserved_or_sub_delim(b: u8) -> bool {
    UNRESERVED_OR_SUB_DELIM[usize::from(b)]
}

/// [`is_unreserved_or_sub_delim`] by byte value (a search of the list per
/// byte of every Host was a tenth of the request's instructions).
static UNRESERVED_OR_SUB_DELIM: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
            );
        i += 1;
    }
    table
};

/// `Transfer-Encoding` must end in `chunked` (else the length is unknowable:
/// 400); codings before it would need decoding this server does not do (501).
fn transfer_framing(value: &[u8]) -> Result<Framing, Status> {
    let mut codings = tokens(value);
    let last = codings.next_back().ok_or(Status::BAD_REQUEST)?;
    if !last.eq_ignore_ascii_case(b"chunked") {
        return Err(Status::BAD_REQUEST);
    }
    match codings.next_back() {
        None => Ok(Framing::Chunked),
        Some(c) if c.eq_ignore_ascii_case(b"chunked") => Err(Status::BAD_REQUEST),
        Some(_) => Err(Status::NOT_IMPLEMENTED),
    }
}

/// 1*DIGIT, nothing else (no sign, no spaces inside, no list), and small
/// enough to be a length.
fn parse_content_length(value: &[u8]) -> Option<usize> {
    let digits = trim(value);
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0, |n, d| n * 10 + usize::from(d - b'0')))
}

/// The comma-separated tokens of a field value, trimmed, empty ones skipped.
fn tokens(value: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim).filter(|t| !t.is_empty())
}

fn trim(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_head_bytes: 8 * 1024,
        max_body_bytes: 1024,
    };

    /// Every way of ending some of a head's lines with a bare LF: the
    /// line-end check (whichever way it decides) refuses exactly those, in
    /// heads with the lines it looks at (request line, empty and blank
    /// values, values with trailing spaces and tabs, the blank line),
    /// empty lines before the request line, and a version httparse does
    /// not parse.
    #[test]
    fn a_head_is_refused_exactly_when_some_line_ends_in_a_bare_lf() {
        let heads = [
            "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /x?y HTTP/1.1\r\nHost: a:80\r\nX-Empty:\r\nX-Blank: \t \r\nX-Trail: v \t\r\nContent-Length: 0\r\n\r\n",
            "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.5\r\nHost: a\r\nX:y\r\n\r\n",
            "GET / HTTP/1.0\r\n\r\n",
        ];
        for head in heads {
            let ends: Vec<usize> = head.match_indices("\r\n").map(|(at, _)| at).collect();
            for mask in 0u32..1 << ends.len() {
                let mut variant = head.as_bytes().to_vec();
                for (i, &at) in ends.iter().enumerate().rev() {
                    if mask & 1 << i != 0 {
                        variant.remove(at); // the CR
                    }
                }
                let shown = String::from_utf8_lossy(&variant);
                match parse_head(&variant, &LIMITS) {
                    Parsed::Complete(parsed) if mask == 0 => assert_eq!(parsed.len, variant.len()),
                    Parsed::Reject(status) if mask != 0 => assert_eq!(status, Status::BAD_REQUEST, "{shown:?}"),
                    other => panic!("{shown:?}: {other:?}"),
                }
            }
        }
    }

    /// The fast check relies on httparse refusing folded lines and invalid
    /// field lines in a request (it does not skip them): should a later
    /// httparse take them, these fail and the check must be looked at again.
    #[test]
    fn folded_lines_and_invalid_field_lines_are_refused() {
        for head in [
            &b"GET / HTTP/1.1\r\nHost: a\r\nX: b\n c\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: v\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: v\r\n\r\n",
            b"GET / HTTP/1.5\r\nHost: a\r\nX: b\r\n c\r\n\r\n",
        ] {
            let shown = String::from_utf8_lossy(head);
            assert!(
                matches!(parse_head(head, &LIMITS), Parsed::Reject(Status::BAD_REQUEST)),
                "{shown:?}"
            );
        }
    }

    /// Handed a place for a line end that is not one (as a future
    /// httparse's slices might), the check counts instead of guessing: a
    /// head of CRLFs is still taken, one with a bare LF still refused.
    #[test]
    fn a_line_end_out_of_place_is_settled_by_counting() {
        for (head, bare) in [
            (&b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..], false),
            (b"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", true),
        ] {
            let mut slots = [httparse::EMPTY_HEADER; 4];
            let mut req = httparse::Request::new(&mut slots);
            assert!(req.parse(head).unwrap().is_complete());
            assert_eq!(counts_bare_lf(head), bare);
            for request_line_end in [14, 0, 13, 15, head.len(), usize::MAX] {
                let lines = Lines {
                    method: req.method.unwrap(),
                    request_line_end,
                    fields: req.headers,
                };
                assert_eq!(has_bare_lf(head, &lines), bare, "{request_line_end}");
            }
        }
    }
}
