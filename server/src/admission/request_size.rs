//! Rejects oversized requests with RESOURCE_EXHAUSTED, as soon as the gRPC message header declares
//! a length over the limit, before the body is buffered. (tonic's own limit answers OUT_OF_RANGE,
//! which tells a client nothing useful about what to change.) A refusal is logged with reason `size`.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use tonic::Status;
use tonic::server::NamedService;
use tower::{Layer, Service};

use crate::error::GatewayError;
use crate::metrics::Rejection;
use crate::request_log::RequestLog;

/// A gRPC message starts with a compression flag byte and a 4-byte big-endian length.
const MESSAGE_PREFIX_LEN: usize = 5;

/// Layer for [`RequestSizeLimit`].
#[derive(Debug, Clone, Copy)]
pub struct RequestSizeLimitLayer {
    limit: usize,
}

impl RequestSizeLimitLayer {
    /// Allows request messages of at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        RequestSizeLimitLayer { limit }
    }
}

impl<S> Layer<S> for RequestSizeLimitLayer {
    type Service = RequestSizeLimit<S>;

    fn layer(&self, inner: S) -> RequestSizeLimit<S> {
        RequestSizeLimit { inner, limit: self.limit }
    }
}

/// Wraps each request body in a [`LimitedBody`].
#[derive(Debug, Clone)]
pub struct RequestSizeLimit<S> {
    inner: S,
    limit: usize,
}

impl<S: NamedService> NamedService for RequestSizeLimit<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, ReqBody> Service<http::Request<ReqBody>> for RequestSizeLimit<S>
where
    S: Service<http::Request<LimitedBody<ReqBody>>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> S::Future {
        let limit = self.limit;
        let log = request.extensions().get::<RequestLog>().cloned();
        self.inner.call(request.map(|body| LimitedBody { body, limit, prefix: [0; MESSAGE_PREFIX_LEN], seen: 0, log }))
    }
}

pin_project_lite::pin_project! {
    /// A request body that fails with RESOURCE_EXHAUSTED once it is known to exceed the limit.
    #[derive(Debug)]
    pub struct LimitedBody<B> {
        #[pin]
        body: B,
        limit: usize,
        prefix: [u8; MESSAGE_PREFIX_LEN],
        // Bytes received so far; the first MESSAGE_PREFIX_LEN of them are in `prefix`.
        seen: usize,
        log: Option<RequestLog>,
    }
}

impl<B> Body for LimitedBody<B>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Status;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, Status>>> {
        let this = self.project();
        let frame = match std::task::ready!(this.body.poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(err)) => return Poll::Ready(Some(Err(Status::from_error(err.into())))),
            None => return Poll::Ready(None),
        };
        if let Some(data) = frame.data_ref() {
            let filled = (*this.seen).min(MESSAGE_PREFIX_LEN);
            let chunk = data.chunk();
            let wanted = (MESSAGE_PREFIX_LEN - filled).min(chunk.len());
            this.prefix[filled..filled + wanted].copy_from_slice(&chunk[..wanted]);
            *this.seen += data.remaining();
            let declared = (*this.seen >= MESSAGE_PREFIX_LEN)
                .then(|| u32::from_be_bytes([this.prefix[1], this.prefix[2], this.prefix[3], this.prefix[4]]) as usize);
            let too_large =
                declared.is_some_and(|len| len > *this.limit) || *this.seen > *this.limit + MESSAGE_PREFIX_LEN;
            if too_large {
                let err = GatewayError::RequestTooLarge { limit: *this.limit };
                if let Some(log) = this.log {
                    log.refused(Rejection::Size, &err);
                }
                let request_id = this.log.as_ref().map(RequestLog::request_id).unwrap_or_default();
                return Poll::Ready(Some(Err(err.to_status(request_id))));
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

    fn limited(chunks: Vec<&'static [u8]>, limit: usize) -> LimitedBody<impl Body<Data = Bytes, Error = Status>> {
        let frames = chunks.into_iter().map(|chunk| Ok::<_, Status>(Frame::data(Bytes::from_static(chunk))));
        LimitedBody { body: StreamBody::new(futures::stream::iter(frames)), limit, prefix: [0; 5], seen: 0, log: None }
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_even_when_the_prefix_is_split() {
        // Compression flag 0, then a declared length of 2000 bytes, split over two chunks.
        let mut body = limited(vec![&[0, 0, 0], &[0x07, 0xD0, 1, 2]], 1024);
        assert!(body.frame().await.unwrap().is_ok(), "the first chunk does not yet say how long");
        let status = body.frame().await.unwrap().unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    }

    #[tokio::test]
    async fn a_message_within_the_limit_passes() {
        let mut body = limited(vec![&[0, 0, 0, 0, 3], &[1, 2, 3]], 1024);
        while let Some(frame) = body.frame().await {
            assert!(frame.is_ok());
        }
    }
}
