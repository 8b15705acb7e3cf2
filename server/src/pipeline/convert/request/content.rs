//! The conversation's content, v1 -> Bedrock: messages and their blocks (text, images, documents,
//! tool uses and results, cache points) and system prompts, each refusal naming the block's field.

use aws_sdk_bedrockruntime::types as bedrock;
use aws_smithy_types::Blob;
use bedrock_gateway_proto::v1;

use super::Result;
use crate::error::GatewayError;
use crate::pipeline::convert::fields::{built, json_object, json_value};
use crate::pipeline::convert::json::Budget;

pub(super) fn messages(messages: Vec<v1::Message>, json_budget: &mut Budget) -> Result<Vec<bedrock::Message>> {
    if messages.is_empty() {
        return Err(GatewayError::invalid("messages", "at least one message is required"));
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
                _ => {
                    return Err(GatewayError::invalid(
                        format!("{field}.role"),
                        "required: ROLE_USER or ROLE_ASSISTANT",
                    ));
                }
            };
            if index == 0 && role != bedrock::ConversationRole::User {
                return Err(GatewayError::invalid(
                    format!("{field}.role"),
                    "the first message must be from the user (ROLE_USER)",
                ));
            }
            // Bedrock refuses two turns of one role in a row.
            if previous.replace(name) == Some(name) {
                return Err(GatewayError::invalid(
                    format!("{field}.role"),
                    format!(
                        "{name} twice in a row; messages must alternate between ROLE_USER and ROLE_ASSISTANT \
                         (put both parts in one message)"
                    ),
                ));
            }
            if message.content.is_empty() {
                return Err(GatewayError::invalid(
                    format!("{field}.content"),
                    "at least one content block is required",
                ));
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

pub(super) fn content_block(
    block: v1::ContentBlock,
    field: &str,
    json_budget: &mut Budget,
) -> Result<bedrock::ContentBlock> {
    use v1::content_block::Block;
    match block.block {
        None => Err(GatewayError::invalid(
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
                return Err(GatewayError::invalid(
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

pub(super) fn image_block(image: v1::ImageBlock, field: &str) -> Result<bedrock::ImageBlock> {
    let format = match v1::ImageFormat::try_from(image.format) {
        Ok(v1::ImageFormat::Png) => bedrock::ImageFormat::Png,
        Ok(v1::ImageFormat::Jpeg) => bedrock::ImageFormat::Jpeg,
        Ok(v1::ImageFormat::Gif) => bedrock::ImageFormat::Gif,
        Ok(v1::ImageFormat::Webp) => bedrock::ImageFormat::Webp,
        _ => return Err(GatewayError::invalid(format!("{field}.format"), "required: PNG, JPEG, GIF or WEBP")),
    };
    if image.data.is_empty() {
        return Err(GatewayError::invalid(format!("{field}.data"), "must not be empty"));
    }
    let source = bedrock::ImageSource::Bytes(Blob::new(image.data));
    built(field, bedrock::ImageBlock::builder().format(format).source(source).build())
}

pub(super) fn document_block(document: v1::DocumentBlock, field: &str) -> Result<bedrock::DocumentBlock> {
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
            return Err(GatewayError::invalid(
                format!("{field}.format"),
                "required: PDF, CSV, DOC, DOCX, XLS, XLSX, HTML, TXT or MD",
            ));
        }
    };
    if !valid_document_name(&document.name) {
        return Err(GatewayError::invalid(
            format!("{field}.name"),
            "required: letters, digits, single spaces, hyphens, parentheses and square brackets",
        ));
    }
    if document.data.is_empty() {
        return Err(GatewayError::invalid(format!("{field}.data"), "must not be empty"));
    }
    let source = bedrock::DocumentSource::Bytes(Blob::new(document.data));
    built(field, bedrock::DocumentBlock::builder().format(format).name(document.name).source(source).build())
}

pub(super) fn valid_document_name(name: &str) -> bool {
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, ' ' | '-' | '(' | ')' | '[' | ']');
    !name.trim().is_empty() && name.chars().all(allowed) && !name.contains("  ")
}

pub(super) fn tool_result_block(
    result: v1::ToolResultBlock,
    field: &str,
    json_budget: &mut Budget,
) -> Result<bedrock::ToolResultBlock> {
    use v1::tool_result_content::Content;
    if result.content.is_empty() {
        return Err(GatewayError::invalid(format!("{field}.content"), "at least one item is required"));
    }
    let mut builder = bedrock::ToolResultBlock::builder()
        .tool_use_id(non_empty(result.tool_use_id, &format!("{field}.tool_use_id"))?);
    for (index, item) in result.content.into_iter().enumerate() {
        let item_field = format!("{field}.content[{index}]");
        let converted = match item.content {
            None => return Err(GatewayError::invalid(item_field, "empty: set one of text, json, image, document")),
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
        Err(_) => return Err(GatewayError::invalid(format!("{field}.status"), "must be SUCCESS, ERROR or unset")),
    }
    built(field, builder.build())
}

pub(super) fn system(blocks: Vec<v1::SystemBlock>) -> Result<Vec<bedrock::SystemContentBlock>> {
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
            None => Err(GatewayError::invalid(format!("system[{index}]"), "empty: set text or cache_point")),
        })
        .collect()
}

/// A caller's cache point at `field`. A TTL this API does not define is refused like any other
/// unknown enum value (prost keeps the number as it came), not taken as the default: the caller
/// asked for something the gateway does not offer.
pub(super) fn cache_point_with(point: &v1::CachePoint, field: &str) -> Result<bedrock::CachePointBlock> {
    let ttl = match v1::CacheTtl::try_from(point.ttl) {
        Ok(v1::CacheTtl::Unspecified) => None,
        Ok(v1::CacheTtl::FiveMinutes) => Some(bedrock::CacheTtl::FiveMinutes),
        Ok(v1::CacheTtl::OneHour) => Some(bedrock::CacheTtl::OneHour),
        Err(_) => {
            return Err(GatewayError::invalid(
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

pub(super) fn cache_point() -> bedrock::CachePointBlock {
    bedrock::CachePointBlock::builder()
        .r#type(bedrock::CachePointType::Default)
        .build()
        .expect("a cache point has its one required field")
}

pub(super) fn non_empty(text: String, field: &str) -> Result<String> {
    if text.trim().is_empty() {
        return Err(GatewayError::invalid(field, "must not be empty"));
    }
    Ok(text)
}
