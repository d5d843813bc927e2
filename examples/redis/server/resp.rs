//! Request parsing, the server side of RESP: multibulk commands
//! (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and inline ones (`GET k\r\n`), as
//! Redis 7.0's `processMultibulkBuffer` / `processInlineBuffer` read them,
//! with the same error texts.
//!
//! Zero-copy: a parsed command is a list of spans into the connection's
//! input (only an inline command with quotes is unescaped into a scratch
//! buffer). Bounded: a bulk length or argument count above the limit is
//! refused at its header, before a byte of it is buffered, and a header or
//! inline line without its end of line is refused past 64 KiB.

/// Longest inline command, and longest `*N` / `$N` header line, as Redis's
/// `PROTO_INLINE_MAX_SIZE`.
pub(crate) const INLINE_MAX_BYTES: usize = 64 * 1024;

/// What a client may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Longest bulk string (Redis's `proto-max-bulk-len`, 512 MiB).
    pub(crate) max_bulk_len: usize,
    /// Most arguments in one multibulk command.
    pub(crate) max_args: usize,
}

/// A span of bytes: (offset, length).
pub(crate) type Span = (usize, usize);

/// What the front of the input holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// A whole command of `len` bytes; its arguments are the spans, into
    /// the input or, when `unescaped`, into the scratch buffer.
    Command { len: usize, unescaped: bool },
    /// `len` bytes that hold no command (an empty line, `*0`, `*-1`).
    Nothing { len: usize },
    /// The command is not whole yet.
    Incomplete,
    /// A protocol error: reply with this text, then close the connection.
    Error(ProtocolError),
}

/// A protocol error; its `Display` is Redis's reply text (without `-ERR `).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProtocolError {
    InvalidMultibulkLength,
    InvalidBulkLength,
    ExpectedDollar(u8),
    TooBigMultibulkCount,
    TooBigBulkCount,
    TooBigInline,
    UnbalancedQuotes,
}

impl ProtocolError {
    /// The whole error reply line, after the `-`.
    pub(crate) fn message(self) -> Vec<u8> {
        let text: &[u8] = match self {
            ProtocolError::InvalidMultibulkLength => b"ERR Protocol error: invalid multibulk length",
            ProtocolError::InvalidBulkLength => b"ERR Protocol error: invalid bulk length",
            ProtocolError::TooBigMultibulkCount => b"ERR Protocol error: too big mbulk count string",
            ProtocolError::TooBigBulkCount => b"ERR Protocol error: too big bulk count string",
            ProtocolError::TooBigInline => b"ERR Protocol error: too big inline request",
            ProtocolError::UnbalancedQuotes => b"ERR Protocol error: unbalanced quotes in request",
            ProtocolError::ExpectedDollar(got) => {
                let mut m = b"ERR Protocol error: expected '$', got '".to_vec();
                m.push(got);
                m.push(b'\'');
                return m;
            }
        };
        text.to_vec()
    }
}

/// Progress through a multibulk command that has not fully arrived, so
/// that each read of a big command costs only its new headers, not a
/// rescan from the start. Offsets are from the command's first byte.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Progress {
    args_seen: usize,
    resume_at: usize,
}

/// Parses the command at the front of `input`.
///
/// `progress` carries what an earlier call learnt about this same command
/// (reset it once a command is taken). `spans` receives the arguments;
/// `scratch` holds unescaped inline arguments.
pub(crate) fn parse(
    input: &[u8],
    limits: &Limits,
    progress: &mut Progress,
    spans: &mut Vec<Span>,
    scratch: &mut Vec<u8>,
) -> Parsed {
    spans.clear();
    match input.first() {
        None => Parsed::Incomplete,
        Some(b'*') => parse_multibulk(input, limits, progress, spans),
        Some(_) => parse_inline(input, spans, scratch),
    }
}

