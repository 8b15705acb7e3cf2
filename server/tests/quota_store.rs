//! The quota engine on a real `redis-server`: several engines (as several gateway tasks) sharing
//! one store enforce one quota together; places of a crashed task free themselves; a dead store
//! means fallback limits, and its return means the shared quota again; TLS, AUTH (password or
//! ElastiCache IAM token) and cluster mode.

use std::time::Duration;

use bedrock_gateway::config::{
    CredentialsSource, Millis, QuotaLimits, QuotaStoreKind, QuotasConfig, RedisConfig, RedisIamAuthConfig,
};
use bedrock_gateway::parts::quota::{QuotaExceeded, QuotaGrant, QuotaRequest, Quotas};
use bedrock_gateway_testkit::{RedisServer, metric};

/// The process-wide metrics are read by some tests: one test at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const NONE: QuotaLimits = QuotaLimits { requests_per_minute: None, tokens_per_minute: None, concurrent_requests: None };

fn store_config(url: String) -> QuotasConfig {
    QuotasConfig {
        store: QuotaStoreKind::Redis,
        fallback_task_count: 2,
        // Generous for a loaded CI machine; a refused connection fails at once anyway.
        redis: RedisConfig { url, timeout_ms: Millis(1000), ..RedisConfig::default() },
    }
}

async fn acquire(quotas: &Quotas, limits: &QuotaLimits, tokens: u64) -> Result<QuotaGrant, QuotaExceeded> {
    quotas.acquire(request(limits, tokens)).await
}

/// A request of team-a on chat under the tenant limits `limits`.
fn request(limits: &QuotaLimits, tokens: u64) -> QuotaRequest<'_> {
    QuotaRequest { tenant: "team-a", model: "chat", tenant_limits: limits, model_limits: &NONE, tokens }
}

/// Tries `request` until it is granted, for settlements, which reach the store on their own task.
async fn eventually(quotas: &Quotas, request: QuotaRequest<'_>) -> QuotaGrant {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        match quotas.acquire(request).await {
            Ok(grant) => return grant,
            Err(refused) => assert!(tokio::time::Instant::now() < deadline, "still refused after 3 s: {refused}"),
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn two_tasks_share_one_quota() {
    let _serial = SERIAL.lock().await;
    let redis = RedisServer::start().await;
    let (a, b) = (
        Quotas::connect(&store_config(redis.url()), "us-east-1").await,
        Quotas::connect(&store_config(redis.url()), "us-east-1").await,
    );
    let limits = QuotaLimits { requests_per_minute: Some(60), ..NONE };
    for n in 0..60 {
        let task = if n % 2 == 0 { &a } else { &b };
        acquire(task, &limits, 1).await.unwrap_or_else(|refused| panic!("request {n}: {refused}"));
    }
    for task in [&a, &b] {
        let refused = acquire(task, &limits, 1).await.unwrap_err();
        assert_eq!((refused.quota, refused.limit), ("requests_per_minute", 60));
        let wait = refused.retry_after.unwrap();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}: one request a second returns");
    }
    // The keys hold one tenant's slot and expire once the bucket would be full again.
    let keys = redis.command(&["KEYS", "*"]).await;
    assert!(keys.contains("bedrock-gateway:{team-a}:requests"), "{keys}");
    let ttl = redis.command(&["PTTL", "bedrock-gateway:{team-a}:requests"]).await;
    let ttl: i64 = ttl.trim().trim_start_matches(':').parse().unwrap();
    assert!((59_000..=61_000).contains(&ttl), "{ttl} ms");
}

#[tokio::test]
async fn tokens_are_shared_and_settled_on_the_store() {
    let _serial = SERIAL.lock().await;
    let redis = RedisServer::start().await;
    let (a, b) = (
        Quotas::connect(&store_config(redis.url()), "us-east-1").await,
        Quotas::connect(&store_config(redis.url()), "us-east-1").await,
    );
    let limits = QuotaLimits { tokens_per_minute: Some(1000), ..NONE };
    let first = acquire(&a, &limits, 800).await.unwrap();
    let refused = acquire(&b, &limits, 800).await.unwrap_err();
    assert_eq!(refused.quota, "tokens_per_minute");
    let wait = refused.retry_after.unwrap();
    assert!(wait > Duration::from_millis(35_000) && wait <= Duration::from_secs(36), "{wait:?}: 600 tokens missing");
    assert_eq!(acquire(&b, &limits, 1001).await.unwrap_err().retry_after, None);
    // Used 100 of 800: 700 return, and the other task can reserve 800.
    first.settle(100);
    let second = eventually(&b, request(&limits, 800)).await;
    // A cancelled request returns its whole reservation.
    drop(second);
    eventually(&a, request(&limits, 800)).await.settle(800);
}

