//! Serving connections: every accepted connection runs hyper's server over the gateway's routes in
//! its own task, with the bounds tonic's own serve loop cannot give per connection. A connection
//! speaks HTTP/2 (gRPC, and HTTP clients that choose it) or HTTP/1.1 (the HTTP doors' clients:
//! most SDKs' HTTP stacks), decided by its first bytes or by TLS's ALPN.
//!
//! - **Handshake timeout**: a connection that has not sent its HTTP/2 preface, or the head of its
//!   first HTTP/1.1 request, within `server.handshake_timeout_secs` (after any PROXY header) is
//!   closed, so silent connections cannot hold `server.max_connections` slots. Later HTTP/1.1
//!   request heads get the same time.
//! - **Idle**: a connection that has carried no request for `server.max_connection_idle_secs` is
//!   sent GOAWAY (HTTP/1.1: closed) and closes, so an abandoned or hoarded connection gives its
//!   `max_connections` place back before its maximum age. HTTP/2 pings keep a connection alive but
//!   do not make it busy: [`OpenStreams`] counts each stream from its call until its response body
//!   is dropped, and the idle time runs while that count is zero.
//! - **Maximum age**: after `server.max_connection_age_secs`, jittered per connection, the
//!   connection is sent GOAWAY: in-flight streams continue, new ones go to a new connection (an
//!   HTTP/1.1 connection answers its request in flight with `connection: close`). The NLB
//!   balances per TCP connection, so without this a task added by scale-out would only ever see
//!   clients that happen to connect anew.
//! - **Cut**: each connection has a [`ConnectionCut`], a child of the server-wide cut token, in
//!   every request's extensions. It fires when the age grace ends or when the shutdown grace does;
//!   the cut streams then get [`CUT_FLUSH`] to send their final status before the connection is
//!   dropped. A stream is never reset silently when its final status could still be sent.
//! - **Drain**: on shutdown every connection is sent GOAWAY (HTTP/1.1: `connection: close`; one
//!   still in its PROXY header or TLS handshake is closed), and [`Connections::serve`] returns once
//!   all have closed.
//! - **Reset**: each HTTP/2 stream's task is spawned so that the gateway can reset it, and its
//!   [`StreamReset`] is in its request's extensions (see [`crate::pipeline::stream_reset`]). An
//!   HTTP/1.1 request runs in its connection's task, which ends at the connection's cut.

use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ServerConfig;
use crate::edge::Edge;
use crate::pipeline::peer::{ConnectionCut, Peer};
use crate::pipeline::stream_reset::{StreamExecutor, StreamReset};
use crate::transport::listener::{Accepted, Setup};

/// How long cut streams get to send their final status before their connection is dropped.
const CUT_FLUSH: Duration = Duration::from_secs(2);

/// Reset-flood protection, fixed rather than configured: these bound abuse, not load. No honest
/// gRPC client comes near them, and their right values follow from how h2 works, not from a
/// deployment. Streams a client may open and reset before the server has accepted them (the
/// "rapid reset" attack, CVE-2023-44487); more and the connection gets GOAWAY. h2's default.
const MAX_PENDING_ACCEPT_RESET_STREAMS: usize = 20;
/// Streams the server may reset because of the client's protocol errors before it closes the
/// connection, so a client cannot make the server do the resetting instead. h2's default, which
/// tonic's own builder turns off.
const MAX_LOCAL_ERROR_RESET_STREAMS: usize = 1024;

/// The client's connection preface is this magic followed by a SETTINGS frame (RFC 9113, 3.4).
const PREFACE_MAGIC_LEN: usize = 24;
/// The magic's first bytes, which no HTTP/1.1 request line starts with.
const PREFACE_START: &[u8; 4] = b"PRI ";
/// An HTTP/1.1 request head ends with an empty line.
const HEAD_END: u32 = u32::from_be_bytes(*b"\r\n\r\n");
/// Every HTTP/2 frame starts with a 9-byte header whose first 3 bytes are the payload length.
const FRAME_HEADER_LEN: usize = 9;

/// How every connection is served: its setup, HTTP settings, routes and time bounds.
#[derive(Debug, Clone)]
pub struct Connections {
    setup: Arc<Setup>,
    http: Builder<StreamExecutor>,
    routes: Edge,
    handshake_timeout: Duration,
    max_idle: Duration,
    max_age: Duration,
    max_age_grace: Duration,
}

impl Connections {
    /// Serves `routes`, behind the admission edge, with the HTTP settings and connection bounds of
    /// `config`, after `setup`.
    pub fn new(config: &ServerConfig, routes: Edge, setup: Arc<Setup>) -> Connections {
        Connections {
            setup,
            http: http(config),
            routes,
            handshake_timeout: config.handshake_timeout_secs.get(),
            max_idle: config.max_connection_idle_secs.get(),
            max_age: config.max_connection_age_secs.get(),
            max_age_grace: config.max_connection_age_grace_secs.get(),
        }
    }

