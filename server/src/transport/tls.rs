//! TLS on the gRPC listener, and mutual TLS when `server.tls.client_ca_file` is set.
//!
//! TLS ends on the gateway, not on the load balancer: the NLB's TCP listener forwards the bytes as
//! they are, so the client's certificate reaches the gateway and can say who is calling. An NLB TLS
//! listener would end TLS itself and cannot ask for client certificates, so behind an NLB this is
//! the only end-to-end option, and the only one with mTLS.
//!
//! The handshake runs in each connection's own task (see `transport::listener`). A verified client
//! certificate's subject becomes [`Peer::client_cert_subject`](crate::pipeline::peer::Peer), formatted
//! the way `openssl x509 -noout -subject -nameopt RFC2253` prints it, so an operator can copy the
//! subject string from openssl into the configuration.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use x509_parser::asn1_rs::{Any, Tag, ToDer};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

use crate::config::TlsConfig;

/// A file of `server.tls` that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{key} ({}): {reason}", file.display())]
pub struct TlsFileError {
    /// The config key that names the file.
    pub key: &'static str,
    /// The file.
    pub file: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

/// The TLS side of the listener: the server's certificate and, for mTLS, the client verifier.
#[derive(Clone)]
pub struct Acceptor(tokio_rustls::TlsAcceptor);

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptor").finish_non_exhaustive()
    }
}

impl Acceptor {
    /// Loads the files `config` names. An error names the config key and the file, so the process
    /// refuses to start with a message that says what to fix.
    pub fn load(config: &TlsConfig) -> Result<Acceptor, TlsFileError> {
        // The client crate uses ring; the AWS SDK links aws-lc-rs too, so there is no single
        // process default to rely on.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = certificates("server.tls.cert_file", &config.cert_file)?;
        let key = PrivateKeyDer::from_pem_file(&config.key_file)
            .map_err(|err| load_error("server.tls.key_file", &config.key_file, pem_reason(&err, "private key")))?;
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|err| load_error("server.tls.cert_file", &config.cert_file, err.to_string()))?;
        let builder = match &config.client_ca_file {
            Some(ca_file) => {
                builder.with_client_cert_verifier(client_verifier(ca_file, config.client_cert_required, provider)?)
            }
            None => builder.with_no_client_auth(),
        };
        let mut server = builder.with_single_cert(chain, key).map_err(|err| {
            load_error(
                "server.tls.key_file",
                &config.key_file,
                format!("does not go with the certificate in server.tls.cert_file: {err}"),
            )
        })?;
        // HTTP/2 first (gRPC needs it); HTTP/1.1 for the HTTP doors' clients that offer only it.
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Acceptor(tokio_rustls::TlsAcceptor::from(Arc::new(server))))
    }

    /// Runs the server side of the handshake on `stream`. The subject is that of the client's
    /// verified certificate, when it sent one.
    pub async fn accept(&self, stream: TcpStream) -> io::Result<(TlsStream<TcpStream>, Option<Arc<str>>)> {
        let stream = self.0.accept(stream).await?;
        let subject = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|leaf| certificate_subject(leaf))
            .map(Arc::from);
        Ok((stream, subject))
    }
}

/// Verifies client certificates against the CAs in `ca_file`; without `required`, a client that
/// sends none is let in too (one that sends a bad one never is).
fn client_verifier(
    ca_file: &Path,
    required: bool,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsFileError> {
    let key = "server.tls.client_ca_file";
    let mut roots = RootCertStore::empty();
    for certificate in certificates(key, ca_file)? {
        roots
            .add(certificate)
            .map_err(|err| load_error(key, ca_file, format!("not a usable CA certificate: {err}")))?;
    }
    let mut verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    if !required {
        verifier = verifier.allow_unauthenticated();
    }
    verifier.build().map_err(|err| load_error(key, ca_file, err.to_string()))
}

/// Every certificate in the PEM file `path`, at least one.
fn certificates(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|err| load_error(key, path, pem_reason(&err, "certificate")))?;
    if certificates.is_empty() {
        return Err(load_error(key, path, "no PEM certificate in it".to_owned()));
    }
    Ok(certificates)
}

