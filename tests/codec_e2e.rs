//! Codecs end to end: the engine frames each connection's byte stream with a
//! codec (`on_frame`, `write_frame`, `ConnHandle::async_write_frame`), and a
//! malformed or oversize frame closes only the connection that sent it, with
//! `CloseReason::Codec` carrying the codec's message.
//!
//! The clients frame and unframe with the same codecs (`netreactor::codec`),
//! so every byte is checked against what was sent.

mod util;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use netreactor::codec::{Decoder, Encoder, LengthFieldCodec, LineCodec};
use netreactor::{Action, Bytes, BytesMut, CloseReason, Conn, ConnHandle, Engine, EventHandler, Frame};
use util::*;

/// Echoes every frame back as a frame and records opens and closes.
#[derive(Default)]
struct FrameEcho {
    rec: Arc<Recorder>,
}

impl EventHandler for FrameEcho {
    fn on_open(&self, conn: &mut Conn) -> Action {
        self.rec.open(conn);
        Action::Continue
    }

    fn on_frame(&self, conn: &mut Conn, frame: Frame<'_>) -> Action {
        conn.write_frame(&frame).map_or(Action::Close, |_| Action::Continue)
    }

    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.rec.close(conn, reason);
    }
}

/// Encodes `payload` with `codec` and writes it in one `write_all`.
fn send_frame(s: &mut TcpStream, codec: &mut LengthFieldCodec, payload: &[u8]) {
    let mut out = BytesMut::new();
    codec.encode(payload, &mut out).expect("client-side encode");
    s.write_all(&out).unwrap();
}

/// Reads from `s` into `buf` until `codec` yields a frame; panics on EOF,
/// a decode error or a timeout.
fn recv_frame<D>(s: &mut TcpStream, codec: &mut D, buf: &mut BytesMut, timeout: Duration) -> Bytes
where
    D: Decoder<Item = Bytes>,
    D::Error: std::fmt::Debug,
{
    let deadline = Instant::now() + timeout;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        if let Some(frame) = codec.decode(buf).expect("client-side decode") {
            return frame;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no whole frame within {timeout:?} ({} bytes buffered)",
            buf.len()
        );
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut chunk) {
            Ok(0) => panic!("EOF with {} bytes of an incomplete frame buffered", buf.len()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read failed waiting for a frame: {e}"),
        }
    }
}

/// Sends one frame and asserts the same payload comes back framed.
fn frame_round_trip(s: &mut TcpStream, payload: &[u8]) {
    let mut codec = LengthFieldCodec::new();
    send_frame(s, &mut codec, payload);
    let mut buf = BytesMut::new();
    let got = recv_frame(s, &mut codec, &mut buf, IO_TIMEOUT);
    assert_eq!(got.len(), payload.len(), "echoed frame length");
    assert!(got[..] == payload[..], "echoed frame differs from the one sent");
    assert!(buf.is_empty(), "{} unexpected bytes after the echoed frame", buf.len());
}

/// The reason `on_close` got for `peer`, as the codec message when it is
/// `Codec(msg)` (any other reason fails the test).
fn codec_close_message(rec: &Recorder, peer: SocketAddr) -> String {
    rec.wait_close_of(peer, |r| match r {
        CloseReason::Codec(msg) => Ok(msg.clone()),
        other => Err(format!("{other:?}")),
    })
    .unwrap_or_else(|other| panic!("{peer} closed with {other}, expected CloseReason::Codec"))
}

/// The size of frame `j` of a client's sequence: sizes span the whole range
/// 0..=64 KiB (both ends included early on), most frames small so that
/// 100 clients x 1000 frames stay fast in a debug build.
fn frame_size(rng: &mut Rng, j: usize) -> usize {
    const MAX: usize = 64 * 1024;
    match j {
        0 => 0,
        1 => MAX,
        2 => 1,
        _ if rng.range(0, 99) < 10 => rng.range(0, MAX),
        _ => rng.range(0, 1024),
    }
}

