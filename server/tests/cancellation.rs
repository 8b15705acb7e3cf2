//! When the client goes away or its deadline passes, the gateway drops the Bedrock call at once,
//! so Bedrock stops generating (and billing) for nobody.

use std::time::{Duration, Instant};

use bedrock_emulator::StreamOutcome;
use bedrock_gateway::config::Seconds;
use bedrock_gateway_proto::v1;
use bedrock_gateway_testkit::{TestGateway, next_stream_end, user_request};
use tonic::Code;

const PROMPT_DROP: Duration = Duration::from_millis(100);

#[tokio::test]
async fn client_cancel_reaches_bedrock_within_100ms() {
    let gateway = TestGateway::start().await;
    let mut client = gateway.stub().await;
    let mut ends = gateway.emulator.subscribe();
    let mut stream = client.converse_stream(user_request("fault-stall.2", "hello")).await.unwrap().into_inner();
    for _ in 0..3 {
        stream.message().await.unwrap().expect("start and two deltas arrive before the stall");
    }
    let cancelled_at = Instant::now();
    drop(stream);
    let end = next_stream_end(&mut ends).await;
    assert_eq!(end.outcome, StreamOutcome::Abandoned);
    let lag = end.at.saturating_duration_since(cancelled_at);
    assert!(lag < PROMPT_DROP, "Bedrock saw the cancel after {lag:?}");
}

#[tokio::test]
async fn deadline_ends_the_stream_and_reaches_bedrock_within_100ms() {
    let gateway = TestGateway::start().await;
    let mut client = gateway.stub().await;
    let mut ends = gateway.emulator.subscribe();
    let deadline = Duration::from_millis(300);
    let mut request = tonic::Request::new(user_request("fault-stall", "hello"));
    request.set_timeout(deadline);
    let sent_at = Instant::now();
    let mut stream = client.converse_stream(request).await.unwrap().into_inner();
    let status = loop {
        match stream.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("a stalled stream must not end cleanly"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::DeadlineExceeded, "{}", status.message());
    let end = next_stream_end(&mut ends).await;
    assert_eq!(end.outcome, StreamOutcome::Abandoned);
    let lag = end.at.saturating_duration_since(sent_at + deadline);
    assert!(lag < PROMPT_DROP, "Bedrock saw the deadline {lag:?} late");
}

#[tokio::test]
async fn gateway_enforces_the_deadline_even_if_the_client_does_not_cancel() {
    // A raw HTTP/2 client would keep the stream open past its own grpc-timeout; the gateway's
    // maximum stream duration covers the same case for clients that set no deadline at all.
    let gateway = TestGateway::start_with(|config| config.server.max_stream_duration_secs = Seconds(1)).await;
    let mut client = gateway.stub().await;
    let mut ends = gateway.emulator.subscribe();
    let started = Instant::now();
    let mut stream = client.converse_stream(user_request("fault-stall", "hello")).await.unwrap().into_inner();
    let status = loop {
        match stream.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("a stalled stream must not end cleanly"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(next_stream_end(&mut ends).await.outcome, StreamOutcome::Abandoned);
}

#[tokio::test]
async fn completed_streams_are_not_reported_abandoned() {
    let gateway = TestGateway::start().await;
    let mut client = gateway.stub().await;
    let mut ends = gateway.emulator.subscribe();
    let collected = bedrock_gateway_testkit::collect(&mut client, user_request("chat", "hello")).await;
    assert_eq!(collected.stop_reason, Some(v1::StopReason::EndTurn));
    assert_eq!(next_stream_end(&mut ends).await.outcome, StreamOutcome::Completed);
}
