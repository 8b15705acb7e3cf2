//! Stream lifecycle observation: completion, and prompt detection of
//! clients that go away.

mod common;

use std::time::{Duration, Instant};

use bedrock_emulator::{Emulator, EmulatorConfig, StreamOutcome};
use common::{MODEL, client, collect, emulator, next_end, user};

/// How quickly abandonment must be reported.
const PROMPT: Duration = Duration::from_millis(100);

#[tokio::test]
async fn completed_streams_are_reported() {
    let emulator = emulator().await;
    let mut ends = emulator.subscribe();
    let output = client(&emulator).converse_stream().model_id(MODEL).messages(user("hi")).send().await.unwrap();
    collect(output).await.unwrap();
    let end = next_end(&mut ends, Duration::from_secs(5)).await;
    assert_eq!(end.outcome, StreamOutcome::Completed);
    assert_eq!(end.model_id, MODEL);
}

#[tokio::test]
async fn dropping_a_stalled_stream_is_reported_promptly() {
    let emulator = emulator().await;
    let mut ends = emulator.subscribe();
    let mut output =
        client(&emulator).converse_stream().model_id("fault.stall.2").messages(user("hi")).send().await.unwrap();
    for _ in 0..3 {
        output.stream.recv().await.unwrap().expect("event before the stall");
    }
    // Let the emulator settle into the stall: nothing is being written.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(ends.try_recv().is_err(), "still open");

    let dropped = Instant::now();
    drop(output);
    let end = next_end(&mut ends, Duration::from_secs(2)).await;
    assert_eq!(end.outcome, StreamOutcome::Abandoned);
    assert_eq!(end.events_sent, 3);
    let delay = end.at.saturating_duration_since(dropped);
    assert!(delay < PROMPT, "reported after {delay:?}");
}

#[tokio::test]
async fn dropping_a_stream_mid_answer_is_reported_promptly() {
    let config = EmulatorConfig {
        inter_token_gap: Duration::from_millis(5),
        answer_tokens: 10_000,
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start(config).await.unwrap();
    let mut ends = emulator.subscribe();
    let mut output = client(&emulator).converse_stream().model_id(MODEL).messages(user("hi")).send().await.unwrap();
    for _ in 0..5 {
        output.stream.recv().await.unwrap().expect("event");
    }
    let dropped = Instant::now();
    drop(output);
    let end = next_end(&mut ends, Duration::from_secs(2)).await;
    assert_eq!(end.outcome, StreamOutcome::Abandoned);
    assert!(end.events_sent < 10_000);
    let delay = end.at.saturating_duration_since(dropped);
    assert!(delay < PROMPT, "reported after {delay:?}");
}

#[tokio::test]
async fn shutdown_closes_open_streams() {
    let emulator = emulator().await;
    let mut output =
        client(&emulator).converse_stream().model_id("fault.stall").messages(user("hi")).send().await.unwrap();
    output.stream.recv().await.unwrap().expect("messageStart");
    emulator.shutdown().await;
    let next = tokio::time::timeout(Duration::from_secs(2), output.stream.recv())
        .await
        .expect("the stream ends once the emulator is gone");
    assert!(next.is_err(), "{next:?}");
}
