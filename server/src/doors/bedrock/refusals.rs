//! The pipeline's refusals, their field named as the caller's Bedrock body names it.
//!
//! The pipeline validates the v1 request every door decodes into, and names a bad field as v1
//! does (`inference_config.max_tokens`, `messages[0].content[1].tool_use.input_json`). A caller
//! of this door sent Bedrock's JSON, so the door renames the field to the member it sent
//! (`inferenceConfig.maxTokens`, `messages[0].content[1].toolUse.input`) before the refusal
//! becomes a status. Every other error passes unchanged.

use super::EmbedShape;
use crate::error::GatewayError;

/// A refusal of a Converse or ConverseStream request, named as its body names the field.
pub fn converse_refusal(err: GatewayError) -> GatewayError {
    renamed(err, |field| converse_field(field, ""))
}

/// A refusal of a CountTokens request, named as its body names the field (under
/// `input.converse.`).
pub fn count_tokens_refusal(err: GatewayError) -> GatewayError {
    renamed(err, |field| converse_field(field, "input.converse."))
}

/// A refusal of an embedding request of `shape`, named as its family's body names the field.
pub fn embed_refusal(err: GatewayError, shape: &EmbedShape) -> GatewayError {
    renamed(err, |field| {
        let (name, index) = split_index(field);
        match (name, shape) {
            ("model", _) => "modelId".to_owned(),
            ("texts", EmbedShape::Titan { .. }) => "inputText".to_owned(),
            ("texts", EmbedShape::Cohere { .. }) => format!("texts{index}"),
            ("purpose", _) => "input_type".to_owned(),
            _ => field.to_owned(),
        }
    })
}

fn renamed(err: GatewayError, rename: impl FnOnce(&str) -> String) -> GatewayError {
    match err {
        GatewayError::InvalidArgument { field, reason } => {
            GatewayError::InvalidArgument { field: rename(&field), reason }
        }
        other => other,
    }
}

/// `name[3]` -> (`name`, `[3]`).
fn split_index(segment: &str) -> (&str, &str) {
    segment.find('[').map_or((segment, ""), |at| segment.split_at(at))
}

/// Where in a Converse body a path has got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Root,
    Message,
    Block,
    Image,
    Document,
    ToolUse,
    ToolResult,
    Reasoning,
    CachePoint,
    Inference,
    Tools,
    Tool,
    ToolChoice,
    Format,
    JsonSchema,
    /// Past the last member this door renames: the rest is the body's too.
    Leaf,
    /// Past a member whose v1 members the body does not have.
    Dropped,
}

/// The Bedrock name of v1's member `name` at `at`, and where it leads.
fn step(at: At, name: &str) -> (&str, At) {
    match (at, name) {
        (At::Root, "messages") => ("messages", At::Message),
        (At::Message, "content") | (At::ToolResult, "content") => ("content", At::Block),
        (At::Block, "image") => ("image", At::Image),
        (At::Block, "document") => ("document", At::Document),
        (At::Image | At::Document, "data") => ("source.bytes", At::Leaf),
        (At::Block, "tool_use") => ("toolUse", At::ToolUse),
        (At::ToolUse | At::ToolResult, "tool_use_id") => ("toolUseId", At::Leaf),
        (At::ToolUse, "input_json") => ("input", At::Leaf),
        (At::Block, "tool_result") => ("toolResult", At::ToolResult),
        (At::Block, "reasoning") => ("reasoningContent", At::Reasoning),
        (At::Reasoning, "text") => ("reasoningText.text", At::Leaf),
        (At::Reasoning, "signature") => ("reasoningText.signature", At::Leaf),
        (At::Reasoning, "redacted") => ("redactedContent", At::Leaf),
        (At::Root, "system") => ("system", At::Block),
        (At::Block, "cache_point") => ("cachePoint", At::CachePoint),
        (At::Root, "inference_config") => ("inferenceConfig", At::Inference),
        (At::Inference, "max_tokens") => ("maxTokens", At::Leaf),
        (At::Inference, "top_p") => ("topP", At::Leaf),
        (At::Inference, "stop_sequences") => ("stopSequences", At::Leaf),
        (At::Root, "tool_config") => ("toolConfig", At::Tools),
        (At::Tools, "tools") => ("tools", At::Tool),
        (At::Tool, "name") => ("toolSpec.name", At::Leaf),
        (At::Tool, "description") => ("toolSpec.description", At::Leaf),
        (At::Tool, "strict") => ("toolSpec.strict", At::Leaf),
        (At::Tool, "input_schema_json") => ("toolSpec.inputSchema.json", At::Leaf),
        (At::Tools, "tool_choice") => ("toolChoice", At::ToolChoice),
        (At::ToolChoice, "tool") => ("tool.name", At::Leaf),
        // v1's one cache point of the tools is the body's last entry of `tools`.
        (At::Tools, "cache_point") => ("tools", At::CachePoint),
        // The reasoning setting came from whichever reasoning field the caller set there.
        (At::Root, "reasoning") => ("additionalModelRequestFields", At::Dropped),
        (At::Root, "response_format") => ("outputConfig.textFormat", At::Format),
        (At::Format, "json_schema") => ("structure.jsonSchema", At::JsonSchema),
        (At::JsonSchema, "schema_json") => ("schema", At::Leaf),
        (at, name) => (name, at),
    }
}

