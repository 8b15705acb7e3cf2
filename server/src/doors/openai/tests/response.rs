//! Whole chat completions and the model list.

use bedrock_gateway_proto::v1;
use serde_json::{Value, json};
use v1::content_block::Block;

use crate::doors::openai::{chat_response, models_response};

fn answer(content: Vec<Block>, stop_reason: v1::StopReason) -> v1::ConverseResponse {
    v1::ConverseResponse {
        request_id: "r1".into(),
        model: "chat".into(),
        model_version: "v7".into(),
        output: Some(v1::Message {
            role: v1::Role::Assistant as i32,
            content: content.into_iter().map(|block| v1::ContentBlock { block: Some(block) }).collect(),
        }),
        stop_reason: stop_reason as i32,
        usage: Some(v1::TokenUsage {
            input_tokens: 10,
            output_tokens: 5,
            total_tokens: 20,
            cache_read_input_tokens: 3,
            cache_write_input_tokens: 2,
        }),
        timing: None,
    }
}

fn completion(response: &v1::ConverseResponse) -> Value {
    serde_json::from_slice(&chat_response(response, 1_700_000_000).unwrap()).unwrap()
}

#[test]
fn a_whole_answer_is_a_chat_completion_naming_the_alias() {
    let response = answer(
        vec![
            Block::Reasoning(v1::ReasoningBlock { text: "Hm.".into(), signature: "sig".into(), redacted: Vec::new() }),
            Block::Text("It is ".into()),
            Block::Text("sunny.".into()),
        ],
        v1::StopReason::EndTurn,
    );
    assert_eq!(
        completion(&response),
        json!({
            "id": "chatcmpl-r1",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": "chat",
            "system_fingerprint": "v7",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": "It is sunny.", "reasoning_content": "Hm."},
                "finish_reason": "stop",
            }],
            "usage": {"prompt_tokens": 15, "completion_tokens": 5, "total_tokens": 20, "prompt_tokens_details": {"cached_tokens": 3}},
        })
    );
}

#[test]
fn tool_uses_are_tool_calls_with_their_arguments_as_json_text() {
    let tool_use = |id: &str, name: &str, input: &str| {
        Block::ToolUse(v1::ToolUseBlock { tool_use_id: id.into(), name: name.into(), input_json: input.into() })
    };
    let response = answer(
        vec![tool_use("t1", "weather", r#"{"city":"Oslo"}"#), tool_use("t2", "now", "{}")],
        v1::StopReason::ToolUse,
    );
    let completion = completion(&response);
    let choice = &completion["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null, "no text is null content");
    assert!(choice["message"].get("reasoning_content").is_none());
    assert_eq!(
        choice["message"]["tool_calls"],
        json!([
            {"id": "t1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}},
            {"id": "t2", "type": "function", "function": {"name": "now", "arguments": "{}"}},
        ])
    );
}

#[test]
fn each_stop_reason_has_its_finish_reason() {
    use v1::StopReason as Stop;
    let cases = [
        (Stop::EndTurn, "stop"),
        (Stop::StopSequence, "stop"),
        (Stop::Other, "stop"),
        (Stop::MaxTokens, "length"),
        (Stop::ContextWindowExceeded, "length"),
        (Stop::ToolUse, "tool_calls"),
        (Stop::GuardrailIntervened, "content_filter"),
        (Stop::ContentFiltered, "content_filter"),
    ];
    for (stop, finish) in cases {
        let response = answer(vec![Block::Text("x".into())], stop);
        assert_eq!(completion(&response)["choices"][0]["finish_reason"], finish, "{stop:?}");
    }
}

#[test]
fn an_answer_left_incomplete_is_an_error_with_the_request_id() {
    for (stop, what) in [
        (v1::StopReason::MalformedToolUse, "tool call was malformed"),
        (v1::StopReason::MalformedModelOutput, "output was malformed"),
    ] {
        let status = chat_response(&answer(Vec::new(), stop), 0).unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert!(status.message().contains(what), "{}", status.message());
        assert_eq!(status.metadata().get("x-request-id").unwrap(), "r1");
    }
}

#[test]
fn the_model_list_holds_the_aliases_a_request_may_name() {
    let model = |name: &str, state: v1::ModelState| v1::ModelInfo {
        name: name.into(),
        state: state as i32,
        ..Default::default()
    };
    let list = v1::ListModelsResponse {
        models: vec![
            model("chat", v1::ModelState::Active),
            model("embed", v1::ModelState::Active),
            model("old", v1::ModelState::Deprecated),
            model("gone", v1::ModelState::Retired),
        ],
        catalog_revision: "abc".into(),
    };
    let listed: Value = serde_json::from_slice(&models_response(&list)).unwrap();
    let entry = |id: &str| json!({"id": id, "object": "model", "created": 0, "owned_by": "bedrock-gateway"});
    assert_eq!(listed, json!({"object": "list", "data": [entry("chat"), entry("embed"), entry("old")]}));
}
