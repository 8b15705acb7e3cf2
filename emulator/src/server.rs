//! The listener and the `Emulator` handle tests hold.
//!
//! Every connection is one task serving HTTP/1.1 or HTTP/2 (hyper-util's
//! auto builder), behind TLS when the emulator was started with it; the
//! accept loop owns those tasks so that stopping the emulator also drops
//! every open connection, stalled streams included.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::EmulatorConfig;
use crate::cache::PromptCache;
use crate::fault::ThrottleOnce;
use crate::observe::StreamEnd;
use crate::routes::{self, Shared};
use crate::tls::Tls;

/// Pause after a failed `accept` (typically too many open files) before
/// trying again, so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// The HTTP/2 server's `SETTINGS_MAX_CONCURRENT_STREAMS`: no limit (hyper's default is 200).
/// Bedrock does not publish its value. The SDK keeps one HTTP/2 connection per endpoint and
/// queues the streams beyond the server's limit, so any limit here would hold back the bench's
/// 10,000 idle streams, which all share the gateway's one connection to the emulator.
const MAX_CONCURRENT_STREAMS: Option<u32> = None;

/// A running emulator. Dropping it stops the server and closes all its
/// connections.
#[derive(Debug)]
pub struct Emulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
    certificate_pem: Option<String>,
}

impl Emulator {
    /// Starts an emulator on an ephemeral port of 127.0.0.1.
    pub async fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
        Emulator::start_on(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Starts an emulator listening on `addr`.
    pub async fn start_on(config: EmulatorConfig, addr: SocketAddr) -> std::io::Result<Emulator> {
        Emulator::launch(config, addr, None).await
    }

    /// Starts an emulator serving TLS on an ephemeral port of 127.0.0.1, as
    /// Bedrock serves its endpoints: ALPN `h2` first, then `http/1.1`, with
    /// a self-signed certificate for `localhost`, `127.0.0.1` and `::1` made
    /// now ([`Emulator::certificate_pem`]).
    pub async fn start_tls(config: EmulatorConfig) -> std::io::Result<Emulator> {
        Emulator::start_tls_on(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// [`Emulator::start_tls`] listening on `addr`.
    pub async fn start_tls_on(config: EmulatorConfig, addr: SocketAddr) -> std::io::Result<Emulator> {
        Emulator::launch(config, addr, Some(Tls::self_signed()?)).await
    }

    async fn launch(config: EmulatorConfig, addr: SocketAddr, tls: Option<Tls>) -> std::io::Result<Emulator> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            observer: Arc::default(),
            throttle_once: ThrottleOnce::default(),
            prompt_cache: PromptCache::default(),
        });
        let (acceptor, certificate_pem) = tls.map(|tls| (tls.acceptor, tls.certificate_pem)).unzip();
        let server = tokio::spawn(serve(listener, shared.clone(), acceptor));
        Ok(Emulator { addr, shared, server, certificate_pem })
    }

    /// The address the emulator listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to give the SDK as `endpoint_url`, e.g. `http://127.0.0.1:4510`,
    /// or `https://127.0.0.1:4510` when serving TLS.
    pub fn endpoint_url(&self) -> String {
        let scheme = if self.certificate_pem.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The self-signed certificate, PEM, when serving TLS: clients trust it
    /// as their only root.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.certificate_pem.as_deref()
    }

    /// Requests received (Converse, ConverseStream, CountTokens, InvokeModel),
    /// faulted and invalid ones included.
    pub fn requests_served(&self) -> u64 {
        self.shared.observer.requests_served()
    }

    /// TCP connections accepted so far: fewer than requests when clients reuse connections, as
    /// the SDK does when each response body is read to its end, or multiplex them over HTTP/2.
    pub fn connections_accepted(&self) -> u64 {
        self.shared.observer.connections_accepted()
    }

    /// Those of [`Emulator::requests_served`] that came over HTTP/2, as the
    /// SDK's do when ALPN picks `h2`.
    pub fn http2_requests_served(&self) -> u64 {
        self.shared.observer.http2_requests_served()
    }

    /// The JSON body of the most recent request (Converse, ConverseStream,
    /// CountTokens or InvokeModel), if there was one and it was JSON.
    pub fn last_request_body(&self) -> Option<serde_json::Value> {
        self.shared.observer.last_request_body()
    }

    /// Requests received, by the access key id that signed them (the
    /// `Credential=<id>/…` of their SigV4 `Authorization` header); unsigned
    /// requests are not counted.
    pub fn requests_by_access_key(&self) -> BTreeMap<String, u64> {
        self.shared.observer.requests_by_access_key()
    }

    /// Reports the end of every ConverseStream body from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<StreamEnd> {
        self.shared.observer.subscribe()
    }

    /// Stops accepting connections, closes the open ones and waits for the
    /// server task to finish.
    pub async fn shutdown(mut self) {
        self.server.abort();
        // The only possible error is the cancellation just requested.
        let _ = (&mut self.server).await;
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>, tls: Option<TlsAcceptor>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    shared.observer.record_connection();
                    connections.spawn(serve_connection(stream, shared.clone(), tls.clone()));
                }
                Err(error) => {
                    tracing::warn!(%error, "bedrock-emulator failed to accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            // Reaps finished connection tasks so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>, tls: Option<TlsAcceptor>) {
    // Event frames are small and latency matters more than packet count.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY");
    }
    match tls {
        None => serve_http(stream, shared).await,
        // In the connection's own task, so a slow handshake never holds up accepting others.
        Some(acceptor) => match acceptor.accept(stream).await {
            Ok(stream) => serve_http(stream, shared).await,
            Err(error) => tracing::debug!(%error, "bedrock-emulator TLS handshake failed"),
        },
    }
}

/// Serves HTTP/1.1 or HTTP/2, whichever the client speaks (over TLS, what ALPN chose).
async fn serve_http<I>(io: I, shared: Arc<Shared>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| routes::handle(shared.clone(), request));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http2().max_concurrent_streams(MAX_CONCURRENT_STREAMS);
    if let Err(error) = builder.serve_connection(TokioIo::new(io), service).await {
        tracing::debug!(%error, "bedrock-emulator connection ended with an error");
    }
}
