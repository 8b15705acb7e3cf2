//! Tenants over real sockets: each identity source right, wrong and missing; which one wins, a
//! client certificate's through PrivateLink included; a tenant refused a model it may not use and
//! shown only its own models; refusals that never name another tenant.

use bedrock_gateway::config::{TenantConfig, TlsConfig};
use bedrock_gateway_proto::v1;
use bedrock_gateway_proto::v1::gateway_service_client::GatewayServiceClient;
use bedrock_gateway_testkit::{
    Certified, TestGateway, TestPki, api_key_digest, collect_request, user_request, with_api_key,
};
use tonic::Code;
use tonic::transport::Channel;

const PAYMENTS_ENDPOINT: &str = "vpce-0aaaaaaaaaaaaaaaa";
const SEARCH_ENDPOINT: &str = "vpce-0bbbbbbbbbbbbbbbb";
const UNKNOWN_ENDPOINT: &str = "vpce-0cccccccccccccccc";

/// Two teams behind PrivateLink: `payments` with a key, its endpoint and only `chat`; `search`
/// known by its endpoint alone.
async fn two_teams(require_endpoint_match: bool) -> TestGateway {
    let payments = TenantConfig {
        api_keys: [("ci".to_owned(), api_key_digest("payments-key").into())].into(),
        vpc_endpoint_ids: vec![PAYMENTS_ENDPOINT.into()],
        models: Some(vec!["chat".into()]),
        ..TenantConfig::default()
    };
    beside_search(require_endpoint_match, None, "payments", payments).await
}

/// Behind the NLB (PROXY protocol v2), TLS as given: `name` as configured, and `search`, known by
/// its endpoint alone.
async fn beside_search(
    require_endpoint_match: bool,
    tls: Option<TlsConfig>,
    name: &str,
    tenant: TenantConfig,
) -> TestGateway {
    TestGateway::start_with(|config| {
        config.server.proxy_protocol = true;
        config.server.tls = tls;
        config.auth.require_endpoint_match = require_endpoint_match;
        config.tenants.insert(name.into(), tenant);
        config.tenants.insert(
            "search".into(),
            TenantConfig { vpc_endpoint_ids: vec![SEARCH_ENDPOINT.into()], ..TenantConfig::default() },
        );
    })
    .await
}

async fn client_through(gateway: &TestGateway, endpoint: &str) -> GatewayServiceClient<Channel> {
    GatewayServiceClient::new(gateway.proxy_protocol_channel("10.0.0.7:40000".parse().unwrap(), endpoint).await)
}

fn plain(message: v1::ConverseRequest) -> tonic::Request<v1::ConverseRequest> {
    tonic::Request::new(message)
}

async fn model_names(
    client: &mut GatewayServiceClient<Channel>,
    request: tonic::Request<v1::ListModelsRequest>,
) -> Vec<String> {
    client.list_models(request).await.unwrap().into_inner().models.into_iter().map(|model| model.name).collect()
}

