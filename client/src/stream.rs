//! A streamed answer as typed events, its text alone, or collected into one [`Answer`].
//!
//! The wire events are generated `oneof`s wrapped in `Option`s; [`Event`] flattens them into one
//! enum a `match` reads naturally. The stream also enforces the two promises of the API on the
//! client side: the call's deadline covers the whole stream (not just its headers), and a stream
//! that ends without its final `usage` event is reported as an incomplete answer, never as a
//! short one.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bedrock_gateway_proto::v1;
use futures::{Stream, StreamExt};
use tokio::time::{Instant, Sleep};
use tonic::Code;
use v1::converse_stream_event::Event as Wire;

use crate::Error;

/// One event of a streamed answer.
///
/// A successful stream is `Start`, then content events, then `Stop` and `Usage`. Content blocks
/// are numbered by `index`; text blocks may begin with `Text` directly, tool-use blocks begin with
/// `ToolUseStart`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// Always first: who is answering.
    Start {
        /// The gateway's id for the request; quote it when reporting a problem.
        request_id: String,
        /// The logical model answering.
        model: String,
        /// The version of the model that actually answers.
        model_version: String,
    },
    /// The model asks to run a tool; its input follows as `ToolInput` fragments.
    ToolUseStart {
        /// The content block's position in the answer.
        index: u32,
        /// Identifies this use; send it back with the result.
        tool_use_id: String,
        /// The tool's name.
        name: String,
    },
    /// A piece of answer text.
    Text {
        /// The content block's position in the answer.
        index: u32,
        /// The text.
        text: String,
    },
    /// A fragment of a tool's JSON input; a block's fragments joined form one JSON object.
    ToolInput {
        /// The content block's position in the answer.
        index: u32,
        /// The fragment.
        json: String,
    },
    /// A piece of the model's reasoning (models that reason before answering).
    Reasoning {
        /// The content block's position in the answer.
        index: u32,
        /// The reasoning text.
        text: String,
    },
    /// The provider's signature over a reasoning block.
    ReasoningSignature {
        /// The content block's position in the answer.
        index: u32,
        /// The signature, to send back unchanged in later turns.
        signature: String,
    },
    /// A piece of redacted reasoning: reasoning the provider encrypted, opaque to the caller.
    RedactedReasoning {
        /// The content block's position in the answer.
        index: u32,
        /// The piece; a block's pieces joined form its value, to send back unchanged in later turns.
        data: Vec<u8>,
    },
    /// A content block is complete.
    BlockStop {
        /// The content block's position in the answer.
        index: u32,
    },
    /// The model stopped; second to last.
    Stop {
        /// Why. Reasons newer than this client read as [`v1::StopReason::Other`].
        reason: v1::StopReason,
    },
    /// Token usage and the gateway's timing; always last.
    Usage {
        /// Tokens counted by the model provider.
        usage: v1::TokenUsage,
        /// From the gateway receiving the request to the first content it sent.
        time_to_first_token: Option<Duration>,
        /// From the gateway receiving the request to the model's answer being complete.
        total: Option<Duration>,
    },
}

impl Event {
    /// The event a wire event carries; `None` for kinds newer than this client, which are skipped.
    pub fn from_proto(event: v1::ConverseStreamEvent) -> Option<Event> {
        use v1::content_block_delta::Delta;
        Some(match event.event? {
            Wire::Start(start) => {
                Event::Start { request_id: start.request_id, model: start.model, model_version: start.model_version }
            }
            Wire::ContentBlockStart(start) => match start.start? {
                v1::content_block_start::Start::ToolUse(tool) => Event::ToolUseStart {
                    index: start.content_block_index,
                    tool_use_id: tool.tool_use_id,
                    name: tool.name,
                },
            },
            Wire::ContentBlockDelta(delta) => {
                let index = delta.content_block_index;
                match delta.delta? {
                    Delta::Text(text) => Event::Text { index, text },
                    Delta::ToolUseInputJson(json) => Event::ToolInput { index, json },
                    Delta::ReasoningText(text) => Event::Reasoning { index, text },
                    Delta::ReasoningSignature(signature) => Event::ReasoningSignature { index, signature },
                    Delta::ReasoningRedacted(data) => Event::RedactedReasoning { index, data },
                }
            }
            Wire::ContentBlockStop(stop) => Event::BlockStop { index: stop.content_block_index },
            Wire::Stop(stop) => Event::Stop { reason: stop_reason(stop.stop_reason) },
            Wire::Usage(usage) => {
                let timing = usage.timing.unwrap_or_default();
                Event::Usage {
                    usage: usage.usage.unwrap_or_default(),
                    time_to_first_token: timing.time_to_first_token.and_then(|d| d.try_into().ok()),
                    total: timing.total.and_then(|d| d.try_into().ok()),
                }
            }
        })
    }
}