fn pem_reason(err: &rustls::pki_types::pem::Error, what: &str) -> String {
    match err {
        rustls::pki_types::pem::Error::NoItemsFound => format!("no PEM {what} in it"),
        err => err.to_string(),
    }
}

fn load_error(key: &'static str, file: &Path, reason: String) -> TlsFileError {
    TlsFileError { key, file: file.to_owned(), reason }
}

/// The subject of the DER certificate `der` as an RFC 4514 string, or `None` when it does not parse.
pub fn certificate_subject(der: &[u8]) -> Option<String> {
    match X509Certificate::from_der(der) {
        Ok((_, certificate)) => Some(rfc4514(certificate.subject())),
        Err(err) => {
            tracing::debug!(error = %err, "cannot parse the client certificate");
            None
        }
    }
}

/// `name` as an RFC 4514 string, exactly as `openssl x509 -noout -subject -nameopt RFC2253` prints
/// it: the most specific RDN first, `,` between RDNs and `+` within one (in reverse order too, as
/// openssl does), the short names of RFC 4514 and a few more that openssl uses, values escaped as
/// RFC 4514 says (openssl also escapes control and non-ASCII bytes as `\XX`). Any other attribute
/// type is its dotted OID with its value as `#` and the hex of its DER encoding, as RFC 4514 says;
/// so is a value that is not a string.
pub fn rfc4514(name: &X509Name<'_>) -> String {
    let mut text = String::new();
    let rdns: Vec<_> = name.iter().collect();
    for (i, rdn) in rdns.into_iter().rev().enumerate() {
        if i > 0 {
            text.push(',');
        }
        let attributes: Vec<_> = rdn.iter().collect();
        for (j, attribute) in attributes.into_iter().rev().enumerate() {
            if j > 0 {
                text.push('+');
            }
            push_attribute(&mut text, attribute);
        }
    }
    text
}

/// Attribute types by their short names, as openssl prints them: RFC 4514's own and the common
/// ones of X.520 and PKCS #9.
const SHORT_NAMES: [(&str, &str); 16] = [
    ("2.5.4.3", "CN"),
    ("2.5.4.4", "SN"),
    ("2.5.4.5", "serialNumber"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.9", "street"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.12", "title"),
    ("2.5.4.15", "businessCategory"),
    ("2.5.4.17", "postalCode"),
    ("2.5.4.42", "GN"),
    ("0.9.2342.19200300.100.1.1", "UID"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("1.2.840.113549.1.9.1", "emailAddress"),
];

fn push_attribute(text: &mut String, attribute: &AttributeTypeAndValue<'_>) {
    let oid = attribute.attr_type().to_id_string();
    let value = attribute.attr_value();
    match SHORT_NAMES.iter().find(|(dotted, _)| *dotted == oid) {
        Some((_, short)) => {
            text.push_str(short);
            text.push('=');
            match decode_string(value) {
                Some(chars) => push_escaped(text, &chars),
                None => push_hex(text, value),
            }
        }
        None => {
            text.push_str(&oid);
            text.push('=');
            push_hex(text, value);
        }
    }
}

/// The characters of a string value, decoded as openssl does (the one-byte string types byte by
/// byte as Latin-1); `None` when the value is not a string or not well-formed.
fn decode_string(value: &Any<'_>) -> Option<Vec<char>> {
    let data = value.data;
    match value.tag() {
        Tag::Utf8String => std::str::from_utf8(data).ok().map(|text| text.chars().collect()),
        Tag::NumericString
        | Tag::PrintableString
        | Tag::T61String
        | Tag::Ia5String
        | Tag::VisibleString
        | Tag::UtcTime
        | Tag::GeneralizedTime => Some(data.iter().map(|&byte| char::from(byte)).collect()),
        Tag::BmpString if data.len().is_multiple_of(2) => {
            let units = data.chunks_exact(2).map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
            char::decode_utf16(units).collect::<Result<_, _>>().ok()
        }
        Tag::UniversalString if data.len().is_multiple_of(4) => data
            .chunks_exact(4)
            .map(|quad| char::from_u32(u32::from_be_bytes([quad[0], quad[1], quad[2], quad[3]])))
            .collect(),
        _ => None,
    }
}

/// RFC 4514 escaping as openssl does it: `,+"\<>;` anywhere, `#` or a space at the start and a
/// space at the end with a backslash; control characters and every byte of a non-ASCII one as `\XX`.
fn push_escaped(text: &mut String, chars: &[char]) {
    let last = chars.len().saturating_sub(1);
    for (i, &c) in chars.iter().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => {
                text.push('\\');
                text.push(c);
            }
            '#' if i == 0 => text.push_str("\\#"),
            ' ' if i == 0 || i == last => text.push_str("\\ "),
            c if c.is_ascii_control() || !c.is_ascii() => {
                let mut utf8 = [0; 4];
                for byte in c.encode_utf8(&mut utf8).bytes() {
                    let _ = write!(text, "\\{byte:02X}");
                }
            }
            c => text.push(c),
        }
    }
}

