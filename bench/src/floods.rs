//! Memory floods for the abuse scenario (issue 22, findings 1 and 2), on raw HTTP/2 like the
//! abusers: clients that try to make the gateway hold request bytes by never finishing their
//! requests. Every stream of a [`Flood`] opens a call with a large gRPC [`Message`], sends as much
//! of it as the gateway's flow control lets it and never ends its side; when the gateway ends the
//! call (a refusal, the receive timeout, a reset) the stream opens the next one at once, as an
//! attacker would, ignoring any retry pushback.
//!
//! Two uses, the abuse scenario's floods: callers without a key on gRPC health and reflection,
//! which need no key, and a tenant with its key on ConverseStream filling the request memory
//! budget. A connection the gateway closes is opened again, so a flood lasts until it is stopped,
//! and the bytes each stream could send are counted: what the gateway took in.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use h2::client::{ResponseFuture, SendRequest};
use h2::{RecvStream, SendStream};
use serde::Serialize;
use tokio::net::TcpSocket;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::grpc_wire::{prefix, status_of};

/// The routes open to callers without a key that the red team flooded: a health check (unary) and
/// a reflection exchange (a bidirectional stream), called alternately.
pub const CONTROL_PATHS: &[&str] =
    &["/grpc.health.v1.Health/Check", "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"];
/// The gateway's streaming call (a one-path list, as [`Flood::paths`] takes).
pub const CONVERSE_STREAM_PATHS: &[&str] = &["/bedrock.gateway.v1.GatewayService/ConverseStream"];

/// Pause before connecting again after a connection failed or was closed.
const RECONNECT_AFTER: Duration = Duration::from_millis(100);

/// Message bytes to send, shared by every stream (their value does not matter: the message is
/// never complete, so nothing decodes it).
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// One flood: how many streams, from where, calling what.
#[derive(Debug, Clone)]
pub struct Flood {
    /// The loopback address it connects from.
    pub source: Ipv4Addr,
    /// HTTP/2 connections.
    pub connections: usize,
    /// Streams open at once on each connection (within the gateway's
    /// `server.http2_max_concurrent_streams`).
    pub streams_per_connection: usize,
    /// The paths called; stream `i` of a connection calls `paths[i % paths.len()]`.
    pub paths: &'static [&'static str],
    /// The `authorization` header every call carries, if any (`Bearer <key>`).
    pub authorization: Option<String>,
    /// What each call sends.
    pub message: Message,
}

/// The request message of a flood's calls.
#[derive(Debug, Clone)]
pub enum Message {
    /// A message declaring this many bytes, of which all but the last are sent (zeros): it never
    /// completes.
    Unfinished(u32),
    /// This whole gRPC frame (prefix and a valid message): the message completes, but the request
    /// never ends, so the gateway holds it until its receive timeout.
    Whole(Bytes),
}

impl Flood {
    /// The headers of a call to `path`.
    fn call(&self, path: &str) -> http::Request<()> {
        let mut call = http::Request::post(format!("http://gateway.bench{path}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        if let Some(authorization) = &self.authorization {
            call = call.header("authorization", authorization);
        }
        call.body(()).expect("a request of constant parts and an ASCII key is valid")
    }
}

/// What a flood's streams saw, all together.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FloodSeen {
    /// Calls opened.
    pub opened: u64,
    /// Calls the gateway ended with a gRPC status, by code name (a reflection exchange whose
    /// request the gateway refused ends `Ok`, without an answer).
    pub ended: BTreeMap<String, u64>,
    /// Calls the gateway reset without a status.
    pub reset: u64,
    /// Request bytes (gRPC prefixes included) the gateway's flow control let the streams send.
    pub bytes_sent: u64,
    /// Connections that failed or were closed by the gateway.
    pub connection_failures: u64,
    /// The first of those failures, if any.
    pub first_failure: Option<String>,
}

impl FloodSeen {
    /// Calls still open when the flood stopped.
    pub fn open_at_stop(&self) -> u64 {
        self.opened.saturating_sub(self.ended.values().sum::<u64>() + self.reset)
    }

    fn failed(&mut self, err: impl std::fmt::Display) {
        self.connection_failures += 1;
        self.first_failure.get_or_insert_with(|| err.to_string());
    }
}

type Shared = Arc<Mutex<FloodSeen>>;

