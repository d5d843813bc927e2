//! K worker processes on one port under a supervisor:
//! `cargo run --release --example supervisor -- --workers 4` serves
//! examples/http's routes on http://127.0.0.1:8080 from four processes.
//!
//! The supervisor starts each worker as a new copy of itself (`--worker`),
//! each with its own `SO_REUSEPORT` listeners and loops, so the kernel
//! spreads connections over them. It restarts a worker that dies, turns
//! SIGTERM (and Ctrl-C) into a drain of every worker, and on SIGUSR2
//! upgrades the workers one at a time: a new worker (the binary now at the
//! path the supervisor was started from) starts and serves on the port,
//! then the old one drains and exits. Flags: `--addr`, `--loops N` (per
//! worker), `--workers K` (default 2), `--pid-file PATH` (the
//! supervisor's), `--drain-timeout SECS` (default 10).
//!
//! When a worker closes its listener, the connections waiting in that
//! listener's accept queue are reset unless `net.ipv4.tcp_migrate_req` is
//! 1 (Linux 5.14+), which moves them to another worker's listener:
//! docs/deployment.md shows what that costs clients either way.

#[path = "../common/mod.rs"]
mod common;

#[path = "../http/chunked.rs"]
mod chunked;
#[path = "../http/date.rs"]
mod date;
#[path = "../http/request.rs"]
mod request;
#[path = "../http/response.rs"]
mod response;
#[path = "../http/routes.rs"]
mod routes;
#[path = "../http/server.rs"]
mod server;
#[path = "../http/words.rs"]
mod words;

mod worker;
mod workers;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = common::Args::parse(
        common::lifecycle::flags(common::command(
            "supervisor",
            "K worker processes serving HTTP on one port (SO_REUSEPORT), restarted when they die, \
             upgraded one at a time on SIGUSR2.",
            "tcp://127.0.0.1:8080",
        ))
        .arg(
            common::number("workers", "K", "Worker processes [default: 2]").value_parser(|v: &str| {
                match v.parse::<usize>() {
                    Ok(0) => Err("at least one worker is needed".to_owned()),
                    Ok(n) => Ok(n),
                    Err(e) => Err(e.to_string()),
                }
            }),
        )
        .arg(
            clap::Arg::new("worker")
                .long("worker")
                .action(clap::ArgAction::SetTrue)
                .hide(true),
        ),
    );
    if args.get::<bool>("worker") == Some(true) {
        return Ok(worker::run(&args)?);
    }
    workers::supervise(&args)
}