#[test]
fn hundred_clients_thousand_random_frames_each_are_echoed_byte_exact() {
    const CLIENTS: usize = 100;
    const FRAMES: usize = 1000;
    const BATCH: usize = 50;
    const POOL: usize = 128 * 1024;

    let rec = Arc::new(Recorder::default());
    let engine = start(
        Engine::builder().event_loops(4).codec(LengthFieldCodec::new()),
        FrameEcho { rec: rec.clone() },
    );
    let addr = engine.local_addr();
    // Payloads are slices of one random pool at random offsets, so building
    // and checking them is cheap while every frame still differs.
    let pool = Arc::new(Rng::new(0xC0DEC).bytes(POOL));
    let started = Instant::now();

    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let pool = pool.clone();
            thread::Builder::new()
                .name(format!("frames-{i}"))
                .spawn(move || {
                    let seed = 0xF4A3E + i as u64;
                    let plan = move |rng: &mut Rng, j: usize| {
                        let len = frame_size(rng, j);
                        let off = rng.range(0, POOL - len);
                        (off, len)
                    };
                    let mut s = connect(addr);
                    let mut reader = s.try_clone().unwrap();
                    let rpool = pool.clone();
                    let reading = thread::spawn(move || {
                        let mut rng = Rng::new(seed);
                        let mut codec = LengthFieldCodec::new();
                        let mut buf = BytesMut::new();
                        for j in 0..FRAMES {
                            let (off, len) = plan(&mut rng, j);
                            let got = recv_frame(&mut reader, &mut codec, &mut buf, Duration::from_secs(30));
                            assert_eq!(got.len(), len, "client {i}: length of echoed frame {j}");
                            assert!(
                                got[..] == rpool[off..off + len],
                                "client {i}: echoed frame {j} differs at byte {:?}",
                                first_difference(&got, &rpool[off..off + len])
                            );
                        }
                        assert!(buf.is_empty(), "client {i}: bytes after the last frame");
                        expect_eof(&mut reader, IO_TIMEOUT);
                    });
                    // Pipelined: batches of frames go out while echoes come back.
                    let mut rng = Rng::new(seed);
                    let mut codec = LengthFieldCodec::new();
                    let mut out = BytesMut::new();
                    for j in 0..FRAMES {
                        let (off, len) = plan(&mut rng, j);
                        codec.encode(&pool[off..off + len], &mut out).unwrap();
                        if (j + 1) % BATCH == 0 {
                            s.write_all(&out).unwrap();
                            out.clear();
                        }
                    }
                    s.write_all(&out).unwrap();
                    s.shutdown(std::net::Shutdown::Write).unwrap();
                    reading.join().expect("reader thread failed");
                })
                .unwrap()
        })
        .collect();
    for (i, c) in clients.into_iter().enumerate() {
        if c.join().is_err() {
            panic!("client {i} failed");
        }
    }
    eprintln!("{CLIENTS} clients x {FRAMES} frames echoed in {:?}", started.elapsed());
    wait_until(SETTLE, "every connection has closed", || rec.closes() == CLIENTS);
    for c in lock(&rec.closed).iter() {
        assert!(
            matches!(c.reason, CloseReason::PeerEof),
            "{:?} closed with {:?}",
            c.peer,
            c.reason
        );
    }
    let stats = engine.stats();
    assert_eq!(stats.frames_in, (CLIENTS * FRAMES) as u64, "frames decoded");
    assert_eq!(stats.closed_codec_error, 0);
    engine.stop();
}

#[test]
fn oversize_frame_closes_only_its_connection_with_the_limit_in_the_reason() {
    let rec = Arc::new(Recorder::default());
    let codec = LengthFieldCodec::builder().max_frame_length(1024).build().unwrap();
    // One loop: the offender and the well-behaved clients share it.
    let engine = start(
        Engine::builder().event_loops(1).codec(codec),
        FrameEcho { rec: rec.clone() },
    );
    let addr = engine.local_addr();

    let mut good: Vec<_> = (0..3).map(|_| connect(addr)).collect();
    let mut rng = Rng::new(11);
    for s in &mut good {
        // 4-byte header + 1020 = 1024: exactly the maximum is fine.
        frame_round_trip(s, &rng.bytes(1020));
    }

    // A header announcing 2000 bytes (+ 4 header bytes > 1024), and a few
    // bytes of the body.
    let mut bad = connect(addr);
    let bad_peer = bad.local_addr().unwrap();
    // One write, so the server reads it all before it closes (bytes arriving
    // after the close would make the kernel answer with a reset).
    let mut wire = 2000u32.to_be_bytes().to_vec();
    wire.extend_from_slice(&[7u8; 10]);
    bad.write_all(&wire).unwrap();
    expect_eof(&mut bad, IO_TIMEOUT);
    assert_eq!(
        codec_close_message(&rec, bad_peer),
        "frame of 2004 bytes exceeds the maximum of 1024 bytes"
    );

    // One byte over the limit, sent as a well-formed frame, is refused too.
    let mut over = connect(addr);
    let over_peer = over.local_addr().unwrap();
    send_frame(&mut over, &mut LengthFieldCodec::new(), &rng.bytes(1021));
    expect_eof(&mut over, IO_TIMEOUT);
    assert_eq!(
        codec_close_message(&rec, over_peer),
        "frame of 1025 bytes exceeds the maximum of 1024 bytes"
    );

    // The others were not touched and are still served.
    assert_eq!(rec.closes(), 2, "only the two offenders closed");
    for s in &mut good {
        frame_round_trip(s, &rng.bytes(1020));
        frame_round_trip(s, b"");
    }
    assert_eq!(engine.connection_count(), 3);
    assert_eq!(engine.stats().closed_codec_error, 2);
    engine.stop();
}

