//! The Bedrock-compatible door's routes: Bedrock runtime's own paths, where the model id is the
//! alias. Each decodes Bedrock's body into the pipeline's request and encodes what the pipeline
//! serves as Bedrock would; every error is answered by [`error_response`].

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use axum::routing::post;

use super::{
    EmbedShape, converse_refusal, converse_request, converse_response, count_tokens_refusal, count_tokens_request,
    count_tokens_response, embed_refusal, embed_request, embed_response, error_response, event_stream,
};
use crate::doors::http::{JSON, Kept, answer, serve};
use crate::error::GatewayError;
use crate::pipeline::{Converse, ConverseStream, CountTokens, Embed, Pipeline};

/// Bedrock's header of an InvokeModel answer's input tokens.
const INPUT_TOKEN_COUNT: &str = "x-amzn-bedrock-input-token-count";

/// The door's routes, answering through `pipeline`.
pub fn router(pipeline: Pipeline) -> Router {
    Router::new()
        .route("/model/{model_id}/converse-stream", post(converse_stream))
        .route("/model/{model_id}/converse", post(converse))
        .route("/model/{model_id}/count-tokens", post(count_tokens))
        .route("/model/{model_id}/invoke", post(invoke))
        .with_state(pipeline)
}

async fn converse_stream(State(pipeline): State<Pipeline>, Path(alias): Path<String>, request: Request) -> Response {
    let decode = |body: &[u8]| Ok((converse_request(&alias, body)?, ConverseBody));
    serve::<ConverseStream, _>(&pipeline, request, error_response, decode, |served, _| {
        let events = Body::from_stream(event_stream(served.value));
        answer(&served.model, "application/vnd.amazon.eventstream", events)
    })
    .await
}

async fn converse(State(pipeline): State<Pipeline>, Path(alias): Path<String>, request: Request) -> Response {
    let decode = |body: &[u8]| Ok((converse_request(&alias, body)?, ConverseBody));
    serve::<Converse, _>(&pipeline, request, error_response, decode, |served, _| {
        answer(&served.model, JSON, converse_response(&served.value))
    })
    .await
}

async fn count_tokens(State(pipeline): State<Pipeline>, Path(alias): Path<String>, request: Request) -> Response {
    let decode = |body: &[u8]| Ok((count_tokens_request(&alias, body)?, CountTokensBody));
    serve::<CountTokens, _>(&pipeline, request, error_response, decode, |served, _| {
        answer(&served.model, JSON, count_tokens_response(&served.value))
    })
    .await
}

/// InvokeModel, for embedding aliases: the body is in the model family's own shape, and so is
/// the answer, with the input's tokens in Bedrock's header, as InvokeModel reports them.
async fn invoke(State(pipeline): State<Pipeline>, Path(alias): Path<String>, request: Request) -> Response {
    let decode = |body: &[u8]| embed_request(&alias, body);
    serve::<Embed, _>(&pipeline, request, error_response, decode, |served, shape| {
        let mut response = answer(&served.model, JSON, embed_response(&served.value, shape));
        response.headers_mut().insert(INPUT_TOKEN_COUNT, served.value.input_tokens.into());
        response
    })
    .await
}

/// A Converse or ConverseStream body: the pipeline's refusals name its fields.
struct ConverseBody;

impl Kept for ConverseBody {
    fn rename(&self, err: GatewayError) -> GatewayError {
        converse_refusal(err)
    }
}

/// A CountTokens body, whose conversation is under `input.converse`.
struct CountTokensBody;

impl Kept for CountTokensBody {
    fn rename(&self, err: GatewayError) -> GatewayError {
        count_tokens_refusal(err)
    }
}

/// An InvokeModel body, in its embedding family's shape.
impl Kept for EmbedShape {
    fn rename(&self, err: GatewayError) -> GatewayError {
        embed_refusal(err, self)
    }
}
