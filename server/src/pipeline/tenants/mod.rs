//! Tenants: the teams that share the gateway, how a request is attributed to one, and what each
//! may use. A request's identity comes from, in this order:
//!
//! 1. an API key (`authorization: Bearer <key>`), matched by its SHA-256;
//! 2. a verified client certificate (mTLS), matched by its subject;
//! 3. the PrivateLink VPC endpoint it came through (from the NLB's PROXY protocol header);
//!
//! and otherwise it is unidentified: refused when identity is required, else the `default` tenant.
//! Identity is required, unless configured otherwise, as soon as any tenant can be identified
//! (see [`crate::config::AuthConfig::identity_required`]): the `default` tenant, with every model
//! and no quota unless configured, is for callers the operator chose to let in, never a fallback
//! for a missing key or an endpoint no tenant lists.
//!
//! A credential that is presented but unknown is refused, never downgraded to an endpoint's tenant
//! or to `default`: an unknown API key always; a verified client certificate whose subject no
//! tenant lists, once any tenant lists subjects (certificates then identify tenants), unless an API
//! key identifies the request. The exception is there because a certificate comes with the
//! connection, and a client may present the same one (its company's) to every server, while a key
//! is chosen per request. Where no tenant lists subjects, client certificates only admit the
//! connection (the CA is the gate) and identify nobody.
//!
//! With `auth.require_endpoint_match`, a key or certificate must also come through its own
//! tenant's endpoints. Refusals say what is missing or wrong without naming any other tenant.
//!
//! A key may have a lifetime (`keys.rs`): before its `not_before` or from its `expires_on` on it is
//! refused like an unknown key, saying when it is valid. The tenants change while the gateway
//! runs (`live.rs`); a request keeps the [`Tenant`] it was identified as until it ends.

mod keys;
pub mod live;

pub use self::keys::warn_of_expiring_keys;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use self::keys::Key;
use crate::config::{AuthConfig, Config, ConfigError, DEFAULT_TENANT, QuotaLimits, TenantConfig};
use crate::error::GatewayError;
use crate::pipeline::peer::Peer;

/// One tenant, resolved from its configuration.
#[derive(Debug)]
pub struct Tenant {
    /// The tenant's configured name.
    pub name: Arc<str>,
    /// The logical models it may use; `None`: all.
    models: Option<BTreeSet<String>>,
    /// Its quotas across all its models.
    pub quotas: QuotaLimits,
    model_quotas: HashMap<String, QuotaLimits>,
    vpc_endpoint_ids: BTreeSet<String>,
}

impl Tenant {
    /// The tenant `name` as configured.
    pub fn from_config(name: &str, config: &TenantConfig) -> Tenant {
        Tenant {
            name: Arc::from(name),
            models: config.models.as_ref().map(|models| models.iter().cloned().collect()),
            quotas: config.quotas,
            model_quotas: config.model_quotas.iter().map(|(model, limits)| (model.clone(), *limits)).collect(),
            vpc_endpoint_ids: config.vpc_endpoint_ids.iter().cloned().collect(),
        }
    }

    /// Whether `endpoint` is one of the tenant's PrivateLink endpoints.
    pub fn has_endpoint(&self, endpoint: &str) -> bool {
        self.vpc_endpoint_ids.contains(endpoint)
    }

    /// Whether the tenant may call the logical model `model`.
    pub fn may_use(&self, model: &str) -> bool {
        self.models.as_ref().is_none_or(|models| models.contains(model))
    }

    /// Whether a tokens-per-minute quota applies to the tenant's calls of `model`.
    pub fn counts_tokens(&self, model: &str) -> bool {
        self.quotas.tokens_per_minute.is_some() || self.model_quotas(model).tokens_per_minute.is_some()
    }

    /// The tenant's quotas on `model` alone (unlimited when none are configured).
    pub fn model_quotas(&self, model: &str) -> &QuotaLimits {
        const UNLIMITED: QuotaLimits =
            QuotaLimits { requests_per_minute: None, tokens_per_minute: None, concurrent_requests: None };
        self.model_quotas.get(model).unwrap_or(&UNLIMITED)
    }
}

/// How a request's tenant was established: the `identity` field of its log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentitySource {
    /// An API key.
    ApiKey,
    /// A verified client certificate's subject.
    ClientCertificate,
    /// The PrivateLink endpoint the request came through.
    Endpoint,
    /// Nothing: the `default` tenant.
    Unidentified,
}

impl IdentitySource {
    /// The log field's value.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentitySource::ApiKey => "api_key",
            IdentitySource::ClientCertificate => "client_cert",
            IdentitySource::Endpoint => "endpoint",
            IdentitySource::Unidentified => "none",
        }
    }
}

