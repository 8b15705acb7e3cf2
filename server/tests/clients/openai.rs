//! The OpenAI-compatible door through the official `openai` package (`openai_client.py`) and
//! LangChain's ChatOpenAI (`langchain_client.py`), with only `base_url` and a key set: they stream
//! text and tool calls, get JSON in a schema, embed (base64, the package's default), list the
//! tenant's models, and raise their own exception for a 429 and for a stream cut short.

use bedrock_emulator::{expected_answer, expected_embedding, expected_json, expected_tool_input_for, normalized};
use bedrock_gateway_testkit::{ANSWER_TOKENS, ClientsGateway, RESTRICTED_KEY, TEAM_KEY, THROTTLED_KEY};
use serde_json::{Value, json};

use super::{assert_vector, python, text};

async fn openai(gateway: &ClientsGateway, case: &str, argument: &str, key: &str) -> Value {
    python(gateway, "openai_client.py", case, argument, key).await
}

#[tokio::test]
async fn openai_streams_an_answer() {
    let gateway = ClientsGateway::start().await;
    let prompt = "Tell me about streams";
    let seen = openai(&gateway, "stream", prompt, TEAM_KEY).await;
    assert_eq!(text(&seen, "text"), expected_answer(prompt, None, ANSWER_TOKENS).text(), "{seen:#}");
    assert_eq!(seen["finish_reason"], "stop");
    let usage = &seen["usage"];
    assert_eq!(usage["completion_tokens"], ANSWER_TOKENS, "stream_options.include_usage: {usage:#}");
    let prompt_tokens = usage["prompt_tokens"].as_u64().unwrap();
    assert_eq!(usage["total_tokens"].as_u64(), Some(prompt_tokens + ANSWER_TOKENS as u64));
    let models = seen["models"].as_array().unwrap();
    assert!(models.iter().all(|model| model == "chat"), "every chunk names the alias: {models:?}");
}

#[tokio::test]
async fn openai_streams_a_tool_call_whose_arguments_reassemble() {
    let gateway = ClientsGateway::start().await;
    let prompt = "please use the tool";
    let seen = openai(&gateway, "tools", prompt, TEAM_KEY).await;
    assert_eq!(seen["finish_reason"], "tool_calls", "{seen:#}");
    let calls = seen["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(calls[0]["name"], "lookup");
    assert!(!text(&calls[0], "id").is_empty());
    let schema = json!({"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]});
    let arguments: Value = serde_json::from_str(text(&calls[0], "arguments")).unwrap();
    let expected: Value = serde_json::from_str(&expected_tool_input_for(Some(&schema), prompt)).unwrap();
    assert_eq!(arguments, expected);
}

#[tokio::test]
async fn openai_answers_in_a_json_schema() {
    let gateway = ClientsGateway::start().await;
    let prompt = "Lisbon";
    let seen = openai(&gateway, "json_schema", prompt, TEAM_KEY).await;
    let schema = json!({
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
        "additionalProperties": false,
    });
    let content: Value = serde_json::from_str(text(&seen, "content")).unwrap();
    assert_eq!(content, serde_json::from_str::<Value>(&expected_json(&schema, prompt)).unwrap());
    assert_eq!((&seen["finish_reason"], &seen["model"]), (&"stop".into(), &"chat".into()));
}

#[tokio::test]
async fn openai_embeds_in_base64() {
    let gateway = ClientsGateway::start().await;
    let seen = openai(&gateway, "embeddings", "", TEAM_KEY).await;
    for (vector, text) in seen["vectors"].as_array().unwrap().iter().zip(["first text", "second text"]) {
        assert_vector(vector, &normalized(expected_embedding(text, 256)));
    }
    assert_eq!(seen["indexes"], json!([0, 1]));
    assert_eq!(seen["model"], "embed");
    assert_eq!(seen["usage"]["prompt_tokens"], 4, "the words of both texts: {seen:#}");
}

#[tokio::test]
async fn openai_lists_the_tenants_models() {
    let gateway = ClientsGateway::start().await;
    let restricted = openai(&gateway, "models", "", RESTRICTED_KEY).await;
    assert_eq!(restricted["ids"], json!(["chat"]), "{restricted:#}");
    let team = openai(&gateway, "models", "", TEAM_KEY).await;
    let ids = team["ids"].as_array().unwrap();
    assert!(ids.contains(&"chat".into()) && ids.contains(&"embed".into()), "{ids:?}");
}

#[tokio::test]
async fn openai_raises_rate_limit_error_with_retry_after() {
    let gateway = ClientsGateway::start().await;
    let prompt = "one a minute";
    let seen = openai(&gateway, "rate_limited", prompt, THROTTLED_KEY).await;
    assert_eq!(text(&seen, "first"), expected_answer(prompt, None, ANSWER_TOKENS).text());
    let refused = &seen["refused"];
    assert_eq!((&refused["class"], &refused["status"]), (&"RateLimitError".into(), &429.into()), "{refused:#}");
    let retry_after: u64 = text(refused, "retry_after").parse().expect("retry-after is whole seconds");
    assert!((1..=60).contains(&retry_after), "a minute's quota refills within a minute: {retry_after}");
}

#[tokio::test]
async fn openai_raises_api_error_for_a_stream_cut_short() {
    let gateway = ClientsGateway::start().await;
    let seen = openai(&gateway, "cut_stream", "fault-close.3", TEAM_KEY).await;
    // APIError itself: the door's error event, not a connection the package saw drop.
    assert_eq!(seen["error"]["class"], "APIError", "{seen:#}");
    assert_eq!(text(&seen, "text"), expected_answer("hello", None, 3).text(), "the deltas before the cut");
}

#[tokio::test]
async fn langchain_chat_openai_answers() {
    let gateway = ClientsGateway::start().await;
    let prompt = "Hello from LangChain";
    let seen = python(&gateway, "langchain_client.py", "openai", prompt, TEAM_KEY).await;
    assert_eq!(text(&seen, "text"), expected_answer(prompt, None, ANSWER_TOKENS).text(), "{seen:#}");
    assert_eq!(seen["message"]["usage_metadata"]["output_tokens"], ANSWER_TOKENS);
}
