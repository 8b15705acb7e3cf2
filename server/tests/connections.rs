//! Connection bounds over real loopback sockets: streams per connection, the connection cap and
//! the caps per client address and per PrivateLink endpoint, the handshake timeout, the idle time
//! after which a connection without streams is sent GOAWAY, and the maximum connection age that
//! makes clients reconnect (so that an NLB, which balances per connection, spreads them over new
//! tasks) without failing their calls.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bedrock_emulator::EmulatorConfig;
use bedrock_gateway::config::Seconds;
use bedrock_gateway::proxy_protocol;
use bedrock_gateway_client::{Client, Request};
use bedrock_gateway_proto::v1;
use bedrock_gateway_proto::v1::gateway_service_client::GatewayServiceClient;
use bedrock_gateway_testkit::{
    ANSWER_TOKENS, LogCapture, TestGateway, collect, grpc_call, grpc_frame, metric, user_request,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tonic::transport::Channel;

const PER_SOURCE_REJECTIONS: &str = r#"bedrock_gateway_rejections_total{reason="connections_per_source"}"#;

/// Opens a raw TCP connection that sends nothing; true if the server closes it within `within`.
async fn closed_by_the_server(addr: SocketAddr, within: Duration) -> bool {
    closed_after_sending(TcpStream::connect(addr).await.unwrap(), &[], within).await
}

/// Sends `first` on `stream`, then nothing; true if the server closes it within `within`.
async fn closed_after_sending(mut stream: TcpStream, first: &[u8], within: Duration) -> bool {
    stream.write_all(first).await.unwrap();
    let mut buf = [0; 1024];
    let until_closed = async {
        // The server may first send its own SETTINGS frame.
        while let Ok(read) = stream.read(&mut buf).await
            && read > 0
        {}
    };
    tokio::time::timeout(within, until_closed).await.is_ok()
}

async fn served(client: &mut GatewayServiceClient<Channel>) -> bool {
    client.list_models(v1::ListModelsRequest {}).await.is_ok()
}

/// Whether a new connection from `source` is served, as a client would see it.
async fn served_from(gateway: &TestGateway, source: IpAddr) -> bool {
    served(&mut GatewayServiceClient::new(gateway.channel_from(source).await)).await
}

/// A connection as the NLB opens it for a client at `source` through the PrivateLink endpoint
/// `vpce`, held open by its client.
async fn through_endpoint(gateway: &TestGateway, source: &str, vpce: &str) -> GatewayServiceClient<Channel> {
    GatewayServiceClient::new(gateway.proxy_protocol_channel(source.parse().unwrap(), vpce).await)
}

/// Whether a connection from `source` through `vpce` is closed as soon as its PROXY header is read.
async fn refused_through_endpoint(gateway: &TestGateway, source: &str, vpce: &str) -> bool {
    let header = proxy_protocol::encode(source.parse().unwrap(), gateway.addr, Some(vpce));
    closed_after_sending(TcpStream::connect(gateway.addr).await.unwrap(), &header, Duration::from_secs(3)).await
}

/// The log lines about refused connections whose latest refusal was from `peer`.
fn refusal_lines(logs: &LogCapture, peer: &str) -> Vec<serde_json::Value> {
    logs.text()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["message"].as_str().is_some_and(|m| m.starts_with("refused connections over")))
        .filter(|line| line["peer"] == peer)
        .collect()
}

/// Forwards loopback connections to `target` and counts them: how a test sees a client reconnect.
async fn counting_forwarder(target: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn http2_max_concurrent_streams_holds_further_streams_of_that_connection_only() {
    let gateway = TestGateway::start_with(|config| config.server.http2_max_concurrent_streams = 2).await;
    let client = gateway.stub().await;
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let mut stream =
            client.clone().converse_stream(user_request("fault-stall", "hold a stream")).await.unwrap().into_inner();
        stream.message().await.unwrap().expect("the stream has started");
        stalled.push(stream);
    }
    let third = tokio::spawn({
        let mut client = client.clone();
        async move { collect(&mut client, user_request("chat", "third on the connection")).await }
    });

    let mut other_connection = gateway.stub().await;
    let other = collect(&mut other_connection, user_request("chat", "on another connection")).await;
    assert!(other.usage.is_some(), "another connection is served: {:?}", other.error);
    assert!(!third.is_finished(), "the third stream waits for one of the first two");
    assert_eq!(gateway.emulator.requests_served(), 3, "the third stream has not reached the gateway");

    drop(stalled.pop());
    let third = tokio::time::timeout(Duration::from_secs(10), third).await.expect("the third stream starts").unwrap();
    assert!(third.usage.is_some(), "{:?}", third.error);
}

