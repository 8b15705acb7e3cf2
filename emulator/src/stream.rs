//! The ConverseStream response body.
//!
//! One `EventStream` per response, polled by the connection's task: events
//! are produced lazily, paced with a single reusable timer, and everything
//! that is due is coalesced into one chunk, so a stream costs no task and
//! no per-token allocation beyond its output buffer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame};
use tokio::time::Sleep;

use crate::frame;
use crate::generate::{JsonSink, push_json_string};
use crate::observe::StreamGuard;
use crate::reply::{Reply, Thought, ToolCall, push_metrics};

/// Chunks are handed to hyper once they reach this size even if more
/// events are due, to bound memory per stream.
const CHUNK_TARGET: usize = 16 * 1024;

/// Room reserved before writing an event: enough for a text delta, so that
/// writing one costs at most one allocation.
const EVENT_RESERVE: usize = 256;

/// How a stream ends once its content events are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// `contentBlockStop`, `messageStop`, `metadata`, end of body.
    Complete,
    /// As `Complete`, without `metadata`.
    NoMetadata,
    /// A `modelStreamErrorException` frame right after the text deltas.
    StreamError,
    /// Nothing more after the text deltas, until the client leaves.
    Stall,
    /// The connection is dropped right after the text deltas.
    Close,
}

impl Ending {
    /// Whether the stream breaks off after the text deltas.
    fn breaks_off(self) -> bool {
        matches!(self, Ending::StreamError | Ending::Stall | Ending::Close)
    }
}

/// Pauses before deltas, as a model would take to produce tokens.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pacing {
    pub(crate) first_token: Duration,
    pub(crate) token_gap: Duration,
}

/// The body error hyper sees for `fault.close.N`; it makes hyper drop the
/// connection without terminating the chunked body.
#[derive(Debug, thiserror::Error)]
#[error("connection closed by fault injection")]
pub(crate) struct InjectedClose;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    MessageStart,
    Reasoning(usize),
    Signature,
    Redacted,
    ReasoningStop,
    Text(usize),
    TextStop,
    ToolStart,
    ToolInput(usize),
    ToolStop,
    MessageStop,
    Metadata,
    Ending,
    /// `fault.close.N` yielded once so hyper flushes what was sent.
    Closing,
    Done,
}

/// A ConverseStream response body.
#[derive(Debug)]
pub(crate) struct EventStream {
    reply: Reply,
    ending: Ending,
    pacing: Pacing,
    started: Instant,
    step: Step,
    deltas_sent: usize,
    /// When the previous delta was due (at first: when the stream began).
    /// Deadlines advance from here rather than from "now", so a stream that
    /// falls behind catches up, sending what is overdue in one chunk.
    last_due: tokio::time::Instant,
    timer: Option<Pin<Box<Sleep>>>,
    buf: BytesMut,
    guard: StreamGuard,
}

impl EventStream {
    pub(crate) fn new(
        reply: Reply,
        ending: Ending,
        pacing: Pacing,
        started: Instant,
        guard: StreamGuard,
    ) -> EventStream {
        EventStream {
            reply,
            ending,
            pacing,
            started,
            step: Step::MessageStart,
            deltas_sent: 0,
            last_due: tokio::time::Instant::now(),
            timer: None,
            buf: BytesMut::new(),
            guard,
        }
    }

    /// When the event at the current step is due, if it is a delta
    /// subject to a pause.
    fn deadline(&self) -> Option<tokio::time::Instant> {
        let is_delta = match self.step {
            Step::Reasoning(i) => i < crate::generate::TokenSource::REASONING_LEN,
            Step::Signature | Step::Redacted => true,
            Step::Text(i) => i < self.reply.text_len,
            Step::ToolInput(i) => i < ToolCall::FRAGMENTS,
            _ => false,
        };
        let pause = match (is_delta, self.deltas_sent) {
            (false, _) => return None,
            (true, 0) => self.pacing.first_token,
            (true, _) => self.pacing.token_gap,
        };
        (!pause.is_zero()).then(|| self.last_due + pause)
    }