/// v1's path `field` as a Converse body's member under `prefix`.
fn converse_field(field: &str, prefix: &str) -> String {
    // The model is the path's `{modelId}`, not a member of the body.
    if field == "model" {
        return "modelId".to_owned();
    }
    // A metadata key may hold dots: only the member itself is renamed.
    if let Some(key) = field.strip_prefix("request_metadata") {
        return format!("{prefix}requestMetadata{key}");
    }
    let mut at = At::Root;
    let mut renamed = Vec::new();
    for segment in field.split('.') {
        match at {
            At::Leaf => renamed.push(segment.to_owned()),
            At::Dropped => {}
            _ => {
                let (name, index) = split_index(segment);
                let (bedrock, next) = step(at, name);
                renamed.push(format!("{bedrock}{index}"));
                at = next;
            }
        }
    }
    format!("{prefix}{}", renamed.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn converse(field: &str) -> String {
        match converse_refusal(GatewayError::invalid(field, "why")) {
            GatewayError::InvalidArgument { field, reason } => {
                assert_eq!(reason, "why");
                field
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn converse_fields_are_named_as_the_body_names_them() {
        let cases = [
            ("model", "modelId"),
            ("messages", "messages"),
            ("messages[2].role", "messages[2].role"),
            ("messages[0].content", "messages[0].content"),
            ("messages[0].content[1].text", "messages[0].content[1].text"),
            ("messages[0].content[1].image", "messages[0].content[1].image"),
            ("messages[0].content[1].image.format", "messages[0].content[1].image.format"),
            ("messages[0].content[1].image.data", "messages[0].content[1].image.source.bytes"),
            ("messages[0].content[1].document.name", "messages[0].content[1].document.name"),
            ("messages[0].content[1].document.data", "messages[0].content[1].document.source.bytes"),
            ("messages[1].content[0].tool_use.tool_use_id", "messages[1].content[0].toolUse.toolUseId"),
            ("messages[1].content[0].tool_use.input_json", "messages[1].content[0].toolUse.input"),
            ("messages[2].content[0].tool_result.tool_use_id", "messages[2].content[0].toolResult.toolUseId"),
            ("messages[2].content[0].tool_result.content", "messages[2].content[0].toolResult.content"),
            ("messages[2].content[0].tool_result.content[3].json", "messages[2].content[0].toolResult.content[3].json"),
            (
                "messages[2].content[0].tool_result.content[3].image.data",
                "messages[2].content[0].toolResult.content[3].image.source.bytes",
            ),
            ("messages[2].content[0].tool_result.status", "messages[2].content[0].toolResult.status"),
            ("messages[1].content[0].reasoning.text", "messages[1].content[0].reasoningContent.reasoningText.text"),
            ("messages[1].content[0].reasoning.redacted", "messages[1].content[0].reasoningContent.redactedContent"),
            ("messages[0].content[2].cache_point", "messages[0].content[2].cachePoint"),
            ("messages[0].content[2].cache_point.ttl", "messages[0].content[2].cachePoint.ttl"),
            ("system", "system"),
            ("system[1].text", "system[1].text"),
            ("system[1].cache_point", "system[1].cachePoint"),
            ("inference_config.max_tokens", "inferenceConfig.maxTokens"),
            ("inference_config.temperature", "inferenceConfig.temperature"),
            ("inference_config.top_p", "inferenceConfig.topP"),
            ("inference_config.stop_sequences", "inferenceConfig.stopSequences"),
            ("inference_config.stop_sequences[3]", "inferenceConfig.stopSequences[3]"),
            ("tool_config", "toolConfig"),
            ("tool_config.tools", "toolConfig.tools"),
            ("tool_config.tools[4].name", "toolConfig.tools[4].toolSpec.name"),
            ("tool_config.tools[4].strict", "toolConfig.tools[4].toolSpec.strict"),
            ("tool_config.tools[4].input_schema_json", "toolConfig.tools[4].toolSpec.inputSchema.json"),
            ("tool_config.tool_choice", "toolConfig.toolChoice"),
            ("tool_config.tool_choice.tool", "toolConfig.toolChoice.tool.name"),
            ("tool_config.cache_point", "toolConfig.tools"),
            ("reasoning", "additionalModelRequestFields"),
            ("reasoning.budget_tokens", "additionalModelRequestFields"),
            ("reasoning.effort", "additionalModelRequestFields"),
            ("response_format", "outputConfig.textFormat"),
            ("response_format.json_schema.name", "outputConfig.textFormat.structure.jsonSchema.name"),
            ("response_format.json_schema.schema_json", "outputConfig.textFormat.structure.jsonSchema.schema"),
            ("request_metadata", "requestMetadata"),
            ("request_metadata[\"team.name\"]", "requestMetadata[\"team.name\"]"),
        ];
        for (v1, bedrock) in cases {
            assert_eq!(converse(v1), bedrock, "{v1}");
        }
    }

    #[test]
    fn count_tokens_fields_are_under_the_converse_input() {
        let renamed = count_tokens_refusal(GatewayError::invalid("inference_config.max_tokens", "why"));
        assert!(
            matches!(renamed, GatewayError::InvalidArgument { field, .. } if field == "input.converse.inferenceConfig.maxTokens")
        );
        let renamed = count_tokens_refusal(GatewayError::invalid("messages[0].content[0].tool_use.input_json", "why"));
        assert!(
            matches!(renamed, GatewayError::InvalidArgument { field, .. } if field == "input.converse.messages[0].content[0].toolUse.input")
        );
        let renamed = count_tokens_refusal(GatewayError::invalid("model", "why"));
        assert!(matches!(renamed, GatewayError::InvalidArgument { field, .. } if field == "modelId"), "the path's");
    }

    #[test]
    fn embedding_fields_are_named_as_the_family_names_them() {
        let titan = EmbedShape::Titan { by_type: false };
        let cohere = EmbedShape::Cohere { texts: vec!["a".into()], by_type: false };
        for (v1, shape, bedrock) in [
            ("texts[0]", &titan, "inputText"),
            ("texts", &titan, "inputText"),
            ("dimensions", &titan, "dimensions"),
            ("texts[3]", &cohere, "texts[3]"),
            ("texts", &cohere, "texts"),
            ("purpose", &cohere, "input_type"),
            ("model", &cohere, "modelId"),
        ] {
            let renamed = embed_refusal(GatewayError::invalid(v1, "why"), shape);
            assert!(
                matches!(&renamed, GatewayError::InvalidArgument { field, .. } if field == bedrock),
                "{v1}: {renamed:?}"
            );
        }
    }

    #[test]
    fn other_errors_pass_unchanged() {
        let err = converse_refusal(GatewayError::ModelNotAllowed { alias: "chat".into() });
        assert!(matches!(err, GatewayError::ModelNotAllowed { alias } if alias == "chat"));
    }
}