#[tokio::test]
async fn connections_beyond_max_connections_are_closed_at_once() {
    let gateway = TestGateway::start_with(|config| config.server.max_connections = 2).await;
    let mut first = gateway.stub().await;
    let mut second = gateway.stub().await;
    assert!(served(&mut first).await && served(&mut second).await);

    assert!(closed_by_the_server(gateway.addr, Duration::from_secs(3)).await, "a third connection is closed");
    assert!(served(&mut first).await && served(&mut second).await, "the first two keep working");

    drop(second);
    // The slot is free once the server has seen the connection close.
    let mut accepted = false;
    for _ in 0..100 {
        if served(&mut gateway.stub().await).await {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(accepted, "a new connection is accepted after one closed");
}

#[tokio::test]
async fn a_connection_that_sends_no_preface_is_closed_after_the_handshake_timeout() {
    let gateway = TestGateway::start_with(|config| config.server.handshake_timeout_secs = Seconds(1)).await;
    gateway.channel().await;
    let connected = Instant::now();
    assert!(closed_by_the_server(gateway.addr, Duration::from_secs(5)).await, "closed within the timeout + margin");
    assert!(connected.elapsed() >= Duration::from_secs(1), "not before the timeout");
}

#[tokio::test]
async fn a_stream_in_flight_across_the_maximum_age_completes_and_later_calls_use_a_new_connection() {
    // 12 tokens 200 ms apart: the stream outlives the connection's age of about 1 s.
    let pacing = EmulatorConfig { inter_token_gap: Duration::from_millis(200), ..EmulatorConfig::default() };
    let gateway =
        TestGateway::start_with_emulator(pacing, |config| config.server.max_connection_age_secs = Seconds(1)).await;
    let (addr, connections) = counting_forwarder(gateway.addr).await;
    let client = Client::builder(format!("http://{addr}")).connections_per_address(1).build().unwrap();

    let stream = client.converse_stream(Request::new("chat").user("across the GOAWAY")).await.unwrap();
    let answer = stream.answer().await.expect("the in-flight stream completes after the GOAWAY");
    assert_eq!(answer.usage.output_tokens, ANSWER_TOKENS as u32);
    assert_eq!(connections.load(Ordering::SeqCst), 1);

    for i in 0..3 {
        client.converse(Request::new("chat").user(format!("after the GOAWAY {i}")).max_tokens(2)).await.unwrap();
    }
    assert!(connections.load(Ordering::SeqCst) >= 2, "the client reconnected after the GOAWAY");
}

#[tokio::test]
async fn a_stream_still_open_when_the_age_grace_ends_is_cut_never_ended_cleanly() {
    let gateway = TestGateway::start_with(|config| {
        config.server.max_connection_age_secs = Seconds(1);
        config.server.max_connection_age_grace_secs = Seconds(1);
    })
    .await;
    let mut client = gateway.stub().await;
    let mut stream = client.converse_stream(user_request("fault-stall", "never ends")).await.unwrap().into_inner();
    stream.message().await.unwrap().expect("the stream has started");
    let outcome = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => continue,
                other => break other,
            }
        }
    })
    .await
    .expect("the stream ends once the age grace is over");
    let status = outcome.expect_err("a cut stream ends with an error, never cleanly");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{}", status.message());
    assert!(status.message().contains("incomplete"), "{}", status.message());
}

