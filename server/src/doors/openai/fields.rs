//! OpenAI's names for the fields the pipeline refuses.
//!
//! The pipeline checks what needs the model (its caps, capabilities, modalities, tool names,
//! JSON) on the v1 request, and names v1 fields when it refuses one
//! (`tool_config.tools[0].name`, `messages[1].content[2].image`). A caller who sent OpenAI's
//! request must read its own field names, and since system messages leave the conversation and
//! tool messages merge into user turns, even the message numbers differ: so the door renames the
//! field of each refusal, knowing where each v1 field came from.

use super::messages::{Origin, Origins};
use crate::error::GatewayError;

/// Where a chat request's v1 fields came from.
#[derive(Debug, Clone, Default)]
pub struct ChatFields {
    pub(super) origins: Origins,
    /// The field the answer's length came from.
    pub(super) max_tokens: &'static str,
    /// Whether `stop` was one string rather than an array.
    pub(super) stop_is_string: bool,
}

impl ChatFields {
    /// `err`, naming the OpenAI field where it names a v1 one.
    pub fn rename(&self, err: GatewayError) -> GatewayError {
        match err {
            GatewayError::InvalidArgument { field, reason } => {
                GatewayError::InvalidArgument { field: self.openai(&field).unwrap_or(field), reason }
            }
            other => other,
        }
    }

    /// The OpenAI field a v1 field path came from; `None` for the fields named alike (`model`,
    /// `response_format`, ...).
    fn openai(&self, field: &str) -> Option<String> {
        let (head, rest) = field.find(['.', '[']).map_or((field, ""), |at| field.split_at(at));
        match head {
            "messages" => self.message(rest),
            "system" => match indexed(rest) {
                None => Some("messages".to_owned()),
                Some((index, _)) => {
                    let (message, part) = *self.origins.system.get(index)?;
                    Some(content(message, part))
                }
            },
            "tool_config" => Some(tool_config(rest)),
            "inference_config" => match rest {
                ".max_tokens" => Some(self.max_tokens.to_owned()),
                ".temperature" => Some("temperature".to_owned()),
                ".top_p" => Some("top_p".to_owned()),
                _ => {
                    let stop = rest.strip_prefix(".stop_sequences")?;
                    match indexed(stop) {
                        Some((index, _)) if !self.stop_is_string => Some(format!("stop[{index}]")),
                        _ => Some("stop".to_owned()),
                    }
                }
            },
            "reasoning" => Some("reasoning_effort".to_owned()),
            "response_format" if rest == ".json_schema.schema_json" => {
                Some("response_format.json_schema.schema".to_owned())
            }
            "request_metadata" => Some("metadata".to_owned()),
            _ => None,
        }
    }

    /// `messages` + `rest`, where `rest` follows v1's message numbers.
    fn message(&self, rest: &str) -> Option<String> {
        let Some((index, rest)) = indexed(rest) else { return Some("messages".to_owned()) };
        let turn = self.origins.turns.get(index)?;
        let first = turn.first;
        let Some(blocks) = rest.strip_prefix(".content") else {
            return Some(format!("messages[{first}]{rest}"));
        };
        let Some((block, rest)) = indexed(blocks) else { return Some(format!("messages[{first}].content")) };
        Some(match *turn.blocks.get(block)? {
            Origin::Content { message, part } => {
                let content = content(message, part);
                if rest == ".image" {
                    format!("{content}.image_url")
                } else if rest.starts_with(".image.") {
                    format!("{content}.image_url.url")
                } else if rest == ".document" {
                    format!("{content}.file")
                } else if rest == ".document.name" {
                    format!("{content}.file.filename")
                } else if rest.starts_with(".document.") {
                    format!("{content}.file.file_data")
                } else {
                    content
                }
            }
            Origin::ToolCall { message, call } => {
                let call = format!("messages[{message}].tool_calls[{call}]");
                match rest {
                    ".tool_use.input_json" => format!("{call}.function.arguments"),
                    ".tool_use.name" => format!("{call}.function.name"),
                    ".tool_use.tool_use_id" => format!("{call}.id"),
                    _ => call,
                }
            }
            Origin::ToolResult { message, parts } => {
                if rest == ".tool_result.tool_use_id" {
                    format!("messages[{message}].tool_call_id")
                } else if let Some(items) = rest.strip_prefix(".tool_result.content") {
                    match indexed(items) {
                        Some((item, _)) if parts => content(message, Some(item)),
                        _ => content(message, None),
                    }
                } else {
                    format!("messages[{message}]")
                }
            }
        })
    }
}

/// Where an embeddings request's v1 fields came from.
#[derive(Debug, Clone, Default)]
pub struct EmbeddingFields {
    /// Whether `input` was one string rather than an array.
    pub(super) input_is_string: bool,
}

impl EmbeddingFields {
    /// `err`, naming the OpenAI field where it names a v1 one.
    pub fn rename(&self, err: GatewayError) -> GatewayError {
        match err {
            GatewayError::InvalidArgument { field, reason } => {
                let renamed = match field.strip_prefix("texts") {
                    Some(rest) => match indexed(rest) {
                        Some((index, _)) if !self.input_is_string => format!("input[{index}]"),
                        _ => "input".to_owned(),
                    },
                    None if field.starts_with("request_metadata") => "user".to_owned(),
                    None => field,
                };
                GatewayError::InvalidArgument { field: renamed, reason }
            }
            other => other,
        }
    }
}

/// The index at the start of `rest` (`[3].text` -> 3 and `.text`).
fn indexed(rest: &str) -> Option<(usize, &str)> {
    let (digits, rest) = rest.strip_prefix('[')?.split_once(']')?;
    Some((digits.parse().ok()?, rest))
}

/// `messages[message].content`, or its part `part`.
fn content(message: usize, part: Option<usize>) -> String {
    match part {
        Some(part) => format!("messages[{message}].content[{part}]"),
        None => format!("messages[{message}].content"),
    }
}

/// The OpenAI field of `tool_config` + `rest`.
fn tool_config(rest: &str) -> String {
    if rest.starts_with(".tool_choice") {
        return if rest == ".tool_choice.tool" { "tool_choice.function.name" } else { "tool_choice" }.to_owned();
    }
    let Some((index, rest)) = rest.strip_prefix(".tools").and_then(indexed) else { return "tools".to_owned() };
    match rest {
        ".name" => format!("tools[{index}].function.name"),
        ".input_schema_json" => format!("tools[{index}].function.parameters"),
        ".strict" => format!("tools[{index}].function.strict"),
        _ => format!("tools[{index}]"),
    }
}
