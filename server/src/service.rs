//! The tonic service: for each call, validate, resolve the logical model, call Bedrock, relay.
//! Everything here is orchestration; the decisions live in `catalog`, `convert`, `relay`, `error`.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bedrock_gateway_proto::v1;
use futures::Stream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use crate::bedrock::Bedrock;
use crate::catalog::{Catalog, Model};
use crate::config::ServerConfig;
use crate::convert::request::{BedrockRequest, require_model_name, to_bedrock};
use crate::convert::response::answer;
use crate::error::{GatewayError, REQUEST_ID_HEADER};
use crate::relay::{RelayContext, proto_duration, relay};
use crate::request_log::RequestLog;

pub use bedrock_gateway_proto::metadata::MODEL_DEPRECATION as DEPRECATION_HEADER;

/// The v1 GatewayService.
#[derive(Debug, Clone)]
pub struct Gateway {
    catalog: Arc<Catalog>,
    bedrock: Bedrock,
    max_stream_duration: Duration,
    stream_idle_timeout: Duration,
    cut: CancellationToken,
}

/// One call in progress: its id, its clock and its log line.
struct Call {
    request_id: String,
    received_at: Instant,
    log: RequestLog,
}

impl Call {
    fn start(rpc: &'static str, request: &v1::ConverseRequest, extensions: &tonic::Extensions) -> Call {
        let received_at = Instant::now();
        let request_id = uuid::Uuid::new_v4().to_string();
        let log = RequestLog::new(rpc, &request_id, request, extensions, received_at);
        Call { request_id, received_at, log }
    }

    fn fail(&mut self, err: GatewayError) -> Status {
        self.log.failed(&err);
        err.to_status(&self.request_id)
    }
}

/// A validated call, ready to send to Bedrock.
struct Prepared {
    model: Arc<Model>,
    bedrock_request: BedrockRequest,
    deadline: Instant,
}

impl Gateway {
    /// A service answering from `catalog` through `bedrock`; its open streams end with UNAVAILABLE
    /// when `cut` is cancelled.
    pub fn new(catalog: Catalog, bedrock: Bedrock, server: &ServerConfig, cut: CancellationToken) -> Gateway {
        Gateway {
            cut,
            catalog: Arc::new(catalog),
            bedrock,
            max_stream_duration: server.max_stream_duration(),
            stream_idle_timeout: server.stream_idle_timeout(),
        }
    }

    /// Validates and converts the request; nothing here talks to Bedrock.
    fn prepare(
        &self,
        request: v1::ConverseRequest,
        metadata: &MetadataMap,
        call: &Call,
    ) -> Result<Prepared, GatewayError> {
        require_model_name(&request)?;
        let model = self.catalog.resolve(&request.model)?;
        let bedrock_request = to_bedrock(request, &model)?;
        let limit =
            client_timeout(metadata).map_or(self.max_stream_duration, |timeout| timeout.min(self.max_stream_duration));
        Ok(Prepared { model, bedrock_request, deadline: call.received_at + limit })
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<v1::ConverseStreamEvent, Status>> + Send>>;

#[tonic::async_trait]
impl v1::gateway_service_server::GatewayService for Gateway {
    type ConverseStreamStream = EventStream;

    async fn converse_stream(&self, request: Request<v1::ConverseRequest>) -> Result<Response<EventStream>, Status> {
        let (metadata, extensions, request) = request.into_parts();
        let mut call = Call::start("ConverseStream", &request, &extensions);
        let Prepared { model, bedrock_request, deadline } =
            self.prepare(request, &metadata, &call).map_err(|err| call.fail(err))?;
        let opened = tokio::time::timeout_at(deadline, self.bedrock.converse_stream(&model, bedrock_request)).await;
        let stream = opened.unwrap_or(Err(GatewayError::DeadlineExceeded)).map_err(|err| call.fail(err))?;
        let Call { request_id, received_at, log } = call;
        let mut metadata = MetadataMap::new();
        tag_response(&mut metadata, &request_id, &model);
        let context = RelayContext {
            request_id,
            model,
            received_at,
            deadline,
            idle_timeout: self.stream_idle_timeout,
            log,
            cut: self.cut.clone(),
        };
        let mut response = Response::new(Box::pin(relay(stream, context)) as EventStream);
        *response.metadata_mut() = metadata;
        Ok(response)
    }

    async fn converse(&self, request: Request<v1::ConverseRequest>) -> Result<Response<v1::ConverseResponse>, Status> {
        let (metadata, extensions, request) = request.into_parts();
        let mut call = Call::start("Converse", &request, &extensions);
        let Prepared { model, bedrock_request, deadline } =
            self.prepare(request, &metadata, &call).map_err(|err| call.fail(err))?;
        let called = tokio::time::timeout_at(deadline, self.bedrock.converse(&model, bedrock_request)).await;
        let output = called.unwrap_or(Err(GatewayError::DeadlineExceeded)).map_err(|err| call.fail(err))?;
        let answer = answer(output);
        let total = call.received_at.elapsed();
        call.log.succeeded(answer.stop_reason, answer.usage, Some(total));
        let mut response = Response::new(v1::ConverseResponse {
            request_id: call.request_id.clone(),
            model: model.name.clone(),
            model_version: model.version.clone(),
            output: Some(answer.output),
            stop_reason: answer.stop_reason as i32,
            usage: Some(answer.usage),
            timing: Some(v1::Timing {
                time_to_first_token: Some(proto_duration(total)),
                total: Some(proto_duration(total)),
            }),
        });
        tag_response(response.metadata_mut(), &call.request_id, &model);
        Ok(response)
    }

    async fn list_models(
        &self,
        _request: Request<v1::ListModelsRequest>,
    ) -> Result<Response<v1::ListModelsResponse>, Status> {
        Ok(Response::new(self.catalog.list()))
    }
}

fn tag_response(metadata: &mut MetadataMap, request_id: &str, model: &Model) {
    if let Ok(value) = request_id.parse() {
        metadata.insert(REQUEST_ID_HEADER, value);
    }
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
