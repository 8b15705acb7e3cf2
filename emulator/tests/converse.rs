//! Converse (non-streaming) through the real SDK: same content as the stream.

mod common;

use aws_sdk_bedrockruntime::types::{ContentBlock, InferenceConfiguration, StopReason};
use aws_smithy_types::Document;
use bedrock_emulator::{TOOL_PREAMBLE, expected_answer, expected_tool_use_id};
use common::{MODEL, client, emulator, tools, user};

#[tokio::test]
async fn answers_like_the_stream() {
    let emulator = emulator().await;
    let output = client(&emulator)
        .converse()
        .model_id(MODEL)
        .messages(user("what is rust"))
        .inference_config(InferenceConfiguration::builder().max_tokens(7).build())
        .send()
        .await
        .expect("converse succeeds");

    let message = output.output().unwrap().as_message().unwrap();
    assert_eq!(message.content(), [ContentBlock::Text(expected_answer("what is rust", Some(7), 32).text())]);
    assert_eq!(output.stop_reason(), &StopReason::MaxTokens);
    let usage = output.usage().unwrap();
    assert_eq!((usage.input_tokens(), usage.output_tokens(), usage.total_tokens()), (3, 7, 10));
    assert!(output.metrics().is_some());
}

#[tokio::test]
async fn returns_tool_calls() {
    let emulator = emulator().await;
    let prompt = "call a tool, please";
    let output = client(&emulator)
        .converse()
        .model_id(MODEL)
        .messages(user(prompt))
        .tool_config(tools(&["search"]))
        .send()
        .await
        .unwrap();
    let content = output.output().unwrap().as_message().unwrap().content();
    assert_eq!(content[0], ContentBlock::Text(TOOL_PREAMBLE.into()));
    let ContentBlock::ToolUse(tool) = &content[1] else { panic!("expected tool use, got {content:?}") };
    assert_eq!(tool.tool_use_id(), expected_tool_use_id(prompt));
    assert_eq!(tool.name(), "search");
    assert_eq!(tool.input(), &Document::Object([("query".to_owned(), Document::from(prompt))].into()));
    assert_eq!(output.stop_reason(), &StopReason::ToolUse);
}
