//! The v1 ConverseResponse -> OpenAI's `chat.completion` object, and what it shares with the
//! streamed chunks: the completion id, the finish reason and the usage.

use bedrock_gateway_proto::v1;
use bytes::Bytes;
use serde::Serialize;
use tonic::Status;
use v1::content_block::Block;

use super::errors::incomplete;

/// The prefix OpenAI's completion ids have; the gateway's request id follows it.
const COMPLETION_ID_PREFIX: &str = "chatcmpl-";

/// The completion id of the request `request_id`: the request id, so that a caller quoting either
/// quotes both.
pub(super) fn completion_id(request_id: &str) -> String {
    format!("{COMPLETION_ID_PREFIX}{request_id}")
}

/// OpenAI's finish reason for a stop reason that ends a complete answer.
pub(super) fn finish_reason(reason: v1::StopReason) -> &'static str {
    use v1::StopReason as Stop;
    match reason {
        Stop::ToolUse => "tool_calls",
        Stop::MaxTokens | Stop::ContextWindowExceeded => "length",
        Stop::GuardrailIntervened | Stop::ContentFiltered => "content_filter",
        Stop::EndTurn
        | Stop::StopSequence
        | Stop::Other
        | Stop::Unspecified
        | Stop::MalformedToolUse
        | Stop::MalformedModelOutput => "stop",
    }
}

/// OpenAI's `usage`: its prompt tokens are all the input, cached or not.
#[derive(Debug, Serialize, PartialEq)]
pub(super) struct Usage {
    prompt_tokens: u32,
    completion_tokens: u32,
    total_tokens: u32,
    prompt_tokens_details: PromptTokensDetails,
}

#[derive(Debug, Serialize, PartialEq)]
struct PromptTokensDetails {
    cached_tokens: u32,
}

impl Usage {
    pub(super) fn of(usage: &v1::TokenUsage) -> Usage {
        let prompt_tokens = usage
            .input_tokens
            .saturating_add(usage.cache_read_input_tokens)
            .saturating_add(usage.cache_write_input_tokens);
        Usage {
            prompt_tokens,
            completion_tokens: usage.output_tokens,
            total_tokens: prompt_tokens.saturating_add(usage.output_tokens),
            prompt_tokens_details: PromptTokensDetails { cached_tokens: usage.cache_read_input_tokens },
        }
    }
}

#[derive(Debug, Serialize)]
struct Completion<'a> {
    id: String,
    object: &'static str,
    created: u64,
    model: &'a str,
    /// The version of the model that answered, as the platform team publishes it.
    #[serde(skip_serializing_if = "str::is_empty")]
    system_fingerprint: &'a str,
    choices: [Choice<'a>; 1],
    usage: Usage,
}

#[derive(Debug, Serialize)]
struct Choice<'a> {
    index: u32,
    message: Message<'a>,
    finish_reason: &'static str,
}

#[derive(Debug, Serialize)]
struct Message<'a> {
    role: &'static str,
    content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCall<'a>>,
}

#[derive(Debug, Serialize)]
pub(super) struct ToolCall<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionCall<'a>,
}

#[derive(Debug, Serialize)]
pub(super) struct FunctionCall<'a> {
    pub name: &'a str,
    pub arguments: &'a str,
}

/// The `chat.completion` object of a whole answer, created at `created` (Unix seconds). An answer
/// the model left incomplete (a malformed tool call or output) is an error instead: OpenAI has no
/// finish reason for it, and its tool calls must not be run.
pub fn chat_response(response: &v1::ConverseResponse, created: u64) -> Result<Bytes, Status> {
    let stop_reason = response.stop_reason();
    if stop_reason.is_incomplete() {
        return Err(incomplete(stop_reason, &response.request_id));
    }
    let blocks = response.output.iter().flat_map(|output| &output.content).filter_map(|block| block.block.as_ref());
    let mut text: Option<String> = None;
    let mut reasoning: Option<String> = None;
    let mut tool_calls = Vec::new();
    for block in blocks {
        match block {
            Block::Text(part) => text.get_or_insert_default().push_str(part),
            Block::Reasoning(part) if !part.text.is_empty() => reasoning.get_or_insert_default().push_str(&part.text),
            Block::ToolUse(tool_use) => tool_calls.push(ToolCall {
                id: &tool_use.tool_use_id,
                kind: "function",
                function: FunctionCall { name: &tool_use.name, arguments: &tool_use.input_json },
            }),
            _ => {}
        }
    }
    let completion = Completion {
        id: completion_id(&response.request_id),
        object: "chat.completion",
        created,
        model: &response.model,
        system_fingerprint: &response.model_version,
        choices: [Choice {
            index: 0,
            message: Message { role: "assistant", content: text, reasoning_content: reasoning, tool_calls },
            finish_reason: finish_reason(stop_reason),
        }],
        usage: Usage::of(&response.usage.unwrap_or_default()),
    };
    Ok(Bytes::from(serde_json::to_vec(&completion).expect("a completion serializes")))
}
