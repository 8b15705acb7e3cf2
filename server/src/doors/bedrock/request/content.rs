//! The conversation, Bedrock's JSON -> v1: messages and their content blocks, system prompts,
//! cache points. What v1 cannot carry is refused here, naming the member as Bedrock names it;
//! what v1 carries but the model cannot take (a modality, an empty text) is the pipeline's to
//! refuse, as for every door.

use bedrock_gateway_proto::v1;
use v1::content_block::Block;

use super::wire;
use crate::doors::bedrock::json::{Base64, Union};
use crate::error::GatewayError;

type Result<T> = std::result::Result<T, GatewayError>;

/// The members of a content block the gateway carries, for refusals.
const CONTENT_MEMBERS: &str = "text, image, document, toolUse, toolResult, reasoningContent or cachePoint";

/// A refusal of `member` at `field`, which the gateway does not carry; `allowed` says what it
/// does.
fn not_carried(field: &str, member: &str, why: &str, allowed: &str) -> GatewayError {
    GatewayError::invalid(format!("{field}.{member}"), format!("{why}; {allowed}"))
}

pub(super) fn messages(messages: Vec<wire::Message>, prefix: &str) -> Result<Vec<v1::Message>> {
    messages
        .into_iter()
        .enumerate()
        .map(|(index, message)| {
            let field = format!("{prefix}messages[{index}]");
            let role = match message.role {
                wire::Role::User => v1::Role::User,
                wire::Role::Assistant => v1::Role::Assistant,
            };
            let content = message
                .content
                .into_iter()
                .enumerate()
                .map(|(block_index, Union(block))| content_block(block, &format!("{field}.content[{block_index}]")))
                .collect::<Result<_>>()?;
            Ok(v1::Message { role: role as i32, content })
        })
        .collect()
}

fn content_block(block: wire::ContentBlock, field: &str) -> Result<v1::ContentBlock> {
    use wire::ContentBlock as W;
    let allowed = format!("a content block is one of {CONTENT_MEMBERS}");
    let block = match block {
        W::Text(text) => Block::Text(text),
        W::Image(image) => Block::Image(image_block(image, &format!("{field}.image"))?),
        W::Document(document) => Block::Document(document_block(document, &format!("{field}.document"))?),
        W::ToolUse(tool_use) => {
            if tool_use.r#type.is_some() {
                return Err(GatewayError::invalid(
                    format!("{field}.toolUse.type"),
                    "the gateway runs no server tools; leave type unset",
                ));
            }
            Block::ToolUse(v1::ToolUseBlock {
                tool_use_id: tool_use.tool_use_id,
                name: tool_use.name,
                input_json: tool_use.input.to_string(),
            })
        }
        W::ToolResult(result) => Block::ToolResult(tool_result(result, &format!("{field}.toolResult"))?),
        W::ReasoningContent(Union(reasoning)) => Block::Reasoning(match reasoning {
            wire::Reasoning::ReasoningText(reasoning) => v1::ReasoningBlock {
                text: reasoning.text,
                signature: reasoning.signature.unwrap_or_default(),
                redacted: Vec::new(),
            },
            wire::Reasoning::RedactedContent(Base64(redacted)) => {
                v1::ReasoningBlock { text: String::new(), signature: String::new(), redacted }
            }
        }),
        W::CachePoint(point) => Block::CachePoint(cache_point(point)),
        W::Video(_) => return Err(not_carried(field, "video", "the gateway does not carry videos", &allowed)),
        W::Audio(_) => return Err(not_carried(field, "audio", "the gateway does not carry audio", &allowed)),
        W::GuardContent(_) => {
            return Err(not_carried(field, "guardContent", "the gateway applies no guardrails", &allowed));
        }
        W::CitationsContent(_) => {
            return Err(not_carried(field, "citationsContent", "the gateway does not carry citations", &allowed));
        }
        W::SearchResult(_) => {
            return Err(not_carried(field, "searchResult", "the gateway does not carry search results", &allowed));
        }
        W::ToolAddition(_) => {
            return Err(not_carried(
                field,
                "toolAddition",
                "the gateway does not change tools mid-conversation",
                &allowed,
            ));
        }
        W::ToolRemoval(_) => {
            return Err(not_carried(
                field,
                "toolRemoval",
                "the gateway does not change tools mid-conversation",
                &allowed,
            ));
        }
    };
    Ok(v1::ContentBlock { block: Some(block) })
}

fn image_block(image: wire::Image, field: &str) -> Result<v1::ImageBlock> {
    let format = match image.format {
        wire::ImageFormat::Png => v1::ImageFormat::Png,
        wire::ImageFormat::Jpeg => v1::ImageFormat::Jpeg,
        wire::ImageFormat::Gif => v1::ImageFormat::Gif,
        wire::ImageFormat::Webp => v1::ImageFormat::Webp,
    };
    let data = match image.source.0 {
        wire::ImageSource::Bytes(Base64(data)) => data,
        wire::ImageSource::S3Location(_) => {
            return Err(not_carried(
                &format!("{field}.source"),
                "s3Location",
                "the gateway does not read S3 objects",
                "send the image's bytes (source.bytes)",
            ));
        }
    };
    Ok(v1::ImageBlock { format: format as i32, data })
}

