//! Bounds on the request message while it arrives, before tonic buffers and decodes it:
//!
//! - **size**: refused with RESOURCE_EXHAUSTED as soon as the gRPC message header declares a length
//!   over `server.max_request_bytes` (tonic's own limit answers OUT_OF_RANGE, which tells a client
//!   nothing useful about what to change); logged with reason `size`;
//! - **time**: tonic reads the whole request (its one message and the end of the stream) before
//!   calling the service, so a client that sends slowly, or never ends its request, would otherwise
//!   hold a stream and memory as long as it likes; past `server.request_receive_timeout_secs` it is
//!   refused with DEADLINE_EXCEEDED, logged with reason `receive_timeout`;
//! - **memory**: every byte received is charged to one budget shared by all requests,
//!   `server.max_buffered_request_bytes`, and stays charged ([`RequestMemory`]) until the service
//!   has handed the request to Bedrock, since the decoded request, its conversion and the SDK's
//!   serialized body all live until then. A request that does not fit is refused with
//!   RESOURCE_EXHAUSTED and a short pushback, logged with reason `request_memory`. Bytes are charged
//!   as they arrive, not as declared, so a client that declares a large message and sends nothing
//!   holds nothing. This is what ties the gateway's memory to its task size: see README.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tonic::Status;
use tonic::server::NamedService;
use tower::{Layer, Service};

use crate::error::GatewayError;
use crate::metrics::Rejection;
use crate::request_log::RequestLog;

/// A gRPC message starts with a compression flag byte and a 4-byte big-endian length.
const MESSAGE_PREFIX_LEN: usize = 5;

/// Layer for [`RequestBodyLimit`].
#[derive(Debug, Clone)]
pub struct RequestBodyLimitLayer {
    max_bytes: usize,
    receive_timeout: Duration,
    budget: Arc<Semaphore>,
    budget_bytes: usize,
}

impl RequestBodyLimitLayer {
    /// Request messages of at most `max_bytes`, arriving completely within `receive_timeout`, with
    /// at most `budget_bytes` of all requests' bytes held at once.
    pub fn new(max_bytes: usize, receive_timeout: Duration, budget_bytes: usize) -> Self {
        RequestBodyLimitLayer {
            max_bytes,
            receive_timeout,
            budget: Arc::new(Semaphore::new(budget_bytes)),
            budget_bytes,
        }
    }
}

/// The request bytes a request holds in the memory budget; in the request's extensions, so the
/// service can give them back once Bedrock has the request.
#[derive(Debug, Clone, Default)]
pub struct RequestMemory(Arc<Mutex<Option<OwnedSemaphorePermit>>>);

impl RequestMemory {
    fn charge(&self, bytes: OwnedSemaphorePermit) {
        let mut held = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match held.as_mut() {
            Some(held) => held.merge(bytes),
            None => *held = Some(bytes),
        }
    }

    /// Gives the request's bytes back to the budget.
    pub fn release(&self) {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
    }
}

impl<S> Layer<S> for RequestBodyLimitLayer {
    type Service = RequestBodyLimit<S>;

    fn layer(&self, inner: S) -> RequestBodyLimit<S> {
        RequestBodyLimit { inner, limits: self.clone() }
    }
}

/// Wraps each request body in a [`BoundedBody`].
#[derive(Debug, Clone)]
pub struct RequestBodyLimit<S> {
    inner: S,
    limits: RequestBodyLimitLayer,
}

impl<S: NamedService> NamedService for RequestBodyLimit<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, ReqBody> Service<http::Request<ReqBody>> for RequestBodyLimit<S>
where
    S: Service<http::Request<BoundedBody<ReqBody>>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> S::Future {
        let log = request.extensions().get::<RequestLog>().cloned();
        let memory = RequestMemory::default();
        request.extensions_mut().insert(memory.clone());
        let limits = self.limits.clone();
        self.inner.call(request.map(|body| BoundedBody::new(body, limits, memory, log)))
    }
}

pin_project_lite::pin_project! {
    /// A request body that fails once it is known to exceed its size or its time.
    #[derive(Debug)]
    pub struct BoundedBody<B> {
        #[pin]
        body: B,
        limits: RequestBodyLimitLayer,
        deadline: Pin<Box<Sleep>>,
        prefix: [u8; MESSAGE_PREFIX_LEN],
        // Bytes received so far; the first MESSAGE_PREFIX_LEN of them are in `prefix`.
        seen: usize,
        memory: RequestMemory,
        log: Option<RequestLog>,
    }
}

impl<B> BoundedBody<B> {
    fn new(body: B, limits: RequestBodyLimitLayer, memory: RequestMemory, log: Option<RequestLog>) -> Self {
        let deadline = Box::pin(tokio::time::sleep(limits.receive_timeout));
        BoundedBody { body, limits, deadline, prefix: [0; MESSAGE_PREFIX_LEN], seen: 0, memory, log }
    }
}

/// Records the refusal in the request's log line and makes its status.
fn refuse(log: Option<&RequestLog>, reason: Rejection, err: &GatewayError) -> Status {
    if let Some(log) = log {
        log.refused(reason, err);
    }
    err.to_status(log.map(RequestLog::request_id).unwrap_or_default())
}