    /// Serves every connection that arrives on `accepted`, each in its own task on the current
    /// runtime, until the accept loop closes the channel (when `drain` is cancelled); returns once
    /// all have closed. `drain` sends GOAWAY on every connection and closes those not yet set up;
    /// cancelling `cut` cuts the streams still open on every connection.
    pub async fn serve(
        self,
        mut accepted: mpsc::UnboundedReceiver<Accepted>,
        drain: CancellationToken,
        cut: CancellationToken,
    ) {
        let connections = Arc::new(self);
        let open = TaskTracker::new();
        while let Some(connection) = accepted.recv().await {
            open.spawn(Arc::clone(&connections).serve_one(connection, drain.clone(), cut.child_token()));
        }
        open.close();
        open.wait().await;
    }

    async fn serve_one(self: Arc<Self>, accepted: Accepted, drain: CancellationToken, cut: CancellationToken) {
        let stream = tokio::select! {
            biased;
            () = drain.cancelled() => return,
            stream = self.setup.prepare(accepted) => match stream {
                Some(stream) => stream,
                None => return,
            },
        };
        let peer = stream.peer().clone();
        let (preface_seen, preface) = oneshot::channel();
        let stream = WatchPreface { io: stream, preface: Preface::default(), seen: Some(preface_seen) };
        let streams = OpenStreams::default();
        let service = WithConnection {
            routes: self.routes.clone(),
            peer: peer.clone(),
            cut: ConnectionCut(cut.clone()),
            streams: streams.clone(),
        };
        let mut connection = pin!(self.http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)));
        let mut handshake = pin!(tokio::time::timeout(self.handshake_timeout, preface));
        let mut awaiting_preface = true;
        let mut idle = pin!(tokio::time::sleep(self.max_idle));
        let retire_at = Instant::now() + jittered(self.max_age);
        let cut_at = retire_at + self.max_age_grace;
        let mut timer = pin!(tokio::time::sleep_until(retire_at));
        let mut phase = Phase::Open;
        let (addr, vpce) = (peer.addr, peer.vpc_endpoint_id.as_deref());
        loop {
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(err) = served {
                        tracing::debug!(peer = addr.map(tracing::field::display), error = %err, "connection failed");
                    }
                    return;
                }
                preface = &mut handshake, if awaiting_preface => {
                    awaiting_preface = false;
                    if preface.is_err() {
                        tracing::warn!(
                            peer = addr.map(tracing::field::display),
                            vpce,
                            timeout_secs = self.handshake_timeout.as_secs(),
                            "closed a connection that sent no HTTP/2 preface or HTTP/1.1 request head in time",
                        );
                        return;
                    }
                }
                () = streams.none_open(), if phase == Phase::Open => idle.as_mut().reset(Instant::now() + self.max_idle),
                () = &mut idle, if phase == Phase::Open => {
                    idle.as_mut().reset(Instant::now() + self.max_idle);
                    // A stream still open resets the idle time when it ends.
                    if streams.count() == 0 {
                        tracing::debug!(
                            peer = addr.map(tracing::field::display),
                            idle_secs = self.max_idle.as_secs(),
                            "connection carried no stream for server.max_connection_idle_secs; GOAWAY sent",
                        );
                        connection.as_mut().graceful_shutdown();
                        phase = Phase::Closing;
                        timer.as_mut().reset(cut_at);
                    }
                }
                () = drain.cancelled(), if phase == Phase::Open => {
                    connection.as_mut().graceful_shutdown();
                    phase = Phase::Closing;
                    timer.as_mut().reset(cut_at);
                }
                () = &mut timer => match phase {
                    Phase::Open => {
                        tracing::debug!(peer = addr.map(tracing::field::display), "connection reached its maximum age; GOAWAY sent");
                        connection.as_mut().graceful_shutdown();
                        phase = Phase::Closing;
                        timer.as_mut().reset(cut_at);
                    }
                    Phase::Closing => {
                        tracing::warn!(
                            peer = addr.map(tracing::field::display),
                            vpce,
                            "connection age grace elapsed; ending its open streams as incomplete",
                        );
                        cut.cancel();
                        phase = Phase::Cut;
                        timer.as_mut().reset(Instant::now() + CUT_FLUSH);
                    }
                    Phase::Cut => return,
                },
                () = cut.cancelled(), if phase != Phase::Cut => {
                    phase = Phase::Cut;
                    timer.as_mut().reset(Instant::now() + CUT_FLUSH);
                }
            }
        }
    }
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Accepting new streams until its maximum age.
    Open,
    /// GOAWAY sent (idle, age or drain): in-flight streams continue until the age grace ends.
    Closing,
    /// Its streams were cut and are sending their final status.
    Cut,
}

