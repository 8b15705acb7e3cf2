//! The bucket and place arithmetic, on the in-process store and a paused clock.

use std::time::Duration;

use tokio::time::advance;

use super::*;
use crate::config::RedisConfig;

const NONE: QuotaLimits = QuotaLimits { requests_per_minute: None, tokens_per_minute: None, concurrent_requests: None };

fn rpm(limit: u64) -> QuotaLimits {
    QuotaLimits { requests_per_minute: Some(limit), ..NONE }
}

fn tpm(limit: u64) -> QuotaLimits {
    QuotaLimits { tokens_per_minute: Some(limit), ..NONE }
}

fn concurrent(limit: u64) -> QuotaLimits {
    QuotaLimits { concurrent_requests: Some(limit), ..NONE }
}

async fn memory() -> Quotas {
    Quotas::connect(&QuotasConfig::default(), "us-east-1").await
}

fn request<'a>(tenant_limits: &'a QuotaLimits, model_limits: &'a QuotaLimits, tokens: u64) -> QuotaRequest<'a> {
    QuotaRequest { tenant: "team-a", model: "chat", tenant_limits, model_limits, tokens }
}

/// Acquires `tokens` under the tenant limits `limits`.
async fn take(quotas: &Quotas, limits: &QuotaLimits, tokens: u64) -> Result<QuotaGrant, QuotaExceeded> {
    quotas.acquire(request(limits, &NONE, tokens)).await
}

#[tokio::test(start_paused = true)]
async fn no_quotas_cost_nothing() {
    let quotas = memory().await;
    let grant = take(&quotas, &NONE, 1_000_000).await.unwrap();
    assert!(grant.held.is_none());
}

#[tokio::test(start_paused = true)]
async fn requests_per_minute_trip_at_the_limit_and_refill() {
    let quotas = memory().await;
    let limits = rpm(3);
    for _ in 0..3 {
        take(&quotas, &limits, 10).await.unwrap().settle(10);
    }
    let refused = take(&quotas, &limits, 10).await.unwrap_err();
    assert_eq!(
        refused,
        QuotaExceeded {
            quota: "requests_per_minute",
            model: None,
            limit: 3,
            retry_after: Some(Duration::from_secs(20))
        }
    );
    advance(Duration::from_millis(19_999)).await;
    take(&quotas, &limits, 10).await.unwrap_err();
    advance(Duration::from_millis(1)).await;
    take(&quotas, &limits, 10).await.unwrap();
    let refused = take(&quotas, &limits, 10).await.unwrap_err();
    assert_eq!(refused.retry_after, Some(Duration::from_secs(20)));
    // A whole minute refills the whole bucket, and no more.
    advance(Duration::from_secs(600)).await;
    for _ in 0..3 {
        take(&quotas, &limits, 10).await.unwrap();
    }
    take(&quotas, &limits, 10).await.unwrap_err();
}

#[tokio::test(start_paused = true)]
async fn tokens_are_reserved_then_settled() {
    let quotas = memory().await;
    let limits = tpm(1000);
    let first = take(&quotas, &limits, 600).await.unwrap();
    let refused = take(&quotas, &limits, 600).await.unwrap_err();
    assert_eq!(refused.quota, "tokens_per_minute");
    assert_eq!(refused.retry_after, Some(Duration::from_secs(12)), "200 tokens missing at 1000 per minute");
    // Used 100 of 600: 500 come back.
    first.settle(100);
    let second = take(&quotas, &limits, 600).await.unwrap();
    // Dropped unsettled (cancelled): the whole reservation comes back, but never beyond the quota.
    drop(second);
    let all = take(&quotas, &limits, 1000).await.unwrap_err();
    assert_eq!(all.retry_after, Some(Duration::from_secs(6)), "900 in the bucket: 100 missing");
    advance(Duration::from_secs(60)).await;
    let small = take(&quotas, &limits, 10).await.unwrap();
    advance(Duration::from_secs(30)).await;
    small.settle(0);
    let _whole = take(&quotas, &limits, 1000).await.unwrap();
    take(&quotas, &limits, 1).await.unwrap_err();
}

