//! The configuration's loading and every section's checks, through `Config::from_toml` as a file
//! would be read; the catalog's own checks are tested with the catalog.

use std::net::SocketAddr;
use std::time::Duration;

use super::*;
use crate::config::ModelState;

const MINIMAL: &str = "[models.chat]\nmodel_id = \"anthropic.claude-3-haiku-20240307-v1:0\"\n";

fn rejected_key(toml: &str) -> String {
    match Config::from_toml(toml) {
        Err(ConfigError::Invalid { key, .. }) => key,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn minimal_file_takes_defaults() {
    let config = Config::from_toml(MINIMAL).unwrap();
    assert_eq!(config.server.listen.port(), 50051);
    assert_eq!(config.server.max_request_bytes, 4 * 1024 * 1024);
    assert_eq!(config.server.max_concurrent_requests, 10_000);
    assert_eq!(config.models["chat"].max_tokens_cap, 4096);
    assert_eq!(config.models["chat"].state, ModelState::Active);
    assert_eq!(config.server.scheduler, Scheduler::ThreadPerCore);
}

#[test]
fn thread_per_core_has_a_shard_per_thread_and_work_stealing_one_runtime() {
    let config = Config::from_toml(&format!("{MINIMAL}[server]\nworker_threads = 3\n")).unwrap();
    assert_eq!(config.server.shards(), 3);
    let config =
        Config::from_toml(&format!("{MINIMAL}[server]\nscheduler = \"work_stealing\"\nworker_threads = 3\n")).unwrap();
    assert_eq!(config.server.scheduler, Scheduler::WorkStealing);
    assert_eq!(config.server.shards(), 1, "one runtime, whatever the threads");
}

#[test]
fn per_source_connection_caps_default_to_shares_of_max_connections() {
    let server = |text: &str| Config::from_toml(&format!("{MINIMAL}[server]\n{text}\n")).unwrap().server;
    let direct = server("max_connections = 10000");
    assert_eq!(direct.connections_per_address(), 10_000, "without PROXY protocol the peer may be the NLB");
    assert_eq!(direct.connections_per_endpoint(), 5_000);
    assert_eq!(server("proxy_protocol = true").connections_per_address(), 100);
    assert_eq!(server("proxy_protocol = true\nmax_connections = 50000").connections_per_address(), 500);
    assert_eq!(server("proxy_protocol = true\nmax_connections = 40").connections_per_address(), 40);
    assert_eq!(server("max_connections_per_address = 7").connections_per_address(), 7, "applies to the TCP peer");
    for key in ["max_connections_per_address", "max_connections_per_endpoint"] {
        let text = format!("{MINIMAL}[server]\nmax_connections = 10\n{key} = 11\n");
        assert_eq!(rejected_key(&text), format!("server.{key}"), "more than max_connections");
    }
}

#[test]
fn no_models_is_rejected() {
    assert_eq!(rejected_key(""), "models");
}

#[test]
fn bad_values_name_their_key() {
    assert_eq!(rejected_key(&format!("{MINIMAL}[server]\nmax_request_bytes = 10\n")), "server.max_request_bytes");
    for key in [
        "http2_max_concurrent_streams",
        "http2_max_header_list_bytes",
        "handshake_timeout_secs",
        "max_connections",
        "max_connections_per_address",
        "max_connections_per_endpoint",
        "max_connection_idle_secs",
        "max_connection_age_secs",
        "max_connection_age_grace_secs",
    ] {
        assert_eq!(rejected_key(&format!("{MINIMAL}[server]\n{key} = 0\n")), format!("server.{key}"));
    }
    assert_eq!(rejected_key(&format!("{MINIMAL}[server]\nworker_threads = 1025\n")), "server.worker_threads");
    assert_eq!(rejected_key(&format!("{MINIMAL}[bedrock]\nregion = \"US East\"\n")), "bedrock.region");
    assert_eq!(
        rejected_key(&format!("{MINIMAL}[server]\nmax_stream_duration_secs = 9223372036854775807\n")),
        "server.max_stream_duration_secs",
        "a duration that would overflow the clock is refused, not a panic later"
    );
    for key in ["stream_open_timeout_secs", "converse_timeout_secs"] {
        assert_eq!(rejected_key(&format!("{MINIMAL}[bedrock]\n{key} = 0\n")), format!("bedrock.{key}"));
    }
    assert_eq!(rejected_key(&format!("{MINIMAL}[bedrock]\ncredentials = \"emulator\"\n")), "bedrock.credentials");
    assert_eq!(
        rejected_key(&format!("{MINIMAL}[bedrock.region_endpoint_urls]\nus-west-2 = \"vpce.example\"\n")),
        "bedrock.region_endpoint_urls.us-west-2"
    );
    assert_eq!(
        rejected_key(&format!("{MINIMAL}[bedrock]\nsts_endpoint_url = \"sts.example\"\n")),
        "bedrock.sts_endpoint_url"
    );
    assert_eq!(rejected_key(&format!("{MINIMAL}[auth.api_keys]\nteam-a = \"secret\"\n")), "auth.api_keys.team-a");
    assert_eq!(rejected_key("[models.Chat]\nmodel_id = \"x\"\n"), "models.Chat");
    assert_eq!(rejected_key("[models.chat]\nmodel_id = \" \"\n"), "models.chat.model_id");
    assert_eq!(
        rejected_key("[models.old]\nmodel_id = \"x\"\nstate = \"retired\"\nreplacement = \"new\"\n"),
        "models.old.replacement"
    );
    assert_eq!(rejected_key("[models.old]\nmodel_id = \"x\"\nretires_on = \"next year\"\n"), "models.old.retires_on");
}

#[test]
fn observability_keys_are_checked() {
    let config = Config::from_toml(MINIMAL).unwrap();
    assert_eq!(config.admin.listen, SocketAddr::from(([127, 0, 0, 1], 9090)), "loopback unless opened on purpose");
    assert!(!config.metrics.emf);
    assert_eq!(config.metrics.emf_service_name, "bedrock-gateway");
    assert_eq!(config.metrics.emf_interval_secs.get(), Duration::from_secs(10));
    assert_eq!(config.telemetry.otlp_endpoint, None);
    let with = |section: &str| format!("{MINIMAL}{section}\n");
    assert_eq!(rejected_key(&with("[admin]\nlisten = \"0.0.0.0:50051\"")), "admin.listen");
    assert_eq!(rejected_key(&with("[metrics]\nemf_service_name = \"\"")), "metrics.emf_service_name");
    assert_eq!(rejected_key(&with("[metrics]\nemf_service_name = \"a b\"")), "metrics.emf_service_name");
    assert_eq!(rejected_key(&with("[metrics]\nemf_interval_secs = 0")), "metrics.emf_interval_secs");
    assert_eq!(rejected_key(&with("[metrics]\nemf_interval_secs = 61")), "metrics.emf_interval_secs");
    for url in ["localhost:4318", "https://collector:4318", "http://"] {
        let key = rejected_key(&with(&format!("[telemetry]\notlp_endpoint = {url:?}")));
        assert_eq!(key, "telemetry.otlp_endpoint", "{url}");
    }
    // The directives the logger would drop without a word, as it did.
    for filter in ["info,bedrock_gateway=loud", "=", "info,[{"] {
        assert_eq!(rejected_key(&with(&format!("[logging]\nfilter = {filter:?}"))), "logging.filter", "{filter}");
    }
    Config::from_toml(&with("[logging]\nfilter = \"warn,bedrock_gateway::request=info\"")).unwrap();
    let config = Config::from_toml(&with("[telemetry]\notlp_endpoint = \"http://localhost:4318\"")).unwrap();
    assert_eq!(config.telemetry.otlp_endpoint.as_deref(), Some("http://localhost:4318"));
}

#[test]
fn durations_are_integers_in_their_keys_unit() {
    let config = Config::from_toml(&format!(
        "{MINIMAL}[server]\nshutdown_grace_secs = 7\n[bedrock]\nconnect_timeout_ms = 1500\n"
    ))
    .unwrap();
    assert_eq!(config.server.shutdown_grace_secs.get(), Duration::from_secs(7));
    assert_eq!(config.bedrock.connect_timeout_ms.get(), Duration::from_millis(1500));
    let text = toml::to_string(&config).unwrap();
    assert!(text.contains("\nshutdown_grace_secs = 7\n") && text.contains("\nconnect_timeout_ms = 1500\n"), "{text}");
    for (section, key, value) in
        [("server", "shutdown_grace_secs", 604_801), ("bedrock", "connect_timeout_ms", 604_800_001)]
    {
        let text = format!("{MINIMAL}[{section}]\n{key} = {value}\n");
        assert_eq!(rejected_key(&text), format!("{section}.{key}"), "more than 7 days");
    }
    let err = Config::from_toml(&format!("{MINIMAL}[server]\nshutdown_grace_secs = \"30s\"\n")).unwrap_err();
    assert!(err.to_string().contains("shutdown_grace_secs"), "{err}");
}

#[test]
fn wrong_types_and_unknown_keys_name_the_key() {
    let err = Config::from_toml(&format!("{MINIMAL}[server]\nmax_request_bytes = \"big\"\n")).unwrap_err();
    assert!(err.to_string().contains("max_request_bytes"), "{err}");
    let err = Config::from_toml(&format!("{MINIMAL}[server]\nscheduler = \"per_core\"\n")).unwrap_err();
    assert!(err.to_string().contains("server.scheduler"), "{err}");
    let err = Config::from_toml(&format!("{MINIMAL}[server]\nlisten_port = 1\n")).unwrap_err();
    assert!(err.to_string().contains("listen_port"), "{err}");
}

#[test]
#[allow(clippy::result_large_err)] // the closure's error type is figment::Jail's, not ours
fn file_then_environment_override_in_that_order() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("gateway.toml", &format!("{MINIMAL}[server]\nlisten = \"127.0.0.1:7000\"\n"))?;
        jail.set_env("BEDROCK_GATEWAY_SERVER__LISTEN", "127.0.0.1:7001");
        jail.set_env("BEDROCK_GATEWAY_MODELS__CHAT__MAX_TOKENS_CAP", "512");
        jail.set_env("BEDROCK_GATEWAY_SERVER__SHUTDOWN_GRACE_SECS", "5");
        jail.set_env("BEDROCK_GATEWAY_CONFIG", "ignored: names the file, read by the flag parser");
        let config = Config::load(Some(Path::new("gateway.toml"))).expect("loads");
        assert_eq!(config.server.listen.port(), 7001);
        assert_eq!(config.models["chat"].max_tokens_cap, 512);
        assert_eq!(config.server.shutdown_grace_secs.get(), Duration::from_secs(5));
        assert_eq!(config.models["chat"].model_id, "anthropic.claude-3-haiku-20240307-v1:0");
        // How Terraform configures tenants on ECS: variables, key digests from secrets.
        jail.set_env("BEDROCK_GATEWAY_TENANTS__TEAM_A__VPC_ENDPOINT_IDS", "[\"vpce-0123456789abcdef0\"]");
        jail.set_env("BEDROCK_GATEWAY_TENANTS__TEAM_A__MODELS", "[chat]");
        jail.set_env("BEDROCK_GATEWAY_TENANTS__TEAM_A__API_KEYS__CI", "ab".repeat(32));
        jail.set_env("BEDROCK_GATEWAY_TENANTS__TEAM_A__QUOTAS__TOKENS_PER_MINUTE", "1000");
        jail.set_env("BEDROCK_GATEWAY_QUOTAS__REDIS__PASSWORD", "from-secrets-manager");
        let config = Config::load(Some(Path::new("gateway.toml"))).expect("loads");
        let tenant = &config.tenants["team_a"];
        assert_eq!(tenant.vpc_endpoint_ids, ["vpce-0123456789abcdef0"]);
        assert_eq!(tenant.models.as_deref(), Some(&["chat".to_owned()][..]));
        assert_eq!(tenant.api_keys["ci"].digest(), "ab".repeat(32));
        assert_eq!(tenant.quotas.tokens_per_minute, Some(1000));
        assert_eq!(config.quotas.redis.password.as_deref(), Some("from-secrets-manager"));
        jail.set_env("BEDROCK_GATEWAY_SERVER__MAX_REQUEST_BYTES", "lots");
        let err = Config::load(Some(Path::new("gateway.toml"))).unwrap_err().to_string();
        assert!(err.to_lowercase().contains("server.max_request_bytes"), "{err}");
        Ok(())
    });
}

