//! The sides of every comparison, behind one call: (a) **direct**, the real
//! `aws-sdk-bedrockruntime` client calling the emulator, configured as the gateway configures its
//! own client; (b) **via gateway**, the same request through the gateway's gRPC API with a raw
//! tonic client; (c) **via the Bedrock-compatible door**, the same SDK client calling the gateway
//! instead of the emulator; (d) **OpenAI-compatible**, the same request as a streamed chat
//! completion, to the gateway's OpenAI-compatible door or to a peer proxy. All count the same
//! things the same way: time to the first text delta and the number of stream events received, so
//! the difference from direct is what a gateway costs.

use std::net::SocketAddr;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_credential_types::Credentials;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::Region;
use aws_sdk_bedrockruntime::types as bedrock;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use bedrock_gateway_proto::v1;
use bedrock_gateway_proto::v1::gateway_service_client::GatewayServiceClient;
use tokio::time::Instant;
use tonic::Streaming;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use crate::openai::ChatClient;
use crate::processes::BedrockEndpoint;
use crate::sdk_h2c;
use crate::streamed::Streamed;

/// The emulator's model id behind the gateway's `bench` model.
const DIRECT_MODEL_ID: &str = "bench-model";
/// The gateway's model answering normally: the alias every door names, and the LiteLLM proxy's
/// name for the same emulator model.
pub const GATEWAY_MODEL: &str = "bench";
/// The gateway's model whose Bedrock stream stays open and silent (the emulator's `fault.stall`).
pub const IDLE_MODEL: &str = "idle";
/// hyper's HTTP/2 server allows 200 concurrent streams per connection (tonic keeps that default);
/// the load generator stays below it so no stream waits for a slot on its connection.
pub const STREAMS_PER_CONNECTION: usize = 100;
/// The same prompt on both sides, so the emulator's (deterministic) answers are identical.
const PROMPT: &str = "Summarise the benchmark methodology in one sentence.";

/// A client for one side, cheap to clone into every worker.
#[derive(Debug, Clone)]
pub enum Target {
    /// The Bedrock SDK client.
    Direct(Client),
    /// Gateway clients over several HTTP/2 connections.
    Gateway {
        /// One per connection.
        clients: Vec<GatewayServiceClient<Channel>>,
        /// The `authorization` value every request carries, if any (a tenant's API key).
        authorization: Option<MetadataValue<Ascii>>,
    },
    /// The SDK client calling the gateway's Bedrock-compatible door, one client (so one
    /// connection) per [`STREAMS_PER_CONNECTION`] streams.
    BedrockDoor(Vec<Client>),
    /// Streamed chat completions from an OpenAI-compatible server.
    Chat(ChatClient),
}

impl Target {
    /// The SDK client, configured like the gateway's: emulator endpoint and credentials, one
    /// attempt, no stalled-stream protection. Over TLS it trusts the emulator's certificate alone,
    /// on the connector of the SDK's default client (rustls on aws-lc, ALPN `h2, http/1.1`); the
    /// gateway's default client gets the same certificate through `SSL_CERT_FILE`.
    pub async fn direct(emulator: &BedrockEndpoint) -> std::io::Result<Target> {
        let mut loader = sdk_config(&emulator.url);
        if let Some(certificate) = &emulator.certificate {
            let trust = TrustStore::empty().with_pem_certificate(std::fs::read(certificate)?);
            let context = TlsContext::builder().with_trust_store(trust).build().map_err(std::io::Error::other)?;
            loader = loader.http_client(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
                    .tls_context(context)
                    .build_https(),
            );
        }
        Ok(Target::Direct(Client::new(&loader.load().await)))
    }

