//! Tenant quotas: requests per minute, tokens per minute and concurrent requests, per tenant and
//! per (tenant, model), decided before Bedrock is called.
//!
//! Teams share one Bedrock account, so each gets a share; a Fargate service runs many tasks, so a
//! share kept per task would let a tenant use it once per task. The counters therefore live in a
//! store: in this process (`memory.rs`, the default and local mode's) or in Redis (`redis.rs`,
//! shared by every task, so a quota holds fleet-wide). Both keep the same buckets: per-minute
//! quotas are token buckets holding at most a minute's worth and refilled continuously, so a
//! refusal knows exactly when capacity returns, and concurrency is a count of places. A request
//! takes from every limit that applies to it or from none.
//!
//! A request reserves its tokens when it starts (its max_tokens plus an estimate of its input) and
//! [settles](QuotaGrant::settle) with what Bedrock reported when it ends; a grant dropped unsettled
//! (a cancelled or failed request) refunds its reservation, and frees its place either way.
//!
//! On Redis, each task takes quota ahead of its requests and spends it in process
//! (`allowance.rs`), so that most checks make no round trip while the fleet as a whole still
//! stays within every quota.
//!
//! When Redis fails or is slow, a request is decided in-process on fallback limits (each quota
//! divided by the expected task count) rather than failed: a blinking quota store must not take
//! the gateway down with it. See README, "Quotas".

mod allowance;
mod memory;
mod redis;

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{QuotaLimits, QuotaStoreKind, QuotasConfig};
use crate::error::PLACE_RETRY;
use crate::ops::metrics::{self, QuotaCheck, QuotaDecider};

use self::memory::MemoryStore;
use self::redis::RedisStore;

/// The quota engine, shared by all requests; cloning it is cheap.
#[derive(Clone, Debug)]
pub struct Quotas {
    inner: Arc<Inner>,
}

#[derive(Debug)]
enum Inner {
    /// Every task enforces the quotas on its own.
    Memory(Arc<MemoryStore>),
    /// The quotas are enforced on Redis, or on `fallback` with the limits divided by `divisor`
    /// while it does not answer (always, when its client could not even be built).
    Redis { store: Option<Arc<RedisStore>>, fallback: Arc<MemoryStore>, divisor: u64 },
}

/// What one request asks of the quotas.
#[derive(Debug, Clone, Copy)]
pub struct QuotaRequest<'a> {
    /// The calling tenant.
    pub tenant: &'a str,
    /// The logical model called.
    pub model: &'a str,
    /// The tenant's limits across all its models.
    pub tenant_limits: &'a QuotaLimits,
    /// The tenant's limits on this model.
    pub model_limits: &'a QuotaLimits,
    /// Tokens to reserve: the request's max_tokens plus an estimate of its input. 0 for a request
    /// that uses no tokens (CountTokens): token quotas are then neither checked nor charged, so a
    /// tenant out of tokens can still count them.
    pub tokens: u64,
}

/// A request refused because one of its quotas has no room for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaExceeded {
    /// `requests_per_minute`, `tokens_per_minute` or `concurrent_requests`.
    pub quota: &'static str,
    /// The model, when the limit is one of the tenant's `model_quotas`.
    pub model: Option<String>,
    /// The configured quota (also while the fallback enforces a share of it).
    pub limit: u64,
    /// When the request would fit; `None` when it never can (more tokens than the quota).
    pub retry_after: Option<Duration>,
}

impl QuotaExceeded {
    /// Whether the quota is a count of places (`concurrent_requests`), which frees when one of the
    /// tenant's requests ends rather than with time; its `retry_after` is then [`PLACE_RETRY`].
    pub fn frees_when_a_request_ends(&self) -> bool {
        self.quota == Kind::Concurrent.quota()
    }
}

impl fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "quota {} = {}", self.quota, self.limit)?;
        if let Some(model) = &self.model {
            write!(f, " on model {model}")?;
        }
        match self.retry_after {
            Some(_) if self.frees_when_a_request_ends() => write!(f, " exceeded; a place frees when a request ends"),
            Some(wait) => write!(f, " exceeded; capacity returns in {} ms", wait.as_millis()),
            None => write!(f, " is smaller than this request"),
        }
    }
}

impl std::error::Error for QuotaExceeded {}

/// A request's place within its quotas. Settle it with the tokens used when the request ends;
/// dropping it unsettled refunds the whole reservation. Either way its concurrency places are freed.
#[derive(Debug)]
pub struct QuotaGrant {
    /// None for a request without quotas.
    held: Option<Held>,
}