const DIGEST_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const DIGEST_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

#[test]
fn tenants_and_quotas_parse() {
    let config = Config::from_toml(&format!(
        "{MINIMAL}[server]\nproxy_protocol = true\n\
         [tenants.payments]\napi_keys = {{ ci = \"{DIGEST_A}\" }}\nvpc_endpoint_ids = [\"vpce-0123456789abcdef0\"]\n\
         models = [\"chat\"]\nquotas = {{ requests_per_minute = 600, tokens_per_minute = 100000 }}\n\
         [tenants.payments.model_quotas.chat]\nconcurrent_requests = 20\n\
         [quotas]\nstore = \"redis\"\nfallback_task_count = 3\n[quotas.redis]\nurl = \"rediss://cache.example:6379\"\n"
    ))
    .unwrap();
    let tenant = &config.tenants["payments"];
    assert_eq!(tenant.quotas.requests_per_minute, Some(600));
    assert_eq!(tenant.model_quotas["chat"].concurrent_requests, Some(20));
    assert_eq!(config.quotas.store, QuotaStoreKind::Redis);
    assert_eq!(config.quotas.redis.timeout_ms.get(), Duration::from_millis(100));
    assert!(config.auth.identity_required(&config.tenants), "a key is configured");
    assert!(!Config::from_toml(MINIMAL).unwrap().auth.identity_required(&BTreeMap::new()));
}

