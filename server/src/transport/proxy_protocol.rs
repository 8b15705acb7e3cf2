//! PROXY protocol v2, as the NLB sends it when the target group enables it: the first bytes of
//! each connection name the real client address and, through PrivateLink, the VPC endpoint the
//! client came through. Without it, every peer looks like the NLB.
//!
//! A LOCAL header (what the NLB's own health checks send) says nothing about a client: whatever
//! addresses or TLVs follow it are skipped, as the specification asks, so that a LOCAL header
//! carrying an endpoint id identifies nobody.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt};

const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Signature, version/command, family/protocol and length.
const FIXED_LEN: usize = 16;
/// Longest address block plus TLVs we accept; AWS headers are well under this.
const MAX_VARIABLE_LEN: usize = 1024;
/// The commands: the proxy's own connection (health checks), and a client's it forwards.
const COMMAND_LOCAL: u8 = 0x0;
const COMMAND_PROXY: u8 = 0x1;
/// TLV type AWS uses for its own fields, and the subtype carrying the VPC endpoint id.
const PP2_TYPE_AWS: u8 = 0xEA;
const PP2_SUBTYPE_AWS_VPCE_ID: u8 = 0x01;

/// What a PROXY protocol header says about the connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyHeader {
    /// The client's address; `None` for LOCAL connections (the NLB's own health checks) and for
    /// address families other than TCP over IPv4/IPv6: the connection's own address stands then.
    pub source: Option<SocketAddr>,
    /// The interface VPC endpoint the client connected through (PrivateLink only); never from a
    /// LOCAL header.
    pub vpc_endpoint_id: Option<String>,
}

/// A connection that does not start with a valid v2 header.
#[derive(Debug, thiserror::Error)]
pub enum ProxyProtocolError {
    /// The connection failed or closed while the header was read.
    #[error("reading the PROXY protocol header: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not a PROXY protocol v2 header.
    #[error("not a PROXY protocol v2 header: {0}")]
    Malformed(&'static str),
}

/// Reads exactly one header from `stream`, and not a byte more, so what follows is the client's.
pub async fn read_header<S: AsyncRead + Unpin>(stream: &mut S) -> Result<ProxyHeader, ProxyProtocolError> {
    let mut fixed = [0u8; FIXED_LEN];
    stream.read_exact(&mut fixed).await?;
    if fixed[..12] != SIGNATURE {
        return Err(ProxyProtocolError::Malformed("bad signature"));
    }
    let len = usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    if len > MAX_VARIABLE_LEN {
        return Err(ProxyProtocolError::Malformed("header too long"));
    }
    let mut variable = vec![0u8; len];
    stream.read_exact(&mut variable).await?;
    parse(fixed[12], fixed[13], &variable)
}

fn parse(version_command: u8, family_protocol: u8, variable: &[u8]) -> Result<ProxyHeader, ProxyProtocolError> {
    if version_command >> 4 != 2 {
        return Err(ProxyProtocolError::Malformed("version is not 2"));
    }
    match version_command & 0x0F {
        COMMAND_LOCAL => return Ok(ProxyHeader::default()),
        COMMAND_PROXY => {}
        _ => return Err(ProxyProtocolError::Malformed("unknown command")),
    }
    let (source, addresses_len) = match family_protocol {
        0x11 if variable.len() >= 12 => {
            let ip = Ipv4Addr::new(variable[0], variable[1], variable[2], variable[3]);
            (Some(SocketAddr::new(IpAddr::V4(ip), u16::from_be_bytes([variable[8], variable[9]]))), 12)
        }
        0x21 if variable.len() >= 36 => {
            let octets: [u8; 16] = variable[..16].try_into().map_err(|_| ProxyProtocolError::Malformed("address"))?;
            let port = u16::from_be_bytes([variable[32], variable[33]]);
            (Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(octets)), port)), 36)
        }
        0x11 | 0x21 => return Err(ProxyProtocolError::Malformed("address block too short")),
        _ => (None, 0),
    };
    let mut header = ProxyHeader { source, vpc_endpoint_id: None };
    let mut tlvs = variable.get(addresses_len..).unwrap_or_default();
    while tlvs.len() >= 3 {
        let value_len = usize::from(u16::from_be_bytes([tlvs[1], tlvs[2]]));
        let value = tlvs.get(3..3 + value_len).ok_or(ProxyProtocolError::Malformed("TLV overruns the header"))?;
        if tlvs[0] == PP2_TYPE_AWS && value.first() == Some(&PP2_SUBTYPE_AWS_VPCE_ID) {
            header.vpc_endpoint_id = std::str::from_utf8(&value[1..]).ok().map(str::to_owned);
        }
        tlvs = &tlvs[3 + value_len..];
    }
    Ok(header)
}

