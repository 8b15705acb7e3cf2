//! Bounds how long a request message may take to arrive. tonic reads the whole request (its one
//! message and the end of the stream) before calling the service, so a client that sends slowly,
//! or never ends its request, would otherwise hold a connection's stream and memory for as long as
//! it likes. A refusal is DEADLINE_EXCEEDED, logged with reason `receive_timeout`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;
use tonic::Status;
use tonic::server::NamedService;
use tower::{Layer, Service};

use crate::error::GatewayError;
use crate::metrics::Rejection;
use crate::request_log::RequestLog;

/// Layer for [`ReceiveTimeout`].
#[derive(Debug, Clone, Copy)]
pub struct ReceiveTimeoutLayer {
    timeout: Duration,
}

impl ReceiveTimeoutLayer {
    /// Requests must arrive completely within `timeout` of their headers.
    pub fn new(timeout: Duration) -> Self {
        ReceiveTimeoutLayer { timeout }
    }
}

impl<S> Layer<S> for ReceiveTimeoutLayer {
    type Service = ReceiveTimeout<S>;

    fn layer(&self, inner: S) -> ReceiveTimeout<S> {
        ReceiveTimeout { inner, timeout: self.timeout }
    }
}

/// Wraps each request body in a [`TimedBody`].
#[derive(Debug, Clone)]
pub struct ReceiveTimeout<S> {
    inner: S,
    timeout: Duration,
}

impl<S: NamedService> NamedService for ReceiveTimeout<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, ReqBody> Service<http::Request<ReqBody>> for ReceiveTimeout<S>
where
    S: Service<http::Request<TimedBody<ReqBody>>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> S::Future {
        let timeout = self.timeout;
        let log = request.extensions().get::<RequestLog>().cloned();
        let deadline = Box::pin(tokio::time::sleep(timeout));
        self.inner.call(request.map(|body| TimedBody { body, deadline, timeout, log }))
    }
}

pin_project_lite::pin_project! {
    /// A request body that fails with DEADLINE_EXCEEDED once its time to arrive is up.
    #[derive(Debug)]
    pub struct TimedBody<B> {
        #[pin]
        body: B,
        deadline: Pin<Box<Sleep>>,
        timeout: Duration,
        log: Option<RequestLog>,
    }
}

impl<B> Body for TimedBody<B>
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
            let err = GatewayError::RequestNotReceived(*this.timeout);
            if let Some(log) = this.log {
                log.refused(Rejection::ReceiveTimeout, &err);
            }
            let request_id = this.log.as_ref().map(RequestLog::request_id).unwrap_or_default();
            return Poll::Ready(Some(Err(err.to_status(request_id))));
        }
        match this.body.poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|frame| frame.map_err(|err| Status::from_error(err.into())))),
            Poll::Pending => {
                if this.deadline.as_mut().poll(cx).is_ready() {
                    // Woken by the deadline: report it on this same poll.
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
