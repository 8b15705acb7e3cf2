//! What a model can take and do (`[models.<name>.capabilities]`): shown by ListModels, enforced on
//! requests, and how the API's features map to the model family's fields.

use serde::{Deserialize, Serialize};

use crate::config::error::{ConfigError, invalid};

/// What a model does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Answers conversations.
    #[default]
    Chat,
    /// Turns texts into vectors.
    Embedding,
}

/// A kind of input a model reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    /// Text.
    Text,
    /// Images.
    Image,
    /// Documents.
    Document,
}

/// How a model takes `ConverseRequest.reasoning`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasoningStyle {
    /// It does not reason on request.
    #[default]
    None,
    /// Anthropic's `thinking = { type = "enabled", budget_tokens = N }`.
    AnthropicThinking,
    /// `reasoning_effort = "low" | "medium" | "high"`, as OpenAI's models on Bedrock take it.
    ReasoningEffort,
}

/// How a model serves `ConverseRequest.response_format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StructuredOutputStyle {
    /// It does not: a request with a response format is INVALID_ARGUMENT.
    #[default]
    None,
    /// Bedrock's `outputConfig.textFormat` (JSON schema), and strict tools.
    Native,
    /// A forced tool whose input is the answer (strict tools are refused).
    Tool,
}

/// The request body an embedding model takes through InvokeModel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmbeddingFormat {
    /// Amazon Titan Text Embeddings v2: one text per call, `dimensions` and `normalize`.
    TitanTextV2,
    /// Cohere Embed (v3): texts in batches, `input_type` from the purpose.
    CohereEmbed,
}

/// What a model can take and do. The defaults describe a chat model that reads text, images and
/// documents and uses tools, as every model did before capabilities were configurable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CapabilitiesConfig {
    /// The kinds of input it reads; content of another kind is INVALID_ARGUMENT. Must include `text`.
    pub input_modalities: Vec<Modality>,
    /// Whether it takes tools.
    pub tools: bool,
    /// How it takes a request's reasoning setting.
    pub reasoning: ReasoningStyle,
    /// With `reasoning = "none"`: drop a request's reasoning setting instead of refusing it.
    pub ignore_unsupported_reasoning: bool,
    /// How it serves a request's response format.
    pub structured_output: StructuredOutputStyle,
    /// Whether cache points take effect (requests' cache points are dropped otherwise). Unset: true
    /// when the model sets automatic cache points (`prompt_caching`), otherwise false.
    pub prompt_caching: Option<bool>,
    /// Whether Bedrock's CountTokens works with it.
    pub count_tokens: bool,
    /// The most tokens it reads and writes in one request; 0: not published.
    pub context_window: u32,
    /// Embedding models: the request body it takes.
    pub embedding_format: Option<EmbeddingFormat>,
    /// Embedding models: the vector lengths it offers, the default first.
    pub embedding_dimensions: Vec<u32>,
    /// Embedding models: the most texts one Embed request may carry.
    pub max_embed_texts: u32,
}

impl Default for CapabilitiesConfig {
    fn default() -> Self {
        CapabilitiesConfig {
            input_modalities: vec![Modality::Text, Modality::Image, Modality::Document],
            tools: true,
            reasoning: ReasoningStyle::None,
            ignore_unsupported_reasoning: false,
            structured_output: StructuredOutputStyle::None,
            prompt_caching: None,
            count_tokens: false,
            context_window: 0,
            embedding_format: None,
            embedding_dimensions: Vec::new(),
            max_embed_texts: 96,
        }
    }
}

impl CapabilitiesConfig {
    /// The capabilities of model `name` fit its `kind` and each other; `automatic_cache_points`:
    /// whether the model's `prompt_caching` sets cache points.
    pub(super) fn validate(
        &self,
        name: &str,
        kind: ModelKind,
        automatic_cache_points: bool,
    ) -> Result<(), ConfigError> {
        let key = |field: &str| format!("models.{name}.capabilities.{field}");
        if !self.input_modalities.contains(&Modality::Text) {
            return Err(invalid(&key("input_modalities"), "must include \"text\"".to_owned()));
        }
        if automatic_cache_points && self.prompt_caching == Some(false) {
            return Err(invalid(
                &key("prompt_caching"),
                format!("is false, but models.{name}.prompt_caching sets cache points"),
            ));
        }
        match kind {
            ModelKind::Chat => {
                for (field, set) in [
                    ("embedding_format", self.embedding_format.is_some()),
                    ("embedding_dimensions", !self.embedding_dimensions.is_empty()),
                ] {
                    if set {
                        return Err(invalid(
                            &key(field),
                            format!("is for embedding models; models.{name}.kind is \"chat\""),
                        ));
                    }
                }
                if self.structured_output == StructuredOutputStyle::Tool && !self.tools {
                    return Err(invalid(&key("structured_output"), "\"tool\" needs tools = true".to_owned()));
                }
            }
            ModelKind::Embedding => {
                if self.embedding_format.is_none() {
                    return Err(invalid(
                        &key("embedding_format"),
                        "is required for embedding models: \"titan_text_v2\" or \"cohere_embed\"".to_owned(),
                    ));
                }
                if self.embedding_dimensions.is_empty() || self.embedding_dimensions.contains(&0) {
                    return Err(invalid(
                        &key("embedding_dimensions"),
                        "must list the vector lengths the model offers, each above 0, the default first".to_owned(),
                    ));
                }
                if !(1..=2048).contains(&self.max_embed_texts) {
                    return Err(invalid(
                        &key("max_embed_texts"),
                        format!("is {}, must be from 1 to 2048", self.max_embed_texts),
                    ));
                }
                let chat_only = [
                    ("reasoning", self.reasoning != ReasoningStyle::None),
                    ("structured_output", self.structured_output != StructuredOutputStyle::None),
                    ("count_tokens", self.count_tokens),
                    ("prompt_caching", self.prompt_caching == Some(true) || automatic_cache_points),
                ];
                for (field, set) in chat_only {
                    if set {
                        return Err(invalid(
                            &key(field),
                            format!("is for chat models; models.{name}.kind is \"embedding\""),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
