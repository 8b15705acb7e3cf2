//! Only gRPC with protobuf messages is served as gRPC (requests the edge routed to an HTTP door
//! pass: their door reads its own protocol's body). tonic routes a request by its path alone and decodes
//! whatever body arrives as protobuf, so a client speaking gRPC with JSON (`application/grpc+json`)
//! would have its JSON misread as protobuf, and a plain HTTP client would be answered as if it
//! spoke gRPC. This layer refuses both before anything reads the body; a refusal is logged with
//! reason `decode`.
//!
//! - A gRPC client with another codec (`application/grpc+json`, `application/grpc-web`, ...) gets a
//!   gRPC status, INVALID_ARGUMENT naming the content types served, which its library shows as is:
//!   its message cannot be read, as one that does not decode cannot.
//! - Anything else (no content type, `application/json`, ...) gets HTTP 415 Unsupported Media Type,
//!   as the gRPC protocol asks of a server (PROTOCOL-HTTP2.md), so that a plain HTTP client does not
//!   take a gRPC error's `200 OK` for success; the same status is in its headers for tools that look.

use std::task::{Context, Poll};

use futures::future::{Either, Ready};
use http::header::CONTENT_TYPE;
use tower::{Layer, Service};

use super::route::Route;
use crate::error::GatewayError;
use crate::ops::metrics::Rejection;
use crate::pipeline::request_log::RequestLog;

/// The content types served: gRPC's default codec, protobuf, unnamed and named.
const SERVED: [&str; 2] = ["application/grpc", "application/grpc+proto"];

/// What the refusal quotes of a content type, at most: enough to recognise it, never a whole header.
const QUOTED_CHARS: usize = 64;

/// Layer for [`GrpcContentType`].
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcContentTypeLayer;

impl<S> Layer<S> for GrpcContentTypeLayer {
    type Service = GrpcContentType<S>;

    fn layer(&self, inner: S) -> GrpcContentType<S> {
        GrpcContentType { inner }
    }
}

/// Passes on only requests whose content type is served; see the module documentation.
#[derive(Debug, Clone)]
pub struct GrpcContentType<S> {
    inner: S,
}

impl<S, ReqBody> Service<http::Request<ReqBody>> for GrpcContentType<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<tonic::body::Body>>,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Self::Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        if let Route::Http(..) = Route::from_extensions(request.extensions()) {
            return Either::Left(self.inner.call(request));
        }
        let content_type = request.headers().get(CONTENT_TYPE).map(|value| String::from_utf8_lossy(value.as_bytes()));
        if content_type.as_deref().is_some_and(|served| SERVED.iter().any(|s| s.eq_ignore_ascii_case(served))) {
            return Either::Left(self.inner.call(request));
        }
        let grpc = content_type.as_deref().is_some_and(|other| {
            other.get(..SERVED[0].len()).is_some_and(|prefix| prefix.eq_ignore_ascii_case(SERVED[0]))
        });
        let err = GatewayError::UnsupportedContentType {
            content_type: content_type.map(|other| other.chars().take(QUOTED_CHARS).collect()),
        };
        let log = request.extensions().get::<RequestLog>();
        if let Some(log) = log {
            log.refused(Rejection::Decode, &err);
        }
        let mut response = err.to_status(log.map(RequestLog::request_id).unwrap_or_default()).into_http();
        if !grpc {
            *response.status_mut() = http::StatusCode::UNSUPPORTED_MEDIA_TYPE;
            response.headers_mut().remove(CONTENT_TYPE);
        }
        Either::Right(futures::future::ready(Ok(response)))
    }
}
