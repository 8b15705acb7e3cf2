//! The admin listener over real sockets: liveness, readiness through a shutdown drain, and every
//! series of `metrics.rs` in the Prometheus text format.
//!
//! The recorder is process-wide and the tests of this file run at once, so assertions on values
//! use labels no other test records (a model or caller name of their own), or lower bounds.

use std::time::Duration;

use bedrock_emulator::EmulatorConfig;
use bedrock_gateway::metrics::{self, Finished, Metrics, Rejection};
use bedrock_gateway_testkit::{TestGateway, metric_value, user_request};
use http::StatusCode;

#[test]
fn metric_value_reads_series_by_labels() {
    let text = "# HELP x_total Things.\n# TYPE x_total counter\n\
        x_total{model=\"chat\",caller=\"a,b\",code=\"OK\"} 3\n\
        x_total{model=\"chat\",caller=\"q\\\"uote\",code=\"Unavailable\"} 2\n\
        x_total{model=\"other\",caller=\"-\",code=\"OK\"} 5\n\
        y 1.5\n";
    assert_eq!(metric_value(text, "x_total", &[("model", "chat")]), Some(5.0));
    assert_eq!(metric_value(text, "x_total", &[("caller", "a,b"), ("code", "OK")]), Some(3.0));
    assert_eq!(metric_value(text, "x_total", &[("caller", "q\"uote")]), Some(2.0));
    assert_eq!(metric_value(text, "x_total", &[]), Some(10.0));
    assert_eq!(metric_value(text, "y", &[]), Some(1.5));
    assert_eq!(metric_value(text, "x_total", &[("model", "none")]), None);
    assert_eq!(metric_value(text, "x", &[]), None);
}

