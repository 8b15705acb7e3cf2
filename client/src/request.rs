//! A builder for [`v1::ConverseRequest`], so the common request is one line.
//!
//! The generated message is faithful to the wire format (nested `oneof`s, optional fields, enums
//! as integers), which makes even "ask `chat` this question" a dozen lines. [`Request`] covers the
//! everyday shapes: system prompt, conversation turns, sampling settings, reasoning, JSON answers,
//! tools and tool results.
//! Anything it does not cover can still be set on the message itself ([`Request::into_proto`], or
//! pass a [`v1::ConverseRequest`] wherever a [`Request`] is accepted).

use bedrock_gateway_proto::v1;
use v1::content_block::Block;

/// A conversation to send to a logical model.
///
/// ```
/// use bedrock_gateway_client::Request;
///
/// let request = Request::new("chat").system("Answer in one sentence.").user("What is HTTP/2?").max_tokens(200);
/// assert_eq!(request.into_proto().messages.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    proto: v1::ConverseRequest,
}

impl Request {
    /// An empty conversation with the logical model `model` (as listed by `bgw models`).
    pub fn new(model: impl Into<String>) -> Request {
        Request { proto: v1::ConverseRequest { model: model.into(), ..Default::default() } }
    }

    /// Adds a system prompt.
    #[must_use]
    pub fn system(mut self, text: impl Into<String>) -> Request {
        self.proto.system.push(v1::SystemBlock { block: Some(v1::system_block::Block::Text(text.into())) });
        self
    }

    /// Adds a user message with this text.
    #[must_use]
    pub fn user(self, text: impl Into<String>) -> Request {
        self.message(v1::Role::User, vec![Block::Text(text.into())])
    }

    /// Adds an assistant message with this text (an earlier answer, for multi-turn conversations).
    #[must_use]
    pub fn assistant(self, text: impl Into<String>) -> Request {
        self.message(v1::Role::Assistant, vec![Block::Text(text.into())])
    }

    /// Adds a message with arbitrary content blocks (images, documents, tool uses, ...).
    #[must_use]
    pub fn message(mut self, role: v1::Role, content: Vec<Block>) -> Request {
        let content = content.into_iter().map(|block| v1::ContentBlock { block: Some(block) }).collect();
        self.proto.messages.push(v1::Message { role: role as i32, content });
        self
    }

    /// Adds a whole message, for example [`Answer::message`](crate::Answer::message) to continue a
    /// conversation after a tool use.
    #[must_use]
    pub fn push(mut self, message: v1::Message) -> Request {
        self.proto.messages.push(message);
        self
    }

    /// Adds a user message carrying the text result of the tool use `tool_use_id`.
    #[must_use]
    pub fn tool_result(self, tool_use_id: impl Into<String>, text: impl Into<String>) -> Request {
        let result = v1::ToolResultBlock {
            tool_use_id: tool_use_id.into(),
            content: vec![v1::ToolResultContent { content: Some(v1::tool_result_content::Content::Text(text.into())) }],
            status: v1::ToolResultStatus::Success as i32,
        };
        self.message(v1::Role::User, vec![Block::ToolResult(result)])
    }

    /// Caps the answer's length in tokens.
    #[must_use]
    pub fn max_tokens(mut self, max_tokens: u32) -> Request {
        self.inference().max_tokens = Some(max_tokens);
        self
    }

    /// Sets the randomness, from 0.0 (most deterministic) to 1.0.
    #[must_use]
    pub fn temperature(mut self, temperature: f32) -> Request {
        self.inference().temperature = Some(temperature);
        self
    }

    /// Sets nucleus sampling's probability mass, from 0.0 to 1.0.
    #[must_use]
    pub fn top_p(mut self, top_p: f32) -> Request {
        self.inference().top_p = Some(top_p);
        self
    }

    /// Adds a stop sequence: generation stops before it.
    #[must_use]
    pub fn stop_sequence(mut self, stop: impl Into<String>) -> Request {
        self.inference().stop_sequences.push(stop.into());
        self
    }

    /// Offers a tool to the model. `input_schema_json` is the JSON Schema of its input, as text.
    #[must_use]
    pub fn tool(
        mut self,
        name: impl Into<String>,
        description: impl Into<String>,
        input_schema_json: impl Into<String>,
    ) -> Request {
        let tool = v1::Tool {
            name: name.into(),
            description: description.into(),
            input_schema_json: input_schema_json.into(),
            strict: None,
        };
        self.proto.tool_config.get_or_insert_with(Default::default).tools.push(tool);
        self
    }

    /// Offers a strict tool: the model's input for it always conforms to `input_schema_json`.
    /// Only models with structured output take strict tools (`bgw models` shows which); the
    /// others refuse the request with INVALID_ARGUMENT.
    #[must_use]
    pub fn strict_tool(
        self,
        name: impl Into<String>,
        description: impl Into<String>,
        input_schema_json: impl Into<String>,
    ) -> Request {
        let mut request = self.tool(name, description, input_schema_json);
        if let Some(tool) = request.proto.tool_config.as_mut().and_then(|tools| tools.tools.last_mut()) {
            tool.strict = Some(true);
        }
        request
    }