#[tokio::test(start_paused = true)]
async fn usage_beyond_the_reservation_is_charged_as_debt() {
    let quotas = memory().await;
    let limits = tpm(1000);
    take(&quotas, &limits, 1000).await.unwrap().settle(1600);
    let refused = take(&quotas, &limits, 1).await.unwrap_err();
    assert_eq!(refused.retry_after, Some(Duration::from_millis(36_060)), "601 tokens missing at 1000 per minute");
    advance(Duration::from_millis(36_060)).await;
    take(&quotas, &limits, 1).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_request_larger_than_its_quota_never_fits() {
    let quotas = memory().await;
    let refused = take(&quotas, &tpm(1000), 1001).await.unwrap_err();
    assert_eq!(refused.retry_after, None);
    assert_eq!(refused.limit, 1000);
    take(&quotas, &tpm(1000), 1000).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn concurrency_counts_places_until_settled_or_dropped() {
    let quotas = memory().await;
    let limits = concurrent(2);
    let first = take(&quotas, &limits, 10).await.unwrap();
    let second = take(&quotas, &limits, 10).await.unwrap();
    let refused = take(&quotas, &limits, 10).await.unwrap_err();
    assert_eq!(refused.quota, "concurrent_requests");
    assert_eq!(refused.retry_after, Some(PLACE_RETRY));
    // Time alone frees no place.
    advance(Duration::from_secs(3600)).await;
    take(&quotas, &limits, 10).await.unwrap_err();
    first.settle(10);
    let third = take(&quotas, &limits, 10).await.unwrap();
    drop(second);
    let _fourth = take(&quotas, &limits, 10).await.unwrap();
    take(&quotas, &limits, 10).await.unwrap_err();
    drop(third);
}

#[tokio::test(start_paused = true)]
async fn limits_apply_all_or_nothing() {
    let quotas = memory().await;
    let tenant = rpm(2);
    let chat = concurrent(1);
    let held = quotas.acquire(request(&tenant, &chat, 10)).await.unwrap();
    // Refused by chat's place: the tenant's requests bucket is untouched...
    let refused = quotas.acquire(request(&tenant, &chat, 10)).await.unwrap_err();
    assert_eq!((refused.quota, refused.model.as_deref()), ("concurrent_requests", Some("chat")));
    let other = QuotaRequest { model: "other", ..request(&tenant, &NONE, 10) };
    quotas.acquire(other).await.unwrap();
    // ...as its last request just went to the other model.
    let refused = quotas.acquire(other).await.unwrap_err();
    assert_eq!((refused.quota, refused.model), ("requests_per_minute", None));
    // Refused by the tenant's bucket: chat's place is not taken.
    drop(held);
    quotas.acquire(request(&tenant, &chat, 10)).await.unwrap_err();
    advance(Duration::from_secs(30)).await;
    quotas.acquire(request(&tenant, &chat, 10)).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_longest_wait_is_reported() {
    let quotas = memory().await;
    let limits = QuotaLimits { requests_per_minute: Some(1), tokens_per_minute: Some(100), concurrent_requests: None };
    let first = take(&quotas, &limits, 100).await.unwrap();
    let refused = take(&quotas, &limits, 50).await.unwrap_err();
    assert_eq!((refused.quota, refused.retry_after), ("requests_per_minute", Some(Duration::from_secs(60))));
    first.settle(200);
    let refused = take(&quotas, &limits, 50).await.unwrap_err();
    assert_eq!((refused.quota, refused.retry_after), ("tokens_per_minute", Some(Duration::from_secs(90))));
    let refused = take(&quotas, &limits, 101).await.unwrap_err();
    assert_eq!((refused.quota, refused.retry_after), ("tokens_per_minute", None), "never beats any wait");
}

#[tokio::test(start_paused = true)]
async fn tenants_and_models_have_their_own_counters() {
    let quotas = memory().await;
    let limits = rpm(1);
    quotas.acquire(request(&NONE, &limits, 1)).await.unwrap();
    quotas.acquire(QuotaRequest { model: "other", ..request(&NONE, &limits, 1) }).await.unwrap();
    quotas.acquire(QuotaRequest { tenant: "team-b", ..request(&NONE, &limits, 1) }).await.unwrap();
    let refused = quotas.acquire(request(&NONE, &limits, 1)).await.unwrap_err();
    assert_eq!(refused.model.as_deref(), Some("chat"));
}

#[test]
fn fallback_shares_round_up_to_at_least_one() {
    let limits =
        QuotaLimits { requests_per_minute: Some(10), tokens_per_minute: Some(1), concurrent_requests: Some(9) };
    let shares: Vec<_> = Limit::of(&request(&limits, &NONE, 1), 3).iter().map(|limit| limit.capacity).collect();
    assert_eq!(shares, [4, 1, 3]);
}

/// Redis refused at start: the engine starts on the fallback limits (each quota / task count).
#[tokio::test]
async fn an_unreachable_redis_at_start_means_fallback_limits() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = QuotasConfig {
        store: QuotaStoreKind::Redis,
        fallback_task_count: 3,
        redis: RedisConfig { url: format!("redis://127.0.0.1:{port}"), ..RedisConfig::default() },
    };
    let quotas = Quotas::connect(&config, "us-east-1").await;
    let limits = QuotaLimits { requests_per_minute: Some(10), tokens_per_minute: Some(1000), ..NONE };
    let mut grants = Vec::new();
    for _ in 0..4 {
        grants.push(take(&quotas, &limits, 10).await.unwrap());
    }
    let refused = take(&quotas, &limits, 10).await.unwrap_err();
    assert_eq!((refused.quota, refused.limit), ("requests_per_minute", 10), "the configured quota is reported");
    assert!(grants.iter().all(|grant| matches!(grant.held, Some(Held { granter: Granter::Memory(_), .. }))));
}

/// A request larger than the fallback's share, but within the quota, goes through on a full bucket.
#[tokio::test(start_paused = true)]
async fn a_fallback_share_lets_a_large_request_through_when_full() {
    let store = MemoryStore::default();
    let limits = tpm(1000);
    let shares = Limit::of(&request(&limits, &NONE, 500), 3);
    assert_eq!(shares[0].capacity, 334);
    store.acquire("team-a", "chat", &shares, 500).unwrap();
    let refused = store.acquire("team-a", "chat", &shares, 1).unwrap_err();
    // 166 tokens of debt, 1 more wanted, at 334 per minute.
    assert_eq!(refused[0].wait, Wait::For(refill_time(167.0, 334)));
    let refused = store.acquire("team-a", "chat", &shares, 1001).unwrap_err();
    assert_eq!(refused[0].wait, Wait::Never);
}

#[tokio::test(start_paused = true)]
async fn a_request_of_no_tokens_counts_as_a_request_but_not_against_tokens() {
    let quotas = memory().await;
    let limits = QuotaLimits { requests_per_minute: Some(2), tokens_per_minute: Some(100), ..NONE };
    // Over the token quota: a 150-token request leaves the bucket in debt.
    take(&quotas, &limits, 100).await.unwrap().settle(150);
    take(&quotas, &limits, 0).await.unwrap();
    let refused = take(&quotas, &limits, 0).await.unwrap_err();
    assert_eq!(refused.quota, "requests_per_minute");
}
