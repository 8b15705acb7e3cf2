//! The identification rules, on tenants built from configurations.

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
    for open in ["[tenants.default]", "[tenants.default]\nmodels = [\"chat\"]", "[auth]\nrequire_identity = false"] {
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

/// `ops` with the keys `keys` (TOML `name = <entry>` lines).
fn with_keys(keys: &str) -> Tenants {
    let config =
        Config::from_toml(&format!("[models.chat]\nmodel_id = \"x\"\n[tenants.ops.api_keys]\n{keys}\n")).unwrap();
    Tenants::from_config(&config)
}

#[test]
fn two_keys_of_a_tenant_both_identify_it_while_it_rotates() {
    let tenants = with_keys(&format!(
        "old = {{ sha256 = \"{}\", expires_on = \"2999-01-01\" }}\nnew = \"{}\"",
        digest("old-key"),
        digest("new-key")
    ));
    for (key, name) in [("old-key", "old"), ("new-key", "new")] {
        let identity = tenants.identify(Some(&bearer(key)), None).unwrap();
        assert_eq!((&*identity.tenant.name, identity.key_name.as_deref()), ("ops", Some(name)));
    }
}

#[test]
fn a_key_outside_its_lifetime_is_refused_saying_when_it_is_valid() {
    let tenants = with_keys(&format!(
        "gone = {{ sha256 = \"{}\", expires_on = \"2001-01-31\" }}\n\
         early = {{ sha256 = \"{}\", not_before = \"2999-01-01T08:00:00Z\" }}\n\
         [auth]\nrequire_identity = false",
        digest("gone-key"),
        digest("early-key")
    ));
    let expired = tenants.identify(Some(&bearer("gone-key")), None).unwrap_err();
    assert_eq!(expired.code(), tonic::Code::Unauthenticated, "refused, never downgraded to default");
    assert!(expired.to_string().contains("\"gone\" expired on 2001-01-31T00:00:00Z"), "{expired}");
    let early = tenants.identify(Some(&bearer("early-key")), None).unwrap_err();
    assert_eq!(early.code(), tonic::Code::Unauthenticated);
    assert!(early.to_string().contains("\"early\" is not valid yet: it is valid from 2999-01-01T08:00:00Z"), "{early}");
}

#[test]
fn keys_expiring_within_a_week_are_warned_of_once_a_day_and_shown_by_expiry() {
    let tenants = with_keys(&format!(
        "soon = {{ sha256 = \"{}\", expires_on = \"2030-06-13\" }}\n\
         later = {{ sha256 = \"{}\", expires_on = \"2030-07-10T00:00:00Z\" }}\nforever = \"{}\"",
        digest("a"),
        digest("b"),
        digest("c")
    ));
    let expiries = tenants.key_expiries();
    let listed: Vec<_> = expiries.iter().map(|expiry| (&*expiry.tenant, &*expiry.key, expiry.expires_at)).collect();
    assert_eq!(listed, [("ops", "later", 1_909_872_000), ("ops", "soon", 1_907_539_200)], "keys with an expires_on");
    let at = |text: &str| time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap();
    let mut warned = std::collections::HashMap::new();
    let mut warn_at = |text: &str| super::keys::warn_expiring(&tenants, at(text), &mut warned);
    assert_eq!(warn_at("2030-06-01T12:00:00Z"), 0, "12 days ahead");
    assert_eq!(warn_at("2030-06-10T12:00:00Z"), 1, "within 7 days, only `soon`");
    assert_eq!(warn_at("2030-06-10T13:00:00Z"), 0, "once a day");
    assert_eq!(warn_at("2030-06-11T00:30:00Z"), 1, "the next day again");
    assert_eq!(warn_at("2030-06-13T00:00:00Z"), 0, "expired: refused, no longer warned of");
}
