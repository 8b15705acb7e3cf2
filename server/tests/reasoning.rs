//! Reasoning through the whole gateway: the request's setting mapped per model family
//! (`capabilities.reasoning`) and merged into the alias's `additionalModelRequestFields`, reasoning
//! streamed and returned before the answer, redacted reasoning sent back unchanged, and the
//! combinations a model refuses, each checked in the exact body Bedrock received.

use bedrock_emulator::{REASONING_TEXT, expected_answer, expected_reasoning_signature, expected_redacted_reasoning};
use bedrock_gateway::config::Config;
use bedrock_gateway::config::{ReasoningStyle, TargetConfig};
use bedrock_gateway_proto::v1;
use bedrock_gateway_testkit::{ANSWER_TOKENS, TestGateway, collect, user_request};
use serde_json::{Value, json};
use v1::content_block_delta::Delta;
use v1::converse_stream_event::Event;

/// `chat` reasons with Anthropic's thinking and sends an extra field of its own; `effort` takes a
/// `reasoning_effort`; `plain` does not reason and `lenient` does not either but ignores requests to.
fn catalog(config: &mut Config) {
    let chat = config.models.get_mut("chat").unwrap();
    chat.max_tokens_cap = 20_000;
    chat.default_max_tokens = Some(500);
    chat.temperature = Some(0.3);
    chat.additional_request_fields = Some(
        json!({"anthropic_beta": ["interleaved-thinking-2025-05-14"], "thinking": {"type": "disabled"}})
            .as_object()
            .unwrap()
            .clone(),
    );
    chat.capabilities.reasoning = ReasoningStyle::AnthropicThinking;
    let mut effort = config.models["profile"].clone();
    effort.model_id = "test.effort-v1".into();
    effort.capabilities.reasoning = ReasoningStyle::ReasoningEffort;
    config.models.insert("effort".into(), effort);
    let mut plain = config.models["profile"].clone();
    plain.model_id = "test.plain-v1".into();
    config.models.insert("plain".into(), plain.clone());
    plain.capabilities.ignore_unsupported_reasoning = true;
    config.models.insert("lenient".into(), plain);
}

fn reasoning(effort: v1::ReasoningEffort, budget_tokens: Option<u32>) -> Option<v1::ReasoningConfig> {
    Some(v1::ReasoningConfig { effort: effort as i32, budget_tokens })
}

fn asking(model: &str, prompt: &str, effort: v1::ReasoningEffort) -> v1::ConverseRequest {
    v1::ConverseRequest { reasoning: reasoning(effort, None), ..user_request(model, prompt) }
}

fn delta(index: u32, delta: Delta) -> Event {
    Event::ContentBlockDelta(v1::ContentBlockDelta { content_block_index: index, delta: Some(delta) })
}

fn block_stop(index: u32) -> Event {
    Event::ContentBlockStop(v1::ContentBlockStop { content_block_index: index })
}

/// The events between `start` and `usage`.
fn content(events: &[Event]) -> &[Event] {
    assert!(matches!(events.first(), Some(Event::Start(_))) && matches!(events.last(), Some(Event::Usage(_))));
    &events[1..events.len() - 1]
}

/// The answer's text events: text deltas at `index`, its stop, then stop END_TURN.
fn answer_events(prompt: &str, index: u32) -> Vec<Event> {
    let answer = expected_answer(prompt, None, ANSWER_TOKENS);
    let mut events: Vec<Event> = answer.tokens.into_iter().map(|token| delta(index, Delta::Text(token))).collect();
    events.push(block_stop(index));
    events.push(Event::Stop(v1::StreamStop { stop_reason: v1::StopReason::EndTurn as i32 }));
    events
}