#[test]
fn identity_fails_closed_once_any_tenant_can_be_identified() {
    let required = |text: &str| {
        let config = Config::from_toml(&format!("{MINIMAL}[server]\nproxy_protocol = true\n{text}\n")).unwrap();
        config.auth.identity_required(&config.tenants)
    };
    let endpoint = "[tenants.a]\nvpc_endpoint_ids = [\"vpce-0123456789abcdef0\"]";
    assert!(!required(""), "nothing identifies anyone: the network is the boundary");
    assert!(!required("[tenants.a]\nmodels = [\"chat\"]"), "a tenant nothing identifies");
    assert!(required(endpoint));
    assert!(required(&format!("[tenants.a]\napi_keys = {{ ci = \"{DIGEST_A}\" }}")));
    assert!(!required(&format!("{endpoint}\n[tenants.default]")), "[tenants.default] lets them in");
    assert!(!required(&format!("{endpoint}\n[auth]\nrequire_identity = false")));
    assert!(required("[auth]\nrequire_identity = true"));
}

#[test]
fn tenant_mistakes_name_their_key() {
    let with = |text: &str| format!("{MINIMAL}[server]\nproxy_protocol = true\n{text}\n");
    let cases = [
        ("[tenants.Team]", "tenants.Team"),
        ("[tenants.a]\napi_keys = { ci = \"nope\" }", "tenants.a.api_keys.ci"),
        (
            &format!("[auth.api_keys]\nx = \"{DIGEST_A}\"\n[tenants.a]\napi_keys = {{ ci = \"{DIGEST_A}\" }}"),
            "tenants.a.api_keys.ci",
        ),
        (
            &format!("[auth.api_keys]\na = \"{DIGEST_A}\"\n[tenants.a]\napi_keys = {{ a = \"{DIGEST_B}\" }}"),
            "auth.api_keys.a",
        ),
        ("[tenants.a]\nvpc_endpoint_ids = [\"vpc-123\"]", "tenants.a.vpc_endpoint_ids"),
        (
            "[tenants.a]\nvpc_endpoint_ids = [\"vpce-0123456789abcdef0\"]\n[tenants.b]\nvpc_endpoint_ids = [\"vpce-0123456789abcdef0\"]",
            "tenants.b.vpc_endpoint_ids",
        ),
        ("[tenants.a]\nclient_cert_subjects = [\"CN=a\"]", "tenants.a.client_cert_subjects"),
        ("[tenants.a]\nmodels = [\"gpt\"]", "tenants.a.models"),
        (
            "[tenants.a]\nmodels = []\n[tenants.a.model_quotas.chat]\nrequests_per_minute = 1",
            "tenants.a.model_quotas.chat",
        ),
        ("[tenants.a.quotas]\ntokens_per_minute = 0", "tenants.a.quotas.tokens_per_minute"),
        ("[quotas]\nstore = \"redis\"", "quotas.redis.url"),
        ("[quotas]\nfallback_task_count = 0", "quotas.fallback_task_count"),
        (
            "[quotas]\nstore = \"redis\"\n[quotas.redis]\nurl = \"redis://127.0.0.1:6379\"\nkey_prefix = \"{x}\"",
            "quotas.redis.key_prefix",
        ),
        (
            "[quotas]\nstore = \"redis\"\n[quotas.redis]\nurl = \"redis://127.0.0.1:6379\"\nprefetch_percent = 26",
            "quotas.redis.prefetch_percent",
        ),
        (
            "[quotas]\nstore = \"redis\"\n[quotas.redis]\nurl = \"redis://127.0.0.1:6379\"\nlease_ms = 200",
            "quotas.redis.lease_ms",
        ),
        (
            "[quotas]\nstore = \"redis\"\n[quotas.redis]\nurl = \"rediss://127.0.0.1:6379\"\nca_file = \"/nonexistent.pem\"",
            "quotas.redis.ca_file",
        ),
    ];
    for (text, key) in cases {
        assert_eq!(rejected_key(&with(text)), key, "{text}");
    }
    let without_proxy = format!("{MINIMAL}[tenants.a]\nvpc_endpoint_ids = [\"vpce-0123456789abcdef0\"]\n");
    assert_eq!(rejected_key(&without_proxy), "tenants.a.vpc_endpoint_ids");
    let missing_cert =
        format!("{MINIMAL}[server.tls]\ncert_file = \"/nonexistent.pem\"\nkey_file = \"/nonexistent.key\"\n");
    assert_eq!(rejected_key(&missing_cert), "server.tls.cert_file");
}

