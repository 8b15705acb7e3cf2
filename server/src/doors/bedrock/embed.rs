//! InvokeModel for embedding aliases: the native bodies of the families the gateway serves
//! (Titan Text Embeddings, Cohere Embed) -> v1's Embed, and its answer back in the body's family.
//!
//! The family is the body's, not the alias's: the gateway embeds the texts with whichever model
//! the alias stands for, and answers in the shape the caller sent, which is the shape its code
//! reads.

use bedrock_gateway_proto::v1;
use bytes::Bytes;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::json::decode;
use super::response::to_json;
use crate::error::GatewayError;

type Result<T> = std::result::Result<T, GatewayError>;

/// Which family's JSON an embedding request came in, so that its answer goes back in the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbedShape {
    /// Titan Text Embeddings: one text; `by_type` when `embeddingTypes` was sent, which asks for
    /// `embeddingsByType` in the answer too.
    Titan {
        /// `embeddingTypes` was sent.
        by_type: bool,
    },
    /// Cohere Embed, whose answer repeats the texts; `by_type` when `embedding_types` was sent,
    /// which asks for the vectors by type.
    Cohere {
        /// The request's texts.
        texts: Vec<String>,
        /// `embedding_types` was sent.
        by_type: bool,
    },
}

/// The members that tell the families apart.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    input_text: Option<IgnoredAny>,
    texts: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TitanBody {
    input_text: String,
    dimensions: Option<u32>,
    normalize: Option<bool>,
    embedding_types: Option<Vec<EmbeddingType>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CohereBody {
    texts: Vec<String>,
    input_type: InputType,
    truncate: Option<Truncate>,
    embedding_types: Option<Vec<EmbeddingType>>,
}

/// The vector types the gateway answers: floats.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum EmbeddingType {
    Float,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum InputType {
    SearchDocument,
    SearchQuery,
    Classification,
    Clustering,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
enum Truncate {
    None,
    Start,
    End,
}

/// An InvokeModel body for the embedding model `alias` (the path's `{modelId}`).
pub fn embed_request(alias: &str, body: &[u8]) -> Result<(v1::EmbedRequest, EmbedShape)> {
    let probe: Probe = decode(body)?;
    if probe.input_text.is_some() {
        let titan: TitanBody = decode(body)?;
        let request = v1::EmbedRequest {
            model: alias.to_owned(),
            texts: vec![titan.input_text],
            dimensions: titan.dimensions,
            normalize: titan.normalize,
            ..v1::EmbedRequest::default()
        };
        return Ok((request, EmbedShape::Titan { by_type: titan.embedding_types.is_some() }));
    }
    if probe.texts.is_none() {
        return Err(GatewayError::invalid(
            "body",
            "is neither a Titan Text Embeddings body ({\"inputText\": ...}) nor a Cohere Embed body \
             ({\"texts\": [...], \"input_type\": ...})",
        ));
    }
    let cohere: CohereBody = decode(body)?;
    if cohere.truncate.is_some_and(|truncate| truncate != Truncate::None) {
        return Err(GatewayError::invalid(
            "truncate",
            "the gateway does not cut texts; use \"NONE\" or leave it unset (a text too long for the model is refused)",
        ));
    }
    let purpose = match cohere.input_type {
        InputType::SearchDocument => v1::EmbeddingPurpose::SearchDocument,
        InputType::SearchQuery => v1::EmbeddingPurpose::SearchQuery,
        InputType::Classification => v1::EmbeddingPurpose::Classification,
        InputType::Clustering => v1::EmbeddingPurpose::Clustering,
    };
    let request = v1::EmbedRequest {
        model: alias.to_owned(),
        texts: cohere.texts.clone(),
        // Cohere Embed's vectors are not scaled; the caller gets them as Cohere gives them.
        normalize: Some(false),
        purpose: purpose as i32,
        ..v1::EmbedRequest::default()
    };
    Ok((request, EmbedShape::Cohere { texts: cohere.texts, by_type: cohere.embedding_types.is_some() }))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TitanAnswer<'a> {
    embedding: &'a [f32],
    input_text_token_count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    embeddings_by_type: Option<Floats<&'a [f32]>>,
}

#[derive(Debug, Serialize)]
struct CohereAnswer<'a, E> {
    id: &'a str,
    embeddings: E,
    texts: &'a [String],
    response_type: &'static str,
}

#[derive(Debug, Serialize)]
struct Floats<T> {
    float: T,
}

/// The answer to an embedding request of `shape`, in its family's JSON.
pub fn embed_response(response: &v1::EmbedResponse, shape: EmbedShape) -> Bytes {
    let vectors = response.embeddings.iter().map(|embedding| embedding.values.as_slice());
    match shape {
        EmbedShape::Titan { by_type } => {
            let embedding = vectors.into_iter().next().unwrap_or_default();
            to_json(&TitanAnswer {
                embedding,
                input_text_token_count: response.input_tokens,
                embeddings_by_type: by_type.then_some(Floats { float: embedding }),
            })
        }
        EmbedShape::Cohere { texts, by_type: false } => to_json(&CohereAnswer {
            id: &response.request_id,
            embeddings: vectors.collect::<Vec<_>>(),
            texts: &texts,
            response_type: "embeddings_floats",
        }),
        EmbedShape::Cohere { texts, by_type: true } => to_json(&CohereAnswer {
            id: &response.request_id,
            embeddings: Floats { float: vectors.collect::<Vec<_>>() },
            texts: &texts,
            response_type: "embeddings_by_type",
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn request(body: Value) -> (v1::EmbedRequest, EmbedShape) {
        embed_request("embed", body.to_string().as_bytes()).unwrap_or_else(|err| panic!("{body}: {err}"))
    }

    fn refused(body: Value) -> (String, String) {
        match embed_request("embed", body.to_string().as_bytes()) {
            Err(GatewayError::InvalidArgument { field, reason }) => (field, reason),
            other => panic!("{body}: {other:?}"),
        }
    }

    fn answer(vectors: &[&[f32]], input_tokens: u32) -> v1::EmbedResponse {
        v1::EmbedResponse {
            request_id: "req-1".into(),
            model: "embed".into(),
            model_version: "2".into(),
            embeddings: vectors.iter().map(|values| v1::Embedding { values: values.to_vec() }).collect(),
            dimensions: vectors.first().map_or(0, |values| values.len() as u32),
            input_tokens,
        }
    }

    fn json_of(bytes: Bytes) -> Value {
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn a_titan_body_is_one_text_and_is_answered_in_titans_shape() {
        let (embed, shape) = request(json!({"inputText": "hello", "dimensions": 256, "normalize": false}));
        let expected = v1::EmbedRequest {
            model: "embed".into(),
            texts: vec!["hello".into()],
            dimensions: Some(256),
            normalize: Some(false),
            ..v1::EmbedRequest::default()
        };
        assert_eq!((embed, shape.clone()), (expected, EmbedShape::Titan { by_type: false }));
        let body = json_of(embed_response(&answer(&[&[0.5, -0.25]], 3), shape));
        assert_eq!(body, json!({"embedding": [0.5, -0.25], "inputTextTokenCount": 3}));

        let (embed, shape) = request(json!({"inputText": "hello", "embeddingTypes": ["float"]}));
        assert_eq!((embed.dimensions, embed.normalize), (None, None), "unset takes the model's defaults");
        let body = json_of(embed_response(&answer(&[&[0.5]], 1), shape));
        assert_eq!(body, json!({"embedding": [0.5], "inputTextTokenCount": 1, "embeddingsByType": {"float": [0.5]}}));
    }

    #[test]
    fn a_cohere_body_keeps_its_purpose_and_unscaled_vectors_and_is_answered_in_coheres_shape() {
        let (embed, shape) = request(json!({"texts": ["a", "b"], "input_type": "search_query", "truncate": "NONE"}));
        let expected = v1::EmbedRequest {
            model: "embed".into(),
            texts: vec!["a".into(), "b".into()],
            normalize: Some(false),
            purpose: v1::EmbeddingPurpose::SearchQuery as i32,
            ..v1::EmbedRequest::default()
        };
        assert_eq!(embed, expected);
        let body = json_of(embed_response(&answer(&[&[1.0, 0.0], &[0.0, 1.0]], 2), shape));
        assert_eq!(
            body,
            json!({"id": "req-1", "embeddings": [[1.0, 0.0], [0.0, 1.0]], "texts": ["a", "b"], "response_type": "embeddings_floats"})
        );

        for (input_type, purpose) in [
            ("search_document", v1::EmbeddingPurpose::SearchDocument),
            ("classification", v1::EmbeddingPurpose::Classification),
            ("clustering", v1::EmbeddingPurpose::Clustering),
        ] {
            assert_eq!(request(json!({"texts": ["a"], "input_type": input_type})).0.purpose, purpose as i32);
        }

        let (_, shape) = request(json!({"texts": ["a"], "input_type": "clustering", "embedding_types": ["float"]}));
        let body = json_of(embed_response(&answer(&[&[0.25]], 1), shape));
        assert_eq!(
            body,
            json!({"id": "req-1", "embeddings": {"float": [[0.25]]}, "texts": ["a"], "response_type": "embeddings_by_type"})
        );
    }

    #[test]
    fn what_the_gateway_cannot_answer_is_refused_naming_the_member() {
        let cases = [
            (json!({"inputText": "a", "embeddingTypes": ["float", "binary"]}), "embeddingTypes[1]", "expected `float`"),
            (json!({"inputText": "a", "texts": ["b"]}), "texts", "unknown field `texts`"),
            (json!({"inputText": 5}), "inputText", "expected a string"),
            (
                json!({"texts": ["a"], "input_type": "search_query", "truncate": "END"}),
                "truncate",
                "does not cut texts",
            ),
            (json!({"texts": ["a"], "input_type": "images"}), "input_type", "unknown variant `images`"),
            (json!({"texts": ["a"]}), "body", "missing field `input_type`"),
            (
                json!({"texts": ["a"], "input_type": "search_query", "embedding_types": ["int8"]}),
                "embedding_types[0]",
                "expected `float`",
            ),
            (
                json!({"texts": ["a"], "input_type": "search_query", "output_dimension": 512}),
                "output_dimension",
                "unknown field",
            ),
            (json!({"images": ["data:image/png;base64,AA=="]}), "body", "neither a Titan"),
        ];
        for (body, expected_field, expected_reason) in cases {
            let (field, reason) = refused(body.clone());
            assert_eq!(field, expected_field, "{body}");
            assert!(reason.contains(expected_reason), "{field}: {reason}");
        }
        let (field, reason) = match embed_request("embed", b"[1]") {
            Err(GatewayError::InvalidArgument { field, reason }) => (field, reason),
            other => panic!("{other:?}"),
        };
        assert_eq!(field, "body");
        assert_eq!(reason, "must be a JSON object");
    }
}
