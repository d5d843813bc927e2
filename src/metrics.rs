//! The engine's counters in the Prometheus text exposition format (version
//! 0.0.4), for a `/metrics` route the user serves: no HTTP server here.
//!
//! Every per-loop counter is one series per loop (label `loop="i"`), so
//! PromQL's `sum without (loop)` gives the engine's total and a skewed loop
//! stays visible; the few engine-wide values (`rejected`, the bytes held in
//! partial messages) have no `loop` label. Counters only grow for the life of
//! the engine (a restarted process starts again from 0, which Prometheus'
//! `rate` treats as a reset).

use std::fmt::Write;

use crate::handle::{EngineHandle, ListenerStats};
use crate::stats::Stats;

/// The `Content-Type` of what [`render`] writes, for the HTTP reply.
///
/// # Examples
///
/// ```
/// assert_eq!(netreactor::metrics::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
/// ```
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A per-loop series: name, type, help, and how to read it from a loop's
/// [`Stats`].
type Family = (&'static str, &'static str, &'static str, Read);

/// Reads one value from a loop's [`Stats`].
type Read = fn(&Stats) -> u64;

/// A per-listener family: name, type, help, how to read it.
type ListenerFamily = (&'static str, &'static str, &'static str, fn(&ListenerStats) -> u64);

const PER_LOOP: &[Family] = &[
    ("netreactor_connections_open", "gauge", "Connections open now.", |s| {
        s.open
    }),
    (
        "netreactor_connections_accepted_total",
        "counter",
        "Connections accepted and registered.",
        |s| s.accepted,
    ),
    (
        "netreactor_connections_dialed_total",
        "counter",
        "Outbound connections started (connected or not).",
        |s| s.dialed,
    ),
    (
        "netreactor_received_bytes_total",
        "counter",
        "Bytes read from sockets.",
        |s| s.bytes_in,
    ),
    (
        "netreactor_sent_bytes_total",
        "counter",
        "Bytes accepted by the kernel for sending.",
        |s| s.bytes_out,
    ),
    (
        "netreactor_frames_decoded_total",
        "counter",
        "Frames decoded by the codec.",
        |s| s.frames_in,
    ),
    (
        "netreactor_datagrams_received_total",
        "counter",
        "UDP datagrams received and handed to the handler.",
        |s| s.datagrams_in,
    ),
    (
        "netreactor_datagrams_sent_total",
        "counter",
        "UDP datagrams sent.",
        |s| s.datagrams_out,
    ),
    (
        "netreactor_datagrams_truncated_total",
        "counter",
        "UDP datagrams dropped because they did not fit the read buffer.",
        |s| s.datagrams_truncated,
    ),
    (
        "netreactor_datagrams_dropped_total",
        "counter",
        "UDP datagrams the kernel refused to send.",
        |s| s.datagrams_dropped,
    ),
    (
        "netreactor_loop_wakeups_total",
        "counter",
        "Times the event loop was woken through its eventfd.",
        |s| s.wakeups,
    ),
    (
        "netreactor_loop_tasks_total",
        "counter",
        "Tasks run by the event loop (registrations, writes and wakes from other threads).",
        |s| s.tasks_run,
    ),
];

/// The `reason` label of `netreactor_connections_closed_total`.
const CLOSE_REASONS: &[(&str, Read)] = &[
    ("peer_eof", |s| s.closed_peer_eof),
    ("peer_reset", |s| s.closed_peer_reset),
    ("io_error", |s| s.closed_io_error),
    ("local", |s| s.closed_local),
    ("shutdown", |s| s.closed_shutdown),
    ("handler_panic", |s| s.closed_handler_panic),
    ("overflow", |s| s.closed_overflow),
    ("timeout", |s| s.closed_timeout),
    ("codec_error", |s| s.closed_codec_error),
    ("tls_handshake", |s| s.closed_tls_handshake),
    ("tls_error", |s| s.closed_tls_error),
];

/// Appends the engine's counters to `out` in the Prometheus text format
/// (serve it with [`CONTENT_TYPE`]): a `# HELP` and a `# TYPE` line per
/// family, then its samples.
///
/// Any thread; it reads the counters without locks, as
/// [`EngineHandle::loop_stats`] does. One engine per exposition: the
/// families of two engines rendered into the same text would repeat.
///
/// | family | type | labels |
/// |---|---|---|
/// | `netreactor_connections_open` | gauge | `loop` |
/// | `netreactor_connections_accepted_total` | counter | `loop` |
/// | `netreactor_connections_dialed_total` | counter | `loop` |
/// | `netreactor_connections_closed_total` | counter | `loop`, `reason` |
/// | `netreactor_connections_rejected_total` | counter | none (engine-wide) |
/// | `netreactor_received_bytes_total`, `netreactor_sent_bytes_total` | counter | `loop` |
/// | `netreactor_frames_decoded_total` | counter | `loop` |
/// | `netreactor_datagrams_{received,sent,truncated,dropped}_total` | counter | `loop` |
/// | `netreactor_loop_wakeups_total`, `netreactor_loop_tasks_total` | counter | `loop` |
/// | `netreactor_partial_inbound_bytes` | gauge | none (engine-wide) |
/// | `netreactor_event_loops` | gauge | none |
/// | `netreactor_draining` | gauge | none (1 while draining) |
/// | `netreactor_listener_connections_accepted_total` | counter | `listener`, `address` |
/// | `netreactor_listener_connections_open` | gauge | `listener`, `address` |
///
/// `reason` is one of `peer_eof`, `peer_reset`, `io_error`, `local`,
/// `shutdown`, `handler_panic`, `overflow`, `timeout`, `codec_error`,
/// `tls_handshake`, `tls_error`
/// (the `closed_*` fields of [`Stats`]).
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// use std::io::{Read, Write};
/// use netreactor::{Action, Conn, Engine, EventHandler};
///
/// struct Echo;
/// impl EventHandler for Echo {
///     fn on_traffic(&self, conn: &mut Conn) -> Action {
///         conn.echo_all();
///         Action::Continue
///     }
/// }
///
/// let engine = Engine::builder().event_loops(2).start(Echo, "tcp://127.0.0.1:0")?;
/// let mut client = std::net::TcpStream::connect(engine.local_addr())?;
/// # client.set_read_timeout(Some(Duration::from_secs(10)))?;
/// client.write_all(b"hello")?;
/// client.read_exact(&mut [0; 5])?;
///
/// let mut text = String::new();
/// netreactor::metrics::render(&engine, &mut text);
/// assert!(text.contains("# TYPE netreactor_received_bytes_total counter\n"));
/// assert!(text.contains("netreactor_received_bytes_total{loop=\"0\"} 5\n")); // loop 0 served it
/// assert!(text.contains("netreactor_received_bytes_total{loop=\"1\"} 0\n"));
/// assert!(text.contains("netreactor_connections_closed_total{loop=\"0\",reason=\"peer_eof\"} 0\n"));
/// assert!(text.contains("netreactor_event_loops 2\n"));
/// assert!(text.contains("netreactor_draining 0\n"));
/// let listener = format!("listener=\"0\",address=\"{}\"", engine.local_addrs()[0]);
/// assert!(text.contains(&format!("netreactor_listener_connections_accepted_total{{{listener}}} 1\n")));
/// engine.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn render(engine: &EngineHandle, out: &mut String) {
    let loops = engine.loop_stats();
    let total = engine.stats();
    write_metrics(&loops, &total, &engine.listener_stats(), out);
}

/// The exposition of `loops` (one [`Stats`] per loop, in loop order), the
/// engine-wide values of `total`, and each listener's counters.
fn write_metrics(loops: &[Stats], total: &Stats, listeners: &[ListenerStats], out: &mut String) {
    let header = |out: &mut String, name: &str, kind: &str, help: &str| {
        // The help texts are ours: no backslash or newline to escape.
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
    };
    for (name, kind, help, read) in PER_LOOP {
        header(out, name, kind, help);
        for (i, s) in loops.iter().enumerate() {
            let _ = writeln!(out, "{name}{{loop=\"{i}\"}} {}", read(s));
        }
    }
    let name = "netreactor_connections_closed_total";
    header(out, name, "counter", "Connections closed, by reason.");
    for (i, s) in loops.iter().enumerate() {
        for (reason, read) in CLOSE_REASONS {
            let _ = writeln!(out, "{name}{{loop=\"{i}\",reason=\"{reason}\"}} {}", read(s));
        }
    }
    let engine_wide: [(&str, &str, &str, u64); 4] = [
        (
            "netreactor_connections_rejected_total",
            "counter",
            "Connections refused because max_connections was reached.",
            total.rejected,
        ),
        (
            "netreactor_partial_inbound_bytes",
            "gauge",
            "Bytes held now in partial inbound messages, engine-wide (what inbound_budget caps).",
            total.partial_inbound_bytes,
        ),
        (
            "netreactor_event_loops",
            "gauge",
            "Event-loop threads of the engine.",
            loops.len() as u64,
        ),
        (
            "netreactor_draining",
            "gauge",
            "1 while the engine drains (stops accepting, finishes its connections), else 0.",
            u64::from(total.draining),
        ),
    ];
    for (name, kind, help, value) in engine_wide {
        header(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
    let per_listener: [ListenerFamily; 2] = [
        (
            "netreactor_listener_connections_accepted_total",
            "counter",
            "Connections accepted on each listening address.",
            |l| l.accepted,
        ),
        (
            "netreactor_listener_connections_open",
            "gauge",
            "Connections open now from each listening address.",
            |l| l.open,
        ),
    ];
    for (name, kind, help, read) in per_listener {
        header(out, name, kind, help);
        for (i, l) in listeners.iter().enumerate() {
            let address = label_value(&l.address.to_string());
            let _ = writeln!(out, "{name}{{listener=\"{i}\",address=\"{address}\"}} {}", read(l));
        }
    }
}

/// A label value as the text format writes it: backslash, double quote
/// and newline escaped (a Unix socket path may hold any of them).
fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every family has a HELP and a TYPE line once, and every sample line
    /// belongs to the family announced last (what the format requires).
    #[test]
    fn each_family_is_announced_once_and_its_samples_follow_it() {
        let loops = vec![Stats::default(), Stats::default(), Stats::default()];
        let mut text = String::new();
        let listeners = vec![ListenerStats {
            address: crate::addr::Address::parse("unix:///tmp/a \"b\"\\c").unwrap(),
            accepted: 3,
            open: 1,
        }];
        write_metrics(&loops, &Stats::default(), &listeners, &mut text);
        let mut seen = std::collections::HashSet::new();
        let mut current = "";
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                current = rest.split(' ').next().unwrap();
                assert!(seen.insert(current.to_string()), "{current} announced twice");
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert_eq!(name, current, "{line}");
            }
        }
        assert_eq!(seen.len(), PER_LOOP.len() + 1 + 4 + 2);
        // A path's quote and backslash are escaped in the label.
        assert!(
            text.contains(
                "netreactor_listener_connections_open{listener=\"0\",address=\"unix:///tmp/a \\\"b\\\"\\\\c\"} 1\n"
            ),
            "{text}"
        );
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("netreactor_connections_closed_total{"))
                .count(),
            3 * CLOSE_REASONS.len()
        );
    }
}
