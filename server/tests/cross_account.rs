//! Bedrock across accounts: a target with a `role_arn` is called with the credentials of that role,
//! assumed through a real `moto_server`'s STS by the SDK's provider, and the emulator shows which
//! access key signed each call. A target without one is signed with the gateway's own keys (the
//! emulator's placeholder `emulator`). A role that cannot be assumed fails its calls as
//! UNAVAILABLE without naming the role, and the model's fallback in the home account serves.

use std::collections::BTreeMap;

use bedrock_gateway::config::{Config, ModelConfig, TargetConfig};
use bedrock_gateway_testkit::{AssumedRole, LogCapture, MotoServer, TestGateway, collect, user_request};

/// The access key id of the gateway's own credentials in tests (`bedrock.credentials = "emulator"`).
const GATEWAY_KEY: &str = "emulator";
const PARTNER_ROLE: &str = "arn:aws:iam::111122223333:role/bedrock/partner-invoker";
const OTHER_ROLE: &str = "arn:aws:iam::444455556666:role/other-invoker";

/// A target of the emulator's plain chat model, shown as `version`, signed as `role_arn`.
fn target(version: &str, role_arn: Option<&str>, weight: Option<u32>) -> TargetConfig {
    TargetConfig {
        model_id: "test.chat-v1".to_owned(),
        region: None,
        role_arn: role_arn.map(str::to_owned),
        version: version.to_owned(),
        weight,
        additional_request_fields: None,
    }
}

/// Adds `partner`, the chat model called as [`PARTNER_ROLE`], and `spread`, weighted evenly over
/// the two roles' accounts.
fn cross_account_models(config: &mut Config, sts_endpoint_url: String) {
    config.bedrock.sts_endpoint_url = Some(sts_endpoint_url);
    let partner = ModelConfig { role_arn: Some(PARTNER_ROLE.to_owned()), ..ModelConfig::new("test.chat-v1") };
    config.models.insert("partner".to_owned(), partner);
    let targets =
        vec![target("account-a", Some(PARTNER_ROLE), Some(1)), target("account-b", Some(OTHER_ROLE), Some(1))];
    config.models.insert("spread".to_owned(), ModelConfig { targets, ..ModelConfig::default() });
}

/// Calls `model` `times` times, one after another, each to its end.
async fn call(gateway: &TestGateway, model: &str, times: usize) {
    let mut client = gateway.stub().await;
    for _ in 0..times {
        let answer = collect(&mut client, user_request(model, "hello")).await;
        assert!(answer.error.is_none(), "{model}: {:?}", answer.error);
    }
}

/// The access keys that signed requests the emulator received since `before`.
fn signed_since(gateway: &TestGateway, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut now = gateway.emulator.requests_by_access_key();
    now.retain(|key, count| {
        *count -= before.get(key).copied().unwrap_or(0);
        *count > 0
    });
    now
}

/// The one session moto granted for `role_arn`.
fn session_of<'a>(assumed: &'a [AssumedRole], role_arn: &str) -> &'a AssumedRole {
    let sessions: Vec<_> = assumed.iter().filter(|session| session.role_arn == role_arn).collect();
    assert_eq!(sessions.len(), 1, "one AssumeRole for {role_arn}, not one per request: {assumed:?}");
    sessions[0]
}

