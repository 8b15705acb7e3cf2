//! The tenants change while the gateway runs: from its config file and from an S3 object (on a
//! real `moto_server`, through the real S3 SDK). A team is onboarded and a key rotated with no
//! restart; an invalid document, or one that would let unidentified callers in, changes nothing;
//! a request in flight keeps the tenant it started with. Keys with a lifetime are refused outside
//! it, in every door's shape, and announced before they expire.

use std::path::Path;
use std::time::Duration;

use bedrock_emulator::EmulatorConfig;
use bedrock_gateway::config::{ApiKey, ApiKeyTable, Config, Seconds, TenantConfig};
use bedrock_gateway_proto::v1;
use bedrock_gateway_proto::v1::gateway_service_client::GatewayServiceClient;
use bedrock_gateway_testkit::{
    GatewayProcess, LogCapture, MotoServer, TestGateway, api_key_digest, collect_request, metric, metric_value,
    user_request, with_api_key,
};
use serde_json::json;
use tonic::transport::Channel;

/// The process-wide metrics and logs are read: one test at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `[tenants.<name>]` tables, each with one key `ci` (the digest of `<name>-key`) and `extra` lines.
fn tenants_toml(names: &[&str], extra: &str) -> String {
    let mut text = String::new();
    for name in names {
        text.push_str(&format!(
            "[tenants.{name}]\napi_keys = {{ ci = \"{}\" }}\n",
            api_key_digest(&format!("{name}-key"))
        ));
    }
    text + extra
}

/// The same tenants as the S3 object holds them.
fn tenants_json(names: &[&str]) -> String {
    let tenants: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .map(|name| ((*name).to_owned(), json!({"api_keys": {"ci": api_key_digest(&format!("{name}-key"))}})))
        .collect();
    json!({ "tenants": tenants }).to_string()
}

/// Replaces `file` whole, as editors and ConfigMap updates do, so that no check reads half of it.
fn replace(file: &Path, content: &str) {
    let next = file.with_extension("next");
    std::fs::write(&next, content).unwrap();
    std::fs::rename(&next, file).unwrap();
}

/// Reads the gateway's tenants from `file`, checked again every second; its catalog stays the
/// test catalog.
fn from_file(config: &mut Config, file: &Path) {
    let loaded = Config::load(Some(file)).unwrap();
    (config.tenants, config.auth) = (loaded.tenants, loaded.auth);
    config.source_file = Some(file.to_path_buf());
    config.tenants_source.reload_secs = Seconds(1);
    config.catalog.reload_secs = Seconds(0);
}

async fn converse(client: &mut GatewayServiceClient<Channel>, key: &str) -> Result<(), tonic::Status> {
    client.converse(with_api_key(user_request("chat", "hello"), key)).await.map(drop)
}

