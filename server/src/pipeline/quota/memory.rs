//! The in-process quota store: the buckets and place counts of every tenant in one map behind a
//! mutex, held only for the arithmetic of one request. It is the store of `store = "memory"` and
//! the fallback of the Redis store. Tenants and models come from the configuration and its reloads,
//! so the map stays as small as the tenants configured since the process started (a removed
//! tenant's few counters stay until a restart) and needs no expiry.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use tokio::time::Instant;

use super::{Kind, Limit, Refusal, Wait, refill_time};

#[derive(Debug, Default)]
pub(super) struct MemoryStore {
    tenants: Mutex<HashMap<String, TenantState>>,
}

#[derive(Debug, Default)]
struct TenantState {
    all_models: Counters,
    per_model: HashMap<String, Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    requests: Bucket,
    tokens: Bucket,
    in_flight: u64,
}

/// A token bucket: its level (below zero after a charge beyond a reservation) when last changed;
/// `None` while full.
#[derive(Debug, Default, Clone, Copy)]
struct Bucket(Option<(f64, Instant)>);

impl Bucket {
    fn level(self, capacity: u64, now: Instant) -> f64 {
        let capacity = capacity as f64;
        match self.0 {
            None => capacity,
            Some((level, at)) => {
                (level + now.saturating_duration_since(at).as_secs_f64() * capacity / 60.0).min(capacity)
            }
        }
    }

    fn set(&mut self, level: f64, capacity: u64, now: Instant) {
        self.0 = (level < capacity as f64).then_some((level, now));
    }
}

impl TenantState {
    fn counters(&mut self, per_model: bool, model: &str) -> &mut Counters {
        if !per_model {
            return &mut self.all_models;
        }
        if !self.per_model.contains_key(model) {
            self.per_model.insert(model.to_owned(), Counters::default());
        }
        self.per_model.get_mut(model).expect("inserted above")
    }
}

impl Counters {
    /// The bucket of a per-minute limit (concurrency is counted in `in_flight` instead).
    fn bucket(&mut self, kind: Kind) -> &mut Bucket {
        match kind {
            Kind::Tokens => &mut self.tokens,
            Kind::Requests | Kind::Concurrent => &mut self.requests,
        }
    }
}

impl MemoryStore {
    /// Takes the request's share of every limit, or nothing and says which limits refused.
    pub(super) fn acquire(&self, tenant: &str, model: &str, limits: &[Limit], tokens: u64) -> Result<(), Vec<Refusal>> {
        let now = Instant::now();
        let mut tenants = self.tenants.lock().unwrap_or_else(PoisonError::into_inner);
        if !tenants.contains_key(tenant) {
            tenants.insert(tenant.to_owned(), TenantState::default());
        }
        let state = tenants.get_mut(tenant).expect("inserted above");
        let mut refusals = Vec::new();
        for &limit in limits {
            let counters = state.counters(limit.per_model, model);
            let need = limit.need(tokens);
            let wait = if limit.kind == Kind::Concurrent {
                (counters.in_flight >= limit.capacity).then_some(Wait::PlaceFrees)
            } else if need > limit.quota {
                Some(Wait::Never)
            } else {
                // The fallback's share of a quota may be smaller than a request the quota allows:
                // such a request goes through when the bucket is full, leaving it in debt.
                let need = need.min(limit.capacity) as f64;
                let have = counters.bucket(limit.kind).level(limit.capacity, now);
                (have < need).then(|| Wait::For(refill_time(need - have, limit.capacity)))
            };
            if let Some(wait) = wait {
                refusals.push(Refusal { limit, wait });
            }
        }
        if !refusals.is_empty() {
            return Err(refusals);
        }
        for &limit in limits {
            let counters = state.counters(limit.per_model, model);
            if limit.kind == Kind::Concurrent {
                counters.in_flight += 1;
            } else {
                let bucket = counters.bucket(limit.kind);
                let level = bucket.level(limit.capacity, now) - limit.need(tokens) as f64;
                bucket.set(level, limit.capacity, now);
            }
        }
        Ok(())
    }

    /// Settles a request granted `limits` (those of kinds settled at the end) with `reserved`
    /// tokens that used `used`.
    pub(super) fn release(&self, tenant: &str, model: &str, limits: &[Limit], reserved: u64, used: u64) {
        let now = Instant::now();
        let mut tenants = self.tenants.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(state) = tenants.get_mut(tenant) else {
            return;
        };
        for &limit in limits {
            let counters = state.counters(limit.per_model, model);
            match limit.kind {
                Kind::Concurrent => counters.in_flight = counters.in_flight.saturating_sub(1),
                Kind::Tokens if used != reserved => {
                    let level = counters.tokens.level(limit.capacity, now) + reserved as f64 - used as f64;
                    counters.tokens.set(level.min(limit.capacity as f64), limit.capacity, now);
                }
                Kind::Tokens | Kind::Requests => {}
            }
        }
    }
}
