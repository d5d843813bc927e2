//! Server commands: COMMAND, CONFIG GET, INFO, DBSIZE, FLUSHALL, FLUSHDB,
//! SWAPDB, TIME.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use super::super::exec::{Args, Ctx};
use super::super::glob;
use super::super::keyspace::DATABASES;
use super::super::reply::Reply;
use super::super::stats::HOLD_SAMPLE_EVERY;
use super::super::table::{self, Spec, COMMANDS};
use super::connection::{help, REDIS_VERSION};
use super::int32_arg;

/// COMMAND's entry for one command: name, arity, flags, key positions,
/// ACL categories, tips (none), key specs (none given), subcommands.
fn command_entry(spec: &Spec, out: &mut Reply<'_>) {
    out.array(10);
    out.bulk(spec.name.as_bytes());
    out.int(i64::from(spec.arity));
    out.set(spec.flags.len());
    for f in spec.flags {
        out.status(f.as_bytes());
    }
    out.int(i64::from(spec.keys.0));
    out.int(i64::from(spec.keys.1));
    out.int(i64::from(spec.keys.2));
    out.set(spec.acl.len());
    for a in spec.acl {
        out.status(a.as_bytes());
    }
    out.set(0);
    out.array(0);
    out.array(spec.subcommands.len());
    for s in spec.subcommands {
        command_entry(s, out);
    }
}

pub(crate) fn command(_ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    if args.len() == 1 {
        out.array(COMMANDS.len());
        for spec in COMMANDS {
            command_entry(spec, out);
        }
    } else {
        // Subcommands are resolved by the dispatcher; reaching here with
        // arguments means an unknown one, which it already answered.
        out.syntax_error();
    }
}

pub(crate) fn command_count(_ctx: &mut Ctx<'_>, _args: &Args<'_>, out: &mut Reply<'_>) {
    out.int(COMMANDS.len() as i64);
}

pub(crate) fn command_info(_ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    if args.len() == 2 {
        out.array(COMMANDS.len());
        for spec in COMMANDS {
            command_entry(spec, out);
        }
        return;
    }
    out.array(args.len() - 2);
    for name in args.from(2) {
        match table::lookup(name) {
            Some(spec) => command_entry(spec, out),
            None => out.null(),
        }
    }
}

pub(crate) fn command_list(_ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    if args.len() > 2 {
        // FILTERBY is not implemented.
        return out.syntax_error();
    }
    let names: Vec<&str> = COMMANDS
        .iter()
        .flat_map(|s| std::iter::once(s.name).chain(s.subcommands.iter().map(|c| c.name)))
        .collect();
    out.array(names.len());
    for n in names {
        out.bulk(n.as_bytes());
    }
}

/// One command's docs: summary, since, group, complexity (and its
/// subcommands'). Arguments are not described.
fn docs_entry(spec: &Spec, out: &mut Reply<'_>) {
    let has_subs = !spec.subcommands.is_empty();
    out.map(4 + usize::from(has_subs));
    for (k, v) in [
        ("summary", spec.summary),
        ("since", spec.since),
        ("group", spec.group),
        ("complexity", spec.complexity),
    ] {
        out.bulk(k.as_bytes());
        out.bulk(v.as_bytes());
    }
    if has_subs {
        out.bulk(b"subcommands");
        out.map(spec.subcommands.len());
        for s in spec.subcommands {
            out.bulk(s.name.as_bytes());
            docs_entry(s, out);
        }
    }
}

pub(crate) fn command_docs(_ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let specs: Vec<&Spec> = if args.len() == 2 {
        COMMANDS.iter().collect()
    } else {
        args.from(2).filter_map(table::lookup).collect()
    };
    out.map(specs.len());
    for spec in specs {
        out.bulk(spec.name.as_bytes());
        docs_entry(spec, out);
    }
}

pub(crate) fn command_help(_ctx: &mut Ctx<'_>, _args: &Args<'_>, out: &mut Reply<'_>) {
    help(
        out,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
        ],
    );
}

/// The parameters CONFIG GET knows, with their values.
fn config_table(ctx: &Ctx<'_>) -> Vec<(&'static str, String)> {
    let c = &ctx.server.config;
    let addr = ctx.server.engine.get().map(|e| e.local_addr());
    vec![
        ("save", String::new()),
        ("appendonly", "no".into()),
        ("databases", DATABASES.to_string()),
        ("port", addr.map_or(c.port, |a| a.port()).to_string()),
        ("bind", addr.map_or_else(String::new, |a| a.ip().to_string())),
        ("proto-max-bulk-len", c.limits.max_bulk_len.to_string()),
        ("client-query-buffer-limit", c.query_buffer_limit.to_string()),
        ("maxmemory", "0".into()),
        ("maxmemory-policy", "noeviction".into()),
        ("timeout", "0".into()),
        ("hz", (1000 / c.sweep_interval.as_millis().max(1)).to_string()),
        ("io-threads", "1".into()),
        ("client-output-buffer-limit", output_limits(c)),
    ]
}

