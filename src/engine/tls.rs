//! The builder's TLS settings: the server config of `tls://` listeners and
//! the handshake's limits.

#[cfg(feature = "tls")]
use std::sync::Arc;
#[cfg(feature = "tls")]
use std::time::Duration;

use super::EngineBuilder;
use crate::addr::Address;
use crate::error::{Error, Result};

#[cfg(feature = "tls")]
impl EngineBuilder {
    /// The server config every `tls://` listener uses (feature `tls`): its
    /// certificate, its ALPN protocols, whether it asks for client
    /// certificates (mTLS: a `ServerConfig` built with a client
    /// certificate verifier). One engine may listen on `tcp://` and
    /// `tls://` addresses at once. Load one from PEM files with
    /// [`tls::server_config_from_pem`](crate::tls::server_config_from_pem);
    /// replace it while running with
    /// [`EngineHandle::reload_tls`](crate::EngineHandle::reload_tls).
    ///
    /// Any thread (before start).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use netreactor::{Action, Conn, Engine, EventHandler};
    ///
    /// struct Echo;
    /// impl EventHandler for Echo {
    ///     fn on_traffic(&self, conn: &mut Conn) -> Action {
    ///         conn.echo_all(); // plaintext in, encrypted out
    ///         Action::Continue
    ///     }
    /// }
    ///
    /// let config = netreactor::tls::server_config_from_pem("cert.pem", "key.pem")?;
    /// Engine::builder()
    ///     .tls(Arc::new(config))
    ///     .run(Echo, ["tcp://127.0.0.1:9000", "tls://127.0.0.1:9443"].as_slice())?;
    /// # Ok::<(), netreactor::Error>(())
    /// ```
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.cfg.tls_server = Some(config);
        self
    }

    /// How long a TLS handshake may take, from accept (or connect) to its
    /// last message (default [`tls::DEFAULT_HANDSHAKE_TIMEOUT`](crate::tls::DEFAULT_HANDSHAKE_TIMEOUT),
    /// 10 s; `Duration::MAX`: no deadline). A peer that has not finished
    /// by then is closed with `CloseReason::Tls(TlsFailure::HandshakeTimeout)`,
    /// unseen by the handler.
    ///
    /// Any thread (before start).
    pub fn tls_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.cfg.tls_handshake_timeout = timeout;
        self
    }

    /// The most bytes a peer may send before its handshake finishes
    /// (default [`tls::DEFAULT_MAX_HANDSHAKE_BYTES`](crate::tls::DEFAULT_MAX_HANDSHAKE_BYTES),
    /// 64 KiB); more closes it with `TlsFailure::HandshakeTooLarge`.
    ///
    /// Any thread (before start).
    pub fn tls_max_handshake_bytes(mut self, bytes: usize) -> Self {
        self.cfg.tls_max_handshake_bytes = bytes;
        self
    }

    /// The config of each listener (`None`: a plain one).
    pub(super) fn tls_servers(&self, addrs: &[Address]) -> Result<Vec<Option<Arc<rustls::ServerConfig>>>> {
        addrs
            .iter()
            .map(|a| match (a, &self.cfg.tls_server) {
                (Address::Tls(_), Some(config)) => Ok(Some(config.clone())),
                (Address::Tls(_), None) => Err(Error::InvalidConfig(format!(
                    "{a} needs a TLS server config: EngineBuilder::tls"
                ))),
                _ => Ok(None),
            })
            .collect()
    }
}

#[cfg(not(feature = "tls"))]
impl EngineBuilder {
    /// Without the `tls` feature a `tls://` address is refused.
    pub(super) fn tls_servers(&self, addrs: &[Address]) -> Result<()> {
        match addrs.iter().find(|a| matches!(a, Address::Tls(_))) {
            Some(a) => Err(Error::InvalidConfig(format!(
                "{a}: netreactor was built without its `tls` feature"
            ))),
            None => Ok(()),
        }
    }
}
