//! Chunked request bodies (RFC 9112 §7.1): finding where one ends, strictly,
//! resuming where the last read stopped, and reading its data back out.
//!
//! Strict means: hex sizes of at most 15 digits (so they cannot overflow), a
//! chunk extension only after `;`, every line ended by CRLF (a bare LF or CR
//! is refused, as in the head), CRLF after each chunk's data, and trailer
//! lines that look like fields.

/// Longest chunk-size line (size, extensions, CRLF) accepted.
pub(crate) const MAX_CHUNK_LINE_BYTES: usize = 1024;
/// Longest trailer section accepted (413 beyond it).
pub(crate) const MAX_TRAILER_BYTES: usize = 8 * 1024;

/// How far a body that has not fully arrived was already checked, so a body
/// arriving in many reads is scanned once, not once per read. Offsets are
/// from the start of the body; the default is "nothing checked yet".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Where the next chunk-size line (or the trailer section) starts.
    next_line: usize,
    /// Data bytes in the chunks before it.
    data_len: usize,
    /// The last chunk was seen: `next_line` is in the trailer section.
    in_trailers: bool,
}

/// Where the body at the front of a buffer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// The body is `wire_len` bytes long and holds `data_len` data bytes.
    Complete { wire_len: usize, data_len: usize },
    /// More bytes are needed.
    Partial,
    /// Malformed (400).
    Invalid,
    /// Longer than the limit on the wire (413).
    TooLarge,
}

/// Checks the chunked body at the front of `body`, resuming from `progress`
/// (which it advances), refusing a body longer than `max_wire_bytes`.
pub(crate) fn scan(body: &[u8], progress: &mut Progress, max_wire_bytes: usize) -> Scan {
    loop {
        let at = progress.next_line;
        if progress.in_trailers {
            return match trailer_section(&body[at..]) {
                Line::Complete(len) if at + len > max_wire_bytes || len > MAX_TRAILER_BYTES => Scan::TooLarge,
                Line::Complete(len) => Scan::Complete {
                    wire_len: at + len,
                    data_len: progress.data_len,
                },
                Line::Partial if body.len() > max_wire_bytes || body.len() - at > MAX_TRAILER_BYTES => Scan::TooLarge,
                Line::Partial => Scan::Partial,
                Line::Invalid => Scan::Invalid,
            };
        }
        let (size, line_len) = match size_line(&body[at..]) {
            SizeLine::Complete { size, line_len } => (size, line_len),
            SizeLine::Partial if body.len() > max_wire_bytes => return Scan::TooLarge,
            SizeLine::Partial => return Scan::Partial,
            SizeLine::Invalid => return Scan::Invalid,
        };
        if size == 0 {
            progress.next_line = at + line_len;
            progress.in_trailers = true;
            continue;
        }
        // Refuse a chunk that cannot fit before its data arrives.
        let end = match (at + line_len).checked_add(size).and_then(|e| e.checked_add(2)) {
            Some(end) if end <= max_wire_bytes => end,
            _ => return Scan::TooLarge,
        };
        if body.len() < end {
            return Scan::Partial;
        }
        if &body[end - 2..end] != b"\r\n" {
            return Scan::Invalid;
        }
        progress.next_line = end;
        progress.data_len += size;
    }
}

/// The data of a complete chunked body that [`scan`] accepted, chunk by chunk.
pub(crate) fn data(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut at = 0;
    std::iter::from_fn(move || match size_line(&body[at..]) {
        SizeLine::Complete { size, line_len } if size > 0 => {
            let start = at + line_len;
            at = start + size + 2;
            Some(&body[start..start + size])
        }
        _ => None,
    })
}

enum SizeLine {
    Complete { size: usize, line_len: usize },
    Partial,
    Invalid,
}

/// `chunk-size [ chunk-ext ] CRLF` at the front of `buf`.
fn size_line(buf: &[u8]) -> SizeLine {
    let Some(lf) = buf.iter().take(MAX_CHUNK_LINE_BYTES).position(|&b| b == b'\n') else {
        return if buf.len() >= MAX_CHUNK_LINE_BYTES {
            SizeLine::Invalid
        } else if buf.iter().all(|&b| is_line_byte(b) || b == b'\r') {
            SizeLine::Partial
        } else {
            SizeLine::Invalid
        };
    };
    if lf == 0 || buf[lf - 1] != b'\r' {
        return SizeLine::Invalid;
    }
    let line = &buf[..lf - 1];
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 15 {
        return SizeLine::Invalid;
    }
    let ext = &line[digits..];
    // chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ): after the size
    // only whitespace then ";" may come. Extensions are otherwise ignored.
    let ext_ok = ext.is_empty() || ext.trim_ascii_start().first() == Some(&b';');
    if !ext_ok || !ext.iter().all(|&b| is_line_byte(b)) {
        return SizeLine::Invalid;
    }
    let size = line[..digits]
        .iter()
        .fold(0usize, |n, &d| n * 16 + (d as char).to_digit(16).unwrap_or(0) as usize);
    SizeLine::Complete { size, line_len: lf + 1 }
}

/// Visible ASCII, space, tab and obs-text: what may appear inside a line.
fn is_line_byte(b: u8) -> bool {
    b == b'\t' || b >= b' ' && b != 0x7f
}

enum Line {
    Complete(usize),
    Partial,
    Invalid,
}

/// `*( field-line CRLF ) CRLF` at the front of `buf`: its length.
fn trailer_section(buf: &[u8]) -> Line {
    let mut at = 0;
    loop {
        let rest = &buf[at..];
        let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
            let ok = rest.iter().all(|&b| is_line_byte(b) || b == b'\r');
            return if ok { Line::Partial } else { Line::Invalid };
        };
        if lf == 0 || rest[lf - 1] != b'\r' {
            return Line::Invalid;
        }
        let line = &rest[..lf - 1];
        at += lf + 1;
        if line.is_empty() {
            return Line::Complete(at);
        }
        // A field line: a token, a colon, a value.
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Line::Invalid;
        };
        let name_ok = colon > 0 && line[..colon].iter().all(|&b| is_token_byte(b));
        if !name_ok || !line[colon + 1..].iter().all(|&b| is_line_byte(b)) {
            return Line::Invalid;
        }
    }
}

/// tchar (RFC 9110 §5.6.2).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
