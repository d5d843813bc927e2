//! The examples' TLS flags: `--tls-cert FILE --tls-key FILE` (PEM) serve
//! TLS on `--addr` (make a throwaway CA and certificate with
//! `examples/tls-certs.sh`).

use std::sync::Arc;

use clap::Command;
use netreactor::tls::rustls::ServerConfig;

/// Adds `--tls-cert` and `--tls-key` (each requires the other).
pub(crate) fn flags(command: Command) -> Command {
    command
        .arg(
            super::flag(
                "tls-cert",
                "FILE",
                "Serve TLS on --addr with this PEM certificate chain (with --tls-key)",
            )
            .requires("tls-key"),
        )
        .arg(super::flag("tls-key", "FILE", "The PEM private key of --tls-cert").requires("tls-cert"))
}

/// The server config the flags ask for, offering `alpn`, and the address to
/// serve it on (`--addr` with a `tls://` scheme); `None` without the flags.
pub(crate) fn server(args: &super::Args, alpn: &[&[u8]]) -> netreactor::Result<Option<(Arc<ServerConfig>, String)>> {
    let (Some(cert), Some(key)) = (args.get::<String>("tls-cert"), args.get::<String>("tls-key")) else {
        return Ok(None);
    };
    let mut config = netreactor::tls::server_config_from_pem(cert, key)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Some((Arc::new(config), tls_address(&args.addr))))
}

/// `tcp://host:port` (or a bare `host:port`) as `tls://host:port`.
pub(crate) fn tls_address(addr: &str) -> String {
    let host_port = addr.split_once("://").map_or(addr, |(_, rest)| rest);
    format!("tls://{host_port}")
}
