//! The Bedrock-compatible door through boto3's `bedrock-runtime` client (`boto3_client.py`), the AWS
//! SDK for JavaScript (`converse_stream.mjs`) and LangChain's ChatBedrockConverse
//! (`langchain_client.py`), each with only `endpoint_url` and a bearer key set: they stream, call
//! tools, count, embed, and raise their own exception class for each refusal.

use bedrock_emulator::normalized;
use bedrock_emulator::{TOOL_PREAMBLE, expected_answer, expected_embedding, expected_tool_input, expected_tool_use_id};
use bedrock_gateway_testkit::{ANSWER_TOKENS, ClientsGateway, RESTRICTED_KEY, Runner, TEAM_KEY, THROTTLED_KEY};
use serde_json::Value;

use super::{assert_vector, python, script, text};

async fn boto3(gateway: &ClientsGateway, case: &str, argument: &str, key: &str) -> Value {
    python(gateway, "boto3_client.py", case, argument, key).await
}

/// The event types of a stream, in order.
fn event_types(events: &Value) -> Vec<String> {
    events
        .as_array()
        .unwrap_or_else(|| panic!("not a list of events: {events}"))
        .iter()
        .map(|event| event.as_object().and_then(|event| event.keys().next()).cloned().unwrap_or_default())
        .collect()
}

/// Checks a whole answer to `prompt` as boto3 or the JavaScript SDK read it.
fn assert_whole_answer(seen: &Value, prompt: &str, stop_reason: &str) {
    assert_eq!(text(seen, "text"), expected_answer(prompt, None, ANSWER_TOKENS).text(), "{seen:#}");
    assert_eq!(seen[stop_reason], "end_turn");
    assert_eq!(seen["usage"]["outputTokens"], ANSWER_TOKENS);
    let usage = &seen["usage"];
    assert_eq!(usage["totalTokens"].as_u64(), Some(usage["inputTokens"].as_u64().unwrap() + ANSWER_TOKENS as u64));
}

#[tokio::test]
async fn boto3_streams_an_answer() {
    let gateway = ClientsGateway::start().await;
    let prompt = "Tell me about streams";
    let seen = boto3(&gateway, "converse_stream", prompt, TEAM_KEY).await;
    assert_whole_answer(&seen, prompt, "stop_reason");
    let types = event_types(&seen["events"]);
    assert_eq!(types.first().map(String::as_str), Some("messageStart"), "{types:?}");
    assert_eq!(types[types.len() - 3..], ["contentBlockStop", "messageStop", "metadata"]);
    assert_eq!(seen["headers"]["content-type"], "application/vnd.amazon.eventstream");
    assert!(seen["headers"]["x-request-id"].is_string(), "the gateway's request id: {:#}", seen["headers"]);
}

#[tokio::test]
async fn boto3_streams_a_tool_call_and_sends_back_its_result() {
    let gateway = ClientsGateway::start().await;
    let prompt = "please use the tool";
    let round_trip = boto3(&gateway, "converse_stream_tool", prompt, TEAM_KEY).await;
    let called = &round_trip["called"];
    assert_eq!(text(called, "text"), TOOL_PREAMBLE);
    assert_eq!(called["stop_reason"], "tool_use");
    let tool_use = &called["tool_uses"][0];
    assert_eq!(tool_use["toolUseId"], expected_tool_use_id(prompt).as_str());
    assert_eq!(tool_use["name"], "lookup");
    assert_eq!(text(tool_use, "input"), expected_tool_input(prompt), "the input's streamed pieces, joined");
    let answered = &round_trip["answered"];
    assert_eq!(answered["stopReason"], "end_turn");
    let answer = &answered["output"]["message"]["content"][0]["text"];
    assert_eq!(answer, expected_answer("thanks", None, ANSWER_TOKENS).text().as_str(), "{answered:#}");
}

#[tokio::test]
async fn boto3_converses() {
    let gateway = ClientsGateway::start().await;
    let prompt = "Tell me everything at once";
    let seen = boto3(&gateway, "converse", prompt, TEAM_KEY).await;
    assert_eq!(text(&seen, "text"), expected_answer(prompt, None, ANSWER_TOKENS).text());
    assert_eq!(seen["stop_reason"], "end_turn");
    assert_eq!(seen["usage"]["outputTokens"], ANSWER_TOKENS);
}

#[tokio::test]
async fn boto3_counts_tokens() {
    let gateway = ClientsGateway::start().await;
    // The emulator counts words.
    let seen = boto3(&gateway, "count_tokens", "How long is this?", TEAM_KEY).await;
    assert_eq!(seen["input_tokens"], 4, "{seen:#}");
}