#[tokio::test]
async fn a_target_with_a_role_is_signed_with_the_roles_credentials_assumed_once() {
    let moto = MotoServer::start().await;
    let gateway = TestGateway::start_with(|config| {
        cross_account_models(config, moto.url());
        // Two shards, each with its own Bedrock clients; connections go to them in turn.
        config.server.worker_threads = 2;
    })
    .await;

    call(&gateway, "chat", 2).await;
    assert_eq!(gateway.emulator.requests_by_access_key(), BTreeMap::from([(GATEWAY_KEY.to_owned(), 2)]));
    assert!(moto.assumed_roles().await.is_empty(), "a model without role_arn assumes no role");

    // The first calls arrive together on six connections (so on both shards), before any
    // credentials are cached; then more, one by one.
    let before = gateway.emulator.requests_by_access_key();
    let together = (0..6).map(|_| call(&gateway, "partner", 1));
    futures::future::join_all(together).await;
    call(&gateway, "partner", 10).await;

    let assumed = moto.assumed_roles().await;
    let session = session_of(&assumed, PARTNER_ROLE);
    assert_eq!(session.session_name, "bedrock-gateway", "CloudTrail shows the gateway as the session");
    assert_eq!(
        signed_since(&gateway, &before),
        BTreeMap::from([(session.access_key_id.clone(), 16)]),
        "every call signed with the key STS issued for the role, none with the gateway's own"
    );
    assert_eq!(assumed.len(), 1);

    call(&gateway, "chat", 1).await;
    assert_eq!(
        gateway.emulator.requests_by_access_key()[GATEWAY_KEY],
        3,
        "the home account's model still signs as the gateway"
    );
}

#[tokio::test]
async fn weighted_targets_in_two_accounts_are_each_signed_by_their_own_role() {
    let moto = MotoServer::start().await;
    let gateway = TestGateway::start_with(|config| cross_account_models(config, moto.url())).await;

    call(&gateway, "spread", 40).await;

    let assumed = moto.assumed_roles().await;
    let (a, b) = (session_of(&assumed, PARTNER_ROLE), session_of(&assumed, OTHER_ROLE));
    let signed = gateway.emulator.requests_by_access_key();
    assert_eq!(signed.len(), 2, "only the two roles' keys signed: {signed:?}");
    let (by_a, by_b) = (signed[&a.access_key_id], signed[&b.access_key_id]);
    assert_eq!(by_a + by_b, 40);
    // Even weights over 40 calls: each account gets its share (fewer than 5 is a 1-in-100,000 chance).
    assert!(by_a >= 5 && by_b >= 5, "{by_a} calls signed as {PARTNER_ROLE}, {by_b} as {OTHER_ROLE}");
}

#[tokio::test]
async fn a_role_that_cannot_be_assumed_is_unavailable_unnamed_and_falls_back_to_the_home_account() {
    let logs = LogCapture::install();
    // STS unreachable: a loopback port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let gateway = TestGateway::start_with(|config| {
        cross_account_models(config, format!("http://{closed}"));
        let fallbacks = vec![target("home", None, None)];
        let targets = vec![target("partner", Some(PARTNER_ROLE), None)];
        config.models.insert("covered".to_owned(), ModelConfig { targets, fallbacks, ..ModelConfig::default() });
    })
    .await;
    let mut client = gateway.stub().await;

    let refused = collect(&mut client, user_request("partner", "hello")).await.error.expect("no credentials, no call");
    assert_eq!(refused.code(), tonic::Code::Unavailable);
    assert_eq!(
        refused.message(),
        "the gateway could not obtain the credentials to call the model \"partner\"; retry with backoff"
    );
    assert!(gateway.emulator.requests_by_access_key().is_empty(), "nothing was sent to Bedrock unsigned");
    let warned = logs.text();
    let warning = warned
        .lines()
        .find(|line| line.contains("cannot assume the role of a Bedrock target"))
        .unwrap_or_else(|| panic!("no warning in:\n{warned}"));
    assert!(warning.contains(PARTNER_ROLE) && warning.contains("\"level\":\"WARN\""), "{warning}");

    let served = collect(&mut client, user_request("covered", "hello")).await;
    assert!(served.error.is_none(), "{:?}", served.error);
    match served.events.first() {
        Some(bedrock_gateway_proto::v1::converse_stream_event::Event::Start(start)) => {
            assert_eq!(start.model_version, "home", "the fallback in the home account answered");
        }
        other => panic!("a stream starts with its start event, not {other:?}"),
    }
    assert_eq!(gateway.emulator.requests_by_access_key(), BTreeMap::from([(GATEWAY_KEY.to_owned(), 1)]));
}
