//! v1 request -> Bedrock Converse input, validating as it goes: a request that converts is one
//! Bedrock can accept, and a request that does not is rejected with the path of the offending field,
//! before anything is sent.

use std::collections::HashSet;

use aws_sdk_bedrockruntime::types as bedrock;
use aws_smithy_types::{Blob, Document};
use bedrock_gateway_proto::v1;

use super::json;
use crate::catalog::Model;
use crate::error::GatewayError;

const MAX_STOP_SEQUENCES: usize = 8;
const MAX_METADATA_ENTRIES: usize = 16;
const MAX_METADATA_KEY_CHARS: usize = 64;
const MAX_METADATA_VALUE_CHARS: usize = 256;
const MAX_TOOL_NAME_CHARS: usize = 64;

/// Everything a Converse or ConverseStream call needs besides the model id.
#[derive(Debug, Clone)]
pub struct BedrockRequest {
    /// The conversation.
    pub messages: Vec<bedrock::Message>,
    /// System prompts.
    pub system: Vec<bedrock::SystemContentBlock>,
    /// Sampling and length; max_tokens is always set, to the model's cap when the client left it out.
    pub inference: bedrock::InferenceConfiguration,
    /// Tools, when offered.
    pub tool_config: Option<bedrock::ToolConfiguration>,
}

type Result<T> = std::result::Result<T, GatewayError>;

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> GatewayError {
    GatewayError::InvalidArgument { field: field.into(), reason: reason.into() }
}

fn built<T>(field: &str, result: std::result::Result<T, aws_smithy_types::error::operation::BuildError>) -> Result<T> {
    result.map_err(|err| invalid(field, err.to_string()))
}

/// The model name must be present before the catalog is asked about it.
pub fn require_model_name(request: &v1::ConverseRequest) -> Result<()> {
    if request.model.is_empty() {
        return Err(invalid("model", "required: the name of a logical model, as listed by ListModels"));
    }
    Ok(())
}

/// Validates `request` for `model` and converts it to Bedrock's types.
pub fn to_bedrock(request: &v1::ConverseRequest, model: &Model) -> Result<BedrockRequest> {
    check_metadata(request)?;
    Ok(BedrockRequest {
        messages: messages(&request.messages)?,
        system: system(&request.system)?,
        inference: inference(request.inference_config.as_ref(), model)?,
        tool_config: request.tool_config.as_ref().map(tool_config).transpose()?,
    })
}

fn check_metadata(request: &v1::ConverseRequest) -> Result<()> {
    if request.request_metadata.len() > MAX_METADATA_ENTRIES {
        return Err(invalid(
            "request_metadata",
            format!("{} entries; at most {MAX_METADATA_ENTRIES} are allowed", request.request_metadata.len()),
        ));
    }
    for (key, value) in &request.request_metadata {
        if key.is_empty() || key.chars().count() > MAX_METADATA_KEY_CHARS {
            return Err(invalid(
                "request_metadata",
                format!("key {key:?} must be 1 to {MAX_METADATA_KEY_CHARS} characters"),
            ));
        }
        if value.chars().count() > MAX_METADATA_VALUE_CHARS {
            return Err(invalid(
                format!("request_metadata[{key:?}]"),
                format!("value must be at most {MAX_METADATA_VALUE_CHARS} characters"),
            ));
        }
    }
    Ok(())
}

fn messages(messages: &[v1::Message]) -> Result<Vec<bedrock::Message>> {
    if messages.is_empty() {
        return Err(invalid("messages", "at least one message is required"));
    }
    messages
        .iter()
        .enumerate()
        .map(|(index, message)| {
            let field = format!("messages[{index}]");
            let role = match v1::Role::try_from(message.role) {
                Ok(v1::Role::User) => bedrock::ConversationRole::User,
                Ok(v1::Role::Assistant) => bedrock::ConversationRole::Assistant,
                _ => return Err(invalid(format!("{field}.role"), "required: ROLE_USER or ROLE_ASSISTANT")),
            };
            if index == 0 && role != bedrock::ConversationRole::User {
                return Err(invalid(format!("{field}.role"), "the first message must be from the user (ROLE_USER)"));
            }
            if message.content.is_empty() {
                return Err(invalid(format!("{field}.content"), "at least one content block is required"));
            }
            let content = message
                .content
                .iter()
                .enumerate()
                .map(|(block_index, block)| content_block(block, &format!("{field}.content[{block_index}]")))
                .collect::<Result<Vec<_>>>()?;
            built(&field, bedrock::Message::builder().role(role).set_content(Some(content)).build())
        })
        .collect()
}