/// A header line (`*N` or `$N`) at `at`: the digits' span and where the
/// line ends, `Ok(None)` if it has not fully arrived.
fn header_line(input: &[u8], at: usize) -> Result<Option<(usize, usize)>, ()> {
    let rest = &input[at..];
    // Redis looks for the '\r' and takes the byte after it on trust.
    let window = &rest[..rest.len().min(INLINE_MAX_BYTES + 1)];
    match memchr(b'\r', window) {
        None if rest.len() > INLINE_MAX_BYTES => Err(()),
        None => Ok(None),
        Some(cr) if cr + 2 > rest.len() => Ok(None),
        Some(cr) => Ok(Some((cr, at + cr + 2))),
    }
}

fn parse_multibulk(input: &[u8], limits: &Limits, progress: &mut Progress, spans: &mut Vec<Span>) -> Parsed {
    let (cr, mut pos) = match header_line(input, 0) {
        Err(()) => return Parsed::Error(ProtocolError::TooBigMultibulkCount),
        Ok(None) => return Parsed::Incomplete,
        Ok(Some(h)) => h,
    };
    let count = match parse_i64(&input[1..cr]) {
        Some(n) if n <= i64::from(i32::MAX) && n <= limits.max_args as i64 => n,
        _ => return Parsed::Error(ProtocolError::InvalidMultibulkLength),
    };
    if count <= 0 {
        return Parsed::Nothing { len: pos };
    }
    let count = count as usize;
    let first_arg = pos;
    // One pass that records the spans while checking the command is whole.
    // Resuming a command that arrived in pieces, the pass starts where the
    // last one stopped (without the spans before it, taken in a second pass).
    let resumed = progress.args_seen > 0;
    let mut seen = 0;
    if resumed {
        seen = progress.args_seen;
        pos = progress.resume_at;
    }
    while seen < count {
        match bulk_at(input, pos, limits) {
            Ok(Some((span, end))) => {
                if !resumed {
                    spans.push(span);
                }
                pos = end;
                seen += 1;
            }
            Ok(None) => {
                spans.clear();
                *progress = Progress {
                    args_seen: seen,
                    resume_at: pos,
                };
                return Parsed::Incomplete;
            }
            Err(e) => return Parsed::Error(e),
        }
    }
    let total = pos;
    if resumed {
        pos = first_arg;
        spans.reserve(count);
        for _ in 0..count {
            let Ok(Some((span, end))) = bulk_at(input, pos, limits) else {
                unreachable!("validated above");
            };
            spans.push(span);
            pos = end;
        }
    }
    *progress = Progress::default();
    Parsed::Command {
        len: total,
        unescaped: false,
    }
}

/// The bulk string whose header starts at `at`: its payload span and the
/// offset after its trailing CRLF, or `None` if not all of it is here.
#[inline]
fn bulk_at(input: &[u8], at: usize, limits: &Limits) -> Result<Option<(Span, usize)>, ProtocolError> {
    // The usual header, "$<digits>\r", read in one scan (anything else,
    // errors included, takes the general path below).
    if input.get(at) == Some(&b'$') {
        let mut i = at + 1;
        let mut len: u64 = 0;
        while i < input.len() && i - at <= 19 && input[i].is_ascii_digit() {
            len = len * 10 + u64::from(input[i] - b'0');
            i += 1;
        }
        let digits = i - at - 1;
        if digits > 0 && (digits == 1 || input[at + 1] != b'0') && input.get(i) == Some(&b'\r') {
            if len > limits.max_bulk_len as u64 {
                return Err(ProtocolError::InvalidBulkLength);
            }
            let start = i + 2;
            if start > input.len() || input.len() - start < len as usize + 2 {
                return Ok(None);
            }
            return Ok(Some(((start, len as usize), start + len as usize + 2)));
        }
    }
    bulk_at_general(input, at, limits)
}

fn bulk_at_general(input: &[u8], at: usize, limits: &Limits) -> Result<Option<(Span, usize)>, ProtocolError> {
    let (cr, start) = match header_line(input, at) {
        Err(()) => return Err(ProtocolError::TooBigBulkCount),
        Ok(None) => return Ok(None),
        Ok(Some((cr, next))) => (at + cr, next),
    };
    if input[at] != b'$' {
        return Err(ProtocolError::ExpectedDollar(input[at]));
    }
    let len = match parse_i64(&input[at + 1..cr]) {
        Some(n) if n >= 0 && n as u64 <= limits.max_bulk_len as u64 => n as usize,
        _ => return Err(ProtocolError::InvalidBulkLength),
    };
    // Like Redis, the two bytes after the payload are taken as CRLF unread.
    if input.len() - start < len + 2 {
        return Ok(None);
    }
    Ok(Some(((start, len), start + len + 2)))
}

