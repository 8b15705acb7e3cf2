//! ConverseStream through the real SDK: content, usage and request shapes.

mod common;

use aws_sdk_bedrockruntime::types::{
    AnyToolChoice, InferenceConfiguration, SpecificToolChoice, SystemContentBlock, ToolChoice,
};
use bedrock_emulator::{TOOL_PREAMBLE, expected_answer, expected_tool_input, expected_tool_use_id};
use common::{MODEL, client, collect, emulator, tools, user};

#[tokio::test]
async fn streams_the_expected_answer_with_usage() {
    let emulator = emulator().await;
    let output = client(&emulator)
        .converse_stream()
        .model_id(MODEL)
        .system(SystemContentBlock::Text("You are terse.".into()))
        .messages(user("Tell me a story about the sea"))
        .send()
        .await
        .expect("stream starts");
    let got = collect(output).await.expect("clean stream");

    let expected = expected_answer("Tell me a story about the sea", None, 32);
    assert_eq!(got.text, expected.tokens);
    assert_eq!(got.stop_reason.as_deref(), Some("end_turn"));
    assert_eq!(got.usage, Some((10, 32, 42)));
    assert_eq!(emulator.requests_served(), 1);
    let body = emulator.last_request_body().expect("request recorded");
    assert_eq!(body["messages"][0]["content"][0]["text"], "Tell me a story about the sea");
}

#[tokio::test]
async fn max_tokens_and_stop_sequences_cut_the_answer() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let prompt = "count to ten";
    let send = |config: InferenceConfiguration| {
        client.converse_stream().model_id(MODEL).messages(user(prompt)).inference_config(config).send()
    };

    let got = collect(send(InferenceConfiguration::builder().max_tokens(5).build()).await.unwrap()).await.unwrap();
    let expected = expected_answer(prompt, Some(5), 32);
    assert_eq!(got.text, expected.tokens);
    assert_eq!(got.stop_reason.as_deref(), Some("max_tokens"));

    let stop = expected_answer(prompt, None, 32).tokens[3].trim().to_owned();
    let got =
        collect(send(InferenceConfiguration::builder().stop_sequences(&stop).build()).await.unwrap()).await.unwrap();
    let expected = expected_answer(prompt, None, 32).with_stop_sequences(&[&stop]);
    assert_eq!(got.text, expected.tokens);
    assert_eq!(got.stop_reason.as_deref(), Some("stop_sequence"));
}

#[tokio::test]
async fn tool_use_streams_a_tool_call() {
    let emulator = emulator().await;
    let prompt = "use the tool to look up \"weather\"";
    let output = client(&emulator)
        .converse_stream()
        .model_id(MODEL)
        .messages(user(prompt))
        .tool_config(tools(&["lookup", "other"]))
        .send()
        .await
        .unwrap();
    let got = collect(output).await.unwrap();

    assert_eq!(got.text.concat(), TOOL_PREAMBLE);
    assert_eq!(got.tool_start, Some((1, expected_tool_use_id(prompt), "lookup".into())));
    assert_eq!(got.tool_input.len(), 3);
    assert_eq!(got.tool_input.concat(), expected_tool_input(prompt));
    assert_eq!(got.stop_reason.as_deref(), Some("tool_use"));
    assert_eq!(got.usage.map(|u| u.1), Some(8));
}

#[tokio::test]
async fn tool_choice_forces_a_tool() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let with_choice = |choice: ToolChoice| {
        let mut config = tools(&["a", "b"]);
        config.tool_choice = Some(choice);
        client.converse_stream().model_id(MODEL).messages(user("hello")).tool_config(config).send()
    };
    let any = collect(with_choice(ToolChoice::Any(AnyToolChoice::builder().build())).await.unwrap()).await.unwrap();
    assert_eq!(any.tool_start.map(|t| t.2).as_deref(), Some("a"));
    let specific = SpecificToolChoice::builder().name("b").build().unwrap();
    let named = collect(with_choice(ToolChoice::Tool(specific)).await.unwrap()).await.unwrap();
    assert_eq!(named.tool_start.map(|t| t.2).as_deref(), Some("b"));

    let plain = client
        .converse_stream()
        .model_id(MODEL)
        .messages(user("hello"))
        .tool_config(tools(&["a"]))
        .send()
        .await
        .unwrap();
    assert_eq!(collect(plain).await.unwrap().tool_start, None);
}

#[tokio::test]
async fn arn_model_ids_are_decoded() {
    let emulator = emulator().await;
    let mut ends = emulator.subscribe();
    let arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku";
    let output = client(&emulator).converse_stream().model_id(arn).messages(user("hi")).send().await.unwrap();
    collect(output).await.unwrap();
    let end = common::next_end(&mut ends, std::time::Duration::from_secs(5)).await;
    assert_eq!(end.model_id, arn);
    assert_eq!(end.outcome, bedrock_emulator::StreamOutcome::Completed);
    assert_eq!(end.events_sent, 1 + 32 + 3);
}

#[tokio::test]
async fn pacing_delays_tokens() {
    let config = bedrock_emulator::EmulatorConfig {
        time_to_first_token: std::time::Duration::from_millis(80),
        inter_token_gap: std::time::Duration::from_millis(5),
        answer_tokens: 4,
    };
    let emulator = bedrock_emulator::Emulator::start(config).await.unwrap();
    let started = std::time::Instant::now();
    let output = client(&emulator).converse_stream().model_id(MODEL).messages(user("hi")).send().await.unwrap();
    let got = collect(output).await.unwrap();
    assert_eq!(got.text.len(), 4);
    assert!(started.elapsed() >= std::time::Duration::from_millis(95), "{:?}", started.elapsed());
}
