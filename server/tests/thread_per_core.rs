//! `server.scheduler = "thread_per_core"` (the default) with two threads, in front of Bedrock over
//! TLS and HTTP/2 as in production: client connections are handed round-robin to the two shards
//! (in the order they are accepted: the first to the main thread's), each shard reaches Bedrock
//! over an HTTP/2 connection of its own, every stream on every client connection completes, and
//! SIGTERM lets the streams in flight on every shard finish before the process exits 0. And
//! `"work_stealing"` with two threads: one runtime, one Bedrock connection, every stream complete.

use std::path::Path;
use std::time::Duration;

use bedrock_emulator::{Emulator, EmulatorConfig, expected_answer};
use bedrock_gateway_proto::v1;
use bedrock_gateway_proto::v1::gateway_service_client::GatewayServiceClient;
use bedrock_gateway_testkit::{Collected, GatewayProcess, collect, user_request};
use tonic::transport::Channel;
use v1::converse_stream_event::Event;

type GatewayClient = GatewayServiceClient<Channel>;

fn gateway_in_front_of(emulator: &Emulator, dir: &Path) -> GatewayProcess {
    gateway_with_scheduler(emulator, dir, "thread_per_core")
}

fn gateway_with_scheduler(emulator: &Emulator, dir: &Path, scheduler: &str) -> GatewayProcess {
    GatewayProcess::start_in_front_of_tls_emulator(
        Path::new(env!("CARGO_BIN_EXE_bedrock-gateway")),
        emulator,
        dir,
        &format!("[server]\nscheduler = \"{scheduler}\"\nworker_threads = 2\nshutdown_grace_secs = 20\n"),
    )
}

fn assert_complete(answer: &Collected, prompt: &str) {
    assert!(answer.error.is_none(), "{prompt}: {:?}", answer.error);
    let expected = expected_answer(prompt, None, EmulatorConfig::default().answer_tokens);
    assert_eq!(answer.text, expected.text(), "{prompt}");
    assert_eq!(answer.stop_reason, Some(v1::StopReason::EndTurn), "{prompt}");
    assert!(answer.usage.and_then(|usage| usage.usage).is_some_and(|usage| usage.output_tokens > 0), "{prompt}");
}

async fn one_call_at_a_time_on_each(clients: &mut [GatewayClient]) {
    for (connection, client) in clients.iter_mut().enumerate() {
        let prompt = format!("first call on connection {connection}");
        assert_complete(&collect(client, user_request("chat", &prompt)).await, &prompt);
    }
}

async fn three_concurrent_streams_on_each(clients: &[GatewayClient]) {
    let streams = clients.iter().enumerate().flat_map(|(connection, client)| {
        (0..3).map(move |stream| {
            let mut client = client.clone();
            let prompt = format!("stream {stream} on connection {connection}");
            async move { (collect(&mut client, user_request("chat", &prompt)).await, prompt) }
        })
    });
    let answers = tokio::time::timeout(Duration::from_secs(30), futures::future::join_all(streams))
        .await
        .expect("every stream ends");
    for (answer, prompt) in &answers {
        assert_complete(answer, prompt);
    }
}

#[tokio::test]
async fn each_shard_has_its_own_bedrock_connection_and_every_stream_completes() {
    let emulator = Emulator::start_tls(EmulatorConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let gateway = gateway_in_front_of(&emulator, dir.path());
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(gateway.client().await);
    }
    // One call at a time first, so that each shard has opened its Bedrock connection (and learnt
    // it speaks HTTP/2) before concurrent calls could race to open more.
    one_call_at_a_time_on_each(&mut clients).await;
    assert_eq!(emulator.connections_accepted(), 2, "one Bedrock connection per shard");

    three_concurrent_streams_on_each(&clients).await;
    assert_eq!(emulator.http2_requests_served(), 4 + 12, "every call went over HTTP/2");
    assert_eq!(emulator.connections_accepted(), 2, "still one Bedrock connection per shard");
}

#[tokio::test]
async fn work_stealing_serves_every_connection_on_one_runtime_and_one_bedrock_connection() {
    let emulator = Emulator::start_tls(EmulatorConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let gateway = gateway_with_scheduler(&emulator, dir.path(), "work_stealing");
    let mut clients = Vec::new();
    for _ in 0..2 {
        clients.push(gateway.client().await);
    }
    one_call_at_a_time_on_each(&mut clients).await;
    three_concurrent_streams_on_each(&clients).await;
    assert_eq!(emulator.connections_accepted(), 1, "one Bedrock client for the whole process");
}

#[tokio::test]
async fn sigterm_lets_the_streams_of_every_shard_finish_then_the_process_exits_0() {
    let pacing = EmulatorConfig { inter_token_gap: Duration::from_millis(40), ..EmulatorConfig::default() };
    let emulator = Emulator::start_tls(pacing).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut gateway = gateway_in_front_of(&emulator, dir.path());
    // Accepted in this order: the first on the main thread's shard, the second on the other one.
    let clients = [gateway.client().await, gateway.client().await];
    let mut streams = Vec::new();
    for (shard, client) in clients.iter().enumerate() {
        let request = user_request("chat", &format!("in flight on shard {shard}"));
        let mut stream = client.clone().converse_stream(request).await.unwrap().into_inner();
        stream.message().await.unwrap().expect("the stream has started");
        streams.push(stream);
    }

    gateway.signal("TERM");
    for (shard, mut stream) in streams.into_iter().enumerate() {
        let mut last = None;
        let read = async {
            while let Some(event) = stream.message().await.expect("the stream is not cut") {
                last = event.event;
            }
        };
        tokio::time::timeout(Duration::from_secs(15), read).await.expect("the stream ends");
        assert!(matches!(last, Some(Event::Usage(_))), "the stream on shard {shard} ends with usage");
    }
    let status = gateway.exit_status(Duration::from_secs(15)).await.expect("the process exits once drained");
    assert_eq!(status.code(), Some(0));
    assert_eq!(emulator.connections_accepted(), 2, "one Bedrock connection per shard");
}
