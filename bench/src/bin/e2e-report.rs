//! Summarises loadgen's JSON lines (as collected by benches/e2e.sh) into a
//! Markdown table: per row (mode, size, conns, pipeline, rate) and server,
//! the median of every repetition with its min–max spread, and the ratio of
//! the base server's median to each peer's.
//!
//! Runs of one row are alternated (A B C D A B C D ...), so the i-th run of
//! the base server and the i-th run of a peer were taken next to each other.
//! The "paired" columns divide those pairwise (base_i / peer_i, for every i
//! both have, in order of appearance within the row) and show the median
//! (min–max) of the ratios: drift of the machine between alternations cancels
//! in a pair, so their spread is usually narrower than that of the two medians.
//! (A run that did not produce a line, say a server that failed to start,
//! shifts the later pairs of that server by one.)
//! They come after the older columns, so those keep their positions.
//!
//! Lines from conn-mem (`"kind":"conn-mem"`, benches/mem.sh) go into a
//! separate table of memory per connection.
//!
//! `e2e-report [--base LABEL] FILE...` (reads stdin without files).

use std::collections::BTreeMap;
use std::io::Read;

use netreactor_bench::results::{num, parse_flat, stat, text, Stat, Val};
use netreactor_bench::Flags;

const USAGE: &str = "e2e-report [--base LABEL] [--file results.jsonl]  (stdin without --file)";

