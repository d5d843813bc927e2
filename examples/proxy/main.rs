//! A TCP proxy: `cargo run --release --example proxy -- --upstream tcp://127.0.0.1:9000`
//! listens on tcp://127.0.0.1:8000 and relays every connection to the
//! upstream (start `cargo run --release --example echo` first, then
//! `nc 127.0.0.1 8000`). Flags: `--addr`, `--loops`, `--upstream`;
//! `--tls-cert FILE --tls-key FILE` terminate TLS on `--addr` (PEM);
//! `--upstream tls://host:port --upstream-ca FILE [--upstream-name NAME]`
//! speaks TLS to the upstream, verified against that CA as NAME (default:
//! the upstream's host). Both at once re-encrypt.
//! Each inbound connection dials the upstream on its own loop; bytes are
//! relayed both ways without copying, a slow side pauses reading on the
//! other (memory stays bounded), and either side closing closes the other
//! after it has flushed.

#[path = "../common/mod.rs"]
mod common;
mod relay;

use netreactor::RelayOptions;

fn main() -> netreactor::Result<()> {
    let args = common::Args::parse(
        common::tls::flags(common::command(
            "proxy",
            "Relays every connection to the upstream, both ways.",
            "tcp://127.0.0.1:8000",
        ))
        .arg(
            common::flag(
                "upstream",
                "ADDR",
                "Where to relay each connection: tcp://host:port, or tls://host:port to speak TLS to it (with --upstream-ca); a host name is resolved once, at start",
            )
            .default_value("tcp://127.0.0.1:9000")
            // Checked and resolved before serving: the loops dial it and
            // must not block on a name lookup.
            .value_parser(Upstream::parse),
        )
        .arg(
            common::flag(
                "upstream-ca",
                "FILE",
                "PEM CA certificates that a tls:// upstream's certificate must verify against",
            ),
        )
        .arg(
            common::flag(
                "upstream-name",
                "NAME",
                "The name a tls:// upstream's certificate must carry, sent as SNI [default: the host of --upstream]",
            )
            .requires("upstream-ca"),
        ),
    );
    let upstream: Upstream = args.get("upstream").expect("defaulted");
    let ca = args.get::<String>("upstream-ca");
    let options = match (upstream.tls, ca) {
        (true, Some(ca)) => {
            let name = args.get::<String>("upstream-name").unwrap_or(upstream.host);
            RelayOptions::new().tls(netreactor::tls::client_config_from_pem(ca)?, &name)?
        }
        (false, None) => RelayOptions::new(),
        (true, None) => usage("--upstream tls://… needs --upstream-ca FILE (the CA to verify the upstream against)"),
        (false, Some(_)) => usage("--upstream-ca is for a tls:// upstream (--upstream tls://host:port)"),
    };
    let mut builder = relay::engine_builder().event_loops(args.loops).handle_signals(true);
    let mut addr = args.addr.clone();
    if let Some((config, tls_addr)) = common::tls::server(&args, &[])? {
        builder = builder.tls(config);
        addr = tls_addr;
    }
    eprintln!("proxy: relaying {addr} to {}", upstream.addr);
    builder.run(relay::Relay::with_options(&upstream.addr, options), &addr)
}

/// `--upstream`: the resolved address, whether it speaks TLS, and the host
/// as given (the default name to verify it as).
#[derive(Clone, Debug)]
struct Upstream {
    addr: String,
    tls: bool,
    host: String,
}

impl Upstream {
    fn parse(v: &str) -> Result<Upstream, String> {
        let resolved = netreactor::Address::parse(v).map_err(|e| e.to_string())?;
        let tls = match resolved {
            netreactor::Address::Tcp(_) => false,
            netreactor::Address::Tls(_) => true,
            other => return Err(format!("{other}: the upstream is tcp://host:port or tls://host:port")),
        };
        let host_port = v.split_once("://").map_or(v, |(_, rest)| rest);
        let host = host_port.rsplit_once(':').map_or(host_port, |(host, _)| host);
        Ok(Upstream {
            addr: resolved.to_string(),
            tls,
            host: host.trim_start_matches('[').trim_end_matches(']').to_owned(),
        })
    }
}

/// A flag combination clap cannot check: the message, exit status 2 (as
/// for any bad flag).
fn usage(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2)
}