#[test]
fn redis_iam_auth_parses_and_its_mistakes_name_their_key() {
    let redis = |text: &str| {
        format!("{MINIMAL}[quotas]\nstore = \"redis\"\n[quotas.redis]\nurl = \"rediss://cache.example:6379\"\n{text}\n")
    };
    let iam = "[quotas.redis.iam_auth]\ncache_name = \"bgw-quotas\"";
    let config = Config::from_toml(&redis(&format!("username = \"bedrock-gateway\"\n{iam}"))).unwrap();
    let iam_auth = config.quotas.redis.iam_auth.expect("iam_auth");
    assert_eq!(iam_auth.cache_name, "bgw-quotas");
    assert!(iam_auth.serverless, "serverless by default");
    assert_eq!((iam_auth.region, iam_auth.credentials), (None, CredentialsSource::AwsChain));
    let full = "[quotas.redis.iam_auth]\ncache_name = \"bgw\"\nserverless = false\nregion = \"eu-west-1\"\ncredentials = \"emulator\"";
    let config = Config::from_toml(&redis(&format!("username = \"bedrock-gateway\"\n{full}"))).unwrap();
    let iam_auth = config.quotas.redis.iam_auth.expect("iam_auth");
    assert!(!iam_auth.serverless);
    assert_eq!((iam_auth.region.as_deref(), iam_auth.credentials), (Some("eu-west-1"), CredentialsSource::Emulator));

    let cases = [
        (redis(iam), "quotas.redis.username"),
        (redis(&format!("username = \"bedrock gateway\"\n{iam}")), "quotas.redis.username"),
        (redis(&format!("username = \"bedrock-gateway\"\npassword = \"s3cret\"\n{iam}")), "quotas.redis.password"),
        (redis(&format!("username = \"bedrock-gateway\"\n{iam}")).replace("rediss://", "redis://"), "quotas.redis.url"),
        (
            redis("username = \"bedrock-gateway\"\n[quotas.redis.iam_auth]\ncache_name = \"bgw.quotas\""),
            "quotas.redis.iam_auth.cache_name",
        ),
        (redis(&format!("username = \"bedrock-gateway\"\n{iam}\nregion = \"\"")), "quotas.redis.iam_auth.region"),
    ];
    for (text, key) in cases {
        assert_eq!(rejected_key(&text), key, "{text}");
    }
    let missing =
        Config::from_toml(&redis("username = \"bedrock-gateway\"\n[quotas.redis.iam_auth]\nserverless = true"));
    let err = missing.unwrap_err().to_string();
    assert!(err.contains("cache_name"), "{err}");
}

