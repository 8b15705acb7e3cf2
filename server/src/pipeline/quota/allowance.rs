//! A task's allowances: quota it took from the Redis store ahead of its requests, so that most
//! quota checks are decided in the task, without a round trip.
//!
//! A round trip to the store costs a fraction of a millisecond when all is well, and a request
//! would pay it before Bedrock is called. So a task takes a little more than a request needs
//! (`quotas.redis.prefetch_percent` of the quota) and spends it on the next requests; when its
//! allowance runs low it tops it up off the request path. The store hands out only what its
//! buckets hold, so the fleet never admits more than a quota's rate; a burst can exceed a full
//! bucket by what the tasks hold ahead. The store hands out extra only while more than half of a
//! quota is left, so near its quota a tenant's requests are checked one by one on the store, as
//! without prefetch; and each task keeps at most twice its prefetch, giving the rest back, and
//! gives everything back once a tick passes without a request using it.
//!
//! Concurrency places work alike: a task holds places on the store (renewed each tick, so those
//! of a task that died free themselves when their lease ends) and hands them to its requests.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use super::{Kind, Limit};

/// One of a request's limits, as a counter on the store.
#[derive(Debug, Clone)]
pub(super) struct Counter {
    /// Its key on the store, which also names it here.
    pub key: String,
    pub limit: Limit,
}

/// What a request, or a top-up, asks the store for on one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Draw {
    /// The counter's index among the request's.
    pub index: usize,
    /// Without this much the request is refused.
    pub least: u64,
    /// The most worth taking: the least plus the prefetch.
    pub most: u64,
}

/// What the store is to be given back on one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Give {
    pub index: usize,
    /// Bucket units to return (negative: usage beyond the reservation, charged), or places to free.
    pub amount: i64,
    /// The places this task holds on the counter afterwards (0 for a bucket).
    pub held: u64,
}

/// How a request's limits were met.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Spent {
    /// From the allowances alone; the counters of `top_up` run low.
    Here { top_up: Vec<Draw> },
    /// Only in part: the store must provide `draws`, or the request is refused and what came
    /// from the allowances (`from_here`, one per counter) goes back to them.
    Short { draws: Vec<Draw>, from_here: Vec<u64> },
}

/// Every allowance of this task, by counter key.
#[derive(Debug)]
pub(super) struct Ledger {
    prefetch_percent: u64,
    allowances: Mutex<HashMap<String, Allowance>>,
}

#[derive(Debug)]
struct Allowance {
    tenant: String,
    limit: Limit,
    /// Units this task holds that no request uses: bucket units, or free places.
    available: u64,
    /// Places this task holds on the store, used or not (concurrency counters only).
    places: u64,
    topping_up: bool,
    /// Whether a request used it since the last tick.
    used: bool,
}

impl Ledger {
    pub(super) fn new(prefetch_percent: u8) -> Ledger {
        Ledger { prefetch_percent: u64::from(prefetch_percent), allowances: Mutex::default() }
    }

    /// How much a task takes ahead on `limit`.
    fn prefetch(&self, limit: &Limit) -> u64 {
        limit.capacity * self.prefetch_percent / 100
    }

    /// Takes what a request of `tenant` reserving `tokens` needs on each counter from the
    /// allowances, as far as they go.
    pub(super) fn spend(&self, tenant: &str, counters: &[Counter], tokens: u64) -> Spent {
        let mut allowances = self.allowances.lock().unwrap_or_else(PoisonError::into_inner);
        let mut from_here = Vec::with_capacity(counters.len());
        let mut draws = Vec::new();
        for (index, counter) in counters.iter().enumerate() {
            let allowance = allowances.entry(counter.key.clone()).or_insert_with(|| Allowance {
                tenant: tenant.to_owned(),
                limit: counter.limit,
                available: 0,
                places: 0,
                topping_up: false,
                used: false,
            });
            let need = counter.limit.need(tokens);
            let here = allowance.available.min(need);
            allowance.available -= here;
            allowance.used = true;
            from_here.push(here);
            if here < need {
                let least = need - here;
                draws.push(Draw { index, least, most: least + self.prefetch(&counter.limit) });
            }
        }
        if !draws.is_empty() {
            return Spent::Short { draws, from_here };
        }
        let mut top_up = Vec::new();
        for (index, counter) in counters.iter().enumerate() {
            let prefetch = self.prefetch(&counter.limit);
            let allowance = allowances.get_mut(&counter.key).expect("inserted above");
            if !allowance.topping_up && allowance.available * 2 < prefetch {
                allowance.topping_up = true;
                top_up.push(Draw { index, least: 0, most: prefetch });
            }
        }
        Spent::Here { top_up }
    }

