//! `POST /v1/chat/completions`: OpenAI's request body -> the v1 ConverseRequest, each field mapped,
//! refused naming it, or (harmless hints only) ignored; the module doc above lists which.

use std::collections::HashMap;

use bedrock_gateway_proto::{limits, v1};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use serde_json::value::RawValue;

use super::fields::ChatFields;
use super::messages::{Message, conversation};
use super::wire::{StringOr, decode};
use crate::error::GatewayError;

type Result<T> = std::result::Result<T, GatewayError>;

/// The `request_metadata` key that OpenAI's `user` is recorded under.
pub(super) const USER_LABEL: &str = "user";
/// The `request_metadata` key that OpenAI's `safety_identifier` is recorded under.
const SAFETY_IDENTIFIER_LABEL: &str = "safety_identifier";

/// A chat completion request in v1's terms.
#[derive(Debug)]
pub struct ChatRequest {
    /// What the pipeline runs.
    pub converse: v1::ConverseRequest,
    /// Whether the answer is streamed as server-sent events.
    pub stream: bool,
    /// Whether a stream ends with a usage chunk (`stream_options.include_usage`).
    pub include_usage: bool,
    /// Turns the pipeline's refusals, which name v1 fields, into ones naming this request's.
    pub fields: ChatFields,
}

