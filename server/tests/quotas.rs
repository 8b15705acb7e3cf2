//! Tenant quotas through the whole gateway: each quota trips at its configured value, says which
//! and when it returns, recovers; a cancelled stream releases its reservation and still leaves its
//! usage record; and two gateway processes sharing one real Redis enforce one quota together,
//! falling back to per-task limits while Redis is down and returning to it when it is back.

use std::path::Path;
use std::time::Duration;

use bedrock_emulator::{EmulatorConfig, expected_answer};
use bedrock_gateway::config::{QuotaLimits, TenantConfig};
use bedrock_gateway::parts::estimated_input_tokens;
use bedrock_gateway_proto::metadata::RETRY_PUSHBACK_MS;
use bedrock_gateway_proto::v1;
use bedrock_gateway_proto::v1::content_block_delta::Delta;
use bedrock_gateway_proto::v1::converse_stream_event::Event;
use bedrock_gateway_proto::v1::gateway_service_client::GatewayServiceClient;
use bedrock_gateway_testkit::{
    ANSWER_TOKENS, GatewayProcess, LogCapture, RedisServer, TestGateway, api_key_digest, collect_request, metric,
    user_request, with_api_key,
};
use tonic::Code;
use tonic::transport::Channel;

const KEY: &str = "quota-team-key";

fn team(quotas: QuotaLimits, model_quotas: &[(&str, QuotaLimits)]) -> TenantConfig {
    TenantConfig {
        api_keys: [("ci".to_owned(), api_key_digest(KEY).into())].into(),
        quotas,
        model_quotas: model_quotas.iter().map(|(model, limits)| ((*model).to_owned(), *limits)).collect(),
        ..TenantConfig::default()
    }
}

async fn gateway_for(tenant: TenantConfig, pacing: EmulatorConfig) -> TestGateway {
    gateway_for_tenant("team", tenant, pacing).await
}

async fn gateway_for_tenant(name: &str, tenant: TenantConfig, pacing: EmulatorConfig) -> TestGateway {
    TestGateway::start_with_emulator(pacing, |config| {
        config.tenants.insert(name.into(), tenant);
    })
    .await
}

fn request(max_tokens: u32) -> tonic::Request<v1::ConverseRequest> {
    let mut message = user_request("chat", "hi");
    message.inference_config = Some(v1::InferenceConfig { max_tokens: Some(max_tokens), ..Default::default() });
    with_api_key(message, KEY)
}

async fn converse(client: &mut GatewayServiceClient<Channel>, max_tokens: u32) -> Result<(), tonic::Status> {
    client.converse(request(max_tokens)).await.map(drop)
}

fn pushback_ms(status: &tonic::Status) -> i64 {
    status.metadata().get(RETRY_PUSHBACK_MS).and_then(|value| value.to_str().ok()?.parse().ok()).unwrap_or_default()
}

#[tokio::test]
async fn requests_per_minute_trips_at_its_value_names_itself_and_refills() {
    let limits = QuotaLimits { requests_per_minute: Some(60), ..QuotaLimits::default() };
    let gateway = gateway_for(team(limits, &[]), EmulatorConfig::default()).await;
    let mut client = gateway.stub().await;
    // The bucket holds 60 and refills one a second, so a slow machine may fit a few more in.
    let started = std::time::Instant::now();
    let mut served = 0;
    let refused = loop {
        match converse(&mut client, 50).await {
            Ok(()) => served += 1,
            Err(status) => break status,
        }
        assert!(served <= 200, "the quota never tripped");
    };
    let refilled = started.elapsed().as_secs() + 1;
    assert!((60..=60 + refilled).contains(&served), "{served} served in {:?}", started.elapsed());
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(refused.message().contains("tenants.team.quotas.requests_per_minute (60)"), "{}", refused.message());
    let wait = pushback_ms(&refused);
    assert!((1..=1000).contains(&wait), "a request returns every second: {wait}");
    tokio::time::sleep(Duration::from_millis(wait as u64 + 20)).await;
    converse(&mut client, 50).await.expect("the bucket refilled by one request");
}