fn parse_inline(input: &[u8], spans: &mut Vec<Span>, scratch: &mut Vec<u8>) -> Parsed {
    let window = &input[..input.len().min(INLINE_MAX_BYTES + 1)];
    let Some(nl) = memchr(b'\n', window) else {
        return if input.len() > INLINE_MAX_BYTES {
            Parsed::Error(ProtocolError::TooBigInline)
        } else {
            Parsed::Incomplete
        };
    };
    let len = nl + 1;
    let mut line = &input[..nl];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    // Redis splits a C string: a NUL ends the line.
    if let Some(nul) = memchr(0, line) {
        line = &line[..nul];
    }
    let plain = !line.iter().any(|&b| matches!(b, b'"' | b'\'' | 0x0b | 0x0c));
    let ok = if plain {
        split_plain(line, spans);
        true
    } else {
        split_quoted(line, spans, scratch)
    };
    match (ok, spans.is_empty()) {
        (false, _) => Parsed::Error(ProtocolError::UnbalancedQuotes),
        (true, true) => Parsed::Nothing { len },
        (true, false) => Parsed::Command { len, unescaped: !plain },
    }
}

/// Splits on blanks without copying (no quotes in the line).
fn split_plain(line: &[u8], spans: &mut Vec<Span>) {
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && matches!(line[i], b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
        }
        let start = i;
        while i < line.len() && !matches!(line[i], b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
        }
        if i > start {
            spans.push((start, i - start));
        }
    }
}

/// Redis's `sdssplitargs`: "double quotes" with `\n \r \t \b \a \xHH`
/// escapes, 'single quotes' with `\'`; a closing quote must be followed by
/// a blank or the end. Arguments are unescaped into `scratch`.
fn split_quoted(line: &[u8], spans: &mut Vec<Span>, scratch: &mut Vec<u8>) -> bool {
    scratch.clear();
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let mut p = 0;
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return true;
        }
        let start = scratch.len();
        let (mut in_dq, mut in_sq, mut done) = (false, false, false);
        while !done {
            let c = at(p);
            if in_dq {
                if c == b'\\' && at(p + 1) == b'x' && at(p + 2).is_ascii_hexdigit() && at(p + 3).is_ascii_hexdigit() {
                    scratch.push(hex(at(p + 2)) * 16 + hex(at(p + 3)));
                    p += 3;
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    scratch.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return false;
                    }
                    done = true;
                } else if c == 0 {
                    return false;
                } else {
                    scratch.push(c);
                }
            } else if in_sq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    scratch.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return false;
                    }
                    done = true;
                } else if c == 0 {
                    return false;
                } else {
                    scratch.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    other => scratch.push(other),
                }
            }
            if p < line.len() {
                p += 1;
            }
        }
        spans.push((start, scratch.len() - start));
    }
}

