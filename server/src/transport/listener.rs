//! The gateway's listener: accepts TCP connections, sets their socket options and, when
//! `server.proxy_protocol` is on, reads the PROXY protocol header before HTTP/2 starts; with
//! `server.tls`, the TLS handshake follows (see [`crate::transport::tls`]). Header and handshake run in each
//! connection's own task ([`Setup::prepare`]), on the shard that serves it, so a slow or silent
//! peer never holds up the next accept.
//!
//! `server.max_connections` is enforced here, at accept, so that connections still sending their
//! PROXY header or doing their handshake count too: one beyond the cap is closed at once. The caps
//! per client address and per PrivateLink endpoint (see [`crate::transport::connection_caps`]) follow the
//! PROXY header, which names the source, and come before the TLS handshake.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::server::TlsStream;

use crate::config::ServerConfig;
use crate::ops::metrics::{Metrics, OpenConnection, Rejection};
use crate::pipeline::peer::Peer;
use crate::transport::connection_caps::{Cap, ConnectionCaps, SourcePlaces};
use crate::transport::proxy_protocol::read_header;
use crate::transport::tls::Acceptor;

/// Longest a new connection may take to send its PROXY protocol header.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after a failed accept (such as running out of file descriptors) before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// TCP keepalive, below the NLB's 350 s idle timeout like the HTTP/2 pings above it.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// One of the `server.max_connections` places, held for as long as the connection is open.
#[derive(Debug)]
struct Slot {
    _permit: OwnedSemaphorePermit,
    _open: OpenConnection,
}

/// An accepted connection with its peer, holding its places in the connection caps.
#[derive(Debug)]
pub struct PeerStream {
    transport: Transport,
    peer: Peer,
    _slot: Slot,
    _source: SourcePlaces,
}

/// The bytes of a connection: as they came, or through TLS. An enum rather than a trait object,
/// since every read and write goes through it. The TLS state is boxed so that it costs plaintext
/// connections nothing; the box is reached through, never moved, once the connection is served.
#[derive(Debug)]
enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl PeerStream {
    /// Who is on the other end.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }
}

