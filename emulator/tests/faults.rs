//! Fault injection as the real SDK sees it.

mod common;

use std::time::Duration;

use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamError;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use bedrock_emulator::expected_answer;
use common::{MODEL, client, client_with_retries, collect, emulator, user};

async fn stream_error(emulator: &bedrock_emulator::Emulator, model: &str) -> ConverseStreamError {
    client(emulator)
        .converse_stream()
        .model_id(model)
        .messages(user("hello"))
        .send()
        .await
        .expect_err("the fault rejects the request")
        .into_service_error()
}

#[tokio::test]
async fn pre_stream_faults_are_typed_errors() {
    let emulator = emulator().await;
    type Check = fn(&ConverseStreamError) -> bool;
    let cases: [(&str, Check); 9] = [
        ("fault.throttle", |e| matches!(e, ConverseStreamError::ThrottlingException(_))),
        ("fault.validation", |e| matches!(e, ConverseStreamError::ValidationException(_))),
        ("fault.access-denied", |e| matches!(e, ConverseStreamError::AccessDeniedException(_))),
        ("fault.not-found", |e| matches!(e, ConverseStreamError::ResourceNotFoundException(_))),
        ("fault.model-timeout", |e| matches!(e, ConverseStreamError::ModelTimeoutException(_))),
        ("fault.model-error", |e| matches!(e, ConverseStreamError::ModelErrorException(_))),
        ("fault.unavailable", |e| matches!(e, ConverseStreamError::ServiceUnavailableException(_))),
        ("fault.not-ready", |e| matches!(e, ConverseStreamError::ModelNotReadyException(_))),
        ("fault.internal", |e| matches!(e, ConverseStreamError::InternalServerException(_))),
    ];
    for (model, check) in cases {
        let error = stream_error(&emulator, model).await;
        assert!(check(&error), "{model}: {error:?}");
        assert!(error.message().is_some_and(|m| m.contains("injected")), "{model}: {error:?}");
        assert!(error.meta().extra("aws_request_id").is_some(), "{model}: request id");
    }

    let quota = stream_error(&emulator, "fault.quota").await;
    assert_eq!(quota.code(), Some("ServiceQuotaExceededException"));

    let unknown = stream_error(&emulator, "fault.unheard-of").await;
    assert!(matches!(unknown, ConverseStreamError::ValidationException(_)));
    assert!(unknown.message().unwrap().contains("fault.unheard-of"));
    assert_eq!(emulator.requests_served(), 11);
}

#[tokio::test]
async fn converse_gets_the_same_errors() {
    let emulator = emulator().await;
    let error = client(&emulator)
        .converse()
        .model_id("fault.throttle")
        .messages(user("hello"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(matches!(error, ConverseError::ThrottlingException(_)), "{error:?}");
}

#[tokio::test]
async fn the_header_selects_a_fault_unless_the_model_id_does() {
    let emulator = emulator().await;
    let send = |model: &'static str| {
        client(&emulator)
            .converse_stream()
            .model_id(model)
            .messages(user("hello"))
            .customize()
            .mutate_request(|request| {
                request.headers_mut().insert("x-emulator-fault", "fault.access-denied");
            })
            .send()
    };
    let error = send(MODEL).await.unwrap_err().into_service_error();
    assert!(matches!(error, ConverseStreamError::AccessDeniedException(_)), "{error:?}");
    let error = send("fault.not-found").await.unwrap_err().into_service_error();
    assert!(matches!(error, ConverseStreamError::ResourceNotFoundException(_)), "{error:?}");
}

#[tokio::test]
async fn stream_error_follows_the_deltas() {
    let emulator = emulator().await;
    let output = client(&emulator)
        .converse_stream()
        .model_id("fault.stream-error.3")
        .messages(user("hello"))
        .send()
        .await
        .unwrap();
    let (got, error) = collect(output).await.expect_err("the stream fails");
    assert_eq!(got.text, expected_answer("hello", None, 3).tokens);
    let error = error.into_service_error();
    assert!(matches!(error, ConverseStreamOutputError::ModelStreamErrorException(_)), "{error:?}");
}

#[tokio::test]
async fn close_truncates_the_body() {
    let emulator = emulator().await;
    let output =
        client(&emulator).converse_stream().model_id("fault.close.2").messages(user("hello")).send().await.unwrap();
    let (got, error) = collect(output).await.expect_err("a truncated body is an error");
    assert_eq!(got.text, expected_answer("hello", None, 2).tokens);
    assert!(!matches!(error.into_service_error(), ConverseStreamOutputError::ModelStreamErrorException(_)));
}

#[tokio::test]
async fn no_metadata_omits_only_metadata() {
    let emulator = emulator().await;
    let output =
        client(&emulator).converse_stream().model_id("fault.no-metadata").messages(user("hello")).send().await.unwrap();
    let got = collect(output).await.unwrap();
    assert_eq!(got.text, expected_answer("hello", None, 32).tokens);
    assert_eq!(got.stop_reason.as_deref(), Some("end_turn"));
    assert_eq!(got.usage, None);
}

#[tokio::test]
async fn throttle_once_lets_the_retry_through() {
    let emulator = emulator().await;
    let retries = RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(1));
    let client = client_with_retries(&emulator, retries);
    let send = |prompt: &str| client.converse_stream().model_id("fault.throttle-once").messages(user(prompt)).send();

    let got = collect(send("first prompt").await.expect("retried")).await.unwrap();
    assert_eq!(got.text, expected_answer("first prompt", None, 32).tokens);
    assert_eq!(emulator.requests_served(), 2);
    collect(send("first prompt").await.unwrap()).await.unwrap();
    assert_eq!(emulator.requests_served(), 3);
    collect(send("second prompt").await.unwrap()).await.unwrap();
    assert_eq!(emulator.requests_served(), 5);
}

