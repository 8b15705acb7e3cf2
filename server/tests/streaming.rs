//! The happy path over a real socket: what the emulator generates is what the client receives,
//! in the documented order, with stop reason and usage relayed.

use bedrock_emulator::expected_answer;
use bedrock_gateway_proto::v1;
use bedrock_gateway_testkit::{ANSWER_TOKENS, TestGateway, collect, user_request};
use v1::converse_stream_event::Event;

#[tokio::test]
async fn streamed_text_is_what_bedrock_generated_and_ends_with_stop_then_usage() {
    let gateway = TestGateway::start().await;
    let mut client = gateway.stub().await;
    let prompt = "Tell me about event streams";
    let collected = collect(&mut client, user_request("chat", prompt)).await;
    assert!(collected.error.is_none(), "{:?}", collected.error);

    let expected = expected_answer(prompt, Some(1000), ANSWER_TOKENS);
    assert_eq!(collected.text, expected.text());
    assert_eq!(collected.stop_reason, Some(v1::StopReason::EndTurn));

    let Some(Event::Start(start)) = collected.events.first() else { panic!("first event is start") };
    assert_eq!(start.model, "chat");
    assert_eq!(start.model_version, "chat", "the version defaults to the logical name, never the model id");
    assert!(!start.request_id.is_empty());

    let n = collected.events.len();
    assert!(matches!(collected.events[n - 2], Event::Stop(_)), "stop is second to last");
    assert!(matches!(collected.events[n - 1], Event::Usage(_)), "usage is last");
    let deltas = collected.events.iter().filter(|event| matches!(event, Event::ContentBlockDelta(_))).count();
    assert_eq!(deltas, ANSWER_TOKENS, "one event per token: nothing is buffered into bigger pieces");

    let usage = collected.usage.unwrap();
    let tokens = usage.usage.unwrap();
    assert_eq!(tokens.output_tokens as usize, ANSWER_TOKENS);
    assert_eq!(tokens.input_tokens, 5, "the emulator counts the prompt's words");
    assert_eq!(tokens.total_tokens, tokens.input_tokens + tokens.output_tokens);
    let timing = usage.timing.unwrap();
    assert!(timing.time_to_first_token.is_some() && timing.total.is_some());
}

#[tokio::test]
async fn request_is_converted_faithfully_for_bedrock() {
    let gateway = TestGateway::start().await;
    let mut client = gateway.stub().await;
    let mut request = user_request("chat", "Hi there");
    request.system = vec![v1::SystemBlock { block: Some(v1::system_block::Block::Text("Be brief.".into())) }];
    request.inference_config = Some(v1::InferenceConfig {
        max_tokens: Some(5),
        temperature: Some(0.5),
        top_p: Some(0.9),
        stop_sequences: vec!["END".into()],
    });
    let collected = collect(&mut client, request).await;
    assert_eq!(collected.stop_reason, Some(v1::StopReason::MaxTokens));
    assert_eq!(collected.text, expected_answer("Hi there", Some(5), ANSWER_TOKENS).text());

    let body = gateway.emulator.last_request_body().unwrap();
    assert_eq!(body["system"][0]["text"], "Be brief.");
    assert_eq!(body["inferenceConfig"]["maxTokens"], 5);
    assert_eq!(body["inferenceConfig"]["temperature"], 0.5);
    assert_eq!(body["inferenceConfig"]["stopSequences"][0], "END");
    assert_eq!(body["messages"][0]["role"], "user");
    assert_eq!(body["messages"][0]["content"][0]["text"], "Hi there");
}

#[tokio::test]
async fn inference_profile_arns_reach_bedrock_intact() {
    let gateway = TestGateway::start().await;
    let mut client = gateway.stub().await;
    let collected = collect(&mut client, user_request("profile", "hello")).await;
    assert!(collected.error.is_none(), "{:?}", collected.error);
    assert_eq!(collected.stop_reason, Some(v1::StopReason::EndTurn));
}