fn content_block(block: &v1::ContentBlock, field: &str) -> Result<bedrock::ContentBlock> {
    use v1::content_block::Block;
    match &block.block {
        None => Err(invalid(field, "empty: set one of text, image, document, tool_use, tool_result, reasoning")),
        Some(Block::Text(text)) => Ok(bedrock::ContentBlock::Text(non_empty(text, &format!("{field}.text"))?)),
        Some(Block::Image(image)) => Ok(bedrock::ContentBlock::Image(image_block(image, &format!("{field}.image"))?)),
        Some(Block::Document(document)) => {
            Ok(bedrock::ContentBlock::Document(document_block(document, &format!("{field}.document"))?))
        }
        Some(Block::ToolUse(tool_use)) => {
            let field = format!("{field}.tool_use");
            let block = bedrock::ToolUseBlock::builder()
                .tool_use_id(non_empty(&tool_use.tool_use_id, &format!("{field}.tool_use_id"))?)
                .name(non_empty(&tool_use.name, &format!("{field}.name"))?)
                .input(json_object(&tool_use.input_json, &format!("{field}.input_json"))?)
                .build();
            Ok(bedrock::ContentBlock::ToolUse(built(&field, block)?))
        }
        Some(Block::ToolResult(result)) => {
            Ok(bedrock::ContentBlock::ToolResult(tool_result_block(result, &format!("{field}.tool_result"))?))
        }
        Some(Block::Reasoning(reasoning)) => {
            let field = format!("{field}.reasoning");
            let mut text =
                bedrock::ReasoningTextBlock::builder().text(non_empty(&reasoning.text, &format!("{field}.text"))?);
            if !reasoning.signature.is_empty() {
                text = text.signature(&reasoning.signature);
            }
            Ok(bedrock::ContentBlock::ReasoningContent(bedrock::ReasoningContentBlock::ReasoningText(built(
                &field,
                text.build(),
            )?)))
        }
    }
}

fn image_block(image: &v1::ImageBlock, field: &str) -> Result<bedrock::ImageBlock> {
    let format = match v1::ImageFormat::try_from(image.format) {
        Ok(v1::ImageFormat::Png) => bedrock::ImageFormat::Png,
        Ok(v1::ImageFormat::Jpeg) => bedrock::ImageFormat::Jpeg,
        Ok(v1::ImageFormat::Gif) => bedrock::ImageFormat::Gif,
        Ok(v1::ImageFormat::Webp) => bedrock::ImageFormat::Webp,
        _ => return Err(invalid(format!("{field}.format"), "required: PNG, JPEG, GIF or WEBP")),
    };
    if image.data.is_empty() {
        return Err(invalid(format!("{field}.data"), "must not be empty"));
    }
    let source = bedrock::ImageSource::Bytes(Blob::new(image.data.clone()));
    built(field, bedrock::ImageBlock::builder().format(format).source(source).build())
}

fn document_block(document: &v1::DocumentBlock, field: &str) -> Result<bedrock::DocumentBlock> {
    use v1::DocumentFormat as F;
    let format = match F::try_from(document.format) {
        Ok(F::Pdf) => bedrock::DocumentFormat::Pdf,
        Ok(F::Csv) => bedrock::DocumentFormat::Csv,
        Ok(F::Doc) => bedrock::DocumentFormat::Doc,
        Ok(F::Docx) => bedrock::DocumentFormat::Docx,
        Ok(F::Xls) => bedrock::DocumentFormat::Xls,
        Ok(F::Xlsx) => bedrock::DocumentFormat::Xlsx,
        Ok(F::Html) => bedrock::DocumentFormat::Html,
        Ok(F::Txt) => bedrock::DocumentFormat::Txt,
        Ok(F::Md) => bedrock::DocumentFormat::Md,
        _ => {
            return Err(invalid(
                format!("{field}.format"),
                "required: PDF, CSV, DOC, DOCX, XLS, XLSX, HTML, TXT or MD",
            ));
        }
    };
    if !valid_document_name(&document.name) {
        return Err(invalid(
            format!("{field}.name"),
            "required: letters, digits, single spaces, hyphens, parentheses and square brackets",
        ));
    }
    if document.data.is_empty() {
        return Err(invalid(format!("{field}.data"), "must not be empty"));
    }
    let source = bedrock::DocumentSource::Bytes(Blob::new(document.data.clone()));
    built(field, bedrock::DocumentBlock::builder().format(format).name(&document.name).source(source).build())
}

