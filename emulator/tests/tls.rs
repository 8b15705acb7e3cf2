//! TLS as Bedrock serves it: the real SDK client, trusting the emulator's certificate, picks
//! HTTP/2 through ALPN and multiplexes its calls on one connection.

mod common;

use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamOutput;
use bedrock_emulator::expected_answer;
use common::{MODEL, collect, tls_client, tls_emulator, user};
use tokio::task::JoinSet;

/// Streams open at once on the shared connection.
const STREAMS: usize = 8;

#[tokio::test]
async fn the_sdk_speaks_http2_over_tls() {
    let emulator = tls_emulator().await;
    assert!(emulator.endpoint_url().starts_with("https://127.0.0.1:"), "{}", emulator.endpoint_url());
    let client = tls_client(&emulator);

    let output = client.converse_stream().model_id(MODEL).messages(user("tell me about tls")).send().await;
    let got = collect(output.expect("stream starts")).await.expect("clean stream");
    assert_eq!(got.text, expected_answer("tell me about tls", None, 32).tokens);
    assert_eq!(got.stop_reason.as_deref(), Some("end_turn"));
    assert_eq!(got.usage, Some((4, 32, 36)));

    let output = client.converse().model_id(MODEL).messages(user("and http/2")).send().await.expect("converse");
    let message = output.output().unwrap().as_message().unwrap();
    assert_eq!(message.content()[0].as_text().unwrap(), &expected_answer("and http/2", None, 32).text());

    assert_eq!(emulator.requests_served(), 2);
    assert_eq!(emulator.http2_requests_served(), 2, "ALPN chose h2");
    assert_eq!(emulator.connections_accepted(), 1);
}

#[tokio::test]
async fn concurrent_streams_share_one_connection() {
    let emulator = tls_emulator().await;
    let client = tls_client(&emulator);
    // Until the first handshake has chosen h2, a client cannot know that it may share a connection.
    client.converse().model_id(MODEL).messages(user("warm up")).send().await.expect("converse");

    // Every response is open before any body is read: over HTTP/1.1 each would hold a connection.
    let mut sends = JoinSet::new();
    for i in 0..STREAMS {
        let request = client.converse_stream().model_id(MODEL).messages(user(&format!("stream {i}")));
        sends.spawn(async move { (i, request.send().await.expect("stream starts")) });
    }
    let opened: Vec<(usize, ConverseStreamOutput)> = sends.join_all().await;
    assert_eq!(opened.len(), STREAMS);
    for (i, output) in opened {
        let got = collect(output).await.expect("clean stream");
        assert_eq!(got.text, expected_answer(&format!("stream {i}"), None, 32).tokens);
    }

    assert_eq!(emulator.connections_accepted(), 1);
    assert_eq!(emulator.http2_requests_served(), STREAMS as u64 + 1);
}

#[tokio::test]
async fn a_closing_fault_resets_only_its_stream() {
    let emulator = tls_emulator().await;
    let client = tls_client(&emulator);
    let output = client.converse_stream().model_id("fault.close.2").messages(user("hello")).send().await.unwrap();
    let (got, _) = collect(output).await.expect_err("a reset stream is an error");
    assert_eq!(got.text, expected_answer("hello", None, 2).tokens);

    client.converse().model_id(MODEL).messages(user("still there?")).send().await.expect("the connection lives on");
    assert_eq!(emulator.connections_accepted(), 1);
}
