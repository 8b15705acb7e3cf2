//! Hostile clients for the abuse scenario, on raw HTTP/2 (the `h2` crate) because a gRPC client
//! cannot misbehave on purpose. Two kinds, each a fixed number of clients over a few connections:
//!
//! - **never-finishing**: opens a ConverseStream call, sends half of its request message and never
//!   ends its side. The gateway answers it with a status once `server.request_receive_timeout_secs`
//!   is up; the client then opens the next call at once.
//! - **never-reading**: connects with a stream receive window of 0 and sends complete requests for
//!   a long answer, then reads nothing. With the window closed the gateway cannot send a byte of
//!   the answer, nor its final status after its client stall timeout ended the stream, so the
//!   client cannot see the end: it resets the stream after holding it for longer than that timeout
//!   and opens the next. A call refused at once (its status in the response headers) is retried
//!   after the gateway's retry pushback.
//!
//! Each kind connects from its own loopback address (127.0.0.2, ...): without API keys the gateway
//! counts callers by client IP, so this gives the abusers identities apart from the normal clients
//! on 127.0.0.1. Clients start spread over their cycle so that their re-openings are spread too,
//! and all of them stop when told to.
//!
//! A third kind floods connections rather than streams ([`ConnectionFlood`]): one address holding
//! as many connections as it can, each reopened as soon as the gateway closes it.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use prost::Message as _;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::grpc_wire::{frame, status_of};
use crate::targets::{GATEWAY_MODEL, gateway_request};

/// Pause before retrying when the gateway gave no pushback, or the connection failed.
const RETRY_AFTER: Duration = Duration::from_millis(100);

/// How a kind of abuser misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Sends half of each request and never ends it.
    NeverFinishing,
    /// Sends complete requests and never reads the answers.
    NeverReading,
}

impl Kind {
    /// The name reports use.
    pub fn name(self) -> &'static str {
        match self {
            Kind::NeverFinishing => "never-finishing",
            Kind::NeverReading => "never-reading",
        }
    }
}

/// One kind of abuser, as many clients as asked.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// What they do.
    pub kind: Kind,
    /// The loopback address they connect from.
    pub source: Ipv4Addr,
    /// Clients, each with one call open at a time.
    pub clients: usize,
    /// HTTP/2 connections they share (clients / connections must stay within the gateway's
    /// `server.http2_max_concurrent_streams`).
    pub connections: usize,
    /// Client starts are spread over this.
    pub stagger: Duration,
    /// Never-reading: how long a stream is held before the client resets it.
    pub hold: Duration,
    /// Tokens asked for; never-reading ones ask for an answer that outlasts `hold`.
    pub max_tokens: u32,
}

/// What one kind of abuser saw, summed over its clients.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Seen {
    /// Calls opened.
    pub opened: u64,
    /// Calls answered with a final status in the response headers, by gRPC code name.
    pub refused: BTreeMap<String, u64>,
    /// Never-reading: calls the gateway started streaming (response headers without a status).
    pub streaming: u64,
    /// Never-reading: streams the client reset after holding them.
    pub reset_after_hold: u64,
    /// Connection or protocol failures.
    pub failures: u64,
    /// The first failure, if any.
    pub first_failure: Option<String>,
}

impl Seen {
    fn refused(&mut self, code: String) {
        *self.refused.entry(code).or_default() += 1;
    }

    fn failed(&mut self, err: impl std::fmt::Display) {
        self.failures += 1;
        self.first_failure.get_or_insert_with(|| err.to_string());
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: Seen) {
        self.opened += other.opened;
        for (code, count) in other.refused {
            *self.refused.entry(code).or_default() += count;
        }
        self.streaming += other.streaming;
        self.reset_after_hold += other.reset_after_hold;
        self.failures += other.failures;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }
}

/// Running abusers, until [`Abusers::stop`].
#[derive(Debug)]
pub struct Abusers {
    clients: JoinSet<(usize, Seen)>,
    connections: JoinSet<()>,
    stop: CancellationToken,
    kinds: usize,
}

