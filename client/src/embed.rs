//! Embeddings and token counts: the request builder for [`Client::embed`](crate::Client::embed)
//! and what it and [`Client::count_tokens`](crate::Client::count_tokens) answer.

use bedrock_gateway_proto::v1;

/// Texts to turn into vectors with an embedding model (a model of kind embedding in `bgw models`).
///
/// ```
/// use bedrock_gateway_client::{EmbedRequest, v1};
///
/// let request = EmbedRequest::new("embed").text("a question").dimensions(256).purpose(v1::EmbeddingPurpose::SearchQuery);
/// assert_eq!(v1::EmbedRequest::from(request).texts, ["a question"]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedRequest {
    proto: v1::EmbedRequest,
}

impl EmbedRequest {
    /// No texts yet, for the logical model `model`.
    pub fn new(model: impl Into<String>) -> EmbedRequest {
        EmbedRequest { proto: v1::EmbedRequest { model: model.into(), ..Default::default() } }
    }

    /// Adds a text; its vector comes back in the position the text was added.
    #[must_use]
    pub fn text(mut self, text: impl Into<String>) -> EmbedRequest {
        self.proto.texts.push(text.into());
        self
    }

    /// Adds texts, in order.
    #[must_use]
    pub fn texts<T: Into<String>>(mut self, texts: impl IntoIterator<Item = T>) -> EmbedRequest {
        self.proto.texts.extend(texts.into_iter().map(Into::into));
        self
    }

    /// The vectors' length, one of the model's `capabilities.embedding_dimensions` (default: the
    /// first).
    #[must_use]
    pub fn dimensions(mut self, dimensions: u32) -> EmbedRequest {
        self.proto.dimensions = Some(dimensions);
        self
    }

    /// Whether vectors are scaled to length 1 (default: true).
    #[must_use]
    pub fn normalize(mut self, normalize: bool) -> EmbedRequest {
        self.proto.normalize = Some(normalize);
        self
    }

    /// What the vectors are for (default: search documents); models that embed queries and
    /// documents differently use it.
    #[must_use]
    pub fn purpose(mut self, purpose: v1::EmbeddingPurpose) -> EmbedRequest {
        self.proto.purpose = purpose as i32;
        self
    }

    /// Adds a label recorded with the request's log line (team, use case, trace id).
    #[must_use]
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> EmbedRequest {
        self.proto.request_metadata.insert(key.into(), value.into());
        self
    }
}

impl From<v1::EmbedRequest> for EmbedRequest {
    fn from(proto: v1::EmbedRequest) -> EmbedRequest {
        EmbedRequest { proto }
    }
}

impl From<EmbedRequest> for v1::EmbedRequest {
    fn from(request: EmbedRequest) -> v1::EmbedRequest {
        request.proto
    }
}

/// The vectors of an [`EmbedRequest`]'s texts.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// The gateway's id for the request.
    pub request_id: String,
    /// The logical model that answered.
    pub model: String,
    /// The version of the model that answered.
    pub model_version: String,
    /// One vector per text, in the order of the texts, each of `dimensions` values.
    pub vectors: Vec<Vec<f32>>,
    /// The vectors' length.
    pub dimensions: u32,
    /// Tokens read, as the model provider counts them.
    pub input_tokens: u32,
}

impl From<v1::EmbedResponse> for Embeddings {
    fn from(response: v1::EmbedResponse) -> Embeddings {
        Embeddings {
            request_id: response.request_id,
            model: response.model,
            model_version: response.model_version,
            vectors: response.embeddings.into_iter().map(|embedding| embedding.values).collect(),
            dimensions: response.dimensions,
            input_tokens: response.input_tokens,
        }
    }
}

/// The input tokens a conversation would use, from [`Client::count_tokens`](crate::Client::count_tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCount {
    /// The gateway's id for the request.
    pub request_id: String,
    /// The version of the model that counted (counts differ between versions).
    pub model_version: String,
    /// System prompts, messages and tool definitions, as the model provider counts them.
    pub input_tokens: u32,
}

impl From<v1::CountTokensResponse> for TokenCount {
    fn from(response: v1::CountTokensResponse) -> TokenCount {
        TokenCount {
            request_id: response.request_id,
            model_version: response.model_version,
            input_tokens: response.input_tokens,
        }
    }
}
