//! InvokeModel for embedding models and CountTokens: request bodies checked as strictly as
//! Bedrock checks them, and deterministic answers tests can compute in advance.
//!
//! The model family is told by the model id (`titan-embed`, `cohere.embed`), or, for ids that name
//! neither (fault ids, inference profiles), by the body's shape.

use serde::Deserialize;
use serde_json::json;

use crate::generate::{fnv1a, mix};
use crate::request::ConverseRequest;

/// Titan Text Embeddings v2's vector lengths; the first is its default.
pub const TITAN_DIMENSIONS: [usize; 3] = [1024, 512, 256];
/// Cohere Embed v3's one vector length.
pub const COHERE_DIMENSIONS: usize = 1024;
/// Texts per Cohere Embed call.
const COHERE_TEXTS: usize = 96;

/// A body Bedrock would refuse with a `ValidationException`, and why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Invalid(String);

fn invalid(message: impl Into<String>) -> Invalid {
    Invalid(message.into())
}

/// An embedding answer: its JSON body and the input tokens for the
/// `X-Amzn-Bedrock-Input-Token-Count` header.
#[derive(Debug)]
pub(crate) struct Embedded {
    pub(crate) body: Vec<u8>,
    pub(crate) input_tokens: usize,
}

/// The raw vector of `seed`, `dimensions` values in [-1, 1): the first values of one endless
/// sequence per seed, so a shorter vector is a prefix of a longer one. Titan's seed is the text
/// (its vector scaled to length 1 when `normalize` is true, the default), Cohere's is
/// `"{input_type}:{text}"` (never scaled).
pub fn expected_embedding(seed: &str, dimensions: usize) -> Vec<f32> {
    let seed = fnv1a(seed.as_bytes());
    (0..dimensions as u64).map(|index| (mix(seed, index) >> 40) as f32 / (1u64 << 23) as f32 - 1.0).collect()
}

/// `vector` scaled to length 1.
pub fn normalized(mut vector: Vec<f32>) -> Vec<f32> {
    let length = vector.iter().map(|value| f64::from(*value).powi(2)).sum::<f64>().sqrt();
    vector.iter_mut().for_each(|value| *value = (f64::from(*value) / length) as f32);
    vector
}

/// Whitespace-separated words, at least 1, standing in for a tokenizer.
fn tokens(text: &str) -> usize {
    text.split_whitespace().count().max(1)
}

