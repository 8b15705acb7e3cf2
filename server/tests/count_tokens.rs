//! CountTokens through the gateway, the real SDK and the emulator: the exact body Bedrock receives,
//! the count the caller gets, the refusals (a model without the capability, an embedding model),
//! and what it costs a tenant (a request, no tokens).

use bedrock_gateway::config::EmbeddingFormat;
use bedrock_gateway::config::{QuotaLimits, TenantConfig};
use bedrock_gateway_proto::v1;
use bedrock_gateway_testkit::{LogCapture, TestGateway, api_key_digest, embedding_model, user_request, with_api_key};
use serde_json::json;
use tonic::Code;

async fn counting_gateway() -> TestGateway {
    TestGateway::start_with(|config| {
        config.models.get_mut("chat").unwrap().capabilities.count_tokens = true;
        config.models.insert(
            "embed".into(),
            embedding_model("amazon.titan-embed-text-v2:0", EmbeddingFormat::TitanTextV2, &[1024]),
        );
    })
    .await
}

fn tool(name: &str) -> v1::Tool {
    v1::Tool {
        name: name.into(),
        description: "d".into(),
        input_schema_json: r#"{"type":"object"}"#.into(),
        strict: None,
    }
}

#[tokio::test]
async fn count_tokens_sends_the_converse_input_and_returns_bedrocks_count() {
    let gateway = counting_gateway().await;
    let request = v1::ConverseRequest {
        system: vec![v1::SystemBlock { block: Some(v1::system_block::Block::Text("be brief".into())) }],
        inference_config: Some(v1::InferenceConfig { max_tokens: Some(100), ..Default::default() }),
        tool_config: Some(v1::ToolConfig { tools: vec![tool("lookup")], ..Default::default() }),
        ..user_request("chat", "count these words")
    };
    let response = gateway.stub().await.count_tokens(request).await.unwrap().into_inner();
    assert_eq!(
        response.input_tokens, 7,
        "the emulator counts the words of the system prompt, the messages and the tools' names and descriptions"
    );
    assert_eq!((response.model.as_str(), response.model_version.as_str()), ("chat", "chat"));
    assert!(!response.request_id.is_empty());
    let body = gateway.emulator.last_request_body().unwrap();
    assert_eq!(
        body,
        json!({"input": {"converse": {
            "messages": [{"role": "user", "content": [{"text": "count these words"}]}],
            "system": [{"text": "be brief"}],
            "toolConfig": {"tools": [{"toolSpec": {
                "name": "lookup",
                "description": "d",
                "inputSchema": {"json": {"type": "object"}},
            }}]},
        }}}),
        "CountTokens takes the input, without inference settings"
    );
}

#[tokio::test]
async fn a_model_without_count_tokens_is_unimplemented_naming_it() {
    let gateway = counting_gateway().await;
    let served = gateway.emulator.requests_served();
    let status = gateway.stub().await.count_tokens(user_request("profile", "hi")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert_eq!(
        status.message(),
        "model: \"profile\" does not support CountTokens (ListModels shows its capabilities.count_tokens as false)"
    );
    assert_eq!(gateway.emulator.requests_served(), served, "nothing reached Bedrock");
}

#[tokio::test]
async fn an_embedding_model_cannot_count_tokens() {
    let gateway = counting_gateway().await;
    let status = gateway.stub().await.count_tokens(user_request("embed", "hi")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "model: \"embed\" is an embedding model: call Embed");
}

#[tokio::test]
async fn count_tokens_is_validated_like_converse() {
    let gateway = counting_gateway().await;
    let mut empty = user_request("chat", "hi");
    empty.messages[0].content[0].block = Some(v1::content_block::Block::Text(" ".into()));
    let status = gateway.stub().await.count_tokens(empty).await.unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::InvalidArgument, "messages[0].content[0].text: must not be empty")
    );
}

#[tokio::test]
async fn counting_costs_a_request_and_no_tokens_and_is_logged() {
    const KEY: &str = "count-tokens-key";
    let logs = LogCapture::install();
    let gateway = TestGateway::start_with(|config| {
        config.models.get_mut("chat").unwrap().capabilities.count_tokens = true;
        let tenant = TenantConfig {
            api_keys: [("ci".to_owned(), api_key_digest(KEY).into())].into(),
            // Too few tokens for any Converse call, enough requests for two.
            quotas: QuotaLimits { requests_per_minute: Some(2), tokens_per_minute: Some(10), ..QuotaLimits::default() },
            ..TenantConfig::default()
        };
        config.tenants.insert("team".into(), tenant);
    })
    .await;
    let mut client = gateway.stub().await;
    let status = client.converse(with_api_key(user_request("chat", "hi"), KEY)).await.unwrap_err();
    assert!(status.message().contains("tenants.team.quotas.tokens_per_minute"), "{}", status.message());
    let counted = client.count_tokens(with_api_key(user_request("chat", "hi there"), KEY)).await.unwrap().into_inner();
    assert_eq!(counted.input_tokens, 2);
    let line = logs.request_line(&counted.request_id).await;
    assert_eq!((line["rpc"].as_str(), line["status"].as_str()), (Some("CountTokens"), Some("OK")));
    assert!(
        line.get("output_tokens").is_none() && line.get("input_tokens").is_none(),
        "counting uses no tokens: {line}"
    );
    client.count_tokens(with_api_key(user_request("chat", "hi"), KEY)).await.unwrap();
    let status = client.count_tokens(with_api_key(user_request("chat", "hi"), KEY)).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(status.message().contains("tenants.team.quotas.requests_per_minute (2)"), "{}", status.message());
}