/// Waits until a call with `key` gets `code` (`Ok` as `tonic::Code::Ok`).
async fn until_answered(client: &mut GatewayServiceClient<Channel>, key: &str, code: tonic::Code) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let answer = converse(client, key).await;
        if answer.as_ref().map_or_else(tonic::Status::code, |()| tonic::Code::Ok) == code {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{key}: still {answer:?} after 10 s, waiting for {code:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn reloads(source: &str, result: &str) -> f64 {
    metric(&format!("bedrock_gateway_tenants_reloads_total{{source=\"{source}\",result=\"{result}\"}}"))
}

/// Waits until the reload counter for `source` and `result` passed `from`.
async fn until_counted(source: &str, result: &str, from: f64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while reloads(source, result) <= from {
        assert!(tokio::time::Instant::now() < deadline, "tenants reloads {source} {result} still {from} after 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The ERROR and WARN lines about reloading the tenants written so far.
fn tenants_refusals(logs: &LogCapture) -> Vec<serde_json::Value> {
    logs.text()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| {
            line["message"].as_str().is_some_and(|message| message.contains("tenants"))
                && (line["level"] == "ERROR" || line["level"] == "WARN")
        })
        .collect()
}

#[tokio::test]
async fn a_team_is_onboarded_and_a_key_rotated_by_editing_the_file_and_bad_edits_change_nothing() {
    let _serial = SERIAL.lock().await;
    bedrock_gateway::metrics::install();
    let logs = LogCapture::install();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.toml");
    std::fs::write(&file, tenants_toml(&["payments"], "")).unwrap();
    let gateway = TestGateway::start_with(|config| from_file(config, &file)).await;
    let mut client = gateway.stub().await;
    converse(&mut client, "payments-key").await.unwrap();
    assert_eq!(converse(&mut client, "search-key").await.unwrap_err().code(), tonic::Code::Unauthenticated);

    // Onboarding: a new tenant with a new key, no restart.
    replace(&file, &tenants_toml(&["payments", "search"], ""));
    until_answered(&mut client, "search-key", tonic::Code::Ok).await;
    converse(&mut client, "payments-key").await.unwrap();

    // Rotation: the new key beside the old, both work; then the old one goes.
    let rotated = |keys: &str| format!("[tenants.payments.api_keys]\n{keys}\n{}", tenants_toml(&["search"], ""));
    let old = format!("ci = \"{}\"", api_key_digest("payments-key"));
    let new = format!("ci-2027 = \"{}\"", api_key_digest("payments-key-2027"));
    replace(&file, &rotated(&format!("{old}\n{new}")));
    until_answered(&mut client, "payments-key-2027", tonic::Code::Ok).await;
    converse(&mut client, "payments-key").await.unwrap();
    replace(&file, &rotated(&new));
    until_answered(&mut client, "payments-key", tonic::Code::Unauthenticated).await;
    converse(&mut client, "payments-key-2027").await.unwrap();
    let serving = rotated(&new);

    // An invalid document: refused whole, counted, one ERROR line naming the key.
    let before = tenants_refusals(&logs).len();
    let invalid = reloads("file", "invalid");
    replace(&file, &format!("{serving}[tenants.newcomer]\napi_keys = {{ ci = \"not-a-digest\" }}\n"));
    until_counted("file", "invalid", invalid).await;
    // Another check of the same file, which must not log the refusal again.
    until_counted("file", "unchanged", reloads("file", "unchanged")).await;
    let refusals = tenants_refusals(&logs)[before..].to_vec();
    assert_eq!(refusals.len(), 1, "one line for the refusal: {refusals:#?}");
    assert_eq!(refusals[0]["level"], "ERROR");
    let reason = refusals[0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("`tenants.newcomer.api_keys.ci`"), "the line names the bad key: {}", refusals[0]);
    converse(&mut client, "search-key").await.unwrap();
    converse(&mut client, "payments-key-2027").await.unwrap();

    // A document that identifies nobody would let every caller in as `default`: refused.
    let invalid = reloads("file", "invalid");
    replace(&file, "[tenants.payments]\nmodels = [\"chat\"]\n");
    until_counted("file", "invalid", invalid).await;
    let refusal = tenants_refusals(&logs).pop().unwrap();
    let reason = refusal["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("`auth.require_identity`") && reason.contains("[tenants.default]"), "{refusal}");
    let anonymous = client.converse(user_request("chat", "hello")).await.unwrap_err();
    assert_eq!(anonymous.code(), tonic::Code::Unauthenticated, "still closed");
    converse(&mut client, "search-key").await.unwrap();
    // Said on purpose, it is applied.
    replace(&file, "[tenants.payments]\nmodels = [\"chat\"]\n[tenants.default]\nmodels = [\"chat\"]\n");
    until_answered(&mut client, "search-key", tonic::Code::Unauthenticated).await;
    client.converse(user_request("chat", "hello")).await.unwrap();
}

#[tokio::test]
async fn sighup_reloads_the_tenants_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.toml");
    let with_tenants = |names: &[&str]| {
        format!(
            "[tenants_source]\nreload_secs = 0\n[models.chat]\nmodel_id = \"test.chat\"\n{}",
            tenants_toml(names, "")
        )
    };
    std::fs::write(&file, with_tenants(&["payments"])).unwrap();
    let gateway = GatewayProcess::start(Path::new(env!("CARGO_BIN_EXE_bedrock-gateway")), &file);
    let mut client = gateway.client().await;
    converse(&mut client, "payments-key").await.unwrap();
    std::fs::write(&file, with_tenants(&["payments", "search"])).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = converse(&mut client, "search-key").await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "no polling with reload_secs = 0");
    gateway.signal("HUP");
    until_answered(&mut client, "search-key", tonic::Code::Ok).await;
}

#[tokio::test]
async fn tenants_from_s3_are_read_at_start_and_polled() {
    let _serial = SERIAL.lock().await;
    bedrock_gateway::metrics::install();
    let moto = MotoServer::start().await;
    moto.put_object("platform-tenants", "gateway/tenants.json", &tenants_json(&["payments"])).await;
    let s3 = moto.s3_document("platform-tenants", "gateway/tenants.json");
    let gateway = TestGateway::start_with(|config| {
        config.tenants_source.s3 = Some(s3.clone());
        config.tenants_source.reload_secs = Seconds(1);
    })
    .await;
    let mut client = gateway.stub().await;
    converse(&mut client, "payments-key").await.unwrap();
    let anonymous = client.converse(user_request("chat", "hello")).await.unwrap_err();
    assert_eq!(anonymous.code(), tonic::Code::Unauthenticated, "keys: closed");

    moto.put_object("platform-tenants", "gateway/tenants.json", &tenants_json(&["payments", "search"])).await;
    until_answered(&mut client, "search-key", tonic::Code::Ok).await;

    // Not a tenants document, then one that fails validation: both refused, the last one serves.
    for bad in [r#"{"tenants": {"search": {"api_key": {}}}}"#, r#"{"tenants": {"search": {"models": ["nope"]}}}"#] {
        let invalid = reloads("s3", "invalid");
        moto.put_object("platform-tenants", "gateway/tenants.json", bad).await;
        until_counted("s3", "invalid", invalid).await;
        converse(&mut client, "search-key").await.unwrap();
    }
}

#[tokio::test]
async fn without_its_s3_tenants_the_gateway_does_not_start_and_says_where_it_looked() {
    let moto = MotoServer::start().await;
    let mut config = bedrock_gateway_testkit::test_config("http://127.0.0.1:9".to_owned());
    config.tenants_source.s3 = Some(moto.s3_document("no-such-bucket", "tenants.json"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = bedrock_gateway::serve(config, listener, std::future::pending()).await.unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with("tenants: cannot get s3://no-such-bucket/tenants.json"), "{message}");
}

#[tokio::test]
async fn a_stream_in_flight_keeps_its_tenant_while_its_quota_changes_under_it() {
    let _serial = SERIAL.lock().await;
    bedrock_gateway::metrics::install();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.toml");
    let with_places = |places: u32| {
        tenants_toml(&["payments"], &format!("[tenants.payments.quotas]\nconcurrent_requests = {places}\n"))
    };
    std::fs::write(&file, with_places(2)).unwrap();
    // Twelve tokens 300 ms apart: the stream stays open for over three seconds.
    let pacing = EmulatorConfig { inter_token_gap: Duration::from_millis(300), ..EmulatorConfig::default() };
    let gateway = TestGateway::start_with_emulator(pacing, |config| from_file(config, &file)).await;
    let mut client = gateway.stub().await;
    let mut streaming = client.clone();
    let open = tokio::spawn(async move {
        collect_request(&mut streaming, with_api_key(user_request("chat", "a long answer"), "payments-key")).await
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while gateway.emulator.requests_served() < 1 {
        assert!(tokio::time::Instant::now() < deadline, "the stream did not start within 10 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // One place now, which the open stream holds: the next request is refused, the stream ends well.
    let applied = reloads("file", "applied");
    replace(&file, &with_places(1));
    until_counted("file", "applied", applied).await;
    assert_eq!(converse(&mut client, "payments-key").await.unwrap_err().code(), tonic::Code::ResourceExhausted);
    let streamed = open.await.unwrap();
    assert!(streamed.error.is_none(), "{:?}", streamed.error);
    assert_eq!(streamed.stop_reason, Some(v1::StopReason::EndTurn), "complete, under the tenant it started with");
    converse(&mut client, "payments-key").await.unwrap();
}

/// A key of `payments` named `name`, sent as `<name>-key`, valid from `not_before` to `expires_on`.
fn key_with_lifetime(name: &str, not_before: Option<&str>, expires_on: Option<String>) -> (String, ApiKey) {
    let table = ApiKeyTable {
        sha256: api_key_digest(&format!("{name}-key")),
        not_before: not_before.map(str::to_owned),
        expires_on,
    };
    (name.to_owned(), ApiKey::Table(table))
}

#[tokio::test]
async fn keys_outside_their_lifetime_are_refused_in_every_door_and_expiring_ones_announced() {
    let _serial = SERIAL.lock().await;
    let logs = LogCapture::install();
    let in_days = |days: i64| {
        let day = time::OffsetDateTime::now_utc().date() + time::Duration::days(days);
        format!("{day}")
    };
    let soon = in_days(3);
    let gateway = TestGateway::start_with_admin(EmulatorConfig::default(), |config| {
        let tenant = TenantConfig {
            api_keys: [
                key_with_lifetime("gone", None, Some("2001-01-31".to_owned())),
                key_with_lifetime("early", Some("2999-01-01T08:00:00Z"), None),
                key_with_lifetime("soon", None, Some(soon.clone())),
            ]
            .into(),
            ..TenantConfig::default()
        };
        config.tenants.insert("lifecycle".into(), tenant);
    })
    .await;
    let mut client = gateway.stub().await;
    converse(&mut client, "soon-key").await.unwrap();
    let expired = converse(&mut client, "gone-key").await.unwrap_err();
    assert_eq!(expired.code(), tonic::Code::Unauthenticated);
    assert!(expired.message().contains("\"gone\" expired on 2001-01-31T00:00:00Z"), "{expired:?}");
    let early = converse(&mut client, "early-key").await.unwrap_err();
    assert_eq!(early.code(), tonic::Code::Unauthenticated);
    assert!(early.message().contains("\"early\" is not valid yet: it is valid from 2999-01-01T08:00:00Z"), "{early:?}");

    // The HTTP doors: OpenAI's 401, Bedrock's AccessDeniedException, each with the reason.
    let mut http = gateway.http1().await;
    let chat = json!({"model": "chat", "messages": [{"role": "user", "content": "hello"}]});
    let openai = http.post_json("/v1/chat/completions", Some("gone-key"), &chat).await;
    assert_eq!(openai.status, 401, "{}", openai.text());
    assert!(openai.json()["error"]["message"].as_str().unwrap().contains("expired on 2001-01-31"), "{}", openai.text());
    let converse_body = json!({"messages": [{"role": "user", "content": [{"text": "hello"}]}]});
    let bedrock = http.post_json("/model/chat/converse", Some("early-key"), &converse_body).await;
    assert_eq!(bedrock.status, 403, "{}", bedrock.text());
    assert_eq!(
        bedrock.header("x-amzn-errortype").map(|kind| kind.split(':').next().unwrap()),
        Some("AccessDeniedException")
    );
    assert!(bedrock.json()["message"].as_str().unwrap().contains("valid from 2999-01-01"), "{}", bedrock.text());

    // Announced: one WARN line for the key expiring within a week, and its expiry in /metrics.
    let warnings = || -> Vec<serde_json::Value> {
        logs.text()
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|line| line["level"] == "WARN" && line["tenant"] == "lifecycle")
            .collect()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while warnings().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let warnings = warnings();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!(warnings[0]["key"], "soon");
    assert!(!logs.text().contains("soon-key"), "the key itself is never logged");
    let (_, scraped) = gateway.admin_get("/metrics").await;
    let expiry = |key: &str| {
        metric_value(
            &scraped,
            "bedrock_gateway_api_key_expiry_timestamp_seconds",
            &[("tenant", "lifecycle"), ("key", key)],
        )
    };
    let midnight = time::OffsetDateTime::now_utc().date() + time::Duration::days(3);
    assert_eq!(expiry("soon"), Some(midnight.midnight().assume_utc().unix_timestamp() as f64));
    assert_eq!(expiry("gone"), Some(980_899_200.0));
    assert_eq!(expiry("early"), None, "no expires_on, no series");
}

#[tokio::test]
async fn a_removed_keys_expiry_leaves_metrics_on_reload() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.toml");
    let key =
        |name: &str| format!("{name} = {{ sha256 = \"{}\", expires_on = \"2999-01-31\" }}\n", api_key_digest(name));
    std::fs::write(&file, format!("[tenants.expiring.api_keys]\n{}{}", key("old"), key("new"))).unwrap();
    let gateway = TestGateway::start_with_admin(EmulatorConfig::default(), |config| from_file(config, &file)).await;
    let series = |scraped: &str, name: &str| {
        metric_value(
            scraped,
            "bedrock_gateway_api_key_expiry_timestamp_seconds",
            &[("tenant", "expiring"), ("key", name)],
        )
    };
    let (_, scraped) = gateway.admin_get("/metrics").await;
    assert!(series(&scraped, "old").is_some() && series(&scraped, "new").is_some(), "{scraped}");
    replace(&file, &format!("[tenants.expiring.api_keys]\n{}", key("new")));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, scraped) = gateway.admin_get("/metrics").await;
        if series(&scraped, "old").is_none() {
            assert!(series(&scraped, "new").is_some());
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the removed key's series is still there after 10 s: {scraped}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
