//! Behind an NLB with PROXY protocol v2 on, the gateway learns each client's real address and
//! PrivateLink endpoint; connections without the header are refused, not misread.

use bedrock_gateway_proto::v1::gateway_service_client::GatewayServiceClient;
use bedrock_gateway_testkit::{TestGateway, collect, user_request};

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
