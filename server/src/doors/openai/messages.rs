//! OpenAI's `messages` -> the v1 conversation and system prompt.
//!
//! OpenAI lets any role follow any other; Bedrock wants a system prompt apart, then turns that
//! alternate between the user and the assistant, tool results being the user's. So system and
//! developer messages become the system prompt, in order, wherever they stand; consecutive user
//! and tool messages become one user turn, consecutive assistant messages one assistant turn. What
//! each v1 block came from is kept ([`Origins`]), so that the pipeline's refusals can name the
//! OpenAI field.

use bedrock_gateway_proto::v1;
use serde::Deserialize;
use serde::de::IgnoredAny;
use v1::content_block::Block;

use super::wire::{StringOr, data_url};
use crate::error::GatewayError;

type Result<T> = std::result::Result<T, GatewayError>;

/// One of the request's `messages`, all roles' fields together: which fit a role is checked once
/// the role is known, naming the field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Message {
    role: String,
    content: Option<StringOr<Part>>,
    tool_calls: Option<Vec<ToolCall>>,
    tool_call_id: Option<String>,
    audio: Option<IgnoredAny>,
    function_call: Option<IgnoredAny>,
    /// A participant's name: Bedrock has no place for it, and the model reads the content anyway.
    #[serde(rename = "name")]
    _name: Option<IgnoredAny>,
    /// What an answer carries and clients send back with it: the reasoning (which Bedrock takes
    /// only with its signature, which this protocol has no place for), a refusal the content
    /// repeats, and citations.
    #[serde(rename = "reasoning_content")]
    _reasoning_content: Option<IgnoredAny>,
    #[serde(rename = "refusal")]
    _refusal: Option<IgnoredAny>,
    #[serde(rename = "annotations")]
    _annotations: Option<IgnoredAny>,
}

/// One part of a message's `content` array.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Part {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
    image_url: Option<ImageUrl>,
    file: Option<File>,
    /// Audio, refused by its `type`.
    #[serde(rename = "input_audio")]
    _input_audio: Option<IgnoredAny>,
    refusal: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageUrl {
    url: String,
    /// The resolution to read the image at: Bedrock's models choose their own.
    #[serde(rename = "detail")]
    _detail: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    file_data: Option<String>,
    file_id: Option<String>,
    filename: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolCall {
    id: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    function: FunctionCall,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FunctionCall {
    name: String,
    arguments: String,
}

/// Where each v1 block of a converted conversation came from in the OpenAI request.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Origins {
    /// Per v1 message.
    pub turns: Vec<Turn>,
    /// Per system block: the message and its content part (`None` for string content).
    pub system: Vec<(usize, Option<usize>)>,
}

/// Where one v1 message came from.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Turn {
    /// The OpenAI index of its first message.
    pub first: usize,
    /// Per block.
    pub blocks: Vec<Origin>,
}

/// Where one v1 content block came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Origin {
    /// `messages[message].content`, or its part `part`.
    Content { message: usize, part: Option<usize> },
    /// `messages[message].tool_calls[call]`.
    ToolCall { message: usize, call: usize },
    /// The tool message `messages[message]`; `parts`: its content is an array.
    ToolResult { message: usize, parts: bool },
}

/// The conversation in v1's terms.
#[derive(Debug)]
pub(super) struct Conversation {
    pub messages: Vec<v1::Message>,
    pub system: Vec<v1::SystemBlock>,
    pub origins: Origins,
}