/// `#` and the hex of the value's whole DER encoding, tag and length included.
fn push_hex(text: &mut String, value: &Any<'_>) {
    text.push('#');
    for byte in value.to_der_vec().unwrap_or_default() {
        let _ = write!(text, "{byte:02X}");
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue, KeyPair};

    use super::*;

    /// The subject of a certificate generated with `subject`, as the gateway formats it.
    fn formatted(subject: &[(DnType, DnValue)]) -> String {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        let mut name = DistinguishedName::new();
        for (kind, value) in subject {
            name.push(kind.clone(), value.clone());
        }
        params.distinguished_name = name;
        let certificate = params.self_signed(&KeyPair::generate().unwrap()).unwrap();
        certificate_subject(certificate.der()).unwrap()
    }

    fn utf8(text: &str) -> DnValue {
        DnValue::Utf8String(text.to_owned())
    }

    #[test]
    fn the_most_specific_rdn_comes_first() {
        let subject = [
            (DnType::CountryName, DnValue::PrintableString("DE".try_into().unwrap())),
            (DnType::StateOrProvinceName, utf8("Berlin")),
            (DnType::LocalityName, utf8("Berlin")),
            (DnType::OrganizationName, utf8("Example Corp")),
            (DnType::OrganizationalUnitName, utf8("Payments")),
            (DnType::CommonName, utf8("orders-service")),
        ];
        assert_eq!(formatted(&subject), "CN=orders-service,OU=Payments,O=Example Corp,L=Berlin,ST=Berlin,C=DE");
    }

    #[test]
    fn special_characters_are_escaped() {
        let subject = [
            (DnType::OrganizationName, utf8(r#"a,b+c"d\e<f>g;h=i"#)),
            (DnType::OrganizationalUnitName, utf8("#first and last ")),
            (DnType::CommonName, utf8(" #not-first")),
        ];
        assert_eq!(formatted(&subject), r#"CN=\ #not-first,OU=\#first and last\ ,O=a\,b\+c\"d\\e\<f\>g\;h=i"#);
    }

    #[test]
    fn control_and_non_ascii_bytes_are_hex_escaped() {
        let subject = [(DnType::CommonName, utf8("Müller\ttab"))];
        assert_eq!(formatted(&subject), r"CN=M\C3\BCller\09tab");
    }

    #[test]
    fn every_string_type_reads_the_same() {
        let subject = [
            (DnType::CountryName, DnValue::PrintableString("US".try_into().unwrap())),
            (DnType::LocalityName, DnValue::Ia5String("ia5".try_into().unwrap())),
            (DnType::StateOrProvinceName, DnValue::TeletexString("t61".try_into().unwrap())),
            (DnType::OrganizationName, DnValue::BmpString("bmp é".try_into().unwrap())),
            (DnType::CommonName, DnValue::UniversalString("universal".try_into().unwrap())),
        ];
        assert_eq!(formatted(&subject), r"CN=universal,O=bmp \C3\A9,ST=t61,L=ia5,C=US");
    }

    #[test]
    fn other_attribute_types_are_dotted_oids_with_der_values() {
        let subject = [
            (DnType::CustomDnType(vec![1, 3, 6, 1, 4, 1, 99999, 1]), utf8("abc")),
            (
                DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 25]),
                DnValue::Ia5String("example".try_into().unwrap()),
            ),
            (
                DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
                DnValue::Ia5String("ops@example.com".try_into().unwrap()),
            ),
            (DnType::CommonName, utf8("svc")),
        ];
        assert_eq!(
            formatted(&subject),
            "CN=svc,emailAddress=ops@example.com,DC=example,1.3.6.1.4.1.99999.1=#0C03616263"
        );
    }

    #[test]
    fn a_file_without_what_its_key_needs_is_refused_naming_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyPair::generate().unwrap();
        let certificate = CertificateParams::new(vec!["localhost".to_owned()]).unwrap().self_signed(&key).unwrap();
        let (cert_file, key_file, empty) =
            (dir.path().join("cert.pem"), dir.path().join("key.pem"), dir.path().join("empty.pem"));
        std::fs::write(&cert_file, certificate.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        std::fs::write(&empty, "not PEM\n").unwrap();
        let config = TlsConfig { cert_file, key_file, client_ca_file: None, client_cert_required: true };
        assert!(Acceptor::load(&config).is_ok());
        let refused = |config: TlsConfig| Acceptor::load(&config).unwrap_err().to_string();
        let message = refused(TlsConfig { cert_file: empty.clone(), ..config.clone() });
        assert_eq!(message, format!("server.tls.cert_file ({}): no PEM certificate in it", empty.display()));
        let message = refused(TlsConfig { key_file: config.cert_file.clone(), ..config.clone() });
        assert_eq!(message, format!("server.tls.key_file ({}): no PEM private key in it", config.cert_file.display()));
        let message = refused(TlsConfig { client_ca_file: Some(empty.clone()), ..config });
        assert_eq!(message, format!("server.tls.client_ca_file ({}): no PEM certificate in it", empty.display()));
    }

    /// DER of a Name with a multi-valued RDN, which rcgen cannot make: `O=Example`, then one RDN
    /// of `CN=a` and `UID=b`, then `OU=x,y`.
    fn multi_valued_name() -> Vec<u8> {
        fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
            let mut der = vec![tag, u8::try_from(content.len()).unwrap()];
            der.extend_from_slice(content);
            der
        }
        fn attribute(oid: &[u8], value: &str) -> Vec<u8> {
            tlv(0x30, &[tlv(0x06, oid), tlv(0x0c, value.as_bytes())].concat())
        }
        let organization = tlv(0x31, &attribute(&[0x55, 0x04, 0x0a], "Example"));
        let common_name = attribute(&[0x55, 0x04, 0x03], "a");
        let uid = attribute(&[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01], "b");
        let both = tlv(0x31, &[common_name, uid].concat());
        let unit = tlv(0x31, &attribute(&[0x55, 0x04, 0x0b], "x,y"));
        tlv(0x30, &[organization, both, unit].concat())
    }

    #[test]
    fn a_multi_valued_rdn_is_joined_with_plus() {
        let der = multi_valued_name();
        let (_, name) = X509Name::from_der(&der).unwrap();
        assert_eq!(rfc4514(&name), r"OU=x\,y,UID=b+CN=a,O=Example");
    }
}
