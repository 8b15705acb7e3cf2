//! Helpers shared by the integration tests: a real SDK client pointed at an
//! emulator, request builders and stream collection.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::time::Duration;

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region, StalledStreamProtectionConfig};
use aws_sdk_bedrockruntime::error::SdkError;
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamOutput as StreamOutput;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ContentBlockStart, ConversationRole, ConverseStreamOutput, Message,
    ReasoningContentBlockDelta, Tool, ToolConfiguration, ToolInputSchema, ToolSpecification,
};
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_types::Document;
use bedrock_emulator::{Emulator, EmulatorConfig};

pub const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";

pub async fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig::default()).await.expect("emulator starts")
}

/// The real SDK client, without retries so each fault is seen once.
pub fn client(emulator: &Emulator) -> Client {
    client_with_retries(emulator, RetryConfig::disabled())
}

pub fn client_with_retries(emulator: &Emulator, retry: RetryConfig) -> Client {
    Client::from_conf(config(&emulator.endpoint_url(), retry).build())
}

/// An emulator serving TLS, as Bedrock does.
pub async fn tls_emulator() -> Emulator {
    Emulator::start_tls(EmulatorConfig::default()).await.expect("emulator starts")
}

/// The real SDK client, without retries, for an emulator serving TLS.
pub fn tls_client(emulator: &Emulator) -> Client {
    https_client(&emulator.endpoint_url(), emulator.certificate_pem().expect("the emulator serves TLS"))
}

/// The real SDK client, without retries, on the connector the SDK uses by default (rustls on
/// aws-lc, ALPN `h2, http/1.1`), trusting only the certificate `pem`.
pub fn https_client(endpoint_url: &str, pem: &str) -> Client {
    let trust = TrustStore::empty().with_pem_certificate(pem.as_bytes());
    let context = TlsContext::builder().with_trust_store(trust).build().expect("valid TLS context");
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https();
    Client::from_conf(config(endpoint_url, RetryConfig::disabled()).http_client(http_client).build())
}

fn config(endpoint_url: &str, retry: RetryConfig) -> aws_sdk_bedrockruntime::config::Builder {
    aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint_url)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .retry_config(retry)
}

pub fn user(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.to_owned()))
        .build()
        .expect("valid message")
}

pub fn tools(names: &[&str]) -> ToolConfiguration {
    let mut builder = ToolConfiguration::builder();
    for name in names {
        let spec = ToolSpecification::builder()
            .name(*name)
            .input_schema(ToolInputSchema::Json(Document::Object(
                [("type".to_owned(), Document::from("object"))].into(),
            )))
            .build()
            .expect("valid tool");
        builder = builder.tools(Tool::ToolSpec(spec));
    }
    builder.build().expect("valid tool config")
}

/// Everything a ConverseStream response said, in a comparable form.
#[derive(Debug, Default)]
pub struct Collected {
    /// Reasoning text deltas, signature and redacted content (all in block 0).
    pub reasoning: Vec<String>,
    pub signature: Option<String>,
    pub redacted: Option<Vec<u8>>,
    /// The index of the text block, when there is one.
    pub text_index: Option<i32>,
    pub text: Vec<String>,
    pub tool_start: Option<(i32, String, String)>,
    pub tool_input: Vec<String>,
    pub stop_reason: Option<String>,
    pub usage: Option<(i32, i32, i32)>,
    pub events: usize,
}

/// Reads a stream to its end; `Err` carries what was collected so far.
pub async fn collect(
    mut output: StreamOutput,
) -> Result<Collected, (Collected, SdkError<ConverseStreamOutputError, aws_smithy_types::event_stream::RawMessage>)> {
    let mut c = Collected::default();
    loop {
        let event = match output.stream.recv().await {
            Ok(Some(event)) => event,
            Ok(None) => return Ok(c),
            Err(error) => return Err((c, error)),
        };
        c.events += 1;
        match event {
            ConverseStreamOutput::MessageStart(start) => {
                assert_eq!(start.role(), &ConversationRole::Assistant);
            }
            ConverseStreamOutput::ContentBlockStart(start) => {
                if let Some(ContentBlockStart::ToolUse(tool)) = start.start() {
                    c.tool_start =
                        Some((start.content_block_index(), tool.tool_use_id().to_owned(), tool.name().to_owned()));
                }
            }
            ConverseStreamOutput::ContentBlockDelta(delta) => match delta.delta() {
                Some(ContentBlockDelta::ReasoningContent(reasoning)) => {
                    assert_eq!(delta.content_block_index(), 0, "reasoning comes first");
                    match reasoning {
                        ReasoningContentBlockDelta::Text(text) => c.reasoning.push(text.clone()),
                        ReasoningContentBlockDelta::Signature(signature) => c.signature = Some(signature.clone()),
                        ReasoningContentBlockDelta::RedactedContent(blob) => {
                            c.redacted = Some(blob.clone().into_inner())
                        }
                        other => panic!("unexpected reasoning delta {other:?}"),
                    }
                }
                Some(ContentBlockDelta::Text(text)) => {
                    assert_eq!(*c.text_index.get_or_insert(delta.content_block_index()), delta.content_block_index());
                    c.text.push(text.clone());
                }
                Some(ContentBlockDelta::ToolUse(tool)) => {
                    let started = c.tool_start.as_ref().map(|start| start.0);
                    assert_eq!(started, Some(delta.content_block_index()), "tool input follows its start");
                    c.tool_input.push(tool.input().to_owned());
                }
                other => panic!("unexpected delta {other:?}"),
            },
            ConverseStreamOutput::ContentBlockStop(_) => {}
            ConverseStreamOutput::MessageStop(stop) => {
                c.stop_reason = Some(stop.stop_reason().as_str().to_owned());
            }
            ConverseStreamOutput::Metadata(metadata) => {
                let usage = metadata.usage().expect("usage");
                c.usage = Some((usage.input_tokens(), usage.output_tokens(), usage.total_tokens()));
                assert!(metadata.metrics().is_some());
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
}

/// Waits at most `within` for the next stream end.
pub async fn next_end(
    ends: &mut tokio::sync::broadcast::Receiver<bedrock_emulator::StreamEnd>,
    within: Duration,
) -> bedrock_emulator::StreamEnd {
    tokio::time::timeout(within, ends.recv())
        .await
        .expect("a stream end is reported in time")
        .expect("the emulator is alive")
}
