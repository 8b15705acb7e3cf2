//! Reasoning and JSON answers from the client crate and `bgw`: reasoning (redacted too) collected
//! into the answer's message goes back unchanged in the next turn, and a JSON schema gets JSON.

mod common;

use bedrock_emulator::{REASONING_TEXT, expected_answer, expected_json, expected_redacted_reasoning};
use bedrock_gateway::config::Config;
use bedrock_gateway::config::{ReasoningStyle, StructuredOutputStyle};
use bedrock_gateway_client::{Request, v1};
use common::{ANSWER_TOKENS, Gateway};
use tokio::process::Command;

/// `chat` reasons with Anthropic's thinking and has native structured output.
fn catalog(config: &mut Config) {
    let chat = config.models.get_mut("chat").unwrap();
    chat.max_tokens_cap = 20_000;
    chat.capabilities.reasoning = ReasoningStyle::AnthropicThinking;
    chat.capabilities.structured_output = StructuredOutputStyle::Native;
}

#[tokio::test]
async fn streamed_reasoning_is_collected_and_goes_back_unchanged() {
    let gateway = Gateway::start_with(catalog).await;
    let client = common::client(&gateway);
    for prompt in ["redact your reasoning", "show your reasoning"] {
        let conversation = Request::new("chat").user(prompt).reasoning(v1::ReasoningEffort::Low);
        let answer = client.converse_stream(conversation.clone()).await.unwrap().answer().await.unwrap();
        assert_eq!(answer.text, expected_answer(prompt, None, ANSWER_TOKENS).text());
        let Some(v1::content_block::Block::Reasoning(reasoning)) = &answer.message.content[0].block else {
            panic!("reasoning first: {:?}", answer.message)
        };
        if prompt.starts_with("redact") {
            assert_eq!(
                (reasoning.text.as_str(), reasoning.redacted.clone()),
                ("", expected_redacted_reasoning(prompt))
            );
        } else {
            assert_eq!(reasoning.text, REASONING_TEXT);
            assert!(!reasoning.signature.is_empty());
        }
        let whole = client.converse(conversation.clone()).await.unwrap();
        assert_eq!(whole.message, answer.message, "Converse and the stream collect the same message");

        let next = conversation.push(answer.message.clone()).user("and then?");
        client.converse(next).await.unwrap();
        let body = gateway.emulator.last_request_body().unwrap();
        let sent_back = &body["messages"][1]["content"][0]["reasoningContent"];
        if prompt.starts_with("redact") {
            let redacted = aws_smithy_types::base64::decode(sent_back["redactedContent"].as_str().unwrap()).unwrap();
            assert_eq!(redacted, expected_redacted_reasoning(prompt));
        } else {
            assert_eq!(sent_back["reasoningText"]["text"], REASONING_TEXT);
        }
    }
}

#[tokio::test]
async fn bgw_reasons_on_stderr_and_answers_json_on_stdout() {
    let gateway = Gateway::start_with(catalog).await;
    let schema = r#"{"type":"object","properties":{"city":{"type":"string"}}}"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("city answer.json");
    std::fs::write(&path, schema).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_bgw"))
        .env_clear()
        .env("BGW_ENDPOINT", gateway.url())
        .args(["chat", "-m", "chat", "--reasoning", "high", "--json-schema"])
        .arg(&path)
        .arg("Oslo")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = (String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap());
    assert!(output.status.success(), "{stderr}");
    assert_eq!(stdout, format!("{}\n", expected_json(&serde_json::from_str(schema).unwrap(), "Oslo")));
    assert!(stderr.starts_with(&format!("{REASONING_TEXT}\n")), "{stderr}");
    let body = gateway.emulator.last_request_body().unwrap();
    assert_eq!(body["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["name"], "city_answer");
    assert_eq!(body["additionalModelRequestFields"]["thinking"]["budget_tokens"], 16_384);
}
