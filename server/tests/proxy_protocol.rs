//! Behind an NLB with PROXY protocol v2 on, the gateway learns each client's real address and
//! PrivateLink endpoint; connections without the header are refused, not misread. Once a tenant is
//! known by its endpoint, a header without an endpoint id, with one no tenant lists, or a LOCAL
//! header carrying one, identifies nobody, and such endpoint ids never become metric labels.

use std::net::SocketAddr;

use bedrock_emulator::EmulatorConfig;
use bedrock_gateway::Config;
use bedrock_gateway::config::TenantConfig;
use bedrock_gateway::proxy_protocol::encode;
use bedrock_gateway_proto::v1::gateway_service_client::GatewayServiceClient;
use bedrock_gateway_testkit::{LogCapture, TestGateway, collect, local_header_with_endpoint, user_request};
use tonic::Code;
use tonic::transport::Channel;

const SEARCH_ENDPOINT: &str = "vpce-0bbbbbbbbbbbbbbbb";
/// An endpoint id no tenant lists, as anyone who can send a PROXY header may invent.
const FORGED_ENDPOINT: &str = "vpce-0f0f0f0f0f0f0f0f0";

fn client_addr() -> SocketAddr {
    "10.0.0.7:40000".parse().unwrap()
}

/// Behind the NLB, with `search` known by its PrivateLink endpoint alone, changed by `adjust`.
async fn search_by_endpoint(adjust: impl FnOnce(&mut Config)) -> TestGateway {
    TestGateway::start_with_admin(EmulatorConfig::default(), |config| {
        config.server.proxy_protocol = true;
        config.tenants.insert(
            "search".into(),
            TenantConfig { vpc_endpoint_ids: vec![SEARCH_ENDPOINT.into()], ..TenantConfig::default() },
        );
        adjust(config);
    })
    .await
}

/// Calls Converse over `channel`: the call's code and, once written, its request log line (the
/// request's metrics are recorded just before it).
async fn converse_over(channel: Channel, captured: &LogCapture) -> (Code, serde_json::Value) {
    let result = GatewayServiceClient::new(channel).converse(user_request("chat", "hi")).await;
    let (code, metadata) = match &result {
        Ok(response) => (Code::Ok, response.metadata()),
        Err(status) => (status.code(), status.metadata()),
    };
    let request_id = metadata.get("x-request-id").expect("every answer has a request id").to_str().unwrap();
    (code, captured.request_line(request_id).await)
}

#[tokio::test]
async fn connections_with_a_header_are_served_and_without_are_refused() {
    let gateway = TestGateway::start_with(|config| config.server.proxy_protocol = true).await;
    let channel = gateway.proxy_protocol_channel("10.20.30.40:40000".parse().unwrap(), "vpce-0abc").await;
    let mut client = GatewayServiceClient::new(channel);
    let collected = collect(&mut client, user_request("chat", "through the NLB")).await;
    assert!(collected.usage.is_some(), "{:?}", collected.error);

    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{}", gateway.addr)).unwrap();
    let refused = match endpoint.connect().await {
        Err(_) => true,
        Ok(channel) => {
            GatewayServiceClient::new(channel).converse_stream(user_request("chat", "no header")).await.is_err()
        }
    };
    assert!(refused, "a connection without a PROXY protocol header must not be served");
    assert_eq!(gateway.emulator.requests_served(), 1);
}

#[tokio::test]
async fn the_container_health_check_speaks_proxy_protocol_when_the_gateway_needs_it() {
    let gateway = TestGateway::start_with(|config| config.server.proxy_protocol = true).await;
    gateway.channel_ready_over_proxy_protocol().await;
    let addr = gateway.addr.to_string();
    let healthcheck = move |proxy_protocol: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_bedrock-gateway"))
            .args(["healthcheck", "--addr", &addr])
            .env("BEDROCK_GATEWAY_SERVER__PROXY_PROTOCOL", proxy_protocol)
            .output()
            .unwrap()
    };
    let (with_header, without_header) =
        tokio::task::spawn_blocking(move || (healthcheck("true"), healthcheck("false"))).await.unwrap();
    assert!(with_header.status.success(), "{}", String::from_utf8_lossy(&with_header.stderr));
    assert!(!without_header.status.success(), "a plain connection is refused, so the check fails");
}

#[tokio::test]
async fn with_endpoint_tenants_a_header_without_a_listed_endpoint_is_unauthenticated() {
    let captured = LogCapture::install();
    let gateway = search_by_endpoint(|_| {}).await;

    let without_endpoint = gateway.channel_behind(encode(client_addr(), gateway.addr, None)).await;
    let (code, line) = converse_over(without_endpoint, &captured).await;
    assert_eq!(code, Code::Unauthenticated, "no endpoint id is no identity, not the default tenant: {line}");
    let (code, line) =
        converse_over(gateway.proxy_protocol_channel(client_addr(), FORGED_ENDPOINT).await, &captured).await;
    assert_eq!(code, Code::Unauthenticated, "{line}");
    assert_eq!(line["vpce"], FORGED_ENDPOINT, "the log line still says where it came from");
    let (code, line) =
        converse_over(gateway.proxy_protocol_channel(client_addr(), SEARCH_ENDPOINT).await, &captured).await;
    assert_eq!((code, &line["tenant"]), (Code::Ok, &serde_json::json!("search")), "{line}");
    assert_eq!(gateway.emulator.requests_served(), 1);

    let metrics = gateway.admin_get("/metrics").await.1;
    assert!(!metrics.contains(FORGED_ENDPOINT), "an endpoint id no tenant lists is no label:\n{metrics}");
    assert!(metrics.contains(&format!("caller=\"{SEARCH_ENDPOINT}\"")), "search's own endpoint is:\n{metrics}");
}

#[tokio::test]
async fn a_local_header_identifies_nobody_whatever_it_carries() {
    let captured = LogCapture::install();
    let gateway = search_by_endpoint(|_| {}).await;
    let header = local_header_with_endpoint(client_addr(), gateway.addr, SEARCH_ENDPOINT);
    let (code, line) = converse_over(gateway.channel_behind(header).await, &captured).await;
    assert_eq!(code, Code::Unauthenticated, "{line}");
    assert!(line["vpce"].is_null(), "{line}");
    let peer = line["peer"].as_str().unwrap_or_default();
    assert!(peer.starts_with("127.0.0.1:"), "the connection's own address, not the header's: {line}");
    assert_eq!(gateway.emulator.requests_served(), 0);
}

#[tokio::test]
async fn a_configured_default_tenant_keeps_unidentified_callers_in() {
    let captured = LogCapture::install();
    let gateway = search_by_endpoint(|config| {
        let default = TenantConfig { models: Some(vec!["chat".into()]), ..TenantConfig::default() };
        config.tenants.insert("default".into(), default);
    })
    .await;
    let without_endpoint = gateway.channel_behind(encode(client_addr(), gateway.addr, None)).await;
    let forged = gateway.proxy_protocol_channel(client_addr(), FORGED_ENDPOINT).await;
    for channel in [without_endpoint, forged] {
        let (code, line) = converse_over(channel, &captured).await;
        assert_eq!((code, &line["tenant"]), (Code::Ok, &serde_json::json!("default")), "{line}");
    }
    let metrics = gateway.admin_get("/metrics").await.1;
    assert!(!metrics.contains(FORGED_ENDPOINT), "served, yet still no label:\n{metrics}");
}
