//! With API keys configured, the gateway service needs `authorization: Bearer <key>`; health and
//! reflection stay open for load balancers and grpcurl.

use bedrock_gateway_testkit::{TestGateway, collect, user_request};
use sha2::{Digest, Sha256};
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

fn with_key(key: &str) -> tonic::Request<bedrock_gateway_proto::v1::ConverseRequest> {
    let mut request = tonic::Request::new(user_request("chat", "hello"));
    request.metadata_mut().insert("authorization", format!("Bearer {key}").parse().unwrap());
    request
}

#[tokio::test]
async fn only_known_keys_may_call_the_gateway() {
    let digest = format!("{:x}", Sha256::digest(b"key-of-team-a"));
    let gateway = TestGateway::start_with(|config| {
        config.auth.api_keys.insert("team-a".into(), digest.into());
    })
    .await;
    let mut client = gateway.stub().await;

    let missing = collect(&mut client, user_request("chat", "hello")).await.error.unwrap();
    assert_eq!(missing.code(), Code::Unauthenticated);
    assert!(missing.message().contains("authorization: Bearer"), "{}", missing.message());
    let wrong = client.converse_stream(with_key("key-of-team-b")).await.unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);
    assert_eq!(gateway.emulator.requests_served(), 0);

    let mut stream = client.converse_stream(with_key("key-of-team-a")).await.unwrap().into_inner();
    let mut events = 0;
    while stream.message().await.unwrap().is_some() {
        events += 1;
    }
    assert!(events > 2);

    let mut health = HealthClient::new(gateway.channel().await);
    assert!(health.check(HealthCheckRequest { service: String::new() }).await.is_ok());
}
