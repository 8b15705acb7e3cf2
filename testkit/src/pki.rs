//! A private PKI for the TLS tests, generated with rcgen: a CA, a server certificate for
//! `localhost` and 127.0.0.1, and client certificates on demand. Everything is written to a temp
//! dir too, since the gateway and `bgw` read certificates from files.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use bedrock_gateway::config::TlsConfig;
use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair};
use tempfile::TempDir;

/// A CA with a server certificate, all as PEM and as files; the files are removed when dropped.
/// Two of them are strangers: neither trusts the other's certificates.
#[derive(Debug)]
pub struct TestPki {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    /// The server certificate (for `localhost` and 127.0.0.1, signed by the CA) and its key.
    pub server: Certified,
    issuer: Issuer<'static, KeyPair>,
    dir: TempDir,
    issued: AtomicUsize,
}

/// A certificate and its private key, as PEM and as files.
#[derive(Debug, Clone)]
pub struct Certified {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PEM.
    pub key_pem: String,
    /// The file with the certificate.
    pub cert_file: PathBuf,
    /// The file with the key.
    pub key_file: PathBuf,
}

impl TestPki {
    /// A new CA and server certificate.
    pub fn new() -> TestPki {
        let dir = tempfile::tempdir().unwrap();
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "bedrock-gateway test CA");
        let key = KeyPair::generate().unwrap();
        let ca_pem = params.self_signed(&key).unwrap().pem();
        std::fs::write(dir.path().join("ca.pem"), &ca_pem).unwrap();
        let issuer = Issuer::new(params, key);
        let server_params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let server = issue(&issuer, server_params, dir.path(), "server");
        TestPki { ca_pem, server, issuer, dir, issued: AtomicUsize::new(0) }
    }

    /// The file with the CA certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// `server.tls` for TLS without client certificates.
    pub fn server_tls(&self) -> TlsConfig {
        TlsConfig {
            cert_file: self.server.cert_file.clone(),
            key_file: self.server.key_file.clone(),
            client_ca_file: None,
            client_cert_required: true,
        }
    }

    /// `server.tls` for mutual TLS: client certificates signed by this CA are asked for, and
    /// `required` or not.
    pub fn mutual_tls(&self, required: bool) -> TlsConfig {
        TlsConfig { client_ca_file: Some(self.ca_file()), client_cert_required: required, ..self.server_tls() }
    }

    /// A new client certificate signed by the CA, with the subject `CN=<common_name>,O=<organization>`
    /// (as RFC 4514 and openssl write it).
    pub fn client(&self, common_name: &str, organization: &str) -> Certified {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        // In certificate order, the most general first; rcgen's default name has a CN already.
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::OrganizationName, organization);
        params.distinguished_name.push(DnType::CommonName, common_name);
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        issue(&self.issuer, params, self.dir.path(), &format!("client-{n}"))
    }
}

impl Default for TestPki {
    fn default() -> Self {
        TestPki::new()
    }
}

/// A certificate from `params` signed by `issuer`, written to `<name>.pem` and `<name>.key` in `dir`.
fn issue(issuer: &Issuer<'static, KeyPair>, params: CertificateParams, dir: &Path, name: &str) -> Certified {
    let key = KeyPair::generate().unwrap();
    let cert_pem = params.signed_by(&key, issuer).unwrap().pem();
    let key_pem = key.serialize_pem();
    let (cert_file, key_file) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}.key")));
    std::fs::write(&cert_file, &cert_pem).unwrap();
    std::fs::write(&key_file, &key_pem).unwrap();
    Certified { cert_pem, key_pem, cert_file, key_file }
}