    /// The store refused a request short on its allowances, or did not answer: what it took
    /// from them goes back.
    pub(super) fn refund(&self, counters: &[Counter], from_here: &[u64]) {
        let mut allowances = self.allowances.lock().unwrap_or_else(PoisonError::into_inner);
        for (counter, &here) in counters.iter().zip(from_here) {
            if let Some(allowance) = allowances.get_mut(&counter.key) {
                allowance.available += here;
            }
        }
    }

    /// The store handed out `taken` for `draws` (all zero when a top-up got nothing): beyond each
    /// draw's least, which its request uses, it is available here.
    pub(super) fn took(&self, counters: &[Counter], draws: &[Draw], taken: &[u64]) {
        let mut allowances = self.allowances.lock().unwrap_or_else(PoisonError::into_inner);
        for (draw, &taken) in draws.iter().zip(taken) {
            let counter = &counters[draw.index];
            let Some(allowance) = allowances.get_mut(&counter.key) else {
                continue;
            };
            if draw.least == 0 {
                allowance.topping_up = false;
            }
            allowance.available += taken.saturating_sub(draw.least);
            if counter.limit.kind == Kind::Concurrent {
                allowance.places += taken;
            }
        }
    }

    /// A request granted on `counters` (those settled at the end) ended: its unused tokens and its
    /// places come back here, its usage beyond the reservation is charged; what this task should
    /// not keep is to be given back to the store.
    pub(super) fn release(&self, counters: &[Counter], reserved: u64, used: u64) -> Vec<Give> {
        let mut allowances = self.allowances.lock().unwrap_or_else(PoisonError::into_inner);
        let mut gives = Vec::new();
        for (index, counter) in counters.iter().enumerate() {
            let Some(allowance) = allowances.get_mut(&counter.key) else {
                continue;
            };
            let mut amount = 0;
            match counter.limit.kind {
                Kind::Concurrent => allowance.available += 1,
                Kind::Tokens if used > reserved => {
                    // Charged on the store at once: the allowance holds only what was taken.
                    let charge = used - reserved;
                    let here = allowance.available.min(charge);
                    allowance.available -= here;
                    amount = -i64::try_from(charge - here).unwrap_or(i64::MAX);
                }
                Kind::Tokens => allowance.available += reserved - used,
                Kind::Requests => {}
            }
            let keep = 2 * self.prefetch(&counter.limit);
            if allowance.available > keep {
                amount += i64::try_from(allowance.available - keep).unwrap_or(i64::MAX);
                allowance.available = keep;
            }
            if amount != 0 {
                gives.push(Self::give(index, allowance, amount));
            }
        }
        gives
    }

    /// Records giving `amount` of an allowance back (already taken out of `available`).
    fn give(index: usize, allowance: &mut Allowance, amount: i64) -> Give {
        if allowance.limit.kind == Kind::Concurrent {
            allowance.places = allowance.places.saturating_sub(amount.unsigned_abs());
            Give { index, amount, held: allowance.places }
        } else {
            Give { index, amount, held: 0 }
        }
    }

    /// The store did not take back what `gives` returned: the units and places stay here, to be
    /// given back on a later tick. A charge is dropped: the store missed it while failing.
    pub(super) fn give_failed(&self, counters: &[Counter], gives: &[Give]) {
        let mut allowances = self.allowances.lock().unwrap_or_else(PoisonError::into_inner);
        for give in gives.iter().filter(|give| give.amount > 0) {
            if let Some(allowance) = allowances.get_mut(&counters[give.index].key) {
                let amount = give.amount.unsigned_abs();
                allowance.available += amount;
                if allowance.limit.kind == Kind::Concurrent {
                    allowance.places += amount;
                }
            }
        }
    }

