//! A capacity that callers share fairly: at most `total` units held at once by everyone, and at most
//! `per_caller` of them by any one caller, so one caller can never take what the others need. Both
//! in-flight requests (units: requests, see [`crate::pipeline::admission::Admission`]) and the request-memory
//! budget (units: bytes, see the edge's `RequestBodyLimit`) are shared this way, through
//! this one mechanism.
//!
//! A [`Share`] gives its units back when dropped. Callers are counted in a map that only holds
//! callers with units held, so its size is bounded by what is in flight, never by how many callers
//! were ever seen.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::pipeline::admission::CallerKey;

/// Which bound refused a [`Shares::take`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Everyone's units together are at `total`.
    Total,
    /// This caller's units are at `per_caller`.
    Caller,
}

/// The shared capacity; cheap to clone, clones share it.
#[derive(Debug, Clone)]
pub struct Shares {
    total: Arc<Semaphore>,
    per_caller: usize,
    held_by_caller: Arc<Mutex<HashMap<CallerKey, usize>>>,
}

impl Shares {
    /// `total` units, at most `per_caller` of them held by one caller.
    pub fn new(total: usize, per_caller: usize) -> Shares {
        Shares { total: Arc::new(Semaphore::new(total)), per_caller, held_by_caller: Arc::default() }
    }

    /// Takes `units` for `caller`, or says which bound refused them; a refusal takes nothing.
    pub fn take(&self, caller: &CallerKey, units: u32) -> Result<Share, Refusal> {
        let permit = Arc::clone(&self.total).try_acquire_many_owned(units).map_err(|_| Refusal::Total)?;
        let units = units as usize;
        {
            let mut held = lock(&self.held_by_caller);
            let count = held.entry(caller.clone()).or_insert(0);
            if *count + units > self.per_caller {
                if *count == 0 {
                    held.remove(caller);
                }
                return Err(Refusal::Caller);
            }
            *count += units;
        }
        Ok(Share { permit, caller: caller.clone(), units, held_by_caller: Arc::clone(&self.held_by_caller) })
    }

    /// Units held by `caller` now.
    #[cfg(test)]
    pub fn held_by(&self, caller: &CallerKey) -> usize {
        lock(&self.held_by_caller).get(caller).copied().unwrap_or_default()
    }

    /// Units free for everyone now.
    #[cfg(test)]
    pub fn available(&self) -> usize {
        self.total.available_permits()
    }
}

fn lock(counts: &Mutex<HashMap<CallerKey, usize>>) -> MutexGuard<'_, HashMap<CallerKey, usize>> {
    // The counts stay consistent under a panic elsewhere: every change is a single statement.
    counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Units held by one caller; given back when dropped.
#[derive(Debug)]
pub struct Share {
    permit: OwnedSemaphorePermit,
    caller: CallerKey,
    units: usize,
    held_by_caller: Arc<Mutex<HashMap<CallerKey, usize>>>,
}

impl Share {
    /// Adds `more`, taken by the same caller from the same [`Shares`], to this share.
    pub fn merge(&mut self, mut more: Share) {
        debug_assert_eq!(self.caller, more.caller, "a share holds one caller's units");
        self.permit.merge(more.permit.split(more.units).expect("a share's permit holds its units"));
        self.units += std::mem::take(&mut more.units);
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        if self.units == 0 {
            return;
        }
        let mut held = lock(&self.held_by_caller);
        if let Some(count) = held.get_mut(&self.caller) {
            *count -= self.units;
            if *count == 0 {
                held.remove(&self.caller);
            }
        }
    }
}

/// The request bytes a request holds in the memory budget; in the request's extensions, so the
/// service can give them back once Bedrock has the request.
#[derive(Debug, Clone, Default)]
pub struct RequestMemory(Arc<Mutex<Option<Share>>>);

impl RequestMemory {
    /// Adds `bytes` to what the request holds.
    pub fn charge(&self, bytes: Share) {
        let mut held = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match held.as_mut() {
            Some(held) => held.merge(bytes),
            None => *held = Some(bytes),
        }
    }

    /// Gives the request's bytes back to the budget.
    pub fn release(&self) {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> CallerKey {
        CallerKey::Tenant(Arc::from(name))
    }

    #[test]
    fn a_caller_at_its_share_is_refused_while_others_take_theirs() {
        let shares = Shares::new(100, 30);
        let first = shares.take(&key("a"), 20).unwrap();
        assert_eq!(shares.take(&key("a"), 11).unwrap_err(), Refusal::Caller);
        let _other = shares.take(&key("b"), 30).expect("another caller still gets its share");
        drop(first);
        assert_eq!(shares.held_by(&key("a")), 0);
        let _again = shares.take(&key("a"), 30).expect("units given back are reusable");
        assert_eq!(shares.available(), 40);
    }

    #[test]
    fn the_total_applies_across_callers_and_a_refusal_takes_nothing() {
        let shares = Shares::new(10, 10);
        let _a = shares.take(&key("a"), 6).unwrap();
        assert_eq!(shares.take(&key("b"), 5).unwrap_err(), Refusal::Total);
        assert_eq!(shares.held_by(&key("b")), 0);
        assert_eq!(shares.available(), 4);
    }

    #[test]
    fn merged_units_are_held_and_given_back_together() {
        let shares = Shares::new(10, 8);
        let mut held = shares.take(&key("a"), 3).unwrap();
        held.merge(shares.take(&key("a"), 4).unwrap());
        assert_eq!((shares.held_by(&key("a")), shares.available()), (7, 3));
        assert_eq!(shares.take(&key("a"), 2).unwrap_err(), Refusal::Caller);
        drop(held);
        assert_eq!((shares.held_by(&key("a")), shares.available()), (0, 10));
    }
}
