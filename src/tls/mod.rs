//! TLS on the loop (feature `tls`): each connection's rustls state is
//! driven by the loop that owns it, between the socket and the handler.
//! Ciphertext is read into the loop's buffer and handed to rustls's
//! unbuffered API; plaintext reaches the handler through the usual `Conn`
//! API; what the handler writes is encrypted into the outbound queue just
//! before each flush (one record per flush of up to 16 KiB, not one per
//! write).
//!
//! - [`server_config_from_pem`] / [`client_config_from_pem`]: configs from
//!   PEM files in one call.
//! - `tls://host:port` listeners with
//!   [`EngineBuilder::tls`](crate::EngineBuilder::tls), reloaded with
//!   [`EngineHandle::reload_tls`](crate::EngineHandle::reload_tls).
//! - [`EngineHandle::dial_tls`](crate::EngineHandle::dial_tls): the client side.
//! - [`Conn::tls`](crate::Conn::tls): what was negotiated ([`TlsInfo`]).

mod info;
mod pem;
mod record;
mod servers;
mod session;

pub use self::info::TlsInfo;
pub use self::pem::{client_config_from_pem, server_config_from_pem};
pub(crate) use self::servers::with_secret_extraction;
pub(crate) use self::servers::ServerConfigs;
pub(crate) use self::session::{lend_plain, return_plain, Absorbed, ClientStart, TlsConn};

/// rustls, as this crate uses it (its configs are what the API takes).
pub use rustls;

/// The default deadline for a TLS handshake, from accept (or connect) to
/// its last message.
pub const DEFAULT_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The default cap on bytes a peer may send before its handshake finishes
/// (a ClientHello with a long certificate chain fits many times over).
pub const DEFAULT_MAX_HANDSHAKE_BYTES: usize = 64 * 1024;
