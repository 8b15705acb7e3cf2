//! gRPC health (`grpc.health.v1`), with what draining needs: both the whole server (`""`, which the
//! container health check and most load balancers ask for) and the gateway service turn
//! NOT_SERVING when shutdown begins, and open `Watch` streams, which would otherwise hold their
//! connections open through the drain, end right after they have said so.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bedrock_gateway_proto::v1::gateway_service_server::SERVICE_NAME;
use http_body::{Body, Frame, SizeHint};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tonic::server::NamedService;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::{Health as HealthService, HealthServer};
use tonic_health::server::HealthReporter;
use tower::Service;

/// The health service's reporter and the drain signal its streams end on.
#[derive(Debug, Clone)]
pub struct Health {
    reporter: HealthReporter,
    draining: CancellationToken,
}

impl Health {
    /// The health service, reporting SERVING for the server and the gateway service.
    pub async fn serving() -> (Health, EndOnDrain<HealthServer<impl HealthService>>) {
        let (reporter, service) = tonic_health::server::health_reporter();
        reporter.set_service_status("", ServingStatus::Serving).await;
        reporter.set_service_status(SERVICE_NAME, ServingStatus::Serving).await;
        let draining = CancellationToken::new();
        let service = EndOnDrain { inner: service, draining: draining.clone() };
        (Health { reporter, draining }, service)
    }

    /// Reports NOT_SERVING everywhere, then ends the `Watch` streams.
    pub async fn drain(&self) {
        self.reporter.set_service_status("", ServingStatus::NotServing).await;
        self.reporter.set_service_status(SERVICE_NAME, ServingStatus::NotServing).await;
        self.draining.cancel();
    }
}

/// Wraps the health service so its response bodies end when draining begins.
#[derive(Debug, Clone)]
pub struct EndOnDrain<S> {
    inner: S,
    draining: CancellationToken,
}

impl<S: NamedService> NamedService for EndOnDrain<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, ReqBody> Service<http::Request<ReqBody>> for EndOnDrain<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let response = self.inner.call(request);
        let draining = self.draining.clone();
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| {
                tonic::body::Body::new(DrainingBody { body, draining: Some(Box::pin(draining.cancelled_owned())) })
            }))
        })
    }
}

pin_project_lite::pin_project! {
    /// A response body that, once draining has begun and it has nothing more ready, ends with
    /// UNAVAILABLE so the client reconnects elsewhere.
    struct DrainingBody {
        #[pin]
        body: tonic::body::Body,
        draining: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    }
}

impl Body for DrainingBody {
    type Data = <tonic::body::Body as Body>::Data;
    type Error = <tonic::body::Body as Body>::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let Some(draining) = this.draining.as_mut() else { return Poll::Ready(None) };
        // What the service has ready (the NOT_SERVING update) goes out before the end.
        if let Poll::Ready(frame) = this.body.poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if draining.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        *this.draining = None;
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from(tonic::Code::Unavailable as i32));
        trailers.insert("grpc-message", http::HeaderValue::from_static("the server is draining; reconnect"));
        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
    }

    fn is_end_stream(&self) -> bool {
        self.draining.is_none() || self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