#[tokio::test]
async fn tokens_per_minute_reserves_max_tokens_and_settles_with_usage() {
    let limits = QuotaLimits { tokens_per_minute: Some(3000), ..QuotaLimits::default() };
    let gateway = gateway_for(team(limits, &[]), EmulatorConfig::default()).await;
    let mut client = gateway.stub().await;
    // Each call reserves 1000 tokens but uses a few dozen, so settling refunds nearly all of it.
    for _ in 0..10 {
        converse(&mut client, 1000).await.unwrap();
    }
    let never = converse(&mut client, 1000).await;
    assert!(never.is_ok(), "settled reservations leave room: {never:?}");
    let too_big = TestGateway::start_with(|config| {
        config
            .tenants
            .insert("team".into(), team(QuotaLimits { tokens_per_minute: Some(500), ..QuotaLimits::default() }, &[]));
    })
    .await;
    let refused = converse(&mut too_big.stub().await, 1000).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert_eq!(pushback_ms(&refused), -1, "a request larger than the quota never fits");
    assert!(refused.message().contains("lower inference_config.max_tokens"), "{}", refused.message());
}

#[tokio::test]
async fn concurrency_per_model_trips_and_a_cancelled_stream_frees_its_place() {
    let per_model = QuotaLimits { concurrent_requests: Some(2), ..QuotaLimits::default() };
    let slow = EmulatorConfig { time_to_first_token: Duration::from_secs(30), ..EmulatorConfig::default() };
    let gateway = gateway_for(team(QuotaLimits::default(), &[("chat", per_model)]), slow).await;
    let mut client = gateway.stub().await;
    let first = client.converse_stream(request(50)).await.unwrap().into_inner();
    let _second = client.converse_stream(request(50)).await.unwrap().into_inner();
    let refused = client.converse_stream(request(50)).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(
        refused.message().contains("tenants.team.model_quotas.chat.concurrent_requests (2)"),
        "{}",
        refused.message()
    );
    assert!(refused.message().ends_with("; retry when one of them ends"), "no time, a place: {}", refused.message());
    let mut profile = with_api_key(user_request("profile", "hi"), KEY).into_inner();
    profile.inference_config = Some(v1::InferenceConfig { max_tokens: Some(50), ..Default::default() });
    let other_model = client.converse_stream(with_api_key(profile, KEY)).await;
    assert!(other_model.is_ok(), "another model has its own places");

    drop(first);
    let mut freed = None;
    for _ in 0..100 {
        match client.converse_stream(request(50)).await {
            Ok(stream) => {
                freed = Some(stream);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    assert!(freed.is_some(), "the cancelled stream's place was released");
}

#[tokio::test]
async fn a_cancelled_stream_releases_its_reservation_and_still_writes_its_usage_record() {
    let logs = LogCapture::install();
    // Before the first request, so that it is counted; the tenant's name is this test's own, as
    // the recorder is the whole test process's.
    bedrock_gateway::metrics::install();
    let limits = QuotaLimits { tokens_per_minute: Some(1500), concurrent_requests: Some(1), ..QuotaLimits::default() };
    let paced = EmulatorConfig { inter_token_gap: Duration::from_millis(200), ..EmulatorConfig::default() };
    let gateway = gateway_for_tenant("walkaway", team(limits, &[]), paced).await;
    let mut client = gateway.stub().await;
    let response = client.converse_stream(request(1000)).await.unwrap();
    let request_id = response.metadata().get("x-request-id").unwrap().to_str().unwrap().to_owned();
    let mut stream = response.into_inner();
    let answer = expected_answer("hi", Some(1000), ANSWER_TOKENS).tokens;
    let mut received = 0;
    while received < 2 {
        let event = stream.message().await.unwrap().expect("the stream goes on");
        if let Some(Event::ContentBlockDelta(v1::ContentBlockDelta { delta: Some(Delta::Text(text)), .. })) =
            event.event
        {
            assert_eq!(text, answer[received]);
            received += 1;
        }
    }
    drop(stream);
    let usage = logs.request_line(&request_id).await;
    assert_eq!((&usage["tenant"], &usage["api_key"]), (&"walkaway".into(), &"ci".into()), "{usage}");
    assert_eq!((&usage["status"], &usage["cancelled"]), (&"Cancelled".into(), &true.into()), "{usage}");
    assert_eq!(usage["model"], "chat");

    // Its tokens are what its quota was charged: the input estimate and the output relayed (the
    // two deltas the client took, or a third on its way when the client left), marked as estimated.
    let input = estimated_input_tokens(request(1000).get_ref());
    let output_of = |deltas: usize| answer[..deltas].iter().map(String::len).sum::<usize>().div_ceil(4) as u64;
    assert_eq!(usage["tokens_estimated"], true, "{usage}");
    assert_eq!(usage["input_tokens"].as_u64(), Some(input), "{usage}");
    let output = usage["output_tokens"].as_u64().unwrap_or_else(|| panic!("output tokens in {usage}"));
    assert!(output == output_of(2) || output == output_of(3), "{usage}");
    // Counted once in the tenant's token counters (the EMF counts take the same figures).
    let tokens = |direction: &str| {
        metric(&format!(
            "bedrock_gateway_tokens_total{{model=\"chat\",tenant=\"walkaway\",caller=\"ci\",direction=\"{direction}\"}}"
        ))
    };
    assert_eq!((tokens("input"), tokens("output")), (input as f64, output as f64));
    let mut answered = None;
    for _ in 0..100 {
        let collected = collect_request(&mut client, request(1000)).await;
        if collected.error.is_none() {
            answered = Some(collected);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(answered.is_some(), "the cancelled stream gave back its place and most of its tokens");
}

async fn call(client: &mut GatewayServiceClient<Channel>) -> Result<(), tonic::Status> {
    let mut message = user_request("chat", "hi");
    message.inference_config = Some(v1::InferenceConfig { max_tokens: Some(5), ..Default::default() });
    client.converse(with_api_key(message, KEY)).await.map(drop)
}

#[tokio::test]
async fn two_gateway_processes_share_one_quota_on_redis_and_survive_its_loss() {
    let mut redis = RedisServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[tenants.team]\napi_keys = {{ ci = \"{}\" }}\nquotas = {{ requests_per_minute = 4 }}\n\
             [quotas]\nstore = \"redis\"\nfallback_task_count = 2\n[quotas.redis]\nurl = \"{}\"\n",
            api_key_digest(KEY),
            redis.url()
        ),
    )
    .unwrap();
    let binary = Path::new(env!("CARGO_BIN_EXE_bedrock-gateway"));
    let (a, b) = (GatewayProcess::start(binary, &config), GatewayProcess::start(binary, &config));
    let (mut a, mut b) = (a.client().await, b.client().await);

    // The rates are low enough (a request back every 15 s) that a slow machine cannot refill a
    // bucket within a phase.
    for _ in 0..2 {
        call(&mut a).await.unwrap();
        call(&mut b).await.unwrap();
    }
    for client in [&mut a, &mut b] {
        let refused = call(client).await.unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted, "four per minute across both processes");
    }

    redis.stop();
    // Each process now decides alone on 4 / 2 = 2 per minute, starting full.
    for client in [&mut a, &mut b] {
        for _ in 0..2 {
            call(client).await.expect("served on the fallback limits while Redis is down");
        }
        assert_eq!(call(client).await.unwrap_err().code(), Code::ResourceExhausted, "the fallback limit holds");
    }

    redis.restart().await;
    // Redis came back empty, so the shared bucket is full again; each process returns to it at its
    // next try (at most a second after its last failure), while its own fallback bucket stays empty.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut served = 0;
    while served < 4 {
        assert!(tokio::time::Instant::now() < deadline, "back on Redis within 10 s ({served} served)");
        for client in [&mut a, &mut b] {
            if served < 4 && call(client).await.is_ok() {
                served += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for client in [&mut a, &mut b] {
        assert_eq!(call(client).await.unwrap_err().code(), Code::ResourceExhausted, "one shared quota again");
    }
}