/// A store config whose places are leased for 1.2 s (renewed every 0.4 s).
fn short_lease_config(url: String) -> QuotasConfig {
    let mut config = store_config(url);
    config.redis.timeout_ms = Millis(400);
    config.redis.lease_ms = Millis(1200);
    config
}

#[tokio::test]
async fn concurrency_places_are_shared_renewed_and_those_of_a_crashed_task_expire() {
    let _serial = SERIAL.lock().await;
    let redis = RedisServer::start().await;
    let config = short_lease_config(redis.url());
    let (a, b) = (Quotas::connect(&config, "us-east-1").await, Quotas::connect(&config, "us-east-1").await);
    let limits = QuotaLimits { concurrent_requests: Some(2), ..NONE };
    let held = acquire(&a, &limits, 1).await.unwrap();
    // A task takes the second place and dies: its grant is never settled nor dropped, and its
    // engine stops renewing.
    let crashed = Quotas::connect(&config, "us-east-1").await;
    std::mem::forget(acquire(&crashed, &limits, 1).await.unwrap());
    drop(crashed);
    let refused = acquire(&b, &limits, 1).await.unwrap_err();
    assert_eq!((refused.quota, refused.retry_after), ("concurrent_requests", Some(Duration::from_secs(1))));
    // Its lease ends; the place of the living task, renewed, outlasts several leases.
    let _third = eventually(&b, request(&limits, 1)).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    acquire(&a, &limits, 1).await.unwrap_err();
    drop(held);
    eventually(&a, request(&limits, 1)).await;
}