/// HTTP/2 with the keepalive, stream and header bounds of `config`, and HTTP/1.1 for the HTTP
/// doors' clients, whose request heads get `server.handshake_timeout_secs` and the same header
/// bound. gRPC is HTTP/2 only: tonic answers a gRPC request over HTTP/1.1 with an error.
fn http(config: &ServerConfig) -> Builder<StreamExecutor> {
    let mut builder = Builder::new(StreamExecutor);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.handshake_timeout_secs.get())
        // hyper's smallest read buffer is 8 KiB; the head must fit in it.
        .max_buf_size(config.http2_max_header_list_bytes.max(8192) as usize);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(config.http2_keepalive_interval_secs.get())
        .keep_alive_timeout(config.http2_keepalive_timeout_secs.get())
        .max_concurrent_streams(config.http2_max_concurrent_streams)
        .max_header_list_size(config.http2_max_header_list_bytes)
        .max_pending_accept_reset_streams(MAX_PENDING_ACCEPT_RESET_STREAMS)
        .max_local_error_reset_streams(MAX_LOCAL_ERROR_RESET_STREAMS);
    builder
}

/// `age` moved uniformly within +-10%, so that connections opened together (after a deploy, or
/// by a client starting up) are not all sent GOAWAY together.
fn jittered(age: Duration) -> Duration {
    age.mul_f64(0.9 + 0.2 * fastrand::f64())
}

/// The routes as one connection serves them: every request carries the connection's [`Peer`] and
/// [`ConnectionCut`], as tonic's own server inserts its connect info, and its stream's
/// [`StreamReset`] (hyper calls the routes in the stream's task); each is counted in the
/// connection's [`OpenStreams`] until its response body is dropped.
#[derive(Debug, Clone)]
struct WithConnection {
    routes: Edge,
    peer: Peer,
    cut: ConnectionCut,
    streams: OpenStreams,
}

impl<B, ResponseBody> tower::Service<http::Request<B>> for WithConnection
where
    Edge: tower::Service<http::Request<B>, Response = http::Response<ResponseBody>>,
{
    type Response = http::Response<Counted<ResponseBody>>;
    type Error = <Edge as tower::Service<http::Request<B>>>::Error;
    type Future = CountedResponse<<Edge as tower::Service<http::Request<B>>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.routes.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        request.extensions_mut().insert(self.peer.clone());
        request.extensions_mut().insert(self.cut.clone());
        request.extensions_mut().insert(StreamReset::of_this_task());
        CountedResponse { stream: Some(self.streams.open()), future: self.routes.call(request) }
    }
}

/// The streams open on one connection, and a wake-up when the last one ends.
#[derive(Debug, Clone, Default)]
struct OpenStreams(Arc<StreamCount>);

#[derive(Debug, Default)]
struct StreamCount {
    open: AtomicUsize,
    none_open: Notify,
}

impl OpenStreams {
    /// Counts one more stream, until the returned value is dropped.
    fn open(&self) -> OpenStream {
        self.0.open.fetch_add(1, Ordering::AcqRel);
        OpenStream(Arc::clone(&self.0))
    }

    fn count(&self) -> usize {
        self.0.open.load(Ordering::Acquire)
    }

    /// Completes when the count has gone to zero since the last call (at once if it did before).
    async fn none_open(&self) {
        self.0.none_open.notified().await;
    }
}

/// One stream's part of [`OpenStreams`].
#[derive(Debug)]
struct OpenStream(Arc<StreamCount>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Stores a wake-up if the connection's task is not waiting now.
            self.0.none_open.notify_one();
        }
    }
}

pin_project_lite::pin_project! {
    /// A call's response on its way: the stream stays counted while the call runs, then goes
    /// with the response body.
    struct CountedResponse<F> {
        #[pin]
        future: F,
        stream: Option<OpenStream>,
    }
}

impl<F, Body, E> Future for CountedResponse<F>
where
    F: Future<Output = Result<http::Response<Body>, E>>,
{
    type Output = Result<http::Response<Counted<Body>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.future.poll(cx))?;
        let stream = this.stream.take();
        Poll::Ready(Ok(response.map(|body| Counted { body, _stream: stream })))
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its stream counted until it is dropped: a streamed answer lives
    /// on after the call has returned.
    struct Counted<B> {
        #[pin]
        body: B,
        _stream: Option<OpenStream>,
    }
}

impl<B: http_body::Body> http_body::Body for Counted<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// How much of what opens the client's first request has been read: HTTP/2's connection preface
/// (the magic and the whole first SETTINGS frame), or the head of an HTTP/1.1 request (up to its
/// empty line), told apart by the first four bytes.
#[derive(Debug, Default)]
struct Preface {
    read: usize,
    first: [u8; 4],
    settings_len: usize,
    /// The last four bytes read.
    last: u32,
}