/// Answers an InvokeModel body for `model_id`.
pub(crate) fn invoke(model_id: &str, body: &[u8]) -> Result<Embedded, Invalid> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|err| invalid(format!("Malformed input request: {err}")))?;
    let titan =
        model_id.contains("titan-embed") || (!model_id.contains("cohere.embed") && value.get("inputText").is_some());
    let cohere = model_id.contains("cohere.embed") || value.get("texts").is_some();
    if titan {
        titan_v2(value)
    } else if cohere {
        cohere_v3(value)
    } else {
        Err(invalid(
            "This emulator's InvokeModel serves embedding models only: Titan Text Embeddings v2 and Cohere Embed v3.",
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TitanRequest {
    input_text: String,
    dimensions: Option<usize>,
    normalize: Option<bool>,
    embedding_types: Option<Vec<String>>,
}

fn titan_v2(value: serde_json::Value) -> Result<Embedded, Invalid> {
    let request: TitanRequest = serde_json::from_value(value)
        .map_err(|err| invalid(format!("Malformed input request: {err}, please reformat your input and try again.")))?;
    if request.input_text.is_empty() {
        return Err(invalid(
            "Malformed input request: expected minLength: 1, actual: 0, please reformat your input and try again.",
        ));
    }
    let dimensions = request.dimensions.unwrap_or(TITAN_DIMENSIONS[0]);
    if !TITAN_DIMENSIONS.contains(&dimensions) {
        return Err(invalid(format!(
            "Malformed input request: #/dimensions: {dimensions} is not a valid enum value, please reformat your input and try again."
        )));
    }
    if request.embedding_types.is_some_and(|types| types.iter().any(|kind| kind != "float")) {
        return Err(invalid("This emulator answers float embeddings only."));
    }
    let mut embedding = expected_embedding(&request.input_text, dimensions);
    if request.normalize.unwrap_or(true) {
        embedding = normalized(embedding);
    }
    let input_tokens = tokens(&request.input_text);
    let body = json!({"embedding": embedding, "inputTextTokenCount": input_tokens});
    Ok(Embedded { body: body.to_string().into_bytes(), input_tokens })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CohereRequest {
    texts: Vec<String>,
    input_type: String,
    truncate: Option<String>,
    embedding_types: Option<Vec<String>>,
}

fn cohere_v3(value: serde_json::Value) -> Result<Embedded, Invalid> {
    let request: CohereRequest =
        serde_json::from_value(value).map_err(|err| invalid(format!("Malformed input request: {err}")))?;
    if request.texts.is_empty() || request.texts.len() > COHERE_TEXTS {
        return Err(invalid(format!(
            "Malformed input request: #/texts: expected 1 to {COHERE_TEXTS} items, got {}",
            request.texts.len()
        )));
    }
    if !["search_document", "search_query", "classification", "clustering"].contains(&request.input_type.as_str()) {
        return Err(invalid(format!(
            "Malformed input request: #/input_type: {} is not a valid enum value",
            request.input_type
        )));
    }
    if request.truncate.as_deref().is_some_and(|truncate| !["NONE", "START", "END"].contains(&truncate)) {
        return Err(invalid("Malformed input request: #/truncate: not a valid enum value"));
    }
    let vectors: Vec<Vec<f32>> = request
        .texts
        .iter()
        .map(|text| expected_embedding(&format!("{}:{text}", request.input_type), COHERE_DIMENSIONS))
        .collect();
    let input_tokens = request.texts.iter().map(|text| tokens(text)).sum();
    let id = format!("{:016x}", fnv1a(request.texts.concat().as_bytes()));
    let body = match request.embedding_types {
        Some(types) if types.iter().all(|kind| kind == "float") => json!({
            "id": id,
            "embeddings": {"float": vectors},
            "texts": request.texts,
            "response_type": "embeddings_by_type",
        }),
        Some(_) => return Err(invalid("This emulator answers float embeddings only.")),
        None => json!({"id": id, "embeddings": vectors, "texts": request.texts, "response_type": "embeddings_floats"}),
    };
    Ok(Embedded { body: body.to_string().into_bytes(), input_tokens })
}

/// The body of a CountTokens request: `{"input": {"converse": {...}}}`.
#[derive(Debug, Deserialize)]
struct CountTokensRequest {
    input: CountTokensInput,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CountTokensInput {
    converse: Option<serde_json::Value>,
    invoke_model: Option<serde_json::Value>,
}

/// The Converse input a CountTokens body counts.
pub(crate) fn count_tokens_input(body: &[u8]) -> Result<ConverseRequest, Invalid> {
    let request: CountTokensRequest = serde_json::from_slice(body)
        .map_err(|err| invalid(format!("The request body is not a valid CountTokens request: {err}")))?;
    match (request.input.converse, request.input.invoke_model) {
        (Some(converse), None) => {
            let converse = serde_json::to_vec(&converse).expect("a JSON value serializes");
            ConverseRequest::parse(&converse).map_err(|err| invalid(err.to_string()))
        }
        (None, Some(_)) => Err(invalid("This emulator counts the tokens of Converse inputs only.")),
        _ => Err(invalid("The input field must set exactly one of converse and invokeModel.")),
    }
}

/// CountTokens' answer for `request`: its input tokens as Converse would report them.
pub(crate) fn count_tokens_answer(request: &ConverseRequest) -> Vec<u8> {
    json!({"inputTokens": request.input_tokens()}).to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(model_id: &str, body: serde_json::Value) -> Result<(serde_json::Value, usize), Invalid> {
        let embedded = invoke(model_id, body.to_string().as_bytes())?;
        Ok((serde_json::from_slice(&embedded.body).unwrap(), embedded.input_tokens))
    }

    #[test]
    fn titan_vectors_are_deterministic_of_the_asked_length_and_normalised_when_asked() {
        let model = "amazon.titan-embed-text-v2:0";
        let (body, tokens) = answer(model, json!({"inputText": "two words", "dimensions": 256})).unwrap();
        let vector: Vec<f32> = serde_json::from_value(body["embedding"].clone()).unwrap();
        assert_eq!(vector, normalized(expected_embedding("two words", 256)));
        assert_eq!((body["inputTextTokenCount"].as_u64(), tokens), (Some(2), 2));
        let length: f32 = vector.iter().map(|value| value * value).sum();
        assert!((length - 1.0).abs() < 1e-4, "{length}");
        let (raw, _) = answer(model, json!({"inputText": "two words", "normalize": false})).unwrap();
        let raw: Vec<f32> = serde_json::from_value(raw["embedding"].clone()).unwrap();
        assert_eq!(raw, expected_embedding("two words", 1024));
        assert_ne!(expected_embedding("other words", 8), expected_embedding("two words", 8));
        assert!(raw.iter().all(|value| (-1.0..1.0).contains(value)));
    }

    #[test]
    fn titan_refuses_what_bedrock_refuses() {
        let model = "amazon.titan-embed-text-v2:0";
        for body in [
            json!({"inputText": "x", "dimensions": 300}),
            json!({"inputText": ""}),
            json!({"texts": ["x"]}),
            json!({"inputText": "x", "extra": 1}),
        ] {
            assert!(answer(model, body.clone()).is_err(), "{body}");
        }
    }

    #[test]
    fn cohere_answers_by_type_with_one_vector_per_text() {
        let model = "cohere.embed-english-v3";
        let body = json!({"texts": ["a b", "c"], "input_type": "search_query", "truncate": "NONE", "embedding_types": ["float"]});
        let (body, tokens) = answer(model, body).unwrap();
        assert_eq!(body["response_type"], "embeddings_by_type");
        let vectors: Vec<Vec<f32>> = serde_json::from_value(body["embeddings"]["float"].clone()).unwrap();
        assert_eq!(vectors, [expected_embedding("search_query:a b", 1024), expected_embedding("search_query:c", 1024)]);
        assert_eq!(tokens, 3);
        assert!(answer(model, json!({"texts": ["a"]})).is_err(), "input_type is required");
        assert!(answer(model, json!({"texts": vec!["a"; 97], "input_type": "clustering"})).is_err());
    }

    #[test]
    fn count_tokens_reads_the_converse_input() {
        let body = json!({"input": {"converse": {
            "system": [{"text": "be brief"}],
            "messages": [{"role": "user", "content": [{"text": "count these three"}]}],
        }}});
        let request = count_tokens_input(body.to_string().as_bytes()).unwrap();
        assert_eq!(count_tokens_answer(&request), br#"{"inputTokens":5}"#);
        assert!(count_tokens_input(br#"{"input": {"invokeModel": {"body": "e30="}}}"#).is_err());
        assert!(count_tokens_input(br#"{"input": {"converse": {"messages": []}}}"#).is_err());
    }
}