/// The request body: every field OpenAI documents, so that an unknown one is refused by name
/// and each known one is mapped, refused or ignored on purpose.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    model: String,
    messages: Vec<Message>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    max_completion_tokens: Option<u32>,
    max_tokens: Option<u32>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    stop: Option<StringOr<String>>,
    tools: Option<Vec<Tool>>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    response_format: Option<ResponseFormat>,
    reasoning_effort: Option<String>,
    user: Option<String>,
    safety_identifier: Option<String>,
    metadata: Option<HashMap<String, String>>,
    n: Option<u32>,
    logprobs: Option<bool>,
    top_logprobs: Option<IgnoredAny>,
    logit_bias: Option<HashMap<String, IgnoredAny>>,
    presence_penalty: Option<f64>,
    frequency_penalty: Option<f64>,
    seed: Option<IgnoredAny>,
    modalities: Option<Vec<String>>,
    audio: Option<IgnoredAny>,
    functions: Option<IgnoredAny>,
    function_call: Option<IgnoredAny>,
    prediction: Option<IgnoredAny>,
    web_search_options: Option<IgnoredAny>,
    store: Option<bool>,
    service_tier: Option<String>,
    verbosity: Option<String>,
    /// Hints for OpenAI's prompt cache: where the alias caches, it does so by its own cache points.
    #[serde(rename = "prompt_cache_key")]
    _prompt_cache_key: Option<IgnoredAny>,
    #[serde(rename = "prompt_cache_retention")]
    _prompt_cache_retention: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamOptions {
    include_usage: Option<bool>,
    /// Padding that hides the length of each chunk: this gateway's chunks are not padded.
    #[serde(rename = "include_obfuscation")]
    _include_obfuscation: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tool {
    #[serde(rename = "type")]
    kind: String,
    function: Option<Function>,
    /// A custom tool's definition, refused by its `type`.
    #[serde(rename = "custom")]
    _custom: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Function {
    name: String,
    description: Option<String>,
    /// As it came: the order of its properties is the order the model writes them in.
    parameters: Option<Box<RawValue>>,
    strict: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseFormat {
    #[serde(rename = "type")]
    kind: String,
    json_schema: Option<JsonSchema>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonSchema {
    name: String,
    description: Option<String>,
    /// As it came, like a tool's parameters.
    schema: Option<Box<RawValue>>,
    /// Whether the answer must follow the schema exactly: the gateway's structured output always
    /// holds the answer to the schema (or answers through a tool whose input it is).
    #[serde(rename = "strict")]
    _strict: Option<IgnoredAny>,
}

/// Decodes a chat completion request body.
pub fn chat_request(body: &[u8]) -> Result<ChatRequest> {
    let body: Body = decode(body)?;
    refuse_unserved(&body)?;
    let stream = body.stream.unwrap_or(false);
    let include_usage = body.stream_options.as_ref().and_then(|options| options.include_usage).unwrap_or(false);
    let max_tokens = max_tokens(body.max_completion_tokens, body.max_tokens)?;
    let stop_is_string = !matches!(body.stop, Some(StringOr::Array(_)));
    let stop_sequences = match body.stop {
        None => Vec::new(),
        Some(StringOr::String(stop)) => vec![stop],
        Some(StringOr::Array(stops)) => stops,
    };
    let inference_config = v1::InferenceConfig {
        max_tokens: max_tokens.map(|(_, tokens)| tokens),
        temperature: body.temperature,
        top_p: body.top_p,
        stop_sequences,
    };
    let request_metadata = labels(body.metadata, body.user, body.safety_identifier)?;
    let reasoning = reasoning(body.reasoning_effort.as_deref())?;
    let response_format = body.response_format.map(response_format).transpose()?.flatten();
    let conversation = conversation(body.messages)?;
    let has_tool_blocks = conversation.messages.iter().flat_map(|message| &message.content).any(|block| {
        matches!(block.block, Some(v1::content_block::Block::ToolUse(_) | v1::content_block::Block::ToolResult(_)))
    });
    let tool_config = tool_config(body.tools, body.tool_choice, has_tool_blocks)?;
    let fields = ChatFields {
        origins: conversation.origins,
        max_tokens: max_tokens.map_or("max_completion_tokens", |(field, _)| field),
        stop_is_string,
    };
    let converse = v1::ConverseRequest {
        model: body.model,
        messages: conversation.messages,
        system: conversation.system,
        inference_config: Some(inference_config),
        tool_config,
        request_metadata,
        reasoning,
        response_format,
    };
    Ok(ChatRequest { converse, stream, include_usage, fields })
}

/// Refuses the fields that ask for what Bedrock through the gateway cannot do, unless they are set
/// to what it does anyway.
fn refuse_unserved(body: &Body) -> Result<()> {
    let refuse = |field: &str, reason: &str| Err(GatewayError::invalid(field, reason));
    if body.n.is_some_and(|n| n != 1) {
        return refuse("n", "must be 1: one choice per request is served; send more requests for more");
    }
    if body.logprobs == Some(true) || body.top_logprobs.is_some() {
        let field = if body.logprobs == Some(true) { "logprobs" } else { "top_logprobs" };
        return refuse(field, "log probabilities are not served: Bedrock does not return them");
    }
    if body.logit_bias.as_ref().is_some_and(|bias| !bias.is_empty()) {
        return refuse("logit_bias", "is not served: Bedrock takes no token biases");
    }
    for (penalty, field) in [(body.presence_penalty, "presence_penalty"), (body.frequency_penalty, "frequency_penalty")]
    {
        if penalty.is_some_and(|penalty| penalty != 0.0) {
            return refuse(field, "must be 0 or unset: Bedrock takes no penalties");
        }
    }
    if body.seed.is_some() {
        return refuse("seed", "is not served: Bedrock takes no seed, so answers cannot be made repeatable");
    }
    if body.modalities.as_ref().is_some_and(|modalities| modalities.iter().any(|modality| modality != "text")) {
        return refuse("modalities", "must be [\"text\"] or unset: only text answers are served");
    }
    if body.audio.is_some() {
        return refuse("audio", "is not served: only text answers are served");
    }
    if body.functions.is_some() || body.function_call.is_some() {
        let field = if body.functions.is_some() { "functions" } else { "function_call" };
        return refuse(field, "the deprecated functions are not served: use tools and tool_choice");
    }
    if body.parallel_tool_calls == Some(false) {
        return refuse("parallel_tool_calls", "must be true or unset: Bedrock cannot keep a model to one tool call");
    }
    if body.prediction.is_some() {
        return refuse("prediction", "predicted outputs are not served");
    }
    if body.web_search_options.is_some() {
        return refuse("web_search_options", "web search is not served");
    }
    if body.store == Some(true) {
        return refuse("store", "must be false or unset: the gateway stores no completions");
    }
    if body.service_tier.as_deref().is_some_and(|tier| !matches!(tier, "auto" | "default")) {
        return refuse("service_tier", "must be auto, default or unset");
    }
    if body.verbosity.as_deref().is_some_and(|verbosity| verbosity != "medium") {
        return refuse("verbosity", "must be medium or unset: Bedrock takes no verbosity");
    }
    Ok(())
}

/// The answer's length limit and the field it came from: `max_completion_tokens`, or the older
/// `max_tokens` that many clients still send.
fn max_tokens(completion: Option<u32>, legacy: Option<u32>) -> Result<Option<(&'static str, u32)>> {
    match (completion, legacy) {
        (Some(completion), Some(legacy)) if completion != legacy => Err(GatewayError::invalid(
            "max_tokens",
            format!("{legacy} differs from max_completion_tokens ({completion}); set one of them"),
        )),
        (Some(tokens), _) => Ok(Some(("max_completion_tokens", tokens))),
        (None, Some(tokens)) => Ok(Some(("max_tokens", tokens))),
        (None, None) => Ok(None),
    }
}

/// The request's labels: `metadata`, with `user` and `safety_identifier` under their own keys.
/// They go to the request's log line (the usage record), never to the model, and never identify
/// the tenant, which only the key does. Checked here against the pipeline's limits, to name
/// OpenAI's fields.
fn labels(
    metadata: Option<HashMap<String, String>>,
    user: Option<String>,
    safety_identifier: Option<String>,
) -> Result<HashMap<String, String>> {
    let mut labels = metadata.unwrap_or_default();
    for (key, value) in &labels {
        let chars = key.chars().count();
        if chars == 0 || chars > limits::METADATA_KEY_CHARS {
            return Err(GatewayError::invalid(
                "metadata",
                format!("a key has {chars} characters; keys must have 1 to {}", limits::METADATA_KEY_CHARS),
            ));
        }
        check_label(&format!("metadata.{key}"), value)?;
    }
    for (key, value) in [(USER_LABEL, user), (SAFETY_IDENTIFIER_LABEL, safety_identifier)] {
        let Some(value) = value.filter(|value| !value.is_empty()) else { continue };
        check_label(key, &value)?;
        if labels.get(key).is_some_and(|label| *label != value) {
            return Err(GatewayError::invalid(
                format!("metadata.{key}"),
                format!("differs from {key}, which the gateway records under this key; set one of them"),
            ));
        }
        labels.insert(key.to_owned(), value);
    }
    if labels.len() > limits::METADATA_ENTRIES {
        return Err(GatewayError::invalid(
            "metadata",
            format!(
                "{} labels with user and safety_identifier; at most {} are allowed",
                labels.len(),
                limits::METADATA_ENTRIES
            ),
        ));
    }
    Ok(labels)
}

fn check_label(field: &str, value: &str) -> Result<()> {
    let chars = value.chars().count();
    if chars > limits::METADATA_VALUE_CHARS {
        return Err(GatewayError::invalid(
            field,
            format!("{chars} characters; at most {} are allowed", limits::METADATA_VALUE_CHARS),
        ));
    }
    Ok(())
}

fn reasoning(effort: Option<&str>) -> Result<Option<v1::ReasoningConfig>> {
    let effort = match effort {
        None | Some("none") => return Ok(None),
        Some("low") => v1::ReasoningEffort::Low,
        Some("medium") => v1::ReasoningEffort::Medium,
        Some("high") => v1::ReasoningEffort::High,
        Some(_) => return Err(GatewayError::invalid("reasoning_effort", "must be none, low, medium or high")),
    };
    Ok(Some(v1::ReasoningConfig { effort: effort as i32, budget_tokens: None }))
}

/// `json_schema` maps to v1's structured output; `json_object` is the schema of any object;
/// `text` is what an unconstrained answer is.
fn response_format(format: ResponseFormat) -> Result<Option<v1::ResponseFormat>> {
    let json_schema = match (format.kind.as_str(), format.json_schema) {
        ("text", _) => return Ok(None),
        ("json_object", _) => v1::JsonSchemaFormat {
            name: "json_object".to_owned(),
            description: "Any JSON object.".to_owned(),
            schema_json: r#"{"type":"object"}"#.to_owned(),
        },
        ("json_schema", Some(schema)) => {
            let Some(definition) = schema.schema else {
                return Err(GatewayError::invalid("response_format.json_schema.schema", "required"));
            };
            v1::JsonSchemaFormat {
                name: schema.name,
                description: schema.description.unwrap_or_default(),
                schema_json: definition.get().to_owned(),
            }
        }
        ("json_schema", None) => return Err(GatewayError::invalid("response_format.json_schema", "required")),
        _ => return Err(GatewayError::invalid("response_format.type", "must be text, json_schema or json_object")),
    };
    Ok(Some(v1::ResponseFormat { format: Some(v1::response_format::Format::JsonSchema(json_schema)) }))
}

/// The offered tools and the choice among them. `tool_choice: "none"` sends no tools, which
/// Bedrock allows only while the conversation holds no tool calls or results.
fn tool_config(
    tools: Option<Vec<Tool>>,
    choice: Option<Value>,
    has_tool_blocks: bool,
) -> Result<Option<v1::ToolConfig>> {
    use v1::tool_choice::Choice;
    let tools = tools.unwrap_or_default();
    let choice = match choice {
        None => None,
        Some(Value::String(mode)) => match mode.as_str() {
            "auto" => Some(Choice::Auto(v1::AutoToolChoice {})),
            "required" => Some(Choice::Any(v1::AnyToolChoice {})),
            "none" if has_tool_blocks => {
                return Err(GatewayError::invalid(
                    "tool_choice",
                    "none cannot be served in a conversation with tool calls: Bedrock needs the tools offered \
                     there; use auto",
                ));
            }
            "none" => return Ok(None),
            _ => {
                return Err(GatewayError::invalid(
                    "tool_choice",
                    "must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": ...}}",
                ));
            }
        },
        Some(Value::Object(choice)) => {
            if choice.get("type").and_then(Value::as_str) != Some("function") {
                return Err(GatewayError::invalid("tool_choice.type", "must be function"));
            }
            let name = choice.get("function").and_then(|function| function.get("name")).and_then(Value::as_str);
            let Some(name) = name else {
                return Err(GatewayError::invalid("tool_choice.function.name", "required"));
            };
            Some(Choice::Tool(name.to_owned()))
        }
        Some(_) => {
            return Err(GatewayError::invalid("tool_choice", "must be a string or an object"));
        }
    };
    if tools.is_empty() {
        return match choice {
            None | Some(Choice::Auto(_)) => Ok(None),
            Some(_) => Err(GatewayError::invalid("tool_choice", "requires tools: none are offered")),
        };
    }
    let tools = tools
        .into_iter()
        .enumerate()
        .map(|(index, tool)| {
            let field = format!("tools[{index}]");
            if tool.kind != "function" {
                return Err(GatewayError::invalid(format!("{field}.type"), "must be function"));
            }
            let Some(function) = tool.function else {
                return Err(GatewayError::invalid(format!("{field}.function"), "required"));
            };
            // A function without parameters takes none.
            let parameters = function.parameters.map_or_else(
                || r#"{"type":"object","properties":{}}"#.to_owned(),
                |parameters| parameters.get().to_owned(),
            );
            Ok(v1::Tool {
                name: function.name,
                description: function.description.unwrap_or_default(),
                input_schema_json: parameters,
                strict: function.strict,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(v1::ToolConfig {
        tools,
        tool_choice: choice.map(|choice| v1::ToolChoice { choice: Some(choice) }),
        cache_point: None,
    }))
}
