//! HTTP routing: Bedrock's REST paths, error responses and fault dispatch.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Either, Full};

use crate::EmulatorConfig;
use crate::cache::PromptCache;
use crate::embed;
use crate::errors::ServiceError;
use crate::fault::{Fault, ThrottleOnce};
use crate::observe::{Observer, StreamGuard};
use crate::reply::Reply;
use crate::request::ConverseRequest;
use crate::stream::{Ending, EventStream, InjectedClose, Pacing};

/// State shared by all connections of one emulator.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: EmulatorConfig,
    pub(crate) observer: Arc<Observer>,
    pub(crate) throttle_once: ThrottleOnce,
    pub(crate) prompt_cache: PromptCache,
}

/// Errors that make hyper drop the connection instead of answering.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A ConverseStream body, or a JSON document: whole, or stalled halfway (`fault.stall-body`).
pub(crate) type ResponseBody = Either<EventStream, Either<Full<Bytes>, StalledBody>>;

/// Header selecting a fault for requests whose model id does not.
const FAULT_HEADER: &str = "x-emulator-fault";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Converse,
    ConverseStream,
    CountTokens,
    InvokeModel,
}

/// Serves one HTTP request.
pub(crate) async fn handle<B>(shared: Arc<Shared>, request: Request<B>) -> Result<Response<ResponseBody>, BoxError>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let started = Instant::now();
    let Some((model_id, operation)) = route(request.method(), request.uri().path()) else {
        return Ok(error_response(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            "This emulator serves POST /model/{modelId}/converse, /converse-stream, /count-tokens and /invoke.",
        ));
    };
    let header_fault = request.headers().get(FAULT_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let version = request.version();
    let signer = request.headers().get(AUTHORIZATION).and_then(|value| value.to_str().ok()).and_then(access_key_id);
    let signer = signer.map(str::to_owned);
    let body = request.into_body().collect().await.map_err(Into::into)?.to_bytes();
    let sequence = shared.observer.record_request(body.clone(), version, signer.as_deref());

    let mut response = match model_id {
        Ok(model_id) => {
            let fault = match Fault::parse(&model_id) {
                Ok(None) => header_fault.as_deref().map_or(Ok(None), Fault::parse),
                selected => selected,
            };
            match (fault, operation) {
                (Err(unknown), _) => service_error(ServiceError::Validation, &unknown.to_string()),
                (Ok(fault), Operation::CountTokens | Operation::InvokeModel) => {
                    answer_unary(&shared, operation, &model_id, fault, &body).await?
                }
                (Ok(fault), _) => match ConverseRequest::parse(&body) {
                    Err(invalid) => service_error(ServiceError::Validation, &invalid.to_string()),
                    Ok(parsed) => answer(&shared, operation, model_id, fault, &parsed, started).await?,
                },
            }
        }
        Err(message) => service_error(ServiceError::Validation, message),
    };
    response.headers_mut().insert("x-amzn-requestid", request_id(sequence));
    Ok(response)
}

/// The access key id of a SigV4 `Authorization` header:
/// `AWS4-HMAC-SHA256 Credential=<id>/<date>/<region>/<service>/aws4_request, SignedHeaders=…`.
fn access_key_id(authorization: &str) -> Option<&str> {
    let credential = authorization.strip_prefix("AWS4-HMAC-SHA256")?.split(',').next()?;
    let scope = credential.trim().strip_prefix("Credential=")?;
    scope.split('/').next().filter(|id| !id.is_empty())
}

