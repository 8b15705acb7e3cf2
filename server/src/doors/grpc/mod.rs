//! The gRPC door: the v1 `GatewayService`, the typed contract. Each RPC (one file each) decodes
//! its message, starts the [`Call`] and encodes what the pipeline serves; errors become a status
//! in one place ([`GatewayError::to_status`]).

mod converse;
mod converse_stream;
mod count_tokens;
mod embed;
mod list_models;

use std::time::Duration;

use bedrock_gateway_proto::v1;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use crate::pipeline::catalog::Model;
use crate::pipeline::relay::RelayStream;
use crate::pipeline::{Call, Pipeline, Served};

pub use bedrock_gateway_proto::metadata::MODEL_DEPRECATION as DEPRECATION_HEADER;

/// The v1 GatewayService over the pipeline.
#[derive(Debug, Clone)]
pub struct Gateway {
    pipeline: Pipeline,
}

impl Gateway {
    /// The service answering through `pipeline`.
    pub fn new(pipeline: Pipeline) -> Gateway {
        Gateway { pipeline }
    }
}

#[tonic::async_trait]
impl v1::gateway_service_server::GatewayService for Gateway {
    type ConverseStreamStream = RelayStream;

    async fn converse_stream(&self, request: Request<v1::ConverseRequest>) -> Result<Response<RelayStream>, Status> {
        converse_stream::serve(&self.pipeline, request).await
    }

    async fn converse(&self, request: Request<v1::ConverseRequest>) -> Result<Response<v1::ConverseResponse>, Status> {
        converse::serve(&self.pipeline, request).await
    }

    async fn list_models(
        &self,
        request: Request<v1::ListModelsRequest>,
    ) -> Result<Response<v1::ListModelsResponse>, Status> {
        list_models::serve(&self.pipeline, request)
    }

    async fn count_tokens(
        &self,
        request: Request<v1::ConverseRequest>,
    ) -> Result<Response<v1::CountTokensResponse>, Status> {
        count_tokens::serve(&self.pipeline, request).await
    }

    async fn embed(&self, request: Request<v1::EmbedRequest>) -> Result<Response<v1::EmbedResponse>, Status> {
        embed::serve(&self.pipeline, request).await
    }
}

/// Takes a request apart into the call (named `rpc`, to run on `pipeline`) and its message.
fn call_of<T>(pipeline: &Pipeline, rpc: &'static str, request: Request<T>) -> (Call, T) {
    let (metadata, extensions, message) = request.into_parts();
    (Call::start(rpc, &extensions, client_timeout(&metadata), pipeline.metrics()), message)
}

/// The response to a call that `served`, with the model's notices as metadata besides
/// `x-request-id`, which the edge sets on every response.
fn respond<T>(served: Served<T>) -> Response<T> {
    let mut response = Response::new(served.value);
    tag(response.metadata_mut(), &served.model);
    response
}

fn tag(metadata: &mut MetadataMap, model: &Model) {
    if let Some(notice) = model.deprecation_notice()
        && let Ok(value) = notice.parse()
    {
        metadata.insert(DEPRECATION_HEADER, value);
    }
}

/// The client's deadline, from the `grpc-timeout` header (digits followed by a unit letter).
fn client_timeout(metadata: &MetadataMap) -> Option<Duration> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout(value: &str) -> Option<Duration> {
        let mut metadata = MetadataMap::new();
        metadata.insert("grpc-timeout", value.parse().unwrap());
        client_timeout(&metadata)
    }

    #[test]
    fn grpc_timeout_header_is_parsed() {
        assert_eq!(timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(timeout("x"), None);
        assert_eq!(timeout("10"), None);
        assert_eq!(client_timeout(&MetadataMap::new()), None);
    }
}
