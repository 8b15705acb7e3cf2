//! API key authentication: a request to the gateway service must carry `authorization: Bearer
//! <key>` whose SHA-256 is configured under `[auth.api_keys]`. The caller's configured name is put
//! in the request's extensions and in its log line; a refusal is logged with reason `auth`.

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::{Either, Ready};
use sha2::{Digest, Sha256};
use tonic::server::NamedService;
use tower::{Layer, Service};

use crate::error::GatewayError;
use crate::metrics::Rejection;
use crate::request_log::RequestLog;

/// The configured name of an authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub Arc<str>);

/// Layer for [`ApiKeyAuth`].
#[derive(Debug, Clone)]
pub struct ApiKeyAuthLayer {
    callers_by_digest: Arc<HashMap<[u8; 32], Caller>>,
}

impl ApiKeyAuthLayer {
    /// Accepts keys whose SHA-256 (hex, validated by the config) is a value of `api_keys`.
    pub fn new(api_keys: &std::collections::BTreeMap<String, String>) -> Self {
        let callers_by_digest = api_keys
            .iter()
            .filter_map(|(caller, hex)| Some((decode_hex(hex)?, Caller(Arc::from(caller.as_str())))))
            .collect();
        ApiKeyAuthLayer { callers_by_digest: Arc::new(callers_by_digest) }
    }
}

impl<S> Layer<S> for ApiKeyAuthLayer {
    type Service = ApiKeyAuth<S>;

    fn layer(&self, inner: S) -> ApiKeyAuth<S> {
        ApiKeyAuth { inner, callers_by_digest: Arc::clone(&self.callers_by_digest) }
    }
}

/// Refuses requests without a known API key with UNAUTHENTICATED; does nothing when no key is
/// configured.
#[derive(Debug, Clone)]
pub struct ApiKeyAuth<S> {
    inner: S,
    callers_by_digest: Arc<HashMap<[u8; 32], Caller>>,
}

impl<S: NamedService> NamedService for ApiKeyAuth<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, ReqBody> Service<http::Request<ReqBody>> for ApiKeyAuth<S>
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
        if self.callers_by_digest.is_empty() {
            return Either::Left(self.inner.call(request));
        }
        let caller = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .and_then(|key| self.callers_by_digest.get(&<[u8; 32]>::from(Sha256::digest(key.trim().as_bytes()))));
        let log = request.extensions().get::<RequestLog>();
        match caller {
            Some(caller) => {
                if let Some(log) = log {
                    log.set_caller(caller.clone());
                }
                request.extensions_mut().insert(caller.clone());
                Either::Left(self.inner.call(request))
            }
            None => {
                let err = GatewayError::Unauthenticated;
                if let Some(log) = log {
                    log.refused(Rejection::Auth, &err);
                }
                let request_id = log.map(RequestLog::request_id).unwrap_or_default();
                Either::Right(futures::future::ready(Ok(err.to_status(request_id).into_http())))
            }
        }
    }
}

fn decode_hex(hex: &str) -> Option<[u8; 32]> {
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(hex.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    (hex.len() == 64).then_some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digests_decode() {
        let digest = decode_hex(&"ab".repeat(32)).unwrap();
        assert_eq!(digest, [0xab; 32]);
        assert!(decode_hex("abc").is_none());
        assert!(decode_hex(&"zz".repeat(32)).is_none());
    }
}