#[test]
fn corrupt_frame_with_negative_adjusted_length_closes_with_codec_reason() {
    // 2-byte length field whose value counts 10 bytes more than follow it:
    // frame_len = 2 + value - 10, so a value below 8 is corrupt.
    let layout = || {
        LengthFieldCodec::builder()
            .length_field_length(2)
            .length_adjustment(-10)
            .build()
            .unwrap()
    };
    let rec = Arc::new(Recorder::default());
    let engine = start(
        Engine::builder().event_loops(1).codec(layout()),
        FrameEcho { rec: rec.clone() },
    );
    let addr = engine.local_addr();

    let mut good = connect(addr);
    let mut client_codec = layout();
    for payload in [&b"hello"[..], b"", &[0xAB; 300]] {
        let mut out = BytesMut::new();
        client_codec.encode(payload, &mut out).unwrap();
        assert_eq!(
            u16::from_be_bytes([out[0], out[1]]) as usize,
            payload.len() + 10,
            "client encodes value = len + 10"
        );
        good.write_all(&out).unwrap();
        let mut buf = BytesMut::new();
        let got = recv_frame(&mut good, &mut client_codec, &mut buf, IO_TIMEOUT);
        assert_eq!(&got[..], payload);
    }

    let mut bad = connect(addr);
    let bad_peer = bad.local_addr().unwrap();
    bad.write_all(&3u16.to_be_bytes()).unwrap();
    expect_eof(&mut bad, IO_TIMEOUT);
    assert_eq!(
        codec_close_message(&rec, bad_peer),
        "corrupt frame: adjusted frame length (-5) is negative"
    );

    // Not negative, but shorter than the header itself.
    let mut short = connect(addr);
    let short_peer = short.local_addr().unwrap();
    short.write_all(&9u16.to_be_bytes()).unwrap();
    expect_eof(&mut short, IO_TIMEOUT);
    assert_eq!(
        codec_close_message(&rec, short_peer),
        "corrupt frame: adjusted frame length (1) is less than the length field end offset (2)"
    );

    // The well-behaved client on the same loop is unaffected.
    let mut out = BytesMut::new();
    client_codec.encode(&b"still here"[..], &mut out).unwrap();
    good.write_all(&out).unwrap();
    let mut buf = BytesMut::new();
    assert_eq!(
        &recv_frame(&mut good, &mut client_codec, &mut buf, IO_TIMEOUT)[..],
        b"still here"
    );
    assert_eq!(rec.closes(), 2);
    engine.stop();
}

/// Hands each connection's `ConnHandle` to the test.
struct HandOut {
    handles: Mutex<mpsc::Sender<ConnHandle>>,
    rec: Arc<Recorder>,
}

impl EventHandler for HandOut {
    fn on_open(&self, conn: &mut Conn) -> Action {
        self.rec.open(conn);
        lock(&self.handles).send(conn.handle()).unwrap();
        Action::Continue
    }

    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.rec.close(conn, reason);
    }
}