#[test]
fn a_key_digest_is_one_key_whatever_its_case() {
    let upper = DIGEST_A.to_ascii_uppercase();
    let cases = [
        (
            format!(
                "[tenants.a]\napi_keys = {{ ci = \"{DIGEST_A}\" }}\n[tenants.b]\napi_keys = {{ ci = \"{upper}\" }}"
            ),
            "tenants.b.api_keys.ci",
            "tenants.a.api_keys.ci",
        ),
        (
            format!("[auth.api_keys]\nx = \"{upper}\"\n[tenants.a]\napi_keys = {{ ci = \"{DIGEST_A}\" }}"),
            "tenants.a.api_keys.ci",
            "auth.api_keys.x",
        ),
        (
            format!("[tenants.a]\napi_keys = {{ ci = \"{upper}\", ops = \"{DIGEST_A}\" }}"),
            "tenants.a.api_keys.ops",
            "tenants.a.api_keys.ci",
        ),
    ];
    for (text, second, first) in cases {
        match Config::from_toml(&format!("{MINIMAL}{text}\n")) {
            Err(ConfigError::Invalid { key, reason }) => {
                assert_eq!(key, second, "{text}");
                assert!(reason.contains(first), "names both places: {reason}");
            }
            other => panic!("{text}: expected a refusal, got {other:?}"),
        }
    }
    Config::from_toml(&format!("{MINIMAL}[tenants.a]\napi_keys = {{ ci = \"{upper}\" }}\n")).unwrap();
}