#[tokio::test]
async fn a_source_over_its_connection_cap_is_refused_while_other_sources_are_served() {
    let logs = LogCapture::install();
    let before = metric(PER_SOURCE_REJECTIONS);
    // Without the PROXY protocol the cap applies to the TCP peer once it is set.
    let gateway = TestGateway::start_with(|config| config.server.max_connections_per_address = Some(2)).await;
    let (flooder, other): (IpAddr, IpAddr) = ("127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap());
    let mut held = [
        GatewayServiceClient::new(gateway.channel_from(flooder).await),
        GatewayServiceClient::new(gateway.channel_from(flooder).await),
    ];
    for client in &mut held {
        assert!(served(client).await, "connections within the cap are served");
    }

    for attempt in 0..5 {
        let refused = closed_after_sending(gateway.tcp_from(flooder).await, &[], Duration::from_secs(3)).await;
        assert!(refused, "connection {attempt} over the cap is closed at once");
    }
    assert!(served_from(&gateway, other).await, "another address is served");
    for client in &mut held {
        assert!(served(client).await, "the source's connections within the cap keep working");
    }
    assert!(metric(PER_SOURCE_REJECTIONS) - before >= 5.0, "every refusal is counted");
    let lines = refusal_lines(&logs, "127.0.0.2");
    assert_eq!(lines.len(), 1, "five refusals, one log line: {lines:?}");
    assert_eq!(lines[0]["cap"], "server.max_connections_per_address");
    assert_eq!(lines[0]["level"], "WARN");

    drop(held);
    // The places are free once the server has seen the connections close.
    let mut accepted = false;
    for _ in 0..100 {
        if served_from(&gateway, flooder).await {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(accepted, "the source is served again once its connections closed");
}

#[tokio::test]
async fn the_proxy_protocol_source_and_privatelink_endpoint_are_capped_not_the_load_balancer() {
    let before = metric(PER_SOURCE_REJECTIONS);
    let gateway = TestGateway::start_with(|config| {
        config.server.proxy_protocol = true;
        config.server.max_connections_per_address = Some(1);
        config.server.max_connections_per_endpoint = Some(2);
    })
    .await;
    gateway.channel_ready_over_proxy_protocol().await;
    // Every connection comes from 127.0.0.1, the "NLB"; the caps see the header's source.
    let mut first = through_endpoint(&gateway, "10.1.0.1:40000", "vpce-a").await;
    assert!(served(&mut first).await);
    assert!(refused_through_endpoint(&gateway, "10.1.0.1:40001", "vpce-a").await, "same address, over its cap");
    let mut second = through_endpoint(&gateway, "10.1.0.2:40000", "vpce-a").await;
    assert!(served(&mut second).await, "another address through the same endpoint");
    assert!(refused_through_endpoint(&gateway, "10.1.0.3:40000", "vpce-a").await, "the endpoint is at its cap");
    let mut elsewhere = through_endpoint(&gateway, "10.1.0.1:40002", "vpce-b").await;
    assert!(served(&mut elsewhere).await, "another endpoint, even from an address in use in the first VPC");
    assert!(served(&mut first).await && served(&mut second).await, "connections within the caps keep working");
    assert!(metric(PER_SOURCE_REJECTIONS) - before >= 2.0);
}

#[tokio::test]
async fn a_connection_that_carries_no_stream_gets_goaway_after_the_idle_time() {
    let gateway = TestGateway::start_with(|config| config.server.max_connection_idle_secs = Seconds(1)).await;
    let (sender, connection) = gateway.raw_http2_watched(65_535).await;
    let connected = Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(10), connection)
        .await
        .expect("the gateway closes an idle connection")
        .unwrap();
    assert!(connected.elapsed() >= Duration::from_secs(1), "not before the idle time");
    assert!(ended.is_ok(), "a graceful close, not an error: {ended:?}");
    let refused = sender.ready().await.expect_err("no new stream after the GOAWAY");
    assert!(refused.is_go_away(), "{refused:?}");
    assert_eq!(refused.reason().map(u32::from), Some(0), "NO_ERROR: {refused:?}");
}

#[tokio::test]
async fn a_connection_with_an_open_stream_is_not_idle_and_is_once_the_stream_ends() {
    let gateway = TestGateway::start_with(|config| config.server.max_connection_idle_secs = Seconds(1)).await;
    let (mut sender, connection) = gateway.raw_http2_watched(65_535).await;
    let (response, mut request) = sender.send_request(grpc_call("ConverseStream"), false).unwrap();
    request.send_data(grpc_frame(&user_request("fault-stall", "hold the connection")), true).unwrap();
    let stalled = response.await.unwrap();
    assert_eq!(stalled.status(), http::StatusCode::OK);

    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!connection.is_finished(), "a connection with an open stream is not closed for idleness");
    let mut sender = sender.ready().await.expect("no GOAWAY while a stream is open");
    let (listed, mut list_request) = sender.send_request(grpc_call("ListModels"), false).unwrap();
    list_request.send_data(grpc_frame(&v1::ListModelsRequest {}), true).unwrap();
    let mut listed = listed.await.expect("a new stream is served").into_body();
    while listed.data().await.is_some() {}
    let trailers = listed.trailers().await.unwrap().expect("a gRPC status");
    assert_eq!(trailers.get("grpc-status").map(|v| v.to_str().unwrap()), Some("0"));

    let idle_from = Instant::now();
    // Resets the stalled stream.
    drop((stalled, request));
    let ended = tokio::time::timeout(Duration::from_secs(10), connection)
        .await
        .expect("the connection is closed once idle")
        .unwrap();
    assert!(ended.is_ok(), "{ended:?}");
    assert!(idle_from.elapsed() >= Duration::from_secs(1), "idle counted from the last stream's end");
}
