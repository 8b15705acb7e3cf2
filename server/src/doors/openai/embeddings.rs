//! `POST /v1/embeddings`: OpenAI's request -> the v1 EmbedRequest, and the EmbedResponse -> OpenAI's
//! list of embeddings, as floats or as base64 (the `openai` packages ask for base64 by default and
//! decode it as little-endian 32-bit floats).

use std::fmt;

use base64::Engine as _;
use bedrock_gateway_proto::{limits, v1};
use bytes::Bytes;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::fields::EmbeddingFields;
use super::request::USER_LABEL;
use super::wire::{StringOr, decode};
use crate::error::GatewayError;

/// How the vectors are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodingFormat {
    /// Arrays of numbers.
    Float,
    /// Base64 of the little-endian 32-bit floats.
    Base64,
}

/// An embeddings request in v1's terms.
#[derive(Debug)]
pub struct EmbeddingsRequest {
    /// What the pipeline runs.
    pub embed: v1::EmbedRequest,
    /// How the answer writes the vectors.
    pub encoding_format: EncodingFormat,
    /// Turns the pipeline's refusals, which name v1 fields, into ones naming this request's.
    pub fields: EmbeddingFields,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    model: String,
    input: StringOr<Text>,
    dimensions: Option<u32>,
    encoding_format: Option<String>,
    user: Option<String>,
}

/// One text of `input`; OpenAI also takes token ids, which only OpenAI's own tokenizer made.
#[derive(Debug)]
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextOnly;

        const TOKENS: &str = "token ids are not taken (they are OpenAI's tokenizer's): send the text";

        impl<'de> Visitor<'de> for TextOnly {
            type Value = Text;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a string")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Text, E> {
                Ok(Text(text.to_owned()))
            }

            fn visit_string<E: de::Error>(self, text: String) -> Result<Text, E> {
                Ok(Text(text))
            }

            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Text, E> {
                Err(E::custom(TOKENS))
            }

            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Text, E> {
                Err(E::custom(TOKENS))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Text, A::Error> {
                Err(de::Error::custom(TOKENS))
            }
        }

        deserializer.deserialize_any(TextOnly)
    }
}

/// Decodes an embeddings request body.
pub fn embeddings_request(body: &[u8]) -> Result<EmbeddingsRequest, GatewayError> {
    let body: Body = decode(body)?;
    let encoding_format = match body.encoding_format.as_deref() {
        None | Some("float") => EncodingFormat::Float,
        Some("base64") => EncodingFormat::Base64,
        Some(_) => return Err(GatewayError::invalid("encoding_format", "must be float or base64")),
    };
    let (texts, input_is_string) = match body.input {
        StringOr::String(text) => (vec![text], true),
        StringOr::Array(texts) => (texts.into_iter().map(|Text(text)| text).collect(), false),
    };
    let mut request_metadata = std::collections::HashMap::new();
    if let Some(user) = body.user.filter(|user| !user.is_empty()) {
        let chars = user.chars().count();
        if chars > limits::METADATA_VALUE_CHARS {
            return Err(GatewayError::invalid(
                "user",
                format!("{chars} characters; at most {} are allowed", limits::METADATA_VALUE_CHARS),
            ));
        }
        request_metadata.insert(USER_LABEL.to_owned(), user);
    }
    let embed = v1::EmbedRequest {
        model: body.model,
        texts,
        dimensions: body.dimensions,
        normalize: None,
        purpose: v1::EmbeddingPurpose::Unspecified as i32,
        request_metadata,
    };
    Ok(EmbeddingsRequest { embed, encoding_format, fields: EmbeddingFields { input_is_string } })
}

#[derive(Debug, Serialize)]
struct List<'a> {
    object: &'static str,
    data: Vec<Embedding<'a>>,
    model: &'a str,
    usage: Usage,
}

#[derive(Debug, Serialize)]
struct Embedding<'a> {
    object: &'static str,
    index: usize,
    embedding: Vector<'a>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Vector<'a> {
    Float(&'a [f32]),
    Base64(String),
}

#[derive(Debug, Serialize)]
struct Usage {
    prompt_tokens: u32,
    total_tokens: u32,
}

/// OpenAI's list of embeddings of `response`, written as `format` asks.
pub fn embeddings_response(response: &v1::EmbedResponse, format: EncodingFormat) -> Bytes {
    let data = response
        .embeddings
        .iter()
        .enumerate()
        .map(|(index, embedding)| Embedding {
            object: "embedding",
            index,
            embedding: match format {
                EncodingFormat::Float => Vector::Float(&embedding.values),
                EncodingFormat::Base64 => Vector::Base64(base64_floats(&embedding.values)),
            },
        })
        .collect();
    let list = List {
        object: "list",
        data,
        model: &response.model,
        usage: Usage { prompt_tokens: response.input_tokens, total_tokens: response.input_tokens },
    };
    Bytes::from(serde_json::to_vec(&list).expect("an embedding list serializes"))
}

/// `values` as little-endian 32-bit floats, in base64.
fn base64_floats(values: &[f32]) -> String {
    let bytes: Vec<u8> = values.iter().flat_map(|value| value.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
