//! Renders the echo "growth with connections" chart from loadgen's JSON lines
//! (the `results.jsonl` files benches/e2e.sh writes) as an SVG with two
//! panels: messages/s against connections, and p99 latency against
//! connections (both x axes logarithmic, p99 too). One line per server
//! through the medians of its repetitions, min–max as error bars (the
//! servers' points are spread a few percent along x so that the bars stay
//! visible).
//!
//! `e2e-chart [--out docs/img/echo-vs-connections.svg] [--mode echo]
//!  [--pipeline 1] [--size 64] [--title TEXT] results.jsonl...`
//!
//! Only closed-loop rows of the given mode, pipeline depth and size are
//! drawn; a server needs at least one point. Lines from conn-mem are
//! ignored.

use std::collections::BTreeMap;

use netreactor_bench::results::{num, parse_flat, stat, text, Stat};
use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;

const USAGE: &str = "\
e2e-chart: messages/s and p99 against connections, as SVG

  e2e-chart [flags] results.jsonl...
  --out FILE        SVG to write (docs/img/echo-vs-connections.svg)
  --mode M          rows of this mode (echo)
  --pipeline K      rows with this pipeline depth (1)
  --size BYTES      rows with this payload size (64)
  --title TEXT      caption above both panels";

/// One server's series: connections -> (msgs/s, p99 µs) of every run.
type Series = BTreeMap<u64, (Vec<f64>, Vec<f64>)>;

/// Colours per server name, fixed so that every chart reads the same.
fn colour(label: &str, i: usize) -> RGBColor {
    match label {
        "nr" | "nr-lf" => RGBColor(0xd6, 0x27, 0x28),
        "epoll" => RGBColor(0x33, 0x33, 0x33),
        "tokio-mt" => RGBColor(0x1f, 0x77, 0xb4),
        "tokio-ct" => RGBColor(0x2c, 0xa0, 0x2c),
        "tokio-lf" => RGBColor(0x94, 0x67, 0xbd),
        _ => [
            RGBColor(0xff, 0x7f, 0x0e),
            RGBColor(0x8c, 0x56, 0x4b),
            RGBColor(0xe3, 0x77, 0xc2),
            RGBColor(0x17, 0xbe, 0xcf),
        ][i % 4],
    }
}

fn si(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn micros(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1} s", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0} ms", v / 1e3)
    } else {
        format!("{v:.0} µs")
    }
}

/// Spreads the servers' points a little along the (log) x axis so that their
/// error bars do not hide each other: server `i` of `n` is drawn at
/// connections × 1.04^(i - (n-1)/2).
fn dodge(x: f64, i: usize, n: usize) -> f64 {
    x * 1.04f64.powf(i as f64 - (n as f64 - 1.0) / 2.0)
}

/// (connections, median, min, max) per point.
fn points(series: &Series, which: usize) -> Vec<(f64, Stat)> {
    series
        .iter()
        .filter_map(|(&c, (rate, p99))| {
            let v = if which == 0 { rate } else { p99 };
            stat(v.clone()).map(|s| (c as f64, s))
        })
        .collect()
}

fn main() {
    let mut files = Vec::new();
    let mut out = String::from("docs/img/echo-vs-connections.svg");
    let (mut mode, mut pipeline, mut size) = ("echo".to_owned(), 1u64, 64u64);
    let mut title = None;
    let mut args = std::env::args().skip(1);
    let fail = |m: &str| -> ! {
        eprintln!("error: {m}\n\n{USAGE}");
        std::process::exit(2)
    };
    while let Some(a) = args.next() {
        let mut val = |name: &str| args.next().unwrap_or_else(|| fail(&format!("{name} needs a value")));
        match a.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            "--out" => out = val("--out"),
            "--mode" => mode = val("--mode"),
            "--pipeline" => pipeline = val("--pipeline").parse().unwrap_or_else(|_| fail("bad --pipeline")),
            "--size" => size = val("--size").parse().unwrap_or_else(|_| fail("bad --size")),
            "--title" => title = Some(val("--title")),
            f if f.starts_with("--") => fail(&format!("unknown flag {f}")),
            f => files.push(f.to_owned()),
        }
    }
    if files.is_empty() {
        fail("no results.jsonl given");
    }

    // label -> series, labels in order of first appearance.
    let mut servers: Vec<(String, Series)> = Vec::new();
    let mut used = 0;
    for f in &files {
        let input = std::fs::read_to_string(f).unwrap_or_else(|e| fail(&format!("{f}: {e}")));
        for line in input.lines().filter(|l| l.trim_start().starts_with('{')) {
            let Some(r) = parse_flat(line) else { continue };
            if text(&r, "kind") == "conn-mem"
                || text(&r, "mode") != mode
                || num(&r, "rate").unwrap_or(0.0) > 0.0
                || num(&r, "pipeline") != Some(pipeline as f64)
                || num(&r, "size") != Some(size as f64)
            {
                continue;
            }
            let (Some(conns), Some(rate)) = (num(&r, "conns"), num(&r, "msgs_per_s")) else {
                continue;
            };
            let label = text(&r, "label");
            let i = match servers.iter().position(|(l, _)| *l == label) {
                Some(i) => i,
                None => {
                    servers.push((label, Series::new()));
                    servers.len() - 1
                }
            };
            let e = servers[i].1.entry(conns as u64).or_default();
            e.0.push(rate);
            if let Some(p99) = num(&r, "p99_us") {
                e.1.push(p99);
            }
            used += 1;
        }
    }
    if used == 0 {
        fail(&format!(
            "no closed-loop {mode} rows with pipeline {pipeline} and size {size} in the input"
        ));
    }
    if let Err(e) = draw(&out, &servers, title.as_deref(), &mode, pipeline, size) {
        eprintln!("e2e-chart: {out}: {e}");
        std::process::exit(1);
    }
    eprintln!("e2e-chart: {used} runs, {} servers -> {out}", servers.len());
}

