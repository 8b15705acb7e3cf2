//! The server's life: health and reflection answer like any gRPC server's, and shutdown drains
//! in-flight streams before stopping, cutting only those still open when the grace period ends.

use std::time::{Duration, Instant};

use bedrock_emulator::EmulatorConfig;
use bedrock_gateway::config::Seconds;
use bedrock_gateway_proto::v1;
use bedrock_gateway_testkit::{TestGateway, collect, user_request};
use tokio_stream::StreamExt;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

#[tokio::test]
async fn health_reports_serving_for_the_server_and_the_gateway_service() {
    let gateway = TestGateway::start().await;
    let mut health = HealthClient::new(gateway.channel().await);
    for service in ["", "bedrock.gateway.v1.GatewayService"] {
        let response = health.check(HealthCheckRequest { service: service.into() }).await.unwrap();
        assert_eq!(response.into_inner().status, ServingStatus::Serving as i32, "service {service:?}");
    }
}

#[tokio::test]
async fn reflection_v1_lists_the_services() {
    let gateway = TestGateway::start().await;
    let mut reflection = ServerReflectionClient::new(gateway.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection.server_reflection_info(tokio_stream::once(request)).await.unwrap().into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) = responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let names: Vec<_> = list.service.into_iter().map(|service| service.name).collect();
    for expected in ["bedrock.gateway.v1.GatewayService", "grpc.health.v1.Health"] {
        assert!(names.iter().any(|name| name == expected), "{expected} in {names:?}");
    }
}

#[tokio::test]
async fn shutdown_lets_in_flight_streams_finish() {
    let pacing = EmulatorConfig { inter_token_gap: Duration::from_millis(40), ..EmulatorConfig::default() };
    let mut gateway = TestGateway::start_with_emulator(pacing, |_| {}).await;
    let mut client = gateway.stub().await;
    let mut stream = client.converse_stream(user_request("chat", "finish me")).await.unwrap().into_inner();
    stream.message().await.unwrap().expect("the stream has started");
    gateway.begin_shutdown();
    let mut last = None;
    while let Some(event) = stream.message().await.expect("the stream is not cut") {
        last = event.event;
    }
    assert!(matches!(last, Some(v1::converse_stream_event::Event::Usage(_))), "ends with usage");
    gateway.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_cuts_streams_still_open_after_the_grace_period() {
    let mut gateway = TestGateway::start_with(|config| config.server.shutdown_grace_secs = Seconds(1)).await;
    let mut client = gateway.stub().await;
    let mut stream = client.converse_stream(user_request("fault-stall", "never ends")).await.unwrap().into_inner();
    stream.message().await.unwrap().expect("the stream has started");
    let started = Instant::now();
    gateway.begin_shutdown();
    let outcome = loop {
        match stream.message().await {
            Ok(Some(_)) => continue,
            other => break other,
        }
    };
    let status = outcome.expect_err("a cut stream ends with an error, never cleanly");
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert!(status.message().contains("incomplete"), "{}", status.message());
    assert!(started.elapsed() < Duration::from_secs(5));
    gateway.stop().await.unwrap();
}

#[tokio::test]
async fn a_bad_config_is_refused_naming_the_key() {
    let emulator = bedrock_emulator::Emulator::start(EmulatorConfig::default()).await.unwrap();
    let mut config = bedrock_gateway_testkit::test_config(emulator.endpoint_url());
    config.server.max_concurrent_requests = 0;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = bedrock_gateway::serve(config, listener, std::future::pending()).await.unwrap_err();
    assert!(err.to_string().contains("server.max_concurrent_requests"), "{err}");
}

#[tokio::test]
async fn many_concurrent_streams_each_get_their_own_answer() {
    let gateway = TestGateway::start().await;
    let client = gateway.stub().await;
    let streams = (0..50).map(|i| {
        let mut client = client.clone();
        async move {
            let prompt = format!("question number {i}");
            (prompt.clone(), collect(&mut client, user_request("chat", &prompt)).await)
        }
    });
    for (prompt, collected) in futures::future::join_all(streams).await {
        let expected = bedrock_emulator::expected_answer(&prompt, Some(1000), bedrock_gateway_testkit::ANSWER_TOKENS);
        assert_eq!(collected.text, expected.text(), "{prompt}");
    }
}

#[tokio::test]
async fn shutdown_turns_health_not_serving_first_and_ends_watch_streams() {
    let pacing = EmulatorConfig { inter_token_gap: Duration::from_millis(100), ..EmulatorConfig::default() };
    let mut gateway = TestGateway::start_with_emulator(pacing, |_| {}).await;
    let mut client = gateway.stub().await;
    let mut stream = client.converse_stream(user_request("chat", "still answering")).await.unwrap().into_inner();
    stream.message().await.unwrap().expect("the stream has started");
    let mut health = HealthClient::new(gateway.channel().await);
    let mut watches = Vec::new();
    for service in ["", "bedrock.gateway.v1.GatewayService"] {
        let mut watch = health.watch(HealthCheckRequest { service: service.into() }).await.unwrap().into_inner();
        assert_eq!(watch.message().await.unwrap().unwrap().status, ServingStatus::Serving as i32);
        watches.push(watch);
    }

    gateway.begin_shutdown();
    for mut watch in watches {
        let update = watch.message().await.expect("the update comes before the end").expect("an update");
        assert_eq!(update.status, ServingStatus::NotServing as i32);
        let end = tokio::time::timeout(Duration::from_secs(2), watch.message()).await.expect("the watch ends");
        assert_eq!(end.expect_err("ends with a status").code(), tonic::Code::Unavailable);
    }
    while let Some(event) = stream.message().await.expect("the live stream still finishes") {
        if let Some(v1::converse_stream_event::Event::Usage(_)) = event.event {
            break;
        }
    }
    gateway.stop().await.unwrap();
}
