//! What a TLS handshake negotiated, as the handler reads it.

use rustls::pki_types::CertificateDer;
use rustls::{CipherSuite, ProtocolVersion};

/// What a connection's TLS handshake negotiated: read with
/// [`Conn::tls`](crate::Conn::tls) (`None` on a plain connection).
/// Captured once when the handshake completes, so reading it costs
/// nothing.
///
/// Loop thread (it lives in the `Conn`); a plain value.
///
/// # Examples
///
/// ```
/// use netreactor::{Action, Conn, EventHandler};
///
/// struct Who;
/// impl EventHandler for Who {
///     fn on_open(&self, conn: &mut Conn) -> Action {
///         if let Some(tls) = conn.tls() {
///             let alpn = tls.alpn().map(String::from_utf8_lossy);
///             println!("{:?} {:?} alpn={alpn:?} sni={:?}", tls.version(), tls.cipher_suite(), tls.server_name());
///         }
///         Action::Continue
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct TlsInfo {
    pub(crate) alpn: Option<Vec<u8>>,
    pub(crate) server_name: Option<String>,
    pub(crate) version: Option<ProtocolVersion>,
    pub(crate) suite: Option<CipherSuite>,
    pub(crate) peer_certificates: Vec<CertificateDer<'static>>,
    pub(crate) resumed: bool,
}

impl TlsInfo {
    /// The ALPN protocol both sides agreed on (`b"h2"`, `b"http/1.1"`), if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.alpn.as_deref()
    }

    /// The server name: on a server, the SNI name the client asked for (if
    /// it sent one); on a dialed connection, the name it was dialed with.
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// The protocol version (`TLSv1_3`, `TLSv1_2`).
    pub fn version(&self) -> Option<ProtocolVersion> {
        self.version
    }

    /// The cipher suite (`TLS13_AES_128_GCM_SHA256`, ...).
    pub fn cipher_suite(&self) -> Option<CipherSuite> {
        self.suite
    }

    /// The peer's certificate chain, end entity first, as verified by the
    /// config's verifier: on a server, the client's (mTLS: empty unless the
    /// `ServerConfig` asks for client certificates); on a client, the
    /// server's.
    pub fn peer_certificates(&self) -> &[CertificateDer<'static>] {
        &self.peer_certificates
    }

    /// True when the handshake resumed an earlier session (a ticket or a
    /// session ID) instead of a full handshake (nginx's
    /// `$ssl_session_reused`).
    pub fn resumed(&self) -> bool {
        self.resumed
    }
}