impl Abusers {
    /// Connects every plan's connections to `gateway` and starts its clients.
    pub async fn start(gateway: SocketAddr, plans: &[Plan]) -> std::io::Result<Abusers> {
        let mut abusers = Abusers {
            clients: JoinSet::new(),
            connections: JoinSet::new(),
            stop: CancellationToken::new(),
            kinds: plans.len(),
        };
        for (index, plan) in plans.iter().enumerate() {
            let mut senders = Vec::new();
            for _ in 0..plan.connections.max(1) {
                senders.push(abusers.connect(gateway, plan).await?);
            }
            for client in 0..plan.clients {
                let sender = senders[client % senders.len()].clone();
                let delay = plan.stagger.mul_f64(client as f64 / plan.clients as f64);
                let (plan, stop) = (*plan, abusers.stop.clone());
                abusers.clients.spawn(async move {
                    let mut seen = Seen::default();
                    tokio::select! {
                        () = stop.cancelled() => {}
                        () = async {
                            tokio::time::sleep(delay).await;
                            match plan.kind {
                                Kind::NeverFinishing => never_finish(sender, plan, &mut seen).await,
                                Kind::NeverReading => never_read(sender, plan, &mut seen).await,
                            }
                        } => {}
                    }
                    (index, seen)
                });
            }
        }
        Ok(abusers)
    }

    async fn connect(&mut self, gateway: SocketAddr, plan: &Plan) -> std::io::Result<SendRequest<Bytes>> {
        let tcp = connect_from(plan.source, gateway).await?;
        let window = match plan.kind {
            Kind::NeverFinishing => 65_535,
            Kind::NeverReading => 0,
        };
        let (sender, connection) = h2::client::Builder::new()
            .initial_window_size(window)
            .handshake(tcp)
            .await
            .map_err(std::io::Error::other)?;
        self.connections.spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// Stops every client and closes their connections; returns what each plan's clients saw.
    pub async fn stop(mut self) -> Vec<Seen> {
        self.stop.cancel();
        let mut seen = vec![Seen::default(); self.kinds];
        while let Some(joined) = self.clients.join_next().await {
            if let Ok((index, counts)) = joined {
                seen[index].merge(counts);
            }
        }
        self.connections.abort_all();
        while self.connections.join_next().await.is_some() {}
        seen
    }
}

/// What the connection flood saw, summed over its connections.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FloodSeen {
    /// Connections opened (the TCP handshake completed).
    pub opened: u64,
    /// Connections the gateway closed.
    pub closed_by_gateway: u64,
    /// Connection attempts that failed.
    pub connect_failures: u64,
    /// The first failure, if any.
    pub first_failure: Option<String>,
}

impl FloodSeen {
    fn merge(&mut self, other: FloodSeen) {
        self.opened += other.opened;
        self.closed_by_gateway += other.closed_by_gateway;
        self.connect_failures += other.connect_failures;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }
}

/// One address holding as many connections to the gateway as it can, until [`ConnectionFlood::stop`]:
/// each of its connections sends the HTTP/2 preface (so the gateway's handshake timeout does not
/// close it) and then nothing, and is reopened after a pause once the gateway closes it. Raw TCP
/// rather than an HTTP/2 client keeps 10,000 of them cheap for the load generator.
#[derive(Debug)]
pub struct ConnectionFlood {
    connections: JoinSet<FloodSeen>,
    stop: CancellationToken,
    open: Arc<AtomicU64>,
}

impl ConnectionFlood {
    /// Starts `connections` connections from `source` to `gateway`, their first openings spread
    /// over `ramp`, each reopened `refill_pause` after the gateway closed it.
    pub fn start(
        gateway: SocketAddr,
        source: Ipv4Addr,
        connections: usize,
        ramp: Duration,
        refill_pause: Duration,
    ) -> ConnectionFlood {
        let mut flood =
            ConnectionFlood { connections: JoinSet::new(), stop: CancellationToken::new(), open: Arc::default() };
        for index in 0..connections {
            let delay = ramp.mul_f64(index as f64 / connections as f64);
            let (stop, open) = (flood.stop.clone(), Arc::clone(&flood.open));
            flood.connections.spawn(async move {
                let mut seen = FloodSeen::default();
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = async {
                        tokio::time::sleep(delay).await;
                        hold_connection(gateway, source, refill_pause, &open, &mut seen).await;
                    } => {}
                }
                seen
            });
        }
        flood
    }

    /// Its connections open now: connected and not yet closed by the gateway.
    pub fn open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Closes every connection; returns what they saw.
    pub async fn stop(mut self) -> FloodSeen {
        self.stop.cancel();
        let mut seen = FloodSeen::default();
        while let Some(joined) = self.connections.join_next().await {
            if let Ok(counts) = joined {
                seen.merge(counts);
            }
        }
        seen
    }
}

