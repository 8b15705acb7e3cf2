//! TLS with ALPN, as Bedrock's runtime endpoints serve it.
//!
//! The AWS SDK's connector offers ALPN `h2, http/1.1` and Bedrock picks `h2`, so in production
//! every call to an endpoint multiplexes on one TLS connection. Over plain HTTP the SDK speaks
//! HTTP/1.1 instead, a connection per concurrent stream; serving TLS lets tests and the bench see
//! the production protocol. The certificate is self-signed and made at start, so there is no file
//! to ship: clients trust it through [`Emulator::certificate_pem`](crate::Emulator::certificate_pem).

use std::io;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// The names the certificate is valid for: every way a client on this machine names loopback.
const SUBJECT_ALT_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The ALPN protocols offered, in order of preference: Bedrock's choice first, HTTP/1.1 for
/// clients that cannot speak HTTP/2.
const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// A server identity: the acceptor that runs handshakes and the certificate clients must trust.
pub(crate) struct Tls {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) certificate_pem: String,
}

impl Tls {
    /// A new self-signed certificate for loopback and a TLS acceptor serving it.
    pub(crate) fn self_signed() -> io::Result<Tls> {
        let names = SUBJECT_ALT_NAMES.map(str::to_owned).to_vec();
        let certified = rcgen::generate_simple_self_signed(names).map_err(io::Error::other)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()));
        let chain = vec![CertificateDer::from(certified.cert.der().to_vec())];
        // ring, as the rest of the workspace uses: the AWS SDK links aws-lc-rs too, so there is
        // no single process-wide default provider to rely on.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(io::Error::other)?;
        config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|protocol| protocol.to_vec()).collect();
        Ok(Tls { acceptor: TlsAcceptor::from(Arc::new(config)), certificate_pem: certified.cert.pem() })
    }
}
