//! `[auth]`: how callers are identified, and whether an unidentified caller may call.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, invalid};
use super::keys::{ApiKey, NAME_RULE, valid_name};
use super::tenants::{DEFAULT_TENANT, TenantConfig};

/// How callers are identified (see README, "Tenants and quotas"). With no identity configured,
/// any caller that reaches the listener may call as the `default` tenant (the network, PrivateLink
/// and security groups, is then the boundary). Once any tenant can be identified, identity fails
/// closed: a caller none of them identifies is refused unless the operator said otherwise. Health
/// and reflection are always open, for load balancer health checks and grpcurl.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Shorthand for single-key tenants: name -> SHA-256 (hex) of its API key (or a table with the
    /// digest and the key's lifetime, see [`ApiKey`]), sent as `authorization: Bearer <key>`; the
    /// key is named like its tenant. Only digests are configured, so the config holds no secret.
    pub api_keys: BTreeMap<String, ApiKey>,
    /// Refuse callers no identity source recognises with UNAUTHENTICATED; false lets them call as
    /// the `default` tenant. Unset: true when any API key, client-certificate subject or VPC
    /// endpoint id is configured, unless `[tenants.default]` is (writing it says who unidentified
    /// callers are, so they are let in as that tenant).
    pub require_identity: Option<bool>,
    /// A caller identified by API key or client certificate must also come through one of its
    /// tenant's `vpc_endpoint_ids` (when the tenant lists any) and not through another tenant's
    /// endpoint; otherwise PERMISSION_DENIED. Binds a key to the network it was issued for.
    pub require_endpoint_match: bool,
}

impl AuthConfig {
    /// See [`AuthConfig::require_identity`]. Unset, it fails closed: were the `default` tenant
    /// implied, a caller who leaves out its key, or comes through an endpoint no tenant lists, would
    /// get every model with no quota.
    pub fn identity_required(&self, tenants: &BTreeMap<String, TenantConfig>) -> bool {
        self.require_identity.unwrap_or_else(|| {
            let identifiable = !self.api_keys.is_empty()
                || tenants.values().any(|tenant| {
                    !tenant.api_keys.is_empty()
                        || !tenant.client_cert_subjects.is_empty()
                        || !tenant.vpc_endpoint_ids.is_empty()
                });
            identifiable && !tenants.contains_key(DEFAULT_TENANT)
        })
    }

    /// Key names and digests are well formed; that each digest is configured once is checked
    /// with the tenants'.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (name, api_key) in &self.api_keys {
            let key = format!("auth.api_keys.{name}");
            if !valid_name(name) {
                return Err(invalid(&key, format!("a key name, which is also its tenant's, {NAME_RULE}")));
            }
            api_key.validate(&key)?;
        }
        Ok(())
    }
}