#[test]
fn key_digests_and_names_are_checked_where_they_are_written() {
    let cases = [
        (format!("[auth.api_keys]\n\"Bad Name!\" = \"{DIGEST_A}\""), "auth.api_keys.Bad Name!"),
        (format!("[tenants.a]\napi_keys = {{ \"Bad Name!\" = \"{DIGEST_A}\" }}"), "tenants.a.api_keys.Bad Name!"),
        (format!("[tenants.payments]\napi_keys = {{ ci = \"{}\" }}", &DIGEST_A[1..]), "tenants.payments.api_keys.ci"),
        (format!("[tenants.payments]\napi_keys = {{ ci = \"{}g\" }}", &DIGEST_A[1..]), "tenants.payments.api_keys.ci"),
        (format!("[auth.api_keys]\nci = \"{DIGEST_A}0\""), "auth.api_keys.ci"),
    ];
    for (text, key) in cases {
        assert_eq!(rejected_key(&format!("{MINIMAL}{text}\n")), key, "{text}");
    }
}

#[test]
fn the_redis_password_is_never_printed() {
    let mut config = Config::from_toml(MINIMAL).unwrap();
    config.quotas.redis.password = Some("hunter2".to_owned());
    assert!(!toml::to_string(&config).unwrap().contains("hunter2"));
    assert!(!format!("{config:?}").contains("hunter2"));
}

#[test]
fn check_config_prints_the_defaults_that_depend_on_other_keys() {
    let config = Config::from_toml(
        "[models.chat]\nmodel_id = \"us.anthropic.claude-3-5-haiku-20241022-v1:0\"\n\
         guardrail = { id = \"abc123\", version = \"DRAFT\" }\n\
         additional_request_fields = { thinking = { type = \"enabled\", budget_tokens = 2048 } }\n",
    )
    .unwrap();
    let text = toml::to_string_pretty(&config.clone().with_derived_defaults()).unwrap();
    assert!(text.contains("require_identity = false"), "{text}");
    assert!(text.contains("version = \"chat\""), "{text}");
    assert!(text.contains("default_max_tokens = 1024"), "{text}");
    let again = Config::from_toml(&text).unwrap();
    assert_eq!(again.models["chat"].additional_request_fields, config.models["chat"].additional_request_fields);
    assert_eq!(again.models["chat"].guardrail, config.models["chat"].guardrail);
}