#[tokio::test]
async fn thinking_is_merged_into_the_alias_fields_and_reasoning_streams_before_the_answer() {
    let gateway = TestGateway::start_with(catalog).await;
    let mut client = gateway.stub().await;
    let prompt = "think it over";
    let collected = collect(&mut client, asking("chat", prompt, v1::ReasoningEffort::Low)).await;
    assert!(collected.error.is_none(), "{:?}", collected.error);

    let body = gateway.emulator.last_request_body().unwrap();
    assert_eq!(
        body["additionalModelRequestFields"],
        json!({"anthropic_beta": ["interleaved-thinking-2025-05-14"], "thinking": {"type": "enabled", "budget_tokens": 1024}}),
        "the request's thinking replaces the alias's, the alias's other fields stay"
    );
    assert_eq!(
        body["inferenceConfig"],
        json!({"maxTokens": 1024 + 500}),
        "room for the budget on top of the default; no temperature default with thinking"
    );

    let mut expected: Vec<Event> = ["Let", " me", " think", " this", " through."]
        .into_iter()
        .map(|token| delta(0, Delta::ReasoningText(token.into())))
        .collect();
    assert_eq!(REASONING_TEXT, "Let me think this through.");
    expected.push(delta(0, Delta::ReasoningSignature(expected_reasoning_signature(prompt))));
    expected.push(block_stop(0));
    expected.extend(answer_events(prompt, 1));
    assert_eq!(content(&collected.events), expected);
    assert_eq!(collected.usage.unwrap().usage.unwrap().output_tokens, 6 + ANSWER_TOKENS as u32);
}

#[tokio::test]
async fn budgets_and_efforts_map_per_model_family() {
    let gateway = TestGateway::start_with(catalog).await;
    let mut client = gateway.stub().await;
    let sent = async |client: &mut _, request: v1::ConverseRequest| -> Value {
        let collected = collect(client, request).await;
        assert!(collected.error.is_none(), "{:?}", collected.error);
        gateway.emulator.last_request_body().unwrap()
    };
    let mut own = user_request("chat", "budget");
    own.reasoning = reasoning(v1::ReasoningEffort::High, Some(3000));
    own.inference_config = Some(v1::InferenceConfig { max_tokens: Some(8000), ..Default::default() });
    let body = sent(&mut client, own).await;
    assert_eq!(body["additionalModelRequestFields"]["thinking"], json!({"type": "enabled", "budget_tokens": 3000}));
    assert_eq!(body["inferenceConfig"]["maxTokens"], 8000, "the request's own max_tokens stays");

    let body = sent(&mut client, asking("effort", "effort", v1::ReasoningEffort::High)).await;
    assert_eq!(body["additionalModelRequestFields"], json!({"reasoning_effort": "high"}));
    let body = sent(&mut client, asking("effort", "effort", v1::ReasoningEffort::Unspecified)).await;
    assert_eq!(body["additionalModelRequestFields"], json!({"reasoning_effort": "medium"}));

    let body = sent(&mut client, asking("lenient", "ignored", v1::ReasoningEffort::High)).await;
    assert!(body.get("additionalModelRequestFields").is_none(), "dropped as the catalog says: {body}");
}

#[tokio::test]
async fn redacted_reasoning_streams_as_bytes() {
    let gateway = TestGateway::start_with(catalog).await;
    let prompt = "redact what you think";
    let collected = collect(&mut gateway.stub().await, asking("effort", prompt, v1::ReasoningEffort::Low)).await;
    let mut expected = vec![delta(0, Delta::ReasoningRedacted(expected_redacted_reasoning(prompt))), block_stop(0)];
    expected.extend(answer_events(prompt, 1));
    assert_eq!(content(&collected.events), expected);
}

