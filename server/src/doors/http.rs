//! What the HTTP doors share: a request's body read whole within the edge's bounds and decoded by
//! the door, its [`Call`] started from what the edge put in its extensions, the pipeline run as
//! the door's operation, and the answer or the error encoded by the door. A door brings only its
//! decoder, its encoder and its error shape. Neither door has a deadline header of its own: their
//! calls are bounded by `server.max_stream_duration_secs`.

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::HeaderValue;
use http::header::CONTENT_TYPE;
use tonic::Status;

use crate::doors::grpc::DEPRECATION_HEADER;
use crate::error::GatewayError;
use crate::ops::metrics::Rejection;
use crate::pipeline::catalog::Model;
use crate::pipeline::{Call, Operation, Pipeline, Served};

/// A door's answer to an error, in its protocol's shape.
pub type ErrorResponse = fn(&Status) -> Response;

/// What a door keeps of a decoded request for its answer. The pipeline's refusals name the v1
/// request's fields; a door whose protocol names them otherwise renames them here.
pub trait Kept {
    /// `err`, naming the door's own field where it names a v1 one.
    fn rename(&self, err: GatewayError) -> GatewayError {
        err
    }
}

impl Kept for () {}

/// Runs `request` as the operation `O`: read, decoded by `decode`, through the pipeline, encoded by
/// `encode` (given what the decoder kept for it); every error answered by `errors`.
pub async fn serve<O: Operation, K: Kept>(
    pipeline: &Pipeline,
    request: Request,
    errors: ErrorResponse,
    decode: impl FnOnce(&[u8]) -> Result<(O::Request, K), GatewayError>,
    encode: impl FnOnce(Served<O::Served>, K) -> Response,
) -> Response {
    match decoded(pipeline, O::RPC, request, errors, decode).await {
        Ok((call, (request, kept))) => run::<O, K>(pipeline, call, request, kept, errors, encode).await,
        Err(refused) => refused,
    }
}

/// The call of `request` (named `rpc`, until its body says otherwise) and what `decode` made of
/// its body; or the answer refusing it. A body the edge's bounds ended, or that does not decode,
/// is refused (the latter with reason `decode`, as gRPC's undecodable messages are).
pub async fn decoded<T>(
    pipeline: &Pipeline,
    rpc: &'static str,
    request: Request,
    errors: ErrorResponse,
    decode: impl FnOnce(&[u8]) -> Result<T, GatewayError>,
) -> Result<(Call, T), Response> {
    let (parts, body) = request.into_parts();
    let call = Call::start(rpc, &parts.extensions, None, pipeline.metrics());
    let body = axum::body::to_bytes(body, usize::MAX).await.map_err(|err| {
        // The edge's bounds end a body with their status, logged where it was made; the body
        // layers between may have wrapped it.
        let status = status_within(&err)
            .unwrap_or_else(|| Status::cancelled(format!("the request body could not be read: {err}")));
        errors(&status)
    })?;
    match decode(&body) {
        Ok(decoded) => Ok((call, decoded)),
        Err(err) => Err(errors(&call.refused(Rejection::Decode, err).to_status(call.request_id()))),
    }
}

/// Runs `request`, decoded, as the operation `O` on `call`; its answer encoded by `encode` with
/// what the decoder `kept`, or its error, renamed by `kept`, answered by `errors`.
pub async fn run<O: Operation, K: Kept>(
    pipeline: &Pipeline,
    call: Call,
    request: O::Request,
    kept: K,
    errors: ErrorResponse,
    encode: impl FnOnce(Served<O::Served>, K) -> Response,
) -> Response {
    let id = call.request_id().to_owned();
    match pipeline.run::<O>(call, request).await {
        Ok(served) => encode(served, kept),
        Err(err) => errors(&kept.rename(err).to_status(&id)),
    }
}

/// The status somewhere in `err`'s chain of causes.
fn status_within(err: &(dyn std::error::Error + 'static)) -> Option<Status> {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if let Some(status) = err.downcast_ref::<Status>() {
            return Some(status.clone());
        }
        cause = err.source();
    }
    None
}

/// A successful answer of `content_type`, with the model's deprecation notice when it has one.
pub fn answer(model: &Model, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(notice) = model.deprecation_notice()
        && let Ok(notice) = HeaderValue::from_str(&notice)
    {
        headers.insert(DEPRECATION_HEADER, notice);
    }
    response
}

/// JSON's content type.
pub const JSON: &str = "application/json";