/// Polls `/readyz` until it answers `want`, for at most 5 s.
async fn readyz_becomes(gateway: &TestGateway, want: StatusCode) {
    for _ in 0..250 {
        if gateway.admin_get("/readyz").await.0 == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("/readyz did not answer {want} within 5 s");
}

#[tokio::test]
async fn readiness_turns_unavailable_when_the_drain_begins_and_liveness_stays() {
    let mut gateway = TestGateway::start_with_admin(EmulatorConfig::default(), |_| {}).await;
    assert_eq!(gateway.admin_get("/healthz").await.0, StatusCode::OK);
    readyz_becomes(&gateway, StatusCode::OK).await;

    let mut client = gateway.stub().await;
    let mut stream =
        client.converse_stream(user_request("fault-stall", "hold the drain open")).await.unwrap().into_inner();
    stream.message().await.unwrap().expect("the stream has started");
    gateway.begin_shutdown();
    readyz_becomes(&gateway, StatusCode::SERVICE_UNAVAILABLE).await;
    let (status, body) = gateway.admin_get("/healthz").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok\n"), "alive while draining");
    assert_eq!(gateway.admin_get("/metrics").await.0, StatusCode::OK, "scraped while draining");
    assert_eq!(gateway.admin_get("/nothing-here").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_describe_every_series_in_the_prometheus_text_format() {
    let gateway = TestGateway::start_with_admin(EmulatorConfig::default(), |_| {}).await;
    // Recorded here through the same value and functions the request path records through, with a
    // model of this test's own, so that every labelled series exists: the Prometheus recorder is
    // the process's, so the gateway's `/metrics` shows them.
    let recorded = Metrics::new();
    let in_flight = recorded.in_flight();
    let model = "metrics-description-test";
    recorded.request_finished(&Finished {
        rpc: "ConverseStream",
        protocol: "grpc",
        model,
        version: "v1",
        caller: "team-a",
        tenant: Some("team-a"),
        refused: false,
        code: "OK",
        time_to_first_token: Some(Duration::from_millis(180)),
        duration: Duration::from_secs(3),
        tokens: Some((11, 42)),
        cache_tokens: Some((300, 0)),
    });
    recorded.rejected(Rejection::Size);
    recorded.bedrock_error("MetricsTestException");
    metrics::deprecated_call(model, "team-a", "team-a");
    let connection = recorded.connection_opened();

    let (status, text) = gateway.admin_get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    for (name, kind) in [
        (metrics::REQUESTS_TOTAL, "counter"),
        (metrics::REJECTIONS_TOTAL, "counter"),
        (metrics::STREAMS_IN_FLIGHT, "gauge"),
        (metrics::CONNECTIONS_OPEN, "gauge"),
        (metrics::TIME_TO_FIRST_TOKEN_SECONDS, "histogram"),
        (metrics::REQUEST_DURATION_SECONDS, "histogram"),
        (metrics::TOKENS_TOTAL, "counter"),
        (metrics::BEDROCK_ERRORS_TOTAL, "counter"),
        (metrics::DEPRECATED_CALLS_TOTAL, "counter"),
    ] {
        let help = text.lines().find(|line| line.starts_with(&format!("# HELP {name} ")));
        assert!(help.is_some_and(|help| help.len() > name.len() + 12), "a description of {name} in:\n{text}");
        assert!(text.lines().any(|line| line == format!("# TYPE {name} {kind}")), "{name} is a {kind}");
    }

    let requests = [("model", model), ("tenant", "team-a"), ("caller", "team-a"), ("code", "OK")];
    assert_eq!(metric_value(&text, metrics::REQUESTS_TOTAL, &requests), Some(1.0));
    let output = [("model", model), ("direction", "output")];
    assert_eq!(metric_value(&text, metrics::TOKENS_TOTAL, &output), Some(42.0));
    let cache_read = [("model", model), ("direction", "cache_read")];
    assert_eq!(metric_value(&text, metrics::TOKENS_TOTAL, &cache_read), Some(300.0));
    let cache_write = [("model", model), ("direction", "cache_write")];
    assert_eq!(metric_value(&text, metrics::TOKENS_TOTAL, &cache_write), None, "no series until a cache write");
    let ttft_bucket = format!("{}_bucket", metrics::TIME_TO_FIRST_TOKEN_SECONDS);
    assert_eq!(metric_value(&text, &ttft_bucket, &[("model", model), ("le", "0.1")]), Some(0.0));
    assert_eq!(metric_value(&text, &ttft_bucket, &[("model", model), ("le", "0.25")]), Some(1.0));
    let duration_bucket = format!("{}_bucket", metrics::REQUEST_DURATION_SECONDS);
    assert_eq!(metric_value(&text, &duration_bucket, &[("model", model), ("le", "900")]), Some(1.0));
    assert!(metric_value(&text, metrics::REJECTIONS_TOTAL, &[("reason", "size")]).unwrap() >= 1.0);
    for reason in Rejection::ALL {
        assert!(metric_value(&text, metrics::REJECTIONS_TOTAL, &[("reason", reason.as_str())]).is_some(), "{reason:?}");
    }
    let errors = [("exception", "MetricsTestException")];
    assert_eq!(metric_value(&text, metrics::BEDROCK_ERRORS_TOTAL, &errors), Some(1.0));
    let deprecated = [("model", model), ("tenant", "team-a"), ("caller", "team-a")];
    assert_eq!(metric_value(&text, metrics::DEPRECATED_CALLS_TOTAL, &deprecated), Some(1.0));
    assert!(metric_value(&text, metrics::STREAMS_IN_FLIGHT, &[]).unwrap() >= 1.0);
    assert!(metric_value(&text, metrics::CONNECTIONS_OPEN, &[]).unwrap() >= 1.0);
    drop((in_flight, connection));
}

#[tokio::test]
async fn metrics_count_a_scripted_set_of_calls() {
    // A caller name of this test's own, so the counts are exact though the recorder is shared.
    let caller = "metrics-script-team";
    let gateway = TestGateway::start_with_admin(EmulatorConfig::default(), |config| {
        let digest = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(b"metrics-script-key"));
        config.auth.api_keys.insert(caller.into(), digest.into());
    })
    .await;
    let mut client = gateway.stub().await;
    let keyed = |model: &str| {
        let mut request = tonic::Request::new(user_request(model, "count me"));
        request.metadata_mut().insert("authorization", "Bearer metrics-script-key".parse().unwrap());
        request
    };
    let rejections_before = |text: &str| metric_value(text, metrics::REJECTIONS_TOTAL, &[("reason", "auth")]);
    let before = rejections_before(&gateway.admin_get("/metrics").await.1).unwrap_or_default();

    for _ in 0..2 {
        let mut stream = client.converse_stream(keyed("chat")).await.unwrap().into_inner();
        while stream.message().await.unwrap().is_some() {}
    }
    client.converse(keyed("chat")).await.unwrap();
    let throttled = client.converse_stream(keyed("fault-throttle")).await.unwrap_err();
    assert_eq!(throttled.code(), tonic::Code::ResourceExhausted);
    let unknown = client.converse_stream(keyed("no-such-model")).await.unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    let unauthenticated = client.converse_stream(user_request("chat", "no key")).await.unwrap_err();
    assert_eq!(unauthenticated.code(), tonic::Code::Unauthenticated);

    // The last line of a request is written when its stream is dropped; give the drops a moment.
    let mut text = String::new();
    for _ in 0..50 {
        text = gateway.admin_get("/metrics").await.1;
        let served = [("model", "chat"), ("tenant", caller), ("caller", caller), ("code", "OK")];
        if metric_value(&text, metrics::REQUESTS_TOTAL, &served) == Some(3.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let requests = |model: &str, code: &str| {
        metric_value(&text, metrics::REQUESTS_TOTAL, &[("model", model), ("caller", caller), ("code", code)])
    };
    assert_eq!(requests("chat", "OK"), Some(3.0), "{text}");
    assert_eq!(requests("fault-throttle", "ResourceExhausted"), Some(1.0));
    assert_eq!(requests("unknown", "NotFound"), Some(1.0), "names outside the catalog are one label");
    let tokens = |direction: &str| {
        metric_value(&text, metrics::TOKENS_TOTAL, &[("model", "chat"), ("caller", caller), ("direction", direction)])
    };
    let answer_tokens = bedrock_gateway_testkit::ANSWER_TOKENS as f64;
    assert_eq!(tokens("output"), Some(3.0 * answer_tokens));
    assert!(tokens("input").unwrap() > 0.0);
    // Time to first token is a stream's: the Converse call has none.
    let ttft_count = format!("{}_count", metrics::TIME_TO_FIRST_TOKEN_SECONDS);
    assert!(metric_value(&text, &ttft_count, &[("model", "chat")]).unwrap() >= 2.0);
    assert!(rejections_before(&text).unwrap() >= before + 1.0, "the unauthenticated call is a rejection");
    let throttles = [("exception", "ThrottlingException")];
    assert!(metric_value(&text, metrics::BEDROCK_ERRORS_TOTAL, &throttles).unwrap() >= 1.0);
}

#[tokio::test]
async fn calls_to_deprecated_models_are_counted_per_tenant_and_caller() {
    // Key names of this test's own, so the counts are exact though the recorder is shared.
    let (late, prompt) = ("deprecated-late-team", "deprecated-prompt-team");
    let gateway = TestGateway::start_with_admin(EmulatorConfig::default(), |config| {
        for caller in [late, prompt] {
            let digest = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(caller.as_bytes()));
            config.auth.api_keys.insert(caller.into(), digest.into());
        }
    })
    .await;
    let mut client = gateway.stub().await;
    let keyed = |caller: &str, model: &str| {
        let mut request = tonic::Request::new(user_request(model, "still on the old model"));
        request.metadata_mut().insert("authorization", format!("Bearer {caller}").parse().unwrap());
        request
    };
    for _ in 0..2 {
        let mut stream = client.converse_stream(keyed(late, "legacy")).await.unwrap().into_inner();
        while stream.message().await.unwrap().is_some() {}
    }
    client.converse(keyed(late, "legacy")).await.unwrap();
    client.converse(keyed(prompt, "chat")).await.unwrap();
    let refused = client.converse(keyed(prompt, "retired")).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);

    let deprecated = |text: &str, caller: &str| {
        metric_value(text, metrics::DEPRECATED_CALLS_TOTAL, &[("tenant", caller), ("caller", caller)])
    };
    let mut text = String::new();
    for _ in 0..50 {
        text = gateway.admin_get("/metrics").await.1;
        if deprecated(&text, late) == Some(3.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let labels = [("model", "legacy"), ("tenant", late), ("caller", late)];
    assert_eq!(metric_value(&text, metrics::DEPRECATED_CALLS_TOTAL, &labels), Some(3.0), "{text}");
    assert_eq!(deprecated(&text, prompt), None, "calls to active and retired models are not deprecated calls");
}
