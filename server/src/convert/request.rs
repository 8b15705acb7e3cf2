//! v1 request -> Bedrock Converse input, validating as it goes: a request that converts is one
//! Bedrock can accept, and a request that does not is rejected with the path of the offending field,
//! before anything is sent.
//!
//! The request is taken by value: text, image and document bytes move into the SDK's types, so a
//! 4 MiB image is never held twice. Its size is bounded first: every count in
//! [`bedrock_gateway_proto::limits`] is checked before anything is converted, so an abusive request
//! is refused for the price of counting.

use std::collections::{HashMap, HashSet};

use aws_sdk_bedrockruntime::types as bedrock;
use aws_smithy_types::{Blob, Document};
use bedrock_gateway_proto::limits;
use bedrock_gateway_proto::v1;

use super::json::{self, Budget, ParseError};
use super::reasoning::{self, Reasoning};
use super::structured::{self, Structured};
use crate::catalog::Model;
use crate::catalog::config::Modality;
use crate::error::{GatewayError, invalid};
use crate::routing::Target;

/// Everything a Converse or ConverseStream call needs besides the model id.
#[derive(Debug, Clone)]
pub struct BedrockRequest {
    /// The conversation.
    pub messages: Vec<bedrock::Message>,
    /// System prompts.
    pub system: Vec<bedrock::SystemContentBlock>,
    /// Sampling and length; max_tokens is always set, to the model's `default_max_tokens` when the
    /// client left it out, and temperature and top_p to the model's defaults, if it has any.
    pub inference: bedrock::InferenceConfiguration,
    /// Tools, when offered.
    pub tool_config: Option<bedrock::ToolConfiguration>,
    /// The request's own `additionalModelRequestFields` (its reasoning setting), sent over the
    /// target's: see [`BedrockRequest::additional_fields_for`].
    pub additional_fields: Vec<(String, Document)>,
    /// Bedrock's output configuration (native structured output).
    pub output_config: Option<bedrock::OutputConfig>,
    /// Whether the answer is the input of a forced tool, to be turned back into text (structured
    /// output through a tool).
    pub answer_in_tool: bool,
}

impl BedrockRequest {
    /// The `additionalModelRequestFields` to send to `target`: the target's (its own, else its
    /// alias's), with the request's own fields in place of any of the same name.
    pub fn additional_fields_for(&self, target: &Target) -> Option<Document> {
        if self.additional_fields.is_empty() {
            return target.additional_request_fields.clone();
        }
        let mut fields = match &target.additional_request_fields {
            Some(Document::Object(fields)) => fields.clone(),
            _ => Default::default(),
        };
        fields.extend(self.additional_fields.iter().cloned());
        Some(Document::Object(fields))
    }
}

type Result<T> = std::result::Result<T, GatewayError>;

pub(super) fn built<T>(
    field: &str,
    result: std::result::Result<T, aws_smithy_types::error::operation::BuildError>,
) -> Result<T> {
    result.map_err(|err| invalid(field, err.to_string()))
}

/// Refuses `count` over `limit`, naming the field, what is counted and the limit.
fn at_most(field: impl Into<String>, count: usize, limit: usize, what: &str) -> Result<()> {
    if count > limit {
        return Err(invalid(field, format!("{count} {what}; at most {limit} are allowed")));
    }
    Ok(())
}

/// What an image costs at most on the models the gateway serves (Claude: about 1,600 tokens for
/// 1.15 megapixels, which is as large as it resizes to).
const TOKENS_PER_IMAGE: u64 = 1_600;

