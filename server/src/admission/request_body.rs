//! Bounds on the request message while it arrives, before tonic buffers and decodes it:
//!
//! - **size**: refused with RESOURCE_EXHAUSTED as soon as the gRPC message header declares a length
//!   over `server.max_request_bytes` (tonic's own limit answers OUT_OF_RANGE, which tells a client
//!   nothing useful about what to change); logged with reason `size`;
//! - **time**: tonic reads the whole request (its one message and the end of the stream) before
//!   calling the service, so a client that sends slowly, or never ends its request, would otherwise
//!   hold a stream and memory as long as it likes; past `server.request_receive_timeout_secs` it is
//!   refused with DEADLINE_EXCEEDED, logged with reason `receive_timeout`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
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
#[derive(Debug, Clone, Copy)]
pub struct RequestBodyLimitLayer {
    max_bytes: usize,
    receive_timeout: Duration,
}

impl RequestBodyLimitLayer {
    /// Request messages of at most `max_bytes`, arriving completely within `receive_timeout`.
    pub fn new(max_bytes: usize, receive_timeout: Duration) -> Self {
        RequestBodyLimitLayer { max_bytes, receive_timeout }
    }
}

impl<S> Layer<S> for RequestBodyLimitLayer {
    type Service = RequestBodyLimit<S>;

    fn layer(&self, inner: S) -> RequestBodyLimit<S> {
        RequestBodyLimit { inner, limits: *self }
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

    fn call(&mut self, request: http::Request<ReqBody>) -> S::Future {
        let log = request.extensions().get::<RequestLog>().cloned();
        let limits = self.limits;
        self.inner.call(request.map(|body| BoundedBody::new(body, limits, log)))
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
        log: Option<RequestLog>,
    }
}

impl<B> BoundedBody<B> {
    fn new(body: B, limits: RequestBodyLimitLayer, log: Option<RequestLog>) -> Self {
        let deadline = Box::pin(tokio::time::sleep(limits.receive_timeout));
        BoundedBody { body, limits, deadline, prefix: [0; MESSAGE_PREFIX_LEN], seen: 0, log }
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
        let limits = RequestBodyLimitLayer::new(max_bytes, Duration::from_secs(10));
        BoundedBody::new(StreamBody::new(futures::stream::iter(frames)), limits, None)
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

    #[tokio::test(start_paused = true)]
    async fn a_body_still_arriving_at_its_deadline_is_refused() {
        let never_ends = StreamBody::new(futures::stream::pending::<Result<Frame<Bytes>, Status>>());
        let limits = RequestBodyLimitLayer::new(1024, Duration::from_secs(1));
        let mut body = BoundedBody::new(never_ends, limits, None);
        let status = body.frame().await.unwrap().unwrap_err();
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
    }
}
