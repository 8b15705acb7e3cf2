//! Reasoning through the real SDK: requested in `additionalModelRequestFields`, streamed and
//! returned before the answer (text with a signature, or redacted), and accepted back.

mod common;

use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message, ReasoningContentBlock, ReasoningTextBlock,
};
use aws_smithy_types::{Blob, Document, Number};
use bedrock_emulator::{REASONING_TEXT, expected_answer, expected_reasoning_signature, expected_redacted_reasoning};
use common::{MODEL, client, collect, emulator, user};

fn thinking(budget: u64) -> Document {
    let thinking = Document::Object(
        [
            ("type".to_owned(), Document::from("enabled")),
            ("budget_tokens".to_owned(), Document::Number(Number::PosInt(budget))),
        ]
        .into(),
    );
    Document::Object([("thinking".to_owned(), thinking)].into())
}

fn effort(level: &str) -> Document {
    Document::Object([("reasoning_effort".to_owned(), Document::from(level))].into())
}

#[tokio::test]
async fn thinking_streams_reasoning_then_the_answer() {
    let emulator = emulator().await;
    let prompt = "think about rust";
    let output = client(&emulator)
        .converse_stream()
        .model_id(MODEL)
        .messages(user(prompt))
        .additional_model_request_fields(thinking(2048))
        .send()
        .await
        .unwrap();
    let got = collect(output).await.unwrap();
    assert_eq!(got.reasoning.concat(), REASONING_TEXT);
    assert_eq!(got.reasoning.len(), 5);
    assert_eq!(got.signature, Some(expected_reasoning_signature(prompt)));
    assert_eq!(got.redacted, None);
    assert_eq!(got.text_index, Some(1), "the answer moves to block 1");
    assert_eq!(got.text.concat(), expected_answer(prompt, None, 32).text());
    assert_eq!(got.usage.map(|usage| usage.1), Some(6 + 32), "reasoning deltas count as output");
}

#[tokio::test]
async fn a_redact_prompt_gets_redacted_reasoning() {
    let emulator = emulator().await;
    let prompt = "please redact your thoughts";
    let output = client(&emulator)
        .converse_stream()
        .model_id(MODEL)
        .messages(user(prompt))
        .additional_model_request_fields(effort("high"))
        .send()
        .await
        .unwrap();
    let got = collect(output).await.unwrap();
    assert!(got.reasoning.is_empty() && got.signature.is_none());
    assert_eq!(got.redacted, Some(expected_redacted_reasoning(prompt)));
    assert_eq!(got.text.concat(), expected_answer(prompt, None, 32).text());
}

#[tokio::test]
async fn converse_returns_reasoning_blocks() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let prompt = "think";
    let output =
        client.converse().model_id(MODEL).messages(user(prompt)).additional_model_request_fields(effort("low"));
    let output = output.send().await.unwrap();
    let content = output.output().unwrap().as_message().unwrap().content();
    let reasoning = ReasoningTextBlock::builder()
        .text(REASONING_TEXT)
        .signature(expected_reasoning_signature(prompt))
        .build()
        .unwrap();
    assert_eq!(content[0], ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(reasoning)));
    assert_eq!(content[1], ContentBlock::Text(expected_answer(prompt, None, 32).text()));

    let prompt = "redacted, please";
    let output =
        client.converse().model_id(MODEL).messages(user(prompt)).additional_model_request_fields(thinking(1024));
    let output = output.send().await.unwrap();
    let content = output.output().unwrap().as_message().unwrap().content();
    assert_eq!(
        content[0],
        ContentBlock::ReasoningContent(ReasoningContentBlock::RedactedContent(Blob::new(expected_redacted_reasoning(
            prompt
        ))))
    );
    assert_eq!(output.usage().unwrap().output_tokens(), 1 + 32);
}

#[tokio::test]
async fn reasoning_is_accepted_back_in_assistant_messages_only() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let assistant = |block: ReasoningContentBlock| {
        Message::builder()
            .role(ConversationRole::Assistant)
            .content(ContentBlock::ReasoningContent(block))
            .content(ContentBlock::Text("an answer".into()))
            .build()
            .unwrap()
    };
    let text = ReasoningContentBlock::ReasoningText(
        ReasoningTextBlock::builder().text(REASONING_TEXT).signature("sig_1").build().unwrap(),
    );
    let redacted = ReasoningContentBlock::RedactedContent(Blob::new(vec![0xff, 0, 1]));
    for block in [text, redacted.clone()] {
        let sent = client
            .converse()
            .model_id(MODEL)
            .messages(user("first"))
            .messages(assistant(block))
            .messages(user("second"))
            .send()
            .await;
        assert!(sent.is_ok(), "{sent:?}");
    }
    let body = emulator.last_request_body().unwrap();
    assert_eq!(body["messages"][1]["content"][0], serde_json::json!({"reasoningContent": {"redactedContent": "/wAB"}}));

    let misplaced = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::ReasoningContent(redacted))
        .build()
        .unwrap();
    let err = client.converse().model_id(MODEL).messages(misplaced).send().await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
}

#[tokio::test]
async fn a_thinking_budget_out_of_range_is_refused() {
    let emulator = emulator().await;
    let client = client(&emulator);
    for (budget, max_tokens) in [(1023, None), (2048, Some(2048))] {
        let err = client
            .converse()
            .model_id(MODEL)
            .messages(user("think"))
            .additional_model_request_fields(thinking(budget))
            .set_inference_config(max_tokens.map(|max| InferenceConfiguration::builder().max_tokens(max).build()))
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("ValidationException"), "{budget} {max_tokens:?}");
        assert!(err.message().unwrap().contains("budget_tokens"));
    }
}
