//! Per-alias settings the platform team tunes without a client change (`[models.NAME]`:
//! `default_max_tokens`, `temperature`, `top_p`, `guardrail`, `prompt_caching`,
//! `additional_request_fields`), checked in the exact request body Bedrock receives through the
//! real SDK.

use bedrock_gateway::catalog::config::{GuardrailConfig, PromptCachingConfig, StreamProcessingMode};
use bedrock_gateway_proto::v1;
use bedrock_gateway_testkit::{TestGateway, collect, user_request};
use serde_json::{Value, json};
use tonic::Code;

/// The body Bedrock received for `request`, sent as a stream (`stream`) or as one Converse call.
async fn sent(gateway: &TestGateway, request: v1::ConverseRequest, stream: bool) -> Value {
    let mut client = gateway.stub().await;
    if stream {
        let collected = collect(&mut client, request).await;
        assert!(collected.error.is_none(), "{:?}", collected.error);
    } else {
        client.converse(request).await.unwrap();
    }
    gateway.emulator.last_request_body().expect("Bedrock received a JSON body")
}

fn with_inference(config: v1::InferenceConfig) -> v1::ConverseRequest {
    v1::ConverseRequest { inference_config: Some(config), ..user_request("chat", "tune me") }
}

#[tokio::test]
async fn a_request_without_max_tokens_reserves_the_default_not_the_cap() {
    let gateway = TestGateway::start_with(|config| {
        let chat = config.models.get_mut("chat").unwrap();
        chat.max_tokens_cap = 4000;
        chat.default_max_tokens = Some(200);
        config.models.get_mut("profile").unwrap().max_tokens_cap = 8192;
    })
    .await;
    for stream in [true, false] {
        let body = sent(&gateway, user_request("chat", "tune me"), stream).await;
        assert_eq!(body["inferenceConfig"]["maxTokens"], 200, "stream: {stream}");
        let body = sent(
            &gateway,
            with_inference(v1::InferenceConfig { max_tokens: Some(4000), ..Default::default() }),
            stream,
        )
        .await;
        assert_eq!(body["inferenceConfig"]["maxTokens"], 4000, "up to the cap, the request's own");
    }
    let body = sent(&gateway, user_request("profile", "tune me"), true).await;
    assert_eq!(body["inferenceConfig"]["maxTokens"], 1024, "unset default_max_tokens is 1024");

    let served = gateway.emulator.requests_served();
    let over = with_inference(v1::InferenceConfig { max_tokens: Some(4001), ..Default::default() });
    let status = gateway.stub().await.converse(over).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("inference_config.max_tokens: 4001 is out of range"), "{}", status.message());
    assert_eq!(gateway.emulator.requests_served(), served, "above the cap is refused, as before");
}

#[tokio::test]
async fn temperature_and_top_p_defaults_apply_only_where_the_request_sets_none() {
    let gateway = TestGateway::start_with(|config| {
        let chat = config.models.get_mut("chat").unwrap();
        chat.temperature = Some(0.25);
        chat.top_p = Some(0.75);
    })
    .await;
    for stream in [true, false] {
        let body = sent(&gateway, user_request("chat", "tune me"), stream).await;
        assert_eq!(body["inferenceConfig"]["temperature"], 0.25);
        assert_eq!(body["inferenceConfig"]["topP"], 0.75);
        let own = v1::InferenceConfig { temperature: Some(0.5), top_p: Some(0.125), ..Default::default() };
        let body = sent(&gateway, with_inference(own), stream).await;
        assert_eq!(
            (body["inferenceConfig"]["temperature"].clone(), body["inferenceConfig"]["topP"].clone()),
            (json!(0.5), json!(0.125))
        );
    }
    let body = sent(&gateway, user_request("profile", "untuned"), true).await;
    assert!(body["inferenceConfig"].get("temperature").is_none() && body["inferenceConfig"].get("topP").is_none());
}