/// Converts `messages`, refusing what Bedrock cannot take, naming the field.
pub(super) fn conversation(messages: Vec<Message>) -> Result<Conversation> {
    let mut converted = Conversation { messages: Vec::new(), system: Vec::new(), origins: Origins::default() };
    for (index, message) in messages.into_iter().enumerate() {
        let field = format!("messages[{index}]");
        if message.audio.is_some() {
            return Err(GatewayError::invalid(format!("{field}.audio"), "audio is not served: send text"));
        }
        if message.function_call.is_some() {
            return Err(GatewayError::invalid(
                format!("{field}.function_call"),
                "the deprecated function_call is not served: use tool_calls",
            ));
        }
        let role = match message.role.as_str() {
            "system" | "developer" => {
                only_on(&message, &field, "tool_calls", message.tool_calls.is_some(), "assistant")?;
                only_on(&message, &field, "tool_call_id", message.tool_call_id.is_some(), "tool")?;
                system(message.content, index, &mut converted)?;
                continue;
            }
            "user" => {
                only_on(&message, &field, "tool_calls", message.tool_calls.is_some(), "assistant")?;
                only_on(&message, &field, "tool_call_id", message.tool_call_id.is_some(), "tool")?;
                v1::Role::User
            }
            "tool" => {
                only_on(&message, &field, "tool_calls", message.tool_calls.is_some(), "assistant")?;
                v1::Role::User
            }
            "assistant" => {
                only_on(&message, &field, "tool_call_id", message.tool_call_id.is_some(), "tool")?;
                v1::Role::Assistant
            }
            "function" => {
                return Err(GatewayError::invalid(
                    format!("{field}.role"),
                    "the deprecated function role is not served: use tool messages",
                ));
            }
            _ => {
                return Err(GatewayError::invalid(
                    format!("{field}.role"),
                    "must be system, developer, user, assistant or tool",
                ));
            }
        };
        let (blocks, origins) = match message.role.as_str() {
            "user" => user(message.content, index)?,
            "tool" => tool(message.content, message.tool_call_id, index)?,
            _ => assistant(message.content, message.tool_calls, index)?,
        };
        let same_role = converted.messages.last().is_some_and(|last| last.role == role as i32);
        if same_role {
            let last = converted.messages.len() - 1;
            converted.messages[last].content.extend(blocks);
            converted.origins.turns[last].blocks.extend(origins);
        } else {
            if converted.messages.is_empty() && role != v1::Role::User {
                return Err(GatewayError::invalid(
                    format!("{field}.role"),
                    "the first message after the system and developer messages must be a user message",
                ));
            }
            converted.messages.push(v1::Message { role: role as i32, content: blocks });
            converted.origins.turns.push(Turn { first: index, blocks: origins });
        }
    }
    if converted.messages.is_empty() {
        return Err(GatewayError::invalid("messages", "at least one user message is required"));
    }
    Ok(converted)
}

/// Refuses `name`, present on a message whose role is not `role`.
fn only_on(message: &Message, field: &str, name: &str, present: bool, role: &str) -> Result<()> {
    if present {
        return Err(GatewayError::invalid(
            format!("{field}.{name}"),
            format!("only {role} messages have {name}; this one is a {} message", message.role),
        ));
    }
    Ok(())
}

fn block(block: Block) -> v1::ContentBlock {
    v1::ContentBlock { block: Some(block) }
}

/// `text`, refused naming `field` when it has nothing to say: Bedrock refuses empty text.
fn non_empty(text: String, field: impl FnOnce() -> String) -> Result<String> {
    if text.trim().is_empty() {
        return Err(GatewayError::invalid(field(), "must not be empty"));
    }
    Ok(text)
}

/// The content a message of this role requires.
fn required(content: Option<StringOr<Part>>, field: &str) -> Result<StringOr<Part>> {
    content.ok_or_else(|| GatewayError::invalid(format!("{field}.content"), "required"))
}

/// A part's `text`, for parts of type text (or `refusal`, for an assistant's refusal).
fn part_text(part: Part, field: &str) -> Result<String> {
    let (text, name) = match part.kind.as_str() {
        "refusal" => (part.refusal, "refusal"),
        _ => (part.text, "text"),
    };
    let text = text.ok_or_else(|| GatewayError::invalid(format!("{field}.{name}"), "required"))?;
    non_empty(text, || format!("{field}.{name}"))
}

fn system(content: Option<StringOr<Part>>, index: usize, converted: &mut Conversation) -> Result<()> {
    let field = format!("messages[{index}]");
    let text = |text| v1::SystemBlock { block: Some(v1::system_block::Block::Text(text)) };
    match required(content, &field)? {
        StringOr::String(prompt) => {
            converted.system.push(text(non_empty(prompt, || format!("{field}.content"))?));
            converted.origins.system.push((index, None));
        }
        StringOr::Array(parts) => {
            for (number, part) in parts.into_iter().enumerate() {
                let part_field = format!("{field}.content[{number}]");
                if part.kind != "text" {
                    return Err(GatewayError::invalid(
                        format!("{part_field}.type"),
                        "system and developer messages take text parts only",
                    ));
                }
                converted.system.push(text(part_text(part, &part_field)?));
                converted.origins.system.push((index, Some(number)));
            }
        }
    }
    Ok(())
}

fn user(content: Option<StringOr<Part>>, index: usize) -> Result<(Vec<v1::ContentBlock>, Vec<Origin>)> {
    let field = format!("messages[{index}]");
    match required(content, &field)? {
        StringOr::String(text) => Ok((
            vec![block(Block::Text(non_empty(text, || format!("{field}.content"))?))],
            vec![Origin::Content { message: index, part: None }],
        )),
        StringOr::Array(parts) => {
            if parts.is_empty() {
                return Err(GatewayError::invalid(format!("{field}.content"), "at least one part is required"));
            }
            let mut blocks = Vec::with_capacity(parts.len());
            let mut origins = Vec::with_capacity(parts.len());
            for (number, part) in parts.into_iter().enumerate() {
                let part_field = format!("{field}.content[{number}]");
                blocks.push(block(user_part(part, &part_field)?));
                origins.push(Origin::Content { message: index, part: Some(number) });
            }
            Ok((blocks, origins))
        }
    }
}

