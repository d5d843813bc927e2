//! Steady-state echo, length-field echo, a relay and writes posted from
//! other threads allocate nothing on the loop thread: a counting global
//! allocator counts only allocations made while a thread-local flag is set,
//! and the handler sets it on the loop thread.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use netreactor::codec::LengthFieldCodec;
use netreactor::{Action, Conn, Engine, EventHandler, Frame};

#[global_allocator]
static GLOBAL: util::counting::Counting = util::counting::Counting;

struct Echo;

impl EventHandler for Echo {
    fn on_open(&self, _conn: &mut Conn) -> Action {
        util::counting::count_this_thread();
        Action::Continue
    }

    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }

    fn on_frame(&self, conn: &mut Conn, frame: Frame<'_>) -> Action {
        conn.write_frame(&frame).map_or(Action::Close, |_| Action::Continue)
    }
}

/// One measurement at a time: the counter is global.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `round` `warmup` times, then `rounds` times; returns the loop's
/// allocations during the measured rounds.
fn loop_allocations(
    builder: netreactor::EngineBuilder,
    warmup: usize,
    rounds: usize,
    mut round: impl FnMut(&mut TcpStream, usize),
) -> u64 {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let engine = builder.event_loops(1).start(Echo, "tcp://127.0.0.1:0").unwrap();
    let mut s = TcpStream::connect(engine.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    for i in 0..warmup {
        round(&mut s, i);
    }
    let before = util::counting::allocations();
    for i in 0..rounds {
        round(&mut s, warmup + i);
    }
    let used = util::counting::allocations() - before;
    drop(s);
    engine.stop();
    used
}

/// Ping-pongs `msg` `rounds` times; returns the loop's allocations during
/// the measured rounds (after `warmup` rounds).
fn allocations_per_round(builder: netreactor::EngineBuilder, msg: &[u8], warmup: usize, rounds: usize) -> u64 {
    let mut buf = vec![0u8; msg.len()];
    loop_allocations(builder, warmup, rounds, |s, _| {
        s.write_all(msg).unwrap();
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf[..], msg);
    })
}

#[test]
fn steady_state_echo_allocates_nothing_per_message() {
    let used = allocations_per_round(Engine::builder(), &[7u8; 64], 200, 5_000);
    assert_eq!(
        used, 0,
        "{used} allocations on the loop thread over 5000 echoed messages"
    );
}

#[test]
fn steady_state_large_echo_allocates_nothing_per_message() {
    let used = allocations_per_round(Engine::builder(), &[9u8; 16 * 1024], 200, 2_000);
    assert_eq!(
        used, 0,
        "{used} allocations on the loop thread over 2000 echoed 16 KiB messages"
    );
}

#[test]
fn steady_state_length_field_echo_allocates_nothing_per_frame() {
    let mut frame = vec![0u8, 0, 0, 60];
    frame.extend_from_slice(&[5u8; 60]);
    let used = allocations_per_round(Engine::builder().codec(LengthFieldCodec::new()), &frame, 200, 5_000);
    assert_eq!(used, 0, "{used} allocations on the loop thread over 5000 echoed frames");
}

#[test]
fn partial_frames_left_between_reads_allocate_nothing() {
    // Rounds alternate: a whole frame plus half of the next, then the other
    // half. The server's buffer holds a 32-byte partial frame after every
    // other read, and nothing after the rest.
    let mut frame = vec![0u8, 0, 0, 60];
    frame.extend_from_slice(&[3u8; 60]);
    let mut echo = vec![0u8; frame.len()];
    let used = loop_allocations(Engine::builder().codec(LengthFieldCodec::new()), 200, 5_000, |s, i| {
        if i % 2 == 0 {
            s.write_all(&[&frame[..], &frame[..32]].concat()).unwrap();
        } else {
            s.write_all(&frame[32..]).unwrap();
        }
        s.read_exact(&mut echo).unwrap();
        assert_eq!(echo, frame);
    });
    assert_eq!(
        used, 0,
        "{used} allocations on the loop thread over 5000 rounds with partial frames"
    );
}

/// Relays every connection to `upstream` (its loop thread counted).
struct Relay {
    upstream: String,
}

impl EventHandler for Relay {
    fn on_open(&self, conn: &mut Conn) -> Action {
        util::counting::count_this_thread();
        conn.relay_to(&self.upstream, Duration::from_secs(5))
            .map_or(Action::Close, |()| Action::Continue)
    }
}

/// An echo whose loop is not counted: the relay's upstream.
struct Uncounted;

impl EventHandler for Uncounted {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        conn.echo_all();
        Action::Continue
    }
}

#[test]
fn a_steady_relay_allocates_nothing_per_message() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let upstream = Engine::builder()
        .event_loops(1)
        .start(Uncounted, "tcp://127.0.0.1:0")
        .unwrap();
    let relay = Relay {
        upstream: format!("tcp://{}", upstream.local_addr()),
    };
    let engine = Engine::builder()
        .event_loops(1)
        .start(relay, "tcp://127.0.0.1:0")
        .unwrap();
    let mut s = TcpStream::connect(engine.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    let msg = [4u8; 64];
    let mut buf = [0u8; 64];
    let mut round = |s: &mut TcpStream| {
        s.write_all(&msg).unwrap();
        s.read_exact(&mut buf).unwrap();
        assert_eq!(buf, msg);
    };
    for _ in 0..200 {
        round(&mut s);
    }
    let before = util::counting::allocations();
    for _ in 0..5_000 {
        round(&mut s);
    }
    let used = util::counting::allocations() - before;
    drop(s);
    engine.stop();
    upstream.stop();
    assert_eq!(
        used, 0,
        "{used} allocations on the relay's loop over 5000 relayed messages"
    );
}

/// Keeps its connection's handle, for writes posted from another thread.
#[derive(Default)]
struct Posted {
    handle: std::sync::Mutex<Option<netreactor::ConnHandle>>,
}

impl EventHandler for Posted {
    fn on_open(&self, conn: &mut Conn) -> Action {
        util::counting::count_this_thread();
        *self.handle.lock().unwrap() = Some(conn.handle());
        Action::Continue
    }
}

#[test]
fn writes_posted_from_another_thread_allocate_nothing_on_the_loop() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let posted = std::sync::Arc::new(Posted::default());
    let engine = Engine::builder()
        .event_loops(1)
        .start(std::sync::Arc::clone(&posted), "tcp://127.0.0.1:0")
        .unwrap();
    let mut s = TcpStream::connect(engine.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    util::wait_until(util::SETTLE, "the connection opens", || {
        posted.handle.lock().unwrap().is_some()
    });
    let handle = posted.handle.lock().unwrap().clone().unwrap();
    let mut buf = [0u8; 64];
    let mut round = |s: &mut TcpStream| {
        handle.async_write(bytes::Bytes::from_static(&[6u8; 64])).unwrap();
        s.read_exact(&mut buf).unwrap();
        assert_eq!(buf, [6u8; 64]);
    };
    for _ in 0..200 {
        round(&mut s);
    }
    let before = util::counting::allocations();
    for _ in 0..5_000 {
        round(&mut s);
    }
    let used = util::counting::allocations() - before;
    drop(s);
    engine.stop();
    assert_eq!(used, 0, "{used} allocations on the loop over 5000 posted writes");
}