#[derive(Debug)]
struct Held {
    granter: Granter,
    tenant: String,
    model: String,
    limits: Vec<Limit>,
    tokens: u64,
}

/// The store that granted, which is the one to settle on.
#[derive(Debug)]
enum Granter {
    Memory(Arc<MemoryStore>),
    Redis(Arc<RedisStore>),
}

impl QuotaGrant {
    /// The request ended having used `tokens_used` tokens (input + output as Bedrock reported, or
    /// an estimate for a cancelled stream): the difference from the reservation is refunded or
    /// charged, and the concurrency places are freed.
    pub fn settle(mut self, tokens_used: u64) {
        if let Some(held) = self.held.take() {
            held.release(tokens_used);
        }
    }
}

impl Drop for QuotaGrant {
    fn drop(&mut self) {
        if let Some(held) = self.held.take() {
            held.release(0);
        }
    }
}

impl Held {
    fn release(self, tokens_used: u64) {
        let Held { granter, tenant, model, limits, tokens } = self;
        let settled = limits.into_iter().filter(|limit| limit.kind != Kind::Requests).collect::<Vec<_>>();
        if settled.is_empty() {
            return;
        }
        match granter {
            Granter::Memory(store) => store.release(&tenant, &model, &settled, tokens, tokens_used),
            Granter::Redis(store) => store.release(&tenant, &model, &settled, tokens, tokens_used),
        }
    }
}

impl Quotas {
    /// The engine on the configured store. Never fails: with `store = "redis"` and Redis
    /// unreachable, it starts on the fallback limits and tries Redis again as requests come.
    /// `default_region` is the store's region for IAM authentication when it names none
    /// (`bedrock.region`).
    pub async fn connect(config: &QuotasConfig, default_region: &str) -> Quotas {
        let inner = match config.store {
            QuotaStoreKind::Memory => Inner::Memory(Arc::default()),
            QuotaStoreKind::Redis => {
                let store = match RedisStore::connect(&config.redis, default_region).await {
                    Ok(store) => Some(Arc::new(store)),
                    Err(err) => {
                        tracing::error!(%err, "cannot set up the Redis quota store: quotas are per task, on the fallback limits");
                        metrics::quota_store_error();
                        metrics::quota_store_up(false);
                        None
                    }
                };
                Inner::Redis { store, fallback: Arc::default(), divisor: u64::from(config.fallback_task_count.max(1)) }
            }
        };
        let inner = Arc::new(inner);
        if let Inner::Redis { store: Some(store), .. } = &*inner {
            tokio::spawn(tick(Arc::downgrade(&inner), store.tick_interval()));
        }
        Quotas { inner }
    }

    /// Takes the request's place within its quotas, or says which quota has no room for it and
    /// when it will. A request without quotas costs nothing.
    pub async fn acquire(&self, request: QuotaRequest<'_>) -> Result<QuotaGrant, QuotaExceeded> {
        if request.tenant_limits.is_unlimited() && request.model_limits.is_unlimited() {
            return Ok(QuotaGrant { held: None });
        }
        let started = Instant::now();
        let (fallback, divisor) = match &*self.inner {
            Inner::Memory(store) => {
                let limits = Limit::of(&request, 1);
                let decided = store
                    .acquire(request.tenant, request.model, &limits, request.tokens)
                    .map(|()| Held::new(Granter::Memory(Arc::clone(store)), &request, limits));
                return decide(decided, Decided::by(QuotaDecider::Memory, started), request.model);
            }
            Inner::Redis { store, fallback, divisor } => {
                if let Some(store) = store {
                    let limits = Limit::of(&request, 1);
                    if let Ok((decided, decider)) = store.acquire(&request, &limits).await {
                        let decided = decided.map(|()| Held::new(Granter::Redis(Arc::clone(store)), &request, limits));
                        return decide(decided, Decided::by(decider, started), request.model);
                    }
                }
                (fallback, *divisor)
            }
        };
        let limits = Limit::of(&request, divisor);
        let decided = fallback
            .acquire(request.tenant, request.model, &limits, request.tokens)
            .map(|()| Held::new(Granter::Memory(Arc::clone(fallback)), &request, limits));
        decide(decided, Decided::by(QuotaDecider::Fallback, started), request.model)
    }
}

/// What decided a check, and when it started.
struct Decided {
    decider: QuotaDecider,
    started: Instant,
}

impl Decided {
    fn by(decider: QuotaDecider, started: Instant) -> Decided {
        Decided { decider, started }
    }
}