/// Answers a valid request, applying its fault.
async fn answer(
    shared: &Shared,
    operation: Operation,
    model_id: String,
    fault: Option<Fault>,
    request: &ConverseRequest,
    started: Instant,
) -> Result<Response<ResponseBody>, BoxError> {
    // Called at most once per request: reading the prompt cache also updates it.
    let full_answer = || {
        let cache = (!request.checkpoints().is_empty())
            .then(|| shared.prompt_cache.usage(&model_id, request.checkpoints(), tokio::time::Instant::now()));
        Reply::answer(request, shared.config.answer_tokens, cache)
    };
    let (reply, ending) = match fault {
        None => (full_answer(), Ending::Complete),
        Some(Fault::Reject(error)) => return Ok(service_error(error, &error.injected_message(&model_id))),
        Some(Fault::ThrottleOnce) => {
            if shared.throttle_once.first_time(&request.last_user_text()) {
                let error = ServiceError::Throttling;
                return Ok(service_error(error, &error.injected_message(&model_id)));
            }
            (full_answer(), Ending::Complete)
        }
        Some(Fault::NoMetadata) => (full_answer(), Ending::NoMetadata),
        Some(Fault::StopReason(reason)) => {
            let mut reply = full_answer();
            reply.stop_reason = reason;
            (reply, Ending::Complete)
        }
        Some(Fault::UnknownBlock) => {
            let mut reply = full_answer();
            // The unknown block takes index 0, where reasoning would go: this fault has none.
            reply.unknown_block = true;
            reply.reasoning = None;
            (reply, Ending::Complete)
        }
        Some(Fault::StreamError(n)) => (Reply::truncated(request, n), Ending::StreamError),
        Some(Fault::Stall(n)) => (Reply::truncated(request, n), Ending::Stall),
        Some(Fault::Close(n)) => (Reply::truncated(request, n), Ending::Close),
        Some(Fault::StallBody) if operation == Operation::ConverseStream => {
            (Reply::truncated(request, 0), Ending::Stall)
        }
        Some(Fault::StallBody) => return Ok(json_response(full_answer().converse_json(started.elapsed()), true)),
        Some(Fault::Hang) => std::future::pending().await,
    };
    let pacing = Pacing { first_token: shared.config.time_to_first_token, token_gap: shared.config.inter_token_gap };
    match operation {
        Operation::ConverseStream => {
            let guard = StreamGuard::new(shared.observer.clone(), model_id);
            let body = EventStream::new(reply, ending, pacing, started, guard);
            let mut response = Response::new(Either::Left(body));
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/vnd.amazon.eventstream"));
            Ok(response)
        }
        // Converse has no event stream to break, so stream faults map to
        // their closest whole-response equivalents.
        _ => match ending {
            Ending::Stall => std::future::pending().await,
            Ending::Close => Err(Box::new(InjectedClose)),
            Ending::StreamError => {
                let error = ServiceError::ModelError;
                Ok(service_error(error, &error.injected_message(&model_id)))
            }
            Ending::Complete | Ending::NoMetadata => {
                let generation = reply.duration(pacing.first_token, pacing.token_gap);
                if !generation.is_zero() {
                    tokio::time::sleep(generation).await;
                }
                Ok(json_response(reply.converse_json(started.elapsed()), false))
            }
        },
    }
}

/// Answers CountTokens or InvokeModel (embedding models), applying the request's fault as
/// Converse does: errors as they are, stream faults as their whole-response equivalents.
async fn answer_unary(
    shared: &Shared,
    operation: Operation,
    model_id: &str,
    fault: Option<Fault>,
    body: &[u8],
) -> Result<Response<ResponseBody>, BoxError> {
    match fault {
        Some(Fault::Reject(error)) => return Ok(service_error(error, &error.injected_message(model_id))),
        Some(Fault::ThrottleOnce) if shared.throttle_once.first_time(&String::from_utf8_lossy(body)) => {
            let error = ServiceError::Throttling;
            return Ok(service_error(error, &error.injected_message(model_id)));
        }
        Some(Fault::Hang | Fault::Stall(_)) => std::future::pending().await,
        Some(Fault::Close(_)) => return Err(Box::new(InjectedClose)),
        Some(Fault::StreamError(_)) => {
            let error = ServiceError::ModelError;
            return Ok(service_error(error, &error.injected_message(model_id)));
        }
        _ => {}
    }
    let stall = fault == Some(Fault::StallBody);
    let answered = match operation {
        Operation::CountTokens => {
            embed::count_tokens_input(body).map(|request| (embed::count_tokens_answer(&request), None))
        }
        _ => embed::invoke(model_id, body).map(|embedded| (embedded.body, Some(embedded.input_tokens))),
    };
    let (answer, input_tokens) = match answered {
        Ok(answered) => answered,
        Err(invalid) => return Ok(service_error(ServiceError::Validation, &invalid.to_string())),
    };
    let mut response = json_response(Bytes::from(answer), stall);
    let headers = response.headers_mut();
    if let Some(tokens) = input_tokens {
        headers.insert("x-amzn-bedrock-input-token-count", HeaderValue::from(tokens));
    }
    Ok(response)
}

