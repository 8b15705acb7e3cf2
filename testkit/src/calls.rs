//! Calls through a gRPC client: requests, their collected answers, API keys, and the emulator's
//! report of each stream's end.

use std::time::Duration;

use bedrock_emulator::StreamEnd;
use bedrock_gateway_proto::v1;
use bedrock_gateway_proto::v1::gateway_service_client::GatewayServiceClient;
use tonic::transport::Channel;

/// A one-message user request.
pub fn user_request(model: &str, text: &str) -> v1::ConverseRequest {
    v1::ConverseRequest {
        model: model.to_owned(),
        messages: vec![v1::Message {
            role: v1::Role::User as i32,
            content: vec![v1::ContentBlock { block: Some(v1::content_block::Block::Text(text.to_owned())) }],
        }],
        ..Default::default()
    }
}

/// Everything a stream delivered.
#[derive(Debug, Default)]
pub struct Collected {
    /// Every event, in order.
    pub events: Vec<v1::converse_stream_event::Event>,
    /// The text deltas joined.
    pub text: String,
    /// From the stop event.
    pub stop_reason: Option<v1::StopReason>,
    /// The usage event.
    pub usage: Option<v1::StreamUsage>,
    /// The status the stream ended with, if not OK.
    pub error: Option<tonic::Status>,
}

/// Reads a stream to its end.
pub async fn collect(client: &mut GatewayServiceClient<Channel>, request: v1::ConverseRequest) -> Collected {
    collect_request(client, tonic::Request::new(request)).await
}

/// Reads a stream to its end, for a request with metadata of its own (such as [`with_api_key`]).
pub async fn collect_request(
    client: &mut GatewayServiceClient<Channel>,
    request: tonic::Request<v1::ConverseRequest>,
) -> Collected {
    let mut collected = Collected::default();
    let mut stream = match client.converse_stream(request).await {
        Ok(response) => response.into_inner(),
        Err(status) => {
            collected.error = Some(status);
            return collected;
        }
    };
    loop {
        match stream.message().await {
            Ok(Some(event)) => {
                let event = event.event.expect("every event has a payload");
                use v1::converse_stream_event::Event;
                match &event {
                    Event::ContentBlockDelta(v1::ContentBlockDelta {
                        delta: Some(v1::content_block_delta::Delta::Text(text)),
                        ..
                    }) => collected.text.push_str(text),
                    Event::Stop(stop) => collected.stop_reason = Some(stop.stop_reason()),
                    Event::Usage(usage) => collected.usage = Some(*usage),
                    _ => {}
                }
                collected.events.push(event);
            }
            Ok(None) => return collected,
            Err(status) => {
                collected.error = Some(status);
                return collected;
            }
        }
    }
}

/// The SHA-256 of an API key as the config holds it (`auth.api_keys`, `tenants.<name>.api_keys`).
pub fn api_key_digest(key: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// `message` as a request that carries `authorization: Bearer <key>`.
pub fn with_api_key<T>(message: T, key: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {key}").parse().expect("a key is ASCII"));
    request
}

/// Waits for the emulator to report the end of a stream.
pub async fn next_stream_end(events: &mut tokio::sync::broadcast::Receiver<StreamEnd>) -> StreamEnd {
    tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("the emulator reports the stream's end within 5 s")
        .expect("the emulator's event channel is open")
}
