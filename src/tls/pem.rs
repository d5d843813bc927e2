//! Configs from PEM files in one call (rustls-pki-types' PEM reader).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::error::{Error, Result};

/// A server config from a PEM certificate chain (end entity first) and a
/// PEM private key (PKCS#8, PKCS#1 or SEC1), with rustls's safe defaults
/// (TLS 1.3 and 1.2), no client authentication and no ALPN. Set
/// `alpn_protocols` (or anything else) on the result, then wrap it in an
/// `Arc` for [`EngineBuilder::tls`](crate::EngineBuilder::tls).
///
/// Any thread (it reads the files).
///
/// # Errors
/// [`Error::InvalidConfig`] naming the file for one that cannot be read,
/// holds no certificate or key, or a key that does not match.
///
/// # Examples
///
/// ```no_run
/// let mut config = netreactor::tls::server_config_from_pem("cert.pem", "key.pem")?;
/// config.alpn_protocols = vec![b"http/1.1".to_vec()];
/// # Ok::<(), netreactor::Error>(())
/// ```
pub fn server_config_from_pem(cert_chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<ServerConfig> {
    let chain = certificates(cert_chain.as_ref())?;
    let key_path = key.as_ref();
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| bad(key_path, e))?;
    ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| Error::InvalidConfig(format!("TLS certificate and key: {e}")))
}

/// A client config trusting the CA certificates in a PEM file (and only
/// them), with rustls's safe defaults and no client certificate, for
/// [`EngineHandle::dial_tls`](crate::EngineHandle::dial_tls).
///
/// Any thread (it reads the file).
///
/// # Errors
/// [`Error::InvalidConfig`] for a file that cannot be read or holds no
/// usable certificate.
pub fn client_config_from_pem(ca: impl AsRef<Path>) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    let path = ca.as_ref();
    for cert in certificates(path)? {
        roots.add(cert).map_err(|e| bad(path, e))?;
    }
    Ok(Arc::new(
        ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// Every certificate in a PEM file (at least one).
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(path, e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(path, e))?;
    if certs.is_empty() {
        return Err(Error::InvalidConfig(format!(
            "{}: no PEM certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}

fn bad(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::InvalidConfig(format!("{}: {e}", path.display()))
}
