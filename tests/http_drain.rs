//! examples/http while its engine drains: a keep-alive connection is never
//! closed between requests; its next request is answered with
//! `Connection: close` and the connection closes after it; a request in
//! flight when the drain begins is answered whole; connections that stay
//! silent are closed only at the drain's deadline.

mod util;

#[path = "http/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use harness::{serve, Client};
use util::{drain_in_background, wait_until, SETTLE};

const GET: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";

#[test]
fn draining_answers_the_next_request_with_connection_close_then_closes() {
    let engine = serve(Default::default());
    let mut client = Client::connect(engine.local_addr());
    let before = client.exchange(GET);
    assert_eq!(before.status, 200);
    assert!(!before.has_header("Connection"), "keep-alive before the drain");

    let drain = drain_in_background(&engine, Duration::from_secs(30));
    // Idle between requests, and the server keeps it: the next request
    // (which a client may already have sent) is answered.
    let during = client.exchange(GET);
    assert_eq!((during.status, during.text()), (200, "Hello, World!"));
    assert_eq!(during.header("Connection"), "close");
    assert_eq!(client.rest_until_closed(SETTLE), b"");
    // Its only connection gone, the engine stops long before the deadline.
    assert!(drain.join().unwrap() < Duration::from_secs(10));
    assert!(engine.is_stopped());
}

#[test]
fn a_request_in_flight_when_the_drain_begins_is_answered_whole() {
    let engine = serve(Default::default());
    let mut client = Client::connect(engine.local_addr());
    let body = vec![b'x'; 100_000];
    let head = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    client.send(head.as_bytes());
    client.send(&body[..50_000]);
    wait_until(SETTLE, "half the body is read", || {
        engine.stats().bytes_in >= (head.len() + 50_000) as u64
    });
    let drain = drain_in_background(&engine, Duration::from_secs(30));
    client.send(&body[50_000..]);
    let reply = client.response();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, body);
    assert_eq!(reply.header("Connection"), "close");
    assert_eq!(client.rest_until_closed(SETTLE), b"");
    drain.join().unwrap();
}

#[test]
fn silent_keep_alive_connections_are_closed_only_at_the_deadline() {
    let engine = serve(Default::default());
    let mut clients: Vec<Client> = (0..5).map(|_| Client::connect(engine.local_addr())).collect();
    for c in &mut clients {
        assert_eq!(c.exchange(GET).status, 200);
    }
    let grace = Duration::from_millis(700);
    let begun = Instant::now();
    let drain = drain_in_background(&engine, grace);
    // One speaks up half-way and is answered politely; the others wait.
    let speaker = clients.pop().unwrap();
    let mut speaker = speaker;
    let reply = speaker.exchange(GET);
    assert_eq!(reply.header("Connection"), "close");
    assert_eq!(speaker.rest_until_closed(SETTLE), b"");
    for c in &mut clients {
        assert_eq!(c.rest_until_closed(SETTLE), b"", "a silent connection gets no bytes");
        assert!(
            begun.elapsed() >= grace,
            "a silent keep-alive connection was closed {:?} into a {grace:?} drain",
            begun.elapsed()
        );
    }
    assert!(drain.join().unwrap() >= grace);
}
