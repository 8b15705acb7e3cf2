//! Every Bedrock failure the emulator can inject reaches the client as the documented gRPC status,
//! a stream cut short never looks complete, and a unary call is bounded against a Bedrock that
//! hangs or stalls as a stream is.

use std::time::Duration;

use bedrock_emulator::EmulatorConfig;
use bedrock_gateway::config::EmbeddingFormat;
use bedrock_gateway::config::{QuotaLimits, Seconds, TenantConfig};
use bedrock_gateway_proto::v1;
use bedrock_gateway_testkit::{TestGateway, api_key_digest, collect, embedding_model, user_request, with_api_key};
use tonic::Code;
use v1::converse_stream_event::Event;

/// Scheduling slack on a loaded 2-core machine, on top of a configured bound.
const MARGIN: Duration = Duration::from_secs(2);

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
    let gateway = TestGateway::start_with(|config| config.server.stream_idle_timeout_secs = Seconds(1)).await;
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
    let gateway =
        TestGateway::start_with_emulator(pacing, |config| config.server.stream_idle_timeout_secs = Seconds(1)).await;
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

const UNARY_KEY: &str = "unary-bounds-key";

/// One slot, one concurrency place for the tenant, bounds of 1 s on Bedrock taking a call and on
/// its silence, 2 s on a unary Converse's answer, and every RPC's model in a hanging (`-hang`)
/// and a stalling (`-stall-body`) version.
async fn bounded_gateway() -> TestGateway {
    TestGateway::start_with(|config| {
        config.server.max_concurrent_requests = 1;
        config.bedrock.stream_open_timeout_secs = Seconds(1);
        config.bedrock.converse_timeout_secs = Seconds(2);
        config.server.stream_idle_timeout_secs = Seconds(1);
        for fault in ["hang", "stall-body"] {
            config.models.get_mut(&format!("fault-{fault}")).unwrap().capabilities.count_tokens = true;
            let embedding = embedding_model(&format!("fault.{fault}"), EmbeddingFormat::TitanTextV2, &[1024]);
            config.models.insert(format!("embed-{fault}"), embedding);
        }
        let tenant = TenantConfig {
            api_keys: [("ci".to_owned(), api_key_digest(UNARY_KEY).into())].into(),
            quotas: QuotaLimits { concurrent_requests: Some(1), ..QuotaLimits::default() },
            ..TenantConfig::default()
        };
        config.tenants.insert("team".into(), tenant);
    })
    .await
}

/// Checks that `call` failed UNAVAILABLE saying `says` after `bound` and not much later, then that
/// the gateway's only slot and the tenant's only place are free: the next call is served.
async fn assert_ends_within<T: std::fmt::Debug>(
    gateway: &TestGateway,
    call: impl Future<Output = Result<T, tonic::Status>>,
    bound: Duration,
    says: &str,
) {
    let started = std::time::Instant::now();
    let ended = tokio::time::timeout(bound + MARGIN, call).await;
    let status = ended.unwrap_or_else(|_| panic!("{says}: still waiting after {:?}", bound + MARGIN)).unwrap_err();
    assert!(started.elapsed() >= bound, "{says}: ended after {:?}", started.elapsed());
    assert_eq!(status.code(), Code::Unavailable, "{}", status.message());
    assert!(status.message().contains(says), "{}", status.message());
    let next = gateway.stub().await.converse(with_api_key(user_request("chat", "next"), UNARY_KEY)).await;
    assert!(next.is_ok(), "{says}: the slot and the tenant's place are free: {next:?}");
}

#[tokio::test]
async fn a_unary_converse_ends_when_bedrock_hangs_or_stalls_and_frees_its_places() {
    let gateway = bounded_gateway().await;
    let mut client = gateway.stub().await;
    let hung = client.converse(with_api_key(user_request("fault-hang", "hello"), UNARY_KEY));
    let says = "did not start answering within 2s (bedrock.converse_timeout_secs)";
    assert_ends_within(&gateway, hung, Duration::from_secs(2), says).await;
    let stalled = client.converse(with_api_key(user_request("fault-stall-body", "hello"), UNARY_KEY));
    let says = "sent nothing for 1s (server.stream_idle_timeout_secs)";
    assert_ends_within(&gateway, stalled, Duration::from_secs(1), says).await;
}

#[tokio::test]
async fn count_tokens_ends_when_bedrock_hangs_or_stalls_and_frees_its_places() {
    let gateway = bounded_gateway().await;
    let mut client = gateway.stub().await;
    let hung = client.count_tokens(with_api_key(user_request("fault-hang", "hello"), UNARY_KEY));
    let says = "did not start answering within 1s (bedrock.stream_open_timeout_secs)";
    assert_ends_within(&gateway, hung, Duration::from_secs(1), says).await;
    let stalled = client.count_tokens(with_api_key(user_request("fault-stall-body", "hello"), UNARY_KEY));
    let says = "sent nothing for 1s (server.stream_idle_timeout_secs)";
    assert_ends_within(&gateway, stalled, Duration::from_secs(1), says).await;
}

#[tokio::test]
async fn embed_ends_when_bedrock_hangs_or_stalls_and_frees_its_places() {
    let gateway = bounded_gateway().await;
    let mut client = gateway.stub().await;
    let embed = |model: &str| {
        let request =
            v1::EmbedRequest { model: model.to_owned(), texts: vec!["hello".to_owned()], ..Default::default() };
        with_api_key(request, UNARY_KEY)
    };
    let hung = client.embed(embed("embed-hang"));
    let says = "did not start answering within 1s (bedrock.stream_open_timeout_secs)";
    assert_ends_within(&gateway, hung, Duration::from_secs(1), says).await;
    let stalled = client.embed(embed("embed-stall-body"));
    let says = "sent nothing for 1s (server.stream_idle_timeout_secs)";
    assert_ends_within(&gateway, stalled, Duration::from_secs(1), says).await;
}