#[tokio::test]
async fn malformed_stop_reasons_end_normal_answers() {
    let emulator = emulator().await;
    for (model, reason) in
        [("fault.malformed-tool-use", "malformed_tool_use"), ("fault.malformed-model-output", "malformed_model_output")]
    {
        let output = client(&emulator).converse_stream().model_id(model).messages(user("hello")).send().await.unwrap();
        let got = collect(output).await.unwrap();
        assert_eq!(got.text, expected_answer("hello", None, 32).tokens);
        assert_eq!(got.stop_reason.as_deref(), Some(reason));
        assert!(got.usage.is_some());
        let whole = client(&emulator).converse().model_id(model).messages(user("hello")).send().await.unwrap();
        assert_eq!(whole.stop_reason.as_str(), reason);
    }
}

#[tokio::test]
async fn an_arn_selects_a_fault_by_its_resource_id_and_errors_name_the_model() {
    let emulator = emulator().await;
    let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/fault.validation";
    let error = stream_error(&emulator, arn).await;
    assert!(matches!(error, ConverseStreamError::ValidationException(_)), "{error:?}");
    assert!(error.message().is_some_and(|message| message.contains(arn)), "{error:?}");

    let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/fault.stream-error.1";
    let output = client(&emulator).converse_stream().model_id(arn).messages(user("hello")).send().await.unwrap();
    let (_, error) = collect(output).await.expect_err("the stream fails");
    let error = error.into_service_error();
    assert!(error.message().is_some_and(|message| message.contains(arn)), "{error:?}");
}

#[tokio::test]
async fn unknown_block_comes_first_as_an_unknown_union_member() {
    use aws_sdk_bedrockruntime::types::{ContentBlock, ContentBlockDelta, ContentBlockStart, ConverseStreamOutput};
    let emulator = emulator().await;
    let client = client(&emulator);
    let mut output =
        client.converse_stream().model_id("fault.unknown-block").messages(user("hello")).send().await.unwrap();
    let mut seen = Vec::new();
    while let Some(event) = output.stream.recv().await.unwrap() {
        match event {
            ConverseStreamOutput::ContentBlockStart(start) => {
                assert!(start.start().is_some_and(ContentBlockStart::is_unknown), "{start:?}");
                seen.push(("start", start.content_block_index()));
            }
            ConverseStreamOutput::ContentBlockDelta(delta) => match delta.delta() {
                Some(ContentBlockDelta::Text(_)) => seen.push(("text", delta.content_block_index())),
                Some(other) if other.is_unknown() => seen.push(("unknown delta", delta.content_block_index())),
                other => panic!("{other:?}"),
            },
            ConverseStreamOutput::ContentBlockStop(stop) => seen.push(("stop", stop.content_block_index())),
            _ => {}
        }
    }
    seen.dedup();
    assert_eq!(seen, [("start", 0), ("unknown delta", 0), ("stop", 0), ("text", 1), ("stop", 1)]);

    let output = client.converse().model_id("fault.unknown-block").messages(user("hello")).send().await.unwrap();
    let content = output.output().unwrap().as_message().unwrap().content();
    assert!(content[0].is_unknown(), "{content:?}");
    assert_eq!(content[1], ContentBlock::Text(expected_answer("hello", None, 32).text()));
}
