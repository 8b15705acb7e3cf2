//! Targets and fallbacks through the whole gateway: a canary split and sticky conversations, a
//! throttled target falling back before anything was sent, never after, never past the deadline,
//! and a target in another region on its own client.

use std::time::Duration;

use bedrock_gateway::config::{Config, ModelConfig};
use bedrock_gateway_proto::v1;
use bedrock_gateway_testkit::{TestGateway, collect, collect_request, metric, user_request};
use tonic::Code;

/// Adds model `name` to the gateway's catalog, from its TOML table.
fn add_model(config: &mut Config, name: &str, table: &str) {
    let model: ModelConfig = toml::from_str(table).unwrap_or_else(|err| panic!("{table}: {err}"));
    config.models.insert(name.to_owned(), model);
}

/// A gateway whose catalog has model `name` besides the test catalog's.
async fn gateway_with_model(name: &str, table: &str) -> TestGateway {
    TestGateway::start_with(|config| add_model(config, name, table)).await
}

/// A gateway whose model `name` calls `model_id`, with one fallback that always answers.
async fn gateway_with_backup(name: &str, model_id: &str) -> TestGateway {
    let table =
        format!("model_id = \"{model_id}\"\nfallbacks = [{{ model_id = \"test.backup\", version = \"backup\" }}]\n");
    gateway_with_model(name, &table).await
}

fn started_version(events: &[v1::converse_stream_event::Event]) -> String {
    match events.first() {
        Some(v1::converse_stream_event::Event::Start(start)) => start.model_version.clone(),
        other => panic!("a stream starts with its start event, not {other:?}"),
    }
}

#[tokio::test]
async fn a_canary_gets_its_share_and_a_conversation_stays_on_its_target() {
    let gateway = gateway_with_model(
        "canary",
        r#"
            sticky_metadata_key = "conversation_id"
            targets = [
                { model_id = "test.stable", version = "stable", weight = 1 },
                { model_id = "test.next", version = "next", weight = 1 },
            ]
            "#,
    )
    .await;
    let mut client = gateway.stub().await;
    let mut seen = std::collections::BTreeSet::new();
    for n in 0..40 {
        let answered = collect(&mut client, user_request("canary", &format!("call {n}"))).await;
        seen.insert(started_version(&answered.events));
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["next", "stable"], "both targets answer a 1:1 split");

    for conversation in 0..5 {
        let mut versions = std::collections::BTreeSet::new();
        for turn in 0..6 {
            let mut request = user_request("canary", &format!("turn {turn}"));
            request.request_metadata.insert("conversation_id".to_owned(), format!("c-{conversation}"));
            versions.insert(started_version(&collect(&mut client, request).await.events));
        }
        assert_eq!(versions.len(), 1, "conversation c-{conversation} switched targets: {versions:?}");
    }
}

#[tokio::test]
async fn a_throttled_target_falls_back_before_anything_was_sent() {
    bedrock_gateway::metrics::install();
    let gateway = gateway_with_model(
        "resilient",
        r#"
            model_id = "fault.throttle"
            version = "primary"
            fallbacks = [
                { model_id = "fault.unavailable", version = "second" },
                { model_id = "test.backup", version = "backup" },
            ]
            "#,
    )
    .await;
    let series = |from: &str, to: &str| {
        format!("bedrock_gateway_fallbacks_total{{model=\"resilient\",from_version=\"{from}\",to_version=\"{to}\"}}")
    };
    let before = (metric(&series("primary", "second")), metric(&series("second", "backup")));
    let mut client = gateway.stub().await;
    let answered = collect(&mut client, user_request("resilient", "hello")).await;
    assert!(answered.error.is_none(), "{:?}", answered.error);
    assert_eq!(started_version(&answered.events), "backup");
    assert_eq!(answered.stop_reason, Some(v1::StopReason::EndTurn));

    let unary = client.converse(user_request("resilient", "hello")).await.unwrap().into_inner();
    assert_eq!(unary.model_version, "backup");
    let after = (metric(&series("primary", "second")), metric(&series("second", "backup")));
    assert_eq!((after.0 - before.0, after.1 - before.1), (2.0, 2.0), "each fallback counted, stream and unary");
}

#[tokio::test]
async fn a_failure_after_the_first_event_is_never_retried() {
    let gateway = gateway_with_backup("fragile", "fault.stream-error.3").await;
    let mut client = gateway.stub().await;
    let answered = collect(&mut client, user_request("fragile", "hello")).await;
    assert!(answered.error.is_some(), "a cut answer ends with an error, not a second answer");
    assert_eq!(started_version(&answered.events), "fragile");
    assert_eq!(gateway.emulator.requests_served(), 1, "the fallback was not called");
}

#[tokio::test]
async fn fallbacks_stop_at_the_callers_deadline() {
    let gateway = gateway_with_backup("slow", "fault.hang").await;
    let mut client = gateway.stub().await;
    let mut request = tonic::Request::new(user_request("slow", "hello"));
    request.set_timeout(Duration::from_millis(300));
    let answered = collect_request(&mut client, request).await;
    let status = answered.error.expect("the deadline passed");
    assert!(matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled), "{status:?}");
    assert_eq!(gateway.emulator.requests_served(), 1, "no fallback once the deadline is gone");
}

#[tokio::test]
async fn a_target_in_another_region_has_its_own_client_and_endpoint() {
    let gateway = TestGateway::start_with(|config| {
        let emulator = config.bedrock.endpoint_url.clone().unwrap();
        config.bedrock.region_endpoint_urls.insert("us-west-2".to_owned(), emulator);
        add_model(config, "west", "model_id = \"test.west\"\nregion = \"us-west-2\"\nversion = \"west\"\n");
    })
    .await;
    let mut client = gateway.stub().await;
    let answered = collect(&mut client, user_request("west", "hello")).await;
    assert_eq!(
        (started_version(&answered.events), answered.stop_reason),
        ("west".to_owned(), Some(v1::StopReason::EndTurn))
    );
}
