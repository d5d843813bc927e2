//! examples/http over real sockets, byte by byte: routes, keep-alive,
//! pipelining (one write for all the responses of one read), bodies
//! (Content-Length, chunked, 100-continue), HTTP/1.0, HTTP/1.2 served as
//! 1.1, `Connection: close`, every malformed input answered with the right
//! status (414 for a long request line, 505 for another major version, 400
//! for an invalid Host: exact bytes) and a closed connection, randomly mutated requests, the lingering close, the idle and
//! request timeouts, the cached plaintext response's date; and the date
//! formatter and chunked scanner on their own.

mod util;

#[path = "http/harness.rs"]
mod harness;

use std::io::Write;
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use harness::chunked::{self, Progress, Scan};
use harness::server::Config;
use harness::{get, quick_timeouts, serve, Client, Response};
use util::{Rng, IO_TIMEOUT};

// ---- the pieces on their own ------------------------------------------------

#[test]
fn date_formats_as_imf_fixdate() {
    // Expected values from Python's email.utils.formatdate(t, usegmt=True).
    for (secs, want) in [
        (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
        (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
        (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
        (1_700_000_000, "Tue, 14 Nov 2023 22:13:20 GMT"),
        (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT"),
        (253_402_300_799, "Fri, 31 Dec 9999 23:59:59 GMT"),
    ] {
        assert_eq!(
            std::str::from_utf8(&harness::date::format(secs)).unwrap(),
            want,
            "{secs}"
        );
    }
}

#[test]
fn cached_date_is_the_current_second() {
    let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let now = harness::date::now();
    let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert!(
        (before..=after).any(|s| harness::date::format(s) == now),
        "{:?} is not between {before} and {after}",
        String::from_utf8_lossy(&now)
    );
}

/// A random chunked body: (wire bytes, data).
fn chunked_body(rng: &mut Rng) -> (Vec<u8>, Vec<u8>) {
    let mut wire = Vec::new();
    let mut data = Vec::new();
    for _ in 0..rng.range(0, 6) {
        let len = rng.range(1, 300);
        let chunk = rng.bytes(len);
        let size = if rng.range(0, 1) == 0 {
            format!("{:x}", chunk.len())
        } else {
            format!("{:04X}", chunk.len())
        };
        wire.extend_from_slice(size.as_bytes());
        if rng.range(0, 3) == 0 {
            wire.extend_from_slice(b" ; name=\"quoted value\";flag");
        }
        wire.extend_from_slice(b"\r\n");
        wire.extend_from_slice(&chunk);
        wire.extend_from_slice(b"\r\n");
        data.extend_from_slice(&chunk);
    }
    wire.extend_from_slice(b"0\r\n");
    if rng.range(0, 2) == 0 {
        wire.extend_from_slice(b"X-Checksum: 1234\r\nX-Other: a b c\r\n");
    }
    wire.extend_from_slice(b"\r\n");
    (wire, data)
}

#[test]
fn chunked_scan_resumes_at_every_split_point() {
    let mut rng = Rng::new(12);
    for _ in 0..60 {
        let (wire, data) = chunked_body(&mut rng);
        let mut next = wire.clone();
        next.extend_from_slice(b"GET / HTTP/1.1\r\n"); // the next request, not part of it
                                                       // Growing prefixes with one Progress carried along, as reads arrive.
        let mut progress = Progress::default();
        for end in 0..next.len() {
            let got = chunked::scan(&next[..end], &mut progress, 1 << 20);
            if end < wire.len() {
                assert_eq!(got, Scan::Partial, "prefix of {end} of {} bytes", wire.len());
            } else {
                let complete = Scan::Complete {
                    wire_len: wire.len(),
                    data_len: data.len(),
                };
                assert_eq!(got, complete, "prefix of {end} bytes");
            }
        }
        assert_eq!(chunked::data(&wire).collect::<Vec<_>>().concat(), data);
    }
}

#[test]
fn chunked_scan_rejects_malformed_bodies() {
    for bad in [
        &b"zz\r\nab\r\n0\r\n\r\n"[..],     // not hex
        b"\r\n",                           // no size
        b"5\nhello\r\n0\r\n\r\n",          // bare LF after the size
        b"5\r\rhello\r\n0\r\n\r\n",        // bare CR
        b"5\r\nhelloXY0\r\n\r\n",          // no CRLF after the data
        b"5 \r\nhello\r\n0\r\n\r\n",       // whitespace without an extension
        b"5;a\x01b\r\nhello\r\n0\r\n\r\n", // control byte in an extension
        b"-5\r\nhello\r\n0\r\n\r\n",
        b"0x5\r\nhello\r\n0\r\n\r\n",
        b"1000000000000000\r\n", // 16 digits
        b"0\r\nno colon here\r\n\r\n",
        b"0\r\nX-A: b\n\r\n", // bare LF in the trailers
        b"0\r\n: no name\r\n\r\n",
    ] {
        let got = chunked::scan(bad, &mut Progress::default(), 1 << 20);
        assert_eq!(got, Scan::Invalid, "{:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn chunked_scan_refuses_what_cannot_fit_before_it_arrives() {
    // A chunk announced larger than the limit is refused on its size line.
    let got = chunked::scan(b"100001\r\n", &mut Progress::default(), 1 << 20);
    assert_eq!(got, Scan::TooLarge);
    // Small chunks adding up past the limit.
    let mut wire = Vec::new();
    while wire.len() <= 4096 {
        wire.extend_from_slice(b"10\r\n0123456789abcdef\r\n");
    }
    assert_eq!(chunked::scan(&wire, &mut Progress::default(), 4096), Scan::TooLarge);
    // A size line that never ends.
    let long = vec![b'1'; chunked::MAX_CHUNK_LINE_BYTES + 1];
    assert_eq!(chunked::scan(&long, &mut Progress::default(), 1 << 20), Scan::Invalid);
}

// ---- routes -------------------------------------------------------------------

fn assert_date(r: &Response) {
    let date = r.header("Date");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let recent: Vec<_> = (now.saturating_sub(5)..=now)
        .map(|s| String::from_utf8(harness::date::format(s).to_vec()).unwrap())
        .collect();
    assert!(
        recent.iter().any(|d| d == date),
        "Date {date:?} is not the last few seconds"
    );
}

#[test]
fn plaintext_json_and_not_found() {
    let engine = serve(Config::default());
    let mut c = Client::connect(engine.local_addr());

    let r = c.exchange(&get("/plaintext"));
    assert_eq!((r.status, r.reason.as_str()), (200, "OK"));
    assert_eq!(r.text(), "Hello, World!");
    assert_eq!(r.header("Content-Type"), "text/plain");
    assert_eq!(r.header("Server"), "netreactor");
    assert!(
        !r.has_header("Connection"),
        "HTTP/1.1 keep-alive needs no Connection field"
    );
    assert_date(&r);

    let r = c.exchange(&get("/json?pretty=no"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), "application/json");
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("valid JSON");
    assert_eq!(v, serde_json::json!({"message": "Hello, World!"}));

    let r = c.exchange(&get("/nothing/here"));
    assert_eq!((r.status, r.text()), (404, "Not Found"));

    let r = c.exchange(b"DELETE /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), "GET, HEAD");

    let r = c.exchange(b"GET http://example.test/plaintext HTTP/1.1\r\nHost: example.test\r\n\r\n");
    assert_eq!((r.status, r.text()), (200, "Hello, World!"), "absolute-form target");

    // All of it on one connection.
    c.send(b"HEAD /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.response_to(true);
    assert_eq!((r.status, r.header("Content-Length")), (200, "13"));
    assert!(r.body.is_empty());
    let r = c.exchange(&get("/plaintext"));
    assert_eq!(r.text(), "Hello, World!", "nothing was sent after the HEAD response");
    assert_eq!(engine.stats().accepted, 1);
}

#[test]
fn keep_alive_serves_a_thousand_requests_on_one_connection() {
    let engine = serve(Config::default());
    let mut c = Client::connect(engine.local_addr());
    for i in 0..1000 {
        let path = if i % 2 == 0 { "/plaintext" } else { "/json" };
        assert_eq!(c.exchange(&get(path)).status, 200, "request {i}");
    }
    assert_eq!(engine.stats().accepted, 1);
}

/// Data segments the client's socket has received (TCP_INFO).
fn data_segments_in(c: &Client) -> u32 {
    // SAFETY: tcp_info is plain old data; zeroed is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the pointer and length describe `info`, which outlives the call.
    let rc = unsafe {
        libc::getsockopt(
            c.stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "getsockopt(TCP_INFO): {}", std::io::Error::last_os_error());
    info.tcpi_data_segs_in
}

#[test]
fn pipelined_requests_are_answered_in_order_with_one_write() {
    let engine = serve(Config::default());
    let mut c = Client::connect(engine.local_addr());
    assert_eq!(c.exchange(&get("/plaintext")).status, 200); // connected and served once
    for round in 0..20 {
        let paths = ["/plaintext", "/json", "/missing", "/plaintext"];
        let batch: Vec<u8> = (0..16).flat_map(|i| get(paths[i % 4])).collect();
        let segments_before = data_segments_in(&c);
        c.send(&batch); // one write: one segment over loopback, one read on the server
        for i in 0..16 {
            let r = c.response();
            let want = if paths[i % 4] == "/missing" { 404 } else { 200 };
            assert_eq!(r.status, want, "round {round}, response {i}");
        }
        // Sixteen responses, one write: the client received one data segment
        // (loopback carries up to 64 KiB in one).
        assert_eq!(data_segments_in(&c) - segments_before, 1, "round {round}");
    }
}

#[test]
fn a_request_split_anywhere_is_answered_once_when_whole() {
    let engine = serve(Config::default());
    let mut c = Client::connect(engine.local_addr());
    let req = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123456789";
    for split in 1..req.len() {
        c.send(&req[..split]);
        c.send(&req[split..]);
        let r = c.response();
        assert_eq!((r.status, r.text()), (200, "0123456789"), "split at {split}");
    }
    // Byte by byte, with the next request following.
    for &b in req.iter() {
        c.send(&[b]);
    }
    c.send(&get("/plaintext"));
    assert_eq!(c.response().text(), "0123456789");
    assert_eq!(c.response().text(), "Hello, World!");
}

// ---- bodies -------------------------------------------------------------------------

#[test]
fn content_length_and_chunked_bodies_are_echoed() {
    let engine = serve(Config::default());
    let mut c = Client::connect(engine.local_addr());
    let mut rng = Rng::new(7);
    for _ in 0..30 {
        let (wire, data) = chunked_body(&mut rng);
        let mut req = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        req.extend_from_slice(&wire);
        // Arrives in random pieces.
        let mut at = 0;
        while at < req.len() {
            let n = rng.range(1, req.len() - at);
            c.send(&req[at..at + n]);
            at += n;
        }
        let r = c.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, data);

        let len = rng.range(0, 70_000);
        let body = rng.bytes(len);
        let mut req = format!(
            "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(&body);
        let r = c.exchange(&req);
        assert_eq!(r.body, body);
    }
    // A body on a route that ignores it is skipped exactly.
    let mut req = b"POST /missing HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nGET /".to_vec();
    req.extend_from_slice(&get("/plaintext"));
    assert_eq!(c.exchange(&req).status, 404);
    assert_eq!(c.response().text(), "Hello, World!");
}

#[test]
fn expect_100_continue_gets_the_go_ahead_before_the_body() {
    let engine = serve(Config::default());
    let mut c = Client::connect(engine.local_addr());
    for te in [false, true] {
        let framing = if te {
            "Transfer-Encoding: chunked"
        } else {
            "Content-Length: 5"
        };
        c.send(format!("POST /echo HTTP/1.1\r\nHost: t\r\n{framing}\r\nExpect: 100-continue\r\n\r\n").as_bytes());
        assert_eq!(c.read_bytes(25), b"HTTP/1.1 100 Continue\r\n\r\n");
        c.send(if te { b"5\r\nhello\r\n0\r\n\r\n" } else { b"hello" });
        let r = c.response();
        assert_eq!((r.status, r.text()), (200, "hello"));
    }
    // Body sent along with the head: the client did not wait, no 100.
    let r = c.exchange(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi");
    assert_eq!((r.status, r.text()), (200, "hi"));
    // HTTP/1.0 cannot ask for it (RFC 9110 §10.1.1): ignored.
    c.send(b"POST /echo HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
    c.send(b"ok");
    assert_eq!(c.response().text(), "ok");

    // Too large: the final status instead of the go-ahead, and the end.
    let mut c = Client::connect(engine.local_addr());
    let r = c.exchange(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\nExpect: 100-continue\r\n\r\n");
    assert_eq!(r.status, 413);
    c.expect_closed(IO_TIMEOUT);
}

// ---- connection management --------------------------------------------------------------

#[test]
fn http_1_0_closes_unless_asked_to_keep_alive() {
    let engine = serve(Config::default());
    let mut c = Client::connect(engine.local_addr());
    let r = c.exchange(b"GET /plaintext HTTP/1.0\r\n\r\n");
    assert_eq!((r.status, r.header("Connection")), (200, "close"));
    c.expect_closed(IO_TIMEOUT);

    let mut c = Client::connect(engine.local_addr());
    for _ in 0..3 {
        let r = c.exchange(b"GET /plaintext HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert_eq!((r.status, r.header("Connection")), (200, "keep-alive"));
    }
    let r = c.exchange(b"GET /json HTTP/1.0\r\n\r\n");
    assert_eq!(r.header("Connection"), "close");
    c.expect_closed(IO_TIMEOUT);
}

#[test]
fn connection_close_ends_after_its_response_and_ignores_the_rest() {
    let engine = serve(Config::default());
    let mut c = Client::connect(engine.local_addr());
    let mut batch = get("/json");
    batch.extend_from_slice(b"GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    batch.extend_from_slice(&get("/json")); // after the close: never answered
    c.send(&batch);
    assert_eq!(c.response().header("Content-Type"), "application/json");
    let r = c.response();
    assert_eq!((r.text(), r.header("Connection")), ("Hello, World!", "close"));
    c.expect_closed(IO_TIMEOUT);
}

/// Sends `raw` on a fresh connection; expects one response with `status`
/// (and `Connection: close`), then the end of the connection.
fn rejected(engine: &util::Engine, raw: &[u8], status: u16) {
    let mut c = Client::connect(engine.local_addr());
    let r = c.exchange(raw);
    assert_eq!(
        r.status,
        status,
        "for {:?}: {r:?}",
        String::from_utf8_lossy(&raw[..raw.len().min(120)])
    );
    assert_eq!(r.header("Connection"), "close");
    c.expect_closed(IO_TIMEOUT);
}

/// The bare-LF check looks for a CR where httparse's slices put each line
/// end, and when one is missing counts LFs and CRs in blocks of 255 bytes
/// (vectorized): a bare LF at every offset near the start and on both sides
/// of the first block's end (the line holding it ends at byte 41 + `pad`) is
/// refused; the same head with CRLF is answered.
#[test]
fn a_bare_lf_is_refused_wherever_it_falls_in_the_head() {
    let engine = serve(Config::default());
    for pad in (0..=17).chain(200..=232) {
        let x = "x".repeat(pad);
        for (line_end, status) in [("\r\n", 200), ("\n", 400)] {
            let raw = format!("GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Pad: {x}{line_end}X-B: y\r\n\r\n");
            let mut c = Client::connect(engine.local_addr());
            let r = c.exchange(raw.as_bytes());
            assert_eq!(r.status, status, "pad {pad}, line end {line_end:?}: {r:?}");
        }
    }
}

#[test]
fn malformed_requests_get_their_status_and_lose_the_connection() {
    let engine = serve(Config::default());
    let host = "Host: t\r\n";
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"GET /plaintext HTTP/1.1\nHost: t\n\n".to_vec(), 400), // bare LF
        (b"GET /plaintext HTTP/1.1\r\nHost: t\n\r\n".to_vec(), 400), // one bare LF
        (b"GET /plaintext HTTP/1.1\r\nHost: t\r\rX: y\r\n\r\n".to_vec(), 400), // bare CR
        (b"GET /plaintext HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n".to_vec(), 400), // CR in a value
        (b"GET /plaintext HTTP/1.1\r\nHost: t\r\nX: a\nb\r\n\r\n".to_vec(), 400), // LF in a value
        (b"GET /plain text HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(), 400), // a TLS hello
        (b"GET /plaintext HTTP/1.1\r\nHost : t\r\n\r\n".to_vec(), 400),  // space before the colon
        (b"GET /plaintext HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n".to_vec(), 400), // obs-fold
        (b"GET /plaintext HTTP/1.1\r\n\r\n".to_vec(), 400),              // no Host
        (b"GET /plaintext HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(), 400), // two
        (
            format!("POST /echo HTTP/1.1\r\n{host}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
                .into_bytes(),
            400,
        ),
        (
            format!("POST /echo HTTP/1.1\r\n{host}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n")
                .into_bytes(),
            400,
        ),
        (
            format!("POST /echo HTTP/1.1\r\n{host}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!").into_bytes(),
            400,
        ),
        (
            format!("POST /echo HTTP/1.1\r\n{host}Content-Length: +5\r\n\r\nhello").into_bytes(),
            400,
        ),
        (
            format!("POST /echo HTTP/1.1\r\n{host}Content-Length: 5, 5\r\n\r\nhello").into_bytes(),
            400,
        ),
        (
            format!("POST /echo HTTP/1.1\r\n{host}Content-Length: 0x5\r\n\r\nhello").into_bytes(),
            400,
        ),
        (
            format!("POST /echo HTTP/1.1\r\n{host}Transfer-Encoding: chunked, identity\r\n\r\n").into_bytes(),
            400,
        ),
        (
            format!("POST /echo HTTP/1.1\r\n{host}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n")
                .into_bytes(),
            400,
        ),
        (
            format!("POST /echo HTTP/1.1\r\n{host}Transfer-Encoding: gzip, chunked\r\n\r\n").into_bytes(),
            501,
        ),
        (
            b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
            400,
        ),
        (
            format!("POST /echo HTTP/1.1\r\n{host}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
                .into_bytes(),
            400,
        ),
        (
            format!("POST /echo HTTP/1.1\r\n{host}Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n")
                .into_bytes(),
            400,
        ),
        (
            format!("POST /echo HTTP/1.1\r\n{host}Transfer-Encoding: chunked\r\n\r\n5\r\nhello!!0\r\n\r\n")
                .into_bytes(),
            400,
        ),
        (
            format!("GET /plaintext HTTP/1.1\r\n{host}Expect: something-else\r\n\r\n").into_bytes(),
            417,
        ),
        (
            format!("POST /echo HTTP/1.1\r\n{host}Content-Length: 1048577\r\n\r\n").into_bytes(),
            413,
        ),
        (
            format!("POST /echo HTTP/1.1\r\n{host}Transfer-Encoding: chunked\r\n\r\n100001\r\n").into_bytes(),
            413,
        ),
    ];
    for (raw, status) in &cases {
        rejected(&engine, raw, *status);
    }
}

#[test]
fn oversized_heads_get_431() {
    let engine = serve(Config::default());
    // 65 fields: one over httparse's slots.
    let mut many = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n".to_vec();
    for i in 0..64 {
        many.extend_from_slice(format!("X-Field-{i}: {i}\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    rejected(&engine, &many, 431);
    // A complete head over 8 KiB, and one that never ends.
    let long_value = "v".repeat(9 * 1024);
    rejected(
        &engine,
        format!("GET / HTTP/1.1\r\nHost: t\r\nX-Big: {long_value}\r\n\r\n").as_bytes(),
        431,
    );
    rejected(
        &engine,
        format!("GET / HTTP/1.1\r\nHost: t\r\nX-Big: {long_value}").as_bytes(),
        431,
    );
    // 64 fields fit.
    let mut fits = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n".to_vec();
    for i in 0..63 {
        fits.extend_from_slice(format!("X-Field-{i}: {i}\r\n").as_bytes());
    }
    fits.extend_from_slice(b"\r\n");
    assert_eq!(Client::connect(engine.local_addr()).exchange(&fits).status, 200);
}

#[test]
fn responses_before_a_malformed_request_are_still_sent() {
    let engine = serve(Config::default());
    let mut c = Client::connect(engine.local_addr());
    let mut batch = get("/plaintext");
    batch.extend_from_slice(&get("/json"));
    batch.extend_from_slice(b"GET /x HTTP/1.1\nHost: t\n\n");
    batch.extend_from_slice(&get("/plaintext"));
    c.send(&batch);
    assert_eq!(c.response().status, 200);
    assert_eq!(c.response().status, 200);
    assert_eq!(c.response().status, 400);
    c.expect_closed(IO_TIMEOUT);
}

#[test]
fn a_client_still_sending_gets_its_413_not_a_reset() {
    // Lingering close: the server answers 413 at once, sends FIN, then keeps
    // reading and discarding. Closing outright with the body still arriving
    // would make the kernel answer it with a reset, which fails the client's
    // writes and can throw away the 413 before the client reads it. A long
    // linger, so that a slow machine sends the whole body within it.
    let engine = serve(Config {
        linger: Duration::from_secs(30),
        ..Config::default()
    });
    let mut c = Client::connect(engine.local_addr());
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 64000000\r\n\r\n");
    let mut writer = c.stream.try_clone().unwrap();
    let sender = thread::spawn(move || {
        // Far more than the socket buffers hold (the kernel's maximum is a
        // few MiB each way), so most of it is sent after the server answered.
        let chunk = vec![b'x'; 1_000_000];
        (0..64).all(|_| writer.write_all(&chunk).is_ok())
    });
    // The whole body goes out before the client reads anything.
    assert!(
        sender.join().unwrap(),
        "the server reset the connection while the body was still arriving"
    );
    let r = c.response();
    assert_eq!(r.status, 413);
    c.expect_closed(IO_TIMEOUT);
}

// ---- timeouts -------------------------------------------------------------------------------

#[test]
fn idle_keep_alive_connections_are_closed() {
    let idle = Duration::from_millis(300);
    let engine = serve(quick_timeouts(idle, Duration::from_secs(10)));
    let mut c = Client::connect(engine.local_addr());
    assert_eq!(c.exchange(&get("/plaintext")).status, 200);
    let answered = Instant::now();
    c.expect_closed(IO_TIMEOUT);
    assert!(
        answered.elapsed() >= idle - Duration::from_millis(5),
        "closed after {:?}",
        answered.elapsed()
    );
    assert_eq!(engine.stats().closed_timeout, 1);
}

#[test]
fn a_request_trickling_in_is_cut_off_at_the_request_deadline() {
    // Slowloris: one byte every 20 ms keeps the connection busy but the head
    // never completes. The deadline runs from the first byte and is not
    // moved by the ones after it.
    let deadline = Duration::from_millis(400);
    let engine = serve(quick_timeouts(Duration::from_secs(10), deadline));
    let mut c = Client::connect(engine.local_addr());
    let mut writer = c.stream.try_clone().unwrap();
    let started = Instant::now();
    let trickle = thread::spawn(move || {
        let head = b"GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Slow: ".iter().copied();
        for b in head.chain(std::iter::repeat(b'a')).take(5000) {
            if writer.write_all(&[b]).is_err() {
                return true; // the server closed
            }
            thread::sleep(Duration::from_millis(20)); // pacing, not synchronisation
        }
        false
    });
    c.expect_closed(IO_TIMEOUT);
    assert!(
        started.elapsed() >= deadline - Duration::from_millis(5),
        "closed after {:?}",
        started.elapsed()
    );
    assert!(
        trickle.join().unwrap(),
        "the server never closed the trickling connection"
    );
    assert_eq!(engine.stats().closed_timeout, 1);
}

#[test]
fn a_busy_pipelining_client_is_not_cut_off_by_the_request_deadline() {
    // Every read ends in the middle of the next request, for five times the
    // request deadline: each request is whole well within it, so the
    // connection must live on.
    let deadline = Duration::from_millis(300);
    let engine = serve(quick_timeouts(Duration::from_secs(10), deadline));
    let mut c = Client::connect(engine.local_addr());
    let req = get("/plaintext");
    let half = req.len() / 2;
    c.send(&req[..half]);
    let started = Instant::now();
    let mut answered = 0;
    while started.elapsed() < deadline * 5 {
        c.send(&[&req[half..], &req[..half]].concat());
        assert_eq!(
            c.response().text(),
            "Hello, World!",
            "after {answered} responses, {:?}",
            started.elapsed()
        );
        answered += 1;
    }
    c.send(&req[half..]);
    assert_eq!(c.response().status, 200);
    assert_eq!(engine.stats().closed_timeout, 0);
}

/// Splits a byte stream into responses: (status, body length) each, or an
/// error describing the first thing that is not a well-formed response.
fn parse_responses(mut bytes: &[u8]) -> Result<Vec<(u16, usize)>, String> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let shown = || String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| format!("no end of head in {:?}", shown()))?;
        let head = std::str::from_utf8(&bytes[..end]).map_err(|_| format!("head not UTF-8: {:?}", shown()))?;
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.strip_prefix("HTTP/1.1 "))
            .and_then(|l| l.get(..3))
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| format!("bad status line in {:?}", shown()))?;
        let len = if status == 100 {
            0
        } else {
            lines
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|v| v.parse::<usize>().ok())
                .ok_or_else(|| format!("no Content-Length in {head:?}"))?
        };
        if bytes.len() < end + 4 + len {
            return Err(format!("body cut short in {:?}", shown()));
        }
        out.push((status, len));
        bytes = &bytes[end + 4 + len..];
    }
    Ok(out)
}

/// Asserts `got` is `expected` byte for byte, where `expected` has
/// `<date>` for the Date field's value and `got` has a date of the last few
/// seconds there (IMF-fixdate: always 29 bytes).
fn assert_exact(got: &[u8], expected: &str) {
    let got = String::from_utf8_lossy(got);
    let date = got
        .find("\r\nDate: ")
        .map(|i| &got[i + 8..got.len().min(i + 8 + 29)])
        .unwrap_or_else(|| panic!("no Date field in {got:?}"));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert!(
        (now.saturating_sub(5)..=now).any(|s| harness::date::format(s) == date.as_bytes()),
        "Date {date:?} is not the last few seconds"
    );
    assert_eq!(got, expected.replace("<date>", date));
}

/// The whole answer to `raw` on a fresh connection, up to the server's close.
fn whole_answer(engine: &util::Engine, raw: &[u8]) -> Vec<u8> {
    let mut c = Client::connect(engine.local_addr());
    c.send(raw);
    c.rest_until_closed(IO_TIMEOUT)
}

/// An error answer, exactly as the server sends it.
fn error_answer(code: u16, reason: &str) -> String {
    format!(
        "HTTP/1.1 {code} {reason}\r\nServer: netreactor\r\nDate: <date>\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{reason}",
        reason.len()
    )
}

const HELLO_ANSWER: &str = "HTTP/1.1 200 OK\r\nServer: netreactor\r\nDate: <date>\r\nContent-Type: text/plain\r\n\
                            Content-Length: 13\r\n\r\nHello, World!";

#[test]
fn a_request_line_longer_than_the_head_limit_is_414_while_long_fields_stay_431() {
    let engine = serve(Config::default()); // an 8 KiB head limit
    let limit = Config::default().limits.max_head_bytes;
    let line = |len: usize| {
        let mut l = format!("GET /{}", "u".repeat(len - "GET / HTTP/1.1".len()));
        l.push_str(" HTTP/1.1");
        assert_eq!(l.len(), len);
        l
    };
    let uri_too_long = error_answer(414, "URI Too Long");
    // A request line (CRLF included) one byte over the limit: 414.
    let got = whole_answer(&engine, format!("{}\r\nHost: t\r\n\r\n", line(limit - 1)).as_bytes());
    assert_exact(&got, &uri_too_long);
    // Far over it, and one that has not ended yet: 414 as soon as it cannot fit.
    assert_exact(
        &whole_answer(&engine, format!("{}\r\nHost: t\r\n\r\n", line(64 * 1024)).as_bytes()),
        &uri_too_long,
    );
    assert_exact(
        &whole_answer(&engine, &line(limit + 100).as_bytes()[..limit + 1]),
        &uri_too_long,
    );
    // A request line that fits exactly, with fields that push the head over: 431.
    let got = whole_answer(&engine, format!("{}\r\nHost: t\r\n\r\n", line(limit - 2)).as_bytes());
    assert_exact(&got, &error_answer(431, "Request Header Fields Too Large"));
    // A long target inside the limit is served (404: no such path).
    let fits = format!("{}\r\nHost: t\r\n\r\n", line(limit - "\r\nHost: t\r\n\r\n".len()));
    assert_eq!(fits.len(), limit);
    assert_eq!(
        Client::connect(engine.local_addr()).exchange(fits.as_bytes()).status,
        404
    );
    // No method ends within the limit: not a long URI, a bad request.
    assert_exact(
        &whole_answer(&engine, "G".repeat(limit + 1).as_bytes()),
        &error_answer(400, "Bad Request"),
    );
}

#[test]
fn an_invalid_host_is_400_and_every_valid_form_is_served() {
    let engine = serve(Config::default());
    let bad_request = error_answer(400, "Bad Request");
    for host in [
        &b"a b"[..],
        b"a/b",
        b"a@b",
        b"user@host",
        b"a?b",
        b"a#b",
        b"a\"b",
        b"a:8x",
        b"a:1:2",
        b"::1",
        b"[::1",
        b"[::1]x",
        b"[::1]:8x",
        b"[zz::1]",
        b"[]",
        b"[v1]",
        b"a%2",
        b"a%zz",
        b"\xc3\xa9.example",
        b"a\tb",
    ] {
        let mut raw = b"GET /plaintext HTTP/1.1\r\nHost: ".to_vec();
        raw.extend_from_slice(host);
        raw.extend_from_slice(b"\r\n\r\n");
        let got = whole_answer(&engine, &raw);
        assert_eq!(
            String::from_utf8_lossy(&got[..got.len().min(24)]),
            "HTTP/1.1 400 Bad Request",
            "Host: {:?}",
            String::from_utf8_lossy(host)
        );
        assert_exact(&got, &bad_request);
    }
    // Also in HTTP/1.0, where Host is optional but must be valid if sent.
    assert_exact(
        &whole_answer(&engine, b"GET /plaintext HTTP/1.0\r\nHost: a b\r\n\r\n"),
        &bad_request,
    );
    let mut c = Client::connect(engine.local_addr());
    for host in [
        "t",
        "",
        "example.com",
        "example.com:8080",
        "example.com:",
        "127.0.0.1:80",
        "[::1]",
        "[::1]:8080",
        "[2001:db8::ffff:192.0.2.1]",
        "[v7.fe80::1]",
        "[v1.a:b]",
        "a%20b",
        "xn--bcher-kva.example",
        "a-b_c~d!$&'()*+,;=",
        "t   ",
    ] {
        let r = c.exchange(format!("GET /plaintext HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
        assert_eq!((r.status, r.text()), (200, "Hello, World!"), "Host: {host:?}");
    }
}

#[test]
fn http_1_2_to_1_9_are_answered_as_http_1_1() {
    let engine = serve(Config::default());
    for minor in 2..=9 {
        let mut c = Client::connect(engine.local_addr());
        c.send(format!("GET /plaintext HTTP/1.{minor}\r\nHost: t\r\n\r\n").as_bytes());
        // Exactly the HTTP/1.1 answer: 1.1 in the status line, kept alive.
        let expected_len = HELLO_ANSWER.len() - "<date>".len() + 29;
        assert_exact(&c.read_bytes(expected_len), HELLO_ANSWER);
        // HTTP/1.1 semantics: the connection stays open for the next
        // request, a chunked body is read, Connection: close is obeyed.
        c.send(
            format!(
                "POST /echo HTTP/1.{minor}\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
            )
            .as_bytes(),
        );
        let r = c.response();
        assert_eq!((r.status, r.text()), (200, "hello"), "HTTP/1.{minor}");
        c.send(format!("GET /plaintext HTTP/1.{minor}\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes());
        let close_answer =
            HELLO_ANSWER.replace("Content-Length: 13\r\n", "Content-Length: 13\r\nConnection: close\r\n");
        assert_exact(&c.rest_until_closed(IO_TIMEOUT), &close_answer);
    }
    // As in 1.1, Host is required.
    assert_exact(
        &whole_answer(&engine, b"GET /plaintext HTTP/1.2\r\n\r\n"),
        &error_answer(400, "Bad Request"),
    );
    // Split anywhere, it is answered once it is whole.
    let raw = b"GET /plaintext HTTP/1.2\r\nHost: t\r\n\r\n";
    for split in 1..raw.len() {
        let mut c = Client::connect(engine.local_addr());
        c.send(&raw[..split]);
        c.stream.flush().unwrap();
        c.send(&raw[split..]);
        let r = c.response();
        assert_eq!((r.status, r.text()), (200, "Hello, World!"), "split at {split}");
    }
}

#[test]
fn other_major_versions_are_505_and_malformed_versions_400() {
    let engine = serve(Config::default());
    let not_supported = error_answer(505, "HTTP Version Not Supported");
    for version in ["HTTP/2.0", "HTTP/3.0", "HTTP/9.9", "HTTP/0.9", "HTTP/2.1"] {
        let got = whole_answer(
            &engine,
            format!("GET /plaintext {version}\r\nHost: t\r\n\r\n").as_bytes(),
        );
        assert_exact(&got, &not_supported);
    }
    let bad_request = error_answer(400, "Bad Request");
    for version in [
        "HTTP/1.10",
        "HTTP/12.0",
        "HTTP/1.x",
        "HTTP/1",
        "HTTP/2",
        "HTTPS/1.1",
        "http/1.1",
        "HTTP/1.2 ",
        "HTTP/1.2\r",
    ] {
        let got = whole_answer(
            &engine,
            format!("GET /plaintext {version}\r\nHost: t\r\n\r\n").as_bytes(),
        );
        assert_exact(&got, &bad_request);
    }
}

#[test]
fn mutated_requests_get_well_formed_answers_and_never_break_the_server() {
    // Valid requests with random bytes flipped, inserted, deleted or
    // duplicated; each on its own connection, followed by a valid request
    // and the client's end of file. Whatever the mutation did, the server
    // must answer only with well-formed responses of the statuses it knows
    // (or none, when the mutation left a body waiting), end the connection,
    // and keep serving others.
    let engine = serve(Config::default());
    let seeds: [&[u8]; 5] = [
        b"GET /plaintext HTTP/1.1\r\nHost: t\r\nAccept: */*\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: v\r\n\r\n",
        b"GET /json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"PUT /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    ];
    let known = [100, 200, 400, 404, 405, 413, 414, 417, 431, 501, 505];
    let mut rng = Rng::new(2026);
    let mut rejected = 0;
    for case in 0..400 {
        let mut req = seeds[case % seeds.len()].to_vec();
        for _ in 0..rng.range(1, 4) {
            let at = rng.range(0, req.len() - 1);
            match rng.range(0, 3) {
                0 => req[at] = rng.next_u64() as u8,
                1 => req.insert(at, b"\r\n:; \t0aZ\x00\xff"[rng.range(0, 10)]),
                2 => {
                    req.remove(at);
                }
                _ => {
                    let end = rng.range(at, req.len() - 1);
                    let copy = req[at..=end].to_vec();
                    req.splice(at..at, copy);
                }
            }
        }
        let mut c = Client::connect(engine.local_addr());
        c.send(&req);
        c.send(b"GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        c.stream.shutdown(std::net::Shutdown::Write).unwrap();
        let stream = c.rest_until_closed(IO_TIMEOUT);
        let responses = parse_responses(&stream)
            .unwrap_or_else(|e| panic!("case {case}, request {:?}: {e}", String::from_utf8_lossy(&req)));
        for (status, _) in &responses {
            assert!(
                known.contains(status),
                "case {case}: status {status} for {:?}",
                String::from_utf8_lossy(&req)
            );
        }
        rejected += usize::from(responses.iter().any(|r| r.0 >= 400 && r.0 != 404 && r.0 != 405));
    }
    // The mutations mostly break requests; some must still parse.
    assert!((100..400).contains(&rejected), "{rejected} of 400 rejected");
    let stats = engine.stats();
    assert_eq!(stats.closed_handler_panic, 0, "{stats:?}");
    assert_eq!(
        Client::connect(engine.local_addr()).exchange(&get("/plaintext")).status,
        200
    );
}

#[test]
fn the_cached_plaintext_response_follows_the_clock() {
    // The keep-alive GET /plaintext response is cached per second: its Date
    // must change when the second does, and always be current.
    let engine = serve(Config::default());
    let mut c = Client::connect(engine.local_addr());
    let first = c.exchange(&get("/plaintext"));
    let started = Instant::now();
    loop {
        let r = c.exchange(&get("/plaintext"));
        assert_eq!(r.text(), "Hello, World!");
        assert_date(&r);
        if r.header("Date") != first.header("Date") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the Date stayed {:?}",
            first.header("Date")
        );
    }
}
