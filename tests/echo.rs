//! Echo over real sockets: many concurrent clients with large random
//! payloads, the `split()` API and `write_vectored`.

mod util;

use std::io::{IoSlice, Write};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use netreactor::{Action, Conn, Engine, EventHandler, Service};
use util::*;

/// The 200-client test saturates a small machine; the tests here run one at
/// a time so the others' deadlines measure the engine, not CPU starvation.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn two_hundred_concurrent_clients_get_their_exact_bytes_back() {
    let _serial = lock(&SERIAL);
    const CLIENTS: usize = 200;
    const BYTES: usize = 1 << 20;
    const MAX_CHUNK: usize = 64 * 1024;

    let engine = start(Engine::builder().event_loops(4), Echo);
    let addr = engine.local_addr();
    let started = Instant::now();

    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            thread::Builder::new()
                .name(format!("client-{i}"))
                .spawn(move || {
                    let mut rng = Rng::new(0xEC40 + i as u64);
                    let data = rng.bytes(BYTES);
                    let mut stream = connect(addr);
                    let mut reader = stream.try_clone().unwrap();
                    let reading = thread::spawn(move || read_exact_within(&mut reader, BYTES, Duration::from_secs(30)));
                    let mut off = 0;
                    while off < BYTES {
                        let n = rng.range(1, MAX_CHUNK).min(BYTES - off);
                        stream.write_all(&data[off..off + n]).unwrap();
                        off += n;
                    }
                    let echoed = reading.join().expect("reader thread panicked");
                    if let Some(at) = first_difference(&echoed, &data) {
                        panic!("client {i}: echoed bytes differ from sent bytes at offset {at}");
                    }
                    // Nothing more than what was sent comes back.
                    finish(stream);
                })
                .unwrap()
        })
        .collect();
    for (i, c) in clients.into_iter().enumerate() {
        if c.join().is_err() {
            panic!("client {i} failed");
        }
    }
    wait_until(SETTLE, "every connection has closed", || engine.connection_count() == 0);
    eprintln!("200 clients x 1 MiB echoed in {:?}", started.elapsed());
    engine.stop();
}

/// Upper-cases what it receives, through the split reader/writer halves.
struct Upper;

impl EventHandler for Upper {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        let (mut rx, mut tx) = conn.split();
        tx.write(&rx.peek_all().to_ascii_uppercase());
        let n = rx.len();
        assert_eq!(rx.discard(n), n);
        assert!(rx.is_empty());
        Action::Continue
    }
}

#[test]
fn split_halves_echo_upper_cased() {
    let _serial = lock(&SERIAL);
    let engine = start(Engine::builder().event_loops(2), Upper);
    let mut s = connect(engine.local_addr());
    let mut rng = Rng::new(7);
    for round in 0..50 {
        let len = rng.range(1, 3000);
        let msg: Vec<u8> = (0..len).map(|_| b"abcxyzABC 019\n"[rng.range(0, 13)]).collect();
        s.write_all(&msg).unwrap();
        let want = msg.to_ascii_uppercase();
        let got = read_exact_within(&mut s, want.len(), IO_TIMEOUT);
        assert_eq!(got, want, "round {round}");
    }
    finish(s);
    engine.stop();
}

/// Answers each complete line `L\n` with `[L]\n`, written as three slices.
/// The state holds how much of the inbound buffer is known to have no
/// newline, so a long line is scanned once, not once per read.
struct Bracket;

impl Service for Bracket {
    type State = usize;

    fn on_traffic(&self, conn: &mut Conn, scanned: &mut usize) -> Action {
        while let Some(at) = conn.peek_all()[*scanned..].iter().position(|&b| b == b'\n') {
            let pos = *scanned + at;
            let line = conn.next(pos + 1).expect("line is there");
            conn.write_vectored(&[IoSlice::new(b"["), IoSlice::new(&line[..pos]), IoSlice::new(b"]\n")]);
            *scanned = 0;
        }
        *scanned = conn.inbound_len();
        Action::Continue
    }
}

#[test]
fn write_vectored_sends_slices_in_order() {
    let _serial = lock(&SERIAL);
    let engine = start(Engine::builder().event_loops(1), Bracket);
    let mut s = connect(engine.local_addr());

    // Lines split across writes: a line is answered only once complete.
    s.write_all(b"alpha\nbe").unwrap();
    assert_eq!(read_exact_within(&mut s, 8, IO_TIMEOUT), b"[alpha]\n");
    s.write_all(b"ta\ngam").unwrap();
    assert_eq!(read_exact_within(&mut s, 7, IO_TIMEOUT), b"[beta]\n");
    s.write_all(b"ma\n\nx\n").unwrap();
    assert_eq!(read_exact_within(&mut s, 15, IO_TIMEOUT), b"[gamma]\n[]\n[x]\n");

    // A line far above the small-write copy threshold.
    let mut rng = Rng::new(99);
    let big: Vec<u8> = (0..300_000).map(|_| b'a' + rng.range(0, 25) as u8).collect();
    let mut req = big.clone();
    req.push(b'\n');
    s.write_all(&req).unwrap();
    let got = read_exact_within(&mut s, big.len() + 3, IO_TIMEOUT);
    assert_eq!(got[0], b'[');
    assert!(got[1..=big.len()] == big[..], "big line body differs");
    assert_eq!(&got[big.len() + 1..], b"]\n");

    finish(s);
    engine.stop();
}