/// A cautious count of the request's input tokens, for the quota reservation made before Bedrock
/// reports the real one: a token per 4 bytes of everything but images, and [`TOKENS_PER_IMAGE`]
/// per image. Settling with Bedrock's usage corrects it.
pub fn estimated_input_tokens(request: &v1::ConverseRequest) -> u64 {
    use prost::Message as _;
    let images = request.messages.iter().flat_map(|message| &message.content).flat_map(|block| match &block.block {
        Some(v1::content_block::Block::Image(image)) => vec![image],
        Some(v1::content_block::Block::ToolResult(result)) => result
            .content
            .iter()
            .filter_map(|item| match &item.content {
                Some(v1::tool_result_content::Content::Image(image)) => Some(image),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    });
    let (count, bytes) = images.fold((0u64, 0usize), |(count, bytes), image| (count + 1, bytes + image.data.len()));
    (request.encoded_len().saturating_sub(bytes) as u64).div_ceil(4) + count * TOKENS_PER_IMAGE
}

/// The model name must be present, and short enough to be one, before the catalog is asked about it
/// (an unknown name is echoed in the NOT_FOUND message).
pub fn require_model_name(request: &v1::ConverseRequest) -> Result<()> {
    check_model_name(&request.model)
}

/// A request's `model` is present and short enough to be a logical model name.
pub fn check_model_name(model: &str) -> Result<()> {
    if model.is_empty() {
        return Err(invalid("model", "required: the name of a logical model, as listed by ListModels"));
    }
    let chars = model.chars().count();
    if chars > limits::MODEL_NAME_CHARS {
        return Err(invalid(
            "model",
            format!("{chars} characters; a logical model name has at most {}", limits::MODEL_NAME_CHARS),
        ));
    }
    Ok(())
}

/// Validates `request` for `model` and converts it to Bedrock's types, moving its contents.
pub fn to_bedrock(request: v1::ConverseRequest, model: &Model) -> Result<BedrockRequest> {
    check_limits(&request)?;
    check_modalities(&request, model)?;
    check_tools(&request, model)?;
    let cache_points = check_cache_points(&request, model)?;
    let v1::ConverseRequest {
        messages: conversation,
        system: prompts,
        inference_config,
        tool_config: tools,
        reasoning,
        response_format,
        ..
    } = request;
    let mut json_budget = Budget::new(limits::JSON_VALUES);
    let reasoning = reasoning::reasoning(reasoning, model)?;
    structured::check_strict_tools(tools.as_ref(), model)?;
    if let Some(reasoning) = reasoning {
        reasoning.check_tool_choice(tools.as_ref(), model)?;
    }
    let structured = structured::response_format(response_format, tools.is_some(), reasoning, model, &mut json_budget)?;
    let mut tool_config = tools.map(|tools| tool_config(tools, &mut json_budget)).transpose()?;
    let (output_config, answer_in_tool) = match structured {
        Some(Structured::Native(output_config)) => (Some(output_config), false),
        Some(Structured::Tool(forced)) => {
            tool_config = Some(forced);
            (None, true)
        }
        None => (None, false),
    };
    let messages = messages(conversation, &mut json_budget)?;
    let mut system = system(prompts)?;
    if cache_points.after_system {
        system.push(bedrock::SystemContentBlock::CachePoint(cache_point()));
    }
    if cache_points.after_tools
        && let Some(tools) = &mut tool_config
    {
        tools.tools.push(bedrock::Tool::CachePoint(cache_point()));
    }
    let mut converted = BedrockRequest {
        messages,
        system,
        inference: inference(inference_config, model, reasoning)?,
        tool_config,
        additional_fields: reasoning.map(|reasoning| vec![reasoning.field()]).unwrap_or_default(),
        output_config,
        answer_in_tool,
    };
    if cache_points.from_caller > 0 && !model.prompt_caching() {
        drop_cache_points(&mut converted);
    }
    Ok(converted)
}

/// The cache points a request ends up with besides the caller's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CachePoints {
    /// How many the caller put.
    from_caller: usize,
    /// The model adds one after the system prompt.
    after_system: bool,
    /// The model adds one after the tools.
    after_tools: bool,
}

/// Checks the caller's cache points where Bedrock would refuse them: one that caches nothing (a
/// message's or the system prompt's first block, or right after another), and more than
/// [`limits::CACHE_POINTS`] in all, counting those the model adds. A model adds its automatic
/// points only where there is something to cache and the caller has not put one already. The
/// rules hold on every model, so a request valid on one alias is valid on all of them.
fn check_cache_points(request: &v1::ConverseRequest, model: &Model) -> Result<CachePoints> {
    use v1::content_block::Block;
    use v1::system_block::Block as System;
    // In Bedrock's order of the prompt: tools, system, messages.
    let mut fields = Vec::new();
    let tools = request.tool_config.as_ref();
    if tools.is_some_and(|tools| tools.cache_point.is_some()) {
        fields.push("tool_config.cache_point".to_owned());
    }
    let system_points = request.system.iter().map(|block| matches!(block.block, Some(System::CachePoint(_))));
    check_placement(system_points, || "system".to_owned(), "the system prompt's", &mut fields)?;
    for (index, message) in request.messages.iter().enumerate() {
        let points = message.content.iter().map(|block| matches!(block.block, Some(Block::CachePoint(_))));
        check_placement(points, || format!("messages[{index}].content"), "a message's", &mut fields)?;
    }
    let system_ends_cached =
        request.system.last().is_some_and(|block| matches!(block.block, Some(System::CachePoint(_))));
    let points = CachePoints {
        from_caller: fields.len(),
        after_system: model.prompt_caching.after_system && !request.system.is_empty() && !system_ends_cached,
        after_tools: model.prompt_caching.after_tools && tools.is_some_and(|tools| tools.cache_point.is_none()),
    };
    let automatic = usize::from(points.after_system) + usize::from(points.after_tools);
    let total = fields.len() + automatic;
    if total > limits::CACHE_POINTS {
        let added = match automatic {
            0 => String::new(),
            _ => format!(", counting the {automatic} that model {:?} adds", model.name),
        };
        // The first point beyond the limit is the one named.
        let field = fields.swap_remove(limits::CACHE_POINTS - automatic);
        let reason = format!("{total} cache points{added}; at most {} are allowed in a request", limits::CACHE_POINTS);
        return Err(invalid(field, reason));
    }
    Ok(points)
}

/// Refuses a cache point first in the list (`list` names it) or right after another one; adds the
/// field of each to `fields`.
fn check_placement(
    points: impl Iterator<Item = bool>,
    list: impl Fn() -> String,
    whose: &str,
    fields: &mut Vec<String>,
) -> Result<()> {
    let mut previous = None;
    for (index, point) in points.enumerate() {
        if point {
            let field = format!("{}[{index}].cache_point", list());
            match previous {
                None => return Err(invalid(field, format!("cannot be {whose} first block: it would cache nothing"))),
                Some(true) => {
                    return Err(invalid(field, "follows another cache point: it would cache nothing more"));
                }
                Some(false) => fields.push(field),
            }
        }
        previous = Some(point);
    }
    Ok(())
}

/// Removes the caller's cache points, for a model without prompt caching: they are hints, which
/// such a model's Bedrock call need not take.
fn drop_cache_points(request: &mut BedrockRequest) {
    request.system.retain(|block| !matches!(block, bedrock::SystemContentBlock::CachePoint(_)));
    for message in &mut request.messages {
        message.content.retain(|block| !matches!(block, bedrock::ContentBlock::CachePoint(_)));
    }
    if let Some(tools) = &mut request.tool_config {
        tools.tools.retain(|tool| !matches!(tool, bedrock::Tool::CachePoint(_)));
    }
}

/// Checks every count the limits bound, and the metadata, before anything is converted.
fn check_limits(request: &v1::ConverseRequest) -> Result<()> {
    use v1::content_block::Block;
    check_metadata(request)?;
    at_most("messages", request.messages.len(), limits::MESSAGES, "messages")?;
    let mut blocks = 0;
    for (index, message) in request.messages.iter().enumerate() {
        let field = || format!("messages[{index}].content");
        at_most(field(), message.content.len(), limits::BLOCKS_PER_MESSAGE, "content blocks")?;
        blocks += message.content.len();
        for (block_index, block) in message.content.iter().enumerate() {
            if let Some(Block::ToolResult(result)) = &block.block {
                let field = format!("{}[{block_index}].tool_result.content", field());
                at_most(field, result.content.len(), limits::TOOL_RESULT_ITEMS, "items")?;
                blocks += result.content.len();
            }
        }
    }
    at_most("messages", blocks, limits::CONTENT_BLOCKS, "content blocks and tool-result items in all messages")?;
    at_most("system", request.system.len(), limits::SYSTEM_BLOCKS, "system blocks")?;
    if let Some(tools) = &request.tool_config {
        at_most("tool_config.tools", tools.tools.len(), limits::TOOLS, "tools")?;
    }
    if let Some(config) = &request.inference_config {
        at_most("inference_config.stop_sequences", config.stop_sequences.len(), limits::STOP_SEQUENCES, "given")?;
    }
    Ok(())
}

/// Refuses images and documents, wherever they are (tool results included), for a model whose
/// `capabilities.input_modalities` does not list them: Bedrock's own refusal would name its model.
fn check_modalities(request: &v1::ConverseRequest, model: &Model) -> Result<()> {
    use v1::content_block::Block;
    use v1::tool_result_content::Content;
    let reads = |modality| model.capabilities.input_modalities.contains(&modality);
    if reads(Modality::Image) && reads(Modality::Document) {
        return Ok(());
    }
    let refuse = |field: String, modality: Modality| {
        let reads: Vec<_> = model.capabilities.input_modalities.iter().map(modality_name).collect();
        invalid(
            field,
            format!(
                "model {:?} does not read {}s (its capabilities.input_modalities: {})",
                model.name,
                modality_name(&modality),
                reads.join(", ")
            ),
        )
    };
    for (index, message) in request.messages.iter().enumerate() {
        for (block_index, block) in message.content.iter().enumerate() {
            let field = format!("messages[{index}].content[{block_index}]");
            let kinds: Vec<(String, Modality)> = match &block.block {
                Some(Block::Image(_)) => vec![(format!("{field}.image"), Modality::Image)],
                Some(Block::Document(_)) => vec![(format!("{field}.document"), Modality::Document)],
                Some(Block::ToolResult(result)) => result
                    .content
                    .iter()
                    .enumerate()
                    .filter_map(|(item, content)| match &content.content {
                        Some(Content::Image(_)) => {
                            Some((format!("{field}.tool_result.content[{item}].image"), Modality::Image))
                        }
                        Some(Content::Document(_)) => {
                            Some((format!("{field}.tool_result.content[{item}].document"), Modality::Document))
                        }
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            if let Some((field, modality)) = kinds.into_iter().find(|(_, modality)| !reads(*modality)) {
                return Err(refuse(field, modality));
            }
        }
    }
    Ok(())
}

fn modality_name(modality: &Modality) -> &'static str {
    match modality {
        Modality::Text => "text",
        Modality::Image => "image",
        Modality::Document => "document",
    }
}

/// Refuses tools for a model without `capabilities.tools`.
fn check_tools(request: &v1::ConverseRequest, model: &Model) -> Result<()> {
    if request.tool_config.is_some() && !model.capabilities.tools {
        return Err(invalid(
            "tool_config",
            format!("model {:?} does not use tools (its capabilities.tools is false)", model.name),
        ));
    }
    Ok(())
}

/// Checks the labels' count and lengths.
pub fn check_metadata(request: &v1::ConverseRequest) -> Result<()> {
    check_labels(&request.request_metadata)
}

/// Checks the count and lengths of a request's `request_metadata`.
pub fn check_labels(labels: &HashMap<String, String>) -> Result<()> {
    at_most("request_metadata", labels.len(), limits::METADATA_ENTRIES, "entries")?;
    for (key, value) in labels {
        let chars = key.chars().count();
        if chars == 0 || chars > limits::METADATA_KEY_CHARS {
            // Only the start of a long key is echoed: the message is logged.
            let start: String = key.chars().take(16).collect();
            return Err(invalid(
                "request_metadata",
                format!(
                    "key {start:?}{} has {chars} characters; keys must have 1 to {}",
                    if chars > 16 { "..." } else { "" },
                    limits::METADATA_KEY_CHARS
                ),
            ));
        }
        let chars = value.chars().count();
        if chars > limits::METADATA_VALUE_CHARS {
            return Err(invalid(
                format!("request_metadata[{key:?}]"),
                format!("value has {chars} characters; at most {} are allowed", limits::METADATA_VALUE_CHARS),
            ));
        }
    }
    Ok(())
}

fn messages(messages: Vec<v1::Message>, json_budget: &mut Budget) -> Result<Vec<bedrock::Message>> {
    if messages.is_empty() {
        return Err(invalid("messages", "at least one message is required"));
    }
    let mut previous = None;
    messages
        .into_iter()
        .enumerate()
        .map(|(index, message)| {
            let field = format!("messages[{index}]");
            let (role, name) = match v1::Role::try_from(message.role) {
                Ok(v1::Role::User) => (bedrock::ConversationRole::User, "ROLE_USER"),
                Ok(v1::Role::Assistant) => (bedrock::ConversationRole::Assistant, "ROLE_ASSISTANT"),
                _ => return Err(invalid(format!("{field}.role"), "required: ROLE_USER or ROLE_ASSISTANT")),
            };
            if index == 0 && role != bedrock::ConversationRole::User {
                return Err(invalid(format!("{field}.role"), "the first message must be from the user (ROLE_USER)"));
            }
            // Bedrock refuses two turns of one role in a row.
            if previous.replace(name) == Some(name) {
                return Err(invalid(
                    format!("{field}.role"),
                    format!(
                        "{name} twice in a row; messages must alternate between ROLE_USER and ROLE_ASSISTANT \
                         (put both parts in one message)"
                    ),
                ));
            }
            if message.content.is_empty() {
                return Err(invalid(format!("{field}.content"), "at least one content block is required"));
            }
            let content = message
                .content
                .into_iter()
                .enumerate()
                .map(|(block_index, block)| {
                    content_block(block, &format!("{field}.content[{block_index}]"), json_budget)
                })
                .collect::<Result<Vec<_>>>()?;
            built(&field, bedrock::Message::builder().role(role).set_content(Some(content)).build())
        })
        .collect()
}

fn content_block(block: v1::ContentBlock, field: &str, json_budget: &mut Budget) -> Result<bedrock::ContentBlock> {
    use v1::content_block::Block;
    match block.block {
        None => Err(invalid(
            field,
            "empty: set one of text, image, document, tool_use, tool_result, reasoning, cache_point",
        )),
        Some(Block::Text(text)) => Ok(bedrock::ContentBlock::Text(non_empty(text, &format!("{field}.text"))?)),
        Some(Block::Image(image)) => Ok(bedrock::ContentBlock::Image(image_block(image, &format!("{field}.image"))?)),
        Some(Block::Document(document)) => {
            Ok(bedrock::ContentBlock::Document(document_block(document, &format!("{field}.document"))?))
        }
        Some(Block::ToolUse(tool_use)) => {
            let field = format!("{field}.tool_use");
            let block = bedrock::ToolUseBlock::builder()
                .tool_use_id(non_empty(tool_use.tool_use_id, &format!("{field}.tool_use_id"))?)
                .name(non_empty(tool_use.name, &format!("{field}.name"))?)
                .input(json_object(&tool_use.input_json, &format!("{field}.input_json"), json_budget)?)
                .build();
            Ok(bedrock::ContentBlock::ToolUse(built(&field, block)?))
        }
        Some(Block::ToolResult(result)) => Ok(bedrock::ContentBlock::ToolResult(tool_result_block(
            result,
            &format!("{field}.tool_result"),
            json_budget,
        )?)),
        Some(Block::Reasoning(reasoning)) if !reasoning.redacted.is_empty() => {
            let field = format!("{field}.reasoning");
            if !reasoning.text.is_empty() || !reasoning.signature.is_empty() {
                return Err(invalid(
                    format!("{field}.redacted"),
                    "set with text or signature; redacted reasoning has neither: send the block back unchanged",
                ));
            }
            Ok(bedrock::ContentBlock::ReasoningContent(bedrock::ReasoningContentBlock::RedactedContent(Blob::new(
                reasoning.redacted,
            ))))
        }
        Some(Block::Reasoning(reasoning)) => {
            let field = format!("{field}.reasoning");
            let mut text =
                bedrock::ReasoningTextBlock::builder().text(non_empty(reasoning.text, &format!("{field}.text"))?);
            if !reasoning.signature.is_empty() {
                text = text.signature(reasoning.signature);
            }
            Ok(bedrock::ContentBlock::ReasoningContent(bedrock::ReasoningContentBlock::ReasoningText(built(
                &field,
                text.build(),
            )?)))
        }
        Some(Block::CachePoint(point)) => {
            Ok(bedrock::ContentBlock::CachePoint(cache_point_with(&point, &format!("{field}.cache_point"))?))
        }
    }
}

fn image_block(image: v1::ImageBlock, field: &str) -> Result<bedrock::ImageBlock> {
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
    let source = bedrock::ImageSource::Bytes(Blob::new(image.data));
    built(field, bedrock::ImageBlock::builder().format(format).source(source).build())
}

fn document_block(document: v1::DocumentBlock, field: &str) -> Result<bedrock::DocumentBlock> {
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
    let source = bedrock::DocumentSource::Bytes(Blob::new(document.data));
    built(field, bedrock::DocumentBlock::builder().format(format).name(document.name).source(source).build())
}

fn valid_document_name(name: &str) -> bool {
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, ' ' | '-' | '(' | ')' | '[' | ']');
    !name.trim().is_empty() && name.chars().all(allowed) && !name.contains("  ")
}

fn tool_result_block(
    result: v1::ToolResultBlock,
    field: &str,
    json_budget: &mut Budget,
) -> Result<bedrock::ToolResultBlock> {
    use v1::tool_result_content::Content;
    if result.content.is_empty() {
        return Err(invalid(format!("{field}.content"), "at least one item is required"));
    }
    let mut builder = bedrock::ToolResultBlock::builder()
        .tool_use_id(non_empty(result.tool_use_id, &format!("{field}.tool_use_id"))?);
    for (index, item) in result.content.into_iter().enumerate() {
        let item_field = format!("{field}.content[{index}]");
        let converted = match item.content {
            None => return Err(invalid(item_field, "empty: set one of text, json, image, document")),
            Some(Content::Text(text)) => {
                bedrock::ToolResultContentBlock::Text(non_empty(text, &format!("{item_field}.text"))?)
            }
            Some(Content::Json(text)) => {
                bedrock::ToolResultContentBlock::Json(json_value(&text, &format!("{item_field}.json"), json_budget)?)
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

fn system(blocks: Vec<v1::SystemBlock>) -> Result<Vec<bedrock::SystemContentBlock>> {
    blocks
        .into_iter()
        .enumerate()
        .map(|(index, block)| match block.block {
            Some(v1::system_block::Block::Text(text)) => {
                Ok(bedrock::SystemContentBlock::Text(non_empty(text, &format!("system[{index}].text"))?))
            }
            Some(v1::system_block::Block::CachePoint(point)) => Ok(bedrock::SystemContentBlock::CachePoint(
                cache_point_with(&point, &format!("system[{index}].cache_point"))?,
            )),
            None => Err(invalid(format!("system[{index}]"), "empty: set text or cache_point")),
        })
        .collect()
}

/// A caller's cache point at `field`. A TTL this API does not define is refused like any other
/// unknown enum value (prost keeps the number as it came), not taken as the default: the caller
/// asked for something the gateway does not offer.
fn cache_point_with(point: &v1::CachePoint, field: &str) -> Result<bedrock::CachePointBlock> {
    let ttl = match v1::CacheTtl::try_from(point.ttl) {
        Ok(v1::CacheTtl::Unspecified) => None,
        Ok(v1::CacheTtl::FiveMinutes) => Some(bedrock::CacheTtl::FiveMinutes),
        Ok(v1::CacheTtl::OneHour) => Some(bedrock::CacheTtl::OneHour),
        Err(_) => {
            return Err(invalid(
                format!("{field}.ttl"),
                format!(
                    "{} is not a CacheTtl; use CACHE_TTL_FIVE_MINUTES, CACHE_TTL_ONE_HOUR or leave it unset",
                    point.ttl
                ),
            ));
        }
    };
    Ok(bedrock::CachePointBlock::builder()
        .r#type(bedrock::CachePointType::Default)
        .set_ttl(ttl)
        .build()
        .expect("a cache point has its one required field"))
}

fn cache_point() -> bedrock::CachePointBlock {
    bedrock::CachePointBlock::builder()
        .r#type(bedrock::CachePointType::Default)
        .build()
        .expect("a cache point has its one required field")
}

/// The request's inference settings, the model's defaults filling what it leaves unset: a
/// request without max_tokens gets `default_max_tokens`, not the cap, because Bedrock reserves
/// quota for max_tokens when the request starts. With `reasoning`, max_tokens makes room for its
/// budget, and a model that reasons with fixed sampling gets no sampling defaults.
fn inference(
    config: Option<v1::InferenceConfig>,
    model: &Model,
    reasoning: Option<Reasoning>,
) -> Result<bedrock::InferenceConfiguration> {
    let config = config.unwrap_or_default();
    let default_max_tokens =
        reasoning.map_or(model.default_max_tokens, |reasoning| reasoning.default_max_tokens(model));
    let max_tokens = config.max_tokens.unwrap_or(default_max_tokens);
    if max_tokens == 0 || max_tokens > model.max_tokens_cap {
        return Err(invalid(
            "inference_config.max_tokens",
            format!("{max_tokens} is out of range; model {:?} allows 1 to {}", model.name, model.max_tokens_cap),
        ));
    }
    let sampling_defaults = match reasoning {
        Some(reasoning) => {
            reasoning.check_fits(max_tokens, config.max_tokens.is_some(), model)?;
            reasoning.check_sampling(&config, model)?;
            !reasoning.fixes_sampling()
        }
        None => true,
    };
    let mut builder = bedrock::InferenceConfiguration::builder().max_tokens(max_tokens as i32);
    if let Some(temperature) = config.temperature {
        builder = builder.temperature(unit_interval(temperature, "inference_config.temperature")?);
    } else if let Some(temperature) = model.temperature.filter(|_| sampling_defaults) {
        builder = builder.temperature(temperature);
    }
    if let Some(top_p) = config.top_p {
        builder = builder.top_p(unit_interval(top_p, "inference_config.top_p")?);
    } else if let Some(top_p) = model.top_p.filter(|_| sampling_defaults) {
        builder = builder.top_p(top_p);
    }
    for (index, sequence) in config.stop_sequences.into_iter().enumerate() {
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

fn tool_config(config: v1::ToolConfig, json_budget: &mut Budget) -> Result<bedrock::ToolConfiguration> {
    if config.tools.is_empty() {
        return Err(invalid("tool_config.tools", "at least one tool is required when tool_config is set"));
    }
    let mut names = HashSet::new();
    let mut builder = bedrock::ToolConfiguration::builder();
    for (index, tool) in config.tools.into_iter().enumerate() {
        let field = format!("tool_config.tools[{index}]");
        if !valid_tool_name(&tool.name) {
            // The name is echoed only when it is short enough to be one.
            let shown =
                if tool.name.len() <= limits::TOOL_NAME_CHARS { format!("{:?} ", tool.name) } else { String::new() };
            return Err(invalid(
                format!("{field}.name"),
                format!("{shown}is not a tool name: 1 to {} letters, digits, '_' or '-'", limits::TOOL_NAME_CHARS),
            ));
        }
        if !names.insert(tool.name.clone()) {
            return Err(invalid(
                format!("{field}.name"),
                format!("{:?} is offered twice; tool names must be distinct", tool.name),
            ));
        }
        let schema = json_object(&tool.input_schema_json, &format!("{field}.input_schema_json"), json_budget)?;
        let mut spec =
            bedrock::ToolSpecification::builder().name(tool.name).input_schema(bedrock::ToolInputSchema::Json(schema));
        if !tool.description.is_empty() {
            spec = spec.description(tool.description);
        }
        // Only models with native structured output get here with a strict tool.
        if tool.strict == Some(true) {
            spec = spec.strict(true);
        }
        builder = builder.tools(bedrock::Tool::ToolSpec(built(&field, spec.build())?));
    }
    if let Some(point) = &config.cache_point {
        builder = builder.tools(bedrock::Tool::CachePoint(cache_point_with(point, "tool_config.cache_point")?));
    }
    if let Some(choice) = config.tool_choice.and_then(|choice| choice.choice) {
        use v1::tool_choice::Choice;
        let choice = match choice {
            Choice::Auto(_) => bedrock::ToolChoice::Auto(bedrock::AutoToolChoice::builder().build()),
            Choice::Any(_) => bedrock::ToolChoice::Any(bedrock::AnyToolChoice::builder().build()),
            Choice::Tool(name) => {
                if !names.contains(&name) {
                    let mut offered = names.into_iter().collect::<Vec<_>>();
                    offered.sort();
                    let offered = offered.join(", ");
                    let shown: String = name.chars().take(limits::TOOL_NAME_CHARS).collect();
                    return Err(invalid(
                        "tool_config.tool_choice.tool",
                        format!("{shown:?} is not one of the offered tools ({offered})"),
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

pub(super) fn valid_tool_name(name: &str) -> bool {
    (1..=limits::TOOL_NAME_CHARS).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

fn non_empty(text: String, field: &str) -> Result<String> {
    if text.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    Ok(text)
}

fn json_value(text: &str, field: &str, budget: &mut Budget) -> Result<Document> {
    json::parse(text, budget).map_err(|err| match err {
        ParseError::Invalid(err) => invalid(field, format!("is not valid JSON: {err}")),
        ParseError::OverBudget => invalid(
            field,
            format!(
                "the request's tool schemas, tool inputs and tool-result JSON hold more than {} JSON values",
                limits::JSON_VALUES
            ),
        ),
    })
}

pub(super) fn json_object(text: &str, field: &str, budget: &mut Budget) -> Result<Document> {
    let document = json_value(text, field, budget)?;
    if !matches!(document, Document::Object(_)) {
        return Err(invalid(field, "must be a JSON object, as in {\"key\": \"value\"}"));
    }
    Ok(document)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::catalog::config::{CapabilitiesConfig, ModelKind, ModelState, PromptCachingConfig};

    /// A chat model without capabilities beyond the defaults, named "chat", with a cap of 1000.
    pub(in crate::convert) fn model() -> Model {
        Model {
            name: "chat".into(),
            targets: Vec::new(),
            fallbacks: Vec::new(),
            sticky_metadata_key: None,
            description: String::new(),
            max_tokens_cap: 1000,
            default_max_tokens: 300,
            temperature: None,
            top_p: None,
            guardrail: None,
            prompt_caching: PromptCachingConfig::default(),
            state: ModelState::Active,
            replacement: None,
            retires_on: None,
            kind: ModelKind::Chat,
            capabilities: CapabilitiesConfig::default(),
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

    fn user(content: Vec<v1::ContentBlock>) -> v1::Message {
        v1::Message { role: v1::Role::User as i32, content }
    }

    /// A conversation of `count` messages, alternating user and assistant, of `blocks` text blocks each.
    fn conversation(count: usize, blocks: usize) -> Vec<v1::Message> {
        (0..count)
            .map(|index| v1::Message {
                role: if index.is_multiple_of(2) { v1::Role::User } else { v1::Role::Assistant } as i32,
                content: vec![text("x"); blocks],
            })
            .collect()
    }

    fn tool(name: &str) -> v1::Tool {
        v1::Tool {
            name: name.into(),
            description: "d".into(),
            input_schema_json: r#"{"type":"object"}"#.into(),
            strict: None,
        }
    }

    /// Converts `at_limit` (which must pass) and `over` (which must be refused, naming `field` and
    /// saying `limit`).
    fn limit_holds(at_limit: v1::ConverseRequest, over: v1::ConverseRequest, field: &str, limit: &str) {
        if let Err(err) = to_bedrock(at_limit, &model()) {
            panic!("at the limit, {field} passes: {err}");
        }
        match to_bedrock(over, &model()) {
            Err(GatewayError::InvalidArgument { field: named, reason }) => {
                assert_eq!(named, field);
                assert!(reason.contains(limit), "{field}: {reason:?} says {limit:?}");
            }
            other => panic!("one over the limit, {field} is refused, got {other:?}"),
        }
    }

    /// A one-message request, adjusted.
    pub(in crate::convert) fn with(adjust: impl FnOnce(&mut v1::ConverseRequest)) -> v1::ConverseRequest {
        let mut request = request();
        adjust(&mut request);
        request
    }

    /// The field and reason `request` is refused with by `model`.
    pub(in crate::convert) fn rejected(request: v1::ConverseRequest, model: &Model) -> (String, String) {
        match to_bedrock(request, model) {
            Err(GatewayError::InvalidArgument { field, reason }) => (field, reason),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    fn rejected_field(request: v1::ConverseRequest) -> String {
        match to_bedrock(request, &model()) {
            Err(GatewayError::InvalidArgument { field, .. }) => field,
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn input_estimates_count_text_by_bytes_and_images_by_a_fixed_cost() {
        let text = v1::ConverseRequest {
            model: "chat".into(),
            messages: vec![v1::Message {
                role: v1::Role::User as i32,
                content: vec![v1::ContentBlock { block: Some(v1::content_block::Block::Text("x".repeat(4000))) }],
            }],
            ..Default::default()
        };
        let estimate = estimated_input_tokens(&text);
        assert!((1000..1010).contains(&estimate), "{estimate}");
        let mut with_image = text.clone();
        with_image.messages[0].content.push(v1::ContentBlock {
            block: Some(v1::content_block::Block::Image(v1::ImageBlock {
                format: v1::ImageFormat::Png as i32,
                data: vec![0; 3_000_000],
            })),
        });
        let with_image = estimated_input_tokens(&with_image);
        assert!((estimate + 1600..estimate + 1620).contains(&with_image), "image bytes are not text: {with_image}");
    }

    #[test]
    fn simple_request_converts_with_max_tokens_defaulting_to_the_models_default() {
        let converted = to_bedrock(request(), &model()).unwrap();
        assert_eq!(converted.messages.len(), 1);
        assert_eq!(converted.inference.max_tokens, Some(300), "the default, not the cap of 1000");
        assert_eq!((converted.inference.temperature, converted.inference.top_p), (None, None));
        assert!(converted.tool_config.is_none());
    }

    #[test]
    fn model_defaults_fill_only_what_the_request_leaves_unset() {
        let tuned = Model { temperature: Some(0.2), top_p: Some(0.8), ..model() };
        let converted = to_bedrock(request(), &tuned).unwrap();
        assert_eq!((converted.inference.temperature, converted.inference.top_p), (Some(0.2), Some(0.8)));
        let mut own = request();
        own.inference_config = Some(v1::InferenceConfig {
            max_tokens: Some(1000),
            temperature: Some(0.9),
            top_p: Some(0.5),
            ..Default::default()
        });
        let converted = to_bedrock(own, &tuned).unwrap();
        assert_eq!(converted.inference.max_tokens, Some(1000));
        assert_eq!((converted.inference.temperature, converted.inference.top_p), (Some(0.9), Some(0.5)));
    }

    #[test]
    fn cache_points_follow_the_last_system_block_and_the_last_tool() {
        let caching =
            Model { prompt_caching: PromptCachingConfig { after_system: true, after_tools: true }, ..model() };
        let system = |text: &str| v1::SystemBlock { block: Some(v1::system_block::Block::Text(text.into())) };
        let converted = to_bedrock(
            with(|r| {
                r.system = vec![system("a"), system("b")];
                r.tool_config = Some(v1::ToolConfig { tools: vec![tool("t1"), tool("t2")], ..Default::default() });
            }),
            &caching,
        )
        .unwrap();
        assert_eq!(converted.system.len(), 3);
        assert!(matches!(converted.system[2], bedrock::SystemContentBlock::CachePoint(_)), "{:?}", converted.system);
        let tools = converted.tool_config.unwrap().tools;
        assert_eq!(tools.len(), 3);
        assert!(matches!(tools[2], bedrock::Tool::CachePoint(_)), "{tools:?}");
        // Nothing to cache, no cache point.
        let bare = to_bedrock(request(), &caching).unwrap();
        assert!(bare.system.is_empty() && bare.tool_config.is_none());
    }

    fn point() -> v1::CachePoint {
        v1::CachePoint { ttl: 0 }
    }

    fn cached(ttl: v1::CacheTtl) -> v1::ContentBlock {
        v1::ContentBlock { block: Some(v1::content_block::Block::CachePoint(v1::CachePoint { ttl: ttl as i32 })) }
    }

    fn system_text(text: &str) -> v1::SystemBlock {
        v1::SystemBlock { block: Some(v1::system_block::Block::Text(text.into())) }
    }

    fn system_point() -> v1::SystemBlock {
        v1::SystemBlock { block: Some(v1::system_block::Block::CachePoint(point())) }
    }

    fn caching() -> Model {
        Model { capabilities: CapabilitiesConfig { prompt_caching: Some(true), ..Default::default() }, ..model() }
    }

    fn refusal(request: v1::ConverseRequest, model: &Model) -> (String, String) {
        match to_bedrock(request, model) {
            Err(GatewayError::InvalidArgument { field, reason }) => (field, reason),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    /// A request with a cache point in the tools, the system prompt and the message.
    fn with_cache_points() -> v1::ConverseRequest {
        with(|r| {
            r.system = vec![system_text("s"), system_point()];
            r.tool_config =
                Some(v1::ToolConfig { tools: vec![tool("t")], tool_choice: None, cache_point: Some(point()) });
            r.messages[0].content.extend([cached(v1::CacheTtl::OneHour), text("question")]);
        })
    }

    #[test]
    fn callers_cache_points_reach_a_caching_model_with_their_ttl() {
        let converted = to_bedrock(with_cache_points(), &caching()).unwrap();
        let bedrock::SystemContentBlock::CachePoint(system) = &converted.system[1] else { panic!("{converted:?}") };
        assert_eq!((system.r#type(), system.ttl()), (&bedrock::CachePointType::Default, None));
        let bedrock::ContentBlock::CachePoint(message) = &converted.messages[0].content[1] else { panic!() };
        assert_eq!(message.ttl(), Some(&bedrock::CacheTtl::OneHour));
        let tools = converted.tool_config.unwrap().tools;
        assert!(matches!(tools.as_slice(), [bedrock::Tool::ToolSpec(_), bedrock::Tool::CachePoint(_)]), "{tools:?}");
    }

    #[test]
    fn cache_points_are_dropped_for_a_model_without_prompt_caching() {
        let converted = to_bedrock(with_cache_points(), &model()).unwrap();
        assert_eq!(converted.system.len(), 1);
        assert!(matches!(
            converted.messages[0].content.as_slice(),
            [bedrock::ContentBlock::Text(_), bedrock::ContentBlock::Text(_)]
        ));
        assert_eq!(converted.tool_config.unwrap().tools.len(), 1);
    }

    #[test]
    fn the_models_cache_points_are_not_added_where_the_caller_put_one() {
        let automatic =
            Model { prompt_caching: PromptCachingConfig { after_system: true, after_tools: true }, ..caching() };
        let converted = to_bedrock(with_cache_points(), &automatic).unwrap();
        assert_eq!(converted.system.len(), 2, "{:?}", converted.system);
        assert_eq!(converted.tool_config.unwrap().tools.len(), 2);
    }

    #[test]
    fn cache_points_that_cache_nothing_are_refused() {
        let leading = with(|r| r.messages[0].content.insert(0, cached(v1::CacheTtl::Unspecified)));
        let (field, reason) = refusal(leading, &caching());
        assert_eq!(field, "messages[0].content[0].cache_point");
        assert!(reason.contains("first block"), "{reason}");
        let doubled = with(|r| r.messages[0].content.extend(vec![cached(v1::CacheTtl::Unspecified); 2]));
        assert_eq!(refusal(doubled, &model()).0, "messages[0].content[2].cache_point", "on every model");
        let system_first = with(|r| r.system = vec![system_point(), system_text("s")]);
        assert_eq!(refusal(system_first, &caching()).0, "system[0].cache_point");
    }

    #[test]
    fn at_most_four_cache_points_counting_the_models_own() {
        let points = |count: usize| {
            with(|r| {
                r.messages[0].content =
                    (0..count).flat_map(|_| [text("part"), cached(v1::CacheTtl::Unspecified)]).collect();
            })
        };
        assert!(to_bedrock(points(4), &caching()).is_ok());
        let (field, reason) = refusal(points(5), &caching());
        assert_eq!(field, "messages[0].content[9].cache_point");
        assert!(reason.contains("5 cache points; at most 4"), "{reason}");
        let automatic =
            Model { prompt_caching: PromptCachingConfig { after_system: true, after_tools: false }, ..caching() };
        let with_system =
            |count| with(|r| *r = v1::ConverseRequest { system: vec![system_text("s")], ..points(count) });
        assert!(to_bedrock(with_system(3), &automatic).is_ok());
        let (field, reason) = refusal(with_system(4), &automatic);
        assert_eq!(field, "messages[0].content[7].cache_point");
        assert!(reason.contains(r#"counting the 1 that model "chat" adds"#), "{reason}");
    }

    #[test]
    fn messages_must_alternate_roles() {
        let twice = with(|r| r.messages.push(user(vec![text("again")])));
        let (field, reason) = refusal(twice, &model());
        assert_eq!(field, "messages[1].role");
        assert!(reason.contains("ROLE_USER twice in a row; messages must alternate"), "{reason}");
    }

    #[test]
    fn tool_result_items_must_not_be_empty() {
        let result = |item: Option<v1::tool_result_content::Content>, items: usize| {
            with(|r| {
                r.messages[0].content = vec![v1::ContentBlock {
                    block: Some(v1::content_block::Block::ToolResult(v1::ToolResultBlock {
                        tool_use_id: "t1".into(),
                        content: vec![v1::ToolResultContent { content: item }; items],
                        status: 0,
                    })),
                }];
            })
        };
        use v1::tool_result_content::Content;
        let field = |request| refusal(request, &model()).0;
        assert_eq!(
            field(result(Some(Content::Text(String::new())), 1)),
            "messages[0].content[0].tool_result.content[0].text"
        );
        assert_eq!(
            field(result(Some(Content::Json(" ".into())), 1)),
            "messages[0].content[0].tool_result.content[0].json"
        );
        assert_eq!(field(result(None, 1)), "messages[0].content[0].tool_result.content[0]");
        assert_eq!(field(result(None, 0)), "messages[0].content[0].tool_result.content");
    }

    #[test]
    fn empty_messages_and_missing_model_are_named() {
        let mut empty = request();
        empty.messages.clear();
        assert_eq!(rejected_field(empty), "messages");
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
        assert_eq!(rejected_field(over_cap), "inference_config.max_tokens");
        let mut hot = request();
        hot.inference_config = Some(v1::InferenceConfig { temperature: Some(1.5), ..Default::default() });
        assert_eq!(rejected_field(hot), "inference_config.temperature");
        let mut nan = request();
        nan.inference_config = Some(v1::InferenceConfig { top_p: Some(f32::NAN), ..Default::default() });
        assert_eq!(rejected_field(nan), "inference_config.top_p");
    }

    #[test]
    fn nested_fields_are_named_with_their_path() {
        let mut bad_image = request();
        bad_image.messages[0].content.push(v1::ContentBlock {
            block: Some(v1::content_block::Block::Image(v1::ImageBlock { format: 0, data: vec![1] })),
        });
        assert_eq!(rejected_field(bad_image), "messages[0].content[1].image.format");

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
        assert_eq!(rejected_field(bad_tool_input), "messages[1].content[0].tool_use.input_json");

        let mut assistant_first = request();
        assistant_first.messages[0].role = v1::Role::Assistant as i32;
        assert_eq!(rejected_field(assistant_first), "messages[0].role");
    }

    #[test]
    fn tool_config_is_checked() {
        let tool = |name: &str| v1::Tool {
            name: name.into(),
            description: "d".into(),
            input_schema_json: r#"{"type":"object"}"#.into(),
            strict: None,
        };
        let mut duplicate = request();
        duplicate.tool_config =
            Some(v1::ToolConfig { tools: vec![tool("a"), tool("a")], tool_choice: None, cache_point: None });
        assert_eq!(rejected_field(duplicate), "tool_config.tools[1].name");

        let mut unknown_choice = request();
        unknown_choice.tool_config = Some(v1::ToolConfig {
            tools: vec![tool("a")],
            tool_choice: Some(v1::ToolChoice { choice: Some(v1::tool_choice::Choice::Tool("b".into())) }),
            cache_point: None,
        });
        assert_eq!(rejected_field(unknown_choice), "tool_config.tool_choice.tool");

        let mut good = request();
        good.tool_config = Some(v1::ToolConfig { tools: vec![tool("a")], tool_choice: None, cache_point: None });
        assert!(to_bedrock(good, &model()).unwrap().tool_config.is_some());
    }

    #[test]
    fn document_names_follow_bedrock_rules() {
        assert!(valid_document_name("Q3 report (final) [v2]"));
        assert!(!valid_document_name("report.pdf"));
        assert!(!valid_document_name("two  spaces"));
        assert!(!valid_document_name(""));
    }

    #[test]
    fn message_and_block_counts_are_limited() {
        let messages = |count| with(|r| r.messages = conversation(count, 1));
        limit_holds(messages(limits::MESSAGES), messages(limits::MESSAGES + 1), "messages", "at most 2000");

        let blocks = |count| with(|r| r.messages = conversation(1, count));
        limit_holds(
            blocks(limits::BLOCKS_PER_MESSAGE),
            blocks(limits::BLOCKS_PER_MESSAGE + 1),
            "messages[0].content",
            "at most 100",
        );

        let full = limits::CONTENT_BLOCKS / limits::BLOCKS_PER_MESSAGE;
        let total = |extra: usize| {
            with(|r| {
                r.messages = conversation(full, limits::BLOCKS_PER_MESSAGE);
                r.messages.extend(conversation(extra + 1, 1).into_iter().skip(1));
            })
        };
        limit_holds(total(0), total(1), "messages", "at most 10000");
    }

    #[test]
    fn tool_result_items_are_limited_and_count_towards_all_blocks() {
        let result = |items| {
            with(|r| {
                let item = v1::ToolResultContent { content: Some(v1::tool_result_content::Content::Text("ok".into())) };
                let block = v1::content_block::Block::ToolResult(v1::ToolResultBlock {
                    tool_use_id: "t1".into(),
                    content: vec![item; items],
                    status: 0,
                });
                r.messages = vec![user(vec![v1::ContentBlock { block: Some(block) }])];
            })
        };
        limit_holds(
            result(limits::TOOL_RESULT_ITEMS),
            result(limits::TOOL_RESULT_ITEMS + 1),
            "messages[0].content[0].tool_result.content",
            "at most 100",
        );

        // 99 full messages plus one message holding a tool result: its items count too.
        let mut over =
            conversation(limits::CONTENT_BLOCKS / limits::BLOCKS_PER_MESSAGE - 1, limits::BLOCKS_PER_MESSAGE);
        over.push(result(limits::TOOL_RESULT_ITEMS).messages.remove(0));
        over.last_mut().unwrap().role = if over.len() % 2 == 1 { v1::Role::User } else { v1::Role::Assistant } as i32;
        assert_eq!(rejected_field(with(|r| r.messages = over)), "messages");
    }

    #[test]
    fn system_tools_and_stop_sequences_are_limited() {
        let system = |count| {
            with(|r| r.system = vec![v1::SystemBlock { block: Some(v1::system_block::Block::Text("s".into())) }; count])
        };
        limit_holds(system(limits::SYSTEM_BLOCKS), system(limits::SYSTEM_BLOCKS + 1), "system", "at most 100");

        let tools = |count: usize| {
            with(|r| {
                let tools = (0..count).map(|index| tool(&format!("tool-{index}"))).collect();
                r.tool_config = Some(v1::ToolConfig { tools, tool_choice: None, cache_point: None });
            })
        };
        limit_holds(tools(limits::TOOLS), tools(limits::TOOLS + 1), "tool_config.tools", "at most 256");

        let stops = |count| {
            with(|r| {
                r.inference_config =
                    Some(v1::InferenceConfig { stop_sequences: vec!["END".into(); count], ..Default::default() });
            })
        };
        limit_holds(
            stops(limits::STOP_SEQUENCES),
            stops(limits::STOP_SEQUENCES + 1),
            "inference_config.stop_sequences",
            "at most 8",
        );
    }

    #[test]
    fn json_values_are_limited_across_the_request() {
        // {"a": [0, ...]}: the object, the array and `zeros` numbers.
        let schema = |zeros: usize| format!(r#"{{"a": [{}]}}"#, vec!["0"; zeros].join(","));
        let tools = |zeros| {
            with(|r| {
                let mut big = tool("big");
                big.input_schema_json = schema(zeros);
                r.tool_config = Some(v1::ToolConfig { tools: vec![big], tool_choice: None, cache_point: None });
            })
        };
        limit_holds(
            tools(limits::JSON_VALUES - 2),
            tools(limits::JSON_VALUES - 1),
            "tool_config.tools[0].input_schema_json",
            "more than 50000 JSON values",
        );
        // The budget is shared: a small tool input after a schema that used it all up is refused.
        let mut shared = tools(limits::JSON_VALUES - 2);
        shared.messages.push(v1::Message {
            role: v1::Role::Assistant as i32,
            content: vec![v1::ContentBlock {
                block: Some(v1::content_block::Block::ToolUse(v1::ToolUseBlock {
                    tool_use_id: "t1".into(),
                    name: "big".into(),
                    input_json: "{}".into(),
                })),
            }],
        });
        assert_eq!(rejected_field(shared), "messages[1].content[0].tool_use.input_json");
    }

    #[test]
    fn model_name_and_metadata_lengths_are_limited() {
        let named = |chars| with(|r| r.model = "m".repeat(chars));
        assert!(require_model_name(&named(limits::MODEL_NAME_CHARS)).is_ok());
        match require_model_name(&named(limits::MODEL_NAME_CHARS + 1)) {
            Err(GatewayError::InvalidArgument { field, reason }) => {
                assert_eq!(field, "model");
                assert!(reason.contains("at most 64"), "{reason}");
            }
            other => panic!("a 65-character name is refused, got {other:?}"),
        }

        let entries = |count: usize| {
            with(|r| r.request_metadata = (0..count).map(|index| (format!("k{index}"), "v".to_owned())).collect())
        };
        limit_holds(
            entries(limits::METADATA_ENTRIES),
            entries(limits::METADATA_ENTRIES + 1),
            "request_metadata",
            "at most 16",
        );
        let key = |chars| with(|r| r.request_metadata = [("k".repeat(chars), "v".to_owned())].into());
        limit_holds(
            key(limits::METADATA_KEY_CHARS),
            key(limits::METADATA_KEY_CHARS + 1),
            "request_metadata",
            "1 to 64",
        );
        let value = |chars| with(|r| r.request_metadata = [("k".to_owned(), "v".repeat(chars))].into());
        limit_holds(
            value(limits::METADATA_VALUE_CHARS),
            value(limits::METADATA_VALUE_CHARS + 1),
            r#"request_metadata["k"]"#,
            "at most 256",
        );
    }

    #[test]
    fn limits_are_checked_before_anything_is_converted() {
        // The first block is invalid, but the count is what is reported: nothing was converted.
        let mut over = with(|r| r.messages = conversation(1, limits::BLOCKS_PER_MESSAGE + 1));
        over.messages[0].content[0] = v1::ContentBlock { block: None };
        assert_eq!(rejected_field(over), "messages[0].content");
    }

    #[test]
    fn bytes_and_text_move_into_the_sdk_types() {
        let image = vec![7u8; 4096];
        let document = vec![8u8; 4096];
        let prompt = "describe these".repeat(100);
        let (image_at, document_at, prompt_at) = (image.as_ptr(), document.as_ptr(), prompt.as_ptr());
        let request = with(|r| {
            r.messages = vec![user(vec![
                text(&prompt),
                v1::ContentBlock {
                    block: Some(v1::content_block::Block::Image(v1::ImageBlock {
                        format: v1::ImageFormat::Png as i32,
                        data: image,
                    })),
                },
                v1::ContentBlock {
                    block: Some(v1::content_block::Block::Document(v1::DocumentBlock {
                        format: v1::DocumentFormat::Pdf as i32,
                        name: "report".into(),
                        data: document,
                    })),
                },
            ])];
            r.messages[0].content[0] = v1::ContentBlock { block: Some(v1::content_block::Block::Text(prompt)) };
        });
        let converted = to_bedrock(request, &model()).unwrap();
        let content = &converted.messages[0].content;
        let bedrock::ContentBlock::Text(text) = &content[0] else { panic!("text first") };
        let bedrock::ContentBlock::Image(image) = &content[1] else { panic!("image second") };
        let bedrock::ContentBlock::Document(document) = &content[2] else { panic!("document third") };
        let Some(bedrock::ImageSource::Bytes(image)) = image.source() else { panic!("image bytes") };
        let Some(bedrock::DocumentSource::Bytes(document)) = document.source() else { panic!("document bytes") };
        assert_eq!(text.as_ptr(), prompt_at, "the text was moved, not copied");
        assert_eq!(image.as_ref().as_ptr(), image_at, "the image was moved, not copied");
        assert_eq!(document.as_ref().as_ptr(), document_at, "the document was moved, not copied");
    }
}