    /// Asks the model to reason before it answers, this hard. The reasoning arrives as
    /// [`Event::Reasoning`](crate::Event::Reasoning) (or
    /// [`Event::RedactedReasoning`](crate::Event::RedactedReasoning)) before the text. Models
    /// without reasoning refuse it with INVALID_ARGUMENT, unless the platform team set them to
    /// ignore it.
    #[must_use]
    pub fn reasoning(mut self, effort: v1::ReasoningEffort) -> Request {
        self.proto.reasoning.get_or_insert_with(Default::default).effort = effort as i32;
        self
    }

    /// Caps the tokens spent reasoning (at least 1,024, below `max_tokens`), for models that take a
    /// budget; it takes precedence over [`Request::reasoning`]'s effort there, and models that take
    /// an effort use the effort. Without `max_tokens`, the gateway raises it to make room.
    #[must_use]
    pub fn reasoning_budget(mut self, tokens: u32) -> Request {
        self.proto.reasoning.get_or_insert_with(Default::default).budget_tokens = Some(tokens);
        self
    }

    /// Asks for an answer whose text is one JSON value conforming to `schema_json`, a JSON Schema
    /// object as text; `name` (letters, digits, `_`, `-`) names the format. Only models with
    /// structured output take it.
    #[must_use]
    pub fn json_schema(mut self, name: impl Into<String>, schema_json: impl Into<String>) -> Request {
        let format =
            v1::JsonSchemaFormat { name: name.into(), description: String::new(), schema_json: schema_json.into() };
        self.proto.response_format =
            Some(v1::ResponseFormat { format: Some(v1::response_format::Format::JsonSchema(format)) });
        self
    }

    /// Makes the model use the tool `name` (offered with [`Request::tool`]).
    #[must_use]
    pub fn force_tool(mut self, name: impl Into<String>) -> Request {
        let choice = v1::ToolChoice { choice: Some(v1::tool_choice::Choice::Tool(name.into())) };
        self.proto.tool_config.get_or_insert_with(Default::default).tool_choice = Some(choice);
        self
    }

    /// Adds a label (team, use case, trace id) recorded with the gateway's log line for the request.
    #[must_use]
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Request {
        self.proto.request_metadata.insert(key.into(), value.into());
        self
    }

    /// The generated message, to set what this builder does not cover.
    pub fn into_proto(self) -> v1::ConverseRequest {
        self.proto
    }

    fn inference(&mut self) -> &mut v1::InferenceConfig {
        self.proto.inference_config.get_or_insert_with(Default::default)
    }
}

impl From<v1::ConverseRequest> for Request {
    fn from(proto: v1::ConverseRequest) -> Request {
        Request { proto }
    }
}

impl From<Request> for v1::ConverseRequest {
    fn from(request: Request) -> v1::ConverseRequest {
        request.proto
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_common_request() {
        let proto = Request::new("chat").system("be brief").user("hello").max_tokens(200).temperature(0.5).into_proto();
        assert_eq!(proto.model, "chat");
        assert_eq!(proto.system.len(), 1);
        assert_eq!(proto.messages[0].role, v1::Role::User as i32);
        assert_eq!(proto.messages[0].content[0].block, Some(Block::Text("hello".into())));
        let inference = proto.inference_config.unwrap();
        assert_eq!((inference.max_tokens, inference.temperature, inference.top_p), (Some(200), Some(0.5), None));
        assert!(proto.tool_config.is_none());
    }

    #[test]
    fn builds_tools_and_results() {
        let proto = Request::new("chat")
            .user("weather?")
            .tool("weather", "Current weather", r#"{"type":"object"}"#)
            .force_tool("weather")
            .tool_result("t1", "sunny")
            .into_proto();
        let tools = proto.tool_config.unwrap();
        assert_eq!(tools.tools[0].name, "weather");
        assert_eq!(tools.tool_choice.unwrap().choice, Some(v1::tool_choice::Choice::Tool("weather".into())));
        assert!(matches!(&proto.messages[1].content[0].block, Some(Block::ToolResult(r)) if r.tool_use_id == "t1"));
    }

    #[test]
    fn builds_reasoning_formats_and_strict_tools() {
        let proto = Request::new("chat")
            .user("plan a trip")
            .reasoning(v1::ReasoningEffort::High)
            .reasoning_budget(2048)
            .json_schema("trip", r#"{"type":"object"}"#)
            .tool("plain", "d", r#"{"type":"object"}"#)
            .strict_tool("exact", "d", r#"{"type":"object"}"#)
            .into_proto();
        assert_eq!(
            proto.reasoning,
            Some(v1::ReasoningConfig { effort: v1::ReasoningEffort::High as i32, budget_tokens: Some(2048) })
        );
        let Some(v1::response_format::Format::JsonSchema(format)) = proto.response_format.unwrap().format else {
            panic!("a JSON schema format")
        };
        assert_eq!((format.name.as_str(), format.schema_json.as_str()), ("trip", r#"{"type":"object"}"#));
        let tools = proto.tool_config.unwrap().tools;
        assert_eq!((tools[0].strict, tools[1].strict), (None, Some(true)));
    }
}