/// `client-output-buffer-limit` as Redis prints it: a normal client is
/// closed past the engine's outbound limit (hard only), there are no
/// replicas (Redis's default shown), pub/sub clients as configured.
fn output_limits(c: &super::super::Config) -> String {
    let p = &c.pubsub_output_limit;
    format!(
        "normal {} 0 0 slave 268435456 67108864 60 pubsub {} {} {}",
        c.output_limit,
        p.hard_bytes,
        p.soft_bytes,
        p.soft_duration.as_secs()
    )
}

/// CONFIG GET parameter [parameter ...]: each a glob; unknown ones match
/// nothing (an empty reply, as Redis gives).
pub(crate) fn config_get(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let matched: Vec<(&str, String)> = config_table(ctx)
        .into_iter()
        .filter(|(name, _)| args.from(2).any(|p| glob::matches(p, name.as_bytes(), true)))
        .collect();
    out.map(matched.len());
    for (name, value) in matched {
        out.bulk(name.as_bytes());
        out.bulk(value.as_bytes());
    }
}

pub(crate) fn config_help(_ctx: &mut Ctx<'_>, _args: &Args<'_>, out: &mut Reply<'_>) {
    help(
        out,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
        ],
    );
}

pub(crate) fn dbsize(ctx: &mut Ctx<'_>, _args: &Args<'_>, out: &mut Reply<'_>) {
    let mut n = 0;
    ctx.db.each_shard(0, |_, shard| {
        n += shard.len();
        true
    });
    out.int(n as i64);
}

/// FLUSHALL's and FLUSHDB's argument check: none, ASYNC or SYNC (both
/// free at once here).
fn flush_args_ok(args: &Args<'_>, out: &mut Reply<'_>) -> bool {
    match args.len() {
        1 => true,
        2 if args.get(1).eq_ignore_ascii_case(b"ASYNC") || args.get(1).eq_ignore_ascii_case(b"SYNC") => true,
        _ => {
            out.syntax_error();
            false
        }
    }
}

/// FLUSHALL: every database, at one instant (it holds every shard).
pub(crate) fn flushall(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    if !flush_args_ok(args, out) {
        return;
    }
    for db in 0..DATABASES {
        ctx.db.each_shard_of(db, 0, |_, shard| {
            shard.clear();
            true
        });
    }
    out.ok();
}

/// FLUSHDB: the selected database only.
pub(crate) fn flushdb(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    if !flush_args_ok(args, out) {
        return;
    }
    ctx.db.each_shard(0, |_, shard| {
        shard.clear();
        true
    });
    out.ok();
}

/// SWAPDB index1 index2: the two databases trade contents (clients keep
/// their selected index, so they see the other data). Holds every shard
/// of both.
pub(crate) fn swapdb(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let Some(a) = int32_arg(args.get(1), out, Some("ERR invalid first DB index")) else {
        return;
    };
    let Some(b) = int32_arg(args.get(2), out, Some("ERR invalid second DB index")) else {
        return;
    };
    let (Ok(a), Ok(b)) = (usize::try_from(a), usize::try_from(b)) else {
        return out.error(b"ERR DB index is out of range");
    };
    if a >= DATABASES || b >= DATABASES {
        return out.error(b"ERR DB index is out of range");
    }
    if a != b {
        ctx.db.each_shard_pair(a, b, |x, y| x.swap_data(y));
    }
    out.ok();
}

pub(crate) fn time(_ctx: &mut Ctx<'_>, _args: &Args<'_>, out: &mut Reply<'_>) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    out.array(2);
    out.bulk(now.as_secs().to_string().as_bytes());
    out.bulk(now.subsec_micros().to_string().as_bytes());
}

/// INFO's sections, in order; `locks` only when asked for (or all).
const SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "keyspace",
    "locks",
];

