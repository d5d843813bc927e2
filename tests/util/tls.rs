//! TLS test helpers: a throwaway CA with a server and a client certificate
//! (rcgen), written as PEM files; configs for both sides; a blocking rustls
//! client.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;

use netreactor::tls::rustls::pki_types::pem::PemObject;
use netreactor::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use netreactor::tls::rustls::server::WebPkiClientVerifier;
use netreactor::tls::rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, StreamOwned};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};

use super::{scratch_dir, IO_TIMEOUT};

/// PEM files of a throwaway CA, a server certificate for `localhost` and
/// 127.0.0.1 and a client certificate (CN `test-client`), all signed by it.
#[derive(Debug)]
pub(crate) struct Pki {
    pub(crate) dir: PathBuf,
    pub(crate) ca: PathBuf,
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
    pub(crate) client_cert: PathBuf,
    pub(crate) client_key: PathBuf,
    pub(crate) ca_der: CertificateDer<'static>,
    pub(crate) client_der: CertificateDer<'static>,
}

pub(crate) fn pki(name: &str) -> Pki {
    pki_for(name, "localhost")
}

/// As `pki`, with the server certificate's common name `cn`.
pub(crate) fn pki_for(name: &str, cn: &str) -> Pki {
    let dir = scratch_dir(name);
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name.push(DnType::CommonName, "netreactor test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();

    let leaf = |names: Vec<String>, cn: &str, usage: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &ca_cert, &ca_key).unwrap();
        (cert, key)
    };
    let (server, server_key) = leaf(
        vec!["localhost".into(), "127.0.0.1".into()],
        cn,
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client, client_key) = leaf(vec![], "test-client", ExtendedKeyUsagePurpose::ClientAuth);
    let write = |file: &str, pem: String| {
        let path = dir.join(file);
        std::fs::write(&path, pem).unwrap();
        path
    };
    Pki {
        ca: write("ca.pem", ca_cert.pem()),
        cert: write("cert.pem", server.pem()),
        key: write("key.pem", server_key.serialize_pem()),
        client_cert: write("client.pem", client.pem()),
        client_key: write("client-key.pem", client_key.serialize_pem()),
        ca_der: ca_cert.der().clone(),
        client_der: client.der().clone(),
        dir,
    }
}

/// The server's config from its PEM files, with `alpn` protocols.
pub(crate) fn server_config(pki: &Pki, alpn: &[&[u8]]) -> Arc<ServerConfig> {
    let mut config = netreactor::tls::server_config_from_pem(&pki.cert, &pki.key).unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A server config that requires a client certificate signed by the CA.
pub(crate) fn mtls_server_config(pki: &Pki) -> Arc<ServerConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let verifier = WebPkiClientVerifier::builder(Arc::new(roots)).build().unwrap();
    let chain = certificates(&pki.cert);
    let key = PrivateKeyDer::from_pem_file(&pki.key).unwrap();
    Arc::new(
        ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap(),
    )
}

/// A client config trusting the CA only, offering `alpn`.
pub(crate) fn client_config(pki: &Pki, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut config = Arc::unwrap_or_clone(netreactor::tls::client_config_from_pem(&pki.ca).unwrap());
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A client config that presents the client certificate.
pub(crate) fn client_config_with_cert(pki: &Pki) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let chain = certificates(&pki.client_cert);
    let key = PrivateKeyDer::from_pem_file(&pki.client_key).unwrap();
    Arc::new(
        ClientConfig::builder()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .unwrap(),
    )
}

/// A blocking rustls client over TCP (the handshake runs on first use).
pub(crate) type TlsStream = StreamOwned<ClientConnection, TcpStream>;

pub(crate) fn connect(addr: SocketAddr, config: Arc<ClientConfig>, name: &str) -> TlsStream {
    let tcp = super::connect(addr);
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let mut conn = ClientConnection::new(config, name).unwrap();
    let mut tcp = tcp;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).expect("TLS handshake with the engine");
    }
    StreamOwned::new(conn, tcp)
}

fn certificates(path: &PathBuf) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Writes `msg` and reads the same bytes back.
pub(crate) fn round_trip(s: &mut TlsStream, msg: &[u8]) {
    use std::io::{Read, Write};
    s.write_all(msg).unwrap();
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back).unwrap();
    assert_eq!(back, msg);
}