/// Unknown reasons are newer than this client; per the API they mean a complete answer.
fn stop_reason(value: i32) -> v1::StopReason {
    match v1::StopReason::try_from(value) {
        Ok(v1::StopReason::Unspecified) | Err(_) => v1::StopReason::Other,
        Ok(reason) => reason,
    }
}

/// The events of one answer, from [`Client::converse_stream`](crate::Client::converse_stream).
///
/// It is a [`Stream`] of `Result<Event, Error>`; [`EventStream::next`] reads it without importing a
/// stream trait. It ends after `Usage`, or with one error whose
/// [`is_incomplete`](Error::is_incomplete) is true: the stream broke, the deadline passed, or (after
/// `Stop` and `Usage`) the stop reason says the answer is incomplete
/// ([`Error::IncompleteAnswer`]). Dropping it cancels the call, and the gateway stops the model.
#[derive(Debug)]
pub struct EventStream {
    start: Option<Event>,
    request_id: String,
    inner: tonic::Streaming<v1::ConverseStreamEvent>,
    deadline: Option<(Pin<Box<Sleep>>, Duration)>,
    endpoint: Arc<str>,
    finished: bool,
    /// A stop reason that makes the answer incomplete, reported once the stream has ended.
    incomplete_stop: Option<v1::StopReason>,
    done: bool,
}

impl EventStream {
    /// `start` is the first event, already received; `deadline` is when the whole call must end,
    /// with the duration it was set from (for the error message).
    pub(crate) fn new(
        start: v1::ConverseStreamEvent,
        inner: tonic::Streaming<v1::ConverseStreamEvent>,
        deadline: Option<(Instant, Duration)>,
        endpoint: Arc<str>,
    ) -> EventStream {
        let start = Event::from_proto(start);
        let request_id = match &start {
            Some(Event::Start { request_id, .. }) => request_id.clone(),
            _ => String::new(),
        };
        EventStream {
            start,
            request_id,
            inner,
            deadline: deadline.map(|(at, timeout)| (Box::pin(tokio::time::sleep_until(at)), timeout)),
            endpoint,
            finished: false,
            incomplete_stop: None,
            done: false,
        }
    }

    /// The gateway's id for this request, from the `Start` event.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The next event; `None` after the last one or after an error.
    pub async fn next(&mut self) -> Option<Result<Event, Error>> {
        StreamExt::next(self).await
    }

    /// Only the answer's text, piece by piece as it arrives.
    pub fn text(self) -> TextStream {
        TextStream { events: self }
    }

    /// Reads the stream to its end and collects the whole answer; an answer whose stop reason makes
    /// it incomplete is [`Error::IncompleteAnswer`].
    pub async fn answer(mut self) -> Result<Answer, Error> {
        let mut answer = AnswerBuilder::default();
        while let Some(event) = self.next().await {
            answer.add(event?);
        }
        Ok(answer.finish())
    }

    fn fail(&mut self, error: Error) -> Poll<Option<Result<Event, Error>>> {
        self.done = true;
        Poll::Ready(Some(Err(error)))
    }
}

impl Stream for EventStream {
    type Item = Result<Event, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(start) = this.start.take() {
            return Poll::Ready(Some(Ok(start)));
        }
        if let Some((sleep, timeout)) = &mut this.deadline
            && sleep.as_mut().poll(cx).is_ready()
        {
            let deadline = *timeout;
            return this.fail(Error::DeadlineExceeded { deadline, incomplete: true });
        }
        loop {
            match ready!(Pin::new(&mut this.inner).poll_next(cx)) {
                Some(Ok(event)) => {
                    let Some(event) = Event::from_proto(event) else { continue };
                    this.finished = matches!(event, Event::Usage { .. });
                    if let Event::Stop { reason } = event
                        && reason.is_incomplete()
                    {
                        this.incomplete_stop = Some(reason);
                    }
                    return Poll::Ready(Some(Ok(event)));
                }
                Some(Err(status)) => return this.fail(Error::from_status(&status, &this.endpoint, true)),
                None if this.finished => {
                    if let Some(stop_reason) = this.incomplete_stop {
                        let request_id = this.request_id.clone();
                        return this.fail(Error::IncompleteAnswer { stop_reason, request_id });
                    }
                    this.done = true;
                    return Poll::Ready(None);
                }
                None => {
                    return this.fail(Error::Status {
                        code: Code::Unavailable,
                        message: "the stream ended without its final usage event".to_owned(),
                        request_id: Some(this.request_id.clone()),
                        incomplete: true,
                    });
                }
            }
        }
    }
}