// Both transports are `Unpin`, so no pin projection is needed.
impl AsyncRead for PeerStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().transport {
            Transport::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for PeerStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().transport {
            Transport::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().transport {
            Transport::Plain(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.transport {
            Transport::Plain(stream) => stream.is_write_vectored(),
            Transport::Tls(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().transport {
            Transport::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().transport {
            Transport::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The listening socket and the `server.max_connections` places; closes the socket when dropped.
#[derive(Debug)]
pub struct Incoming {
    listener: TcpListener,
    slots: Arc<Semaphore>,
    caps: Arc<ConnectionCaps>,
    metrics: Metrics,
}

impl Incoming {
    /// Accepts on `listener` within `config`'s connection cap, logging refusals with `caps`' and
    /// counting open connections in `metrics`.
    pub fn new(listener: TcpListener, config: &ServerConfig, caps: Arc<ConnectionCaps>, metrics: Metrics) -> Incoming {
        Incoming { listener, slots: Arc::new(Semaphore::new(config.max_connections)), caps, metrics }
    }

    /// The next connection there is a place for; one beyond the cap is closed at once. Cancel-safe.
    pub async fn next(&mut self) -> Accepted {
        loop {
            let (stream, addr) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() else {
                self.caps.refuse(Cap::Total, addr.ip(), None);
                continue;
            };
            let slot = Slot { _permit: permit, _open: self.metrics.connection_opened() };
            configure(&stream);
            match stream.into_std() {
                Ok(stream) => return Accepted { stream, addr, slot },
                Err(err) => tracing::debug!(peer = %addr, error = %err, "lost a connection just accepted"),
            }
        }
    }
}

/// A connection just accepted, holding its `server.max_connections` place. Its socket belongs to
/// no runtime yet, so that whichever shard serves it registers it with its own (see
/// `transport::shards`).
#[derive(Debug)]
pub struct Accepted {
    stream: std::net::TcpStream,
    addr: SocketAddr,
    slot: Slot,
}

/// What happens to a connection between accept and HTTP/2: the PROXY protocol header, the caps
/// per source and the TLS handshake, as configured.
#[derive(Debug)]
pub struct Setup {
    proxy_protocol: bool,
    caps: Arc<ConnectionCaps>,
    tls: Option<Acceptor>,
    handshake_timeout: Duration,
    metrics: Metrics,
}

impl Setup {
    /// `config`'s PROXY protocol setting and handshake timeout, the per-source `caps`, and TLS
    /// through `tls` when given, its failures counted in `metrics`.
    pub fn new(config: &ServerConfig, caps: Arc<ConnectionCaps>, tls: Option<Acceptor>, metrics: Metrics) -> Setup {
        let handshake_timeout = config.handshake_timeout_secs.get();
        Setup { proxy_protocol: config.proxy_protocol, caps, tls, handshake_timeout, metrics }
    }

    /// Registers `accepted` with the current runtime, then reads its PROXY protocol header, takes
    /// its places in the caps per source and does its TLS handshake, as configured; `None` when
    /// the connection was refused (and so closed).
    pub async fn prepare(&self, accepted: Accepted) -> Option<PeerStream> {
        let Accepted { stream, addr, slot } = accepted;
        let mut stream = match TcpStream::from_std(stream) {
            Ok(stream) => stream,
            Err(err) => {
                tracing::debug!(peer = %addr, error = %err, "lost a connection just accepted");
                return None;
            }
        };
        let mut peer = self.peer(&mut stream, addr).await?;
        // A PROXY header without a source (LOCAL, the NLB's own) counts against the TCP peer.
        let source = peer.addr.unwrap_or(addr).ip();
        let places = self.caps.admit(source, peer.vpc_endpoint_id.as_ref())?;
        let transport = self.secure(stream, &mut peer).await?;
        Some(PeerStream { transport, peer, _slot: slot, _source: places })
    }

    /// Who is on the other end of `stream`, accepted from `addr`: as its PROXY protocol header
    /// says when `server.proxy_protocol` is on; `None` when the header is missing or malformed.
    async fn peer(&self, stream: &mut TcpStream, addr: SocketAddr) -> Option<Peer> {
        let mut peer = Peer { addr: Some(addr), ..Peer::default() };
        if self.proxy_protocol {
            match tokio::time::timeout(HEADER_TIMEOUT, read_header(stream)).await {
                Ok(Ok(header)) => {
                    if let Some(source) = header.source {
                        peer.addr = Some(source);
                    }
                    peer.vpc_endpoint_id = header.vpc_endpoint_id.map(Arc::from);
                }
                Ok(Err(err)) => {
                    tracing::warn!(peer = %addr, error = %err, "refused a connection");
                    return None;
                }
                Err(_) => {
                    tracing::warn!(peer = %addr, "refused a connection: no PROXY protocol header within 5 s");
                    return None;
                }
            }
        }
        Some(peer)
    }

    /// `stream` through TLS when `server.tls` is set, noting the client certificate's subject in
    /// `peer`; `None` when the handshake failed.
    async fn secure(&self, stream: TcpStream, peer: &mut Peer) -> Option<Transport> {
        let Some(tls) = &self.tls else {
            return Some(Transport::Plain(stream));
        };
        // Only the error's kind is logged: nothing the client sent, certificates included.
        let failure = match tokio::time::timeout(self.handshake_timeout, tls.accept(stream)).await {
            Ok(Ok((stream, subject))) => {
                peer.client_cert_subject = subject;
                return Some(Transport::Tls(Box::new(stream)));
            }
            Ok(Err(err)) => err.to_string(),
            Err(_) => format!("no handshake within {} s", self.handshake_timeout.as_secs()),
        };
        tracing::debug!(
            peer = peer.addr.map(tracing::field::display),
            vpce = peer.vpc_endpoint_id.as_deref(),
            error = failure,
            "closed a connection: TLS handshake failed",
        );
        self.metrics.rejected(Rejection::Tls);
        None
    }
}

fn configure(stream: &TcpStream) {
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(error = %err, "cannot set TCP_NODELAY");
    }
    let keepalive = socket2::TcpKeepalive::new().with_time(TCP_KEEPALIVE);
    if let Err(err) = socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive) {
        tracing::debug!(error = %err, "cannot set TCP keepalive");
    }
}
