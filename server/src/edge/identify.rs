//! Identification: every request to the gateway service is attributed to a tenant (see
//! [`crate::pipeline::tenants`] for the rules) before anything else may look at it. The [`Identity`] goes into
//! the request's extensions and its log line; a refusal is logged with reason `auth`
//! (UNAUTHENTICATED) or `permission` (PERMISSION_DENIED), and answered in the protocol of the
//! request's door. Control routes (health, reflection) are not identified: they are open to every
//! caller, with the small bounds of [`Route::Control`].
//!
//! An AWS SDK sends a SigV4 signature (`authorization: AWS4-HMAC-SHA256 ...`) when it has AWS
//! credentials and no Bedrock API key. The signature proves nothing to the gateway, which holds no
//! one's secret key, so it is not verified: such a request carries no key and is identified as a
//! gRPC call without one is, by its PrivateLink endpoint or its client certificate.

use std::task::{Context, Poll};

use futures::future::{Either, Ready};
use tower::{Layer, Service};

use super::route::{Protocol, Route};
use crate::ops::metrics::Rejection;
use crate::pipeline::peer::Peer;
use crate::pipeline::request_log::RequestLog;
use crate::pipeline::tenants::live::LiveTenants;

/// How a SigV4 `authorization` header starts.
const SIGV4: &[u8] = b"AWS4-HMAC-SHA256 ";

/// Layer for [`Identify`].
#[derive(Debug, Clone)]
pub struct IdentifyLayer {
    tenants: LiveTenants,
}

impl IdentifyLayer {
    /// Identifies requests against `tenants`.
    pub fn new(tenants: LiveTenants) -> Self {
        IdentifyLayer { tenants }
    }
}

impl<S> Layer<S> for IdentifyLayer {
    type Service = Identify<S>;

    fn layer(&self, inner: S) -> Identify<S> {
        Identify { inner, tenants: self.tenants.clone() }
    }
}

/// Puts the request's [`Identity`](crate::pipeline::tenants::Identity) in its extensions, or refuses it.
#[derive(Debug, Clone)]
pub struct Identify<S> {
    inner: S,
    tenants: LiveTenants,
}

impl<S, ReqBody> Service<http::Request<ReqBody>> for Identify<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<tonic::body::Body>>,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Self::Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        // Health and reflection are open to every caller; their memory counts against its address.
        let route = Route::from_extensions(request.extensions());
        if !route.is_call() {
            return Either::Left(self.inner.call(request));
        }
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(http::HeaderValue::as_bytes)
            .filter(|value| !(route.protocol() == Protocol::Bedrock && value.starts_with(SIGV4)));
        let identified = self.tenants.identify(authorization, request.extensions().get::<Peer>());
        let log = request.extensions().get::<RequestLog>();
        match identified {
            Ok(identity) => {
                if let Some(log) = log {
                    log.set_identity(&identity);
                }
                request.extensions_mut().insert(identity);
                Either::Left(self.inner.call(request))
            }
            Err(err) => {
                let reason = match err.code() {
                    tonic::Code::PermissionDenied => Rejection::Permission,
                    _ => Rejection::Auth,
                };
                if let Some(log) = log {
                    log.refused(reason, &err);
                }
                let request_id = log.map(RequestLog::request_id).unwrap_or_default();
                Either::Right(futures::future::ready(Ok(route.refuse(err.to_status(request_id)))))
            }
        }
    }
}