fn valid_document_name(name: &str) -> bool {
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, ' ' | '-' | '(' | ')' | '[' | ']');
    !name.trim().is_empty() && name.chars().all(allowed) && !name.contains("  ")
}

fn tool_result_block(result: &v1::ToolResultBlock, field: &str) -> Result<bedrock::ToolResultBlock> {
    use v1::tool_result_content::Content;
    if result.content.is_empty() {
        return Err(invalid(format!("{field}.content"), "at least one item is required"));
    }
    let mut builder = bedrock::ToolResultBlock::builder()
        .tool_use_id(non_empty(&result.tool_use_id, &format!("{field}.tool_use_id"))?);
    for (index, item) in result.content.iter().enumerate() {
        let item_field = format!("{field}.content[{index}]");
        let converted = match &item.content {
            None => return Err(invalid(item_field, "empty: set one of text, json, image, document")),
            Some(Content::Text(text)) => bedrock::ToolResultContentBlock::Text(text.clone()),
            Some(Content::Json(text)) => {
                bedrock::ToolResultContentBlock::Json(json_value(text, &format!("{item_field}.json"))?)
            }
            Some(Content::Image(image)) => {
                bedrock::ToolResultContentBlock::Image(image_block(image, &format!("{item_field}.image"))?)
            }
            Some(Content::Document(document)) => {
                bedrock::ToolResultContentBlock::Document(document_block(document, &format!("{item_field}.document"))?)
            }
        };
        builder = builder.content(converted);
    }
    match v1::ToolResultStatus::try_from(result.status) {
        Ok(v1::ToolResultStatus::Unspecified) => {}
        Ok(v1::ToolResultStatus::Success) => builder = builder.status(bedrock::ToolResultStatus::Success),
        Ok(v1::ToolResultStatus::Error) => builder = builder.status(bedrock::ToolResultStatus::Error),
        Err(_) => return Err(invalid(format!("{field}.status"), "must be SUCCESS, ERROR or unset")),
    }
    built(field, builder.build())
}

fn system(blocks: &[v1::SystemBlock]) -> Result<Vec<bedrock::SystemContentBlock>> {
    blocks
        .iter()
        .enumerate()
        .map(|(index, block)| match &block.block {
            Some(v1::system_block::Block::Text(text)) => {
                Ok(bedrock::SystemContentBlock::Text(non_empty(text, &format!("system[{index}].text"))?))
            }
            None => Err(invalid(format!("system[{index}]"), "empty: set text")),
        })
        .collect()
}

fn inference(config: Option<&v1::InferenceConfig>, model: &Model) -> Result<bedrock::InferenceConfiguration> {
    let default = v1::InferenceConfig::default();
    let config = config.unwrap_or(&default);
    let max_tokens = config.max_tokens.unwrap_or(model.max_tokens_cap);
    if max_tokens == 0 || max_tokens > model.max_tokens_cap {
        return Err(invalid(
            "inference_config.max_tokens",
            format!("{max_tokens} is out of range; model {:?} allows 1 to {}", model.name, model.max_tokens_cap),
        ));
    }
    let mut builder = bedrock::InferenceConfiguration::builder().max_tokens(max_tokens as i32);
    if let Some(temperature) = config.temperature {
        builder = builder.temperature(unit_interval(temperature, "inference_config.temperature")?);
    }
    if let Some(top_p) = config.top_p {
        builder = builder.top_p(unit_interval(top_p, "inference_config.top_p")?);
    }
    if config.stop_sequences.len() > MAX_STOP_SEQUENCES {
        return Err(invalid(
            "inference_config.stop_sequences",
            format!("{} given; at most {MAX_STOP_SEQUENCES} are allowed", config.stop_sequences.len()),
        ));
    }
    for (index, sequence) in config.stop_sequences.iter().enumerate() {
        builder = builder.stop_sequences(non_empty(sequence, &format!("inference_config.stop_sequences[{index}]"))?);
    }
    Ok(builder.build())
}

