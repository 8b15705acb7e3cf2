//! The OpenAI-compatible door's routes. Each decodes OpenAI's body into the pipeline's request and
//! encodes what the pipeline serves as OpenAI would; every error is answered by
//! [`error_response`], naming OpenAI's fields. A chat completion is the pipeline's `ConverseStream`
//! or `Converse`, by its body's `stream`.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::{get, post};

use super::fields::{ChatFields, EmbeddingFields};
use super::{
    ChunkMeta, EmbeddingsRequest, EncodingFormat, chat_chunks, chat_request, chat_response, embeddings_request,
    embeddings_response, error_response, models_response,
};
use crate::doors::http::{JSON, Kept, answer, decoded, run, serve};
use crate::error::GatewayError;
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
            id: call.request_id().to_owned(),
            model: chat.converse.model.clone(),
            created,
            include_usage: chat.include_usage,
        };
        run::<ConverseStream, _>(&pipeline, call, chat.converse, chat.fields, error_response, |served, _| {
            answer(&served.model, "text/event-stream", Body::from_stream(chat_chunks(served.value, meta)))
        })
        .await
    } else {
        call.log().set_rpc("Converse");
        run::<Converse, _>(
            &pipeline,
            call,
            chat.converse,
            chat.fields,
            error_response,
            |served, _| match chat_response(&served.value, created) {
                Ok(body) => answer(&served.model, JSON, body),
                Err(incomplete) => error_response(&incomplete),
            },
        )
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
    let decode = |body: &[u8]| {
        let EmbeddingsRequest { embed, encoding_format, fields } = embeddings_request(body)?;
        Ok((embed, Embeddings { encoding_format, fields }))
    };
    serve::<Embed, _>(&pipeline, request, error_response, decode, |served, kept| {
        answer(&served.model, JSON, embeddings_response(&served.value, kept.encoding_format))
    })
    .await
}

/// What an embeddings request keeps for its answer.
struct Embeddings {
    encoding_format: EncodingFormat,
    fields: EmbeddingFields,
}

impl Kept for Embeddings {
    fn rename(&self, err: GatewayError) -> GatewayError {
        self.fields.rename(err)
    }
}

impl Kept for ChatFields {
    fn rename(&self, err: GatewayError) -> GatewayError {
        ChatFields::rename(self, err)
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs())
}
