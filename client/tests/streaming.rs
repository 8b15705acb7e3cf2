//! Streaming, text-only streaming, collecting, tool use and listing models (with the catalog's
//! revision) against a real gateway.

mod common;

use bedrock_emulator::{expected_answer, expected_tool_input, expected_tool_use_id};
use bedrock_gateway_client::{Code, Event, Request, v1};
use common::{ANSWER_TOKENS, Gateway};

#[tokio::test]
async fn streams_typed_events_in_order() {
    let gateway = Gateway::start().await;
    let client = common::client(&gateway);
    let mut events = client.converse_stream(Request::new("chat").user("hello there")).await.unwrap();
    assert!(!events.request_id().is_empty());
    let mut seen = Vec::new();
    while let Some(event) = events.next().await {
        seen.push(event.unwrap());
    }
    assert!(matches!(&seen[0], Event::Start { model, .. } if model == "chat"), "{:?}", seen[0]);
    let text: String = seen
        .iter()
        .filter_map(|event| match event {
            Event::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, expected_answer("hello there", None, ANSWER_TOKENS).text());
    let n = seen.len();
    assert_eq!(seen[n - 2], Event::Stop { reason: v1::StopReason::EndTurn });
    assert!(matches!(&seen[n - 1], Event::Usage { usage, .. } if usage.output_tokens == ANSWER_TOKENS as u32));
}

#[tokio::test]
async fn text_yields_only_the_text() {
    let gateway = Gateway::start().await;
    let client = common::client(&gateway);
    let mut text = client.converse_stream(Request::new("chat").user("only text").max_tokens(5)).await.unwrap().text();
    let mut pieces = Vec::new();
    while let Some(piece) = text.next().await {
        pieces.push(piece.unwrap());
    }
    assert_eq!(pieces, expected_answer("only text", Some(5), ANSWER_TOKENS).tokens);
}

#[tokio::test]
async fn converse_collects_the_whole_answer() {
    let gateway = Gateway::start().await;
    let answer =
        common::client(&gateway).converse(Request::new("chat").user("collect me").max_tokens(4)).await.unwrap();
    assert_eq!(answer.text, expected_answer("collect me", Some(4), ANSWER_TOKENS).text());
    assert_eq!(answer.stop_reason, v1::StopReason::MaxTokens);
    assert_eq!(answer.usage.output_tokens, 4);
    assert_eq!(answer.model, "chat");
    assert!(answer.tool_uses.is_empty());
    assert!(answer.total.is_some());
}

#[tokio::test]
async fn collects_tool_uses_and_continues_the_conversation() {
    let gateway = Gateway::start().await;
    let client = common::client(&gateway);
    let conversation = Request::new("chat").user("weather in Oslo").tool(
        "weather",
        "Current weather for a city",
        r#"{"type":"object"}"#,
    );
    let answer = client.converse(conversation.clone().force_tool("weather")).await.unwrap();
    assert_eq!(answer.stop_reason, v1::StopReason::ToolUse);
    assert_eq!(answer.tool_uses.len(), 1);
    let tool = &answer.tool_uses[0];
    assert_eq!((tool.name.as_str(), tool.id.clone()), ("weather", expected_tool_use_id("weather in Oslo")));
    assert_eq!(tool.input_json, expected_tool_input("weather in Oslo"));

    let follow_up = conversation.push(answer.message.clone()).tool_result(&tool.id, "sunny, 21 °C");
    let next = client.converse(follow_up).await.unwrap();
    assert_eq!(next.stop_reason, v1::StopReason::EndTurn);
    assert!(!next.text.is_empty());
}

#[tokio::test]
async fn lists_models() {
    let gateway = Gateway::start().await;
    let models = common::client(&gateway).list_models().await.unwrap();
    let names: Vec<_> = models.iter().map(|m| m.name.as_str()).collect();
    assert!(names.contains(&"chat"), "{names:?}");
    let state = |name: &str| models.iter().find(|m| m.name == name).map(|m| m.state());
    assert_eq!(state("chat"), Some(v1::ModelState::Active));
    assert_eq!(state("legacy"), Some(v1::ModelState::Deprecated));
}

#[tokio::test]
async fn the_catalog_comes_with_its_revision() {
    let gateway = Gateway::start().await;
    let client = common::client(&gateway);
    let catalog = client.catalog().await.unwrap();
    let config = bedrock_gateway_testkit::test_config(gateway.emulator.endpoint_url());
    let serving = bedrock_gateway::parts::Catalog::from_config(&config.models, &config.bedrock.region);
    assert_eq!(catalog.revision, serving.revision());
    assert_eq!(catalog.models, client.list_models().await.unwrap(), "the same models as list_models");
}

#[tokio::test]
async fn an_unknown_model_is_not_found_with_the_valid_names_and_a_request_id() {
    let gateway = Gateway::start().await;
    let error = common::client(&gateway).converse(Request::new("nope").user("hi")).await.unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    assert!(error.message().contains("chat"), "{error}");
    assert!(error.request_id().is_some_and(|id| !id.is_empty()));
    assert!(!error.is_incomplete());
}

#[tokio::test]
async fn an_invalid_request_names_the_field() {
    let gateway = Gateway::start().await;
    let error = common::client(&gateway).converse(Request::new("chat").user("hi").temperature(7.0)).await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    assert!(error.message().contains("temperature"), "{error}");
}

#[tokio::test]
async fn the_api_key_is_sent_as_a_bearer_token() {
    // `printf %s client-test-key | sha256sum`
    let digest = "7653e7e439287c56e80aad1168e4844c3ba7e15086130dc3ddfced9db8ff5f5a";
    let gateway = Gateway::start_with(|config| {
        config.auth.api_keys.insert("client-tests".to_owned(), digest.to_owned().into());
    })
    .await;
    let with_key = common::builder(&gateway).api_key("client-test-key").build().unwrap();
    assert!(with_key.converse(Request::new("chat").user("let me in")).await.is_ok());

    let without_key = common::client(&gateway);
    let error = without_key.converse(Request::new("chat").user("let me in")).await.unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated, "{error}");
}

