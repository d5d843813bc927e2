//! Memory after an attack: buffers that grew for huge partial frames are
//! released when their connections go, and the loops give the freed memory
//! back to the system once idle, so RSS returns near its baseline instead of
//! staying at the flood's peak (issue 17, item 10). One test in this file:
//! the process's RSS is what it measures.

mod util;

use std::io::Write;
use std::time::{Duration, Instant};

use netreactor::codec::LengthFieldCodec;
use netreactor::{Action, Conn, EventHandler, Frame};
use util::*;

const MIB: usize = 1024 * 1024;

struct FrameEcho;

impl EventHandler for FrameEcho {
    fn on_frame(&self, conn: &mut Conn, frame: Frame<'_>) -> Action {
        conn.write_frame(&frame).into()
    }
}

#[test]
fn rss_returns_to_baseline_after_a_flood_of_stalled_huge_frames() {
    let engine = start(
        netreactor::Engine::builder()
            .event_loops(2)
            .codec(LengthFieldCodec::builder().max_frame_length(16 * MIB).build().unwrap())
            .max_inbound_buffer(16 * MIB)
            .inbound_budget(192 * MIB),
        FrameEcho,
    );
    // Warm up: one small echo, so the baseline includes the loops' buffers.
    let mut warm = connect(engine.local_addr());
    warm.write_all(b"\0\0\0\x02hi").unwrap();
    assert_eq!(read_exact_within(&mut warm, 6, IO_TIMEOUT), b"\0\0\0\x02hi");
    let baseline = vm_rss_kib();

    // The flood: 40 clients each announce a 12 MiB frame and send 6 MiB of
    // it, then stall (the budget sheds some; the rest hold their buffers).
    let payload = vec![b'x'; 6 * MIB];
    let mut clients = Vec::new();
    for _ in 0..40 {
        let mut s = connect(engine.local_addr());
        s.write_all(&(12 * MIB as u32).to_be_bytes()).unwrap();
        let _ = s.write_all(&payload); // a shed client may be reset mid-write
        clients.push(s);
    }
    wait_until_steady(
        Duration::from_secs(30),
        Duration::from_millis(300),
        "the flood settles",
        || engine.stats().partial_inbound_bytes,
    );
    let peak = vm_rss_kib();
    let held = engine.stats().partial_inbound_bytes as usize / 1024;
    drop(payload);
    drop(clients);
    wait_until(SETTLE, "every stalled connection is closed", || {
        engine.connection_count() == 1
    });

    // What the engine keeps by design once idle: per loop, its read buffer
    // and its pool of small tail buffers (at most 1 MiB).
    let kept_by_design = 2 * (64 + 1024);
    let target = baseline + baseline / 10 + kept_by_design;
    let started = Instant::now();
    let mut after = vm_rss_kib();
    let what = format!("RSS back under {target} KiB (baseline {baseline} KiB, peak {peak} KiB)");
    wait_until(Duration::from_secs(10), &what, || {
        after = vm_rss_kib();
        after <= target
    });
    eprintln!(
        "RSS: baseline {baseline} KiB, peak {peak} KiB ({held} KiB held in partial frames), \
         after {after} KiB ({:?} after the clients left); target {target} KiB",
        started.elapsed()
    );
    assert!(
        peak > baseline + 100 * 1024,
        "the flood did not take memory: {peak} KiB"
    );
}
