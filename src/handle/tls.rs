//! The handle's TLS calls: dialing a TLS server, reloading a listener's
//! certificate.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};

use super::{DialOptions, EngineHandle};
use crate::error::{Error, Result};
use crate::tls::{with_secret_extraction, ClientStart};

impl DialOptions {
    /// Speak TLS on the dialed connection, as a client with `config`,
    /// verifying the server as `server_name` (a DNS name, sent as SNI, or an
    /// IP address). `on_open` fires once the handshake has finished;
    /// a failed handshake ends in `on_close` with `CloseReason::Tls`.
    ///
    /// Any thread.
    ///
    /// # Errors
    /// [`Error::InvalidAddress`] for a name that is neither a DNS name nor
    /// an IP address.
    pub fn tls(mut self, config: Arc<ClientConfig>, server_name: &str) -> Result<Self> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| Error::InvalidAddress(format!("TLS server name {server_name:?}: {e}")))?;
        let config = with_secret_extraction(config);
        self.tls = Some(ClientStart { config, name });
        Ok(self)
    }
}

impl EngineHandle {
    /// Dials `addr` and runs a TLS handshake on it as a client (feature
    /// `tls`): `dial` with [`DialOptions::tls`]. `timeout` bounds the TCP
    /// connect; the handshake has its own deadline
    /// ([`EngineBuilder::tls_handshake_timeout`](crate::EngineBuilder::tls_handshake_timeout)).
    /// `on_open` fires once the handshake has finished; whatever the handler
    /// writes is encrypted.
    ///
    /// Any thread.
    ///
    /// # Errors
    /// As [`dial_with`](EngineHandle::dial_with), and
    /// [`Error::InvalidAddress`] for a bad server name.
    pub fn dial_tls(&self, addr: &str, config: Arc<ClientConfig>, server_name: &str, timeout: Duration) -> Result<()> {
        self.dial_with(addr, timeout, DialOptions::new().tls(config, server_name)?)
    }

    /// Replaces the server config of TLS listener `listener` (an index into
    /// [`local_addrs`](EngineHandle::local_addrs)): connections accepted
    /// from now on use `config` (a renewed certificate, say); those already
    /// open keep theirs.
    ///
    /// Any thread.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `listener` is not a `tls://` listener.
    pub fn reload_tls(&self, listener: usize, config: Arc<ServerConfig>) -> Result<()> {
        if self.shared.tls_servers.replace(listener, config) {
            Ok(())
        } else {
            Err(Error::InvalidConfig(format!(
                "listener {listener} is not a tls:// listener"
            )))
        }
    }
}