#[test]
fn an_api_key_is_a_digest_or_a_table_with_its_lifetime() {
    let config = Config::from_toml(&format!(
        "{MINIMAL}[tenants.a.api_keys]\nold = \"{DIGEST_A}\"\n\
         new = {{ sha256 = \"{DIGEST_B}\", not_before = \"2027-01-01T12:00:00+02:00\", expires_on = \"2027-01-31\" }}\n"
    ))
    .unwrap();
    let keys = &config.tenants["a"].api_keys;
    assert_eq!((keys["old"].digest(), keys["old"].expires_on()), (DIGEST_A, None));
    assert_eq!(keys["new"].digest(), DIGEST_B);
    let not_before = keys["new"].not_before().unwrap();
    assert_eq!(format_time(not_before), "2027-01-01T10:00:00Z", "an offset is kept, shown in UTC");
    assert_eq!(format_time(keys["new"].expires_on().unwrap()), "2027-01-31T00:00:00Z", "a date is 00:00 UTC");
    let shorthand = Config::from_toml(&format!(
        "{MINIMAL}[auth.api_keys]\nops = {{ sha256 = \"{DIGEST_A}\", expires_on = \"2027-01-31\" }}\n"
    ))
    .unwrap();
    assert!(shorthand.auth.api_keys["ops"].expires_on().is_some());
}

#[test]
fn api_key_lifetime_mistakes_name_their_key() {
    let cases = [
        (
            format!("[tenants.a.api_keys]\nci = {{ sha256 = \"{DIGEST_A}\", expires_on = \"soon\" }}"),
            "tenants.a.api_keys.ci.expires_on",
        ),
        (
            format!("[tenants.a.api_keys]\nci = {{ sha256 = \"{DIGEST_A}\", not_before = \"2027-02-30\" }}"),
            "tenants.a.api_keys.ci.not_before",
        ),
        (
            format!(
                "[tenants.a.api_keys]\nci = {{ sha256 = \"{DIGEST_A}\", not_before = \"2027-02-01\", expires_on = \"2027-01-31\" }}"
            ),
            "tenants.a.api_keys.ci.not_before",
        ),
        (format!("[tenants.a.api_keys]\nci = {{ sha256 = \"{}\" }}", &DIGEST_A[1..]), "tenants.a.api_keys.ci.sha256"),
        (
            format!("[auth.api_keys]\nops = {{ sha256 = \"{DIGEST_A}\", expires_on = \"31/01/2027\" }}"),
            "auth.api_keys.ops.expires_on",
        ),
    ];
    for (text, key) in cases {
        assert_eq!(rejected_key(&format!("{MINIMAL}{text}\n")), key, "{text}");
    }
    let unknown_field = Config::from_toml(&format!(
        "{MINIMAL}[tenants.a.api_keys]\nci = {{ sha256 = \"{DIGEST_A}\", expires = \"2027-01-31\" }}\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(unknown_field.contains("tenants.a.api_keys.ci"), "{unknown_field}");
    // TOML's own date literal is not a key time: times are quoted strings.
    let unquoted = Config::from_toml(&format!(
        "{MINIMAL}[tenants.a.api_keys]\nci = {{ sha256 = \"{DIGEST_A}\", expires_on = 2027-01-31 }}\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(unquoted.contains("tenants.a.api_keys.ci.expires_on"), "{unquoted}");
}

#[test]
fn tenants_from_s3_leave_no_tenant_or_key_in_the_file() {
    let s3 = "[tenants_source.s3]\nbucket = \"platform\"\nkey = \"gateway/tenants.json\"\n";
    assert!(Config::from_toml(&format!("{MINIMAL}{s3}")).is_ok());
    assert_eq!(rejected_key(&format!("{MINIMAL}{s3}[tenants.a]\nmodels = [\"chat\"]\n")), "tenants");
    assert_eq!(rejected_key(&format!("{MINIMAL}{s3}[auth.api_keys]\na = \"{DIGEST_A}\"\n")), "auth.api_keys");
    assert_eq!(
        rejected_key(&format!("{MINIMAL}[tenants_source.s3]\nbucket = \"\"\nkey = \"k\"\n")),
        "tenants_source.s3.bucket"
    );
    assert_eq!(
        rejected_key(&format!("{MINIMAL}[tenants_source]\nreload_secs = 86401\n")),
        "tenants_source.reload_secs"
    );
}