#[tokio::test]
async fn converse_returns_reasoning_that_goes_back_to_bedrock_unchanged() {
    let gateway = TestGateway::start_with(catalog).await;
    let mut client = gateway.stub().await;
    for prompt in ["redacted thoughts, please", "plain thoughts, please"] {
        let first = asking("chat", prompt, v1::ReasoningEffort::Medium);
        let answer = client.converse(first.clone()).await.unwrap().into_inner();
        let output = answer.output.unwrap();
        let redacted = prompt.starts_with("redacted");
        let reasoning = if redacted {
            v1::ReasoningBlock { redacted: expected_redacted_reasoning(prompt), ..Default::default() }
        } else {
            v1::ReasoningBlock {
                text: REASONING_TEXT.into(),
                signature: expected_reasoning_signature(prompt),
                redacted: Vec::new(),
            }
        };
        assert_eq!(output.content[0].block, Some(v1::content_block::Block::Reasoning(reasoning)));
        assert_eq!(
            output.content[1].block,
            Some(v1::content_block::Block::Text(expected_answer(prompt, None, ANSWER_TOKENS).text()))
        );

        let mut next = first;
        next.messages.push(output);
        next.messages.push(user_request("chat", "and then?").messages.remove(0));
        client.converse(next).await.unwrap();
        let body = gateway.emulator.last_request_body().unwrap();
        let sent_back = if redacted {
            json!({"reasoningContent": {"redactedContent": aws_smithy_types::base64::encode(expected_redacted_reasoning(prompt))}})
        } else {
            json!({"reasoningContent": {"reasoningText": {"text": REASONING_TEXT, "signature": expected_reasoning_signature(prompt)}}})
        };
        assert_eq!(body["messages"][1]["content"][0], sent_back);
    }
}

#[tokio::test]
async fn fallback_targets_get_the_reasoning_fields_over_their_own() {
    let gateway = TestGateway::start_with(|config| {
        catalog(config);
        let target = |model_id: &str, version: &str, fields: Value| TargetConfig {
            model_id: model_id.into(),
            region: None,
            role_arn: None,
            version: version.into(),
            weight: None,
            additional_request_fields: Some(fields.as_object().unwrap().clone()),
        };
        let chat = config.models.get_mut("chat").unwrap();
        chat.model_id.clear();
        chat.targets = vec![target("fault.throttle", "primary", json!({"primary": true}))];
        chat.fallbacks = vec![target("test.backup", "backup", json!({"backup": true}))];
    })
    .await;
    let collected = collect(&mut gateway.stub().await, asking("chat", "fall back", v1::ReasoningEffort::High)).await;
    assert!(collected.error.is_none(), "{:?}", collected.error);
    let body = gateway.emulator.last_request_body().unwrap();
    assert_eq!(
        body["additionalModelRequestFields"],
        json!({"backup": true, "thinking": {"type": "enabled", "budget_tokens": 16384}})
    );
}

#[tokio::test]
async fn refusals_name_the_field_the_alias_and_the_capability() {
    let gateway = TestGateway::start_with(catalog).await;
    let refused = async |request: v1::ConverseRequest| gateway.invalid_argument(request).await;
    assert_eq!(
        refused(asking("plain", "hi", v1::ReasoningEffort::Low)).await,
        "reasoning: model \"plain\" does not reason on request (capabilities.reasoning)"
    );
    let budget = |budget, max_tokens| v1::ConverseRequest {
        reasoning: reasoning(v1::ReasoningEffort::Unspecified, Some(budget)),
        inference_config: Some(v1::InferenceConfig { max_tokens, ..Default::default() }),
        ..user_request("chat", "hi")
    };
    let message = refused(budget(512, None)).await;
    assert!(
        message.starts_with("reasoning.budget_tokens: 512 is below the smallest reasoning budget, 1024"),
        "{message}"
    );
    let message = refused(budget(4096, Some(2000))).await;
    assert!(
        message.starts_with("reasoning.budget_tokens: 4096 must be less than inference_config.max_tokens (2000)"),
        "{message}"
    );
    let message = refused(budget(20_000, None)).await;
    assert!(message.contains("model \"chat\" allows at most 20000"), "{message}");
    let message = refused(v1::ConverseRequest {
        reasoning: reasoning(v1::ReasoningEffort::Unspecified, Some(2048)),
        ..user_request("effort", "hi")
    })
    .await;
    assert!(
        message.starts_with("reasoning.budget_tokens: model \"effort\" takes an effort, not a budget"),
        "{message}"
    );
    let hot = v1::ConverseRequest {
        inference_config: Some(v1::InferenceConfig { temperature: Some(0.7), ..Default::default() }),
        ..asking("chat", "hi", v1::ReasoningEffort::Low)
    };
    let message = refused(hot).await;
    assert!(
        message.starts_with("inference_config.temperature: 0.7 cannot be combined with reasoning: model \"chat\""),
        "{message}"
    );
}