fn fmt_rate(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

fn fmt_us(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// Like `fmt_us`, with one more digit below 1 µs (the user-space share per
/// message can be a few hundredths of a µs).
fn fmt_us_fine(x: f64) -> String {
    if x < 1.0 {
        format!("{x:.3}")
    } else {
        fmt_us(x)
    }
}

fn cell(s: Option<Stat>, f: fn(f64) -> String) -> String {
    match s {
        Some(s) => format!("{} ({}–{})", f(s.median), f(s.min), f(s.max)),
        None => "n/a".into(),
    }
}

fn ratio(base: Option<Stat>, peer: Option<Stat>, is_base: bool) -> String {
    if is_base {
        return "1".into();
    }
    match (base, peer) {
        (Some(b), Some(p)) if p.median > 0.0 => format!("{:.2}", b.median / p.median),
        _ => "n/a".into(),
    }
}

/// Median (min–max) of base_i / peer_i of field `k` over the runs both have,
/// paired in order of appearance ("1" for the base itself).
fn paired(base: Option<&Runs>, peer: &Runs, k: &str, is_base: bool) -> String {
    if is_base {
        return "1".into();
    }
    let Some(base) = base else {
        return "n/a".into();
    };
    let ratios: Vec<f64> = base
        .iter()
        .zip(peer)
        .filter_map(|(b, p)| match (num(b, k), num(p, k)) {
            (Some(b), Some(p)) if p > 0.0 => Some(b / p),
            _ => None,
        })
        .collect();
    cell(stat(ratios), |x| format!("{x:.2}"))
}

type Runs = Vec<BTreeMap<String, Val>>;

/// The conn-mem table: per connection count and server, medians (min–max)
/// of the RSS growth per connection, and base/peer ratios (below 1: the base
/// server uses less memory).
fn mem_table(mem: &[(String, Runs)], base: &str) {
    let get = |runs: &Runs, k: &str| stat(runs.iter().filter_map(|r| num(r, k)).collect());
    let fmt_b = |x: f64| format!("{x:.0}");
    println!(
        "| conns | server | runs | idle B/conn median (min–max) | base/peer idle | after one echo B/conn | \
         base/peer echo | idle RssAnon B/conn | after echo RssAnon B/conn | VmRSS KiB before → idle → echo (last run) |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for (key, runs) in mem {
        let conns = key.split('|').nth(1).unwrap_or("").trim().to_owned();
        let base_runs = mem
            .iter()
            .find(|(k, r)| {
                k.split('|').nth(1).unwrap_or("").trim() == conns && r.first().is_some_and(|r| text(r, "label") == base)
            })
            .map(|(_, r)| r);
        let is_base = runs.first().is_some_and(|r| text(r, "label") == base);
        let idle = get(runs, "idle_b_per_conn");
        let echo = get(runs, "echo_b_per_conn");
        let b_idle = base_runs.and_then(|r| get(r, "idle_b_per_conn"));
        let b_echo = base_runs.and_then(|r| get(r, "echo_b_per_conn"));
        let rss = runs
            .last()
            .map(|r| text(r, "vm_rss_kib").trim_matches(['[', ']']).replace(',', " → "))
            .unwrap_or_default();
        println!(
            "{key} {} | {} | {} | {} | {} | {} | {} | {rss} |",
            runs.len(),
            cell(idle, fmt_b),
            ratio(b_idle, idle, is_base),
            cell(echo, fmt_b),
            ratio(b_echo, echo, is_base),
            cell(get(runs, "idle_anon_b_per_conn"), fmt_b),
            cell(get(runs, "echo_anon_b_per_conn"), fmt_b),
        );
    }
}

fn main() {
    let flags = Flags::parse(USAGE, &[]);
    flags.only(&["base", "file"]);
    let base = flags.get("base").unwrap_or("nr").to_owned();
    let mut input = String::new();
    match flags.get("file") {
        Some(f) => input = std::fs::read_to_string(f).unwrap_or_else(|e| flags.fail(&format!("{f}: {e}"))),
        None => {
            let _ = std::io::stdin().read_to_string(&mut input);
        }
    }

    // (row key) -> (label) -> runs, both in order of first appearance.
    let mut rows: Vec<(String, Vec<(String, Runs)>)> = Vec::new();
    let mut bad = 0;
    let mut mem: Vec<(String, Runs)> = Vec::new();
    for line in input.lines().filter(|l| l.trim_start().starts_with('{')) {
        let Some(r) = parse_flat(line) else {
            bad += 1;
            continue;
        };
        if text(&r, "kind") == "conn-mem" {
            let key = format!("| {} | {} |", text(&r, "conns"), text(&r, "label"));
            match mem.iter().position(|(k, _)| *k == key) {
                Some(i) => mem[i].1.push(r),
                None => mem.push((key, vec![r])),
            }
            continue;
        }
        let rate = num(&r, "rate").unwrap_or(0.0);
        let key = format!(
            "| {} | {} | {} | {} | {} |",
            text(&r, "mode"),
            text(&r, "size"),
            text(&r, "conns"),
            if rate > 0.0 { "-".into() } else { text(&r, "pipeline") },
            if rate > 0.0 { fmt_rate(rate) } else { "closed".into() },
        );
        let label = text(&r, "label");
        let row = match rows.iter().position(|(k, _)| *k == key) {
            Some(i) => &mut rows[i].1,
            None => {
                rows.push((key, Vec::new()));
                &mut rows.last_mut().expect("just pushed").1
            }
        };
        match row.iter().position(|(l, _)| *l == label) {
            Some(i) => row[i].1.push(r),
            None => row.push((label, vec![r])),
        }
    }

    if !mem.is_empty() {
        mem_table(&mem, &base);
        if rows.is_empty() {
            if bad > 0 {
                eprintln!("e2e-report: {bad} unparsable line(s) skipped");
            }
            return;
        }
        println!();
    }

    let any_syscalls = rows.iter().any(|(_, ls)| {
        ls.iter()
            .any(|(_, runs)| runs.iter().any(|r| num(r, "server_syscalls_per_msg").is_some()))
    });
    let mut header = String::from(
        "| mode | size | conns | pipeline | rate | server | runs | msgs/s median (min–max) | \
         base/peer msgs/s | server CPU µs/msg | base/peer CPU | p99 µs | base/peer p99 | \
         client CPU µs/msg | server CPU util |",
    );
    let mut sep = String::from("|---|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    if any_syscalls {
        header.push_str(" server syscalls/msg | paired syscalls ratio |");
        sep.push_str("---:|---:|");
    }
    header.push_str(" errors |");
    sep.push_str("---:|");
    // Newer columns after the older ones: paired ratios, and the user-space
    // share from /proc/PID/stat when any run has it.
    let any_user = rows.iter().any(|(_, ls)| {
        ls.iter()
            .any(|(_, runs)| runs.iter().any(|r| num(r, "server_user_us_per_msg").is_some()))
    });
    header.push_str(" paired CPU ratio median (min–max) |");
    sep.push_str("---:|");
    if any_user {
        header.push_str(" server user µs/msg | base/peer user | paired user ratio median (min–max) |");
        sep.push_str("---:|---:|---:|");
    }
    println!("{header}\n{sep}");
    for (key, labels) in &rows {
        let get = |runs: &Runs, k: &str| stat(runs.iter().filter_map(|r| num(r, k)).collect());
        let base_runs = labels.iter().find(|(l, _)| *l == base).map(|(_, r)| r);
        let b_rate = base_runs.and_then(|r| get(r, "msgs_per_s"));
        let b_cpu = base_runs.and_then(|r| get(r, "server_cpu_us_per_msg"));
        let b_p99 = base_runs.and_then(|r| get(r, "p99_us"));
        let b_user = base_runs.and_then(|r| get(r, "server_user_us_per_msg"));
        for (label, runs) in labels {
            let is_base = *label == base;
            let rate = get(runs, "msgs_per_s");
            let cpu = get(runs, "server_cpu_us_per_msg");
            let p99 = get(runs, "p99_us");
            let errors: f64 = runs.iter().filter_map(|r| num(r, "errors")).sum();
            let mut line = format!(
                "{key} {label} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                runs.len(),
                cell(rate, fmt_rate),
                ratio(b_rate, rate, is_base),
                cell(cpu, fmt_us),
                ratio(b_cpu, cpu, is_base),
                cell(p99, fmt_us),
                ratio(b_p99, p99, is_base),
                cell(get(runs, "client_cpu_us_per_msg"), fmt_us),
                get(runs, "server_cpu_util").map_or("n/a".into(), |s| format!("{:.2}", s.median)),
            );
            if any_syscalls {
                let s = get(runs, "server_syscalls_per_msg");
                line.push_str(&format!(
                    " {} | {} |",
                    cell(s, |x| format!("{x:.3}")),
                    paired(base_runs, runs, "server_syscalls_per_msg", is_base)
                ));
            }
            line.push_str(&format!(" {errors:.0} |"));
            line.push_str(&format!(
                " {} |",
                paired(base_runs, runs, "server_cpu_us_per_msg", is_base)
            ));
            if any_user {
                let user = get(runs, "server_user_us_per_msg");
                line.push_str(&format!(
                    " {} | {} | {} |",
                    cell(user, fmt_us_fine),
                    ratio(b_user, user, is_base),
                    paired(base_runs, runs, "server_user_us_per_msg", is_base)
                ));
            }
            println!("{line}");
        }
    }
    if bad > 0 {
        eprintln!("e2e-report: {bad} unparsable line(s) skipped");
    }
}