#[tokio::test]
async fn each_identity_source_right_wrong_and_missing() {
    let gateway = two_teams(false).await;
    let mut payments = client_through(&gateway, PAYMENTS_ENDPOINT).await;

    let keyed = collect_request(&mut payments, with_api_key(user_request("chat", "hi"), "payments-key")).await;
    assert!(keyed.error.is_none() && keyed.usage.is_some(), "{:?}", keyed.error);
    let wrong_key = collect_request(&mut payments, with_api_key(user_request("chat", "hi"), "guessed")).await;
    assert_eq!(wrong_key.error.unwrap().code(), Code::Unauthenticated, "an unknown key is refused, not downgraded");

    let mut search = client_through(&gateway, SEARCH_ENDPOINT).await;
    let by_endpoint = collect_request(&mut search, plain(user_request("profile", "hi"))).await;
    assert!(by_endpoint.error.is_none(), "the endpoint alone identifies search: {:?}", by_endpoint.error);

    let mut stranger = client_through(&gateway, UNKNOWN_ENDPOINT).await;
    let missing = collect_request(&mut stranger, plain(user_request("chat", "hi"))).await.error.unwrap();
    assert_eq!(missing.code(), Code::Unauthenticated, "keys are configured, so identity is required");
    assert!(missing.message().contains("authorization: Bearer"), "{}", missing.message());
    for tenant in ["payments", "search"] {
        assert!(!missing.message().contains(tenant), "{}", missing.message());
    }
    let listing = stranger.list_models(v1::ListModelsRequest::default()).await.unwrap_err();
    assert_eq!(listing.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn a_tenant_sees_and_calls_only_its_models() {
    let gateway = two_teams(false).await;
    let mut payments = client_through(&gateway, PAYMENTS_ENDPOINT).await;
    let served_before = gateway.emulator.requests_served();

    let refused = collect_request(&mut payments, with_api_key(user_request("profile", "hi"), "payments-key")).await;
    let refused = refused.error.unwrap();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(
        refused.message().contains("\"profile\"") && refused.message().contains("ListModels"),
        "{}",
        refused.message()
    );
    let unknown = collect_request(&mut payments, with_api_key(user_request("gpt-9", "hi"), "payments-key")).await;
    let unknown = unknown.error.unwrap();
    assert_eq!(unknown.code(), Code::NotFound);
    assert!(unknown.message().ends_with("this gateway offers: chat"), "only its own models: {}", unknown.message());
    assert_eq!(gateway.emulator.requests_served(), served_before, "nothing reached Bedrock");

    let listed = model_names(&mut payments, with_api_key(v1::ListModelsRequest::default(), "payments-key")).await;
    assert_eq!(listed, ["chat"]);
    let mut search = client_through(&gateway, SEARCH_ENDPOINT).await;
    let everything = model_names(&mut search, tonic::Request::new(v1::ListModelsRequest::default())).await;
    assert!(everything.len() > 10 && everything.contains(&"profile".to_owned()), "{everything:?}");
}

#[tokio::test]
async fn a_key_must_come_through_its_own_endpoint_when_required() {
    let lenient = two_teams(false).await;
    let mut elsewhere = client_through(&lenient, SEARCH_ENDPOINT).await;
    let served = collect_request(&mut elsewhere, with_api_key(user_request("chat", "hi"), "payments-key")).await;
    assert!(served.error.is_none(), "without the option the key wins: {:?}", served.error);

    let strict = two_teams(true).await;
    let mut elsewhere = client_through(&strict, SEARCH_ENDPOINT).await;
    let refused = collect_request(&mut elsewhere, with_api_key(user_request("chat", "hi"), "payments-key")).await;
    let refused = refused.error.unwrap();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(
        refused.message().contains(SEARCH_ENDPOINT) && !refused.message().contains("search"),
        "{}",
        refused.message()
    );
    let mut own = client_through(&strict, PAYMENTS_ENDPOINT).await;
    let served = collect_request(&mut own, with_api_key(user_request("chat", "hi"), "payments-key")).await;
    assert!(served.error.is_none(), "{:?}", served.error);
}

#[tokio::test]
async fn unidentified_callers_are_the_default_tenant_unless_identity_is_required() {
    let gateway = TestGateway::start_with(|config| {
        config
            .tenants
            .insert("default".into(), TenantConfig { models: Some(vec!["chat".into()]), ..TenantConfig::default() });
    })
    .await;
    let mut client = gateway.stub().await;
    assert_eq!(model_names(&mut client, tonic::Request::new(v1::ListModelsRequest::default())).await, ["chat"]);
    let served = collect_request(&mut client, plain(user_request("chat", "hi"))).await;
    assert!(served.error.is_none(), "{:?}", served.error);

    let required = TestGateway::start_with(|config| config.auth.require_identity = Some(true)).await;
    let refused = collect_request(&mut required.stub().await, plain(user_request("chat", "hi"))).await;
    assert_eq!(refused.error.unwrap().code(), Code::Unauthenticated);
}

#[tokio::test]
async fn a_client_certificate_names_its_tenant() {
    let pki = TestPki::new();
    let gateway = TestGateway::start_with(|config| {
        config.server.tls = Some(pki.mutual_tls(false));
        config.tenants.insert(
            "orders".into(),
            TenantConfig {
                client_cert_subjects: vec!["CN=orders-service,O=Example Corp".into()],
                api_keys: [("ci".to_owned(), api_key_digest("orders-key").into())].into(),
                models: Some(vec!["chat".into()]),
                ..TenantConfig::default()
            },
        );
        config.tenants.insert(
            "billing".into(),
            TenantConfig {
                api_keys: [("ci".to_owned(), api_key_digest("billing-key").into())].into(),
                ..TenantConfig::default()
            },
        );
    })
    .await;
    let orders = pki.client("orders-service", "Example Corp");
    let mut client = GatewayServiceClient::new(gateway.tls_channel(&pki, Some(&orders)).await.unwrap());
    let listed = model_names(&mut client, tonic::Request::new(v1::ListModelsRequest::default())).await;
    assert_eq!(listed, ["chat"], "the certificate alone identifies orders");
    let served = collect_request(&mut client, plain(user_request("chat", "hi"))).await;
    assert!(served.error.is_none(), "{:?}", served.error);
    let same_tenant = collect_request(&mut client, with_api_key(user_request("chat", "hi"), "orders-key")).await;
    assert!(same_tenant.error.is_none(), "a key of the certificate's own tenant: {:?}", same_tenant.error);
    let mixed = collect_request(&mut client, with_api_key(user_request("chat", "hi"), "billing-key")).await;
    let mixed = mixed.error.unwrap();
    assert_eq!(mixed.code(), Code::PermissionDenied, "a key and a certificate of different tenants");
    assert!(!mixed.message().contains("billing") && !mixed.message().contains("orders"), "{}", mixed.message());

    let stranger = pki.client("unknown-service", "Example Corp");
    let mut client = GatewayServiceClient::new(gateway.tls_channel(&pki, Some(&stranger)).await.unwrap());
    let refused = collect_request(&mut client, plain(user_request("chat", "hi"))).await.error.unwrap();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert!(refused.message().contains("certificate's subject is not registered"), "{}", refused.message());
}

/// Behind the NLB with mTLS: `orders` known by its certificate and its own endpoint, `search` by
/// its endpoint alone.
async fn certificates_behind_privatelink(pki: &TestPki, require_endpoint_match: bool) -> TestGateway {
    let orders = TenantConfig {
        client_cert_subjects: vec!["CN=orders-service,O=Example Corp".into()],
        vpc_endpoint_ids: vec![PAYMENTS_ENDPOINT.into()],
        models: Some(vec!["chat".into()]),
        ..TenantConfig::default()
    };
    beside_search(require_endpoint_match, Some(pki.mutual_tls(true)), "orders", orders).await
}

async fn certificate_through(
    gateway: &TestGateway,
    endpoint: &str,
    pki: &TestPki,
    certificate: &Certified,
) -> GatewayServiceClient<Channel> {
    let source = "10.0.0.7:40000".parse().unwrap();
    GatewayServiceClient::new(
        gateway.proxy_protocol_tls_channel(source, endpoint, pki, Some(certificate)).await.unwrap(),
    )
}

#[tokio::test]
async fn a_certificate_outranks_the_endpoint_it_comes_through() {
    let pki = TestPki::new();
    let gateway = certificates_behind_privatelink(&pki, false).await;
    let orders = pki.client("orders-service", "Example Corp");
    let mut client = certificate_through(&gateway, SEARCH_ENDPOINT, &pki, &orders).await;
    let listed = model_names(&mut client, tonic::Request::new(v1::ListModelsRequest::default())).await;
    assert_eq!(listed, ["chat"], "orders' models, not those of the endpoint's tenant");
    let served = collect_request(&mut client, plain(user_request("chat", "hi"))).await;
    assert!(served.error.is_none(), "{:?}", served.error);
    let refused = collect_request(&mut client, plain(user_request("profile", "hi"))).await.error.unwrap();
    assert_eq!(refused.code(), Code::PermissionDenied, "search may use profile; orders may not");

    // A certificate no tenant lists is refused, not taken for the endpoint's tenant.
    let stranger = pki.client("unknown-service", "Example Corp");
    let mut client = certificate_through(&gateway, SEARCH_ENDPOINT, &pki, &stranger).await;
    let refused = collect_request(&mut client, plain(user_request("chat", "hi"))).await.error.unwrap();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert!(refused.message().contains("certificate's subject is not registered"), "{}", refused.message());
}

#[tokio::test]
async fn a_certificate_must_come_through_its_own_endpoint_when_required() {
    let pki = TestPki::new();
    let gateway = certificates_behind_privatelink(&pki, true).await;
    let orders = pki.client("orders-service", "Example Corp");
    let mut elsewhere = certificate_through(&gateway, SEARCH_ENDPOINT, &pki, &orders).await;
    let refused = collect_request(&mut elsewhere, plain(user_request("chat", "hi"))).await.error.unwrap();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let message = refused.message();
    assert!(message.contains("client certificate") && message.contains(SEARCH_ENDPOINT), "{message}");
    assert!(!message.contains("search") && !message.contains("orders"), "never names a tenant: {message}");
    let mut own = certificate_through(&gateway, PAYMENTS_ENDPOINT, &pki, &orders).await;
    let served = collect_request(&mut own, plain(user_request("chat", "hi"))).await;
    assert!(served.error.is_none(), "{:?}", served.error);
}
