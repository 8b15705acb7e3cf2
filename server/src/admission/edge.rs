//! The outermost layer of the gateway service: it gives each request its id, its span (a child of
//! the caller's W3C `traceparent`) and its [`RequestLog`] before any other layer can refuse it, and
//! tags every response with `x-request-id`. A refusal made by tonic itself (a message that does not decode) has no layer of
//! ours to record it, so the edge records it here from the status it sees.

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tonic::server::NamedService;
use tower::{Layer, Service};
use tracing::Instrument;

use crate::error::REQUEST_ID_HEADER;
use crate::listener::Peer;
use crate::metrics::Rejection;
use crate::request_log::RequestLog;
use crate::telemetry;

/// Layer for [`RequestEdge`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestEdgeLayer;

impl<S> Layer<S> for RequestEdgeLayer {
    type Service = RequestEdge<S>;

    fn layer(&self, inner: S) -> RequestEdge<S> {
        RequestEdge { inner }
    }
}

/// Starts each request's record; see the module documentation.
#[derive(Debug, Clone)]
pub struct RequestEdge<S> {
    inner: S,
}

impl<S: NamedService> NamedService for RequestEdge<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, ReqBody> Service<http::Request<ReqBody>> for RequestEdge<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        let (span, trace_id) = telemetry::request_span(request.headers());
        let peer = request.extensions().get::<Peer>().cloned();
        let log = RequestLog::start(rpc_name(request.uri().path()), peer, trace_id);
        request.extensions_mut().insert(log.clone());
        let response = span.in_scope(|| self.inner.call(request));
        let answered = async move {
            let mut response = response.await?;
            if let Ok(value) = log.request_id().parse() {
                response.headers_mut().insert(REQUEST_ID_HEADER, value);
            }
            // A client that resets its stream mid-request is a cancellation (logged as such), not a refusal.
            if !log.is_settled()
                && let Some(status) = tonic::Status::from_header_map(response.headers())
                && !matches!(status.code(), tonic::Code::Ok | tonic::Code::Cancelled)
            {
                log.refused_with(Rejection::Decode, status.code(), status.message().to_owned());
            }
            Ok(response)
        };
        Box::pin(answered.instrument(span))
    }
}

/// The method's name, from a gRPC path such as `/bedrock.gateway.v1.GatewayService/ConverseStream`.
fn rpc_name(path: &str) -> &'static str {
    match path.rsplit('/').next() {
        Some("ConverseStream") => "ConverseStream",
        Some("Converse") => "Converse",
        Some("ListModels") => "ListModels",
        Some("CountTokens") => "CountTokens",
        Some("Embed") => "Embed",
        _ => "unknown",
    }
}
