use aws_smithy_eventstream::frame::read_message_from;
use bedrock_gateway_proto::v1;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use tonic::{Code, Status};
use v1::content_block_delta::Delta;
use v1::converse_stream_event::Event;

use super::event_stream;

/// One frame, decoded with the SDK's own reader.
#[derive(Debug, PartialEq)]
struct Frame {
    /// `:message-type`.
    message_type: String,
    /// `:event-type` or `:exception-type`.
    kind: String,
    payload: Value,
}

/// The frames `items` become, each chunk holding exactly one frame.
fn frames(items: Vec<Result<v1::ConverseStreamEvent, Status>>) -> Vec<Frame> {
    let chunks: Vec<Bytes> =
        futures::executor::block_on(event_stream(futures::stream::iter(items)).collect::<Vec<_>>())
            .into_iter()
            .map(|chunk| chunk.unwrap())
            .collect();
    chunks
        .into_iter()
        .map(|mut chunk| {
            let message = read_message_from(&mut chunk).expect("a well-formed frame");
            assert!(chunk.is_empty(), "one frame per chunk");
            let header = |name: &str| {
                let header = message.headers().iter().find(|header| header.name().as_str() == name);
                header.map(|header| header.value().as_string().unwrap().as_str().to_owned())
            };
            assert_eq!(header(":content-type").as_deref(), Some("application/json"));
            let message_type = header(":message-type").expect(":message-type");
            let kind = match message_type.as_str() {
                "event" => header(":event-type"),
                _ => header(":exception-type"),
            };
            assert_eq!(message.headers().len(), 3, "{:?}", message.headers());
            Frame { message_type, kind: kind.unwrap(), payload: serde_json::from_slice(message.payload()).unwrap() }
        })
        .collect()
}

fn event(frame: &str, payload: Value) -> Frame {
    Frame { message_type: "event".into(), kind: frame.into(), payload }
}

fn ok(event: Event) -> Result<v1::ConverseStreamEvent, Status> {
    Ok(v1::ConverseStreamEvent { event: Some(event) })
}

fn start() -> Result<v1::ConverseStreamEvent, Status> {
    ok(Event::Start(v1::StreamStart { request_id: "r".into(), model: "chat".into(), model_version: "1".into() }))
}

fn delta(index: u32, delta: Delta) -> Result<v1::ConverseStreamEvent, Status> {
    ok(Event::ContentBlockDelta(v1::ContentBlockDelta { content_block_index: index, delta: Some(delta) }))
}

fn block_stop(index: u32) -> Result<v1::ConverseStreamEvent, Status> {
    ok(Event::ContentBlockStop(v1::ContentBlockStop { content_block_index: index }))
}

fn stop(reason: v1::StopReason) -> Result<v1::ConverseStreamEvent, Status> {
    ok(Event::Stop(v1::StreamStop { stop_reason: reason as i32 }))
}

fn usage() -> Result<v1::ConverseStreamEvent, Status> {
    ok(Event::Usage(v1::StreamUsage {
        usage: Some(v1::TokenUsage {
            input_tokens: 10,
            output_tokens: 2,
            total_tokens: 19,
            cache_read_input_tokens: 3,
            cache_write_input_tokens: 4,
        }),
        timing: Some(v1::Timing {
            time_to_first_token: Some(prost_types::Duration { seconds: 0, nanos: 200_000_000 }),
            total: Some(prost_types::Duration { seconds: 1, nanos: 234_999_999 }),
        }),
    }))
}

fn ending(reason: &str) -> [Frame; 2] {
    [
        event("messageStop", json!({"stopReason": reason})),
        event(
            "metadata",
            json!({
                "usage": {"inputTokens": 10, "outputTokens": 2, "totalTokens": 19, "cacheReadInputTokens": 3, "cacheWriteInputTokens": 4},
                "metrics": {"latencyMs": 1234},
            }),
        ),
    ]
}

#[test]
fn a_text_stream_is_bedrocks_frames_one_per_event() {
    let frames = frames(vec![
        start(),
        delta(0, Delta::Text("Hel".into())),
        delta(0, Delta::Text("lo \"world\"".into())),
        block_stop(0),
        stop(v1::StopReason::EndTurn),
        usage(),
    ]);
    let mut expected = vec![
        event("messageStart", json!({"role": "assistant"})),
        event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "Hel"}})),
        event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "lo \"world\""}})),
        event("contentBlockStop", json!({"contentBlockIndex": 0})),
    ];
    expected.extend(ending("end_turn"));
    assert_eq!(frames, expected);
}

