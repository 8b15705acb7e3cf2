//! The figures the CloudWatch EMF lines are made of (`ops/emf.rs`): the gauges now, and counts
//! since the last line, overall and by tenant. One set per [`super::Metrics`], updated by its
//! recordings and taken by the EMF writer at each interval.
//!
//! Every count is an atomic, so recording takes no lock: a tenant's counters are found in a map
//! that is read without one and copied only when a tenant is seen for the first time (tenants are
//! configured, so that happens a bounded number of times). Taking the interval swaps each counter
//! to zero; a request finishing at that very moment may see its request counted in one interval
//! and its tokens in the next, and nothing is counted twice or lost.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;

/// Slots of the per-interval time-to-first-token distribution: a quarter of a doubling each, from
/// 1 ms (slot 0 also holds anything faster) to 2^18 ms, about 4.4 minutes (the last slot also
/// holds anything slower). Within CloudWatch's 100 distinct values per EMF metric.
const TTFT_SLOTS: usize = 72;
const TTFT_SLOTS_PER_DOUBLING: f64 = 4.0;

/// The gauges, and the counts since the interval began.
#[derive(Debug)]
pub(super) struct Figures {
    pub(super) streams_in_flight: AtomicI64,
    pub(super) connections_open: AtomicI64,
    requests: AtomicU64,
    pub(super) rejections: AtomicU64,
    pub(super) bedrock_errors: AtomicU64,
    time_to_first_token: [AtomicU64; TTFT_SLOTS],
    tenants: ArcSwap<HashMap<String, Arc<TenantCounters>>>,
}

/// One tenant's counts since the interval began.
#[derive(Debug, Default)]
struct TenantCounters {
    requests: AtomicU64,
    rejections: AtomicU64,
    input_tokens: AtomicU64,
    output_tokens: AtomicU64,
}

/// One tenant's counts in an EMF interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TenantCounts {
    pub(crate) requests: u64,
    pub(crate) rejections: u64,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
}

/// One EMF interval: the gauges now, and the counts since the previous one was taken.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct IntervalSample {
    pub(crate) streams_in_flight: i64,
    pub(crate) connections_open: i64,
    pub(crate) requests: u64,
    pub(crate) rejections: u64,
    pub(crate) bedrock_errors: u64,
    /// (milliseconds, count) for each slot that has any, fastest first.
    pub(crate) time_to_first_token_ms: Vec<(f64, u64)>,
    /// Each tenant with requests in the interval, by name.
    pub(crate) tenants: BTreeMap<String, TenantCounts>,
}

impl Default for Figures {
    fn default() -> Figures {
        Figures {
            streams_in_flight: AtomicI64::new(0),
            connections_open: AtomicI64::new(0),
            requests: AtomicU64::new(0),
            rejections: AtomicU64::new(0),
            bedrock_errors: AtomicU64::new(0),
            time_to_first_token: std::array::from_fn(|_| AtomicU64::new(0)),
            tenants: ArcSwap::default(),
        }
    }
}

impl Figures {
    /// Counts a finished request: by `tenant` when identified, with its first content after
    /// `time_to_first_token` and its input and output `tokens` when known.
    pub(super) fn count_request(
        &self,
        tenant: Option<&str>,
        refused: bool,
        time_to_first_token: Option<Duration>,
        tokens: Option<(u64, u64)>,
    ) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(ttft) = time_to_first_token {
            self.time_to_first_token[ttft_slot(ttft)].fetch_add(1, Ordering::Relaxed);
        }
        let Some(tenant) = tenant else { return };
        match self.tenants.load().get(tenant) {
            Some(counters) => counters.count(refused, tokens),
            None => self.first_seen(tenant).count(refused, tokens),
        }
    }

    /// The counters of a tenant not in the map a moment ago, adding them unless another request
    /// just did.
    fn first_seen(&self, tenant: &str) -> Arc<TenantCounters> {
        self.tenants.rcu(|tenants| {
            if tenants.contains_key(tenant) {
                return Arc::clone(tenants);
            }
            let mut tenants = HashMap::clone(tenants);
            tenants.insert(tenant.to_owned(), Arc::default());
            Arc::new(tenants)
        });
        Arc::clone(&self.tenants.load()[tenant])
    }

    /// Reads the gauges and takes the interval's counts, starting the next interval at zero.
    pub(super) fn take(&self) -> IntervalSample {
        IntervalSample {
            streams_in_flight: self.streams_in_flight.load(Ordering::Relaxed),
            connections_open: self.connections_open.load(Ordering::Relaxed),
            requests: take(&self.requests),
            rejections: take(&self.rejections),
            bedrock_errors: take(&self.bedrock_errors),
            time_to_first_token_ms: self
                .time_to_first_token
                .iter()
                .enumerate()
                .filter_map(|(slot, count)| Some((ttft_slot_ms(slot), take(count))).filter(|(_, count)| *count > 0))
                .collect(),
            tenants: self
                .tenants
                .load()
                .iter()
                .map(|(tenant, counters)| (tenant.clone(), counters.take()))
                .filter(|(_, counts)| *counts != TenantCounts::default())
                .collect(),
        }
    }
}