fn user_part(part: Part, field: &str) -> Result<Block> {
    match part.kind.as_str() {
        "text" => Ok(Block::Text(part_text(part, field)?)),
        "image_url" => {
            let image =
                part.image_url.ok_or_else(|| GatewayError::invalid(format!("{field}.image_url"), "required"))?;
            Ok(Block::Image(image_block(&image.url, &format!("{field}.image_url.url"))?))
        }
        "file" => {
            let file = part.file.ok_or_else(|| GatewayError::invalid(format!("{field}.file"), "required"))?;
            Ok(Block::Document(document_block(file, &format!("{field}.file"))?))
        }
        "input_audio" => Err(GatewayError::invalid(format!("{field}.type"), "audio is not served: send text")),
        _ => Err(GatewayError::invalid(format!("{field}.type"), "user messages take text, image_url and file parts")),
    }
}

fn image_block(url: &str, field: &str) -> Result<v1::ImageBlock> {
    const ALLOWED: &str = "a data URL of a PNG, JPEG, GIF or WebP image, as in data:image/png;base64,...";
    let (media_type, data) = match data_url(url) {
        Some(Ok(decoded)) => decoded,
        Some(Err(err)) => return Err(GatewayError::invalid(field, format!("is not valid base64 ({err}); {ALLOWED}"))),
        None if url.starts_with("http://") || url.starts_with("https://") => {
            return Err(GatewayError::invalid(
                field,
                format!("the gateway fetches no URLs: send the image itself as {ALLOWED}"),
            ));
        }
        None => return Err(GatewayError::invalid(field, format!("must be {ALLOWED}"))),
    };
    let format = match media_type {
        "image/png" => v1::ImageFormat::Png,
        "image/jpeg" | "image/jpg" => v1::ImageFormat::Jpeg,
        "image/gif" => v1::ImageFormat::Gif,
        "image/webp" => v1::ImageFormat::Webp,
        _ => return Err(GatewayError::invalid(field, format!("{media_type:?} is not served; must be {ALLOWED}"))),
    };
    if data.is_empty() {
        return Err(GatewayError::invalid(field, "holds no image"));
    }
    Ok(v1::ImageBlock { format: format as i32, data })
}

/// The document formats Bedrock reads, by media type.
const DOCUMENT_TYPES: [(&str, v1::DocumentFormat); 9] = [
    ("application/pdf", v1::DocumentFormat::Pdf),
    ("text/csv", v1::DocumentFormat::Csv),
    ("application/msword", v1::DocumentFormat::Doc),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", v1::DocumentFormat::Docx),
    ("application/vnd.ms-excel", v1::DocumentFormat::Xls),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", v1::DocumentFormat::Xlsx),
    ("text/html", v1::DocumentFormat::Html),
    ("text/plain", v1::DocumentFormat::Txt),
    ("text/markdown", v1::DocumentFormat::Md),
];

fn document_block(file: File, field: &str) -> Result<v1::DocumentBlock> {
    const ALLOWED: &str = "a data URL of a PDF, CSV, DOC, DOCX, XLS, XLSX, HTML, plain text or Markdown file, as in \
         data:application/pdf;base64,...";
    if file.file_id.is_some() {
        return Err(GatewayError::invalid(
            format!("{field}.file_id"),
            "files uploaded to OpenAI are not available here: send the file itself as file_data",
        ));
    }
    let data_field = format!("{field}.file_data");
    let file_data = file.file_data.ok_or_else(|| GatewayError::invalid(&data_field, format!("required: {ALLOWED}")))?;
    let (media_type, data) = match data_url(&file_data) {
        Some(Ok(decoded)) => decoded,
        Some(Err(err)) => {
            return Err(GatewayError::invalid(data_field, format!("is not valid base64 ({err}); {ALLOWED}")));
        }
        None => return Err(GatewayError::invalid(data_field, format!("must be {ALLOWED}"))),
    };
    let Some((_, format)) = DOCUMENT_TYPES.iter().find(|(known, _)| *known == media_type) else {
        return Err(GatewayError::invalid(data_field, format!("{media_type:?} is not served; must be {ALLOWED}")));
    };
    if data.is_empty() {
        return Err(GatewayError::invalid(data_field, "holds no file"));
    }
    Ok(v1::DocumentBlock { format: *format as i32, name: document_name(file.filename.as_deref()), data })
}

