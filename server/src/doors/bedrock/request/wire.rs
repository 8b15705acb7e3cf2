//! Bedrock's request bodies as the AWS SDKs send them, member for member (Bedrock Runtime API
//! reference: Converse, CountTokens). Unknown members are refused by serde, naming them; members
//! Bedrock has but the gateway cannot honour are read (as [`IgnoredAny`]) so that the conversion
//! refuses them with a reason of its own.

use std::collections::HashMap;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};

use crate::doors::bedrock::json::{Base64, Empty, Union};

/// The body of Converse and ConverseStream.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ConverseBody {
    #[serde(default)]
    pub messages: Vec<Message>,
    #[serde(default)]
    pub system: Vec<Union<SystemBlock>>,
    pub inference_config: Option<InferenceConfig>,
    pub tool_config: Option<ToolConfig>,
    pub additional_model_request_fields: Option<Map<String, Value>>,
    #[serde(default)]
    pub request_metadata: HashMap<String, String>,
    pub output_config: Option<OutputConfig>,
    pub performance_config: Option<PerformanceConfig>,
    pub service_tier: Option<ServiceTier>,
    pub guardrail_config: Option<IgnoredAny>,
    pub prompt_variables: Option<IgnoredAny>,
    #[serde(default)]
    pub additional_model_response_field_paths: Vec<String>,
}

/// The body of CountTokens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CountTokensBody {
    pub input: Union<CountTokensInput>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum CountTokensInput {
    Converse(ConverseTokens),
    InvokeModel(IgnoredAny),
}

/// The Converse input CountTokens counts: the conversation without the answer's settings.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ConverseTokens {
    #[serde(default)]
    pub messages: Vec<Message>,
    #[serde(default)]
    pub system: Vec<Union<SystemBlock>>,
    pub tool_config: Option<ToolConfig>,
    pub additional_model_request_fields: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Message {
    pub role: Role,
    #[serde(default)]
    pub content: Vec<Union<ContentBlock>>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Role {
    User,
    Assistant,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum ContentBlock {
    Text(String),
    Image(Image),
    Document(Document),
    ToolUse(ToolUse),
    ToolResult(ToolResult),
    ReasoningContent(Union<Reasoning>),
    CachePoint(CachePoint),
    Video(IgnoredAny),
    Audio(IgnoredAny),
    GuardContent(IgnoredAny),
    CitationsContent(IgnoredAny),
    SearchResult(IgnoredAny),
    ToolAddition(IgnoredAny),
    ToolRemoval(IgnoredAny),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Image {
    pub format: ImageFormat,
    pub source: Union<ImageSource>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum ImageFormat {
    Png,
    Jpeg,
    Gif,
    Webp,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum ImageSource {
    Bytes(Base64),
    S3Location(IgnoredAny),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Document {
    pub format: DocumentFormat,
    pub name: String,
    pub source: Union<DocumentSource>,
    pub context: Option<IgnoredAny>,
    pub citations: Option<Citations>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum DocumentFormat {
    Pdf,
    Csv,
    Doc,
    Docx,
    Xls,
    Xlsx,
    Html,
    Txt,
    Md,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum DocumentSource {
    Bytes(Base64),
    Text(String),
    S3Location(IgnoredAny),
    Content(IgnoredAny),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Citations {
    pub enabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ToolUse {
    pub tool_use_id: String,
    pub name: String,
    pub input: Value,
    pub r#type: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ToolResult {
    pub tool_use_id: String,
    #[serde(default)]
    pub content: Vec<Union<ToolResultItem>>,
    pub status: Option<ToolResultStatus>,
    pub r#type: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum ToolResultItem {
    Json(Value),
    Text(String),
    Image(Image),
    Document(Document),
    Video(IgnoredAny),
    SearchResult(IgnoredAny),
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum ToolResultStatus {
    Success,
    Error,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum Reasoning {
    ReasoningText(ReasoningText),
    RedactedContent(Base64),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReasoningText {
    pub text: String,
    pub signature: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CachePoint {
    #[serde(rename = "type")]
    pub _type: CachePointType,
    pub ttl: Option<CacheTtl>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum CachePointType {
    Default,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub(super) enum CacheTtl {
    #[serde(rename = "5m")]
    FiveMinutes,
    #[serde(rename = "1h")]
    OneHour,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum SystemBlock {
    Text(String),
    CachePoint(CachePoint),
    GuardContent(IgnoredAny),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct InferenceConfig {
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    #[serde(default)]
    pub stop_sequences: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ToolConfig {
    #[serde(default)]
    pub tools: Vec<Union<Tool>>,
    pub tool_choice: Option<Union<ToolChoice>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum Tool {
    ToolSpec(ToolSpec),
    CachePoint(CachePoint),
    #[serde(rename = "systemTool")]
    System(IgnoredAny),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ToolSpec {
    pub name: String,
    pub description: Option<String>,
    pub input_schema: Union<InputSchema>,
    pub strict: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum InputSchema {
    Json(Value),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum ToolChoice {
    Auto(Empty),
    Any(Empty),
    Tool(SpecificTool),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SpecificTool {
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct OutputConfig {
    pub text_format: Option<TextFormat>,
    pub effort: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TextFormat {
    #[serde(rename = "type")]
    pub _type: TextFormatType,
    pub structure: Union<FormatStructure>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum TextFormatType {
    JsonSchema,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum FormatStructure {
    JsonSchema(JsonSchema),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JsonSchema {
    pub schema: String,
    pub name: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PerformanceConfig {
    pub latency: Latency,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Latency {
    Standard,
    Optimized,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServiceTier {
    #[serde(rename = "type")]
    pub tier: String,
}
