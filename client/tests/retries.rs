//! Retries happen before the first event and never after; the deadline covers the whole call.

mod common;

use std::time::{Duration, Instant};

use bedrock_emulator::{EmulatorConfig, expected_answer};
use bedrock_gateway_client::{Client, Code, Error, Event, Request};
use common::{ANSWER_TOKENS, Gateway, fast_retries};

#[tokio::test]
async fn a_throttled_call_is_retried_before_the_first_event() {
    let gateway = Gateway::start().await;
    // The emulator throttles the first request with this prompt, then answers.
    let answer = common::client(&gateway).converse(Request::new("fault-throttle-once").user("retry me")).await.unwrap();
    assert_eq!(answer.text, expected_answer("retry me", None, ANSWER_TOKENS).text());
    assert_eq!(gateway.emulator.requests_served(), 2);
}

#[tokio::test]
async fn retries_stop_after_max_attempts() {
    let gateway = Gateway::start().await;
    let client = common::builder(&gateway).max_attempts(3).build().unwrap();
    let error = client.converse(Request::new("fault-throttle").user("always throttled")).await.unwrap_err();
    assert_eq!(error.code(), Code::ResourceExhausted);
    assert!(!error.is_incomplete());
    assert_eq!(gateway.emulator.requests_served(), 3);
}

#[tokio::test]
async fn a_stream_that_fails_after_its_first_event_is_not_retried() {
    let gateway = Gateway::start().await;
    let mut events =
        common::client(&gateway).converse_stream(Request::new("fault-stream-error.3").user("half")).await.unwrap();
    let mut text = String::new();
    let error = loop {
        match events.next().await.expect("the stream ends with an error") {
            Ok(Event::Text { text: piece, .. }) => text.push_str(&piece),
            Ok(_) => {}
            Err(error) => break error,
        }
    };
    assert!(error.is_incomplete(), "{error}");
    assert_eq!(error.code(), Code::Unavailable);
    assert!(error.request_id().is_some());
    let full = expected_answer("half", None, ANSWER_TOKENS);
    assert_eq!(text, full.tokens[..3].concat());
    assert!(events.next().await.is_none());
    assert_eq!(gateway.emulator.requests_served(), 1, "not retried");
}

#[tokio::test]
async fn other_errors_are_not_retried() {
    let gateway = Gateway::start().await;
    let error = common::client(&gateway).converse(Request::new("unknown").user("hi")).await.unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    assert_eq!(gateway.emulator.requests_served(), 0);
}

#[tokio::test]
async fn connection_refused_is_a_clear_connect_error() {
    // Bind and drop, so the port is very likely closed.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let client = fast_retries(Client::builder(format!("http://{addr}"))).build().unwrap();
    let error = client.list_models().await.unwrap_err();
    assert!(matches!(error, Error::Connect { .. }), "{error:?}");
    assert_eq!(error.code(), Code::Unavailable);
    assert_eq!(error.to_string(), format!("cannot connect to http://{addr}: connection refused"));
}

#[tokio::test]
async fn the_deadline_cuts_a_stalled_stream_as_incomplete() {
    let gateway = Gateway::start().await;
    let client = common::builder(&gateway).deadline(Duration::from_millis(300)).build().unwrap();
    let started = Instant::now();
    let mut events = client.converse_stream(Request::new("fault-stall.2").user("stall")).await.unwrap();
    let mut texts = 0;
    let error = loop {
        match events.next().await.expect("the stream ends with an error") {
            Ok(Event::Text { .. }) => texts += 1,
            Ok(_) => {}
            Err(error) => break error,
        }
    };
    assert_eq!(texts, 2);
    assert!(matches!(error, Error::DeadlineExceeded { incomplete: true, .. }), "{error:?}");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[tokio::test]
async fn the_deadline_covers_a_gateway_that_never_answers() {
    // Accepts connections and never speaks HTTP/2.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let client = Client::builder(format!("http://{addr}")).deadline(Duration::from_millis(200)).build().unwrap();
    let started = Instant::now();
    let error = client.converse(Request::new("chat").user("anyone?")).await.unwrap_err();
    assert!(matches!(error, Error::DeadlineExceeded { incomplete: false, .. }), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn the_gateway_is_told_the_deadline() {
    // A slow model: the gateway itself gives up at the client's deadline.
    let slow = EmulatorConfig { time_to_first_token: Duration::from_secs(5), ..Default::default() };
    let gateway = Gateway::start_with_emulator(slow, |_| {}).await;
    let client = common::builder(&gateway).deadline(Duration::from_millis(300)).build().unwrap();
    let error = client.converse(Request::new("chat").user("slow")).await.unwrap_err();
    assert_eq!(error.code(), Code::DeadlineExceeded, "{error}");
}