/// The client's HTTP/2 connection preface: the magic, then an empty SETTINGS frame.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";

/// Keeps one connection open from `source`, reopening it whenever the gateway closes it, forever.
async fn hold_connection(
    gateway: SocketAddr,
    source: Ipv4Addr,
    refill_pause: Duration,
    open: &AtomicU64,
    seen: &mut FloodSeen,
) {
    loop {
        match connect_from(source, gateway).await {
            Ok(mut tcp) => {
                seen.opened += 1;
                let _open = Counted::new(open);
                let mut discard = [0; 256];
                if tcp.write_all(PREFACE).await.is_ok() {
                    while tcp.read(&mut discard).await.is_ok_and(|read| read > 0) {}
                }
                seen.closed_by_gateway += 1;
            }
            Err(err) => {
                seen.connect_failures += 1;
                seen.first_failure.get_or_insert_with(|| err.to_string());
            }
        }
        tokio::time::sleep(refill_pause).await;
    }
}

/// One in `count` while it lives, also when its task is cancelled.
struct Counted<'a>(&'a AtomicU64);

impl<'a> Counted<'a> {
    fn new(count: &'a AtomicU64) -> Counted<'a> {
        count.fetch_add(1, Ordering::Relaxed);
        Counted(count)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A TCP connection to `gateway` from the loopback address `source`.
async fn connect_from(source: Ipv4Addr, gateway: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    socket.connect(gateway).await
}

/// Opens calls that send half of their message, one after the other, forever.
async fn never_finish(mut sender: SendRequest<Bytes>, plan: Plan, seen: &mut Seen) {
    let frame = grpc_frame(plan.max_tokens);
    let half = frame.slice(..frame.len() / 2);
    loop {
        sender = match sender.ready().await {
            Ok(sender) => sender,
            Err(err) => return seen.failed(err),
        };
        let (response, mut body) = match sender.send_request(grpc_call(), false) {
            Ok(sent) => sent,
            Err(err) => return seen.failed(err),
        };
        seen.opened += 1;
        if let Err(err) = body.send_data(half.clone(), false) {
            return seen.failed(err);
        }
        // The request side stays open (`body` alive) until the gateway answers.
        match response.await {
            Ok(response) => seen.refused(status_of(response.headers()).unwrap_or_else(|| "none".to_owned())),
            Err(err) => {
                seen.failed(err);
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
        drop(body);
    }
}

/// Opens calls for a long answer and reads none of it, one after the other, forever.
async fn never_read(mut sender: SendRequest<Bytes>, plan: Plan, seen: &mut Seen) {
    let frame = grpc_frame(plan.max_tokens);
    loop {
        sender = match sender.ready().await {
            Ok(sender) => sender,
            Err(err) => return seen.failed(err),
        };
        let (response, mut body) = match sender.send_request(grpc_call(), false) {
            Ok(sent) => sent,
            Err(err) => return seen.failed(err),
        };
        seen.opened += 1;
        if let Err(err) = body.send_data(frame.clone(), true) {
            return seen.failed(err);
        }
        match response.await {
            Ok(response) => match status_of(response.headers()) {
                Some(code) => {
                    seen.refused(code);
                    tokio::time::sleep(pushback(response.headers())).await;
                }
                None => {
                    seen.streaming += 1;
                    tokio::time::sleep(plan.hold).await;
                    // Dropping the response and the request side resets the stream.
                    drop(response);
                    seen.reset_after_hold += 1;
                }
            },
            Err(err) => {
                seen.failed(err);
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
}

/// The headers of a ConverseStream call.
fn grpc_call() -> http::Request<()> {
    http::Request::post("http://gateway.bench/bedrock.gateway.v1.GatewayService/ConverseStream")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .expect("a constant request is valid")
}

/// A request for `max_tokens` tokens as one length-prefixed gRPC message.
fn grpc_frame(max_tokens: u32) -> Bytes {
    frame(&gateway_request(GATEWAY_MODEL, max_tokens).encode_to_vec())
}

fn pushback(headers: &http::HeaderMap) -> Duration {
    headers
        .get("grpc-retry-pushback-ms")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .map_or(RETRY_AFTER, Duration::from_millis)
}