/// Who a request is from; a request extension once the identity layer has run.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The tenant the request counts against.
    pub tenant: Arc<Tenant>,
    /// The API key's name, when a key identified the request.
    pub key_name: Option<Arc<str>>,
    /// How the tenant was established.
    pub source: IdentitySource,
}

/// Every tenant, indexed by each of its identities; built from a validated configuration or
/// tenants document, and replaced whole when a new one is applied.
#[derive(Debug)]
pub struct Tenants {
    /// The `[tenants]` these were built from.
    tenants: BTreeMap<String, TenantConfig>,
    /// The `[auth]` these were built from.
    auth: AuthConfig,
    by_key_digest: HashMap<[u8; 32], Key>,
    by_subject: HashMap<String, Arc<Tenant>>,
    by_endpoint: HashMap<String, Arc<Tenant>>,
    default: Arc<Tenant>,
    identity_required: bool,
    require_endpoint_match: bool,
}

impl Tenants {
    /// Indexes the tenants of a validated config.
    pub fn from_config(config: &Config) -> Tenants {
        Tenants::new(config.tenants.clone(), config.auth.clone())
    }

    /// Indexes validated `tenants` with the keys and rules of `auth`. Each `auth.api_keys` entry is
    /// a key named like its tenant, declared under `[tenants]` or not.
    pub fn new(config_tenants: BTreeMap<String, TenantConfig>, auth: AuthConfig) -> Tenants {
        let mut tenants: HashMap<&str, Arc<Tenant>> = config_tenants
            .iter()
            .map(|(name, tenant)| (name.as_str(), Arc::new(Tenant::from_config(name, tenant))))
            .collect();
        for name in auth.api_keys.keys() {
            tenants.entry(name).or_insert_with(|| Arc::new(Tenant::from_config(name, &TenantConfig::default())));
        }
        let default = Arc::clone(
            tenants
                .entry(DEFAULT_TENANT)
                .or_insert_with(|| Arc::new(Tenant::from_config(DEFAULT_TENANT, &TenantConfig::default()))),
        );
        let shorthand_keys = auth.api_keys.iter().map(|(name, api_key)| (name.as_str(), name.as_str(), api_key));
        let tenant_keys = config_tenants.iter().flat_map(|(tenant, config)| {
            config.api_keys.iter().map(move |(key_name, api_key)| (tenant.as_str(), key_name.as_str(), api_key))
        });
        let by_key_digest = shorthand_keys
            .chain(tenant_keys)
            .filter_map(|(tenant, key_name, api_key)| {
                Some((decode_hex(api_key.digest())?, Key::new(Arc::clone(&tenants[tenant]), key_name, api_key)))
            })
            .collect();
        let each_tenant = |values: fn(&TenantConfig) -> &Vec<String>| {
            config_tenants
                .iter()
                .flat_map(|(name, tenant)| {
                    values(tenant).iter().map(|value| (value.clone(), Arc::clone(&tenants[name.as_str()])))
                })
                .collect::<HashMap<_, _>>()
        };
        let by_subject = each_tenant(|tenant| &tenant.client_cert_subjects);
        let by_endpoint = each_tenant(|tenant| &tenant.vpc_endpoint_ids);
        // It borrows `config_tenants`, which moves into the value.
        drop(tenants);
        Tenants {
            by_key_digest,
            by_subject,
            by_endpoint,
            default,
            identity_required: auth.identity_required(&config_tenants),
            require_endpoint_match: auth.require_endpoint_match,
            tenants: config_tenants,
            auth,
        }
    }

    /// The `[tenants]` and `[auth]` these were built from: what a reload compares a new document with.
    pub fn config(&self) -> (&BTreeMap<String, TenantConfig>, &AuthConfig) {
        (&self.tenants, &self.auth)
    }

    /// Whether a caller no tenant identifies is refused.
    pub fn identity_required(&self) -> bool {
        self.identity_required
    }

    /// The models every tenant names are among `models`, a catalog's model names: checked for each
    /// catalog a reload brings.
    pub fn require_models(&self, models: &BTreeSet<String>) -> Result<(), ConfigError> {
        self.tenants.iter().try_for_each(|(name, tenant)| tenant.require_models(name, models))
    }

    /// Every API key, with its tenant and name.
    fn keys(&self) -> impl Iterator<Item = &Key> {
        self.by_key_digest.values()
    }