fn unit_interval(value: f32, field: &str) -> Result<f32> {
    if !(0.0..=1.0).contains(&value) {
        return Err(invalid(field, format!("{value} is out of range; allowed: 0.0 to 1.0")));
    }
    Ok(value)
}

fn tool_config(config: &v1::ToolConfig) -> Result<bedrock::ToolConfiguration> {
    if config.tools.is_empty() {
        return Err(invalid("tool_config.tools", "at least one tool is required when tool_config is set"));
    }
    let mut names = HashSet::new();
    let mut builder = bedrock::ToolConfiguration::builder();
    for (index, tool) in config.tools.iter().enumerate() {
        let field = format!("tool_config.tools[{index}]");
        if !valid_tool_name(&tool.name) {
            return Err(invalid(
                format!("{field}.name"),
                format!("{:?} is not a tool name: 1 to {MAX_TOOL_NAME_CHARS} letters, digits, '_' or '-'", tool.name),
            ));
        }
        if !names.insert(tool.name.as_str()) {
            return Err(invalid(
                format!("{field}.name"),
                format!("{:?} is offered twice; tool names must be distinct", tool.name),
            ));
        }
        let schema = json_object(&tool.input_schema_json, &format!("{field}.input_schema_json"))?;
        let mut spec =
            bedrock::ToolSpecification::builder().name(&tool.name).input_schema(bedrock::ToolInputSchema::Json(schema));
        if !tool.description.is_empty() {
            spec = spec.description(&tool.description);
        }
        builder = builder.tools(bedrock::Tool::ToolSpec(built(&field, spec.build())?));
    }
    if let Some(choice) = config.tool_choice.as_ref().and_then(|choice| choice.choice.as_ref()) {
        use v1::tool_choice::Choice;
        let choice = match choice {
            Choice::Auto(_) => bedrock::ToolChoice::Auto(bedrock::AutoToolChoice::builder().build()),
            Choice::Any(_) => bedrock::ToolChoice::Any(bedrock::AnyToolChoice::builder().build()),
            Choice::Tool(name) => {
                if !names.contains(name.as_str()) {
                    let offered = config.tools.iter().map(|tool| tool.name.as_str()).collect::<Vec<_>>().join(", ");
                    return Err(invalid(
                        "tool_config.tool_choice.tool",
                        format!("{name:?} is not one of the offered tools ({offered})"),
                    ));
                }
                let specific =
                    built("tool_config.tool_choice.tool", bedrock::SpecificToolChoice::builder().name(name).build())?;
                bedrock::ToolChoice::Tool(specific)
            }
        };
        builder = builder.tool_choice(choice);
    }
    built("tool_config", builder.build())
}

fn valid_tool_name(name: &str) -> bool {
    (1..=MAX_TOOL_NAME_CHARS).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

fn non_empty(text: &str, field: &str) -> Result<String> {
    if text.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    Ok(text.to_owned())
}

fn json_value(text: &str, field: &str) -> Result<Document> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|err| invalid(field, format!("is not valid JSON: {err}")))?;
    Ok(json::to_document(value))
}