fn hex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// Redis's `string2ll`: an optional '-', then digits without a leading
/// zero (except "0" itself), no '+', no blanks, no overflow.
pub(crate) fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s {
        [] => return None,
        [b'0'] => return Some(0),
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 19 || !(b'1'..=b'9').contains(&digits[0]) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// Position of `b` in `s` (the std slice search is fast enough here and
/// keeps the example free of a memchr dependency).
fn memchr(b: u8, s: &[u8]) -> Option<usize> {
    s.iter().position(|&x| x == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_bulk_len: 512 * 1024 * 1024,
        max_args: 1024 * 1024,
    };

    fn args(input: &[u8]) -> (Parsed, Vec<Vec<u8>>) {
        let (mut spans, mut scratch, mut progress) = (Vec::new(), Vec::new(), Progress::default());
        let parsed = parse(input, &LIMITS, &mut progress, &mut spans, &mut scratch);
        let src = match parsed {
            Parsed::Command { unescaped: true, .. } => &scratch[..],
            _ => input,
        };
        (parsed, spans.iter().map(|&(o, l)| src[o..o + l].to_vec()).collect())
    }

    #[test]
    fn multibulk_and_inline() {
        let (p, a) = args(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nrest");
        assert_eq!(
            p,
            Parsed::Command {
                len: 20,
                unescaped: false
            }
        );
        assert_eq!(a, vec![b"GET".to_vec(), b"k".to_vec()]);
        let (p, a) = args(b"  set a   b \r\n");
        assert_eq!(
            p,
            Parsed::Command {
                len: 14,
                unescaped: false
            }
        );
        assert_eq!(a, vec![b"set".to_vec(), b"a".to_vec(), b"b".to_vec()]);
        let (p, a) = args(b"ECHO \"a\\x41\\n\" 'it\\'s'\n");
        assert!(matches!(p, Parsed::Command { unescaped: true, .. }));
        assert_eq!(a, vec![b"ECHO".to_vec(), b"aA\n".to_vec(), b"it's".to_vec()]);
    }

    #[test]
    fn errors_match_redis() {
        assert_eq!(args(b"*01\r\n").0, Parsed::Error(ProtocolError::InvalidMultibulkLength));
        assert_eq!(args(b"*+1\r\n").0, Parsed::Error(ProtocolError::InvalidMultibulkLength));
        assert_eq!(
            args(b"*1\r\n$04\r\n").0,
            Parsed::Error(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(
            args(b"*1\r\nx4\r\n").0,
            Parsed::Error(ProtocolError::ExpectedDollar(b'x'))
        );
        assert_eq!(
            args(b"*1\r\n$536870913\r\n").0,
            Parsed::Error(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(args(b"PING \"a\n").0, Parsed::Error(ProtocolError::UnbalancedQuotes));
        assert_eq!(args(b"PING \"a\"b\n").0, Parsed::Error(ProtocolError::UnbalancedQuotes));
        assert_eq!(
            args(&[b'a'; INLINE_MAX_BYTES + 1]).0,
            Parsed::Error(ProtocolError::TooBigInline)
        );
        assert_eq!(args(&[b'a'; INLINE_MAX_BYTES]).0, Parsed::Incomplete);
        assert_eq!(args(b"*0\r\n").0, Parsed::Nothing { len: 4 });
        assert_eq!(args(b"\r\n").0, Parsed::Nothing { len: 2 });
    }

    #[test]
    fn every_split_point_is_incomplete_then_whole() {
        let cmd = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
        let (mut spans, mut scratch, mut progress) = (Vec::new(), Vec::new(), Progress::default());
        for cut in 0..cmd.len() {
            let p = parse(&cmd[..cut], &LIMITS, &mut progress, &mut spans, &mut scratch);
            assert_eq!(p, Parsed::Incomplete, "cut at {cut}");
        }
        let p = parse(cmd, &LIMITS, &mut progress, &mut spans, &mut scratch);
        assert_eq!(
            p,
            Parsed::Command {
                len: cmd.len(),
                unescaped: false
            }
        );
        assert_eq!(spans, vec![(8, 3), (17, 3), (26, 5)]);
    }

    #[test]
    fn progress_through_a_partial_command_is_kept() {
        let cmd = b"*4\r\n$3\r\nDEL\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n";
        let (mut spans, mut scratch, mut progress) = (Vec::new(), Vec::new(), Progress::default());
        // Whole arguments seen so far, for each prefix that ends after one.
        for (cut, seen) in [(13, 1), (20, 2), (27, 3)] {
            assert_eq!(
                parse(&cmd[..cut], &LIMITS, &mut progress, &mut spans, &mut scratch),
                Parsed::Incomplete
            );
            assert_eq!(progress.args_seen, seen, "after {cut} bytes");
            assert_eq!(progress.resume_at, cut);
        }
        let p = parse(cmd, &LIMITS, &mut progress, &mut spans, &mut scratch);
        assert_eq!(
            p,
            Parsed::Command {
                len: cmd.len(),
                unescaped: false
            }
        );
        assert_eq!(spans.len(), 4);
        assert_eq!(progress, Progress::default());
    }

    #[test]
    fn string2ll_rules() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"9223372036854775808",
            b"1x",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