/// The Redis store's periodic pass, for as long as the engine lives (not its grants: a task that
/// lost its engine holds places no more, as one that died).
async fn tick(engine: Weak<Inner>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(engine) = engine.upgrade() else { return };
        if let Inner::Redis { store: Some(store), .. } = &*engine {
            store.tick().await;
        }
    }
}

/// Records the check and turns a store's answer into the caller's.
fn decide(decided: Result<Held, Vec<Refusal>>, by: Decided, model: &str) -> Result<QuotaGrant, QuotaExceeded> {
    let fallback = by.decider == QuotaDecider::Fallback;
    let (result, answer) = match decided {
        Ok(held) => {
            let result = if fallback { QuotaCheck::FallbackGranted } else { QuotaCheck::Granted };
            (result, Ok(QuotaGrant { held: Some(held) }))
        }
        Err(refusals) => {
            let result = if fallback { QuotaCheck::FallbackExceeded } else { QuotaCheck::Exceeded };
            (result, Err(Refusal::worst(&refusals, model)))
        }
    };
    metrics::quota_checked(result, by.decider, by.started.elapsed());
    answer
}

impl Held {
    fn new(granter: Granter, request: &QuotaRequest<'_>, limits: Vec<Limit>) -> Held {
        Held {
            granter,
            tenant: request.tenant.to_owned(),
            model: request.model.to_owned(),
            limits,
            tokens: request.tokens,
        }
    }
}

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Requests,
    Tokens,
    Concurrent,
}

impl Kind {
    fn quota(self) -> &'static str {
        match self {
            Kind::Requests => "requests_per_minute",
            Kind::Tokens => "tokens_per_minute",
            Kind::Concurrent => "concurrent_requests",
        }
    }
}

/// One limit a request is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limit {
    /// On the tenant's use of the request's model, rather than of all its models.
    per_model: bool,
    kind: Kind,
    /// The configured quota.
    quota: u64,
    /// What this store enforces: the quota, or the fallback's share of it.
    capacity: u64,
}

impl Limit {
    /// The request's limits, each enforced at its quota divided by `divisor` (rounded up, at least 1).
    fn of(request: &QuotaRequest<'_>, divisor: u64) -> Vec<Limit> {
        let mut limits = Vec::with_capacity(6);
        for (per_model, quotas) in [(false, request.tenant_limits), (true, request.model_limits)] {
            for (kind, quota) in [
                (Kind::Requests, quotas.requests_per_minute),
                (Kind::Tokens, quotas.tokens_per_minute),
                (Kind::Concurrent, quotas.concurrent_requests),
            ] {
                if kind == Kind::Tokens && request.tokens == 0 {
                    continue;
                }
                if let Some(quota) = quota {
                    limits.push(Limit { per_model, kind, quota, capacity: quota.div_ceil(divisor).max(1) });
                }
            }
        }
        limits
    }

    /// How much of this limit the request takes.
    fn need(self, tokens: u64) -> u64 {
        match self.kind {
            Kind::Tokens => tokens,
            Kind::Requests | Kind::Concurrent => 1,
        }
    }
}

/// When a refused limit would have room for the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Never: the request is larger than the quota.
    Never,
    /// Once the bucket has refilled this long.
    For(Duration),
    /// Once another request of the tenant ends.
    PlaceFrees,
}

/// One limit that refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Refusal {
    limit: Limit,
    wait: Wait,
}

impl Refusal {
    /// The refusal to report: the one the request would wait longest for, since it fits only
    /// when every limit has room.
    fn worst(refusals: &[Refusal], model: &str) -> QuotaExceeded {
        let wait = |refusal: &Refusal| match refusal.wait {
            Wait::Never => None,
            Wait::For(wait) => Some(wait),
            Wait::PlaceFrees => Some(PLACE_RETRY),
        };
        let worst = refusals
            .iter()
            .max_by_key(|refusal| wait(refusal).map_or((1, Duration::ZERO), |wait| (0, wait)))
            .expect("a refused request has at least one refusal");
        QuotaExceeded {
            quota: worst.limit.kind.quota(),
            model: worst.limit.per_model.then(|| model.to_owned()),
            limit: worst.limit.quota,
            retry_after: wait(worst),
        }
    }
}

/// A bucket's wait for `missing` units at `capacity` per minute, in whole milliseconds rounded up
/// (the unit of the gRPC pushback), as on the Redis store.
fn refill_time(missing: f64, capacity: u64) -> Duration {
    Duration::from_millis((missing * 60_000.0 / capacity as f64).ceil() as u64)
}

#[cfg(test)]
mod tests;