/// Only the text of an answer, from [`EventStream::text`]: a [`Stream`] of `Result<String, Error>`.
#[derive(Debug)]
pub struct TextStream {
    events: EventStream,
}

impl TextStream {
    /// The next piece of text; `None` at the end of a complete answer or after an error.
    pub async fn next(&mut self) -> Option<Result<String, Error>> {
        StreamExt::next(self).await
    }

    /// The gateway's id for this request.
    pub fn request_id(&self) -> &str {
        self.events.request_id()
    }
}

impl Stream for TextStream {
    type Item = Result<String, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match ready!(Pin::new(&mut self.events).poll_next(cx)) {
                Some(Ok(Event::Text { text, .. })) => return Poll::Ready(Some(Ok(text))),
                Some(Ok(_)) => {}
                Some(Err(error)) => return Poll::Ready(Some(Err(error))),
                None => return Poll::Ready(None),
            }
        }
    }
}

/// A tool the model asks the caller to run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ToolUse {
    /// Identifies this use; pass it to [`Request::tool_result`](crate::Request::tool_result).
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The tool's input: a JSON object, as text.
    pub input_json: String,
}

/// A whole answer, from [`Client::converse`](crate::Client::converse) or [`EventStream::answer`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Answer {
    /// The gateway's id for the request.
    pub request_id: String,
    /// The logical model that answered.
    pub model: String,
    /// The version of the model that answered.
    pub model_version: String,
    /// The answer's text (all text blocks, joined).
    pub text: String,
    /// The tools the model asks to run, in order.
    pub tool_uses: Vec<ToolUse>,
    /// Why the model stopped: [`v1::StopReason::ToolUse`] when `tool_uses` wait for results.
    pub stop_reason: v1::StopReason,
    /// Tokens counted by the model provider.
    pub usage: v1::TokenUsage,
    /// From the gateway receiving the request to the first content it sent.
    pub time_to_first_token: Option<Duration>,
    /// From the gateway receiving the request to the model's answer being complete.
    pub total: Option<Duration>,
    /// The answer as an assistant message (reasoning, text and tool uses in order), to add to the
    /// conversation with [`Request::push`](crate::Request::push) for the next turn.
    pub message: v1::Message,
}

/// Builds an [`Answer`] from events, keeping content blocks in index order.
#[derive(Debug, Default)]
struct AnswerBuilder {
    answer: Option<Answer>,
    blocks: BTreeMap<u32, v1::content_block::Block>,
}

impl AnswerBuilder {
    fn add(&mut self, event: Event) {
        use v1::content_block::Block;
        let answer = self.answer.get_or_insert_with(|| Answer {
            request_id: String::new(),
            model: String::new(),
            model_version: String::new(),
            text: String::new(),
            tool_uses: Vec::new(),
            stop_reason: v1::StopReason::Other,
            usage: v1::TokenUsage::default(),
            time_to_first_token: None,
            total: None,
            message: v1::Message { role: v1::Role::Assistant as i32, content: Vec::new() },
        });
        match event {
            Event::Start { request_id, model, model_version } => {
                (answer.request_id, answer.model, answer.model_version) = (request_id, model, model_version);
            }
            Event::ToolUseStart { index, tool_use_id, name } => {
                self.blocks
                    .insert(index, Block::ToolUse(v1::ToolUseBlock { tool_use_id, name, input_json: String::new() }));
            }
            Event::Text { index, text } => {
                answer.text.push_str(&text);
                if let Block::Text(block) = self.blocks.entry(index).or_insert_with(|| Block::Text(String::new())) {
                    block.push_str(&text);
                }
            }
            Event::ToolInput { index, json } => {
                if let Some(Block::ToolUse(tool)) = self.blocks.get_mut(&index) {
                    tool.input_json.push_str(&json);
                }
            }
            Event::Reasoning { index, text } => {
                if let Block::Reasoning(block) =
                    self.blocks.entry(index).or_insert_with(|| Block::Reasoning(Default::default()))
                {
                    block.text.push_str(&text);
                }
            }
            Event::ReasoningSignature { index, signature } => {
                if let Block::Reasoning(block) =
                    self.blocks.entry(index).or_insert_with(|| Block::Reasoning(Default::default()))
                {
                    block.signature.push_str(&signature);
                }
            }
            Event::RedactedReasoning { index, data } => {
                if let Block::Reasoning(block) =
                    self.blocks.entry(index).or_insert_with(|| Block::Reasoning(Default::default()))
                {
                    block.redacted.extend_from_slice(&data);
                }
            }
            Event::BlockStop { .. } => {}
            Event::Stop { reason } => answer.stop_reason = reason,
            Event::Usage { usage, time_to_first_token, total } => {
                (answer.usage, answer.time_to_first_token, answer.total) = (usage, time_to_first_token, total);
            }
        }
    }

