//! How many requests may be in flight: in total on this task (`server.max_concurrent_requests`),
//! and per caller (`server.max_concurrent_requests_per_caller`), so that one caller cannot take
//! every slot and starve the others. Beyond either bound a request is refused at once with
//! RESOURCE_EXHAUSTED and a short retry pushback, instead of queueing: another task behind the load
//! balancer may have room.
//!
//! A slot is taken by the service once the request message is complete (never while a client is
//! still sending it) and is held by the call until it ends, including by a stream's relay until its
//! last event, so an open stream counts however long it runs.

pub mod shares;

use std::sync::Arc;

use crate::error::GatewayError;
use crate::ops::metrics::{InFlight, Metrics, Rejection};
use crate::pipeline::peer::Peer;
use crate::pipeline::tenants::{Identity, IdentitySource};
use shares::{Refusal, Share, Shares};

/// Who a request counts against for the per-caller bound: its tenant when it was identified,
/// else the PrivateLink endpoint the client came through (from the PROXY protocol header), else
/// the client's IP address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CallerKey {
    /// An identified tenant's name.
    Tenant(Arc<str>),
    /// A PrivateLink VPC endpoint id.
    Endpoint(Arc<str>),
    /// The peer's address (without its port).
    Address(std::net::IpAddr),
    /// Nothing is known about the caller.
    Unknown,
}

impl CallerKey {
    /// The key of a request with these extensions.
    pub fn of(extensions: &http::Extensions) -> CallerKey {
        let peer = extensions.get::<Peer>();
        if let Some(identity) = extensions.get::<Identity>()
            && identity.source != IdentitySource::Unidentified
        {
            CallerKey::Tenant(Arc::clone(&identity.tenant.name))
        } else if let Some(endpoint) = peer.and_then(|peer| peer.vpc_endpoint_id.as_ref()) {
            CallerKey::Endpoint(Arc::clone(endpoint))
        } else if let Some(addr) = peer.and_then(|peer| peer.addr) {
            CallerKey::Address(addr.ip())
        } else {
            CallerKey::Unknown
        }
    }
}

/// The in-flight bounds of one gateway task; cheap to clone.
#[derive(Debug, Clone)]
pub struct Admission {
    shares: Shares,
    limit: usize,
    per_caller_limit: usize,
    metrics: Metrics,
}

impl Admission {
    /// At most `limit` requests in flight, and at most `per_caller_limit` of them from one caller;
    /// those in flight are counted in `metrics`.
    pub fn new(limit: usize, per_caller_limit: usize, metrics: Metrics) -> Admission {
        Admission { shares: Shares::new(limit, per_caller_limit), limit, per_caller_limit, metrics }
    }

    /// Takes a slot for `caller`, or says which bound refused it.
    pub fn admit(&self, caller: CallerKey) -> Result<Slot, (Rejection, GatewayError)> {
        match self.shares.take(&caller, 1) {
            Ok(share) => Ok(Slot { _share: share, _gauge: self.metrics.in_flight() }),
            Err(Refusal::Total) => Err((Rejection::Capacity, GatewayError::AtCapacity { limit: self.limit })),
            Err(Refusal::Caller) => {
                Err((Rejection::CallerCapacity, GatewayError::CallerAtCapacity { limit: self.per_caller_limit }))
            }
        }
    }

    /// Requests in flight for `caller`.
    #[cfg(test)]
    fn in_flight_for(&self, caller: &CallerKey) -> usize {
        self.shares.held_by(caller)
    }
}

/// One admitted request's place; freed when dropped.
#[derive(Debug)]
pub struct Slot {
    _share: Share,
    _gauge: InFlight,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> CallerKey {
        CallerKey::Tenant(Arc::from(name))
    }

    #[test]
    fn a_caller_at_its_bound_is_refused_while_others_are_admitted() {
        let admission = Admission::new(10, 2, Metrics::new());
        let first = admission.admit(key("a")).unwrap();
        let _second = admission.admit(key("a")).unwrap();
        let (reason, err) = admission.admit(key("a")).unwrap_err();
        assert_eq!(reason, Rejection::CallerCapacity);
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
        let _other = admission.admit(key("b")).expect("another caller still gets in");
        drop(first);
        let _again = admission.admit(key("a")).expect("a freed slot is reusable");
        assert_eq!(admission.in_flight_for(&key("a")), 2);
    }

    #[test]
    fn the_task_bound_applies_across_callers_and_counts_are_released() {
        let admission = Admission::new(2, 2, Metrics::new());
        let a = admission.admit(key("a")).unwrap();
        let _b = admission.admit(key("b")).unwrap();
        let (reason, _) = admission.admit(key("c")).unwrap_err();
        assert_eq!(reason, Rejection::Capacity);
        assert_eq!(admission.in_flight_for(&key("c")), 0, "a refusal leaves no count behind");
        drop(a);
        assert_eq!(admission.in_flight_for(&key("a")), 0);
        let _c = admission.admit(key("c")).unwrap();
    }
}
