//! The listener and the `Emulator` handle tests hold.
//!
//! Every connection is one task serving HTTP/1.1 or HTTP/2 (hyper-util's
//! auto builder); the accept loop owns those tasks so that stopping the
//! emulator also drops every open connection, stalled streams included.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio::task::{JoinHandle, JoinSet};

use crate::EmulatorConfig;
use crate::cache::PromptCache;
use crate::fault::ThrottleOnce;
use crate::observe::{Observer, StreamEnd};
use crate::routes;

/// Pause after a failed `accept` (typically too many open files) before
/// trying again, so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// State shared by all connections of one emulator.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: EmulatorConfig,
    pub(crate) observer: Arc<Observer>,
    pub(crate) throttle_once: ThrottleOnce,
    pub(crate) prompt_cache: PromptCache,
}

/// A running emulator. Dropping it stops the server and closes all its
/// connections.
#[derive(Debug)]
pub struct Emulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Emulator {
    /// Starts an emulator on an ephemeral port of 127.0.0.1.
    pub async fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
        Emulator::start_on(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Starts an emulator listening on `addr`.
    pub async fn start_on(config: EmulatorConfig, addr: SocketAddr) -> std::io::Result<Emulator> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            observer: Arc::default(),
            throttle_once: ThrottleOnce::default(),
            prompt_cache: PromptCache::default(),
        });
        let server = tokio::spawn(serve(listener, shared.clone()));
        Ok(Emulator { addr, shared, server })
    }

    /// The address the emulator listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to give the SDK as `endpoint_url`, e.g. `http://127.0.0.1:4510`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests received (Converse, ConverseStream, CountTokens, InvokeModel),
    /// faulted and invalid ones included.
    pub fn requests_served(&self) -> u64 {
        self.shared.observer.requests_served()
    }

    /// TCP connections accepted so far: fewer than requests when clients reuse connections, as
    /// the SDK does when each response body is read to its end.
    pub fn connections_accepted(&self) -> u64 {
        self.shared.observer.connections_accepted()
    }

    /// The JSON body of the most recent request (Converse, ConverseStream,
    /// CountTokens or InvokeModel), if there was one and it was JSON.
    pub fn last_request_body(&self) -> Option<serde_json::Value> {
        self.shared.observer.last_request_body()
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

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    shared.observer.record_connection();
                    connections.spawn(serve_connection(stream, shared.clone()));
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

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    // Event frames are small and latency matters more than packet count.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY");
    }
    let service = service_fn(move |request| routes::handle(shared.clone(), request));
    let builder = auto::Builder::new(TokioExecutor::new());
    if let Err(error) = builder.serve_connection(TokioIo::new(stream), service).await {
        tracing::debug!(%error, "bedrock-emulator connection ended with an error");
    }
}
