//! A worker: examples/http's server on `SO_REUSEPORT` listeners of its own;
//! says `ready` on stdout once it serves, drains on SIGTERM.

use super::common::lifecycle::Lifecycle;
use super::common::Args;
use super::server;

/// What a worker prints on stdout once it serves.
pub(crate) const READY: &str = "ready";

pub(crate) fn run(args: &Args) -> netreactor::Result<()> {
    let lifecycle = Lifecycle::new(args)?;
    let config = server::Config::default();
    let builder = server::engine_builder(&config).event_loops(args.loops).reuse_port(true);
    let engine = lifecycle
        .configure(builder)
        .start(server::HttpServer::new(config), lifecycle.addrs())?;
    println!("{READY}");
    eprintln!(
        "supervisor: worker {} serves {:?} with {} loops",
        std::process::id(),
        engine.local_addrs(),
        args.loops
    );
    lifecycle.serve(&engine)
}