    /// The same SDK client, configured the same way, calling the gateway's Bedrock-compatible door
    /// with the alias as its model id: over cleartext HTTP/2 as the gRPC side (see [`sdk_h2c`]),
    /// with enough clients (one connection each) for `streams` concurrent streams. It signs with
    /// SigV4, so the gateway identifies its calls as calls without a key.
    pub async fn bedrock_door(gateway: SocketAddr, streams: usize) -> Target {
        let mut clients = Vec::new();
        for _ in 0..connections(streams) {
            let config = sdk_config(&format!("http://{gateway}")).http_client(sdk_h2c::client()).load().await;
            clients.push(Client::new(&config));
        }
        Target::BedrockDoor(clients)
    }

    /// Gateway clients with enough connections for `streams` concurrent streams.
    pub async fn gateway(gateway: SocketAddr, streams: usize) -> Result<Target, tonic::transport::Error> {
        Ok(Target::Gateway { clients: connect(gateway, streams).await?, authorization: None })
    }

    /// [`Target::gateway`] calling as the tenant of `api_key` (`authorization: Bearer <key>`).
    pub async fn gateway_with_key(
        gateway: SocketAddr,
        streams: usize,
        api_key: &str,
    ) -> Result<Target, Box<dyn std::error::Error>> {
        let authorization = MetadataValue::try_from(format!("Bearer {api_key}"))?;
        Ok(Target::Gateway { clients: connect(gateway, streams).await?, authorization: Some(authorization) })
    }

    /// A pooled client for the OpenAI-compatible server (the gateway or a proxy) on `server`.
    pub fn chat(server: SocketAddr) -> Result<Target, reqwest::Error> {
        Ok(Target::Chat(ChatClient::new(server)?))
    }

    /// Runs one stream of at most `max_tokens` tokens to its end; `worker` picks the connection.
    pub async fn stream(&self, worker: usize, max_tokens: u32) -> Result<Streamed, String> {
        match self {
            Target::Direct(client) => sdk_stream(client, DIRECT_MODEL_ID, max_tokens).await,
            Target::BedrockDoor(clients) => {
                sdk_stream(&clients[worker % clients.len()], GATEWAY_MODEL, max_tokens).await
            }
            Target::Chat(client) => client.stream(GATEWAY_MODEL, PROMPT, max_tokens).await,
            Target::Gateway { clients, authorization } => {
                let mut client = clients[worker % clients.len()].clone();
                let request = authorized(gateway_request(GATEWAY_MODEL, max_tokens), authorization);
                let stream = client.converse_stream(request).await.map_err(|status| status.to_string())?;
                gateway_events(stream.into_inner()).await
            }
        }
    }

    /// Opens a stream on the idle model and returns it once the gateway has sent its first event,
    /// i.e. once the gateway holds the Bedrock stream open. Only the gateway side has idle streams.
    pub async fn open_idle(&self, worker: usize) -> Result<Streaming<v1::ConverseStreamEvent>, String> {
        self.open_held(worker, gateway_request(IDLE_MODEL, 16)).await.map_err(|status| status.to_string())
    }

    /// Sends `request`, whose model must be [`IDLE_MODEL`], and returns its stream once the gateway
    /// has sent the first event: by then the gateway has received the whole request and Bedrock
    /// (the emulator reads a body to its end before answering) has received it from the gateway.
    pub async fn open_held(
        &self,
        worker: usize,
        request: v1::ConverseRequest,
    ) -> Result<Streaming<v1::ConverseStreamEvent>, tonic::Status> {
        let Target::Gateway { clients, authorization } = self else {
            return Err(tonic::Status::unimplemented("held streams are measured on the gateway only"));
        };
        let mut client = clients[worker % clients.len()].clone();
        let mut stream = client.converse_stream(authorized(request, authorization)).await?.into_inner();
        match stream.message().await {
            Ok(Some(_start)) => Ok(stream),
            Ok(None) => Err(tonic::Status::unknown("the held stream ended at once")),
            Err(status) => Err(status),
        }
    }
}

/// Enough HTTP/2 connections to the gateway for `streams` concurrent streams.
async fn connect(
    gateway: SocketAddr,
    streams: usize,
) -> Result<Vec<GatewayServiceClient<Channel>>, tonic::transport::Error> {
    let endpoint = Endpoint::from_shared(format!("http://{gateway}"))?.tcp_nodelay(true);
    let mut clients = Vec::new();
    for _ in 0..connections(streams) {
        clients.push(GatewayServiceClient::new(endpoint.connect().await?));
    }
    Ok(clients)
}

