//! What a call knows of the connection it came on: who is at the other end ([`Peer`]) and when
//! the connection's open streams must end ([`ConnectionCut`]). The transport puts both in every
//! request's extensions; the edge identifies callers by the first, the relay ends streams on the
//! second.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

/// Who is on the other end of a connection; available to handlers as a request extension.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peer {
    /// The client's address: from the PROXY protocol header when it names one, else the TCP peer
    /// (for a LOCAL header, the NLB itself).
    pub addr: Option<SocketAddr>,
    /// The PrivateLink endpoint the client came through, when the NLB says so.
    pub vpc_endpoint_id: Option<Arc<str>>,
    /// The subject of the client's verified TLS certificate (mTLS), as an RFC 4514 string.
    pub client_cert_subject: Option<Arc<str>>,
}

/// Cancelled when the streams still open on a request's connection must end now: the
/// connection's age grace (`server.max_connection_age_grace_secs`) or the shutdown grace is over.
/// Available to handlers as a request extension; a child of the server-wide cut token.
#[derive(Debug, Clone)]
pub struct ConnectionCut(pub CancellationToken);
