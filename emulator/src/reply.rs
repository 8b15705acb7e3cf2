//! The content of one answer, shared by both operations.
//!
//! ConverseStream and Converse must say exactly the same thing; a `Reply`
//! is that content, computed once per request and rendered either as a
//! sequence of events or as one JSON document.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::{Bytes, BytesMut};

use crate::cache::CacheUsage;
use crate::generate::{
    END_TURN, JsonSink, REASONING_TEXT, TOOL_USE, TokenSource, answer_length, expected_json,
    expected_reasoning_signature, expected_redacted_reasoning, expected_tool_input_for, expected_tool_use_id,
    push_json_string,
};
use crate::request::{ConverseRequest, asks_for_redaction};

/// Content of an answer: reasoning (block 0, when asked for), text, then a tool call, each in
/// the next content block.
#[derive(Debug)]
pub(crate) struct Reply {
    /// Reasoning before the answer, in content block 0.
    pub(crate) reasoning: Option<Thought>,
    pub(crate) tokens: TokenSource,
    /// Number of text deltas: tokens, or fragments of `json`.
    pub(crate) text_len: usize,
    /// The text, when it is JSON generated from `outputConfig`'s schema.
    json: Option<Fragments>,
    /// A tool call, after the text.
    pub(crate) tool: Option<ToolCall>,
    pub(crate) stop_reason: &'static str,
    /// The prompt's tokens, cached ones included.
    pub(crate) input_tokens: usize,
    /// What the request read from and wrote to the prompt cache, when it has cache points.
    pub(crate) cache: Option<CacheUsage>,
    /// A content block of a kind the SDK does not know comes first, so the
    /// text is block 1 and the tool call block 2.
    pub(crate) unknown_block: bool,
}

/// Reasoning before the answer.
#[derive(Debug)]
pub(crate) enum Thought {
    /// [`REASONING_TEXT`], streamed token by token, then this signature.
    Text { signature: String },
    /// Redacted reasoning, as the base64 it travels as, in one delta.
    Redacted(String),
}

impl Thought {
    /// Its deltas.
    pub(crate) fn deltas(&self) -> usize {
        match self {
            Thought::Text { .. } => TokenSource::REASONING_LEN + 1,
            Thought::Redacted(_) => 1,
        }
    }
}

/// Text streamed in [`Fragments::COUNT`] pieces.
#[derive(Debug)]
pub(crate) struct Fragments {
    text: String,
    /// Byte offsets splitting `text` into fragments, on char boundaries.
    cuts: [usize; 2],
}

impl Fragments {
    pub(crate) const COUNT: usize = 3;

    fn new(text: String) -> Fragments {
        let cut_near = |at: usize| (at..text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
        let cuts = [cut_near(text.len() / 3), cut_near(text.len() * 2 / 3)];
        Fragments { text, cuts }
    }

    pub(crate) fn fragment(&self, index: usize) -> &str {
        match index {
            0 => &self.text[..self.cuts[0]],
            1 => &self.text[self.cuts[0]..self.cuts[1]],
            _ => &self.text[self.cuts[1]..],
        }
    }
}

/// A tool call; its input JSON is streamed in [`ToolCall::FRAGMENTS`] pieces.
#[derive(Debug)]
pub(crate) struct ToolCall {
    pub(crate) id: String,
    pub(crate) name: String,
    input: Fragments,
}

impl ToolCall {
    pub(crate) const FRAGMENTS: usize = Fragments::COUNT;

    fn new(prompt: &str, name: &str, schema: Option<&serde_json::Value>) -> ToolCall {
        let input = Fragments::new(expected_tool_input_for(schema, prompt));
        ToolCall { id: expected_tool_use_id(prompt), name: name.to_owned(), input }
    }

    pub(crate) fn fragment(&self, index: usize) -> &str {
        self.input.fragment(index)
    }
}

impl Reply {
    /// The full answer to `request`, which used the prompt cache as `cache` says.
    pub(crate) fn answer(request: &ConverseRequest, answer_tokens: usize, cache: Option<CacheUsage>) -> Reply {
        let prompt = request.last_user_text();
        let input_tokens = request.input_tokens();
        let reasoning = request.reasons().then(|| {
            if asks_for_redaction(&prompt) {
                Thought::Redacted(BASE64.encode(expected_redacted_reasoning(&prompt)))
            } else {
                Thought::Text { signature: expected_reasoning_signature(&prompt) }
            }
        });
        // Requests are validated on parse, so the tool lookup and the schema cannot fail here.
        if let Some(name) = request.tool_to_call().ok().flatten() {
            return Reply {
                reasoning,
                tokens: TokenSource::ToolPreamble,
                text_len: if request.forces_tool() { 0 } else { TokenSource::TOOL_PREAMBLE_LEN },
                json: None,
                tool: Some(ToolCall::new(&prompt, name, request.tool_schema(name))),
                stop_reason: TOOL_USE,
                input_tokens,
                cache,
                unknown_block: false,
            };
        }
        let tokens = TokenSource::for_prompt(&prompt);
        if let Some(schema) = request.json_schema().ok().flatten() {
            return Reply {
                reasoning,
                tokens,
                text_len: Fragments::COUNT,
                json: Some(Fragments::new(expected_json(&schema, &prompt))),
                tool: None,
                stop_reason: END_TURN,
                input_tokens,
                cache,
                unknown_block: false,
            };
        }
        let (text_len, stop_reason) =
            answer_length(&tokens, request.max_tokens(), answer_tokens, request.stop_sequences());
        Reply {
            reasoning,
            tokens,
            text_len,
            json: None,
            tool: None,
            stop_reason,
            input_tokens,
            cache,
            unknown_block: false,
        }
    }