#[test]
fn async_write_frame_from_other_threads_arrives_framed_and_in_order() {
    const WRITERS: usize = 4;
    const PER_WRITER: usize = 200;

    let (tx, handles) = mpsc::channel();
    let rec = Arc::new(Recorder::default());
    let codec = LengthFieldCodec::builder().max_frame_length(1024).build().unwrap();
    let engine = start(
        Engine::builder().event_loops(2).codec(codec),
        HandOut {
            handles: Mutex::new(tx),
            rec: rec.clone(),
        },
    );
    let mut s = connect(engine.local_addr());
    let peer = s.local_addr().unwrap();
    let handle = handles.recv_timeout(IO_TIMEOUT).expect("on_open handed out a handle");

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let h = handle.clone();
            thread::spawn(move || {
                for k in 0..PER_WRITER {
                    // Sizes 0..=1000 bytes; payload names its writer and index.
                    let mut p = format!("w{w}#{k}:").into_bytes();
                    p.resize(((w * 7919 + k * 104_729) % 1001).max(p.len()), b'a' + w as u8);
                    h.async_write_frame(Bytes::from(p)).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }

    let mut codec = LengthFieldCodec::new();
    let mut buf = BytesMut::new();
    let mut next = [0usize; WRITERS];
    for _ in 0..WRITERS * PER_WRITER {
        let f = recv_frame(&mut s, &mut codec, &mut buf, IO_TIMEOUT);
        let text = String::from_utf8(f.to_vec()).unwrap();
        let (head, rest) = text.split_once(':').expect("frame has a w#k: prefix");
        let (w, k) = head[1..].split_once('#').unwrap();
        let (w, k): (usize, usize) = (w.parse().unwrap(), k.parse().unwrap());
        assert_eq!(k, next[w], "frames of writer {w} out of order");
        next[w] += 1;
        let expected_len = ((w * 7919 + k * 104_729) % 1001).max(head.len() + 1);
        assert_eq!(f.len(), expected_len, "frame {w}#{k} length");
        assert!(rest.bytes().all(|b| b == b'a' + w as u8), "frame {w}#{k} padding");
    }
    assert_eq!(next, [PER_WRITER; WRITERS]);

    // A frame the codec cannot encode closes the connection with Codec, after
    // what was queued before it.
    handle.async_write_frame(Bytes::from_static(b"before")).unwrap();
    handle.async_write_frame(Bytes::from(vec![0u8; 2000])).unwrap();
    assert_eq!(&recv_frame(&mut s, &mut codec, &mut buf, IO_TIMEOUT)[..], b"before");
    expect_eof(&mut s, IO_TIMEOUT);
    assert_eq!(
        codec_close_message(&rec, peer),
        "cannot encode frame: frame of 2004 bytes exceeds the maximum of 1024 bytes"
    );
    wait_until(SETTLE, "the handle reports the connection closed", || {
        !handle.is_alive()
    });
    engine.stop();
}

/// Echoes each decoded line as a line.
#[derive(Default)]
struct LineEcho {
    rec: Arc<Recorder>,
}

impl EventHandler for LineEcho {
    fn on_frame(&self, conn: &mut Conn, line: Frame<'_>) -> Action {
        conn.write_frame(&line).map_or(Action::Close, |_| Action::Continue)
    }

    fn on_close(&self, conn: &mut Conn, reason: CloseReason) {
        self.rec.close(conn, reason);
    }
}

#[test]
fn line_codec_echoes_lines_however_the_stream_is_split() {
    let rec = Arc::new(Recorder::default());
    let engine = start(
        Engine::builder().event_loops(2).codec(LineCodec::new()),
        LineEcho { rec: rec.clone() },
    );
    let mut s = connect(engine.local_addr());
    let peer = s.local_addr().unwrap();

    // CRLF and LF endings, an empty line, a lone \r inside a line, a long line.
    let mut rng = Rng::new(5);
    let long: String = (0..20_000).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    let lines: Vec<String> = vec![
        "hello".into(),
        "".into(),
        "carriage\rinside".into(),
        long,
        "last one".into(),
    ];
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        wire.extend_from_slice(l.as_bytes());
        wire.extend_from_slice(if i % 2 == 0 { b"\r\n" } else { b"\n" });
        expected.extend_from_slice(l.as_bytes());
        expected.push(b'\n');
    }
    // Sent in random pieces, one byte to 4 KiB.
    let mut off = 0;
    while off < wire.len() {
        let n = rng.range(1, 4096).min(wire.len() - off);
        s.write_all(&wire[off..off + n]).unwrap();
        off += n;
    }
    let got = read_exact_within(&mut s, expected.len(), IO_TIMEOUT);
    assert_eq!(first_difference(&got, &expected), None, "echoed lines differ");

    // Decoding it back with the codec gives exactly the lines.
    let mut dec = LineCodec::new();
    let mut buf = BytesMut::from(&got[..]);
    for l in &lines {
        assert_eq!(&dec.decode(&mut buf).unwrap().unwrap()[..], l.as_bytes());
    }
    assert!(buf.is_empty());

    finish(s);
    assert!(matches!(
        rec.wait_close_of(peer, |r| format!("{r:?}")).as_str(),
        "PeerEof"
    ));
    engine.stop();
}

#[test]
fn over_long_line_closes_with_codec_reason_and_spares_the_other_clients() {
    let rec = Arc::new(Recorder::default());
    let engine = start(
        Engine::builder()
            .event_loops(1)
            .codec(LineCodec::new().with_max_length(16)),
        LineEcho { rec: rec.clone() },
    );
    let addr = engine.local_addr();
    let mut good = connect(addr);
    good.write_all(b"sixteen bytes ok\n").unwrap();
    assert_eq!(read_exact_within(&mut good, 17, IO_TIMEOUT), b"sixteen bytes ok\n");

    let mut bad = connect(addr);
    let bad_peer = bad.local_addr().unwrap();
    bad.write_all(b"this line is far longer than sixteen bytes").unwrap();
    expect_eof(&mut bad, IO_TIMEOUT);
    assert_eq!(
        codec_close_message(&rec, bad_peer),
        "line exceeds the maximum of 16 bytes"
    );

    good.write_all(b"still served\n").unwrap();
    assert_eq!(read_exact_within(&mut good, 13, IO_TIMEOUT), b"still served\n");
    assert_eq!(rec.closes(), 1);
    engine.stop();
}

/// Echoes every frame and keeps every third one with `Frame::into_bytes`.
#[derive(Default)]
struct KeepSome {
    kept: Arc<Mutex<Vec<Bytes>>>,
}

impl EventHandler for KeepSome {
    fn on_frame(&self, conn: &mut Conn, frame: Frame<'_>) -> Action {
        if conn.write_frame(&frame).is_err() {
            return Action::Close;
        }
        if frame.first().is_some_and(|b| b % 3 == 0) {
            lock(&self.kept).push(frame.into_bytes());
        }
        Action::Continue
    }
}

#[test]
fn frames_kept_with_into_bytes_stay_intact_and_the_stream_stays_aligned() {
    let kept = Arc::new(Mutex::new(Vec::new()));
    let engine = start(
        Engine::builder().event_loops(1).codec(LengthFieldCodec::new()),
        KeepSome { kept: kept.clone() },
    );
    let mut s = connect(engine.local_addr());
    // 3,000 frames of 1..=300 bytes whose bytes all equal their index mod 256,
    // in 64 KiB writes: many frames per read, some cut between reads.
    let mut codec = LengthFieldCodec::new();
    let mut wire = BytesMut::new();
    let payloads: Vec<Vec<u8>> = (0..3000usize).map(|i| vec![(i % 256) as u8; 1 + i % 300]).collect();
    for p in &payloads {
        codec.encode(&p[..], &mut wire).unwrap();
    }
    for chunk in wire.chunks(64 * 1024) {
        s.write_all(chunk).unwrap();
    }
    let got = read_exact_within(&mut s, wire.len(), IO_TIMEOUT);
    assert_eq!(first_difference(&got, &wire), None, "echoed frames differ");

    let expected: Vec<&Vec<u8>> = payloads.iter().filter(|p| p[0] % 3 == 0).collect();
    let kept = lock(&kept).clone();
    assert_eq!(kept.len(), expected.len(), "frames kept");
    for (i, (k, e)) in kept.iter().zip(&expected).enumerate() {
        assert!(k[..] == e[..], "kept frame {i} changed after the callback");
    }
    finish(s);
    engine.stop();
}

/// A decoder that only implements `decode` (no `decode_span`): one length
/// byte, then that many bytes.
#[derive(Clone, Default)]
struct ByteLength;

impl Decoder for ByteLength {
    type Item = Bytes;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Bytes>> {
        let Some(&n) = src.first() else { return Ok(None) };
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "zero-length frame"));
        }
        if src.len() < 1 + usize::from(n) {
            return Ok(None);
        }
        let mut frame = src.split_to(1 + usize::from(n));
        Ok(Some(frame.split_off(1).freeze()))
    }
}