#[test]
fn a_tool_use_stream_starts_its_block_and_streams_the_input() {
    let frames = frames(vec![
        start(),
        delta(0, Delta::Text("Let me check.".into())),
        block_stop(0),
        ok(Event::ContentBlockStart(v1::ContentBlockStart {
            content_block_index: 1,
            start: Some(v1::content_block_start::Start::ToolUse(v1::ToolUseStart {
                tool_use_id: "tooluse_1".into(),
                name: "weather".into(),
            })),
        })),
        delta(1, Delta::ToolUseInputJson("{\"city\":".into())),
        delta(1, Delta::ToolUseInputJson("\"Paris\"}".into())),
        block_stop(1),
        stop(v1::StopReason::ToolUse),
        usage(),
    ]);
    let mut expected = vec![
        event("messageStart", json!({"role": "assistant"})),
        event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "Let me check."}})),
        event("contentBlockStop", json!({"contentBlockIndex": 0})),
        event(
            "contentBlockStart",
            json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "weather"}}}),
        ),
        event("contentBlockDelta", json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"city\":"}}})),
        event("contentBlockDelta", json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "\"Paris\"}"}}})),
        event("contentBlockStop", json!({"contentBlockIndex": 1})),
    ];
    expected.extend(ending("tool_use"));
    assert_eq!(frames, expected);
}

#[test]
fn a_reasoning_stream_carries_text_signature_and_redacted_reasoning() {
    let frames = frames(vec![
        start(),
        delta(0, Delta::ReasoningText("Think".into())),
        delta(0, Delta::ReasoningSignature("sig==".into())),
        block_stop(0),
        delta(1, Delta::ReasoningRedacted(vec![0, 1, 254, 255])),
        block_stop(1),
        delta(2, Delta::Text("42".into())),
        block_stop(2),
        stop(v1::StopReason::MaxTokens),
        usage(),
    ]);
    let mut expected = vec![
        event("messageStart", json!({"role": "assistant"})),
        event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Think"}}})),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig=="}}}),
        ),
        event("contentBlockStop", json!({"contentBlockIndex": 0})),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"reasoningContent": {"redactedContent": "AAH+/w=="}}}),
        ),
        event("contentBlockStop", json!({"contentBlockIndex": 1})),
        event("contentBlockDelta", json!({"contentBlockIndex": 2, "delta": {"text": "42"}})),
        event("contentBlockStop", json!({"contentBlockIndex": 2})),
    ];
    expected.extend(ending("max_tokens"));
    assert_eq!(frames, expected);
}

#[test]
fn an_error_item_becomes_an_exception_frame_and_nothing_follows() {
    let cut = Status::unavailable("the model's stream ended early; the answer is incomplete");
    let frames = frames(vec![
        start(),
        delta(0, Delta::Text("Hal".into())),
        Err(cut),
        delta(0, Delta::Text("f".into())),
        stop(v1::StopReason::EndTurn),
        usage(),
    ]);
    assert_eq!(
        frames,
        vec![
            event("messageStart", json!({"role": "assistant"})),
            event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "Hal"}})),
            Frame {
                message_type: "exception".into(),
                kind: "serviceUnavailableException".into(),
                payload: json!({"message": "the model's stream ended early; the answer is incomplete"}),
            },
        ]
    );
}

#[test]
fn exception_frames_take_their_type_from_the_error_table() {
    let cases = [
        (Status::resource_exhausted("throttled"), "throttlingException"),
        (Status::deadline_exceeded("too slow"), "modelTimeoutException"),
        (Status::invalid_argument("bad"), "validationException"),
        (Status::internal("boom"), "internalServerException"),
        (Status::new(Code::Unavailable, "draining"), "serviceUnavailableException"),
    ];
    for (status, kind) in cases {
        let message = status.message().to_owned();
        let frames = frames(vec![Err(status)]);
        assert_eq!(
            frames,
            vec![Frame { message_type: "exception".into(), kind: kind.into(), payload: json!({"message": message}) }]
        );
    }
}

#[test]
fn each_poll_of_the_events_gives_at_most_one_chunk_and_the_end_stays_ended() {
    use std::task::{Context, Poll};

    use futures::Stream;
    let (sender, receiver) = futures::channel::mpsc::unbounded();
    let mut stream = Box::pin(event_stream(receiver));
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    assert!(stream.as_mut().poll_next(&mut cx).is_pending(), "nothing is sent before an event arrives");
    sender.unbounded_send(start()).unwrap();
    sender.unbounded_send(delta(0, Delta::Text("a".into()))).unwrap();
    assert!(matches!(stream.as_mut().poll_next(&mut cx), Poll::Ready(Some(Ok(_)))));
    assert!(matches!(stream.as_mut().poll_next(&mut cx), Poll::Ready(Some(Ok(_)))));
    assert!(stream.as_mut().poll_next(&mut cx).is_pending(), "events are not held back or batched");
    sender.unbounded_send(Err(Status::unavailable("cut"))).unwrap();
    sender.unbounded_send(stop(v1::StopReason::EndTurn)).unwrap();
    assert!(matches!(stream.as_mut().poll_next(&mut cx), Poll::Ready(Some(Ok(_)))), "the exception frame");
    assert!(matches!(stream.as_mut().poll_next(&mut cx), Poll::Ready(None)));
    assert!(matches!(stream.as_mut().poll_next(&mut cx), Poll::Ready(None)), "ended for good");
}
