//! Every Bedrock failure the emulator can inject reaches the client as the documented gRPC status,
//! and a stream cut short never looks complete.

use std::time::Duration;

use bedrock_emulator::EmulatorConfig;
use bedrock_gateway_proto::v1;
use bedrock_gateway_testkit::{TestGateway, collect, user_request};
use tonic::Code;
use v1::converse_stream_event::Event;

#[tokio::test]
async fn failures_before_the_stream_map_to_their_status() {
    let gateway = TestGateway::start().await;
    let mut client = gateway.stub().await;
    let cases = [
        ("fault-throttle", Code::ResourceExhausted),
        ("fault-quota", Code::ResourceExhausted),
        ("fault-validation", Code::InvalidArgument),
        ("fault-access-denied", Code::PermissionDenied),
        ("fault-not-found", Code::NotFound),
        ("fault-model-timeout", Code::DeadlineExceeded),
        ("fault-unavailable", Code::Unavailable),
        ("fault-not-ready", Code::Unavailable),
        ("fault-internal", Code::Unavailable),
    ];
    for (alias, code) in cases {
        let status = client.converse_stream(user_request(alias, "hello")).await.err();
        let status = status.unwrap_or_else(|| panic!("{alias}: the call fails before any event"));
        assert_eq!(status.code(), code, "{alias}: {}", status.message());
        assert!(status.message().contains(alias), "{alias}: the message names the model: {}", status.message());
        assert!(
            !status.message().contains("fault."),
            "{alias}: the Bedrock model id stays hidden: {}",
            status.message()
        );
        assert!(status.metadata().get("x-request-id").is_some());
        let pushback = status.metadata().get("grpc-retry-pushback-ms");
        assert_eq!(pushback.is_some(), code == Code::ResourceExhausted, "{alias}: pushback {pushback:?}");

        let status = client.converse(user_request(alias, "hello")).await.unwrap_err();
        assert_eq!(status.code(), code, "Converse {alias}: {}", status.message());
    }
}

async fn assert_incomplete(alias: &str, deltas: usize) {
    let gateway = TestGateway::start().await;
    let mut client = gateway.stub().await;
    let collected = collect(&mut client, user_request(alias, "hello")).await;
    let status = collected.error.unwrap_or_else(|| panic!("{alias}: the stream ends with an error status"));
    assert_eq!(status.code(), Code::Unavailable, "{alias}: {}", status.message());
    assert!(status.message().contains("incomplete"), "{alias}: {}", status.message());
    assert!(collected.stop_reason.is_none() && collected.usage.is_none(), "{alias}: no terminal events");
    let received = collected.events.iter().filter(|event| matches!(event, Event::ContentBlockDelta(_))).count();
    assert_eq!(received, deltas, "{alias}: the deltas before the failure were relayed");
}

#[tokio::test]
async fn model_error_mid_stream_says_the_answer_is_incomplete() {
    assert_incomplete("fault-stream-error.3", 3).await;
}

#[tokio::test]
async fn connection_cut_mid_stream_says_the_answer_is_incomplete() {
    assert_incomplete("fault-close.3", 3).await;
}

#[tokio::test]
async fn stream_without_usage_is_not_complete() {
    let gateway = TestGateway::start().await;
    let mut client = gateway.stub().await;
    let collected = collect(&mut client, user_request("fault-no-metadata", "hello")).await;
    let status = collected.error.expect("a stream without usage ends with an error");
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.message().contains("incomplete"), "{}", status.message());
}

#[tokio::test]
async fn silent_bedrock_fails_the_stream_after_the_idle_timeout() {
    let gateway = TestGateway::start_with(|config| config.server.stream_idle_timeout_secs = 1).await;
    let mut client = gateway.stub().await;
    let started = std::time::Instant::now();
    let collected = collect(&mut client, user_request("fault-stall.2", "hello")).await;
    let status = collected.error.expect("a stalled stream ends with an error");
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.message().contains("incomplete"), "{}", status.message());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn the_idle_timeout_counts_from_the_last_event_not_the_start() {
    let pacing = EmulatorConfig { inter_token_gap: Duration::from_millis(150), ..EmulatorConfig::default() };
    let gateway = TestGateway::start_with_emulator(pacing, |config| config.server.stream_idle_timeout_secs = 1).await;
    let mut client = gateway.stub().await;
    let started = std::time::Instant::now();
    let collected = collect(&mut client, user_request("chat", "slow but steady")).await;
    assert!(collected.error.is_none(), "{:?}", collected.error);
    assert!(started.elapsed() > Duration::from_secs(1), "the whole stream outlasted the idle timeout");
}

#[tokio::test]
async fn one_failing_stream_does_not_disturb_the_others() {
    let gateway = TestGateway::start().await;
    let mut client = gateway.stub().await;
    let mut other_client = client.clone();
    let (broken, healthy) = tokio::join!(
        collect(&mut other_client, user_request("fault-stream-error.3", "a")),
        collect(&mut client, user_request("chat", "b")),
    );
    assert!(broken.error.is_some());
    assert!(healthy.error.is_none() && healthy.usage.is_some());
}
