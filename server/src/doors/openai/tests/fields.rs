//! The pipeline's refusals, which name v1 fields, renamed to the OpenAI request's fields.

use serde_json::json;

use super::{chat, with_messages};
use crate::doors::openai::embeddings_request;
use crate::error::GatewayError;

fn invalid(field: &str) -> GatewayError {
    GatewayError::invalid(field, "is wrong")
}

fn field_of(err: GatewayError) -> String {
    match err {
        GatewayError::InvalidArgument { field, reason } => {
            assert_eq!(reason, "is wrong", "the reason is kept");
            field
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn v1_fields_are_renamed_to_the_openai_fields_they_came_from() {
    let request = chat(with_messages(
        json!([
            {"role": "system", "content": "S"},
            {"role": "user", "content": [{"type": "text", "text": "Look"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}}]},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "a", "arguments": "{}"}},
                {"id": "c2", "type": "function", "function": {"name": "b", "arguments": "{}"}},
            ]},
            {"role": "tool", "tool_call_id": "c1", "content": "x"},
            {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "y"}, {"type": "text", "text": "z"}]},
            {"role": "developer", "content": [{"type": "text", "text": "D"}]},
            {"role": "user", "content": "More"},
        ]),
        json!({"tools": [{"type": "function", "function": {"name": "a"}}], "stop": ["a", "b"], "max_tokens": 10}),
    ));
    let renamed = |field: &str| field_of(request.fields.rename(invalid(field)));
    let cases = [
        ("messages[0].content[1].image", "messages[1].content[1].image_url"),
        ("messages[0].content[1].image.format", "messages[1].content[1].image_url.url"),
        ("messages[0].content[0].text", "messages[1].content[0]"),
        ("messages[0].content", "messages[1].content"),
        ("messages[0].role", "messages[1].role"),
        ("messages[1].role", "messages[2].role"),
        ("messages[1].content[0].text", "messages[2].content"),
        ("messages[1].content[1].tool_use.name", "messages[2].tool_calls[0].function.name"),
        ("messages[1].content[2].tool_use.input_json", "messages[2].tool_calls[1].function.arguments"),
        ("messages[1].content[2].tool_use.tool_use_id", "messages[2].tool_calls[1].id"),
        ("messages[2].content[0].tool_result.tool_use_id", "messages[3].tool_call_id"),
        ("messages[2].content[0].tool_result.content[0].text", "messages[3].content"),
        ("messages[2].content[1].tool_result.content[1].text", "messages[4].content[1]"),
        ("messages[2].content[1].tool_result.content", "messages[4].content"),
        ("messages[2].content[2].text", "messages[6].content"),
        ("messages", "messages"),
        ("system[0].text", "messages[0].content"),
        ("system[1].text", "messages[5].content[0]"),
        ("system", "messages"),
        ("tool_config", "tools"),
        ("tool_config.tools", "tools"),
        ("tool_config.tools[0].name", "tools[0].function.name"),
        ("tool_config.tools[0].input_schema_json", "tools[0].function.parameters"),
        ("tool_config.tools[0].strict", "tools[0].function.strict"),
        ("tool_config.tool_choice.tool", "tool_choice.function.name"),
        ("inference_config.max_tokens", "max_tokens"),
        ("inference_config.temperature", "temperature"),
        ("inference_config.top_p", "top_p"),
        ("inference_config.stop_sequences", "stop"),
        ("inference_config.stop_sequences[1]", "stop[1]"),
        ("reasoning", "reasoning_effort"),
        ("reasoning.budget_tokens", "reasoning_effort"),
        ("response_format", "response_format"),
        ("response_format.json_schema.schema_json", "response_format.json_schema.schema"),
        ("response_format.json_schema.name", "response_format.json_schema.name"),
        (r#"request_metadata["team"]"#, "metadata"),
        ("model", "model"),
        // A v1 field the request has no origin for keeps its name rather than naming a wrong one.
        ("messages[9].content[0].text", "messages[9].content[0].text"),
    ];
    for (v1_field, openai_field) in cases {
        assert_eq!(renamed(v1_field), openai_field, "{v1_field}");
    }
    let unknown = GatewayError::UnknownModel { alias: "x".into(), known: "chat".into() };
    let message = unknown.to_string();
    assert_eq!(request.fields.rename(unknown).to_string(), message, "other errors pass unchanged");
}

#[test]
fn the_length_and_stop_fields_are_named_as_they_were_sent() {
    let request = chat(super::asking(json!({"max_completion_tokens": 10, "stop": "END"})));
    assert_eq!(field_of(request.fields.rename(invalid("inference_config.max_tokens"))), "max_completion_tokens");
    assert_eq!(field_of(request.fields.rename(invalid("inference_config.stop_sequences[0]"))), "stop");
    let unset = chat(super::asking(json!({})));
    assert_eq!(field_of(unset.fields.rename(invalid("inference_config.max_tokens"))), "max_completion_tokens");
}

#[test]
fn embedding_fields_are_renamed_to_input_and_user() {
    let decoded = |body: serde_json::Value| embeddings_request(&serde_json::to_vec(&body).unwrap()).unwrap();
    let array = decoded(json!({"model": "embed", "input": ["a", "b"], "user": "u"}));
    let renamed = |field: &str| field_of(array.fields.rename(invalid(field)));
    assert_eq!(renamed("texts[1]"), "input[1]");
    assert_eq!(renamed("texts"), "input");
    assert_eq!(renamed(r#"request_metadata["user"]"#), "user");
    assert_eq!(renamed("dimensions"), "dimensions");
    let string = decoded(json!({"model": "embed", "input": "a"}));
    assert_eq!(field_of(string.fields.rename(invalid("texts[0]"))), "input");
}