#[tokio::test]
async fn a_malformed_answer_is_incomplete_in_every_form() {
    let gateway = Gateway::start().await;
    let client = common::client(&gateway);
    for (model, reason) in [
        ("fault-malformed-tool-use", v1::StopReason::MalformedToolUse),
        ("fault-malformed-model-output", v1::StopReason::MalformedModelOutput),
    ] {
        // Events: everything the gateway sent, then the error.
        let mut events = client.converse_stream(Request::new(model).user("break")).await.unwrap();
        let mut seen = Vec::new();
        let error = loop {
            match events.next().await.expect("the stream ends with an error") {
                Ok(event) => seen.push(event),
                Err(error) => break error,
            }
        };
        assert!(events.next().await.is_none(), "one error, then the end");
        let n = seen.len();
        assert_eq!(seen[n - 2], Event::Stop { reason });
        assert!(matches!(seen[n - 1], Event::Usage { .. }));
        assert!(error.is_incomplete() && error.code() == Code::Aborted, "{error:?}");
        assert_eq!(error.request_id(), Some(events.request_id()));

        // Text only: the text, then the error.
        let mut text = client.converse_stream(Request::new(model).user("break")).await.unwrap().text();
        let mut pieces = String::new();
        let error = loop {
            match text.next().await.expect("the text ends with an error") {
                Ok(piece) => pieces.push_str(&piece),
                Err(error) => break error,
            }
        };
        assert_eq!(pieces, expected_answer("break", None, ANSWER_TOKENS).text());
        assert!(error.is_incomplete(), "{error:?}");

        // Collected: an error, never an answer that looks finished.
        let error = client.converse(Request::new(model).user("break")).await.unwrap_err();
        assert!(error.is_incomplete(), "{error:?}");
        assert!(error.to_string().contains("malformed"), "{error}");
    }
}