impl Preface {
    /// Accounts for `bytes`, the next ones read from the connection; true once the preface or the
    /// request head is complete. Validating them is hyper's job.
    fn read(&mut self, bytes: &[u8]) -> bool {
        let length_field = PREFACE_MAGIC_LEN..PREFACE_MAGIC_LEN + 3;
        let mut head_ended = false;
        for (position, &byte) in (self.read..).zip(bytes) {
            if let Some(first) = self.first.get_mut(position) {
                *first = byte;
            }
            if length_field.contains(&position) {
                self.settings_len = self.settings_len << 8 | usize::from(byte);
            }
            self.last = self.last << 8 | u32::from(byte);
            head_ended |= position >= 3 && self.last == HEAD_END;
        }
        self.read += bytes.len();
        if self.read < PREFACE_START.len() {
            return false;
        }
        if &self.first == PREFACE_START {
            self.read >= PREFACE_MAGIC_LEN + FRAME_HEADER_LEN + self.settings_len
        } else {
            head_ended
        }
    }
}

pin_project_lite::pin_project! {
    /// A connection that reports when the client's HTTP/2 preface or first HTTP/1.1 request head
    /// has been read through it, which hyper does not.
    struct WatchPreface<S> {
        #[pin]
        io: S,
        preface: Preface,
        seen: Option<oneshot::Sender<()>>,
    }
}

impl<S: AsyncRead> AsyncRead for WatchPreface<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        ready!(this.io.poll_read(cx, buf))?;
        if this.seen.is_some()
            && this.preface.read(&buf.filled()[before..])
            && let Some(seen) = this.seen.take()
        {
            let _ = seen.send(());
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite> AsyncWrite for WatchPreface<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The magic, then a SETTINGS frame carrying `settings`.
    fn preface(settings: &[u8]) -> Vec<u8> {
        let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        let len = u32::try_from(settings.len()).unwrap().to_be_bytes();
        bytes.extend_from_slice(&[len[1], len[2], len[3], 0x4, 0, 0, 0, 0, 0]);
        bytes.extend_from_slice(settings);
        bytes
    }

    #[test]
    fn the_preface_is_complete_after_the_whole_settings_frame_in_any_split() {
        let bytes = preface(&[0, 3, 0, 0, 0, 100]);
        for split in 0..bytes.len() {
            let mut progress = Preface::default();
            let (first, second) = bytes[..bytes.len() - 1].split_at(split);
            assert!(!progress.read(first), "split at {split}");
            assert!(!progress.read(second), "one byte short, split at {split}");
            assert!(progress.read(&bytes[bytes.len() - 1..]), "split at {split}");
        }
    }

    #[test]
    fn an_empty_settings_frame_completes_the_preface() {
        let mut progress = Preface::default();
        assert!(progress.read(&preface(&[])));
    }

    #[test]
    fn an_http1_request_head_completes_at_its_empty_line_in_any_split() {
        let bytes = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n\r\n{\"model\":\"chat\"}";
        let head_len = bytes.len() - 16;
        for split in 1..bytes.len() {
            let mut progress = Preface::default();
            let (first, second) = bytes.split_at(split);
            let done_first = progress.read(first);
            assert_eq!(done_first, split >= head_len, "split at {split}");
            assert!(done_first || progress.read(second), "split at {split}");
        }
        assert!(!Preface::default().read(b"GET / HTTP/1.1\r\nhost: x\r\n"), "the head has not ended");
    }

    #[test]
    fn a_large_settings_length_is_waited_for() {
        let mut progress = Preface::default();
        assert!(!progress.read(&preface(&[0; 300])[..PREFACE_MAGIC_LEN + FRAME_HEADER_LEN + 299]));
        assert!(progress.read(&[0]));
    }

    #[tokio::test]
    async fn a_stream_is_counted_until_its_response_body_is_dropped() {
        let streams = OpenStreams::default();
        let body = http_body_util::Empty::<bytes::Bytes>::new();
        let call = std::future::ready(Ok::<_, std::convert::Infallible>(http::Response::new(body)));
        let response = CountedResponse { future: call, stream: Some(streams.open()) }.await.unwrap();
        assert_eq!(streams.count(), 1, "the call has returned, its answer is still being sent");
        drop(response);
        assert_eq!(streams.count(), 0);
        tokio::time::timeout(Duration::from_secs(1), streams.none_open())
            .await
            .expect("the last stream's end wakes the connection, even if it was not waiting yet");
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..1000 {
            let age = jittered(Duration::from_secs(300));
            assert!((Duration::from_secs(270)..=Duration::from_secs(330)).contains(&age), "{age:?}");
        }
    }
}