/// A name Bedrock takes for a document (letters, digits, single spaces, hyphens, parentheses and
/// square brackets), from the file's name without its extension: the name only tells the model
/// which document is which.
fn document_name(filename: Option<&str>) -> String {
    let stem = filename.map(|name| name.rsplit_once('.').map_or(name, |(stem, _)| stem)).unwrap_or_default();
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '-' | '(' | ')' | '[' | ']');
    let words: Vec<String> =
        stem.split(|c: char| !allowed(c)).filter(|word| !word.is_empty()).map(str::to_owned).collect();
    if words.is_empty() { "document".to_owned() } else { words.join(" ") }
}

fn assistant(
    content: Option<StringOr<Part>>,
    tool_calls: Option<Vec<ToolCall>>,
    index: usize,
) -> Result<(Vec<v1::ContentBlock>, Vec<Origin>)> {
    let field = format!("messages[{index}]");
    let tool_calls = tool_calls.unwrap_or_default();
    let mut blocks = Vec::new();
    let mut origins = Vec::new();
    match content {
        // An answer that only calls tools often comes back with empty content.
        Some(StringOr::String(text)) if !text.trim().is_empty() || tool_calls.is_empty() => {
            blocks.push(block(Block::Text(non_empty(text, || format!("{field}.content"))?)));
            origins.push(Origin::Content { message: index, part: None });
        }
        Some(StringOr::Array(parts)) => {
            for (number, part) in parts.into_iter().enumerate() {
                let part_field = format!("{field}.content[{number}]");
                if !matches!(part.kind.as_str(), "text" | "refusal") {
                    return Err(GatewayError::invalid(
                        format!("{part_field}.type"),
                        "assistant messages take text and refusal parts",
                    ));
                }
                blocks.push(block(Block::Text(part_text(part, &part_field)?)));
                origins.push(Origin::Content { message: index, part: Some(number) });
            }
        }
        Some(StringOr::String(_)) | None => {}
    }
    for (call, tool_call) in tool_calls.into_iter().enumerate() {
        let call_field = format!("{field}.tool_calls[{call}]");
        if tool_call.kind.as_deref().is_some_and(|kind| kind != "function") {
            return Err(GatewayError::invalid(format!("{call_field}.type"), "must be function"));
        }
        let arguments = tool_call.function.arguments;
        // A call without arguments often carries an empty string; Bedrock wants an object.
        let input_json = if arguments.trim().is_empty() { "{}".to_owned() } else { arguments };
        blocks.push(block(Block::ToolUse(v1::ToolUseBlock {
            tool_use_id: tool_call.id,
            name: tool_call.function.name,
            input_json,
        })));
        origins.push(Origin::ToolCall { message: index, call });
    }
    if blocks.is_empty() {
        return Err(GatewayError::invalid(
            format!("{field}.content"),
            "required: an assistant message needs content or tool_calls",
        ));
    }
    Ok((blocks, origins))
}

fn tool(
    content: Option<StringOr<Part>>,
    tool_call_id: Option<String>,
    index: usize,
) -> Result<(Vec<v1::ContentBlock>, Vec<Origin>)> {
    use v1::tool_result_content::Content;
    let field = format!("messages[{index}]");
    let tool_use_id = tool_call_id.ok_or_else(|| GatewayError::invalid(format!("{field}.tool_call_id"), "required"))?;
    let text = |text| v1::ToolResultContent { content: Some(Content::Text(text)) };
    let (content, parts) = match required(content, &field)? {
        StringOr::String(output) => (vec![text(tool_output(output, || format!("{field}.content"))?)], false),
        StringOr::Array(parts) => {
            if parts.is_empty() {
                return Err(GatewayError::invalid(format!("{field}.content"), "at least one part is required"));
            }
            let items = parts
                .into_iter()
                .enumerate()
                .map(|(number, part)| {
                    let part_field = format!("{field}.content[{number}]");
                    if part.kind != "text" {
                        return Err(GatewayError::invalid(
                            format!("{part_field}.type"),
                            "tool messages take text parts only",
                        ));
                    }
                    let output =
                        part.text.ok_or_else(|| GatewayError::invalid(format!("{part_field}.text"), "required"))?;
                    Ok(text(tool_output(output, || format!("{part_field}.text"))?))
                })
                .collect::<Result<Vec<_>>>()?;
            (items, true)
        }
    };
    let result = v1::ToolResultBlock { tool_use_id, content, status: v1::ToolResultStatus::Unspecified as i32 };
    Ok((vec![block(Block::ToolResult(result))], vec![Origin::ToolResult { message: index, parts }]))
}

/// A tool's output, which Bedrock refuses empty.
fn tool_output(output: String, field: impl FnOnce() -> String) -> Result<String> {
    if output.trim().is_empty() {
        return Err(GatewayError::invalid(
            field(),
            "must not be empty: Bedrock takes no empty tool result; say that the tool returned nothing",
        ));
    }
    Ok(output)
}