impl<B> Body for BoundedBody<B>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Status;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, Status>>> {
        let this = self.project();
        // Checked before reading, so a client trickling bytes cannot outrun the deadline.
        if this.deadline.is_elapsed() {
            let err = GatewayError::RequestNotReceived(this.limits.receive_timeout);
            return Poll::Ready(Some(Err(refuse(this.log.as_ref(), Rejection::ReceiveTimeout, &err))));
        }
        let frame = match this.body.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(err))) => return Poll::Ready(Some(Err(Status::from_error(err.into())))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {
                if this.deadline.as_mut().poll(cx).is_ready() {
                    // Woken by the deadline: report it on the next poll, right away.
                    cx.waker().wake_by_ref();
                }
                return Poll::Pending;
            }
        };
        if let Some(data) = frame.data_ref() {
            let filled = (*this.seen).min(MESSAGE_PREFIX_LEN);
            let chunk = data.chunk();
            let wanted = (MESSAGE_PREFIX_LEN - filled).min(chunk.len());
            this.prefix[filled..filled + wanted].copy_from_slice(&chunk[..wanted]);
            *this.seen += data.remaining();
            let declared = (*this.seen >= MESSAGE_PREFIX_LEN)
                .then(|| u32::from_be_bytes([this.prefix[1], this.prefix[2], this.prefix[3], this.prefix[4]]) as usize);
            let limit = this.limits.max_bytes;
            if declared.is_some_and(|len| len > limit) || *this.seen > limit + MESSAGE_PREFIX_LEN {
                let err = GatewayError::RequestTooLarge { limit };
                return Poll::Ready(Some(Err(refuse(this.log.as_ref(), Rejection::Size, &err))));
            }
            let charged = u32::try_from(data.remaining())
                .ok()
                .and_then(|bytes| Arc::clone(&this.limits.budget).try_acquire_many_owned(bytes).ok());
            match charged {
                Some(bytes) => this.memory.charge(bytes),
                None => {
                    let err = GatewayError::RequestMemoryFull { budget: this.limits.budget_bytes };
                    return Poll::Ready(Some(Err(refuse(this.log.as_ref(), Rejection::RequestMemory, &err))));
                }
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http_body_util::{BodyExt, StreamBody};

    use super::*;

    fn bounded(chunks: Vec<&'static [u8]>, max_bytes: usize) -> BoundedBody<impl Body<Data = Bytes, Error = Status>> {
        let frames = chunks.into_iter().map(|chunk| Ok::<_, Status>(Frame::data(Bytes::from_static(chunk))));
        let limits = RequestBodyLimitLayer::new(max_bytes, Duration::from_secs(10), 4096);
        BoundedBody::new(StreamBody::new(futures::stream::iter(frames)), limits, RequestMemory::default(), None)
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_even_when_the_prefix_is_split() {
        // Compression flag 0, then a declared length of 2000 bytes, split over two chunks.
        let mut body = bounded(vec![&[0, 0, 0], &[0x07, 0xD0, 1, 2]], 1024);
        assert!(body.frame().await.unwrap().is_ok(), "the first chunk does not yet say how long");
        let status = body.frame().await.unwrap().unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    }

    #[tokio::test]
    async fn a_message_within_the_limit_passes() {
        let mut body = bounded(vec![&[0, 0, 0, 0, 3], &[1, 2, 3]], 1024);
        while let Some(frame) = body.frame().await {
            assert!(frame.is_ok());
        }
    }

    #[tokio::test]
    async fn bytes_stay_charged_until_released_and_a_full_budget_refuses() {
        let limits = RequestBodyLimitLayer::new(1024, Duration::from_secs(10), 16);
        let first = RequestMemory::default();
        let frames = [Ok::<_, Status>(Frame::data(Bytes::from_static(&[0, 0, 0, 0, 7, 1, 2, 3, 4, 5, 6, 7])))];
        let mut body =
            BoundedBody::new(StreamBody::new(futures::stream::iter(frames)), limits.clone(), first.clone(), None);
        while let Some(frame) = body.frame().await {
            frame.unwrap();
        }
        drop(body);
        assert_eq!(limits.budget.available_permits(), 4, "12 bytes held after the body is gone");
        let second = [Ok::<_, Status>(Frame::data(Bytes::from_static(&[0, 0, 0, 0, 7, 1, 2, 3, 4, 5, 6, 7])))];
        let mut body = BoundedBody::new(
            StreamBody::new(futures::stream::iter(second)),
            limits.clone(),
            RequestMemory::default(),
            None,
        );
        let status = body.frame().await.unwrap().unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        first.release();
        assert_eq!(limits.budget.available_permits(), 16);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_still_arriving_at_its_deadline_is_refused() {
        let never_ends = StreamBody::new(futures::stream::pending::<Result<Frame<Bytes>, Status>>());
        let limits = RequestBodyLimitLayer::new(1024, Duration::from_secs(1), 4096);
        let mut body = BoundedBody::new(never_ends, limits, RequestMemory::default(), None);
        let status = body.frame().await.unwrap().unwrap_err();
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
    }
}
