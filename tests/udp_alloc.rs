//! The UDP batch path allocates nothing per datagram once warm: bursts of
//! datagrams (batches of several, runs of replies to one sender sent as one
//! GSO message, replies large enough to be queued as `Bytes`, replies of
//! three pieces sent with a gather list) echoed with a
//! counting global allocator that counts only the loop thread.

mod util;

use std::time::Duration;

use netreactor::options::OUTBOUND_COPY_THRESHOLD_BYTES;
use netreactor::{Action, Conn, Engine, EventHandler};
use util::*;

#[global_allocator]
static GLOBAL: util::counting::Counting = util::counting::Counting;

/// Echoes each datagram; with a `MARK`, twice and then the mark: a reply
/// of three pieces (two queued `Bytes` and the tail written after them),
/// more than a batched send takes, so it goes out with a gather list.
struct Echo<const MARK: u8>;

impl<const MARK: u8> EventHandler for Echo<MARK> {
    fn on_traffic(&self, conn: &mut Conn) -> Action {
        util::counting::count_this_thread();
        if MARK == 0 {
            conn.echo_all();
        } else {
            let data = conn.take_inbound();
            conn.write_bytes(data.clone());
            conn.write_bytes(data);
            conn.write(&[MARK]);
        }
        Action::Continue
    }
}

/// Echoes bursts of `burst` datagrams of `size` bytes from two senders;
/// returns the loop's allocations over the measured rounds.
fn allocations_per_burst(size: usize, burst: usize, warmup: usize, rounds: usize) -> u64 {
    allocations_per_burst_with::<0>(size, burst, warmup, rounds)
}

fn allocations_per_burst_with<const MARK: u8>(size: usize, burst: usize, warmup: usize, rounds: usize) -> u64 {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let engine = Engine::builder()
        .event_loops(1)
        .start(Echo::<MARK>, "udp://127.0.0.1:0")
        .unwrap();
    let server = udp_addr(&engine);
    let clients = [udp_client(), udp_client()];
    for s in &clients {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    let msg = vec![0x42u8; size];
    let mut reply = msg.clone();
    if MARK != 0 {
        reply.extend_from_slice(&msg);
        reply.push(MARK);
    }
    let round = || {
        for i in 0..burst {
            clients[i % 2].send_to(&msg, server).unwrap();
        }
        for i in 0..burst {
            assert_eq!(recv_datagram(&clients[i % 2], server), reply);
        }
    };
    for _ in 0..warmup {
        round();
    }
    let before = util::counting::allocations();
    for _ in 0..rounds {
        round();
    }
    let used = util::counting::allocations() - before;
    engine.stop();
    used
}

#[test]
fn steady_state_udp_echo_allocates_nothing_per_datagram() {
    let used = allocations_per_burst(64, 16, 100, 1_000);
    assert_eq!(used, 0, "{used} allocations on the loop thread over 16,000 datagrams");
}

#[test]
fn steady_state_udp_echo_of_bytes_queued_replies_allocates_nothing_per_datagram() {
    // Replies from the copy threshold up are queued as `Bytes` split off
    // the datagram's buffer.
    let used = allocations_per_burst(2 * OUTBOUND_COPY_THRESHOLD_BYTES, 16, 100, 1_000);
    assert_eq!(used, 0, "{used} allocations on the loop thread over 16,000 datagrams");
}

#[test]
fn a_reply_of_three_pieces_allocates_nothing_alone_or_in_bursts() {
    for burst in [1, 16] {
        let used = allocations_per_burst_with::<b'!'>(2 * OUTBOUND_COPY_THRESHOLD_BYTES, burst, 100, 500);
        assert_eq!(used, 0, "{used} allocations on the loop thread, bursts of {burst}");
    }
}