fn draw(
    out: &str,
    servers: &[(String, Series)],
    title: Option<&str>,
    mode: &str,
    pipeline: u64,
    size: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(dir) = std::path::Path::new(out).parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let rates: Vec<(f64, Stat)> = servers.iter().flat_map(|(_, s)| points(s, 0)).collect();
    let p99s: Vec<(f64, Stat)> = servers.iter().flat_map(|(_, s)| points(s, 1)).collect();
    let xmin = rates.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let xmax = rates.iter().map(|p| p.0).fold(0.0, f64::max);
    let (xmin, xmax) = if xmax > xmin {
        (xmin / 1.3, xmax * 1.3)
    } else {
        (xmin / 2.0, xmin * 2.0)
    };
    let rmax = rates.iter().map(|p| p.1.max).fold(1.0, f64::max) * 1.1;
    let pmin = p99s
        .iter()
        .map(|p| p.1.min)
        .fold(f64::INFINITY, f64::min)
        .clamp(1.0, 1e9)
        / 1.5;
    let pmax = p99s.iter().map(|p| p.1.max).fold(10.0, f64::max) * 1.5;

    let root = SVGBackend::new(out, (1200, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let default_title = format!("{mode}, {size}-byte messages, {pipeline} in flight per connection (median, min–max)");
    let root = root.titled(title.unwrap_or(&default_title), ("sans-serif", 20))?;
    let (left, right) = root.split_horizontally(600);

    for (panel, area) in [(0usize, &left), (1, &right)] {
        let mut b = ChartBuilder::on(area);
        b.margin(16).x_label_area_size(44).y_label_area_size(70);
        let caption = if panel == 0 {
            "messages/s vs connections"
        } else {
            "p99 latency vs connections"
        };
        b.caption(caption, ("sans-serif", 16));
        // The two panels have different y types (linear, log), hence the
        // generic `draw_panel`.
        if panel == 0 {
            let chart = b.build_cartesian_2d((xmin..xmax).log_scale(), 0.0..rmax)?;
            draw_panel(chart, servers, 0, "messages/s", si, SeriesLabelPosition::UpperRight)?;
        } else {
            let chart = b.build_cartesian_2d((xmin..xmax).log_scale(), (pmin..pmax).log_scale())?;
            draw_panel(
                chart,
                servers,
                1,
                "p99 latency (log)",
                micros,
                SeriesLabelPosition::UpperLeft,
            )?;
        }
    }
    root.present()?;
    Ok(())
}

/// One panel: per server a line through the medians of metric `which` (0:
/// msgs/s, 1: p99), dots, min–max error bars, and the legend.
fn draw_panel<'a, Y>(
    mut chart: ChartContext<'a, SVGBackend<'a>, Cartesian2d<LogCoord<f64>, Y>>,
    servers: &[(String, Series)],
    which: usize,
    y_desc: &str,
    y_fmt: fn(f64) -> String,
    legend: SeriesLabelPosition,
) -> Result<(), Box<dyn std::error::Error>>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc("connections (log)")
        .y_desc(y_desc)
        .x_label_formatter(&|v| si(*v))
        .y_label_formatter(&|v| y_fmt(*v))
        .draw()?;
    for (i, (label, s)) in servers.iter().enumerate() {
        let c = colour(label, i);
        let pts: Vec<_> = points(s, which)
            .into_iter()
            .map(|(x, st)| (dodge(x, i, servers.len()), st))
            .collect();
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|(x, st)| (*x, st.median)),
                c.stroke_width(2),
            ))?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart.draw_series(pts.iter().map(|(x, st)| Circle::new((*x, st.median), 3, c.filled())))?;
        chart.draw_series(
            pts.iter()
                .map(|(x, st)| ErrorBar::new_vertical(*x, st.min, st.median, st.max, c.stroke_width(1), 8)),
        )?;
    }
    chart
        .configure_series_labels()
        .position(legend)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
