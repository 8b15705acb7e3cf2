//! The parts of a Converse / ConverseStream request body the emulator reads.
//!
//! Only the fields that shape the answer are modelled; everything else the
//! SDK sends is accepted and ignored, as Bedrock would for a model that does
//! not use it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use crate::cache::{self, Checkpoint};
use crate::errors::RequestError;
use crate::generate::words;

/// A Converse request, reduced to what the emulator uses.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConverseRequest {
    #[serde(default)]
    messages: Vec<Message>,
    #[serde(default)]
    system: Vec<Block>,
    inference_config: Option<InferenceConfig>,
    tool_config: Option<ToolConfig>,
    additional_model_request_fields: Option<Value>,
    output_config: Option<OutputConfig>,
    /// The prefixes ending at cache points, in prompt order; read only from a request that has some.
    #[serde(skip)]
    checkpoints: Vec<Checkpoint>,
}

#[derive(Debug, Deserialize)]
struct Message {
    role: String,
    #[serde(default)]
    content: Vec<Block>,
}

/// A content or system block; text blocks and cache points matter, and reasoning blocks are checked.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Block {
    text: Option<String>,
    cache_point: Option<IgnoredAny>,
    reasoning_content: Option<ReasoningContent>,
}

/// Reasoning sent back by the client: its text (and signature), or the redacted form.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReasoningContent {
    reasoning_text: Option<ReasoningText>,
    redacted_content: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ReasoningText {
    text: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutputConfig {
    text_format: Option<TextFormat>,
}

#[derive(Debug, Deserialize)]
struct TextFormat {
    r#type: String,
    structure: Option<FormatStructure>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FormatStructure {
    json_schema: Option<JsonSchema>,
}

/// Bedrock takes the schema as a JSON document inside a string.
#[derive(Debug, Deserialize)]
struct JsonSchema {
    schema: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InferenceConfig {
    max_tokens: Option<u32>,
    #[serde(default)]
    stop_sequences: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolConfig {
    #[serde(default)]
    tools: Vec<Tool>,
    tool_choice: Option<ToolChoice>,
}

/// A tool entry; cache points and other non-spec entries have no `toolSpec`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Tool {
    tool_spec: Option<ToolSpec>,
    cache_point: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolSpec {
    name: String,
    description: Option<String>,
    input_schema: Option<InputSchema>,
}

#[derive(Debug, Deserialize)]
struct InputSchema {
    json: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct ToolChoice {
    any: Option<IgnoredAny>,
    tool: Option<Named>,
}

#[derive(Debug, Deserialize)]
struct Named {
    name: String,
}

impl ConverseRequest {
    /// Parses and validates a request body.
    pub(crate) fn parse(body: &[u8]) -> Result<ConverseRequest, RequestError> {
        let mut request: ConverseRequest = serde_json::from_slice(body)?;
        if request.messages.is_empty() {
            return Err(RequestError::NoMessages);
        }
        if request.max_tokens() == Some(0) {
            return Err(RequestError::ZeroMaxTokens);
        }
        request.tool_to_call()?;
        request.check_thinking_budget()?;
        request.json_schema()?;
        request.check_reasoning_blocks()?;
        if request.has_cache_points() {
            // Prefixes are hashed from the whole JSON of their blocks, which the typed request
            // does not keep: only requests with cache points pay for reading it again.
            request.checkpoints = cache::checkpoints(body)?;
        }
        Ok(request)
    }

    /// Whether the request asks the model to reason: Anthropic's `thinking` (enabled) or
    /// `reasoning_effort` in `additionalModelRequestFields`.
    pub(crate) fn reasons(&self) -> bool {
        let Some(fields) = &self.additional_model_request_fields else { return false };
        fields.pointer("/thinking/type").and_then(Value::as_str) == Some("enabled")
            || fields.get("reasoning_effort").is_some_and(Value::is_string)
    }

    /// Anthropic's limits on the thinking budget, which Bedrock enforces.
    fn check_thinking_budget(&self) -> Result<(), RequestError> {
        let fields = self.additional_model_request_fields.as_ref();
        let Some(thinking) = fields.and_then(|fields| fields.get("thinking")) else { return Ok(()) };
        if thinking.get("type").and_then(Value::as_str) != Some("enabled") {
            return Ok(());
        }
        let budget = thinking.get("budget_tokens").and_then(Value::as_u64).ok_or(RequestError::ThinkingBudget)?;
        let below_max = self.max_tokens().is_none_or(|max| budget < u64::from(max));
        if budget < 1024 || !below_max {
            return Err(RequestError::ThinkingBudget);
        }
        Ok(())
    }

    /// The JSON schema of `outputConfig.textFormat`, parsed.
    pub(crate) fn json_schema(&self) -> Result<Option<Value>, RequestError> {
        let Some(format) = self.output_config.as_ref().and_then(|config| config.text_format.as_ref()) else {
            return Ok(None);
        };
        let invalid = |reason: &str| RequestError::OutputFormat(reason.to_owned());
        if format.r#type != "json_schema" {
            return Err(invalid("unknown type"));
        }
        let schema =
            format.structure.as_ref().and_then(|s| s.json_schema.as_ref()).ok_or_else(|| invalid("no schema"))?;
        match serde_json::from_str(&schema.schema) {
            Ok(schema @ Value::Object(_)) => Ok(Some(schema)),
            _ => Err(invalid("the schema is not a JSON object")),
        }
    }

    /// Reasoning blocks come back in assistant messages, whole: text, or valid base64 redacted content.
    fn check_reasoning_blocks(&self) -> Result<(), RequestError> {
        for message in &self.messages {
            for reasoning in message.content.iter().filter_map(|block| block.reasoning_content.as_ref()) {
                let valid = message.role == "assistant"
                    && match (&reasoning.reasoning_text, &reasoning.redacted_content) {
                        (Some(text), None) => !text.text.is_empty(),
                        (None, Some(redacted)) => BASE64.decode(redacted).is_ok_and(|bytes| !bytes.is_empty()),
                        _ => false,
                    };
                if !valid {
                    return Err(RequestError::ReasoningContent);
                }
            }
        }
        Ok(())
    }

    /// The input schema of the tool named `name`.
    pub(crate) fn tool_schema(&self, name: &str) -> Option<&Value> {
        let tools = &self.tool_config.as_ref()?.tools;
        let spec = tools.iter().filter_map(|tool| tool.tool_spec.as_ref()).find(|spec| spec.name == name)?;
        spec.input_schema.as_ref()?.json.as_ref()
    }

    /// Whether the request forces a tool (`toolChoice` `any` or `tool`): the model then writes
    /// nothing before the tool use, as Anthropic's models do.
    pub(crate) fn forces_tool(&self) -> bool {
        let choice = self.tool_config.as_ref().and_then(|config| config.tool_choice.as_ref());
        choice.is_some_and(|choice| choice.any.is_some() || choice.tool.is_some())
    }

    fn has_cache_points(&self) -> bool {
        let mut blocks = self.system.iter().chain(self.messages.iter().flat_map(|m| &m.content));
        let mut tools = self.tool_config.iter().flat_map(|config| &config.tools);
        blocks.any(|b| b.cache_point.is_some()) || tools.any(|t| t.cache_point.is_some())
    }

    /// The prefixes ending at the request's cache points, in prompt order.
    pub(crate) fn checkpoints(&self) -> &[Checkpoint] {
        &self.checkpoints
    }

    /// The text blocks of the last user message, concatenated: the whole
    /// input of answer generation.
    pub(crate) fn last_user_text(&self) -> String {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map(|m| m.content.iter().filter_map(|b| b.text.as_deref()).collect())
            .unwrap_or_default()
    }

    pub(crate) fn max_tokens(&self) -> Option<u32> {
        self.inference_config.as_ref()?.max_tokens
    }

    pub(crate) fn stop_sequences(&self) -> &[String] {
        self.inference_config.as_ref().map_or(&[], |c| c.stop_sequences.as_slice())
    }

    /// Whitespace-separated words across all system and message text blocks
    /// and the names and descriptions of the tools, at least 1, standing in
    /// for a tokenizer.
    pub(crate) fn input_tokens(&self) -> usize {
        let blocks = self.system.iter().chain(self.messages.iter().flat_map(|m| &m.content));
        let text: usize = blocks.filter_map(|b| b.text.as_deref()).map(words).sum();
        let specs = self.tool_config.iter().flat_map(|config| &config.tools).filter_map(|t| t.tool_spec.as_ref());
        let tools: usize = specs.map(|spec| words(&spec.name) + spec.description.as_deref().map_or(0, words)).sum();
        (text + tools).max(1)
    }

    /// The tool the answer calls, if it calls one: with `toolChoice` `any` or
    /// `tool`, or when the last user text contains the word "tool".
    pub(crate) fn tool_to_call(&self) -> Result<Option<&str>, RequestError> {
        let Some(config) = &self.tool_config else {
            return Ok(None);
        };
        let mut names = config.tools.iter().filter_map(|t| t.tool_spec.as_ref()).map(|t| t.name.as_str());
        let choice = config.tool_choice.as_ref();
        if let Some(wanted) = choice.and_then(|c| c.tool.as_ref()) {
            return match names.find(|n| *n == wanted.name) {
                Some(name) => Ok(Some(name)),
                None => Err(RequestError::UnknownTool(wanted.name.clone())),
            };
        }
        let forced = choice.is_some_and(|c| c.any.is_some());
        if forced || mentions_tool(&self.last_user_text()) { Ok(names.next()) } else { Ok(None) }
    }
}

fn mentions_tool(text: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric()).any(|word| word.eq_ignore_ascii_case("tool"))
}

/// Whether reasoning is redacted: the prompt has a word starting with "redact".
pub(crate) fn asks_for_redaction(text: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric()).any(|word| word.to_ascii_lowercase().starts_with("redact"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> ConverseRequest {
        ConverseRequest::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn reads_the_last_user_message_and_counts_words() {
        let r = parse(
            r#"{"system":[{"text":"be brief"}],"messages":[
                {"role":"user","content":[{"text":"first question"}]},
                {"role":"assistant","content":[{"text":"an answer"}]},
                {"role":"user","content":[{"text":"second "},{"image":{}},{"text":"question"}]}]}"#,
        );
        assert_eq!(r.last_user_text(), "second question");
        assert_eq!(r.input_tokens(), 8);
    }

    #[test]
    fn tool_selection() {
        let tools = r#""tools":[{"cachePoint":{}},{"toolSpec":{"name":"a"}},{"toolSpec":{"name":"b"}}]"#;
        let with = |choice: &str, text: &str| {
            format!(
                r#"{{"messages":[{{"role":"user","content":[{{"text":"{text}"}}]}}],"toolConfig":{{{tools}{choice}}}}}"#
            )
        };
        assert_eq!(parse(&with("", "hi")).tool_to_call().unwrap(), None);
        assert_eq!(parse(&with("", "use a Tool!")).tool_to_call().unwrap(), Some("a"));
        assert_eq!(parse(&with("", "toolbox")).tool_to_call().unwrap(), None);
        assert_eq!(parse(&with(r#","toolChoice":{"any":{}}"#, "hi")).tool_to_call().unwrap(), Some("a"));
        assert_eq!(parse(&with(r#","toolChoice":{"tool":{"name":"b"}}"#, "hi")).tool_to_call().unwrap(), Some("b"));
        assert!(ConverseRequest::parse(with(r#","toolChoice":{"tool":{"name":"c"}}"#, "hi").as_bytes()).is_err());
    }

    #[test]
    fn rejects_invalid_requests() {
        assert!(matches!(ConverseRequest::parse(b"{"), Err(RequestError::Malformed(_))));
        assert!(matches!(ConverseRequest::parse(b"{}"), Err(RequestError::NoMessages)));
        assert!(matches!(
            ConverseRequest::parse(br#"{"messages":[{"role":"user","content":[]}],"inferenceConfig":{"maxTokens":0}}"#),
            Err(RequestError::ZeroMaxTokens)
        ));
    }
}