#[tokio::test]
async fn a_guardrail_is_sent_with_the_stream_settings_on_converse_stream() {
    let gateway = TestGateway::start_with(|config| {
        let guardrail =
            |mode| GuardrailConfig { id: "gr0abc123".into(), version: "3".into(), stream_processing_mode: mode };
        config.models.get_mut("chat").unwrap().guardrail = Some(guardrail(StreamProcessingMode::Sync));
        config.models.get_mut("profile").unwrap().guardrail = Some(guardrail(StreamProcessingMode::Async));
    })
    .await;
    let body = sent(&gateway, user_request("chat", "guard me"), true).await;
    assert_eq!(
        body["guardrailConfig"],
        json!({"guardrailIdentifier": "gr0abc123", "guardrailVersion": "3", "trace": "disabled", "streamProcessingMode": "sync"})
    );
    let body = sent(&gateway, user_request("profile", "guard me"), true).await;
    assert_eq!(body["guardrailConfig"]["streamProcessingMode"], "async");
    let body = sent(&gateway, user_request("chat", "guard me"), false).await;
    assert_eq!(
        body["guardrailConfig"],
        json!({"guardrailIdentifier": "gr0abc123", "guardrailVersion": "3", "trace": "disabled"})
    );
}

#[tokio::test]
async fn prompt_caching_puts_cache_points_after_the_system_prompt_and_the_tools() {
    let gateway = TestGateway::start_with(|config| {
        config.models.get_mut("chat").unwrap().prompt_caching =
            PromptCachingConfig { after_system: true, after_tools: true };
        config.models.get_mut("profile").unwrap().prompt_caching =
            PromptCachingConfig { after_system: true, after_tools: false };
    })
    .await;
    let request = |model: &str| v1::ConverseRequest {
        system: vec![v1::SystemBlock { block: Some(v1::system_block::Block::Text("You are terse.".into())) }],
        tool_config: Some(v1::ToolConfig {
            tools: vec![v1::Tool {
                name: "lookup".into(),
                description: "Looks things up.".into(),
                input_schema_json: r#"{"type":"object"}"#.into(),
                strict: None,
            }],
            tool_choice: None,
            cache_point: None,
        }),
        ..user_request(model, "cache me")
    };
    let cache_point = json!({"cachePoint": {"type": "default"}});
    for stream in [true, false] {
        let body = sent(&gateway, request("chat"), stream).await;
        assert_eq!(body["system"], json!([{"text": "You are terse."}, cache_point]));
        let tools = body["toolConfig"]["tools"].as_array().unwrap();
        assert_eq!((tools.len(), &tools[1]), (2, &cache_point), "{tools:?}");
    }
    let body = sent(&gateway, request("profile"), true).await;
    assert_eq!(body["system"].as_array().unwrap().len(), 2);
    assert_eq!(body["toolConfig"]["tools"].as_array().unwrap().len(), 1, "after_tools is off");
    let body = sent(&gateway, user_request("chat", "no system prompt"), true).await;
    assert!(body.get("system").is_none(), "nothing to cache, no cache point: {body}");
}

#[tokio::test]
async fn additional_request_fields_reach_bedrock_as_json() {
    let fields = json!({"thinking": {"type": "enabled", "budget_tokens": 2048}, "top_k": 40});
    let gateway = TestGateway::start_with(|config| {
        let chat = config.models.get_mut("chat").unwrap();
        chat.additional_request_fields = fields.as_object().cloned();
        // Bedrock (and the emulator) take a thinking budget only below max_tokens.
        (chat.max_tokens_cap, chat.default_max_tokens) = (4096, Some(3000));
    })
    .await;
    for stream in [true, false] {
        let body = sent(&gateway, user_request("chat", "think"), stream).await;
        assert_eq!(body["additionalModelRequestFields"], fields);
    }
    let body = sent(&gateway, user_request("profile", "plain"), true).await;
    assert!(body.get("additionalModelRequestFields").is_none());
}