pub(crate) fn info(ctx: &mut Ctx<'_>, args: &Args<'_>, out: &mut Reply<'_>) {
    let asked: Vec<String> = args
        .from(1)
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let everything = asked.iter().any(|a| a == "all" || a == "everything");
    let default = asked.is_empty() || asked.iter().any(|a| a == "default");
    let mut text = String::new();
    for &section in SECTIONS {
        let wanted = everything || asked.iter().any(|a| a == section) || (default && section != "locks");
        if !wanted {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        info_section(ctx, section, &mut text);
    }
    out.verbatim(text.as_bytes());
}

fn info_section(ctx: &mut Ctx<'_>, section: &str, t: &mut String) {
    let server = ctx.server;
    let mut title = section.to_owned();
    title[..1].make_ascii_uppercase();
    let _ = write!(t, "# {title}\r\n");
    let mut line = |k: &str, v: &dyn std::fmt::Display| {
        let _ = write!(t, "{k}:{v}\r\n");
    };
    match section {
        "server" => {
            let uptime = server.started.elapsed().as_secs();
            let port = server
                .engine
                .get()
                .map_or(server.config.port, |e| e.local_addr().port());
            line("redis_version", &REDIS_VERSION);
            line("redis_mode", &"standalone");
            line("os", &std::env::consts::OS);
            line("arch_bits", &(usize::BITS));
            line("multiplexing_api", &"epoll");
            line("server_name", &"netreactor-redis-example");
            line("process_id", &std::process::id());
            line("run_id", &server.run_id);
            line("tcp_port", &port);
            line("uptime_in_seconds", &uptime);
            line("uptime_in_days", &(uptime / 86400));
            line("hz", &(1000 / server.config.sweep_interval.as_millis().max(1)));
            line("event_loops", &server.engine.get().map_or(0, |e| e.loop_stats().len()));
        }
        "clients" => {
            line("connected_clients", &server.clients.len());
            line("maxclients", &0);
            line("blocked_clients", &server.blocked_clients.load(Ordering::Relaxed));
        }
        "memory" => {
            let rss = resident_bytes();
            line("used_memory", &rss);
            line("used_memory_human", &human(rss));
            line("used_memory_rss", &rss);
            line("used_memory_rss_human", &human(rss));
            line("maxmemory", &0);
            line("maxmemory_human", &"0B");
            line("maxmemory_policy", &"noeviction");
            line("mem_allocator", &"libc");
        }
        "persistence" => {
            line("loading", &0);
            line("async_loading", &0);
            line("rdb_bgsave_in_progress", &0);
            line("aof_enabled", &0);
        }
        "stats" => {
            let totals = server.totals();
            let engine = server.engine.get().map(|e| e.stats()).unwrap_or_default();
            line(
                "total_connections_received",
                &server.connections_received.load(Ordering::Relaxed),
            );
            line("total_commands_processed", &totals.commands);
            line("total_net_input_bytes", &engine.bytes_in);
            line("total_net_output_bytes", &engine.bytes_out);
            line("rejected_connections", &engine.rejected);
            line("expired_keys", &totals.expired_keys);
            line("evicted_keys", &0);
            line("keyspace_hits", &totals.hits);
            line("keyspace_misses", &totals.misses);
            let (channels, patterns) = server.pubsub.sizes();
            line("pubsub_channels", &channels);
            line("pubsub_patterns", &patterns);
            line("total_error_replies", &totals.error_replies);
        }
        "replication" => {
            line("role", &"master");
            line("connected_slaves", &0);
        }
        "cpu" => {
            let (user, sys) = cpu_seconds();
            line("used_cpu_sys", &format!("{sys:.6}"));
            line("used_cpu_user", &format!("{user:.6}"));
        }
        "keyspace" => {
            for db in 0..DATABASES {
                let (mut keys, mut expires) = (0, 0);
                ctx.db.each_shard_of(db, 0, |_, shard| {
                    keys += shard.len();
                    expires += shard.volatile();
                    true
                });
                if keys > 0 {
                    line(&format!("db{db}"), &format!("keys={keys},expires={expires},avg_ttl=0"));
                }
            }
        }
        "locks" => {
            let s = server.totals();
            line("shards", &super::super::keyspace::SHARDS);
            line("lock_acquisitions", &s.lock_acquired);
            line("lock_contended", &s.lock_contended);
            line("lock_wait_ns_total", &s.lock_wait_ns);
            line("lock_hold_sample_every", &HOLD_SAMPLE_EVERY);
            line("lock_hold_samples", &s.hold_samples);
            line(
                "lock_hold_mean_ns",
                &(s.hold_total_ns.checked_div(s.hold_samples).unwrap_or(0)),
            );
            line("lock_hold_p50_ns_under", &s.hold_quantile_ns(0.5));
            line("lock_hold_p99_ns_under", &s.hold_quantile_ns(0.99));
            line("lock_hold_p999_ns_under", &s.hold_quantile_ns(0.999));
            line("lock_hold_max_ns", &s.hold_max_ns);
        }
        _ => unreachable!("listed in SECTIONS"),
    }
}

/// The process's resident set (INFO's used_memory: this example has no
/// allocator of its own to count with).
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// User and system CPU seconds of the process (/proc/self/stat, in the
/// kernel's 100 Hz ticks).
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    (tick(11), tick(12))
}

fn human(bytes: u64) -> String {
    let units = ["B", "K", "M", "G", "T"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.2}{}", units[u])
    }
}
