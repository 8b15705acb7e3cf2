//! The OpenAI-compatible door's routes. Each decodes OpenAI's body into the pipeline's request and
//! encodes what the pipeline serves as OpenAI would; every error is answered by
//! [`error_response`]. A chat completion is the pipeline's `ConverseStream` or `Converse`, by its
//! body's `stream`.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::{get, post};

use super::{
    ChunkMeta, chat_chunks, chat_request, chat_response, embeddings_request, embeddings_response, error_response,
    models_response,
};
use crate::doors::http::{JSON, answer, decoded, run, serve};
use crate::pipeline::{Call, Converse, ConverseStream, Embed, Pipeline};

/// The door's routes, answering through `pipeline`.
pub fn router(pipeline: Pipeline) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(models))
        .route("/v1/embeddings", post(embeddings))
        .with_state(pipeline)
}

async fn chat_completions(State(pipeline): State<Pipeline>, request: Request) -> Response {
    let (call, chat) = match decoded(&pipeline, "ChatCompletions", request, error_response, chat_request).await {
        Ok(decoded) => decoded,
        Err(refused) => return refused,
    };
    let created = unix_now();
    if chat.stream {
        call.log().set_rpc("ConverseStream");
        let meta = ChunkMeta {
            id: completion_id(&call),
            model: chat.converse.model.clone(),
            created,
            include_usage: chat.include_usage,
        };
        run::<ConverseStream>(&pipeline, call, chat.converse, error_response, |served| {
            answer(&served.model, "text/event-stream", Body::from_stream(chat_chunks(served.value, meta)))
        })
        .await
    } else {
        call.log().set_rpc("Converse");
        run::<Converse>(&pipeline, call, chat.converse, error_response, |served| {
            answer(&served.model, JSON, chat_response(&served.value, created))
        })
        .await
    }
}

async fn models(State(pipeline): State<Pipeline>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let call = Call::start("ListModels", &parts.extensions, None, pipeline.metrics());
    match pipeline.list_models(&call) {
        Ok(list) => {
            let mut response = Response::new(Body::from(models_response(&list)));
            response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(JSON));
            response
        }
        Err(err) => error_response(&err.to_status(call.request_id())),
    }
}

async fn embeddings(State(pipeline): State<Pipeline>, request: Request) -> Response {
    serve::<Embed, _>(&pipeline, request, error_response, embeddings_request, |served, format| {
        answer(&served.model, JSON, embeddings_response(&served.value, format))
    })
    .await
}

/// A completion's id: OpenAI's prefix and the request's id, so that a caller's report names the
/// request in the gateway's log.
fn completion_id(call: &Call) -> String {
    format!("chatcmpl-{}", call.request_id())
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs())
}