/// Connections for `streams` concurrent streams at [`STREAMS_PER_CONNECTION`] each.
fn connections(streams: usize) -> usize {
    streams.div_ceil(STREAMS_PER_CONNECTION).max(1)
}

/// The SDK's configuration as the gateway configures its own client, calling `url`: the
/// emulator's credentials, one attempt, no stalled-stream protection.
fn sdk_config(url: &str) -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(Credentials::new("emulator", "emulator", None, None, "bench"))
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
}

/// A ConverseStream request for `model`, the same one on every side.
pub fn gateway_request(model: &str, max_tokens: u32) -> v1::ConverseRequest {
    v1::ConverseRequest {
        model: model.to_owned(),
        messages: vec![v1::Message {
            role: v1::Role::User as i32,
            content: vec![v1::ContentBlock { block: Some(v1::content_block::Block::Text(PROMPT.to_owned())) }],
        }],
        inference_config: Some(v1::InferenceConfig { max_tokens: Some(max_tokens), ..Default::default() }),
        ..Default::default()
    }
}

fn authorized(
    message: v1::ConverseRequest,
    authorization: &Option<MetadataValue<Ascii>>,
) -> tonic::Request<v1::ConverseRequest> {
    let mut request = tonic::Request::new(message);
    if let Some(value) = authorization {
        request.metadata_mut().insert("authorization", value.clone());
    }
    request
}

async fn gateway_events(mut stream: Streaming<v1::ConverseStreamEvent>) -> Result<Streamed, String> {
    use v1::converse_stream_event::Event;
    let mut first_token_at = None;
    let mut events = 0;
    loop {
        match stream.message().await {
            Ok(Some(event)) => {
                events += 1;
                if first_token_at.is_none() && matches!(event.event, Some(Event::ContentBlockDelta(_))) {
                    first_token_at = Some(Instant::now());
                }
            }
            Ok(None) => break,
            Err(status) => return Err(status.to_string()),
        }
    }
    let first_token_at = first_token_at.ok_or("the stream had no text delta")?;
    Ok(Streamed { first_token_at, events })
}

/// One ConverseStream of the SDK `client` on `model_id` (the emulator's id, or the gateway's alias).
async fn sdk_stream(client: &Client, model_id: &str, max_tokens: u32) -> Result<Streamed, String> {
    let message = bedrock::Message::builder()
        .role(bedrock::ConversationRole::User)
        .content(bedrock::ContentBlock::Text(PROMPT.to_owned()))
        .build()
        .map_err(|err| err.to_string())?;
    let inference = bedrock::InferenceConfiguration::builder().max_tokens(max_tokens.try_into().unwrap_or(i32::MAX));
    let output = client
        .converse_stream()
        .model_id(model_id)
        .messages(message)
        .inference_config(inference.build())
        .send()
        .await
        .map_err(|err| aws_sdk_bedrockruntime::error::DisplayErrorContext(err).to_string())?;
    let mut stream = output.stream;
    let mut first_token_at = None;
    let mut events = 0;
    loop {
        match stream.recv().await {
            Ok(Some(event)) => {
                events += 1;
                if first_token_at.is_none() && matches!(event, bedrock::ConverseStreamOutput::ContentBlockDelta(_)) {
                    first_token_at = Some(Instant::now());
                }
            }
            Ok(None) => break,
            Err(err) => return Err(aws_sdk_bedrockruntime::error::DisplayErrorContext(err).to_string()),
        }
    }
    let first_token_at = first_token_at.ok_or("the stream had no text delta")?;
    Ok(Streamed { first_token_at, events })
}

/// Longest any single stream may take before it counts as failed, so every round ends.
pub const STREAM_TIMEOUT: Duration = Duration::from_secs(30);
