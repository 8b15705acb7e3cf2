//! Embeddings: requests, token arrays refused, and vectors as floats or as base64.

use base64::Engine as _;
use bedrock_gateway_proto::v1;
use serde_json::{Value, json};

use crate::doors::openai::{EncodingFormat, embeddings_request, embeddings_response};
use crate::error::GatewayError;

fn decoded(body: Value) -> crate::doors::openai::EmbeddingsRequest {
    embeddings_request(&serde_json::to_vec(&body).unwrap()).unwrap()
}

fn refused(body: Value) -> (String, String) {
    match embeddings_request(&serde_json::to_vec(&body).unwrap()) {
        Err(GatewayError::InvalidArgument { field, reason }) => (field, reason),
        other => panic!("{body} is refused, got {other:?}"),
    }
}

#[test]
fn a_request_maps_to_the_embed_request() {
    let request = decoded(
        json!({"model": "embed", "input": ["a", "b"], "dimensions": 256, "encoding_format": "base64", "user": "u-1"}),
    );
    assert_eq!(request.encoding_format, EncodingFormat::Base64);
    assert_eq!(
        request.embed,
        v1::EmbedRequest {
            model: "embed".into(),
            texts: vec!["a".into(), "b".into()],
            dimensions: Some(256),
            normalize: None,
            purpose: 0,
            request_metadata: [("user".to_owned(), "u-1".to_owned())].into(),
        }
    );
    let one = decoded(json!({"model": "embed", "input": "a"}));
    assert_eq!((one.embed.texts, one.encoding_format), (vec!["a".to_owned()], EncodingFormat::Float));
    assert_eq!(
        decoded(json!({"model": "embed", "input": "a", "encoding_format": "float"})).encoding_format,
        EncodingFormat::Float
    );
}

#[test]
fn token_arrays_and_unknown_settings_are_refused_naming_the_field() {
    let (field, reason) = refused(json!({"model": "embed", "input": [1, 2, 3]}));
    assert_eq!(field, "input[0]");
    assert!(reason.starts_with("token ids are not taken"), "{reason}");
    assert_eq!(refused(json!({"model": "embed", "input": [[1, 2]]})).0, "input[0]");
    assert_eq!(refused(json!({"model": "embed", "input": ["a", 7]})).0, "input[1]");
    assert_eq!(refused(json!({"model": "embed", "input": 7})).0, "input");
    assert_eq!(refused(json!({"model": "embed", "input": "a", "encoding_format": "int8"})).0, "encoding_format");
    assert_eq!(refused(json!({"model": "embed", "input": "a", "user": "u".repeat(257)})).0, "user");
    assert_eq!(refused(json!({"model": "embed", "input": "a", "input_type": "query"})).0, "input_type");
    assert_eq!(refused(json!({"input": "a"})), ("model".into(), "required".into()));
}

fn response(vectors: Vec<Vec<f32>>) -> v1::EmbedResponse {
    v1::EmbedResponse {
        request_id: "r1".into(),
        model: "embed".into(),
        model_version: "v2".into(),
        dimensions: 3,
        input_tokens: 7,
        embeddings: vectors.into_iter().map(|values| v1::Embedding { values }).collect(),
    }
}

const VECTORS: [[f32; 3]; 2] = [[0.1, -1.5e-7, 1.0], [f32::MIN_POSITIVE, -0.333_333_34, 12_345.679]];

#[test]
fn float_vectors_are_written_as_numbers_that_read_back_the_same() {
    let written: Value =
        serde_json::from_slice(&embeddings_response(&response(VECTORS.map(Vec::from).to_vec()), EncodingFormat::Float))
            .unwrap();
    assert_eq!(written["object"], "list");
    assert_eq!(written["model"], "embed");
    assert_eq!(written["usage"], json!({"prompt_tokens": 7, "total_tokens": 7}));
    for (index, vector) in VECTORS.iter().enumerate() {
        let entry = &written["data"][index];
        assert_eq!((entry["object"].as_str(), entry["index"].as_u64()), (Some("embedding"), Some(index as u64)));
        let read: Vec<f32> =
            entry["embedding"].as_array().unwrap().iter().map(|value| value.as_f64().unwrap() as f32).collect();
        assert_eq!(read, vector);
    }
}

#[test]
fn base64_vectors_decode_as_little_endian_floats_to_the_same_values() {
    let written: Value = serde_json::from_slice(&embeddings_response(
        &response(VECTORS.map(Vec::from).to_vec()),
        EncodingFormat::Base64,
    ))
    .unwrap();
    for (index, vector) in VECTORS.iter().enumerate() {
        // As the openai package reads it: base64, then little-endian float32s.
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(written["data"][index]["embedding"].as_str().unwrap())
            .unwrap();
        let read: Vec<f32> = bytes.chunks_exact(4).map(|chunk| f32::from_le_bytes(chunk.try_into().unwrap())).collect();
        assert_eq!(read, vector);
    }
}
