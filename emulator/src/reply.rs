//! The content of one answer, shared by both operations.
//!
//! ConverseStream and Converse must say exactly the same thing; a `Reply`
//! is that content, computed once per request and rendered either as a
//! sequence of events or as one JSON document.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::cache::CacheUsage;
use crate::generate::{
    JsonSink, TOOL_USE, TokenSource, answer_length, expected_tool_input, expected_tool_use_id, push_json_string,
};
use crate::request::ConverseRequest;

/// Content of an answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) tokens: TokenSource,
    /// Number of text tokens, all in content block 0.
    pub(crate) text_len: usize,
    /// A tool call in content block 1, after the text.
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

/// A tool call; its input JSON is streamed in [`ToolCall::FRAGMENTS`] pieces.
#[derive(Debug)]
pub(crate) struct ToolCall {
    pub(crate) id: String,
    pub(crate) name: String,
    input: String,
    /// Byte offsets splitting `input` into fragments, on char boundaries.
    cuts: [usize; 2],
}

impl ToolCall {
    pub(crate) const FRAGMENTS: usize = 3;

    fn new(prompt: &str, name: &str) -> ToolCall {
        let input = expected_tool_input(prompt);
        let cut_near = |at: usize| (at..input.len()).find(|&i| input.is_char_boundary(i)).unwrap_or(input.len());
        let cuts = [cut_near(input.len() / 3), cut_near(input.len() * 2 / 3)];
        ToolCall { id: expected_tool_use_id(prompt), name: name.to_owned(), input, cuts }
    }

    pub(crate) fn fragment(&self, index: usize) -> &str {
        match index {
            0 => &self.input[..self.cuts[0]],
            1 => &self.input[self.cuts[0]..self.cuts[1]],
            _ => &self.input[self.cuts[1]..],
        }
    }
}

impl Reply {
    /// The full answer to `request`, which used the prompt cache as `cache` says.
    pub(crate) fn answer(request: &ConverseRequest, answer_tokens: usize, cache: Option<CacheUsage>) -> Reply {
        let prompt = request.last_user_text();
        let input_tokens = request.input_tokens();
        // Requests are validated on parse, so the tool lookup cannot fail here.
        match request.tool_to_call().ok().flatten() {
            Some(name) => Reply {
                tokens: TokenSource::ToolPreamble,
                text_len: TokenSource::TOOL_PREAMBLE_LEN,
                tool: Some(ToolCall::new(&prompt, name)),
                stop_reason: TOOL_USE,
                input_tokens,
                cache,
                unknown_block: false,
            },
            None => {
                let tokens = TokenSource::for_prompt(&prompt);
                let (text_len, stop_reason) =
                    answer_length(&tokens, request.max_tokens(), answer_tokens, request.stop_sequences());
                Reply { tokens, text_len, tool: None, stop_reason, input_tokens, cache, unknown_block: false }
            }
        }
    }

    /// The first `text_len` tokens of the plain answer to `request`, for
    /// faults that break off after a number of deltas.
    pub(crate) fn truncated(request: &ConverseRequest, text_len: usize) -> Reply {
        Reply {
            tokens: TokenSource::for_prompt(&request.last_user_text()),
            text_len,
            tool: None,
            stop_reason: crate::generate::END_TURN,
            input_tokens: request.input_tokens(),
            cache: None,
            unknown_block: false,
        }
    }

    /// The index of the text block; the tool call's is the next.
    pub(crate) fn text_index(&self) -> usize {
        usize::from(self.unknown_block)
    }

    /// Streamed deltas: text tokens plus tool input fragments. This is also
    /// the reported `outputTokens`.
    pub(crate) fn deltas(&self) -> usize {
        self.text_len + self.tool.as_ref().map_or(0, |_| ToolCall::FRAGMENTS)
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
            if self.text_len > 0 || self.tool.is_some() {
                out.push_str(",");
            }
        }
        if self.text_len > 0 {
            out.push_str("{\"text\":");
            let text: String = (0..self.text_len).map(|i| self.tokens.token(i)).collect();
            push_json_string(&mut out, &text);
            out.push_str("}");
        }
        if let Some(tool) = &self.tool {
            if self.text_len > 0 {
                out.push_str(",");
            }
            out.push_str("{\"toolUse\":{\"toolUseId\":");
            push_json_string(&mut out, &tool.id);
            out.push_str(",\"name\":");
            push_json_string(&mut out, &tool.name);
            out.push_str(",\"input\":");
            out.push_str(&tool.input);
            out.push_str("}}");
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
