//! The catalog changes while the gateway runs: from its config file and from an S3 object (on a
//! real `moto_server`, through the real S3 SDK). Streams in flight end on the model they started
//! with; new requests use the new catalog; an invalid catalog changes nothing.

use std::path::Path;
use std::time::Duration;

use bedrock_emulator::EmulatorConfig;
use bedrock_gateway::config::{Config, Seconds};
use bedrock_gateway_proto::v1;
use bedrock_gateway_proto::v1::gateway_service_client::GatewayServiceClient;
use bedrock_gateway_testkit::{GatewayProcess, LogCapture, MotoServer, TestGateway, collect, metric, user_request};
use tonic::transport::Channel;

/// The process-wide metrics are read: one test at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A catalog of one alias, `chat`, on `model_id` published as `version`, as a config file holds it.
fn catalog_toml(model_id: &str, version: &str) -> String {
    format!("[models.chat]\nmodel_id = \"{model_id}\"\nversion = \"{version}\"\n")
}

/// The same catalog as the S3 object holds it.
fn catalog_json(model_id: &str, version: &str) -> String {
    format!(r#"{{"models": {{"chat": {{"model_id": "{model_id}", "version": "{version}"}}}}}}"#)
}

/// The versions ListModels shows, by alias.
async fn versions(client: &mut GatewayServiceClient<Channel>) -> Vec<(String, String)> {
    let listed = client.list_models(v1::ListModelsRequest::default()).await.unwrap().into_inner();
    listed.models.into_iter().map(|model| (model.name, model.version)).collect()
}

/// The catalog revision ListModels reports.
async fn revision(client: &mut GatewayServiceClient<Channel>) -> String {
    client.list_models(v1::ListModelsRequest::default()).await.unwrap().into_inner().catalog_revision
}

/// Waits until ListModels shows `chat` at `version`.
async fn until_version(client: &mut GatewayServiceClient<Channel>, version: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = versions(client).await;
        if now == [("chat".to_owned(), version.to_owned())] {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {now:?} after 10 s, waiting for {version}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the reload counter for `source` and `result` passed `from`.
async fn until_counted(source: &str, result: &str, from: f64) {
    let series = format!("bedrock_gateway_catalog_reloads_total{{source=\"{source}\",result=\"{result}\"}}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while metric(&series) <= from {
        assert!(tokio::time::Instant::now() < deadline, "{series} still {from} after 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn reload_counted(source: &str, result: &str) -> f64 {
    metric(&format!("bedrock_gateway_catalog_reloads_total{{source=\"{source}\",result=\"{result}\"}}"))
}

/// The model version a stream's start event names.
fn started_version(events: &[v1::converse_stream_event::Event]) -> String {
    match events.first() {
        Some(v1::converse_stream_event::Event::Start(start)) => start.model_version.clone(),
        other => panic!("a stream starts with its start event, not {other:?}"),
    }
}

/// Replaces `file` whole, as editors and ConfigMap updates do, so that no check reads half of it.
fn replace(file: &Path, content: &str) {
    let next = file.with_extension("next");
    std::fs::write(&next, content).unwrap();
    std::fs::rename(&next, file).unwrap();
}

/// Reads the gateway's catalog from `file`, checked again every second.
fn from_file(config: &mut Config, file: &Path) {
    config.models = Config::load(Some(file)).unwrap().models;
    config.source_file = Some(file.to_path_buf());
    config.catalog.reload_secs = Seconds(1);
}

#[tokio::test]
async fn an_edited_file_serves_new_requests_while_open_streams_end_on_the_old_model() {
    let _serial = SERIAL.lock().await;
    bedrock_gateway::metrics::install();
    // Only this gateway's catalog comes from a file: its lines are the ones with `source = "file"`.
    let logs = LogCapture::install();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.toml");
    std::fs::write(&file, catalog_toml("test.chat-v1", "v1")).unwrap();
    // Twelve tokens 100 ms apart: each stream stays open for over a second.
    let pacing = EmulatorConfig { inter_token_gap: Duration::from_millis(100), ..EmulatorConfig::default() };
    let gateway = TestGateway::start_with_emulator(pacing, |config| from_file(config, &file)).await;
    let mut client = gateway.stub().await;
    assert_eq!(versions(&mut client).await, [("chat".to_owned(), "v1".to_owned())]);
    let first_revision = revision(&mut client).await;

    let mut open = Vec::new();
    for n in 0..50 {
        let mut client = client.clone();
        open.push(tokio::spawn(
            async move { collect(&mut client, user_request("chat", &format!("stream {n}"))).await },
        ));
    }
    // Every stream has started (the emulator has its request) before the catalog changes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while gateway.emulator.requests_served() < 50 {
        assert!(tokio::time::Instant::now() < deadline, "50 streams did not start within 10 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    replace(&file, &catalog_toml("test.chat-v2", "v2"));
    until_version(&mut client, "v2").await;
    let second_revision = revision(&mut client).await;
    assert_ne!(second_revision, first_revision, "ListModels names the new catalog");
    let fresh = collect(&mut client, user_request("chat", "after the change")).await;
    assert_eq!(
        (fresh.error.as_ref().map(tonic::Status::code), started_version(&fresh.events)),
        (None, "v2".to_owned())
    );

    for stream in open {
        let collected = stream.await.unwrap();
        assert!(collected.error.is_none(), "{:?}", collected.error);
        assert_eq!(started_version(&collected.events), "v1");
        assert_eq!(collected.stop_reason, Some(v1::StopReason::EndTurn), "complete, on the model it started with");
    }

    // An invalid catalog is refused, counted, logged once naming the key, and changes nothing.
    let invalid = reload_counted("file", "invalid");
    replace(&file, "[models.chat]\nmodel_id = \"test.chat-v3\"\nversion = \"v3\"\nmax_tokens_cap = 0\n");
    until_counted("file", "invalid", invalid).await;
    // Another check of the same file, which must not log the refusal again.
    until_counted("file", "unchanged", reload_counted("file", "unchanged")).await;
    let refusals: Vec<serde_json::Value> = logs
        .text()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["source"] == "file" && (line["level"] == "ERROR" || line["level"] == "WARN"))
        .collect();
    assert_eq!(refusals.len(), 1, "one line for the refusal: {refusals:#?}");
    assert_eq!(refusals[0]["level"], "ERROR");
    let reason = refusals[0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("`models.chat.max_tokens_cap`"), "the line names the bad key: {}", refusals[0]);
    assert_eq!(versions(&mut client).await, [("chat".to_owned(), "v2".to_owned())]);
    assert_eq!(revision(&mut client).await, second_revision);
    let after = collect(&mut client, user_request("chat", "after the refusal")).await;
    assert_eq!(started_version(&after.events), "v2");
}

#[tokio::test]
async fn sighup_reloads_the_file_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.toml");
    let with_reload_off = |version: &str| format!("[catalog]\nreload_secs = 0\n{}", catalog_toml("test.chat", version));
    std::fs::write(&file, with_reload_off("v1")).unwrap();
    let gateway = GatewayProcess::start(Path::new(env!("CARGO_BIN_EXE_bedrock-gateway")), &file);
    let mut client = gateway.client().await;
    assert_eq!(versions(&mut client).await, [("chat".to_owned(), "v1".to_owned())]);
    std::fs::write(&file, with_reload_off("v2")).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(versions(&mut client).await, [("chat".to_owned(), "v1".to_owned())], "no polling with reload_secs = 0");
    gateway.signal("HUP");
    until_version(&mut client, "v2").await;
}

#[tokio::test]
async fn an_s3_catalog_is_read_at_start_polled_and_kept_through_bad_edits_and_outages() {
    let _serial = SERIAL.lock().await;
    bedrock_gateway::metrics::install();
    let mut moto = MotoServer::start().await;
    moto.put_object("platform-catalog", "gateway/catalog.json", &catalog_json("test.chat-v1", "v1")).await;
    let s3 = moto.s3_document("platform-catalog", "gateway/catalog.json");
    let gateway = TestGateway::start_with(|config| {
        config.models.clear();
        config.catalog.s3 = Some(s3.clone());
        config.catalog.reload_secs = Seconds(1);
    })
    .await;
    let mut client = gateway.stub().await;
    assert_eq!(versions(&mut client).await, [("chat".to_owned(), "v1".to_owned())]);

    // An unchanged object costs a conditional GET answered 304, and is not read again.
    let unchanged = reload_counted("s3", "unchanged");
    let not_modified = reload_counted("s3", "not_modified");
    until_counted("s3", "not_modified", not_modified + 1.0).await;
    assert_eq!(reload_counted("s3", "unchanged"), unchanged, "two checks, neither read the object again");

    moto.put_object("platform-catalog", "gateway/catalog.json", &catalog_json("test.chat-v2", "v2")).await;
    until_version(&mut client, "v2").await;
    let answered = collect(&mut client, user_request("chat", "hello")).await;
    assert_eq!(started_version(&answered.events), "v2");

    // Not JSON, then a catalog that fails validation: both refused, v2 keeps serving.
    for bad in ["models: chat", r#"{"models": {"chat": {"model_id": "test.chat-v3", "max_tokens_cap": 0}}}"#] {
        let invalid = reload_counted("s3", "invalid");
        moto.put_object("platform-catalog", "gateway/catalog.json", bad).await;
        until_counted("s3", "invalid", invalid).await;
        assert_eq!(versions(&mut client).await, [("chat".to_owned(), "v2".to_owned())]);
    }

    // S3 gone: counted, and the gateway serves on.
    let unreachable = reload_counted("s3", "unreachable");
    moto.stop();
    until_counted("s3", "unreachable", unreachable).await;
    let answered = collect(&mut client, user_request("chat", "still here")).await;
    assert_eq!(answered.stop_reason, Some(v1::StopReason::EndTurn));
}

#[tokio::test]
async fn without_its_s3_catalog_the_gateway_does_not_start_and_says_where_it_looked() {
    let moto = MotoServer::start().await;
    let mut config = bedrock_gateway_testkit::test_config("http://127.0.0.1:9".to_owned());
    config.models.clear();
    config.catalog.s3 = Some(moto.s3_document("no-such-bucket", "catalog.json"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = bedrock_gateway::serve(config, listener, std::future::pending()).await.unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with("catalog: cannot get s3://no-such-bucket/catalog.json"), "{message}");
}
