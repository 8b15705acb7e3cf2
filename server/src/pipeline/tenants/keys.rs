//! API keys with a lifetime: a key is refused before its `not_before` and from its `expires_on`
//! on, with a message saying when it is valid, and a key about to expire is announced ahead, in
//! the log and in `/metrics`, so that its team rotates it before its clients are refused.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::live::LiveTenants;
use super::{Tenant, Tenants};
use crate::config::{ApiKey, format_time};
use crate::error::GatewayError;
use crate::ops::metrics::KeyExpiry;

/// How long before its expiry a key is warned of.
const WARN_AHEAD: time::Duration = time::Duration::days(7);
/// How often keys are looked at for the warning, which is logged once a day per key.
const WARN_CHECK_INTERVAL: Duration = Duration::from_secs(3600);

/// One API key of a tenant.
#[derive(Debug)]
pub(super) struct Key {
    /// The tenant it identifies.
    pub(super) tenant: Arc<Tenant>,
    /// Its configured name.
    pub(super) name: Arc<str>,
    not_before: Option<OffsetDateTime>,
    expires_on: Option<OffsetDateTime>,
}

impl Key {
    /// The key `name` of `tenant`, configured as `config` (validated).
    pub(super) fn new(tenant: Arc<Tenant>, name: &str, config: &ApiKey) -> Key {
        Key { tenant, name: Arc::from(name), not_before: config.not_before(), expires_on: config.expires_on() }
    }

    /// Refuses the key outside its lifetime, as an unknown key is refused, saying when it is valid.
    pub(super) fn check_valid(&self) -> Result<(), GatewayError> {
        // Most keys have no lifetime: no clock reading on their requests.
        if self.not_before.is_none() && self.expires_on.is_none() {
            return Ok(());
        }
        self.check_valid_at(OffsetDateTime::now_utc())
    }

    fn check_valid_at(&self, now: OffsetDateTime) -> Result<(), GatewayError> {
        if let Some(expires_on) = self.expires_on.filter(|expires_on| now >= *expires_on) {
            return Err(GatewayError::Unauthenticated {
                reason: format!(
                    "the API key {:?} expired on {}; use the key that replaces it",
                    self.name,
                    format_time(expires_on)
                ),
            });
        }
        if let Some(not_before) = self.not_before.filter(|not_before| now < *not_before) {
            return Err(GatewayError::Unauthenticated {
                reason: format!(
                    "the API key {:?} is not valid yet: it is valid from {}",
                    self.name,
                    format_time(not_before)
                ),
            });
        }
        Ok(())
    }
}

impl Tenants {
    /// The `/metrics` series of every key with an `expires_on`.
    pub(super) fn key_expiries(&self) -> Vec<KeyExpiry> {
        let mut expiries: Vec<KeyExpiry> = self
            .keys()
            .filter_map(|key| {
                Some(KeyExpiry {
                    tenant: Arc::clone(&key.tenant.name),
                    key: Arc::clone(&key.name),
                    expires_at: key.expires_on?.unix_timestamp(),
                })
            })
            .collect();
        expiries.sort_by(|a, b| (&a.tenant, &a.key).cmp(&(&b.tenant, &b.key)));
        expiries
    }
}

/// Logs a WARN line, once a UTC day, for each key of the tenants serving in `live` that expires
/// within seven days, until `stop`.
pub async fn warn_of_expiring_keys(live: LiveTenants, stop: CancellationToken) {
    let mut warned = HashMap::new();
    let mut checks = tokio::time::interval(WARN_CHECK_INTERVAL);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = checks.tick() => drop(warn_expiring(&live.current(), OffsetDateTime::now_utc(), &mut warned)),
        }
    }
}

/// One check: warns of each key expiring within [`WARN_AHEAD`] of `now` not warned of today,
/// remembering in `warned` the day each (tenant, key) was last warned of; returns how many.
pub(super) fn warn_expiring(
    tenants: &Tenants,
    now: OffsetDateTime,
    warned: &mut HashMap<(Arc<str>, Arc<str>), time::Date>,
) -> usize {
    let today = now.date();
    let mut lines = 0;
    warned.retain(|_, day| *day == today);
    for key in tenants.keys() {
        let Some(expires_on) = key.expires_on.filter(|expires_on| now < *expires_on && *expires_on - now <= WARN_AHEAD)
        else {
            continue;
        };
        if warned.insert((Arc::clone(&key.tenant.name), Arc::clone(&key.name)), today).is_none() {
            tracing::warn!(
                tenant = %key.tenant.name,
                key = %key.name,
                expires_on = format_time(expires_on),
                "API key expires within 7 days: add its replacement, move its clients, then remove it"
            );
            lines += 1;
        }
    }
    lines
}