    /// The periodic pass, per tenant: allowances no request used since the last tick go back to
    /// the store whole, and the places still held are renewed (a give of none). Allowances that
    /// hold nothing are forgotten.
    pub(super) fn tick(&self) -> Vec<(String, Vec<Counter>, Vec<Give>)> {
        let mut allowances = self.allowances.lock().unwrap_or_else(PoisonError::into_inner);
        let mut tenants: HashMap<String, (Vec<Counter>, Vec<Give>)> = HashMap::new();
        for (key, allowance) in allowances.iter_mut() {
            let idle = !std::mem::take(&mut allowance.used);
            let amount = if idle { std::mem::take(&mut allowance.available) } else { 0 };
            if amount == 0 && allowance.places == 0 {
                continue;
            }
            let (counters, gives) = tenants.entry(allowance.tenant.clone()).or_default();
            let amount = i64::try_from(amount).unwrap_or(i64::MAX);
            gives.push(Self::give(counters.len(), allowance, amount));
            counters.push(Counter { key: key.clone(), limit: allowance.limit });
        }
        allowances.retain(|_, allowance| allowance.available > 0 || allowance.places > 0 || allowance.topping_up);
        tenants.into_iter().map(|(tenant, (counters, gives))| (tenant, counters, gives)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(kind: Kind, quota: u64) -> Counter {
        Counter { key: format!("{kind:?}"), limit: Limit { per_model: false, kind, quota, capacity: quota } }
    }

    #[test]
    fn a_request_short_of_its_allowance_draws_its_need_plus_the_prefetch() {
        let ledger = Ledger::new(10);
        let counters = [counter(Kind::Requests, 100), counter(Kind::Tokens, 10_000)];
        let Spent::Short { draws, from_here } = ledger.spend("a", &counters, 300) else { panic!("nothing held yet") };
        assert_eq!(from_here, [0, 0]);
        assert_eq!(draws, [Draw { index: 0, least: 1, most: 11 }, Draw { index: 1, least: 300, most: 1300 }]);
        ledger.took(&counters, &draws, &[11, 1300]);
        // 10 requests and 1,000 tokens held: the next requests need no round trip, and once
        // fewer than 500 tokens are left a top-up is asked for, once.
        assert_eq!(ledger.spend("a", &counters, 300), Spent::Here { top_up: vec![] });
        let top_up = Draw { index: 1, least: 0, most: 1000 };
        assert_eq!(ledger.spend("a", &counters, 300), Spent::Here { top_up: vec![top_up] });
        assert_eq!(ledger.spend("a", &counters, 300), Spent::Here { top_up: vec![] });
        let Spent::Short { draws, from_here } = ledger.spend("a", &counters, 300) else { panic!("100 tokens left") };
        assert_eq!((from_here.clone(), draws), (vec![1, 100], vec![Draw { index: 1, least: 200, most: 1200 }]));
        ledger.refund(&counters, &from_here);
        ledger.took(&counters, &[top_up], &[1000]);
        assert_eq!(ledger.spend("a", &counters, 600), Spent::Here { top_up: vec![] });
    }

    #[test]
    fn unused_tokens_come_back_and_the_excess_goes_to_the_store() {
        let ledger = Ledger::new(1);
        let counters = [counter(Kind::Tokens, 10_000), counter(Kind::Concurrent, 300)];
        let Spent::Short { draws, .. } = ledger.spend("a", &counters, 1000) else { panic!("nothing held yet") };
        ledger.took(&counters, &draws, &[1100, 4]);
        // 100 tokens and 3 places held ahead; 900 tokens unused come back: 200 may stay here.
        assert_eq!(ledger.release(&counters, 1000, 100), [Give { index: 0, amount: 800, held: 0 }]);
        // Used beyond the reservation: charged, from the allowance first.
        assert_eq!(ledger.spend("a", &counters, 100), Spent::Here { top_up: vec![] });
        assert_eq!(ledger.release(&counters, 100, 500), [Give { index: 0, amount: -300, held: 0 }]);
    }

    #[test]
    fn without_prefetch_every_freed_place_goes_back_at_once() {
        let ledger = Ledger::new(0);
        let counters = [counter(Kind::Concurrent, 5)];
        let Spent::Short { draws, .. } = ledger.spend("a", &counters, 1) else { panic!("nothing held yet") };
        assert_eq!(draws, [Draw { index: 0, least: 1, most: 1 }]);
        ledger.took(&counters, &draws, &[1]);
        let gives = ledger.release(&counters, 1, 1);
        assert_eq!(gives, [Give { index: 0, amount: 1, held: 0 }]);
        // The store did not answer: the place stays held here until a later tick gives it back.
        ledger.give_failed(&counters, &gives);
        assert_eq!(ledger.tick()[0].2, [Give { index: 0, amount: 0, held: 1 }], "used since the last tick: renewed");
        assert_eq!(ledger.tick()[0].2, [Give { index: 0, amount: 1, held: 0 }]);
        assert!(ledger.tick().is_empty(), "nothing held, nothing to renew");
    }

    #[test]
    fn idle_allowances_go_back_and_held_places_are_renewed() {
        let ledger = Ledger::new(10);
        let counters = [counter(Kind::Tokens, 1000), counter(Kind::Concurrent, 20)];
        let Spent::Short { draws, .. } = ledger.spend("a", &counters, 10) else { panic!("nothing held yet") };
        ledger.took(&counters, &draws, &[110, 3]);
        let ticked = |ledger: &Ledger| {
            let mut gives = ledger
                .tick()
                .into_iter()
                .flat_map(|(tenant, counters, gives)| {
                    gives
                        .into_iter()
                        .map(move |give| (tenant.clone(), counters[give.index].key.clone(), give.amount, give.held))
                })
                .collect::<Vec<_>>();
            gives.sort();
            gives
        };
        // Used since the last tick: kept, and the places renewed.
        assert_eq!(ticked(&ledger), [("a".to_owned(), "Concurrent".to_owned(), 0, 3)]);
        // Idle: everything unused goes back; the place in use stays held.
        assert_eq!(
            ticked(&ledger),
            [("a".to_owned(), "Concurrent".to_owned(), 2, 1), ("a".to_owned(), "Tokens".to_owned(), 100, 0)]
        );
    }
}