    fn finish(self) -> Answer {
        let mut answer = self.answer.expect("a stream that ends without error has a start event");
        for block in self.blocks.into_values() {
            if let v1::content_block::Block::ToolUse(tool) = &block {
                answer.tool_uses.push(ToolUse {
                    id: tool.tool_use_id.clone(),
                    name: tool.name.clone(),
                    input_json: tool.input_json.clone(),
                });
            }
            answer.message.content.push(v1::ContentBlock { block: Some(block) });
        }
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use v1::content_block::Block;

    fn delta(index: u32, delta: v1::content_block_delta::Delta) -> Event {
        Event::from_proto(v1::ConverseStreamEvent {
            event: Some(Wire::ContentBlockDelta(v1::ContentBlockDelta {
                content_block_index: index,
                delta: Some(delta),
            })),
        })
        .unwrap()
    }

    #[test]
    fn unknown_and_empty_events_are_skipped() {
        assert_eq!(Event::from_proto(v1::ConverseStreamEvent { event: None }), None);
        let empty_delta = v1::ConverseStreamEvent { event: Some(Wire::ContentBlockDelta(Default::default())) };
        assert_eq!(Event::from_proto(empty_delta), None);
    }

    #[test]
    fn unknown_stop_reasons_read_as_other() {
        assert_eq!(stop_reason(99), v1::StopReason::Other);
        assert_eq!(stop_reason(0), v1::StopReason::Other);
        assert_eq!(stop_reason(v1::StopReason::MaxTokens as i32), v1::StopReason::MaxTokens);
        let malformed = stop_reason(v1::StopReason::MalformedToolUse as i32);
        assert!(malformed.is_incomplete(), "known to this client, so not read as a complete Other");
    }

    #[test]
    fn collects_text_and_tool_uses_in_block_order() {
        use v1::content_block_delta::Delta;
        let mut builder = AnswerBuilder::default();
        for event in [
            Event::Start { request_id: "r".into(), model: "chat".into(), model_version: "v".into() },
            delta(0, Delta::Text("Let me ".into())),
            delta(0, Delta::Text("check.".into())),
            Event::BlockStop { index: 0 },
            Event::ToolUseStart { index: 1, tool_use_id: "t1".into(), name: "weather".into() },
            delta(1, Delta::ToolUseInputJson("{\"city\":".into())),
            delta(1, Delta::ToolUseInputJson("\"Oslo\"}".into())),
            Event::BlockStop { index: 1 },
            Event::Stop { reason: v1::StopReason::ToolUse },
            Event::Usage {
                usage: v1::TokenUsage { input_tokens: 3, output_tokens: 4, total_tokens: 7, ..Default::default() },
                time_to_first_token: None,
                total: None,
            },
        ] {
            builder.add(event);
        }
        let answer = builder.finish();
        assert_eq!(answer.text, "Let me check.");
        assert_eq!(
            answer.tool_uses,
            [ToolUse { id: "t1".into(), name: "weather".into(), input_json: "{\"city\":\"Oslo\"}".into() }]
        );
        assert_eq!(answer.stop_reason, v1::StopReason::ToolUse);
        assert_eq!(answer.usage.total_tokens, 7);
        assert_eq!(answer.message.content.len(), 2);
        assert_eq!(answer.message.content[0].block, Some(Block::Text("Let me check.".into())));
    }
}