fn document_block(document: wire::Document, field: &str) -> Result<v1::DocumentBlock> {
    use wire::DocumentFormat as W;
    if document.context.is_some() {
        return Err(GatewayError::invalid(
            format!("{field}.context"),
            "the gateway does not carry a document's context; put it in a text block",
        ));
    }
    if document.citations.is_some_and(|citations| citations.enabled) {
        return Err(GatewayError::invalid(
            format!("{field}.citations"),
            "the gateway does not carry citations; leave them disabled",
        ));
    }
    let format = match document.format {
        W::Pdf => v1::DocumentFormat::Pdf,
        W::Csv => v1::DocumentFormat::Csv,
        W::Doc => v1::DocumentFormat::Doc,
        W::Docx => v1::DocumentFormat::Docx,
        W::Xls => v1::DocumentFormat::Xls,
        W::Xlsx => v1::DocumentFormat::Xlsx,
        W::Html => v1::DocumentFormat::Html,
        W::Txt => v1::DocumentFormat::Txt,
        W::Md => v1::DocumentFormat::Md,
    };
    let source = &format!("{field}.source");
    let allowed = "send the document's bytes (source.bytes) or its text (source.text)";
    let data = match document.source.0 {
        wire::DocumentSource::Bytes(Base64(data)) => data,
        // A text document's text is its file's bytes.
        wire::DocumentSource::Text(text) => text.into_bytes(),
        wire::DocumentSource::S3Location(_) => {
            return Err(not_carried(source, "s3Location", "the gateway does not read S3 objects", allowed));
        }
        wire::DocumentSource::Content(_) => {
            return Err(not_carried(source, "content", "the gateway does not carry documents in chunks", allowed));
        }
    };
    Ok(v1::DocumentBlock { format: format as i32, name: document.name, data })
}

fn tool_result(result: wire::ToolResult, field: &str) -> Result<v1::ToolResultBlock> {
    use v1::tool_result_content::Content;
    use wire::ToolResultItem as W;
    if result.r#type.is_some() {
        return Err(GatewayError::invalid(
            format!("{field}.type"),
            "the gateway runs no server tools; leave type unset",
        ));
    }
    let allowed = "a tool result's item is one of json, text, image or document";
    let content = result
        .content
        .into_iter()
        .enumerate()
        .map(|(index, Union(item))| {
            let field = format!("{field}.content[{index}]");
            let content = match item {
                W::Json(value) => Content::Json(value.to_string()),
                W::Text(text) => Content::Text(text),
                W::Image(image) => Content::Image(image_block(image, &format!("{field}.image"))?),
                W::Document(document) => Content::Document(document_block(document, &format!("{field}.document"))?),
                W::Video(_) => return Err(not_carried(&field, "video", "the gateway does not carry videos", allowed)),
                W::SearchResult(_) => {
                    return Err(not_carried(
                        &field,
                        "searchResult",
                        "the gateway does not carry search results",
                        allowed,
                    ));
                }
            };
            Ok(v1::ToolResultContent { content: Some(content) })
        })
        .collect::<Result<_>>()?;
    let status = match result.status {
        None => v1::ToolResultStatus::Unspecified,
        Some(wire::ToolResultStatus::Success) => v1::ToolResultStatus::Success,
        Some(wire::ToolResultStatus::Error) => v1::ToolResultStatus::Error,
    };
    Ok(v1::ToolResultBlock { tool_use_id: result.tool_use_id, content, status: status as i32 })
}

pub(super) fn system(blocks: Vec<Union<wire::SystemBlock>>, prefix: &str) -> Result<Vec<v1::SystemBlock>> {
    use v1::system_block::Block as System;
    blocks
        .into_iter()
        .enumerate()
        .map(|(index, Union(block))| {
            let block = match block {
                wire::SystemBlock::Text(text) => System::Text(text),
                wire::SystemBlock::CachePoint(point) => System::CachePoint(cache_point(point)),
                wire::SystemBlock::GuardContent(_) => {
                    return Err(not_carried(
                        &format!("{prefix}system[{index}]"),
                        "guardContent",
                        "the gateway applies no guardrails",
                        "a system block is text or cachePoint",
                    ));
                }
            };
            Ok(v1::SystemBlock { block: Some(block) })
        })
        .collect()
}

pub(super) fn cache_point(point: wire::CachePoint) -> v1::CachePoint {
    let ttl = match point.ttl {
        None => v1::CacheTtl::Unspecified,
        Some(wire::CacheTtl::FiveMinutes) => v1::CacheTtl::FiveMinutes,
        Some(wire::CacheTtl::OneHour) => v1::CacheTtl::OneHour,
    };
    v1::CachePoint { ttl: ttl as i32 }
}
