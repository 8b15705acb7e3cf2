//! Connection bounds over real loopback sockets: streams per connection, the connection cap, the
//! handshake timeout, and the maximum connection age that makes clients reconnect (so that an NLB,
//! which balances per connection, spreads them over new tasks) without failing their calls.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bedrock_emulator::EmulatorConfig;
use bedrock_gateway_client::{Client, Request};
use bedrock_gateway_proto::v1;
use bedrock_gateway_proto::v1::gateway_service_client::GatewayServiceClient;
use bedrock_gateway_testkit::{ANSWER_TOKENS, TestGateway, collect, user_request};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tonic::transport::Channel;

/// Opens a raw TCP connection that sends nothing; true if the server closes it within `within`.
async fn closed_by_the_server(addr: SocketAddr, within: Duration) -> bool {
    let mut stream = TcpStream::connect(addr).await.unwrap();
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
    let gateway = TestGateway::start_with(|config| config.server.handshake_timeout_secs = 1).await;
    gateway.channel().await;
    let connected = Instant::now();
    assert!(closed_by_the_server(gateway.addr, Duration::from_secs(5)).await, "closed within the timeout + margin");
    assert!(connected.elapsed() >= Duration::from_secs(1), "not before the timeout");
}

#[tokio::test]
async fn a_stream_in_flight_across_the_maximum_age_completes_and_later_calls_use_a_new_connection() {
    // 12 tokens 200 ms apart: the stream outlives the connection's age of about 1 s.
    let pacing = EmulatorConfig { inter_token_gap: Duration::from_millis(200), ..EmulatorConfig::default() };
    let gateway = TestGateway::start_with_emulator(pacing, |config| config.server.max_connection_age_secs = 1).await;
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
        config.server.max_connection_age_secs = 1;
        config.server.max_connection_age_grace_secs = 1;
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
