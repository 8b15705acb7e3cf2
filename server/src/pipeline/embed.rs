//! Embed: texts in, vectors out, through Bedrock's InvokeModel with each embedding family's own
//! JSON body (`capabilities.embedding_format`). A request is validated into an [`EmbedPlan`]
//! (fields named as for Converse), then [`embed`] makes the family's calls on one target:
//!
//! - Titan Text Embeddings v2 takes one text per call, so the texts go in calls of their own, a
//!   few at a time, and their vectors come back in the order of the texts;
//! - Cohere Embed takes up to 96 texts per call and does not normalise, so the gateway scales the
//!   vectors to length 1 when the caller asks for it (the default).
//!
//! Input tokens are Bedrock's `X-Amzn-Bedrock-Input-Token-Count`, else Titan's own count in its
//! answer, else (a response without either) the same estimate the quota reservation uses.

use std::ops::Range;

use bedrock_gateway_proto::{limits, v1};
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::json;

use crate::config::EmbeddingFormat;
use crate::error::{BedrockFailure, GatewayError};
use crate::pipeline::catalog::Model;
use crate::upstream::bedrock::{Bedrock, Destination, UnaryBounds};

/// Titan calls in flight for one request: enough to hide Bedrock's latency for a batch, few enough
/// that one request does not take a tenant's whole Bedrock quota at once.
const CALLS_IN_FLIGHT: usize = 8;

/// Texts per Cohere Embed call, Bedrock's limit.
const COHERE_BATCH: usize = 96;

/// Characters per token, for the estimate of a request's input.
const CHARS_PER_TOKEN: u64 = 4;

/// A validated Embed request.
#[derive(Debug, Clone)]
pub struct EmbedPlan {
    /// The texts, in the caller's order.
    pub texts: Vec<String>,
    /// The vectors' length.
    pub dimensions: u32,
    /// Whether vectors are scaled to length 1.
    pub normalize: bool,
    /// Cohere's `input_type`.
    input_type: &'static str,
    format: EmbeddingFormat,
}

impl EmbedPlan {
    /// A cautious count of the texts' tokens, for the quota reservation: a token per 4 characters.
    pub fn estimated_input_tokens(&self) -> u64 {
        estimate(&self.texts)
    }
}

fn estimate<S: AsRef<str>>(texts: &[S]) -> u64 {
    texts.iter().map(|text| (text.as_ref().chars().count() as u64).div_ceil(CHARS_PER_TOKEN)).sum()
}

/// The vectors of a request's texts, in order.
#[derive(Debug)]
pub struct Embedded {
    /// One per text.
    pub vectors: Vec<Vec<f32>>,
    /// Tokens read, across the calls.
    pub input_tokens: u32,
}

/// Validates `request` for the embedding model `model`; counts are checked before anything is
/// looked at text by text.
pub fn plan(request: v1::EmbedRequest, model: &Model) -> Result<EmbedPlan, GatewayError> {
    let capabilities = &model.capabilities;
    let format = capabilities.embedding_format.expect("embedding models have a format (config validation)");
    let max_texts = capabilities.max_embed_texts as usize;
    if request.texts.is_empty() {
        return Err(GatewayError::invalid("texts", "at least one text is required"));
    }
    if request.texts.len() > max_texts {
        return Err(GatewayError::invalid(
            "texts",
            format!("{} texts; model {:?} takes at most {max_texts} per request", request.texts.len(), model.name),
        ));
    }
    for (index, text) in request.texts.iter().enumerate() {
        if text.trim().is_empty() {
            return Err(GatewayError::invalid(format!("texts[{index}]"), "must not be empty"));
        }
        let chars = text.chars().count();
        if chars > limits::EMBED_TEXT_CHARS {
            return Err(GatewayError::invalid(
                format!("texts[{index}]"),
                format!("{chars} characters; at most {} are allowed", limits::EMBED_TEXT_CHARS),
            ));
        }
    }
    let offered = &capabilities.embedding_dimensions;
    let dimensions = match request.dimensions {
        None => offered[0],
        Some(dimensions) if offered.contains(&dimensions) => dimensions,
        Some(dimensions) => {
            let offered = offered.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
            return Err(GatewayError::invalid(
                "dimensions",
                format!("{dimensions} is not offered by model {:?}; it offers {offered}", model.name),
            ));
        }
    };
    let input_type = match v1::EmbeddingPurpose::try_from(request.purpose) {
        Ok(v1::EmbeddingPurpose::Unspecified | v1::EmbeddingPurpose::SearchDocument) => "search_document",
        Ok(v1::EmbeddingPurpose::SearchQuery) => "search_query",
        Ok(v1::EmbeddingPurpose::Classification) => "classification",
        Ok(v1::EmbeddingPurpose::Clustering) => "clustering",
        Err(_) => {
            return Err(GatewayError::invalid(
                "purpose",
                "must be SEARCH_DOCUMENT, SEARCH_QUERY, CLASSIFICATION, CLUSTERING or unset",
            ));
        }
    };
    Ok(EmbedPlan { texts: request.texts, dimensions, normalize: request.normalize.unwrap_or(true), input_type, format })
}