/// Encodes a LOCAL header, as a health check sends: the connection is the proxy's own.
pub fn encode_local() -> Vec<u8> {
    let mut header = SIGNATURE.to_vec();
    header.extend_from_slice(&[0x20, 0x00, 0, 0]);
    header
}

/// Encodes a PROXY (not LOCAL) header; tests use it to play the NLB.
pub fn encode(source: SocketAddr, destination: SocketAddr, vpc_endpoint_id: Option<&str>) -> Vec<u8> {
    let mut variable = Vec::new();
    let family = match (source, destination) {
        (SocketAddr::V4(source), SocketAddr::V4(destination)) => {
            variable.extend_from_slice(&source.ip().octets());
            variable.extend_from_slice(&destination.ip().octets());
            0x11
        }
        (source, destination) => {
            variable.extend_from_slice(&to_v6(source.ip()).octets());
            variable.extend_from_slice(&to_v6(destination.ip()).octets());
            0x21
        }
    };
    variable.extend_from_slice(&source.port().to_be_bytes());
    variable.extend_from_slice(&destination.port().to_be_bytes());
    if let Some(id) = vpc_endpoint_id {
        variable.push(PP2_TYPE_AWS);
        variable.extend_from_slice(&u16::try_from(id.len() + 1).unwrap_or(u16::MAX).to_be_bytes());
        variable.push(PP2_SUBTYPE_AWS_VPCE_ID);
        variable.extend_from_slice(id.as_bytes());
    }
    let mut header = SIGNATURE.to_vec();
    header.extend_from_slice(&[0x21, family]);
    header.extend_from_slice(&u16::try_from(variable.len()).unwrap_or(u16::MAX).to_be_bytes());
    header.extend_from_slice(&variable);
    header
}

fn to_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_exactly_the_header_with_the_aws_vpce_id() {
        let source: SocketAddr = "10.1.2.3:51000".parse().unwrap();
        let mut bytes = encode(source, "10.9.9.9:50051".parse().unwrap(), Some("vpce-0123456789abcdef0"));
        bytes.extend_from_slice(b"PRI * HTTP/2.0");
        let mut reader = bytes.as_slice();
        let header = read_header(&mut reader).await.unwrap();
        assert_eq!(header.source, Some(source));
        assert_eq!(header.vpc_endpoint_id.as_deref(), Some("vpce-0123456789abcdef0"));
        assert_eq!(reader, b"PRI * HTTP/2.0", "the client's bytes are left untouched");
    }

    #[tokio::test]
    async fn ipv6_and_local_headers() {
        let source: SocketAddr = "[2001:db8::1]:4000".parse().unwrap();
        let bytes = encode(source, "[2001:db8::2]:50051".parse().unwrap(), None);
        assert_eq!(read_header(&mut bytes.as_slice()).await.unwrap().source, Some(source));

        assert_eq!(read_header(&mut encode_local().as_slice()).await.unwrap(), ProxyHeader::default());
    }

    #[tokio::test]
    async fn a_local_header_says_nothing_whatever_follows_it() {
        let source: SocketAddr = "10.1.2.3:51000".parse().unwrap();
        let mut bytes = encode(source, "10.9.9.9:50051".parse().unwrap(), Some("vpce-0123456789abcdef0"));
        bytes[12] = 0x20; // the same addresses and endpoint TLV, behind the LOCAL command
        bytes.extend_from_slice(b"PRI * HTTP/2.0");
        let mut reader = bytes.as_slice();
        assert_eq!(read_header(&mut reader).await.unwrap(), ProxyHeader::default());
        assert_eq!(reader, b"PRI * HTTP/2.0", "the whole header is read, TLVs included");
    }

    #[tokio::test]
    async fn plain_http2_is_refused() {
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        assert!(matches!(read_header(&mut preface.as_slice()).await, Err(ProxyProtocolError::Malformed(_))));
    }
}
