//! Prompt caching through the real SDK: `cachePoint` blocks in tools, system prompts and
//! messages as the SDK serializes them, and the cache counts in both operations' usage.

mod common;

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::types::{
    CachePointBlock, CachePointType, CacheTtl, ContentBlock, ConversationRole, ConverseStreamOutput, Message,
    SystemContentBlock, TokenUsage, Tool, ToolConfiguration,
};
use common::{MODEL, client, emulator, tools, user};

fn cache_point() -> CachePointBlock {
    CachePointBlock::builder().r#type(CachePointType::Default).build().unwrap()
}

/// A request with a cache point after the tools (2 tokens: name "lookup", no description), after
/// the system prompt (3 words, 1 hour) and after a user message's document (4 words), then a
/// question of 2 words.
fn cached_tools() -> ToolConfiguration {
    let mut config = tools(&["lookup"]);
    config.tools.push(Tool::CachePoint(cache_point()));
    config
}

fn cached_system() -> Vec<SystemContentBlock> {
    let hour = CachePointBlock::builder().r#type(CachePointType::Default).ttl(CacheTtl::OneHour).build().unwrap();
    vec![SystemContentBlock::Text("be very brief".into()), SystemContentBlock::CachePoint(hour)]
}

fn cached_message(question: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text("a long shared document".into()))
        .content(ContentBlock::CachePoint(cache_point()))
        .content(ContentBlock::Text(question.into()))
        .build()
        .unwrap()
}

fn counts(usage: &TokenUsage) -> (i32, Option<i32>, Option<i32>, i32, i32) {
    (
        usage.input_tokens(),
        usage.cache_read_input_tokens(),
        usage.cache_write_input_tokens(),
        usage.output_tokens(),
        usage.total_tokens(),
    )
}

async fn converse(client: &Client, question: &str) -> TokenUsage {
    let output = client
        .converse()
        .model_id(MODEL)
        .set_system(Some(cached_system()))
        .messages(cached_message(question))
        .tool_config(cached_tools())
        .send()
        .await
        .expect("a request with cache points is answered");
    output.usage().expect("usage").clone()
}

async fn converse_stream(client: &Client, question: &str) -> TokenUsage {
    let mut output = client
        .converse_stream()
        .model_id(MODEL)
        .set_system(Some(cached_system()))
        .messages(cached_message(question))
        .tool_config(cached_tools())
        .send()
        .await
        .expect("a stream with cache points opens");
    let mut usage = None;
    while let Some(event) = output.stream.recv().await.expect("the stream completes") {
        if let ConverseStreamOutput::Metadata(metadata) = event {
            usage = metadata.usage().cloned();
        }
    }
    usage.expect("the stream ends with usage")
}

#[tokio::test]
async fn the_first_request_writes_the_prefix_and_the_next_reads_it_in_both_operations() {
    let emulator = emulator().await;
    let client = client(&emulator);
    // 1 (tool name) + 3 (system) + 4 (document) = 8 tokens before the last cache point; the
    // question's 2 words and the answer's 32 tokens are neither read nor written.
    let usage = converse_stream(&client, "what now").await;
    assert_eq!(counts(&usage), (2, Some(0), Some(8), 32, 42));
    let usage = converse(&client, "what next").await;
    assert_eq!(counts(&usage), (2, Some(8), Some(0), 32, 42), "same prefix, another question");
    let usage = converse_stream(&client, "and then").await;
    assert_eq!(counts(&usage), (2, Some(8), Some(0), 32, 42));
    let body = emulator.last_request_body().unwrap();
    assert_eq!(body["system"][1], serde_json::json!({"cachePoint": {"type": "default", "ttl": "1h"}}));
    assert_eq!(body["messages"][0]["content"][1], serde_json::json!({"cachePoint": {"type": "default"}}));
    assert_eq!(body["toolConfig"]["tools"][1], serde_json::json!({"cachePoint": {"type": "default"}}));
}

#[tokio::test]
async fn requests_without_cache_points_report_no_cache_counts() {
    let emulator = emulator().await;
    let output = client(&emulator).converse().model_id(MODEL).messages(user("hello there")).send().await.unwrap();
    assert_eq!(counts(output.usage().unwrap()), (2, None, None, 32, 34));
}

#[tokio::test]
async fn misplaced_or_extra_cache_points_are_a_validation_exception() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let leading = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::CachePoint(cache_point()))
        .content(ContentBlock::Text("hi".into()))
        .build()
        .unwrap();
    let mut five = Message::builder().role(ConversationRole::User);
    for _ in 0..5 {
        five = five.content(ContentBlock::Text("part".into())).content(ContentBlock::CachePoint(cache_point()));
    }
    for message in [leading, five.build().unwrap()] {
        let error = client.converse().model_id(MODEL).messages(message).send().await.unwrap_err();
        let error = error.into_service_error();
        assert!(error.is_validation_exception(), "{error:?}");
        assert!(error.to_string().contains("cachePoint"), "{error}");
    }
}
