//! The pipeline's stream -> ConverseStream's body: one `application/vnd.amazon.eventstream` frame
//! per event, as Bedrock sends them and the AWS SDKs parse them (`:message-type` event, an
//! `:event-type` of messageStart, contentBlockStart, contentBlockDelta, contentBlockStop,
//! messageStop or metadata, and a JSON payload).
//!
//! The v1 stream has Bedrock's own shape (it was relayed from it), so each event maps to one
//! frame. An error item becomes an exception frame and the body ends there: an SDK raises the
//! exception, and never sees a clean end of a cut answer. Nothing is buffered: each poll of the
//! events gives at most one chunk.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use aws_smithy_types::str_bytes::StrBytes;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bedrock_gateway_proto::v1;
use bytes::{Bytes, BytesMut};
use futures::Stream;
use pin_project_lite::pin_project;
use serde::Serialize;
use tonic::Status;
use v1::content_block_delta::Delta as V1Delta;
use v1::converse_stream_event::Event;

use super::errors::{Exception, message_body};
use super::response::{Metrics, Usage, stop_reason, to_json};

/// Room for a frame's prelude, headers and checksum besides its payload.
const FRAME_OVERHEAD: usize = 128;

/// ConverseStream's body for `events`, the pipeline's stream.
pub fn event_stream(
    events: impl Stream<Item = Result<v1::ConverseStreamEvent, Status>> + Send + 'static,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    Frames { events, ended: false }
}

pin_project! {
    /// The frames of a stream of events, ending after the first error.
    #[derive(Debug)]
    struct Frames<S> {
        #[pin]
        events: S,
        ended: bool,
    }
}

impl<S: Stream<Item = Result<v1::ConverseStreamEvent, Status>>> Stream for Frames<S> {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        while !*this.ended {
            match ready!(this.events.as_mut().poll_next(cx)) {
                Some(Ok(event)) => {
                    if let Some(frame) = event_frame(event) {
                        return Poll::Ready(Some(Ok(frame)));
                    }
                }
                Some(Err(status)) => {
                    *this.ended = true;
                    return Poll::Ready(Some(Ok(exception_frame(&status))));
                }
                None => *this.ended = true,
            }
        }
        Poll::Ready(None)
    }
}

#[derive(Debug, Serialize)]
struct MessageStart {
    role: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BlockStart<'a> {
    content_block_index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    start: Option<Start<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
enum Start<'a> {
    ToolUse(ToolUseStart<'a>),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolUseStart<'a> {
    tool_use_id: &'a str,
    name: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BlockDelta<'a> {
    content_block_index: u32,
    delta: Delta<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
enum Delta<'a> {
    Text(&'a str),
    ToolUse { input: &'a str },
    ReasoningContent(ReasoningDelta<'a>),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
enum ReasoningDelta<'a> {
    Text(&'a str),
    Signature(&'a str),
    RedactedContent(String),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BlockStop {
    content_block_index: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageStop {
    stop_reason: &'static str,
}

#[derive(Debug, Serialize)]
struct Metadata {
    usage: Usage,
    metrics: Metrics,
}

/// The frame of one event; `None` for an event that carries nothing (never sent by the pipeline).
fn event_frame(event: v1::ConverseStreamEvent) -> Option<Bytes> {
    let (event_type, payload) = match event.event? {
        Event::Start(_) => ("messageStart", to_json(&MessageStart { role: "assistant" })),
        Event::ContentBlockStart(start) => {
            let tool_use = start.start.as_ref().map(|v1::content_block_start::Start::ToolUse(tool_use)| {
                Start::ToolUse(ToolUseStart { tool_use_id: &tool_use.tool_use_id, name: &tool_use.name })
            });
            (
                "contentBlockStart",
                to_json(&BlockStart { content_block_index: start.content_block_index, start: tool_use }),
            )
        }
        Event::ContentBlockDelta(delta) => {
            let content_block_index = delta.content_block_index;
            let delta = match delta.delta.as_ref()? {
                V1Delta::Text(text) => Delta::Text(text),
                V1Delta::ToolUseInputJson(input) => Delta::ToolUse { input },
                V1Delta::ReasoningText(text) => Delta::ReasoningContent(ReasoningDelta::Text(text)),
                V1Delta::ReasoningSignature(signature) => Delta::ReasoningContent(ReasoningDelta::Signature(signature)),
                V1Delta::ReasoningRedacted(redacted) => {
                    Delta::ReasoningContent(ReasoningDelta::RedactedContent(BASE64.encode(redacted)))
                }
            };
            ("contentBlockDelta", to_json(&BlockDelta { content_block_index, delta }))
        }
        Event::ContentBlockStop(stop) => {
            ("contentBlockStop", to_json(&BlockStop { content_block_index: stop.content_block_index }))
        }
        Event::Stop(stop) => ("messageStop", to_json(&MessageStop { stop_reason: stop_reason(stop.stop_reason) })),
        Event::Usage(usage) => (
            "metadata",
            to_json(&Metadata { usage: Usage::of(usage.usage.as_ref()), metrics: Metrics::of(usage.timing.as_ref()) }),
        ),
    };
    Some(frame(
        [(":event-type", event_type), (":content-type", "application/json"), (":message-type", "event")],
        payload,
    ))
}

/// The exception frame for `status`: its exception from the same table as the HTTP errors.
fn exception_frame(status: &Status) -> Bytes {
    let exception = Exception::of(status);
    frame(
        [
            (":exception-type", exception.frame_name),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        message_body(status),
    )
}

fn frame(headers: [(&'static str, &'static str); 3], payload: Bytes) -> Bytes {
    let headers = headers
        .into_iter()
        .map(|(name, value)| Header::new(name, HeaderValue::String(StrBytes::from(value))))
        .collect();
    let message = Message::new_from_parts(headers, payload);
    let mut out = BytesMut::with_capacity(message.payload().len() + FRAME_OVERHEAD);
    write_message_to(&message, &mut out).expect("an event is far within an event-stream frame's limits");
    out.freeze()
}

#[cfg(test)]
mod tests;