#[tokio::test]
async fn boto3_invokes_an_embedding_model_in_its_own_body() {
    let gateway = ClientsGateway::start().await;
    let seen = boto3(&gateway, "invoke_embed", "first text", TEAM_KEY).await;
    let answer = &seen["answer"];
    assert_vector(&answer["embedding"], &normalized(expected_embedding("first text", 256)));
    assert_eq!(answer["inputTextTokenCount"], 2, "{answer:#}");
}

#[tokio::test]
async fn boto3_raises_throttling_exception_for_a_quota() {
    let gateway = ClientsGateway::start().await;
    let prompt = "one a minute";
    let seen = boto3(&gateway, "throttled", prompt, THROTTLED_KEY).await;
    assert_eq!(text(&seen, "first"), expected_answer(prompt, None, ANSWER_TOKENS).text());
    let refused = &seen["refused"];
    assert_eq!((&refused["class"], &refused["status"]), (&"ThrottlingException".into(), &429.into()), "{refused:#}");
    assert!(!text(refused, "message").is_empty());
}

#[tokio::test]
async fn boto3_raises_access_denied_exception_for_a_model_outside_the_tenants_list() {
    let gateway = ClientsGateway::start().await;
    let refused = boto3(&gateway, "refused_converse", "profile", RESTRICTED_KEY).await;
    assert_eq!((&refused["class"], &refused["status"]), (&"AccessDeniedException".into(), &403.into()), "{refused:#}");
    assert!(text(&refused, "message").contains("profile"), "names the model: {refused:#}");
}

#[tokio::test]
async fn boto3_raises_resource_not_found_exception_listing_the_tenants_models() {
    let gateway = ClientsGateway::start().await;
    let refused = boto3(&gateway, "refused_converse", "no-such-model", RESTRICTED_KEY).await;
    assert_eq!(
        (&refused["class"], &refused["status"]),
        (&"ResourceNotFoundException".into(), &404.into()),
        "{refused:#}"
    );
    let message = text(&refused, "message");
    assert!(message.contains("no-such-model") && message.contains("chat"), "{message}");
    assert!(!message.contains("profile") && !message.contains("embed"), "only the tenant's models: {message}");
}

#[tokio::test]
async fn boto3_raises_validation_exception_naming_the_field() {
    let gateway = ClientsGateway::start().await;
    for (case, field) in
        [("bad_image_format", "messages[0].content[1].image.format"), ("bad_top_p", "inferenceConfig.topP")]
    {
        let refused = boto3(&gateway, case, "", TEAM_KEY).await;
        assert_eq!(
            (&refused["class"], &refused["status"]),
            (&"ValidationException".into(), &400.into()),
            "{refused:#}"
        );
        assert!(text(&refused, "message").contains(field), "{case}: names {field}: {refused:#}");
    }
    assert_eq!(gateway.gateway.emulator.requests_served(), 0, "nothing reached Bedrock");
}

#[tokio::test]
async fn boto3_raises_event_stream_error_for_a_failure_mid_stream() {
    let gateway = ClientsGateway::start().await;
    let seen = boto3(&gateway, "stream_fault", "fault-stream-error.3", TEAM_KEY).await;
    assert_eq!(seen["error"]["class"], "EventStreamError", "{seen:#}");
    assert_eq!(text(&seen, "text"), expected_answer("hello", None, 3).text(), "the deltas before the failure");
    let types = event_types(&seen["events"]);
    assert!(!types.iter().any(|kind| kind == "messageStop" || kind == "metadata"), "no clean end: {types:?}");
}

#[tokio::test]
async fn the_javascript_sdk_streams_an_answer() {
    let gateway = ClientsGateway::start().await;
    let prompt = "Hello from JavaScript";
    let seen = gateway.run_script(Runner::Node, &script("converse_stream.mjs"), &[prompt], TEAM_KEY).await.json();
    assert_whole_answer(&seen, prompt, "stopReason");
    assert_eq!(seen["metadata"]["httpStatusCode"], 200);
}

#[tokio::test]
async fn langchain_chat_bedrock_converse_answers() {
    let gateway = ClientsGateway::start().await;
    let prompt = "Hello from LangChain";
    let seen = python(&gateway, "langchain_client.py", "bedrock", prompt, TEAM_KEY).await;
    assert_eq!(text(&seen, "text"), expected_answer(prompt, None, ANSWER_TOKENS).text(), "{seen:#}");
    assert_eq!(seen["message"]["usage_metadata"]["output_tokens"], ANSWER_TOKENS);
}