#[tokio::test]
async fn tool_use_streams_as_blocks_with_json_fragments() {
    let gateway = TestGateway::start().await;
    let mut client = gateway.stub().await;
    let prompt = "please use a tool to find the weather";
    let mut request = user_request("chat", prompt);
    request.tool_config = Some(v1::ToolConfig {
        tools: vec![v1::Tool {
            name: "weather".into(),
            description: "Looks up the weather".into(),
            input_schema_json: r#"{"type":"object","properties":{"query":{"type":"string"}}}"#.into(),
            strict: None,
        }],
        tool_choice: None,
        cache_point: None,
    });
    let collected = collect(&mut client, request).await;
    assert_eq!(collected.stop_reason, Some(v1::StopReason::ToolUse));
    let start = collected
        .events
        .iter()
        .find_map(|event| match event {
            Event::ContentBlockStart(v1::ContentBlockStart {
                start: Some(v1::content_block_start::Start::ToolUse(tool_use)),
                content_block_index,
            }) => Some((tool_use.clone(), *content_block_index)),
            _ => None,
        })
        .expect("a tool-use block starts");
    assert_eq!(start.0.name, "weather");
    assert_eq!(start.0.tool_use_id, bedrock_emulator::expected_tool_use_id(prompt));
    let input: String = collected
        .events
        .iter()
        .filter_map(|event| match event {
            Event::ContentBlockDelta(v1::ContentBlockDelta {
                content_block_index,
                delta: Some(v1::content_block_delta::Delta::ToolUseInputJson(fragment)),
            }) if *content_block_index == start.1 => Some(fragment.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(input, bedrock_emulator::expected_tool_input(prompt));
}

#[tokio::test]
async fn converse_returns_the_same_answer_whole() {
    let gateway = TestGateway::start().await;
    let mut client = gateway.stub().await;
    let prompt = "A whole answer please";
    let response = client.converse(user_request("chat", prompt)).await.unwrap();
    assert!(response.metadata().get("x-request-id").is_some());
    let response = response.into_inner();
    assert_eq!(response.model, "chat");
    assert_eq!(response.stop_reason(), v1::StopReason::EndTurn);
    let text: String = response
        .output
        .unwrap()
        .content
        .into_iter()
        .filter_map(|block| match block.block {
            Some(v1::content_block::Block::Text(text)) => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(text, expected_answer(prompt, Some(1000), ANSWER_TOKENS).text());
    assert_eq!(response.usage.unwrap().output_tokens as usize, ANSWER_TOKENS);
}

#[tokio::test]
async fn list_models_shows_the_catalog_with_lifecycle() {
    let gateway = TestGateway::start().await;
    let mut client = gateway.stub().await;
    let models = client.list_models(v1::ListModelsRequest {}).await.unwrap().into_inner().models;
    let legacy = models.iter().find(|model| model.name == "legacy").unwrap();
    assert_eq!(legacy.state(), v1::ModelState::Deprecated);
    assert_eq!(legacy.replacement, "chat");
    assert_eq!(legacy.retires_on, "2099-01-31");
    let names: Vec<_> = models.iter().map(|model| model.name.clone()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[tokio::test]
async fn deprecated_models_serve_with_a_notice_and_retired_ones_refuse() {
    let gateway = TestGateway::start().await;
    let mut client = gateway.stub().await;
    let response = client.converse_stream(user_request("legacy", "hi")).await.unwrap();
    let notice = response.metadata().get("x-model-deprecation").unwrap().to_str().unwrap().to_owned();
    assert!(notice.contains("2099-01-31") && notice.contains("chat"), "{notice}");

    let status = client.converse_stream(user_request("retired", "hi")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert!(status.message().contains("\"chat\""), "{}", status.message());
}

#[tokio::test]
async fn sequential_streams_reuse_the_connection_to_bedrock() {
    let gateway = TestGateway::start().await;
    let mut client = gateway.stub().await;
    for i in 0..5 {
        let collected = collect(&mut client, user_request("chat", &format!("question {i}"))).await;
        assert!(collected.usage.is_some(), "{:?}", collected.error);
    }
    assert_eq!(gateway.emulator.requests_served(), 5);
    assert_eq!(
        gateway.emulator.connections_accepted(),
        1,
        "each stream reads Bedrock's body to its end, so the SDK pools the connection (no new TLS handshake)"
    );
}