/// Splits `/model/{modelId}/{operation}`; the model id is percent-decoded,
/// or the reason it cannot be.
fn route(method: &Method, path: &str) -> Option<(Result<String, &'static str>, Operation)> {
    if method != Method::POST {
        return None;
    }
    let (model_id, operation) = path.strip_prefix("/model/")?.rsplit_once('/')?;
    let operation = match operation {
        "converse" => Operation::Converse,
        "converse-stream" => Operation::ConverseStream,
        "count-tokens" => Operation::CountTokens,
        "invoke" => Operation::InvokeModel,
        _ => return None,
    };
    Some((percent_decode(model_id), operation))
}

/// Decodes `%XX` escapes; the SDK escapes the `:` and `/` of ARNs.
fn percent_decode(encoded: &str) -> Result<String, &'static str> {
    let bytes = encoded.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(decoded).map_err(|_| "The model identifier is not valid UTF-8.")
}

/// A JSON document as a 200 response; with `stall`, only its first half, then silence.
fn json_response(document: Bytes, stall: bool) -> Response<ResponseBody> {
    let body = if stall {
        Either::Right(StalledBody(Some(document.slice(..document.len() / 2))))
    } else {
        Either::Left(Full::new(document))
    };
    let mut response = Response::new(Either::Right(body));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The part of a body that `fault.stall-body` sends, then nothing more until the client leaves.
#[derive(Debug)]
pub(crate) struct StalledBody(Option<Bytes>);

impl Body for StalledBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        // Nothing will ever come, so nothing is woken: hyper drops the body when the client leaves.
        match self.0.take() {
            Some(part) => Poll::Ready(Some(Ok(Frame::data(part)))),
            None => Poll::Pending,
        }
    }
}

fn service_error(error: ServiceError, message: &str) -> Response<ResponseBody> {
    error_response(error.status(), error.error_type(), message)
}

/// A restJson1 error: the type in `x-amzn-errortype`, the message in the body.
fn error_response(status: StatusCode, error_type: &'static str, message: &str) -> Response<ResponseBody> {
    let body = serde_json::json!({ "message": message }).to_string();
    let mut response = Response::new(Either::Right(Either::Left(Full::new(Bytes::from(body)))));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert("x-amzn-errortype", HeaderValue::from_static(error_type));
    response
}

/// A UUID-shaped request id, unique per emulator.
fn request_id(sequence: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("00000000-0000-4000-8000-{:012x}", sequence & 0xffff_ffff_ffff))
        .expect("hex digits and dashes form a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_bedrock_paths() {
        let post = Method::POST;
        let arn = "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.x/converse-stream";
        assert_eq!(
            route(&post, arn),
            Some((Ok("arn:aws:bedrock:us-east-1:1:inference-profile/us.x".into()), Operation::ConverseStream))
        );
        assert_eq!(route(&post, "/model/m/converse"), Some((Ok("m".into()), Operation::Converse)));
        assert_eq!(route(&post, "/model/m/invoke"), Some((Ok("m".into()), Operation::InvokeModel)));
        assert_eq!(route(&post, "/model/m/count-tokens"), Some((Ok("m".into()), Operation::CountTokens)));
        assert_eq!(route(&post, "/model/m/invoke-with-response-stream"), None);
        assert_eq!(route(&Method::GET, "/model/m/converse"), None);
        assert_eq!(percent_decode("a%2"), Ok("a%2".into()));
        assert!(percent_decode("%ff").is_err());
    }

    #[test]
    fn reads_the_access_key_id_of_a_sigv4_signature() {
        let signed = "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261208/us-east-1/bedrock/aws4_request, \
                      SignedHeaders=host;x-amz-date, Signature=abc";
        assert_eq!(access_key_id(signed), Some("ASIAEXAMPLE"));
        assert_eq!(access_key_id("Bearer token"), None);
        assert_eq!(access_key_id("AWS4-HMAC-SHA256 Credential=/20261208/us-east-1/bedrock/aws4_request"), None);
    }
}
