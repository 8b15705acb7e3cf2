//! `[tenants.<name>]`: the teams that call the gateway, how each is recognised, which models it may
//! use and its quotas.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, at_least, invalid};
use super::keys::{ApiKey, NAME_RULE, valid_name};
use super::quotas::QuotaLimits;
use super::server::ServerConfig;

/// The tenant of callers no identity source recognises, when identity is not required.
pub const DEFAULT_TENANT: &str = "default";

/// One team calling the gateway: how it is recognised, what it may use, how much.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantConfig {
    /// Key name -> SHA-256 (hex) of the key, or a table with the digest and the key's lifetime
    /// (see [`ApiKey`]); the key name is logged and recorded with usage.
    pub api_keys: BTreeMap<String, ApiKey>,
    /// PrivateLink VPC endpoint ids (`vpce-...`) the tenant's clients come through, as the NLB's
    /// PROXY protocol header says (needs `server.proxy_protocol`).
    pub vpc_endpoint_ids: Vec<String>,
    /// Client-certificate subjects, as RFC 4514 strings (`openssl x509 -noout -subject -nameopt
    /// RFC2253`), such as `CN=payments,O=Example Corp`; needs `server.tls.client_ca_file`. Once
    /// any tenant lists one, a certificate whose subject none lists is refused unless an API key
    /// identifies the request.
    pub client_cert_subjects: Vec<String>,
    /// The logical models the tenant may use; unset: all.
    pub models: Option<Vec<String>>,
    /// The tenant's quotas, across all its models.
    pub quotas: QuotaLimits,
    /// Quotas of the tenant on one logical model, on top of `quotas`.
    pub model_quotas: BTreeMap<String, QuotaLimits>,
}

/// Checks every tenant and the identities they claim, each value (a key digest, endpoint id or
/// certificate subject) identifying one caller only, the `auth.api_keys` shorthand included; with
/// the catalog's model names (`models`), also that the models they name are in it.
pub(super) fn validate(
    tenants: &BTreeMap<String, TenantConfig>,
    auth_keys: &BTreeMap<String, ApiKey>,
    server: &ServerConfig,
    models: Option<&BTreeSet<String>>,
) -> Result<(), ConfigError> {
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    let mut claim = |value: &str, key: String| match owners.insert(value.to_owned(), key.clone()) {
        Some(first) => Err(invalid(&key, format!("{value:?} is already configured as {first}"))),
        None => Ok(()),
    };
    // Digests are hex, which may be written in either case: one key is one key.
    for (name, api_key) in auth_keys {
        claim(&api_key.digest().to_ascii_lowercase(), format!("auth.api_keys.{name}"))?;
        if tenants.get(name).is_some_and(|tenant| tenant.api_keys.contains_key(name)) {
            return Err(invalid(
                &format!("auth.api_keys.{name}"),
                format!("key {name:?} is also configured as tenants.{name}.api_keys.{name}; keep one"),
            ));
        }
    }
    for (name, tenant) in tenants {
        let key = |field: &str| format!("tenants.{name}.{field}");
        if !valid_name(name) {
            return Err(invalid(&format!("tenants.{name}"), format!("a tenant name {NAME_RULE}")));
        }
        for (key_name, api_key) in &tenant.api_keys {
            let key = key(&format!("api_keys.{key_name}"));
            if !valid_name(key_name) {
                return Err(invalid(&key, format!("a key name {NAME_RULE}")));
            }
            api_key.validate(&key)?;
            claim(&api_key.digest().to_ascii_lowercase(), key.clone())?;
        }
        for endpoint in &tenant.vpc_endpoint_ids {
            if !is_vpc_endpoint_id(endpoint) {
                return Err(invalid(
                    &key("vpc_endpoint_ids"),
                    format!("{endpoint:?} is not a VPC endpoint id like \"vpce-0123456789abcdef0\""),
                ));
            }
            if !server.proxy_protocol {
                return Err(invalid(
                    &key("vpc_endpoint_ids"),
                    "needs server.proxy_protocol = true: the endpoint id comes from the NLB's PROXY protocol header"
                        .to_owned(),
                ));
            }
            claim(endpoint, key("vpc_endpoint_ids"))?;
        }
        for subject in &tenant.client_cert_subjects {
            if !subject.contains('=') {
                return Err(invalid(
                    &key("client_cert_subjects"),
                    format!("{subject:?} is not a subject like \"CN=payments,O=Example Corp\""),
                ));
            }
            if server.tls.as_ref().is_none_or(|tls| tls.client_ca_file.is_none()) {
                return Err(invalid(
                    &key("client_cert_subjects"),
                    "needs server.tls.client_ca_file, so that client certificates are asked for and verified"
                        .to_owned(),
                ));
            }
            claim(subject, key("client_cert_subjects"))?;
        }
        if let Some(models) = models {
            tenant.require_models(name, models)?;
        }
        check_quota_limits(&key("quotas"), &tenant.quotas)?;
        for (model, limits) in &tenant.model_quotas {
            let key = key(&format!("model_quotas.{model}"));
            if tenant.models.as_ref().is_some_and(|models| !models.contains(model)) {
                return Err(invalid(&key, format!("{model:?} is not in tenants.{name}.models")));
            }
            check_quota_limits(&key, limits)?;
        }
    }
    Ok(())
}
fn check_quota_limits(key: &str, limits: &QuotaLimits) -> Result<(), ConfigError> {
    for (field, value) in [
        ("requests_per_minute", limits.requests_per_minute),
        ("tokens_per_minute", limits.tokens_per_minute),
        ("concurrent_requests", limits.concurrent_requests),
    ] {
        if let Some(value) = value {
            at_least(&format!("{key}.{field}"), value, 1)?;
        }
    }
    Ok(())
}

fn is_vpc_endpoint_id(id: &str) -> bool {
    id.strip_prefix("vpce-").is_some_and(|hex| {
        (8..=17).contains(&hex.len()) && hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

impl TenantConfig {
    /// The models the tenant names (`models`, `model_quotas`) are in the catalog, whose model names
    /// are `models`: checked at start-up, against each catalog a reload brings, and with each
    /// tenants document a reload brings.
    pub fn require_models(&self, name: &str, models: &BTreeSet<String>) -> Result<(), ConfigError> {
        let listed = self.models.iter().flatten().map(|model| (format!("tenants.{name}.models"), model));
        let with_quotas = self.model_quotas.keys().map(|model| (format!("tenants.{name}.model_quotas.{model}"), model));
        for (key, model) in listed.chain(with_quotas) {
            if !models.contains(model) {
                let known = models.iter().cloned().collect::<Vec<_>>().join(", ");
                return Err(invalid(&key, format!("{model:?} is not a configured model (configured: {known})")));
            }
        }
        Ok(())
    }
}