/// Embeds the plan's texts with `target`, the family's calls a few at a time, each within `bounds`.
pub async fn embed(
    bedrock: &Bedrock,
    to: &Destination<'_>,
    plan: &EmbedPlan,
    bounds: &UnaryBounds,
) -> Result<Embedded, GatewayError> {
    let batch = match plan.format {
        EmbeddingFormat::TitanTextV2 => 1,
        EmbeddingFormat::CohereEmbed => COHERE_BATCH,
    };
    // Batches by position: futures borrowing the texts through a closure's argument trip rustc's
    // higher-ranked lifetime check in the service's async trait.
    let count = plan.texts.len();
    let calls = (0..count).step_by(batch).map(|start| call(bedrock, to, plan, start..count.min(start + batch), bounds));
    let answers: Vec<Embedded> = futures::stream::iter(calls).buffered(CALLS_IN_FLIGHT).try_collect().await?;
    let mut embedded = Embedded { vectors: Vec::with_capacity(plan.texts.len()), input_tokens: 0 };
    for answer in answers {
        embedded.vectors.extend(answer.vectors);
        embedded.input_tokens = embedded.input_tokens.saturating_add(answer.input_tokens);
    }
    Ok(embedded)
}

/// One InvokeModel call for the plan's `texts`.
async fn call(
    bedrock: &Bedrock,
    to: &Destination<'_>,
    plan: &EmbedPlan,
    texts: Range<usize>,
    bounds: &UnaryBounds,
) -> Result<Embedded, GatewayError> {
    let texts = &plan.texts[texts];
    let body = match plan.format {
        EmbeddingFormat::TitanTextV2 => {
            json!({"inputText": texts[0], "dimensions": plan.dimensions, "normalize": plan.normalize})
        }
        EmbeddingFormat::CohereEmbed => json!({
            "texts": texts,
            "input_type": plan.input_type,
            "truncate": "NONE",
            "embedding_types": ["float"],
        }),
    };
    let invoked = bedrock.invoke_model(to, body.to_string().into_bytes(), bounds).await?;
    let unreadable = |why: String| GatewayError::Bedrock {
        kind: BedrockFailure::Other,
        message: format!("the embedding answer {why}"),
        model_id: to.model_id.to_owned(),
        alias: to.alias.to_owned(),
        incomplete: false,
    };
    let (mut vectors, counted) = match plan.format {
        EmbeddingFormat::TitanTextV2 => {
            let answer: TitanAnswer =
                serde_json::from_slice(&invoked.body).map_err(|err| unreadable(format!("is not Titan's: {err}")))?;
            (vec![answer.embedding], answer.input_text_token_count)
        }
        EmbeddingFormat::CohereEmbed => {
            let answer: CohereAnswer =
                serde_json::from_slice(&invoked.body).map_err(|err| unreadable(format!("is not Cohere's: {err}")))?;
            let vectors = match answer.embeddings {
                CohereEmbeddings::ByType { float } => float,
                CohereEmbeddings::Floats(vectors) => vectors,
            };
            (vectors, None)
        }
    };
    if vectors.len() != texts.len() {
        return Err(unreadable(format!("has {} vectors for {} texts", vectors.len(), texts.len())));
    }
    if let Some(vector) = vectors.iter().find(|vector| vector.len() != plan.dimensions as usize) {
        return Err(unreadable(format!(
            "has vectors of {} values; the catalog says {} (capabilities.embedding_dimensions)",
            vector.len(),
            plan.dimensions
        )));
    }
    if plan.format == EmbeddingFormat::CohereEmbed && plan.normalize {
        vectors.iter_mut().for_each(|vector| normalize(vector));
    }
    let input_tokens =
        invoked.input_tokens.or(counted).unwrap_or_else(|| u32::try_from(estimate(texts)).unwrap_or(u32::MAX));
    Ok(Embedded { vectors, input_tokens })
}

/// Scales `vector` to length 1 (a zero vector stays as it is).
fn normalize(vector: &mut [f32]) {
    let length = vector.iter().map(|value| f64::from(*value).powi(2)).sum::<f64>().sqrt();
    if length > 0.0 {
        vector.iter_mut().for_each(|value| *value = (f64::from(*value) / length) as f32);
    }
}

/// Titan Text Embeddings v2's answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TitanAnswer {
    embedding: Vec<f32>,
    input_text_token_count: Option<u32>,
}

/// Cohere Embed's answer: vectors by type when `embedding_types` was sent, else a plain list.
#[derive(Debug, Deserialize)]
struct CohereAnswer {
    embeddings: CohereEmbeddings,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum CohereEmbeddings {
    ByType { float: Vec<Vec<f32>> },
    Floats(Vec<Vec<f32>>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_vectors_have_length_one() {
        let mut vector = vec![3.0, 4.0];
        normalize(&mut vector);
        assert_eq!(vector, [0.6, 0.8]);
        let mut zero = vec![0.0; 3];
        normalize(&mut zero);
        assert_eq!(zero, [0.0; 3]);
    }

    #[test]
    fn the_estimate_is_a_token_per_four_characters_of_each_text() {
        assert_eq!(estimate(&["abcd", "abcde", "é"]), 1 + 2 + 1);
    }

    #[test]
    fn both_cohere_answer_shapes_are_read() {
        let by_type: CohereAnswer = serde_json::from_str(
            r#"{"id":"x","embeddings":{"float":[[0.5,0.25]]},"texts":["a"],"response_type":"embeddings_by_type"}"#,
        )
        .unwrap();
        assert!(matches!(by_type.embeddings, CohereEmbeddings::ByType { float } if float == [[0.5, 0.25]]));
        let floats: CohereAnswer = serde_json::from_str(r#"{"embeddings":[[1.0]]}"#).unwrap();
        assert!(matches!(floats.embeddings, CohereEmbeddings::Floats(vectors) if vectors == [[1.0]]));
    }
}
