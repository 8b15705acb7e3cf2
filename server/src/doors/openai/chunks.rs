//! The v1 event stream -> OpenAI's server-sent `chat.completion.chunk` events.
//!
//! Each v1 event becomes at most one SSE write, made as the event is polled: nothing is buffered,
//! so a token reaches the client as soon as Bedrock sends it. The stream ends the way OpenAI's
//! does (the finish chunk, the usage chunk if asked for, `data: [DONE]`) only when the v1 stream
//! ended complete (stop, then usage); any other end is an error event and no `[DONE]`, which the
//! `openai` packages raise as an error, so a cut answer never looks complete.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bedrock_gateway_proto::v1;
use bytes::Bytes;
use futures::Stream;
use serde::Serialize;
use tonic::Status;
use v1::content_block_delta::Delta as V1Delta;
use v1::converse_stream_event::Event;

use super::errors::{error_event, incomplete};
use super::response::{Usage, completion_id, finish_reason};

/// What every chunk of one answer repeats.
#[derive(Debug, Clone)]
pub struct ChunkMeta {
    /// The gateway's request id; the completion id is made of it.
    pub id: String,
    /// The alias asked for.
    pub model: String,
    /// When the request was received, in Unix seconds.
    pub created: u64,
    /// Whether the stream ends with a usage chunk (`stream_options.include_usage`).
    pub include_usage: bool,
}

/// The SSE body of a streamed chat completion answering with `events`.
pub fn chat_chunks(
    events: impl Stream<Item = Result<v1::ConverseStreamEvent, Status>> + Send + 'static,
    meta: ChunkMeta,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    Chunks { events, encoder: Encoder::new(meta), state: State::Streaming }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Events become chunks.
    Streaming,
    /// `[DONE]` was sent; the v1 stream is read to its end (the relay reads Bedrock's end of
    /// body then, so that its connection is reused), and nothing more is sent.
    Draining,
    /// The error event was sent, or the v1 stream ended.
    Ended,
}

pin_project_lite::pin_project! {
    struct Chunks<S> {
        #[pin]
        events: S,
        encoder: Encoder,
        state: State,
    }
}

impl<S: Stream<Item = Result<v1::ConverseStreamEvent, Status>>> Stream for Chunks<S> {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            if *this.state == State::Ended {
                return Poll::Ready(None);
            }
            let polled = ready!(this.events.as_mut().poll_next(cx));
            if *this.state == State::Draining {
                if polled.is_none() {
                    *this.state = State::Ended;
                }
                continue;
            }
            let step = match polled {
                Some(Ok(event)) => this.encoder.event(event),
                Some(Err(status)) => Step::Failed(error_event(&status)),
                None => Step::Failed(this.encoder.cut()),
            };
            match step {
                Step::Skip => {}
                Step::Chunk(chunk) => return Poll::Ready(Some(Ok(chunk))),
                Step::Done(last) => {
                    *this.state = State::Draining;
                    return Poll::Ready(Some(Ok(last)));
                }
                Step::Failed(error) => {
                    *this.state = State::Ended;
                    return Poll::Ready(Some(Ok(error)));
                }
            }
        }
    }
}

/// What one v1 event becomes.
#[derive(Debug, PartialEq)]
enum Step {
    /// Nothing for the client (a block's stop, a reasoning signature).
    Skip,
    /// A chunk.
    Chunk(Bytes),
    /// The end of a complete answer: the usage chunk (if asked for) and `[DONE]`.
    Done(Bytes),
    /// The error event that ends an incomplete answer.
    Failed(Bytes),
}

/// Turns one answer's v1 events into SSE writes.
#[derive(Debug)]
struct Encoder {
    /// The completion id.
    id: String,
    /// The request id, for the errors of an answer that ends incomplete.
    request_id: String,
    model: String,
    created: u64,
    include_usage: bool,
    /// The answering version, from the stream's start.
    fingerprint: String,
    /// The content block index of each tool call so far: a tool call's OpenAI index is its place
    /// among the tool calls, not among all blocks.
    tool_calls: Vec<u32>,
    stop: Option<v1::StopReason>,
}

#[derive(Debug, Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    system_fingerprint: &'a str,
    choices: &'a [ChunkChoice<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

#[derive(Debug, Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    finish_reason: Option<&'static str>,
}

#[derive(Debug, Default, Serialize)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCallDelta<'a>; 1]>,
}

#[derive(Debug, Serialize)]
struct ToolCallDelta<'a> {
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionDelta<'a>,
}