    /// The identity of a request with this `authorization` header value from `peer`; see the module
    /// documentation for the rules.
    pub fn identify(&self, authorization: Option<&[u8]>, peer: Option<&Peer>) -> Result<Identity, GatewayError> {
        let endpoint = peer.and_then(|peer| peer.vpc_endpoint_id.as_deref());
        let by_key = match authorization {
            Some(value) => Some(self.key_tenant(value)?),
            None => None,
        };
        let subject = peer.and_then(|peer| peer.client_cert_subject.as_deref());
        let by_certificate = subject.and_then(|subject| self.by_subject.get(subject));
        if subject.is_some() && by_certificate.is_none() && by_key.is_none() && !self.by_subject.is_empty() {
            return Err(unregistered_certificate());
        }
        let credential = match (by_key, by_certificate) {
            (Some(key), Some(cert_tenant)) if !Arc::ptr_eq(&key.tenant, cert_tenant) => {
                return Err(GatewayError::PermissionDenied {
                    reason: "the API key and the client certificate belong to different tenants; send one".into(),
                });
            }
            (Some(key), _) => Some(Identity {
                tenant: Arc::clone(&key.tenant),
                key_name: Some(Arc::clone(&key.name)),
                source: IdentitySource::ApiKey,
            }),
            (None, Some(tenant)) => {
                Some(Identity { tenant: Arc::clone(tenant), key_name: None, source: IdentitySource::ClientCertificate })
            }
            (None, None) => None,
        };
        let endpoint_tenant = endpoint.and_then(|endpoint| self.by_endpoint.get(endpoint));
        if let Some(identity) = credential {
            if self.require_endpoint_match {
                self.check_endpoint(&identity, endpoint, endpoint_tenant)?;
            }
            return Ok(identity);
        }
        if let Some(tenant) = endpoint_tenant {
            return Ok(Identity { tenant: Arc::clone(tenant), key_name: None, source: IdentitySource::Endpoint });
        }
        if self.identity_required {
            return Err(match subject {
                Some(_) => unregistered_certificate(),
                None => GatewayError::Unauthenticated {
                    reason: "no identity: send `authorization: Bearer <key>`, a registered client certificate, or \
                             come through a registered PrivateLink endpoint"
                        .into(),
                },
            });
        }
        Ok(Identity { tenant: Arc::clone(&self.default), key_name: None, source: IdentitySource::Unidentified })
    }

    /// The key `authorization` sends, if it is known and valid now.
    fn key_tenant(&self, authorization: &[u8]) -> Result<&Key, GatewayError> {
        let Some(key) = authorization.strip_prefix(b"Bearer ") else {
            return Err(GatewayError::Unauthenticated {
                reason: "the authorization header must be `Bearer <key>`".into(),
            });
        };
        let digest = <[u8; 32]>::from(Sha256::digest(key.trim_ascii()));
        let key = self
            .by_key_digest
            .get(&digest)
            .ok_or_else(|| GatewayError::Unauthenticated { reason: "unknown API key".into() })?;
        key.check_valid()?;
        Ok(key)
    }

    /// With `auth.require_endpoint_match`: a credential's request must come through its tenant's
    /// endpoints (when it lists any) and never through another tenant's.
    fn check_endpoint(
        &self,
        identity: &Identity,
        endpoint: Option<&str>,
        endpoint_tenant: Option<&Arc<Tenant>>,
    ) -> Result<(), GatewayError> {
        let tenant = &identity.tenant;
        let other_tenants_endpoint = endpoint_tenant.is_some_and(|owner| !Arc::ptr_eq(owner, tenant));
        let outside_own_endpoints =
            !tenant.vpc_endpoint_ids.is_empty() && endpoint.is_none_or(|endpoint| !tenant.has_endpoint(endpoint));
        if other_tenants_endpoint || outside_own_endpoints {
            let through =
                endpoint.map_or_else(|| "not through a PrivateLink endpoint".to_owned(), |e| format!("through {e}"));
            return Err(GatewayError::PermissionDenied {
                reason: format!(
                    "this {} may be used only through its tenant's PrivateLink endpoints; the request came {through}",
                    match identity.source {
                        IdentitySource::ClientCertificate => "client certificate",
                        _ => "API key",
                    }
                ),
            });
        }
        Ok(())
    }
}

fn unregistered_certificate() -> GatewayError {
    GatewayError::Unauthenticated {
        reason: "the client certificate's subject is not registered for any tenant; send \
                 `authorization: Bearer <key>` or use a registered certificate"
            .into(),
    }
}

fn decode_hex(hex: &str) -> Option<[u8; 32]> {
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(hex.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    (hex.len() == 64).then_some(digest)
}

#[cfg(test)]
mod tests;