impl Encoder<&[u8]> for ByteLength {
    type Error = io::Error;

    fn encode(&mut self, item: &[u8], dst: &mut BytesMut) -> io::Result<()> {
        let n = u8::try_from(item.len()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too long"))?;
        dst.extend_from_slice(&[n]);
        dst.extend_from_slice(item);
        Ok(())
    }
}

#[test]
fn a_user_decoder_without_spans_still_gets_every_frame_and_its_errors_close() {
    let rec = Arc::new(Recorder::default());
    let engine = start(
        Engine::builder().event_loops(1).codec(ByteLength),
        FrameEcho { rec: rec.clone() },
    );
    let mut s = connect(engine.local_addr());
    let peer = s.local_addr().unwrap();
    let mut wire = Vec::new();
    for i in 1..=200u8 {
        wire.push(i);
        wire.extend((0..i).map(|j| i ^ j));
    }
    s.write_all(&wire).unwrap();
    let got = read_exact_within(&mut s, wire.len(), IO_TIMEOUT);
    assert_eq!(first_difference(&got, &wire), None, "echoed frames differ");
    // A zero length byte is this decoder's error: only this connection closes.
    s.write_all(&[0]).unwrap();
    assert_eq!(codec_close_message(&rec, peer), "zero-length frame");
    engine.stop();
}

/// Echoes lines until the line "RAW", then echoes raw bytes upper-cased.
struct Upgrade;

impl EventHandler for Upgrade {
    fn on_frame(&self, conn: &mut Conn, line: Frame<'_>) -> Action {
        if &line[..] == b"RAW" {
            conn.end_decoding();
            // Frames can no longer be written once decoding has ended.
            assert!(conn.write_frame(b"x").is_err());
            return Action::Continue;
        }
        conn.write_frame(&line).map_or(Action::Close, |_| Action::Continue)
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        let upper = conn.take_inbound().to_ascii_uppercase();
        conn.write(&upper);
        Action::Continue
    }
}

#[test]
fn end_decoding_hands_the_rest_of_the_read_and_later_bytes_to_on_traffic() {
    let engine = start(Engine::builder().event_loops(1).codec(LineCodec::new()), Upgrade);
    let mut s = connect(engine.local_addr());
    // One write: two lines, the switch, then raw bytes with a newline inside
    // that must not be decoded as a line any more.
    s.write_all(b"one\ntwo\nRAW\nabc\ndef").unwrap();
    let want = b"one\ntwo\nABC\nDEF";
    let got = read_exact_within(&mut s, want.len(), IO_TIMEOUT);
    assert_eq!(
        first_difference(&got, want),
        None,
        "got {:?}",
        String::from_utf8_lossy(&got)
    );
    // Later reads go to on_traffic too.
    s.write_all(b"more\n").unwrap();
    let got = read_exact_within(&mut s, 5, IO_TIMEOUT);
    assert_eq!(&got[..], b"MORE\n");
    finish(s);
    engine.stop();
}

#[test]
fn end_decoding_mid_batch_stops_the_batch_at_that_frame() {
    let engine = start(Engine::builder().event_loops(1).codec(LengthFieldCodec::new()), Upgrade);
    let mut s = connect(engine.local_addr());
    let mut codec = LengthFieldCodec::new();
    let mut wire = BytesMut::new();
    for f in [&b"one"[..], b"two", b"RAW", b"abc"] {
        codec.encode(f, &mut wire).unwrap();
    }
    // The frame after "RAW" is raw bytes now: its header and body come back
    // upper-cased, not decoded.
    s.write_all(&wire).unwrap();
    let mut want = BytesMut::new();
    codec.encode(&b"one"[..], &mut want).unwrap();
    codec.encode(&b"two"[..], &mut want).unwrap();
    want.extend_from_slice(&b"\x00\x00\x00\x03ABC"[..]);
    let got = read_exact_within(&mut s, want.len(), IO_TIMEOUT);
    assert_eq!(first_difference(&got, &want), None, "got {got:?}");
    finish(s);
    engine.stop();
}
