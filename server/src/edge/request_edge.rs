//! The outermost layer of every route: it decides the request's [`Route`] (which door, if any, with
//! `[protocols]`), gives it its id, its span
//! (a child of the caller's W3C `traceparent`) and its [`RequestLog`] before any other layer can
//! refuse it, and tags every response with `x-request-id` (and, on the Bedrock-compatible door,
//! the same id as Bedrock's `x-amzn-RequestId`). A refusal made by tonic itself (a message that
//! does not decode) has no layer of ours to record it, so the edge records it here from the
//! status it sees.

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tower::{Layer, Service};
use tracing::Instrument;

use super::route::{Protocol, Route};
use crate::config::ProtocolsConfig;
use crate::error::REQUEST_ID_HEADER;
use crate::ops::metrics::{Metrics, Rejection};
use crate::ops::telemetry;
use crate::pipeline::peer::Peer;
use crate::pipeline::request_log::RequestLog;

/// Bedrock's request id header, on the Bedrock-compatible door's answers.
const BEDROCK_REQUEST_ID_HEADER: &str = "x-amzn-requestid";

/// Layer for [`RequestEdge`]: requests routed to the doors of `protocols`, their records counting
/// in `metrics`.
#[derive(Debug, Clone)]
pub struct RequestEdgeLayer {
    /// Where the records count.
    pub metrics: Metrics,
    /// The HTTP doors that are on.
    pub protocols: ProtocolsConfig,
}

impl<S> Layer<S> for RequestEdgeLayer {
    type Service = RequestEdge<S>;

    fn layer(&self, inner: S) -> RequestEdge<S> {
        RequestEdge { inner, metrics: self.metrics.clone(), protocols: self.protocols }
    }
}

/// Starts each request's record; see the module documentation.
#[derive(Debug, Clone)]
pub struct RequestEdge<S> {
    inner: S,
    metrics: Metrics,
    protocols: ProtocolsConfig,
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
        let content_type = request.headers().get(http::header::CONTENT_TYPE).map(http::HeaderValue::as_bytes);
        let route = Route::of(request.uri().path(), content_type, self.protocols);
        let log = match route {
            Route::Gateway(rpc) => RequestLog::start(rpc, peer, trace_id, &self.metrics),
            Route::Http(protocol, rpc) => {
                let log = RequestLog::start(rpc, peer, trace_id, &self.metrics);
                log.set_protocol(protocol.as_str());
                log
            }
            Route::Control(service) => RequestLog::start_control(service, peer, trace_id, &self.metrics),
        };
        request.extensions_mut().insert(route);
        request.extensions_mut().insert(log.clone());
        let response = span.in_scope(|| self.inner.call(request));
        let answered = async move {
            let mut response = response.await?;
            if let Ok(value) = http::HeaderValue::from_str(log.request_id()) {
                // The AWS SDKs report Bedrock's own request id header with every error.
                if route.protocol() == Protocol::Bedrock {
                    response.headers_mut().insert(BEDROCK_REQUEST_ID_HEADER, value.clone());
                }
                response.headers_mut().insert(REQUEST_ID_HEADER, value);
            }
            // A client that resets its stream mid-request is a cancellation (logged as such), not a
            // refusal. Health and reflection answer non-OK statuses of their own (an unknown service).
            if matches!(route, Route::Gateway(_))
                && !log.is_settled()
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
