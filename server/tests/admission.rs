//! Admission under hostile or careless callers, over real sockets: a client that never finishes
//! its request or never reads its answer holds no slot past its bounds and its Bedrock call is
//! dropped, and a stream it does not read is reset; one caller cannot take every slot; everyone
//! else keeps being served.

use std::time::{Duration, Instant};

use bedrock_emulator::{EmulatorConfig, StreamOutcome};
use bedrock_gateway::config::Seconds;
use bedrock_gateway::parts::FINAL_STATUS_GRACE;
use bedrock_gateway_proto::v1;
use bedrock_gateway_testkit::{
    TestGateway, api_key_digest, collect, final_status, grpc_call, grpc_call_to, grpc_frame, grpc_status,
    next_stream_end, user_request, with_api_key,
};
use sha2::{Digest, Sha256};
use tonic::Code;

/// Scheduling slack on a loaded 2-core machine, on top of a configured bound.
const MARGIN: Duration = Duration::from_secs(2);

/// The gRPC length prefix of a message declared `len` bytes long, whose bytes the caller may then
/// send or not.
fn declared_message(len: u32) -> bytes::Bytes {
    let mut prefix = vec![0];
    prefix.extend_from_slice(&len.to_be_bytes());
    prefix.into()
}

/// The control routes: open to callers without a key, as load balancers and grpcurl need.
const CONTROL_PATHS: [&str; 3] = [
    "/grpc.health.v1.Health/Check",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// What a caller sees of a refusal on `path`: its code, except on reflection, whose service ends its
/// answer as soon as its request fails, without a message and without passing the failure on.
fn refusal_seen_on(path: &str, code: Code) -> Code {
    if path.contains("Reflection") { Code::Ok } else { code }
}

#[tokio::test]
async fn health_and_reflection_pass_the_same_edge_for_callers_without_a_key() {
    let gateway = TestGateway::start_with(|config| {
        config.auth.api_keys.insert("team".into(), api_key_digest("team-key").into());
        config.server.request_receive_timeout_secs = Seconds(1);
    })
    .await;
    let mut raw = gateway.raw_http2(65_535).await;
    // The red team's attack: a declared 4,000,000-byte message, most of it sent, never finished.
    for path in CONTROL_PATHS {
        let (response, mut body) = raw.send_request(grpc_call_to(path), false).unwrap();
        body.send_data(declared_message(4_000_000), false).unwrap();
        body.send_data(vec![0; 60_000].into(), false).unwrap();
        let response = tokio::time::timeout(MARGIN, response).await.expect("refused at once").unwrap();
        assert!(response.headers().contains_key("x-request-id"), "{path}");
        let status = tokio::time::timeout(MARGIN, final_status(response)).await.expect("refused at once");
        assert_eq!(status, Some(refusal_seen_on(path, Code::ResourceExhausted)), "{path}");
    }
    // A small message that never finishes arriving is refused at the receive timeout.
    let mut trickling = Vec::new();
    for path in CONTROL_PATHS {
        let (response, mut body) = raw.send_request(grpc_call_to(path), false).unwrap();
        body.send_data(declared_message(100), false).unwrap();
        trickling.push((path, response, body));
    }
    let sent_at = Instant::now();
    let mut health = tonic_health::pb::health_client::HealthClient::new(gateway.channel().await);
    let check = health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await;
    assert_eq!(check.expect("health needs no key").into_inner().status, 1, "SERVING");
    for (path, response, _body) in trickling {
        let status = async { final_status(response.await.unwrap()).await };
        let status = tokio::time::timeout(Duration::from_secs(1) + MARGIN, status).await.unwrap();
        assert_eq!(status, Some(refusal_seen_on(path, Code::DeadlineExceeded)), "{path}");
    }
    assert!(sent_at.elapsed() >= Duration::from_millis(900));
    let mut client = gateway.stub().await;
    let refused = client.list_models(v1::ListModelsRequest {}).await.expect_err("the gateway service needs a key");
    assert_eq!(refused.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn one_tenant_holding_its_share_of_request_memory_leaves_the_rest_to_others() {
    let gateway = TestGateway::start_with(|config| {
        for team in ["greedy", "polite"] {
            config.auth.api_keys.insert(team.into(), api_key_digest(&format!("{team}-key")).into());
        }
        config.server.max_request_bytes = 48 * 1024;
        config.server.max_buffered_request_bytes = 256 * 1024;
        config.server.max_buffered_request_bytes_per_caller = Some(96 * 1024);
        config.server.request_receive_timeout_secs = Seconds(10);
    })
    .await;
    let large = grpc_frame(&user_request("chat", &"x".repeat(40 * 1024)));
    let mut raw = gateway.raw_http2(1 << 20).await;
    let greedy_call = || {
        let mut call = grpc_call("ConverseStream");
        call.headers_mut().insert("authorization", "Bearer greedy-key".parse().unwrap());
        call
    };
    // Two requests stop 4 KiB short of their end: 72 KiB of greedy's 96 KiB share, held.
    let mut held = Vec::new();
    for _ in 0..2 {
        let (response, mut body) = raw.send_request(greedy_call(), false).unwrap();
        body.send_data(large.slice(..36 * 1024), false).unwrap();
        held.push((response, body));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The first bytes of the next ones already count: each is refused before it is complete, so
    // greedy never fills the 256 KiB budget as it tries to.
    for _ in 0..5 {
        let (refused, mut refused_body) = raw.send_request(greedy_call(), false).unwrap();
        refused_body.send_data(large.slice(..30 * 1024), false).unwrap();
        let refused = tokio::time::timeout(MARGIN, refused).await.expect("refused at once").unwrap();
        assert_eq!(grpc_status(refused.headers()), Some(Code::ResourceExhausted), "{:?}", refused.headers());
        let message = refused.headers()["grpc-message"].to_str().unwrap().to_owned();
        assert!(message.contains("max_buffered_request_bytes_per_caller"), "{message}");
    }

    let mut client = gateway.stub().await;
    for _ in 0..3 {
        let answer = client.converse(with_api_key(user_request("chat", &"y".repeat(40 * 1024)), "polite-key")).await;
        assert!(answer.is_ok(), "another tenant is served: {answer:?}");
    }
    drop(held);
}

#[tokio::test]
async fn a_request_that_never_finishes_arriving_is_refused_and_holds_no_slot() {
    let gateway = TestGateway::start_with(|config| {
        config.server.max_concurrent_requests = 1;
        config.server.request_receive_timeout_secs = Seconds(1);
    })
    .await;
    let mut raw = gateway.raw_http2(65_535).await;
    let frame = grpc_frame(&user_request("chat", "never sent in full"));
    // One request stops halfway through its message; another sends it all but never ends its stream.
    let (half, mut half_body) = raw.send_request(grpc_call("ConverseStream"), false).unwrap();
    half_body.send_data(frame.slice(..frame.len() / 2), false).unwrap();
    let (open, mut open_body) = raw.send_request(grpc_call("ConverseStream"), false).unwrap();
    open_body.send_data(frame, false).unwrap();
    let sent_at = Instant::now();

    let mut client = gateway.stub().await;
    let served = collect(&mut client, user_request("chat", "meanwhile")).await;
    assert!(served.usage.is_some(), "the only slot is free for others: {:?}", served.error);

    for response in [half, open] {
        let response = tokio::time::timeout(Duration::from_secs(1) + MARGIN, response).await.unwrap().unwrap();
        assert_eq!(grpc_status(response.headers()), Some(Code::DeadlineExceeded), "{:?}", response.headers());
        assert!(response.headers().contains_key("x-request-id"));
    }
    assert!(sent_at.elapsed() >= Duration::from_secs(1));
    assert_eq!(gateway.emulator.requests_served(), 1, "only the complete request reached Bedrock");
}

#[tokio::test]
async fn a_client_that_never_reads_frees_its_slot_and_its_bedrock_call() {
    // The model keeps producing (a delta every 200 ms) while the client takes nothing.
    let pacing = EmulatorConfig { inter_token_gap: Duration::from_millis(200), ..EmulatorConfig::default() };
    let gateway = TestGateway::start_with_emulator(pacing, |config| {
        config.server.max_concurrent_requests = 1;
        config.server.client_stall_timeout_secs = Seconds(1);
    })
    .await;
    let mut ends = gateway.emulator.subscribe();
    // A receive window of 0: the gateway may send headers, but not one byte of the answer.
    let mut raw = gateway.raw_http2(0).await;
    let (response, mut body) = raw.send_request(grpc_call("ConverseStream"), false).unwrap();
    body.send_data(grpc_frame(&user_request("fault-stall.8", "hold it")), true).unwrap();
    let response = response.await.unwrap();
    assert_eq!(response.status(), 200);
    let opened_at = Instant::now();

    let end = next_stream_end(&mut ends).await;
    assert_eq!(end.outcome, StreamOutcome::Abandoned, "the gateway dropped the Bedrock call");
    let held = end.at.saturating_duration_since(opened_at);
    assert!(held < Duration::from_secs(1) + MARGIN, "held for {held:?}");

    let mut client = gateway.stub().await;
    let served = collect(&mut client, user_request("chat", "my turn")).await;
    assert!(served.usage.is_some(), "the slot was freed: {:?}", served.error);
    drop(response);
}

#[tokio::test]
async fn a_stream_ended_for_not_reading_is_reset_so_http2_frees_it() {
    let pacing = EmulatorConfig { inter_token_gap: Duration::from_millis(200), ..EmulatorConfig::default() };
    let gateway =
        TestGateway::start_with_emulator(pacing, |config| config.server.client_stall_timeout_secs = Seconds(1)).await;
    // A receive window of 0 that is never released: the final status cannot be sent either.
    let mut raw = gateway.raw_http2(0).await;
    let (response, mut body) = raw.send_request(grpc_call("ConverseStream"), false).unwrap();
    body.send_data(grpc_frame(&user_request("fault-stall.8", "never read")), true).unwrap();
    let mut answer = response.await.unwrap().into_body();
    let opened_at = Instant::now();
    // Waiting for data releases no window.
    let within = Duration::from_secs(1) + FINAL_STATUS_GRACE + MARGIN;
    let ended = tokio::time::timeout(within, answer.data()).await.expect("the stream ends without a read");
    let err = ended.expect("an end, not a clean one").expect_err("no data fits a window of 0");
    assert_eq!(err.reason(), Some(h2::Reason::CANCEL), "RST_STREAM: {err}");
    assert!(opened_at.elapsed() >= Duration::from_secs(1), "reset after the stall timeout, not before");
}

#[tokio::test]
async fn the_deadline_ends_a_stream_whose_client_stopped_reading() {
    let gateway = TestGateway::start_with(|config| {
        config.server.max_stream_duration_secs = Seconds(1);
        config.server.client_stall_timeout_secs = Seconds(600);
    })
    .await;
    let mut ends = gateway.emulator.subscribe();
    // The answer streams into a small window that is never released, then the client reads no more.
    let mut raw = gateway.raw_http2(64).await;
    let (response, mut body) = raw.send_request(grpc_call("ConverseStream"), false).unwrap();
    body.send_data(grpc_frame(&user_request("fault-stall", "a long answer")), true).unwrap();
    let _response = response.await.unwrap();
    let started = Instant::now();
    let end = next_stream_end(&mut ends).await;
    assert_eq!(end.outcome, StreamOutcome::Abandoned);
    let after = end.at.saturating_duration_since(started);
    assert!(after < Duration::from_secs(1) + MARGIN, "the deadline fired after {after:?}");
}

#[tokio::test]
async fn one_caller_cannot_take_every_slot() {
    let gateway = TestGateway::start_with(|config| {
        for team in ["team-a", "team-b"] {
            let digest = format!("{:x}", Sha256::digest(format!("key-of-{team}")));
            config.auth.api_keys.insert(team.into(), digest.into());
        }
        config.server.max_concurrent_requests = 10;
        config.server.max_concurrent_requests_per_caller = Some(2);
    })
    .await;
    let mut client = gateway.stub().await;
    let call = |team: &str, model: &str| {
        let mut request = tonic::Request::new(user_request(model, "hello"));
        request.metadata_mut().insert("authorization", format!("Bearer key-of-{team}").parse().unwrap());
        request
    };
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = client.converse_stream(call("team-a", "fault-stall")).await.unwrap().into_inner();
        stream.message().await.unwrap();
        held.push(stream);
    }
    let refused = client.converse_stream(call("team-a", "chat")).await.expect_err("team-a is at its bound");
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(refused.message().contains("this caller has 2 requests in flight"), "{}", refused.message());
    assert_eq!(refused.metadata().get("grpc-retry-pushback-ms").unwrap(), "100");
    assert!(refused.metadata().get("x-request-id").is_some());

    let mut stream = client.converse_stream(call("team-b", "chat")).await.expect("team-b is served").into_inner();
    while stream.message().await.unwrap().is_some() {}
    drop(held);
}

#[tokio::test]
async fn bedrock_that_never_opens_the_stream_is_unavailable_with_pushback() {
    let gateway = TestGateway::start_with(|config| config.bedrock.stream_open_timeout_secs = Seconds(1)).await;
    let mut client = gateway.stub().await;
    let started = Instant::now();
    let status = collect(&mut client, user_request("fault-hang", "hello")).await.error.expect("refused");
    assert_eq!(status.code(), Code::Unavailable, "{}", status.message());
    assert!(status.message().contains("did not start answering within 1s"), "{}", status.message());
    assert_eq!(status.metadata().get("grpc-retry-pushback-ms").unwrap(), "1000");
    assert!(started.elapsed() < Duration::from_secs(1) + MARGIN);
}

#[tokio::test]
async fn request_bytes_held_at_once_are_bounded_and_given_back() {
    let gateway = TestGateway::start_with(|config| {
        config.server.max_request_bytes = 48 * 1024;
        config.server.max_buffered_request_bytes = 64 * 1024;
        // One caller may hold the whole budget: this is about the budget, not the caller's share.
        config.server.max_buffered_request_bytes_per_caller = Some(64 * 1024);
        config.server.request_receive_timeout_secs = Seconds(1);
    })
    .await;
    let large = grpc_frame(&user_request("chat", &"x".repeat(40 * 1024)));
    let mut raw = gateway.raw_http2(65_535).await;
    // 36 KiB of a 40 KiB request arrive, and the rest never does: those bytes are held.
    let (stuck, mut stuck_body) = raw.send_request(grpc_call("ConverseStream"), false).unwrap();
    stuck_body.send_data(large.slice(..36 * 1024), false).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let (refused, mut refused_body) = raw.send_request(grpc_call("ConverseStream"), false).unwrap();
    refused_body.send_data(large.clone(), true).unwrap();
    let refused = refused.await.unwrap();
    assert_eq!(grpc_status(refused.headers()), Some(Code::ResourceExhausted), "{:?}", refused.headers());
    assert_eq!(refused.headers()["grpc-retry-pushback-ms"], "100");

    let mut client = gateway.stub().await;
    let small = collect(&mut client, user_request("chat", "a small one fits")).await;
    assert!(small.usage.is_some(), "{:?}", small.error);

    assert_eq!(grpc_status(stuck.await.unwrap().headers()), Some(Code::DeadlineExceeded));
    let large_request = user_request("chat", &"x".repeat(40 * 1024));
    let served = collect(&mut client, large_request).await;
    assert!(served.usage.is_some(), "the stuck request's bytes were given back: {:?}", served.error);
}