fn json_object(text: &str, field: &str) -> Result<Document> {
    let document = json_value(text, field)?;
    if !matches!(document, Document::Object(_)) {
        return Err(invalid(field, "must be a JSON object, as in {\"key\": \"value\"}"));
    }
    Ok(document)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelState;

    fn model() -> Model {
        Model {
            name: "chat".into(),
            model_id: "m".into(),
            version: "v".into(),
            description: String::new(),
            max_tokens_cap: 1000,
            state: ModelState::Active,
            replacement: None,
            retires_on: None,
        }
    }

    fn text(text: &str) -> v1::ContentBlock {
        v1::ContentBlock { block: Some(v1::content_block::Block::Text(text.into())) }
    }

    fn request() -> v1::ConverseRequest {
        v1::ConverseRequest {
            model: "chat".into(),
            messages: vec![v1::Message { role: v1::Role::User as i32, content: vec![text("hello")] }],
            ..Default::default()
        }
    }

    fn rejected_field(request: &v1::ConverseRequest) -> String {
        match to_bedrock(request, &model()) {
            Err(GatewayError::InvalidArgument { field, .. }) => field,
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn simple_request_converts_with_max_tokens_defaulting_to_the_cap() {
        let converted = to_bedrock(&request(), &model()).unwrap();
        assert_eq!(converted.messages.len(), 1);
        assert_eq!(converted.inference.max_tokens, Some(1000));
        assert!(converted.tool_config.is_none());
    }

    #[test]
    fn empty_messages_and_missing_model_are_named() {
        let mut empty = request();
        empty.messages.clear();
        assert_eq!(rejected_field(&empty), "messages");
        let mut nameless = request();
        nameless.model.clear();
        assert!(
            matches!(require_model_name(&nameless), Err(GatewayError::InvalidArgument { field, .. }) if field == "model")
        );
    }

    #[test]
    fn inference_limits_are_enforced() {
        let mut over_cap = request();
        over_cap.inference_config = Some(v1::InferenceConfig { max_tokens: Some(1001), ..Default::default() });
        assert_eq!(rejected_field(&over_cap), "inference_config.max_tokens");
        let mut hot = request();
        hot.inference_config = Some(v1::InferenceConfig { temperature: Some(1.5), ..Default::default() });
        assert_eq!(rejected_field(&hot), "inference_config.temperature");
        let mut nan = request();
        nan.inference_config = Some(v1::InferenceConfig { top_p: Some(f32::NAN), ..Default::default() });
        assert_eq!(rejected_field(&nan), "inference_config.top_p");
    }

    #[test]
    fn nested_fields_are_named_with_their_path() {
        let mut bad_image = request();
        bad_image.messages[0].content.push(v1::ContentBlock {
            block: Some(v1::content_block::Block::Image(v1::ImageBlock { format: 0, data: vec![1] })),
        });
        assert_eq!(rejected_field(&bad_image), "messages[0].content[1].image.format");

        let mut bad_tool_input = request();
        bad_tool_input.messages.push(v1::Message {
            role: v1::Role::Assistant as i32,
            content: vec![v1::ContentBlock {
                block: Some(v1::content_block::Block::ToolUse(v1::ToolUseBlock {
                    tool_use_id: "t1".into(),
                    name: "search".into(),
                    input_json: "[1, 2]".into(),
                })),
            }],
        });
        assert_eq!(rejected_field(&bad_tool_input), "messages[1].content[0].tool_use.input_json");

        let mut assistant_first = request();
        assistant_first.messages[0].role = v1::Role::Assistant as i32;
        assert_eq!(rejected_field(&assistant_first), "messages[0].role");
    }

    #[test]
    fn tool_config_is_checked() {
        let tool = |name: &str| v1::Tool {
            name: name.into(),
            description: "d".into(),
            input_schema_json: r#"{"type":"object"}"#.into(),
        };
        let mut duplicate = request();
        duplicate.tool_config = Some(v1::ToolConfig { tools: vec![tool("a"), tool("a")], tool_choice: None });
        assert_eq!(rejected_field(&duplicate), "tool_config.tools[1].name");

        let mut unknown_choice = request();
        unknown_choice.tool_config = Some(v1::ToolConfig {
            tools: vec![tool("a")],
            tool_choice: Some(v1::ToolChoice { choice: Some(v1::tool_choice::Choice::Tool("b".into())) }),
        });
        assert_eq!(rejected_field(&unknown_choice), "tool_config.tool_choice.tool");

        let mut good = request();
        good.tool_config = Some(v1::ToolConfig { tools: vec![tool("a")], tool_choice: None });
        assert!(to_bedrock(&good, &model()).unwrap().tool_config.is_some());
    }

    #[test]
    fn document_names_follow_bedrock_rules() {
        assert!(valid_document_name("Q3 report (final) [v2]"));
        assert!(!valid_document_name("report.pdf"));
        assert!(!valid_document_name("two  spaces"));
        assert!(!valid_document_name(""));
    }
}
