//! Bedrock Converse output -> the v1 whole-answer response.

use aws_sdk_bedrockruntime::operation::converse::ConverseOutput;
use aws_sdk_bedrockruntime::types as bedrock;
use bedrock_gateway_proto::v1;
use v1::content_block::Block;

use super::events::{stop_reason, token_usage};
use super::json;

/// The parts of a whole answer that come from Bedrock; the service adds ids and timing.
#[derive(Debug)]
pub struct Answer {
    /// The assistant message.
    pub output: v1::Message,
    /// Why the model stopped.
    pub stop_reason: v1::StopReason,
    /// Token counts.
    pub usage: v1::TokenUsage,
}

/// Converts Bedrock's answer, keeping the content kinds this API carries.
pub fn answer(output: ConverseOutput) -> Answer {
    let content = match output.output {
        Some(bedrock::ConverseOutput::Message(message)) => {
            message.content.into_iter().filter_map(content_block).collect()
        }
        _ => Vec::new(),
    };
    Answer {
        output: v1::Message { role: v1::Role::Assistant as i32, content },
        stop_reason: stop_reason(&output.stop_reason),
        usage: token_usage(output.usage.as_ref()),
    }
}

fn content_block(block: bedrock::ContentBlock) -> Option<v1::ContentBlock> {
    let block = match block {
        bedrock::ContentBlock::Text(text) => Block::Text(text),
        bedrock::ContentBlock::ToolUse(tool_use) => Block::ToolUse(v1::ToolUseBlock {
            tool_use_id: tool_use.tool_use_id,
            name: tool_use.name,
            input_json: json::from_document(&tool_use.input).to_string(),
        }),
        bedrock::ContentBlock::ReasoningContent(bedrock::ReasoningContentBlock::ReasoningText(reasoning)) => {
            Block::Reasoning(v1::ReasoningBlock {
                text: reasoning.text,
                signature: reasoning.signature.unwrap_or_default(),
                redacted: Vec::new(),
            })
        }
        bedrock::ContentBlock::ReasoningContent(bedrock::ReasoningContentBlock::RedactedContent(redacted)) => {
            Block::Reasoning(v1::ReasoningBlock {
                text: String::new(),
                signature: String::new(),
                redacted: redacted.into_inner(),
            })
        }
        _ => return None,
    };
    Some(v1::ContentBlock { block: Some(block) })
}
