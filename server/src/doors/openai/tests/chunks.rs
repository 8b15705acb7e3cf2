//! Streamed chat completions: the chunks OpenAI's clients parse, and the endings they trust.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

use bedrock_gateway_proto::v1;
use futures::{Stream, StreamExt, stream};
use serde_json::{Value, json};
use tonic::Status;
use v1::content_block_delta::Delta;
use v1::converse_stream_event::Event;

use super::events;
use crate::doors::openai::{ChunkMeta, chat_chunks};

type Item = Result<v1::ConverseStreamEvent, Status>;

fn event(event: Event) -> Item {
    Ok(v1::ConverseStreamEvent { event: Some(event) })
}

fn start() -> Item {
    event(Event::Start(v1::StreamStart { request_id: "r1".into(), model: "chat".into(), model_version: "v7".into() }))
}

fn delta(index: u32, delta: Delta) -> Item {
    event(Event::ContentBlockDelta(v1::ContentBlockDelta { content_block_index: index, delta: Some(delta) }))
}

fn text(index: u32, text: &str) -> Item {
    delta(index, Delta::Text(text.into()))
}

fn tool_start(index: u32, id: &str, name: &str) -> Item {
    event(Event::ContentBlockStart(v1::ContentBlockStart {
        content_block_index: index,
        start: Some(v1::content_block_start::Start::ToolUse(v1::ToolUseStart {
            tool_use_id: id.into(),
            name: name.into(),
        })),
    }))
}

fn block_stop(index: u32) -> Item {
    event(Event::ContentBlockStop(v1::ContentBlockStop { content_block_index: index }))
}

fn stop(reason: v1::StopReason) -> Item {
    event(Event::Stop(v1::StreamStop { stop_reason: reason as i32 }))
}

fn usage() -> Item {
    let usage = v1::TokenUsage {
        input_tokens: 10,
        output_tokens: 5,
        total_tokens: 18,
        cache_read_input_tokens: 3,
        cache_write_input_tokens: 0,
    };
    event(Event::Usage(v1::StreamUsage { usage: Some(usage), timing: None }))
}

fn meta(include_usage: bool) -> ChunkMeta {
    ChunkMeta { id: "r1".into(), model: "chat".into(), created: 1_700_000_000, include_usage }
}

/// The SSE writes of `events`, one per item of the output.
fn written(events: impl Stream<Item = Item> + Send + 'static, include_usage: bool) -> Vec<String> {
    let writes = futures::executor::block_on(chat_chunks(events, meta(include_usage)).collect::<Vec<_>>());
    writes.into_iter().map(|write| String::from_utf8(write.unwrap().to_vec()).unwrap()).collect()
}

/// The JSON of each event of `writes`, `[DONE]` as a string.
fn parsed(writes: &[String]) -> Vec<Value> {
    writes
        .iter()
        .flat_map(|write| events(write.as_bytes()))
        .map(|data| if data == "[DONE]" { json!("[DONE]") } else { serde_json::from_str(&data).unwrap() })
        .collect()
}

fn deltas(chunks: &[Value]) -> Vec<Value> {
    chunks.iter().filter_map(|chunk| chunk["choices"].get(0).map(|choice| choice["delta"].clone())).collect()
}

#[test]
fn a_text_answer_streams_as_openai_chunks_and_ends_with_done() {
    let items = vec![start(), text(0, "Hel"), text(0, "lo"), block_stop(0), stop(v1::StopReason::EndTurn), usage()];
    let writes = written(stream::iter(items), false);
    assert_eq!(writes.len(), 5, "one write per event with something to say: {writes:?}");
    let chunks = parsed(&writes);
    for chunk in &chunks[..4] {
        assert_eq!(chunk["id"], "chatcmpl-r1");
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["created"], 1_700_000_000);
        assert_eq!(chunk["model"], "chat");
        assert_eq!(chunk["system_fingerprint"], "v7");
        assert_eq!(chunk["choices"][0]["index"], 0);
        assert!(chunk.get("usage").is_none());
    }
    assert_eq!(
        deltas(&chunks),
        [json!({"role": "assistant", "content": ""}), json!({"content": "Hel"}), json!({"content": "lo"}), json!({})]
    );
    let finishes: Vec<_> = chunks[..4].iter().map(|chunk| chunk["choices"][0]["finish_reason"].clone()).collect();
    assert_eq!(finishes, [Value::Null, Value::Null, Value::Null, json!("stop")]);
    assert_eq!(chunks[4], "[DONE]");
}