    /// Waits for `deadline`, reusing one timer for the whole stream.
    fn poll_deadline(&mut self, cx: &mut Context<'_>, deadline: tokio::time::Instant) -> Poll<()> {
        let timer = match &mut self.timer {
            Some(timer) => {
                if timer.deadline() != deadline {
                    timer.as_mut().reset(deadline);
                }
                timer
            }
            None => self.timer.insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        timer.as_mut().poll(cx)
    }

    /// Writes the event at the current step, if any, and moves on.
    fn advance(&mut self) {
        if let Some(due) = self.deadline() {
            self.last_due = due;
        }
        let reply = &self.reply;
        self.step = match self.step {
            Step::MessageStart => {
                event(&mut self.buf, &mut self.guard, "messageStart", |b| b.push_str(r#"{"role":"assistant"}"#));
                match reply.reasoning {
                    Some(Thought::Text { .. }) => Step::Reasoning(0),
                    Some(Thought::Redacted(_)) => Step::Redacted,
                    None => Step::Text(0),
                }
            }
            Step::Reasoning(i) if i < crate::generate::TokenSource::REASONING_LEN => {
                let token = crate::generate::TokenSource::Reasoning.token(i);
                reasoning_delta(&mut self.buf, &mut self.guard, "text", token);
                self.deltas_sent += 1;
                Step::Reasoning(i + 1)
            }
            Step::Reasoning(_) => Step::Signature,
            Step::Signature => {
                if let Some(Thought::Text { signature }) = &reply.reasoning {
                    reasoning_delta(&mut self.buf, &mut self.guard, "signature", signature);
                }
                self.deltas_sent += 1;
                Step::ReasoningStop
            }
            Step::Redacted => {
                if let Some(Thought::Redacted(base64)) = &reply.reasoning {
                    reasoning_delta(&mut self.buf, &mut self.guard, "redactedContent", base64);
                }
                self.deltas_sent += 1;
                Step::ReasoningStop
            }
            Step::ReasoningStop => {
                block_stop(&mut self.buf, &mut self.guard, 0);
                Step::Text(0)
            }
            Step::Text(i) if i < reply.text_len => {
                let (index, token) = (reply.text_index(), reply.text(i));
                event(&mut self.buf, &mut self.guard, "contentBlockDelta", |b| {
                    b.push_str(r#"{"contentBlockIndex":"#);
                    b.push_str(INDEXES[index]);
                    b.push_str(r#","delta":{"text":"#);
                    push_json_string(b, token);
                    b.push_str("}}");
                });
                self.deltas_sent += 1;
                Step::Text(i + 1)
            }
            Step::Text(_) if self.ending.breaks_off() => Step::Ending,
            Step::Text(_) => Step::TextStop,
            Step::TextStop => {
                if reply.has_text_block() {
                    block_stop(&mut self.buf, &mut self.guard, reply.text_index());
                }
                if reply.tool.is_some() { Step::ToolStart } else { Step::MessageStop }
            }
            Step::ToolStart => {
                if let Some(tool) = &reply.tool {
                    event(&mut self.buf, &mut self.guard, "contentBlockStart", |b| {
                        b.push_str(r#"{"contentBlockIndex":"#);
                        b.push_str(INDEXES[reply.tool_index()]);
                        b.push_str(r#","start":{"toolUse":{"toolUseId":"#);
                        push_json_string(b, &tool.id);
                        b.push_str(r#","name":"#);
                        push_json_string(b, &tool.name);
                        b.push_str("}}}");
                    });
                }
                Step::ToolInput(0)
            }
            Step::ToolInput(i) if i < ToolCall::FRAGMENTS => {
                if let Some(tool) = &reply.tool {
                    event(&mut self.buf, &mut self.guard, "contentBlockDelta", |b| {
                        b.push_str(r#"{"contentBlockIndex":"#);
                        b.push_str(INDEXES[reply.tool_index()]);
                        b.push_str(r#","delta":{"toolUse":{"input":"#);
                        push_json_string(b, tool.fragment(i));
                        b.push_str("}}}");
                    });
                }
                self.deltas_sent += 1;
                Step::ToolInput(i + 1)
            }
            Step::ToolInput(_) => Step::ToolStop,
            Step::ToolStop => {
                block_stop(&mut self.buf, &mut self.guard, reply.tool_index());
                Step::MessageStop
            }
            Step::MessageStop => {
                event(&mut self.buf, &mut self.guard, "messageStop", |b| {
                    b.push_str(r#"{"stopReason":""#);
                    b.push_str(reply.stop_reason);
                    b.push_str(r#""}"#);
                });
                if self.ending == Ending::NoMetadata { Step::Ending } else { Step::Metadata }
            }
            Step::Metadata => {
                let latency = self.started.elapsed();
                event(&mut self.buf, &mut self.guard, "metadata", |b| {
                    b.push_str(r#"{"usage":"#);
                    reply.push_usage(b);
                    push_metrics(b, latency);
                    b.push_str("}");
                });
                Step::Ending
            }
            step @ (Step::Ending | Step::Closing | Step::Done) => step,
        };
    }

    /// Ends the body as `self.ending` says, once everything before it has
    /// been handed over.
    fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, InjectedClose>>> {
        match (self.step, self.ending) {
            (Step::Ending, Ending::StreamError) => {
                let message = format!(
                    "ModelStreamErrorException injected by bedrock-emulator for model {}",
                    self.guard.model_id()
                );
                exception(&mut self.buf, &mut self.guard, "modelStreamErrorException", |b| {
                    b.push_str(r#"{"message":"#);
                    push_json_string(b, &message);
                    b.push_str("}");
                });
                self.step = Step::Done;
                Poll::Ready(Some(Ok(Frame::data(self.buf.split().freeze()))))
            }
            // Never woken again: only the client leaving ends this stream,
            // which hyper notices by reading the connection while it waits.
            (Step::Ending, Ending::Stall) => Poll::Pending,
            (Step::Ending, Ending::Close) => {
                // Hyper writes the body chunk by chunk but flushes between
                // polls; failing right away could discard frames still in
                // its write buffer.
                self.step = Step::Closing;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            (Step::Closing, _) => {
                self.step = Step::Done;
                self.guard.completed();
                Poll::Ready(Some(Err(InjectedClose)))
            }
            _ => {
                self.step = Step::Done;
                self.guard.completed();
                Poll::Ready(None)
            }
        }
    }
}

impl Body for EventStream {
    type Data = Bytes;
    type Error = InjectedClose;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, InjectedClose>>> {
        let this = self.get_mut();
        loop {
            let deadline = this.deadline().filter(|&deadline| deadline > tokio::time::Instant::now());
            let waiting = matches!(this.step, Step::Ending | Step::Closing | Step::Done);
            if (waiting || deadline.is_some()) && !this.buf.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(this.buf.split().freeze()))));
            }
            if waiting {
                return this.poll_end(cx);
            }
            if let Some(deadline) = deadline {
                ready!(this.poll_deadline(cx, deadline));
            }
            this.advance();
            if this.buf.len() >= CHUNK_TARGET {
                return Poll::Ready(Some(Ok(Frame::data(this.buf.split().freeze()))));
            }
        }
    }
}

/// Content block indexes as text: an answer has at most three blocks.
const INDEXES: [&str; 3] = ["0", "1", "2"];

/// Appends a `contentBlockStop` event.
fn block_stop(buf: &mut BytesMut, guard: &mut StreamGuard, index: usize) {
    event(buf, guard, "contentBlockStop", |b| {
        b.push_str(r#"{"contentBlockIndex":"#);
        b.push_str(INDEXES[index]);
        b.push_str("}");
    });
}

/// Appends a `contentBlockDelta` of the reasoning block (index 0) with one field.
fn reasoning_delta(buf: &mut BytesMut, guard: &mut StreamGuard, field: &str, value: &str) {
    event(buf, guard, "contentBlockDelta", |b| {
        b.push_str(r#"{"contentBlockIndex":0,"delta":{"reasoningContent":{""#);
        b.push_str(field);
        b.push_str(r#"":"#);
        push_json_string(b, value);
        b.push_str("}}}");
    });
}

/// Appends an event frame.
fn event(buf: &mut BytesMut, guard: &mut StreamGuard, event_type: &str, payload: impl FnOnce(&mut BytesMut)) {
    let headers = [(":event-type", event_type), (":content-type", "application/json"), (":message-type", "event")];
    buf.reserve(EVENT_RESERVE);
    frame::encode(buf, &headers, payload);
    guard.event_sent();
}

/// Appends an exception frame.
fn exception(buf: &mut BytesMut, guard: &mut StreamGuard, exception_type: &str, payload: impl FnOnce(&mut BytesMut)) {
    let headers =
        [(":exception-type", exception_type), (":content-type", "application/json"), (":message-type", "exception")];
    buf.reserve(EVENT_RESERVE);
    frame::encode(buf, &headers, payload);
    guard.event_sent();
}
