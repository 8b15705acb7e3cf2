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

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::config::{Config, DEFAULT_TENANT, QuotaLimits, TenantConfig};
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

/// Every tenant, indexed by each of its identities; built once from the validated config.
#[derive(Debug)]
pub struct Tenants {
    by_key_digest: HashMap<[u8; 32], (Arc<Tenant>, Arc<str>)>,
    by_subject: HashMap<String, Arc<Tenant>>,
    by_endpoint: HashMap<String, Arc<Tenant>>,
    default: Arc<Tenant>,
    identity_required: bool,
    require_endpoint_match: bool,
}

impl Tenants {
    /// Indexes the tenants of a validated config. Each `auth.api_keys` entry is a key named like its
    /// tenant, declared under `[tenants]` or not.
    pub fn from_config(config: &Config) -> Tenants {
        let mut tenants: HashMap<&str, Arc<Tenant>> = config
            .tenants
            .iter()
            .map(|(name, tenant)| (name.as_str(), Arc::new(Tenant::from_config(name, tenant))))
            .collect();
        for name in config.auth.api_keys.keys() {
            tenants.entry(name).or_insert_with(|| Arc::new(Tenant::from_config(name, &TenantConfig::default())));
        }
        let default = Arc::clone(
            tenants
                .entry(DEFAULT_TENANT)
                .or_insert_with(|| Arc::new(Tenant::from_config(DEFAULT_TENANT, &TenantConfig::default()))),
        );
        let shorthand_keys = config.auth.api_keys.iter().map(|(name, digest)| (name.as_str(), name.as_str(), digest));
        let tenant_keys = config.tenants.iter().flat_map(|(tenant, config)| {
            config.api_keys.iter().map(move |(key_name, digest)| (tenant.as_str(), key_name.as_str(), digest))
        });
        let by_key_digest = shorthand_keys
            .chain(tenant_keys)
            .filter_map(|(tenant, key_name, digest)| {
                Some((decode_hex(digest)?, (Arc::clone(&tenants[tenant]), Arc::from(key_name))))
            })
            .collect();
        let each_tenant = |values: fn(&TenantConfig) -> &Vec<String>| {
            config
                .tenants
                .iter()
                .flat_map(|(name, tenant)| {
                    values(tenant).iter().map(|value| (value.clone(), Arc::clone(&tenants[name.as_str()])))
                })
                .collect::<HashMap<_, _>>()
        };
        Tenants {
            by_key_digest,
            by_subject: each_tenant(|tenant| &tenant.client_cert_subjects),
            by_endpoint: each_tenant(|tenant| &tenant.vpc_endpoint_ids),
            default,
            identity_required: config.auth.identity_required(&config.tenants),
            require_endpoint_match: config.auth.require_endpoint_match,
        }
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
            (Some((key_tenant, _)), Some(cert_tenant)) if !Arc::ptr_eq(key_tenant, cert_tenant) => {
                return Err(GatewayError::PermissionDenied {
                    reason: "the API key and the client certificate belong to different tenants; send one".into(),
                });
            }
            (Some((tenant, key_name)), _) => Some(Identity {
                tenant: Arc::clone(tenant),
                key_name: Some(Arc::clone(key_name)),
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

    fn key_tenant(&self, authorization: &[u8]) -> Result<&(Arc<Tenant>, Arc<str>), GatewayError> {
        let Some(key) = authorization.strip_prefix(b"Bearer ") else {
            return Err(GatewayError::Unauthenticated {
                reason: "the authorization header must be `Bearer <key>`".into(),
            });
        };
        let digest = <[u8; 32]>::from(Sha256::digest(key.trim_ascii()));
        self.by_key_digest
            .get(&digest)
            .ok_or_else(|| GatewayError::Unauthenticated { reason: "unknown API key".into() })
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
mod tests {
    use super::*;

    const ENDPOINT_A: &str = "vpce-0aaaaaaaaaaaaaaaa";
    const ENDPOINT_B: &str = "vpce-0bbbbbbbbbbbbbbbb";

    fn digest(key: &str) -> String {
        Sha256::digest(key.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
    }

    fn tenants(extra: &str) -> Tenants {
        let config = Config::from_toml(&format!(
            r#"
            [server]
            proxy_protocol = true
            [models.chat]
            model_id = "x"
            [models.fast]
            model_id = "y"
            [auth.api_keys]
            legacy = "{legacy}"
            [tenants.payments]
            api_keys = {{ ci = "{payments}" }}
            vpc_endpoint_ids = ["{ENDPOINT_A}"]
            models = ["chat"]
            [tenants.search]
            api_keys = {{ prod = "{search}" }}
            vpc_endpoint_ids = ["{ENDPOINT_B}"]
            {extra}
            "#,
            legacy = digest("legacy-key"),
            payments = digest("payments-key"),
            search = digest("search-key"),
        ))
        .unwrap();
        Tenants::from_config(&config)
    }

    fn peer(endpoint: Option<&str>) -> Peer {
        Peer { vpc_endpoint_id: endpoint.map(Arc::from), ..Peer::default() }
    }

    /// mTLS on. The config checks that the files exist; they are read only when the listener starts.
    fn mutual_tls() -> String {
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        format!("[server.tls]\ncert_file = \"{file}\"\nkey_file = \"{file}\"\nclient_ca_file = \"{file}\"\n")
    }

    fn with_certificate(subject: &str, endpoint: Option<&str>) -> Peer {
        Peer { client_cert_subject: Some(Arc::from(subject)), ..peer(endpoint) }
    }

    fn bearer(key: &str) -> Vec<u8> {
        format!("Bearer {key}").into_bytes()
    }

    #[test]
    fn a_key_names_its_tenant_and_key() {
        let identity = tenants("").identify(Some(&bearer("payments-key")), None).unwrap();
        assert_eq!(&*identity.tenant.name, "payments");
        assert_eq!(identity.key_name.as_deref(), Some("ci"));
        assert_eq!(identity.source, IdentitySource::ApiKey);
        assert!(identity.tenant.may_use("chat") && !identity.tenant.may_use("fast"));
        let legacy = tenants("").identify(Some(&bearer("legacy-key")), None).unwrap();
        assert_eq!((&*legacy.tenant.name, legacy.key_name.as_deref()), ("legacy", Some("legacy")));
        assert!(legacy.tenant.may_use("fast"), "an undeclared tenant may use every model");
    }

    #[test]
    fn a_digest_written_in_upper_case_is_the_same_key() {
        let config = Config::from_toml(&format!(
            "[models.chat]\nmodel_id = \"x\"\n[tenants.ops]\napi_keys = {{ ci = \"{}\" }}\n",
            digest("ops-key").to_ascii_uppercase()
        ))
        .unwrap();
        let identity = Tenants::from_config(&config).identify(Some(&bearer("ops-key")), None).unwrap();
        assert_eq!((&*identity.tenant.name, identity.key_name.as_deref()), ("ops", Some("ci")));
    }

    #[test]
    fn an_unknown_or_malformed_key_is_refused_even_where_identity_is_optional() {
        let tenants = tenants("[auth]\nrequire_identity = false");
        for header in [bearer("stolen"), b"Basic abc".to_vec()] {
            let err = tenants.identify(Some(&header), Some(&peer(Some(ENDPOINT_A)))).unwrap_err();
            assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err}");
        }
    }

    #[test]
    fn the_endpoint_identifies_a_caller_without_a_key() {
        let identity = tenants("").identify(None, Some(&peer(Some(ENDPOINT_B)))).unwrap();
        assert_eq!((&*identity.tenant.name, identity.source), ("search", IdentitySource::Endpoint));
    }

    #[test]
    fn the_key_wins_over_the_endpoint_unless_they_must_match() {
        let identity = tenants("").identify(Some(&bearer("payments-key")), Some(&peer(Some(ENDPOINT_B)))).unwrap();
        assert_eq!(&*identity.tenant.name, "payments");
        let strict = tenants("[auth]\nrequire_endpoint_match = true");
        for endpoint in [Some(ENDPOINT_B), None, Some("vpce-0cccccccccccccccc")] {
            let err = strict.identify(Some(&bearer("payments-key")), Some(&peer(endpoint))).unwrap_err();
            assert_eq!(err.code(), tonic::Code::PermissionDenied, "{endpoint:?}");
            assert!(!err.to_string().contains("search"), "never names another tenant: {err}");
        }
        assert!(strict.identify(Some(&bearer("payments-key")), Some(&peer(Some(ENDPOINT_A)))).is_ok());
        let err = strict.identify(Some(&bearer("legacy-key")), Some(&peer(Some(ENDPOINT_A)))).unwrap_err();
        assert_eq!(err.code(), tonic::Code::PermissionDenied, "a key used through another tenant's endpoint");
        assert!(strict.identify(Some(&bearer("legacy-key")), Some(&peer(None))).is_ok(), "no endpoints to match");
    }

    #[test]
    fn an_unidentified_caller_is_refused_or_default() {
        let err = tenants("").identify(None, Some(&peer(None))).unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated, "keys are configured, so identity is required");
        assert!(err.to_string().contains("authorization: Bearer"), "{err}");
        let open = tenants("[auth]\nrequire_identity = false\n[tenants.default]\nmodels = [\"fast\"]");
        let identity = open.identify(None, None).unwrap();
        assert_eq!((&*identity.tenant.name, identity.source), ("default", IdentitySource::Unidentified));
        assert!(!identity.tenant.may_use("chat"), "the configured default tenant's models apply");
    }

    /// `search`, known by its endpoint alone, and `extra`.
    fn endpoints_only(extra: &str) -> Tenants {
        let config = Config::from_toml(&format!(
            "[server]\nproxy_protocol = true\n[models.chat]\nmodel_id = \"x\"\n\
             [tenants.search]\nvpc_endpoint_ids = [\"{ENDPOINT_B}\"]\n{extra}\n"
        ))
        .unwrap();
        Tenants::from_config(&config)
    }

    #[test]
    fn endpoints_alone_require_identity_unless_unidentified_callers_are_let_in() {
        let strict = endpoints_only("");
        for endpoint in [None, Some(ENDPOINT_A)] {
            let err = strict.identify(None, Some(&peer(endpoint))).unwrap_err();
            assert_eq!(err.code(), tonic::Code::Unauthenticated, "{endpoint:?} is not the default tenant");
        }
        let search = strict.identify(None, Some(&peer(Some(ENDPOINT_B)))).unwrap();
        assert_eq!((&*search.tenant.name, search.source), ("search", IdentitySource::Endpoint));
        for open in ["[tenants.default]", "[tenants.default]\nmodels = [\"chat\"]", "[auth]\nrequire_identity = false"]
        {
            for endpoint in [None, Some(ENDPOINT_A)] {
                let identity = endpoints_only(open).identify(None, Some(&peer(endpoint))).unwrap();
                let identified = (&*identity.tenant.name, identity.source);
                assert_eq!(identified, ("default", IdentitySource::Unidentified), "{open}, {endpoint:?}");
            }
        }
        let required = endpoints_only("[tenants.default]\n[auth]\nrequire_identity = true");
        assert!(required.identify(None, Some(&peer(None))).is_err(), "an explicit true wins");
    }

    #[test]
    fn a_certificate_names_its_tenant_and_an_unregistered_one_is_refused_even_where_identity_is_optional() {
        let tenants = tenants(&format!(
            "{}[tenants.orders]\nclient_cert_subjects = [\"CN=orders,O=Example Corp\"]\n\
             [auth]\nrequire_identity = false",
            mutual_tls()
        ));
        let orders = tenants.identify(None, Some(&with_certificate("CN=orders,O=Example Corp", None))).unwrap();
        assert_eq!((&*orders.tenant.name, orders.source), ("orders", IdentitySource::ClientCertificate));
        for endpoint in [Some(ENDPOINT_B), None] {
            let stranger = with_certificate("CN=stranger,O=Example Corp", endpoint);
            let err = tenants.identify(None, Some(&stranger)).unwrap_err();
            assert_eq!(err.code(), tonic::Code::Unauthenticated, "not downgraded to {endpoint:?}'s tenant or default");
            assert!(err.to_string().contains("subject is not registered"), "{err}");
            assert!(!err.to_string().contains("orders") && !err.to_string().contains("search"), "{err}");
        }
        let keyed = tenants
            .identify(Some(&bearer("payments-key")), Some(&with_certificate("CN=stranger,O=Example Corp", None)))
            .unwrap();
        assert_eq!((&*keyed.tenant.name, keyed.source), ("payments", IdentitySource::ApiKey), "the key identifies");
    }

    #[test]
    fn where_no_tenant_lists_subjects_a_certificate_only_admits_the_connection() {
        let tenants = tenants(&format!("{}[auth]\nrequire_identity = false", mutual_tls()));
        let through_b = tenants.identify(None, Some(&with_certificate("CN=anyone", Some(ENDPOINT_B)))).unwrap();
        assert_eq!((&*through_b.tenant.name, through_b.source), ("search", IdentitySource::Endpoint));
        let elsewhere = tenants.identify(None, Some(&with_certificate("CN=anyone", None))).unwrap();
        assert_eq!((&*elsewhere.tenant.name, elsewhere.source), ("default", IdentitySource::Unidentified));
    }

    #[test]
    fn model_quotas_default_to_unlimited() {
        let tenants = tenants("[tenants.search.model_quotas.chat]\nrequests_per_minute = 5");
        let search = tenants.identify(Some(&bearer("search-key")), None).unwrap().tenant;
        assert_eq!(search.model_quotas("chat").requests_per_minute, Some(5));
        assert!(search.model_quotas("fast").is_unlimited());
        assert!(!search.counts_tokens("chat"), "no tokens_per_minute anywhere");
    }
}