#[derive(Debug, Serialize)]
struct FunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

const DONE: &[u8] = b"data: [DONE]\n\n";

impl Encoder {
    fn new(meta: ChunkMeta) -> Encoder {
        Encoder {
            id: completion_id(&meta.id),
            request_id: meta.id,
            model: meta.model,
            created: meta.created,
            include_usage: meta.include_usage,
            fingerprint: String::new(),
            tool_calls: Vec::new(),
            stop: None,
        }
    }

    fn event(&mut self, event: v1::ConverseStreamEvent) -> Step {
        match event.event {
            Some(Event::Start(start)) => {
                self.fingerprint = start.model_version;
                Step::Chunk(self.delta(Delta { role: Some("assistant"), content: Some(""), ..Delta::default() }))
            }
            Some(Event::ContentBlockStart(start)) => match start.start {
                Some(v1::content_block_start::Start::ToolUse(tool_use)) => {
                    let index = self.tool_calls.len() as u32;
                    self.tool_calls.push(start.content_block_index);
                    let call = ToolCallDelta {
                        index,
                        id: Some(&tool_use.tool_use_id),
                        kind: Some("function"),
                        function: FunctionDelta { name: Some(&tool_use.name), arguments: "" },
                    };
                    Step::Chunk(self.delta(Delta { tool_calls: Some([call]), ..Delta::default() }))
                }
                None => Step::Skip,
            },
            Some(Event::ContentBlockDelta(delta)) => match delta.delta {
                Some(V1Delta::Text(text)) => {
                    Step::Chunk(self.delta(Delta { content: Some(&text), ..Delta::default() }))
                }
                Some(V1Delta::ReasoningText(text)) => {
                    Step::Chunk(self.delta(Delta { reasoning_content: Some(&text), ..Delta::default() }))
                }
                Some(V1Delta::ToolUseInputJson(fragment)) => {
                    let block = delta.content_block_index;
                    let Some(index) = self.tool_calls.iter().rposition(|&call| call == block) else {
                        return Step::Skip;
                    };
                    let call = ToolCallDelta {
                        index: index as u32,
                        id: None,
                        kind: None,
                        function: FunctionDelta { name: None, arguments: &fragment },
                    };
                    Step::Chunk(self.delta(Delta { tool_calls: Some([call]), ..Delta::default() }))
                }
                // Signatures and redacted reasoning have no place in OpenAI's chunks.
                Some(V1Delta::ReasoningSignature(_) | V1Delta::ReasoningRedacted(_)) | None => Step::Skip,
            },
            Some(Event::ContentBlockStop(_)) | None => Step::Skip,
            Some(Event::Stop(stop)) => {
                let reason = stop.stop_reason();
                self.stop = Some(reason);
                if reason.is_incomplete() {
                    // Told when the usage arrives, so that the relay settles the call as it ends.
                    return Step::Skip;
                }
                let choice =
                    ChunkChoice { index: 0, delta: Delta::default(), finish_reason: Some(finish_reason(reason)) };
                Step::Chunk(self.chunk(&[choice], None))
            }
            Some(Event::Usage(usage)) => match self.stop {
                Some(reason) if reason.is_incomplete() => {
                    Step::Failed(error_event(&incomplete(reason, &self.request_id)))
                }
                None => Step::Failed(self.cut()),
                Some(_) => {
                    let mut last = Vec::new();
                    if self.include_usage {
                        last = self.chunk(&[], Some(Usage::of(&usage.usage.unwrap_or_default()))).into();
                    }
                    last.extend_from_slice(DONE);
                    Step::Done(Bytes::from(last))
                }
            },
        }
    }

    /// The error event of a v1 stream that ended without its stop and usage, which the relay
    /// never does: a stream that did would still not look complete.
    fn cut(&self) -> Bytes {
        error_event(&Status::unavailable("the model's stream ended early; the answer is incomplete"))
    }

    fn delta(&self, delta: Delta<'_>) -> Bytes {
        self.chunk(&[ChunkChoice { index: 0, delta, finish_reason: None }], None)
    }

    fn chunk(&self, choices: &[ChunkChoice<'_>], usage: Option<Usage>) -> Bytes {
        let chunk = Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            system_fingerprint: &self.fingerprint,
            choices,
            usage,
        };
        let mut event = Vec::with_capacity(256);
        event.extend_from_slice(b"data: ");
        serde_json::to_writer(&mut event, &chunk).expect("a chunk serializes");
        event.extend_from_slice(b"\n\n");
        Bytes::from(event)
    }
}