#[test]
fn tool_calls_stream_with_their_ordinal_id_name_then_argument_fragments() {
    let items = vec![
        start(),
        text(0, "Let me check."),
        block_stop(0),
        tool_start(1, "t1", "weather"),
        delta(1, Delta::ToolUseInputJson("{\"city\":".into())),
        delta(1, Delta::ToolUseInputJson("\"Oslo\"}".into())),
        block_stop(1),
        tool_start(2, "t2", "now"),
        delta(2, Delta::ToolUseInputJson("{}".into())),
        block_stop(2),
        stop(v1::StopReason::ToolUse),
        usage(),
    ];
    let chunks = parsed(&written(stream::iter(items), true));
    let calls: Vec<Value> = deltas(&chunks).into_iter().filter_map(|delta| delta.get("tool_calls").cloned()).collect();
    assert_eq!(
        calls,
        [
            json!([{"index": 0, "id": "t1", "type": "function", "function": {"name": "weather", "arguments": ""}}]),
            json!([{"index": 0, "function": {"arguments": "{\"city\":"}}]),
            json!([{"index": 0, "function": {"arguments": "\"Oslo\"}"}}]),
            json!([{"index": 1, "id": "t2", "type": "function", "function": {"name": "now", "arguments": ""}}]),
            json!([{"index": 1, "function": {"arguments": "{}"}}]),
        ],
        "the index is the call's place among the tool calls, not the block's"
    );
    let finish = &chunks[chunks.len() - 3];
    assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
    let usage = &chunks[chunks.len() - 2];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": 13, "completion_tokens": 5, "total_tokens": 18, "prompt_tokens_details": {"cached_tokens": 3}})
    );
    assert_eq!(usage["id"], "chatcmpl-r1");
    assert_eq!(chunks[chunks.len() - 1], "[DONE]");
}

#[test]
fn reasoning_streams_as_reasoning_content_without_its_signature() {
    let items = vec![
        start(),
        delta(0, Delta::ReasoningText("Hm.".into())),
        delta(0, Delta::ReasoningSignature("sig".into())),
        block_stop(0),
        text(1, "Yes."),
        stop(v1::StopReason::EndTurn),
        usage(),
    ];
    let chunks = parsed(&written(stream::iter(items), false));
    assert_eq!(deltas(&chunks)[1..3], [json!({"reasoning_content": "Hm."}), json!({"content": "Yes."})]);
}

#[test]
fn include_usage_adds_the_usage_chunk_before_done() {
    let items = || vec![start(), text(0, "Hi"), stop(v1::StopReason::MaxTokens), usage()];
    let without = parsed(&written(stream::iter(items()), false));
    assert!(without.iter().all(|chunk| chunk.get("usage").is_none()));
    assert_eq!(without.len(), 4);
    let with = parsed(&written(stream::iter(items()), true));
    assert_eq!(with.len(), 5);
    assert_eq!(with[2]["choices"][0]["finish_reason"], "length");
    assert_eq!(with[3]["usage"]["total_tokens"], 18);
    assert_eq!(with[4], "[DONE]");
}

#[test]
fn an_error_item_ends_the_stream_with_an_error_event_and_no_done() {
    let failure = Status::unavailable("the model \"chat\" failed; the answer is incomplete");
    let items = vec![start(), text(0, "Hel"), Err(failure), text(0, "never"), stop(v1::StopReason::EndTurn), usage()];
    let writes = written(stream::iter(items), true);
    assert_eq!(writes.len(), 3, "nothing after the error event: {writes:?}");
    let chunks = parsed(&writes);
    assert_eq!(
        chunks[2],
        json!({"error": {
            "message": "the model \"chat\" failed; the answer is incomplete",
            "type": "server_error",
            "param": null,
            "code": "service_unavailable",
        }})
    );
    assert!(writes.iter().all(|write| !write.contains("[DONE]")));
}

#[test]
fn a_stream_that_ends_without_usage_never_looks_complete() {
    for items in [vec![start(), text(0, "Hi"), stop(v1::StopReason::EndTurn)], vec![start(), text(0, "Hi")]] {
        let writes = written(stream::iter(items), true);
        let last = parsed(&writes).pop().unwrap();
        assert_eq!(last["error"]["code"], "service_unavailable", "{writes:?}");
        assert!(last["error"]["message"].as_str().unwrap().contains("incomplete"));
        assert!(writes.iter().all(|write| !write.contains("[DONE]")));
    }
}

#[test]
fn a_malformed_tool_call_is_an_error_not_a_call_to_run() {
    let items = vec![
        start(),
        tool_start(0, "t1", "weather"),
        delta(0, Delta::ToolUseInputJson("{\"ci".into())),
        stop(v1::StopReason::MalformedToolUse),
        usage(),
    ];
    let writes = written(stream::iter(items), true);
    let chunks = parsed(&writes);
    assert_eq!(chunks.len(), 4, "no finish chunk and no usage chunk: {writes:?}");
    assert_eq!(chunks[3]["error"]["code"], "service_unavailable");
    assert!(chunks[3]["error"]["message"].as_str().unwrap().contains("tool call was malformed"));
    assert!(writes.iter().all(|write| !write.contains("[DONE]") && !write.contains("finish_reason\":\"tool_calls")));
}

#[test]
fn after_done_the_events_are_read_to_their_end_and_nothing_more_is_sent() {
    let drained = Arc::new(AtomicBool::new(false));
    let end = {
        let drained = Arc::clone(&drained);
        stream::poll_fn(move |_| {
            drained.store(true, Ordering::SeqCst);
            Poll::Ready(None)
        })
    };
    let items = vec![start(), text(0, "Hi"), stop(v1::StopReason::EndTurn), usage(), text(0, "late")];
    let writes = written(stream::iter(items).chain(end), false);
    assert!(writes.last().unwrap().ends_with("data: [DONE]\n\n"));
    assert!(writes.iter().all(|write| !write.contains("late")));
    assert!(drained.load(Ordering::SeqCst), "the relay was polled to its end");
}