impl TenantCounters {
    fn count(&self, refused: bool, tokens: Option<(u64, u64)>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if refused {
            self.rejections.fetch_add(1, Ordering::Relaxed);
        }
        if let Some((input, output)) = tokens {
            self.input_tokens.fetch_add(input, Ordering::Relaxed);
            self.output_tokens.fetch_add(output, Ordering::Relaxed);
        }
    }

    fn take(&self) -> TenantCounts {
        TenantCounts {
            requests: take(&self.requests),
            rejections: take(&self.rejections),
            input_tokens: take(&self.input_tokens),
            output_tokens: take(&self.output_tokens),
        }
    }
}

fn take(count: &AtomicU64) -> u64 {
    count.swap(0, Ordering::Relaxed)
}

fn ttft_slot(ttft: Duration) -> usize {
    let ms = ttft.as_secs_f64() * 1e3;
    if ms < 1.0 {
        return 0;
    }
    // Truncation is the intent: the slot whose range holds `ms`.
    ((ms.log2() * TTFT_SLOTS_PER_DOUBLING) as usize).min(TTFT_SLOTS - 1)
}

/// The value that stands for a slot: the geometric middle of its range, within 9% of any time in it.
fn ttft_slot_ms(slot: usize) -> f64 {
    let ms = ((slot as f64 + 0.5) / TTFT_SLOTS_PER_DOUBLING).exp2();
    (ms * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttft_slots_hold_their_times() {
        for ms in [0.2, 1.0, 3.7, 42.0, 250.0, 1_234.0, 29_000.0, 200_000.0] {
            let slot = ttft_slot(Duration::from_secs_f64(ms / 1e3));
            let ratio = ttft_slot_ms(slot) / ms.max(1.0);
            assert!((0.91..=1.10).contains(&ratio), "{ms} ms -> slot {slot} ({} ms)", ttft_slot_ms(slot));
        }
        assert_eq!(ttft_slot(Duration::from_secs(3600)), TTFT_SLOTS - 1);
        assert_eq!(ttft_slot(Duration::ZERO), 0);
    }

    #[test]
    fn an_interval_starts_at_zero_and_names_only_the_tenants_it_counted() {
        let figures = Figures::default();
        figures.count_request(Some("a"), false, Some(Duration::from_millis(250)), Some((10, 20)));
        figures.count_request(Some("b"), true, None, None);
        figures.count_request(None, true, None, None);
        let first = figures.take();
        assert_eq!(first.requests, 3);
        assert_eq!(first.time_to_first_token_ms, vec![(ttft_slot_ms(ttft_slot(Duration::from_millis(250))), 1)]);
        assert_eq!(
            first.tenants,
            BTreeMap::from([
                ("a".to_owned(), TenantCounts { requests: 1, rejections: 0, input_tokens: 10, output_tokens: 20 }),
                ("b".to_owned(), TenantCounts { requests: 1, rejections: 1, input_tokens: 0, output_tokens: 0 }),
            ])
        );
        figures.count_request(Some("b"), false, None, Some((1, 2)));
        let second = figures.take();
        assert_eq!((second.requests, second.time_to_first_token_ms.len()), (1, 0));
        assert_eq!(second.tenants.keys().collect::<Vec<_>>(), ["b"], "a had no request in this interval");
        assert_eq!(figures.take(), IntervalSample::default());
    }

    #[test]
    fn requests_recorded_at_once_from_many_threads_are_all_counted() {
        let figures = Figures::default();
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let figures = &figures;
                scope.spawn(move || {
                    for request in 0..1000 {
                        let tenant = ["a", "b", "c"][(thread + request) % 3];
                        figures.count_request(Some(tenant), false, None, Some((1, 1)));
                    }
                });
            }
        });
        let sample = figures.take();
        assert_eq!(sample.requests, 4000);
        let total: u64 = sample.tenants.values().map(|counts| counts.requests).sum();
        let tokens: u64 = sample.tenants.values().map(|counts| counts.input_tokens).sum();
        assert_eq!((total, tokens), (4000, 4000));
    }
}