    /// Text delta `index`.
    pub(crate) fn text(&self, index: usize) -> &str {
        match &self.json {
            Some(json) => json.fragment(index),
            None => self.tokens.token(index),
        }
    }

    /// Whether the answer has a text block: it has text, or nothing else.
    pub(crate) fn has_text_block(&self) -> bool {
        self.text_len > 0 || self.tool.is_none()
    }

    /// The content block index of the text: after the reasoning or the unknown block.
    pub(crate) fn text_index(&self) -> usize {
        usize::from(self.reasoning.is_some()) + usize::from(self.unknown_block)
    }

    /// The content block index of the tool call.
    pub(crate) fn tool_index(&self) -> usize {
        self.text_index() + usize::from(self.has_text_block())
    }

    /// The first `text_len` tokens of the plain answer to `request`, for
    /// faults that break off after a number of deltas.
    pub(crate) fn truncated(request: &ConverseRequest, text_len: usize) -> Reply {
        Reply {
            reasoning: None,
            tokens: TokenSource::for_prompt(&request.last_user_text()),
            text_len,
            json: None,
            tool: None,
            stop_reason: END_TURN,
            input_tokens: request.input_tokens(),
            cache: None,
            unknown_block: false,
        }
    }

    /// Streamed deltas: reasoning, text and tool input fragments. This is
    /// also the reported `outputTokens`.
    pub(crate) fn deltas(&self) -> usize {
        self.reasoning.as_ref().map_or(0, Thought::deltas)
            + self.text_len
            + self.tool.as_ref().map_or(0, |_| ToolCall::FRAGMENTS)
    }

    /// How long generating the reply takes with the given pacing, so that
    /// Converse is as slow as the equivalent stream.
    pub(crate) fn duration(&self, first_token: Duration, token_gap: Duration) -> Duration {
        match self.deltas() {
            0 => Duration::ZERO,
            n => first_token + token_gap * (n as u32 - 1),
        }
    }

    /// Appends the `usage` object: `inputTokens` are the prompt's tokens
    /// neither read from nor written to the cache, and `totalTokens` counts
    /// every token, as Bedrock's do.
    pub(crate) fn push_usage(&self, out: &mut BytesMut) {
        let output = self.deltas();
        let cache = self.cache.unwrap_or_default();
        out.push_str("{\"inputTokens\":");
        out.push_str(&self.input_tokens.saturating_sub(cache.read + cache.write).to_string());
        out.push_str(",\"outputTokens\":");
        out.push_str(&output.to_string());
        out.push_str(",\"totalTokens\":");
        out.push_str(&(self.input_tokens + output).to_string());
        if self.cache.is_some() {
            out.push_str(",\"cacheReadInputTokens\":");
            out.push_str(&cache.read.to_string());
            out.push_str(",\"cacheWriteInputTokens\":");
            out.push_str(&cache.write.to_string());
        }
        out.push_str("}");
    }

    /// The Converse response body.
    pub(crate) fn converse_json(&self, latency: Duration) -> Bytes {
        let mut out = BytesMut::with_capacity(256 + self.text_len * 12);
        out.push_str("{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[");
        if self.unknown_block {
            out.push_str(UNKNOWN_MEMBER);
            out.push_str(",");
        }
        match &self.reasoning {
            Some(Thought::Text { signature }) => {
                out.push_str("{\"reasoningContent\":{\"reasoningText\":{\"text\":");
                push_json_string(&mut out, REASONING_TEXT);
                out.push_str(",\"signature\":");
                push_json_string(&mut out, signature);
                out.push_str("}}},");
            }
            Some(Thought::Redacted(base64)) => {
                out.push_str("{\"reasoningContent\":{\"redactedContent\":");
                push_json_string(&mut out, base64);
                out.push_str("}},");
            }
            None => {}
        }
        if self.text_len > 0 {
            out.push_str("{\"text\":");
            let text: String = (0..self.text_len).map(|i| self.text(i)).collect();
            push_json_string(&mut out, &text);
            out.push_str("},");
        }
        if let Some(tool) = &self.tool {
            out.push_str("{\"toolUse\":{\"toolUseId\":");
            push_json_string(&mut out, &tool.id);
            out.push_str(",\"name\":");
            push_json_string(&mut out, &tool.name);
            out.push_str(",\"input\":");
            out.push_str(&tool.input.text);
            out.push_str("}},");
        }
        if out.ends_with(b",") {
            out.truncate(out.len() - 1);
        }
        out.push_str("]}},\"stopReason\":\"");
        out.push_str(self.stop_reason);
        out.push_str("\",\"usage\":");
        self.push_usage(&mut out);
        push_metrics(&mut out, latency);
        out.push_str("}");
        out.freeze()
    }
}

/// A union member no SDK knows, standing for the content kinds Bedrock adds
/// after a client was built.
pub(crate) const UNKNOWN_MEMBER: &str = r#"{"futureContent":{}}"#;

/// Appends `,"metrics":{"latencyMs":N}`.
pub(crate) fn push_metrics(out: &mut BytesMut, latency: Duration) {
    out.push_str(",\"metrics\":{\"latencyMs\":");
    out.push_str(&latency.as_millis().to_string());
    out.push_str("}");
}
