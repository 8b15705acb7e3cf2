//! `[server.tls]`: TLS, and optionally mTLS, on the gRPC listener.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, invalid};

/// TLS on the gRPC listener. The NLB forwards TCP, so TLS ends here and the client's certificate
/// reaches the gateway, which a TLS listener on the NLB could not give it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the server's certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM file with the server's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// PEM file with the CA certificates that client certificates must chain to. Set: clients are
    /// asked for a certificate, and its subject can identify a tenant (`tenants.<name>.client_cert_subjects`).
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// With `client_ca_file`: refuse the handshake of a client without a valid certificate. False
    /// lets such clients in, to be identified by API key or endpoint instead.
    #[serde(default = "default_true")]
    pub client_cert_required: bool,
}

fn default_true() -> bool {
    true
}

impl TlsConfig {
    /// The files it names exist; whether they hold usable keys and certificates is checked when
    /// they are loaded (`preflight`).
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (key, file) in [
            ("server.tls.cert_file", Some(&self.cert_file)),
            ("server.tls.key_file", Some(&self.key_file)),
            ("server.tls.client_ca_file", self.client_ca_file.as_ref()),
        ] {
            if let Some(file) = file
                && !file.is_file()
            {
                return Err(invalid(key, format!("no such file: {}", file.display())));
            }
        }
        Ok(())
    }
}
