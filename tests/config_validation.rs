//! Builder values out of range fail `start` with `Error::InvalidConfig`
//! naming the option, instead of panicking or aborting the process
//! (regression: `read_buffer_size(usize::MAX)` panicked in `start`,
//! `read_buffer_size(1 << 40)` aborted on the allocation).

mod util;

use netreactor::options::{MAX_EVENT_LOOPS, MAX_READ_BUFFER_BYTES, MIN_READ_BUFFER_BYTES};
use netreactor::{Engine, EngineBuilder, Error, EventHandler, MaxConnectionsPolicy};

struct Nothing;
impl EventHandler for Nothing {}

fn refused(builder: EngineBuilder, option: &str) {
    match builder.start(Nothing, "tcp://127.0.0.1:0") {
        Err(Error::InvalidConfig(msg)) => assert!(msg.contains(option), "{option}: message {msg:?}"),
        Err(other) => panic!("{option}: expected InvalidConfig, got {other}"),
        Ok(engine) => {
            engine.stop();
            panic!("{option}: an out-of-range value was accepted");
        }
    }
}

fn accepted(builder: EngineBuilder) {
    let engine = builder.start(Nothing, "tcp://127.0.0.1:0").expect("an in-range value");
    std::net::TcpStream::connect(engine.local_addr()).expect("the engine serves");
    engine.stop();
}

#[test]
fn huge_read_buffer_sizes_fail_start_instead_of_crashing() {
    for bytes in [usize::MAX, 1 << 40, MAX_READ_BUFFER_BYTES + 1] {
        refused(
            Engine::builder().event_loops(1).read_buffer_size(bytes),
            "read_buffer_size",
        );
    }
    for bytes in [0, 1, MIN_READ_BUFFER_BYTES - 1] {
        refused(
            Engine::builder().event_loops(1).read_buffer_size(bytes),
            "read_buffer_size",
        );
    }
    accepted(Engine::builder().event_loops(1).read_buffer_size(MIN_READ_BUFFER_BYTES));
}

#[test]
fn event_loop_counts_out_of_range_fail_start() {
    for n in [0, MAX_EVENT_LOOPS + 1, usize::MAX] {
        refused(Engine::builder().event_loops(n), "event_loops");
    }
    accepted(Engine::builder().event_loops(1));
}

#[test]
fn zero_limits_and_crossed_watermarks_fail_start() {
    refused(
        Engine::builder().event_loops(1).max_inbound_buffer(0),
        "max_inbound_buffer",
    );
    refused(
        Engine::builder().event_loops(1).max_outbound_buffer(0),
        "max_outbound_buffer",
    );
    refused(
        Engine::builder().event_loops(1).write_watermarks(10, 5),
        "write_watermarks",
    );
    refused(
        Engine::builder().event_loops(1).write_watermarks(0, 0),
        "write_watermarks",
    );
    refused(
        Engine::builder()
            .event_loops(1)
            .max_connections(0, MaxConnectionsPolicy::Reject),
        "max_connections",
    );
    // The extremes that make sense are taken as they are.
    accepted(
        Engine::builder()
            .event_loops(1)
            .max_inbound_buffer(usize::MAX)
            .max_outbound_buffer(usize::MAX)
            .write_watermarks(usize::MAX, usize::MAX)
            .max_connections(usize::MAX, MaxConnectionsPolicy::Pause),
    );
}

#[test]
fn a_refused_start_leaves_the_port_free() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let err = Engine::builder()
        .event_loops(1)
        .read_buffer_size(usize::MAX)
        .start(Nothing, &format!("tcp://{addr}"))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig(_)));
    let engine = Engine::builder()
        .event_loops(1)
        .start(Nothing, &format!("tcp://{addr}"))
        .expect("the port is free after a refused start");
    engine.stop();
}
