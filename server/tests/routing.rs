//! Targets and fallbacks through the whole gateway: a canary split and sticky conversations, a
//! throttled target falling back before anything was sent, never after, never past the deadline,
//! the version that answered in the metrics, and one Bedrock client per region, shared by its calls.

use std::time::Duration;

use bedrock_emulator::EmulatorConfig;
use bedrock_gateway::config::Config;
use bedrock_gateway::config::ModelConfig;
use bedrock_gateway::metrics;
use bedrock_gateway_proto::v1;
use bedrock_gateway_testkit::{TestGateway, collect, collect_request, metric_value, user_request};
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
    let gateway = TestGateway::start_with_admin(EmulatorConfig::default(), |config| {
        add_model(
            config,
            "resilient",
            r#"
            model_id = "fault.throttle"
            version = "primary"
            fallbacks = [
                { model_id = "fault.unavailable", version = "second" },
                { model_id = "test.backup", version = "backup" },
            ]
            "#,
        );
    })
    .await;
    let mut client = gateway.stub().await;
    let answered = collect(&mut client, user_request("resilient", "hello")).await;
    assert!(answered.error.is_none(), "{:?}", answered.error);
    assert_eq!(started_version(&answered.events), "backup");
    assert_eq!(answered.stop_reason, Some(v1::StopReason::EndTurn));

    let unary = client.converse(user_request("resilient", "hello")).await.unwrap().into_inner();
    assert_eq!(unary.model_version, "backup");

    // The model's name is this test's own, so the counts are exact though the recorder is shared.
    // A request is counted when its last piece is dropped, just after its end.
    let answered_by = |text: &str, version: &str| {
        metric_value(text, metrics::REQUESTS_TOTAL, &[("model", "resilient"), ("version", version), ("code", "OK")])
    };
    let mut text = String::new();
    for _ in 0..100 {
        text = gateway.admin_get("/metrics").await.1;
        if answered_by(&text, "backup") == Some(2.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rpc_answered_by = |rpc: &str| {
        let labels = [("rpc", rpc), ("model", "resilient"), ("version", "backup"), ("code", "OK")];
        metric_value(&text, metrics::REQUESTS_TOTAL, &labels)
    };
    assert_eq!((rpc_answered_by("ConverseStream"), rpc_answered_by("Converse")), (Some(1.0), Some(1.0)), "{text}");
    for tried in ["primary", "second"] {
        assert_eq!(answered_by(&text, tried), None, "requests count under the version that answered, not {tried}");
    }
    let ttft_count = format!("{}_count", metrics::TIME_TO_FIRST_TOKEN_SECONDS);
    let ttft = |version: &str| metric_value(&text, &ttft_count, &[("model", "resilient"), ("version", version)]);
    assert_eq!((ttft("backup"), ttft("primary")), (Some(1.0), None), "the stream's first token, from backup");
    let fallbacks = |from: &str, to: &str| {
        let labels = [("model", "resilient"), ("from_version", from), ("to_version", to)];
        metric_value(&text, metrics::FALLBACKS_TOTAL, &labels)
    };
    assert_eq!(
        (fallbacks("primary", "second"), fallbacks("second", "backup")),
        (Some(2.0), Some(2.0)),
        "each fallback counted, stream and unary"
    );
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
async fn each_region_has_one_client_that_all_its_calls_share() {
    let gateway = TestGateway::start_with(|config| {
        // The same emulator stands in for both regions: the connections it accepts tell the
        // clients apart, since a client's connections are its own.
        let emulator = config.bedrock.endpoint_url.clone().unwrap();
        config.bedrock.region_endpoint_urls.insert("us-west-2".to_owned(), emulator);
        add_model(config, "west", "model_id = \"test.west\"\nregion = \"us-west-2\"\nversion = \"west\"\n");
    })
    .await;
    let mut client = gateway.stub().await;
    // One call after the other, each answered whole, so each finds the last one's connection idle.
    let mut call = async |model: &str| {
        let answered = collect(&mut client, user_request(model, "hello")).await;
        assert_eq!(answered.stop_reason, Some(v1::StopReason::EndTurn), "{:?}", answered.error);
        let unary = client.converse(user_request(model, "hello")).await.unwrap().into_inner();
        started_version(&answered.events) + "/" + &unary.model_version
    };
    for _ in 0..3 {
        assert_eq!(call("chat").await, "chat/chat");
    }
    assert_eq!(gateway.emulator.connections_accepted(), 1, "the home region's calls share one client");
    for _ in 0..3 {
        assert_eq!(call("west").await, "west/west");
    }
    assert_eq!(gateway.emulator.connections_accepted(), 2, "another region: a client of its own, shared too");
    assert_eq!(call("chat").await, "chat/chat");
    assert_eq!(gateway.emulator.connections_accepted(), 2);
    assert_eq!(gateway.emulator.requests_served(), 14);
}