fn record(seen: &Mutex<FloodSeen>, change: impl FnOnce(&mut FloodSeen)) {
    // Every change is a single statement, so the counts stay consistent under a panic elsewhere.
    change(&mut seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
}

/// A running flood, until [`Flooding::stop`].
#[derive(Debug)]
pub struct Flooding {
    connections: JoinSet<()>,
    stop: CancellationToken,
    seen: Shared,
}

impl Flooding {
    /// Starts `flood`'s connections to `gateway`, each opening its streams once connected.
    pub fn start(gateway: SocketAddr, flood: Flood) -> Flooding {
        let (flood, stop, seen) = (Arc::new(flood), CancellationToken::new(), Shared::default());
        let mut connections = JoinSet::new();
        for _ in 0..flood.connections {
            connections.spawn(connection(gateway, Arc::clone(&flood), stop.clone(), Arc::clone(&seen)));
        }
        Flooding { connections, stop, seen }
    }

    /// Stops every stream and closes the connections; returns what they saw.
    pub async fn stop(mut self) -> FloodSeen {
        self.stop.cancel();
        while self.connections.join_next().await.is_some() {}
        self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

/// One connection of a flood: connects, runs its streams until the connection ends, connects
/// again, until stopped.
async fn connection(gateway: SocketAddr, flood: Arc<Flood>, stop: CancellationToken, seen: Shared) {
    let mut streams = JoinSet::new();
    while !stop.is_cancelled() {
        let connected = tokio::select! {
            () = stop.cancelled() => break,
            connected = connect(gateway, flood.source) => connected,
        };
        match connected {
            Ok((sender, connection)) => {
                for index in 0..flood.streams_per_connection {
                    let path = flood.paths[index % flood.paths.len()];
                    streams.spawn(stream(sender.clone(), Arc::clone(&flood), path, Arc::clone(&seen)));
                }
                drop(sender);
                let ended = async {
                    let (closed, ()) = tokio::join!(connection, async { while streams.join_next().await.is_some() {} });
                    if let Err(err) = closed {
                        record(&seen, |seen| seen.failed(err));
                    }
                };
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = ended => {}
                }
            }
            Err(err) => record(&seen, |seen| seen.failed(err)),
        }
        streams.shutdown().await;
        tokio::select! {
            () = stop.cancelled() => {}
            () = tokio::time::sleep(RECONNECT_AFTER) => {}
        }
    }
    streams.shutdown().await;
}

async fn connect(
    gateway: SocketAddr,
    source: Ipv4Addr,
) -> std::io::Result<(SendRequest<Bytes>, h2::client::Connection<tokio::net::TcpStream, Bytes>)> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    let tcp = socket.connect(gateway).await?;
    h2::client::handshake(tcp).await.map_err(std::io::Error::other)
}

/// One stream: calls `path` one call after the other, until its connection fails.
async fn stream(mut sender: SendRequest<Bytes>, flood: Arc<Flood>, path: &'static str, seen: Shared) {
    loop {
        sender = match sender.ready().await {
            Ok(sender) => sender,
            // The connection failed: its task counts it once.
            Err(_) => return,
        };
        let Ok((response, body)) = sender.send_request(flood.call(path), false) else { return };
        record(&seen, |seen| seen.opened += 1);
        let ended = tokio::select! {
            ended = end_of_call(response) => ended,
            never = feed(body, &flood, &seen) => match never {},
        };
        // Dropping the request side (in `feed`) resets the stream if the gateway has not.
        match ended {
            Ok(code) => record(&seen, |seen| *seen.ended.entry(code).or_default() += 1),
            Err(_) => record(&seen, |seen| seen.reset += 1),
        }
    }
}

/// Sends as much of `flood.message` as the gateway's flow control allows, then waits forever, the
/// request side left open.
async fn feed(mut body: SendStream<Bytes>, flood: &Flood, seen: &Mutex<FloodSeen>) -> Infallible {
    // What is sent: `head`, then `zeros` zero bytes.
    let (head, zeros) = match &flood.message {
        Message::Unfinished(declared) => {
            (Bytes::copy_from_slice(&prefix(*declared)), (*declared as usize).saturating_sub(1))
        }
        Message::Whole(frame) => (frame.clone(), 0),
    };
    let total = head.len() + zeros;
    let mut sent = 0;
    body.reserve_capacity(total);
    'sending: while sent < total {
        let Some(Ok(capacity)) = std::future::poll_fn(|cx| body.poll_capacity(cx)).await else { break };
        let granted = capacity.min(total - sent);
        record(seen, |seen| seen.bytes_sent += granted as u64);
        let end = sent + granted;
        while sent < end {
            let chunk = if sent < head.len() {
                head.slice(sent..end.min(head.len()))
            } else {
                Bytes::from_static(&ZEROS[..(end - sent).min(ZEROS.len())])
            };
            sent += chunk.len();
            if body.send_data(chunk, false).is_err() {
                break 'sending;
            }
        }
    }
    std::future::pending().await
}

/// How the gateway ended a call: the gRPC status code's name (from the headers of a call refused
/// at once, else from the trailers), or the stream's failure when it was reset without one.
async fn end_of_call(response: ResponseFuture) -> Result<String, h2::Error> {
    let response = response.await?;
    if let Some(code) = status_of(response.headers()) {
        return Ok(code);
    }
    let mut body: RecvStream = response.into_body();
    while let Some(data) = body.data().await {
        let _ = body.flow_control().release_capacity(data?.len());
    }
    Ok(body.trailers().await?.as_ref().and_then(status_of).unwrap_or_else(|| "none".to_owned()))
}