/// How many times Redis ran a script so far.
async fn script_calls(redis: &RedisServer) -> u64 {
    let stats = redis.command(&["INFO", "commandstats"]).await;
    stats
        .lines()
        .filter(|line| line.starts_with("cmdstat_evalsha:") || line.starts_with("cmdstat_eval:"))
        .filter_map(|line| line.split_once("calls=")?.1.split(',').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn taken_ahead_most_checks_need_no_round_trip_and_the_fleet_stays_within_its_quota() {
    let _serial = SERIAL.lock().await;
    bedrock_gateway::metrics::install();
    let redis = RedisServer::start().await;
    let mut config = store_config(redis.url());
    config.redis.prefetch_percent = 10;
    let (a, b) = (Quotas::connect(&config, "us-east-1").await, Quotas::connect(&config, "us-east-1").await);
    let limits = QuotaLimits { requests_per_minute: Some(200), ..NONE };
    let started = tokio::time::Instant::now();
    let calls = script_calls(&redis).await;
    let decided_by = |decider: &str| {
        metric(&format!("bedrock_gateway_quota_check_duration_seconds_count{{decided_by=\"{decider}\"}}"))
    };
    let (by_allowance, by_redis) = (decided_by("allowance"), decided_by("redis"));
    for n in 0..60 {
        let task = if n % 2 == 0 { &a } else { &b };
        acquire(task, &limits, 1).await.unwrap_or_else(|refused| panic!("request {n}: {refused}"));
    }
    let round_trips = script_calls(&redis).await - calls;
    assert!(round_trips <= 12, "{round_trips} round trips for 60 checks, 20 taken at a time");
    let (by_allowance, by_redis) = (decided_by("allowance") - by_allowance, decided_by("redis") - by_redis);
    assert_eq!(by_allowance + by_redis, 60.0);
    assert!(by_redis <= 4.0, "{by_redis} checks waited for Redis");

    // Near the quota each request is checked on the store; both tasks together get the quota
    // (and what refills meanwhile), no more, and nothing is stranded in either.
    let mut granted = 60;
    let mut refused_in_a_row = 0;
    for n in 0.. {
        let task = if n % 2 == 0 { &a } else { &b };
        match acquire(task, &limits, 1).await {
            Ok(_) => (granted, refused_in_a_row) = (granted + 1, 0),
            Err(_) => refused_in_a_row += 1,
        }
        if refused_in_a_row == 2 {
            break;
        }
    }
    let refilled = (started.elapsed().as_secs_f64() * 200.0 / 60.0).ceil() as u64;
    assert!((200..=200 + refilled).contains(&granted), "{granted} granted, {refilled} refilled meanwhile");
}

#[tokio::test]
async fn places_taken_ahead_go_back_once_idle() {
    let _serial = SERIAL.lock().await;
    let redis = RedisServer::start().await;
    let mut config = short_lease_config(redis.url());
    config.redis.prefetch_percent = 10;
    let quotas = Quotas::connect(&config, "us-east-1").await;
    let limits = QuotaLimits { concurrent_requests: Some(100), ..NONE };
    let places = "bedrock-gateway:{team-a}:places";
    // The first request takes its place and ten ahead: the next ten need no round trip.
    let calls = script_calls(&redis).await;
    let mut grants = Vec::new();
    for _ in 0..11 {
        grants.push(acquire(&quotas, &limits, 1).await.unwrap());
    }
    let round_trips = script_calls(&redis).await - calls;
    assert!(round_trips <= 3, "{round_trips}: the first take (sending the script) and at most a top-up");
    let held = redis.command(&["HVALS", places]).await;
    assert!(held.contains("\n11/") || held.contains("\n21/"), "{held}");
    drop(grants);
    // Unused for a tick, they all go back to the store.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while redis.command(&["EXISTS", places]).await.trim() != ":0" {
        assert!(tokio::time::Instant::now() < deadline, "still held: {}", redis.command(&["HVALS", places]).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_dead_store_means_fallback_limits_until_it_returns() {
    let _serial = SERIAL.lock().await;
    bedrock_gateway::metrics::install();
    let mut redis = RedisServer::start().await;
    let quotas = Quotas::connect(&store_config(redis.url()), "us-east-1").await;
    assert_eq!(metric("bedrock_gateway_quota_store_up"), 1.0);
    let limits = QuotaLimits { requests_per_minute: Some(10), ..NONE };
    acquire(&quotas, &limits, 1).await.unwrap();
    let fallback_granted = metric("bedrock_gateway_quota_checks_total{result=\"fallback_granted\"}");
    let errors = metric("bedrock_gateway_quota_store_errors_total");

    redis.stop();
    // Two tasks expected: each enforces half of the quota on its own.
    for n in 0..5 {
        acquire(&quotas, &limits, 1).await.unwrap_or_else(|refused| panic!("request {n} on the fallback: {refused}"));
    }
    let refused = acquire(&quotas, &limits, 1).await.unwrap_err();
    assert_eq!((refused.quota, refused.limit), ("requests_per_minute", 10), "the configured quota is named");
    assert_eq!(metric("bedrock_gateway_quota_store_up"), 0.0);
    assert_eq!(metric("bedrock_gateway_quota_checks_total{result=\"fallback_granted\"}"), fallback_granted + 5.0);
    let failed = metric("bedrock_gateway_quota_store_errors_total") - errors;
    assert!((1.0..=2.0).contains(&failed), "{failed} errors: Redis is tried at most once a second");

    // Back, empty: the first request after the retry interval is decided on Redis again.
    redis.restart().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    eventually(&quotas, request(&limits, 1)).await;
    assert_eq!(metric("bedrock_gateway_quota_store_up"), 1.0);
    for _ in 0..9 {
        acquire(&quotas, &limits, 1).await.unwrap();
    }
    acquire(&quotas, &limits, 1).await.unwrap_err();
}

#[tokio::test]
async fn tls_and_auth() {
    let _serial = SERIAL.lock().await;
    let redis = RedisServer::start_tls().await;
    let added = redis.command(&["ACL", "SETUSER", "gateway", "on", ">s3cret", "~*", "+@all"]).await;
    assert!(added.starts_with("+OK"), "{added}");
    let mut config = store_config(redis.tls_url());
    config.redis.ca_file = Some(redis.ca_file());
    config.redis.username = Some("gateway".to_owned());
    config.redis.password = Some("s3cret".to_owned());
    let (a, b) = (Quotas::connect(&config, "us-east-1").await, Quotas::connect(&config, "us-east-1").await);
    let limits = QuotaLimits { requests_per_minute: Some(2), ..NONE };
    acquire(&a, &limits, 1).await.unwrap();
    acquire(&b, &limits, 1).await.unwrap();
    acquire(&a, &limits, 1).await.unwrap_err();
    let keys = redis.command(&["KEYS", "*"]).await;
    assert!(keys.contains("bedrock-gateway:{team-a}:requests"), "decided on Redis: {keys}");

    // A wrong password: the store never answers, the fallback decides (1 of the 2 per task).
    config.redis.password = Some("wrong".to_owned());
    let locked_out = Quotas::connect(&config, "us-east-1").await;
    acquire(&locked_out, &limits, 1).await.unwrap();
    acquire(&locked_out, &limits, 1).await.unwrap_err();
}

/// ElastiCache IAM authentication: the gateway AUTHs as its user with a token. Redis cannot check
/// SigV4, so the user takes any password here; with the default user off, only connections that
/// AUTHed as that user are served.
#[tokio::test]
async fn iam_auth_authenticates_as_the_user() {
    let _serial = SERIAL.lock().await;
    let redis = RedisServer::start_tls().await;
    for user in [
        &["ACL", "SETUSER", "bedrock-gateway", "on", "nopass", "~*", "+@all"][..],
        &["ACL", "SETUSER", "inspector", "on", ">peek", "~*", "+@all"],
        &["ACL", "SETUSER", "default", "off"],
    ] {
        let added = redis.command(user).await;
        assert!(added.starts_with("+OK"), "{user:?}: {added}");
    }
    let inspector = redis::Client::open(redis.url().replace("redis://", "redis://inspector:peek@")).unwrap();
    let mut inspector = inspector.get_multiplexed_async_connection().await.unwrap();

    let mut config = store_config(redis.tls_url());
    config.redis.ca_file = Some(redis.ca_file());
    config.redis.username = Some("bedrock-gateway".to_owned());
    config.redis.iam_auth = Some(RedisIamAuthConfig {
        cache_name: "bgw-quotas".to_owned(),
        serverless: true,
        region: None,
        credentials: CredentialsSource::Emulator,
    });
    let (a, b) = (Quotas::connect(&config, "us-east-1").await, Quotas::connect(&config, "us-east-1").await);
    // Two for a and none left for b: one quota for the fleet, where the fallback would give each one.
    let limits = QuotaLimits { requests_per_minute: Some(2), ..NONE };
    acquire(&a, &limits, 1).await.unwrap();
    acquire(&a, &limits, 1).await.unwrap();
    acquire(&b, &limits, 1).await.unwrap_err();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut inspector).await.unwrap();
    assert!(keys.contains(&"bedrock-gateway:{team-a}:requests".to_owned()), "decided on Redis: {keys:?}");
    let clients: String = redis::cmd("CLIENT").arg("LIST").query_async(&mut inspector).await.unwrap();
    let gateways = clients.lines().filter(|client| client.contains(" user=bedrock-gateway ")).count();
    assert_eq!(gateways, 2, "one connection per task, as the user: {clients}");

    // The user off: the store refuses the gateway, the fallback decides (1 of the 2 per task).
    let off: String =
        redis::cmd("ACL").arg(&["SETUSER", "bedrock-gateway", "off"]).query_async(&mut inspector).await.unwrap();
    assert_eq!(off, "OK");
    let locked_out = Quotas::connect(&config, "us-east-1").await;
    acquire(&locked_out, &limits, 1).await.unwrap();
    acquire(&locked_out, &limits, 1).await.unwrap_err();
}

#[tokio::test]
async fn cluster_mode() {
    let _serial = SERIAL.lock().await;
    let redis = RedisServer::start_cluster().await;
    let mut config = store_config(redis.url());
    config.redis.cluster = true;
    let (a, b) = (Quotas::connect(&config, "us-east-1").await, Quotas::connect(&config, "us-east-1").await);
    let tenant = QuotaLimits { requests_per_minute: Some(3), ..NONE };
    let chat = QuotaLimits { concurrent_requests: Some(1), ..NONE };
    let held = a.acquire(QuotaRequest { model_limits: &chat, ..request(&tenant, 1) }).await.unwrap();
    let refused = b.acquire(QuotaRequest { model_limits: &chat, ..request(&tenant, 1) }).await.unwrap_err();
    assert_eq!((refused.quota, refused.model.as_deref()), ("concurrent_requests", Some("chat")));
    acquire(&b, &tenant, 1).await.unwrap();
    acquire(&a, &tenant, 1).await.unwrap();
    acquire(&b, &tenant, 1).await.unwrap_err();
    held.settle(1);
    eventually(&b, QuotaRequest { model_limits: &chat, ..request(&NONE, 1) }).await;
}

/// A store that accepts connections and never answers costs one timeout per second, not one per
/// request: the others are decided on the fallback at once.
#[tokio::test]
async fn a_silent_store_is_tried_once_a_second() {
    let _serial = SERIAL.lock().await;
    bedrock_gateway::metrics::install();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let errors = metric("bedrock_gateway_quota_store_errors_total");
    let mut config = store_config(url);
    config.redis.timeout_ms = Millis(200);
    let quotas = Quotas::connect(&config, "us-east-1").await;
    assert_eq!(metric("bedrock_gateway_quota_store_up"), 0.0);
    let limits = QuotaLimits { requests_per_minute: Some(1000), ..NONE };
    for _ in 0..20 {
        acquire(&quotas, &limits, 1).await.unwrap();
    }
    assert_eq!(metric("bedrock_gateway_quota_store_errors_total") - errors, 1.0, "only the first connection timed out");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    acquire(&quotas, &limits, 1).await.unwrap();
    assert_eq!(metric("bedrock_gateway_quota_store_errors_total") - errors, 2.0, "one retry after a second");
    silent.abort();
}
