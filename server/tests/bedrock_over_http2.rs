//! The gateway's Bedrock path as in production: the SDK's default client reaching a TLS endpoint
//! that picks HTTP/2 by ALPN, every stream on one connection. A complete answer ends with stop and
//! usage; a stream Bedrock resets mid-answer (HTTP/2 RST_STREAM, not a closed connection) never
//! looks complete, and the other streams on that connection go on.

use std::path::Path;

use bedrock_emulator::{Emulator, EmulatorConfig};
use bedrock_gateway_proto::v1;
use bedrock_gateway_testkit::{GatewayProcess, collect, user_request};
use tonic::Code;
use v1::converse_stream_event::Event;

#[tokio::test]
async fn streams_over_http2_complete_or_say_they_are_incomplete() {
    let emulator = Emulator::start_tls(EmulatorConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let gateway = GatewayProcess::start_in_front_of_tls_emulator(
        Path::new(env!("CARGO_BIN_EXE_bedrock-gateway")),
        &emulator,
        dir.path(),
        "[models.fault-close]\nmodel_id = \"fault.close.3\"\n",
    );
    let mut client = gateway.client().await;

    let complete = collect(&mut client, user_request("chat", "hello")).await;
    assert!(complete.error.is_none(), "{:?}", complete.error);
    assert_eq!(complete.stop_reason, Some(v1::StopReason::EndTurn));
    assert!(complete.usage.and_then(|usage| usage.usage).is_some_and(|usage| usage.output_tokens > 0));

    let cut = collect(&mut client, user_request("fault-close", "hello")).await;
    let status = cut.error.expect("a reset stream ends with an error status");
    assert_eq!(status.code(), Code::Unavailable, "{}", status.message());
    assert!(status.message().contains("incomplete"), "{}", status.message());
    assert!(cut.stop_reason.is_none() && cut.usage.is_none(), "no terminal events after a reset");
    let deltas = cut.events.iter().filter(|event| matches!(event, Event::ContentBlockDelta(_))).count();
    assert_eq!(deltas, 3, "the deltas before the reset were relayed");

    let after = collect(&mut client, user_request("chat", "hello again")).await;
    assert!(after.error.is_none() && after.usage.is_some(), "the connection outlives the reset stream");
    assert_eq!(emulator.http2_requests_served(), 3, "every call went over HTTP/2");
    assert_eq!(emulator.connections_accepted(), 1, "on one connection");
}
