//! Caps the requests in flight, streams included. A permit is held by the response body, so a
//! stream counts until its last event is sent or the client goes away, not just until its headers.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::server::NamedService;
use tower::{Layer, Service};

use crate::error::GatewayError;

/// Layer for [`InFlightLimit`].
#[derive(Debug, Clone)]
pub struct InFlightLimitLayer {
    permits: Arc<Semaphore>,
    limit: usize,
}

impl InFlightLimitLayer {
    /// Allows at most `limit` requests in flight across every service this layer wraps.
    pub fn new(limit: usize) -> Self {
        InFlightLimitLayer { permits: Arc::new(Semaphore::new(limit)), limit }
    }
}

impl<S> Layer<S> for InFlightLimitLayer {
    type Service = InFlightLimit<S>;

    fn layer(&self, inner: S) -> InFlightLimit<S> {
        InFlightLimit { inner, permits: Arc::clone(&self.permits), limit: self.limit }
    }
}

/// Rejects requests beyond the limit with RESOURCE_EXHAUSTED instead of queueing them, so a
/// saturated task sheds load quickly and clients retry elsewhere.
#[derive(Debug, Clone)]
pub struct InFlightLimit<S> {
    inner: S,
    permits: Arc<Semaphore>,
    limit: usize,
}

impl<S: NamedService> NamedService for InFlightLimit<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, ReqBody> Service<http::Request<ReqBody>> for InFlightLimit<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            let status = GatewayError::AtCapacity { limit: self.limit }.to_status("");
            return Box::pin(std::future::ready(Ok(status.into_http())));
        };
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| tonic::body::Body::new(PermitBody { body, _permit: permit })))
        })
    }
}

pin_project_lite::pin_project! {
    /// A response body that returns its permit when dropped.
    struct PermitBody {
        #[pin]
        body: tonic::body::Body,
        _permit: OwnedSemaphorePermit,
    }
}

impl Body for PermitBody {
    type Data = <tonic::body::Body as Body>::Data;
    type Error = <tonic::body::Body as Body>::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
