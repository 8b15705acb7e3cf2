//! Embed through the gateway, the real SDK's InvokeModel and the emulator: each family's exact
//! request body, vectors in the order of the texts, dimensions and normalisation, field-named
//! refusals, the kind checks both ways, fallbacks, and the usage record.

use bedrock_emulator::{expected_embedding, normalized};
use bedrock_gateway::config::{EmbeddingFormat, TargetConfig};
use bedrock_gateway::config::{QuotaLimits, TenantConfig};
use bedrock_gateway_proto::v1;
use bedrock_gateway_testkit::{
    LogCapture, TestGateway, api_key_digest, collect, embedding_model, user_request, with_api_key,
};
use serde_json::json;
use tonic::Code;

const TITAN: &str = "amazon.titan-embed-text-v2:0";
const COHERE: &str = "cohere.embed-english-v3";

async fn gateway() -> TestGateway {
    TestGateway::start_with(|config| {
        let mut titan = embedding_model(TITAN, EmbeddingFormat::TitanTextV2, &[1024, 512, 256]);
        titan.capabilities.max_embed_texts = 16;
        config.models.insert("embed".into(), titan);
        let mut cohere = embedding_model(COHERE, EmbeddingFormat::CohereEmbed, &[1024]);
        cohere.capabilities.max_embed_texts = 200;
        config.models.insert("cohere".into(), cohere);
    })
    .await
}

fn embed_request(model: &str, texts: &[&str]) -> v1::EmbedRequest {
    v1::EmbedRequest {
        model: model.into(),
        texts: texts.iter().map(|text| (*text).to_owned()).collect(),
        ..Default::default()
    }
}

fn vectors(response: &v1::EmbedResponse) -> Vec<Vec<f32>> {
    response.embeddings.iter().map(|embedding| embedding.values.clone()).collect()
}

fn assert_unit_length(vector: &[f32]) {
    let length: f32 = vector.iter().map(|value| value * value).sum::<f32>().sqrt();
    assert!((length - 1.0).abs() < 1e-4, "length {length}");
}

#[tokio::test]
async fn titan_gets_one_call_per_text_with_the_dimensions_and_normalize_asked_for() {
    let gateway = gateway().await;
    let mut client = gateway.stub().await;
    let request =
        v1::EmbedRequest { dimensions: Some(256), normalize: Some(false), ..embed_request("embed", &["hello world"]) };
    let response = client.embed(request).await.unwrap().into_inner();
    assert_eq!(
        gateway.emulator.last_request_body().unwrap(),
        json!({"inputText": "hello world", "dimensions": 256, "normalize": false})
    );
    assert_eq!(vectors(&response), [expected_embedding("hello world", 256)]);
    assert_eq!((response.dimensions, response.input_tokens), (256, 2));
    assert_eq!((response.model.as_str(), response.model_version.as_str()), ("embed", "embed"));

    let texts = ["one", "two words", "three short words", "one", "five", "six", "seven", "eight", "nine", "ten"];
    let served = gateway.emulator.requests_served();
    let response = client.embed(embed_request("embed", &texts)).await.unwrap().into_inner();
    assert_eq!(gateway.emulator.requests_served() - served, 10, "Titan takes one text per call");
    let expected: Vec<_> = texts.iter().map(|text| normalized(expected_embedding(text, 1024))).collect();
    assert_eq!(vectors(&response), expected, "in the order of the texts, normalised by default, 1024 by default");
    assert_eq!(response.dimensions, 1024);
    assert_eq!(response.input_tokens, 13, "the sum of Bedrock's counts");
    assert_eq!(response.embeddings[0], response.embeddings[3], "the same text, the same vector");
    assert_ne!(response.embeddings[0], response.embeddings[1]);
    response.embeddings.iter().for_each(|embedding| assert_unit_length(&embedding.values));
}

#[tokio::test]
async fn cohere_gets_batches_with_the_purpose_and_the_gateway_normalises() {
    let gateway = gateway().await;
    let mut client = gateway.stub().await;
    let request = v1::EmbedRequest {
        purpose: v1::EmbeddingPurpose::SearchQuery as i32,
        ..embed_request("cohere", &["where is it", "why"])
    };
    let response = client.embed(request.clone()).await.unwrap().into_inner();
    assert_eq!(
        gateway.emulator.last_request_body().unwrap(),
        json!({
            "texts": ["where is it", "why"],
            "input_type": "search_query",
            "truncate": "NONE",
            "embedding_types": ["float"],
        })
    );
    let raw = [expected_embedding("search_query:where is it", 1024), expected_embedding("search_query:why", 1024)];
    assert_eq!(vectors(&response), raw.clone().map(normalized), "Cohere does not normalise; the gateway does");
    assert_eq!((response.dimensions, response.input_tokens), (1024, 4), "tokens from Bedrock's header");
    let unscaled = client.embed(v1::EmbedRequest { normalize: Some(false), ..request }).await.unwrap().into_inner();
    assert_eq!(vectors(&unscaled), raw);

    for (purpose, input_type) in [
        (v1::EmbeddingPurpose::Unspecified, "search_document"),
        (v1::EmbeddingPurpose::SearchDocument, "search_document"),
        (v1::EmbeddingPurpose::Classification, "classification"),
        (v1::EmbeddingPurpose::Clustering, "clustering"),
    ] {
        let request = v1::EmbedRequest { purpose: purpose as i32, ..embed_request("cohere", &["x"]) };
        client.embed(request).await.unwrap();
        assert_eq!(gateway.emulator.last_request_body().unwrap()["input_type"], input_type, "{purpose:?}");
    }

    let texts: Vec<String> = (0..100).map(|index| format!("text number {index}")).collect();
    let served = gateway.emulator.requests_served();
    let request = v1::EmbedRequest { texts: texts.clone(), ..embed_request("cohere", &[]) };
    let response = client.embed(request).await.unwrap().into_inner();
    assert_eq!(gateway.emulator.requests_served() - served, 2, "96 texts per call");
    let expected: Vec<_> =
        texts.iter().map(|text| normalized(expected_embedding(&format!("search_document:{text}"), 1024))).collect();
    assert_eq!(vectors(&response), expected, "in order across batches");
    assert_eq!(response.input_tokens, 300);
}

#[tokio::test]
async fn invalid_requests_are_refused_naming_the_field() {
    let gateway = gateway().await;
    let mut client = gateway.stub().await;
    let served = gateway.emulator.requests_served();
    let cases = [
        (
            v1::EmbedRequest { dimensions: Some(300), ..embed_request("embed", &["x"]) },
            "dimensions: 300 is not offered by model \"embed\"; it offers 1024, 512, 256",
        ),
        (embed_request("embed", &[]), "texts: at least one text is required"),
        (embed_request("embed", &["x"; 17]), "texts: 17 texts; model \"embed\" takes at most 16 per request"),
        (embed_request("embed", &["x", " "]), "texts[1]: must not be empty"),
        (
            v1::EmbedRequest { texts: vec!["é".repeat(50_001)], ..embed_request("embed", &[]) },
            "texts[0]: 50001 characters; at most 50000 are allowed",
        ),
        (v1::EmbedRequest { purpose: 99, ..embed_request("embed", &["x"]) }, "purpose: must be SEARCH_DOCUMENT"),
        (
            v1::EmbedRequest {
                request_metadata: [("k".to_owned(), "v".repeat(257))].into(),
                ..embed_request("embed", &["x"])
            },
            "request_metadata[\"k\"]: value has 257 characters",
        ),
        (embed_request("", &["x"]), "model: required"),
    ];
    for (request, message) in cases {
        let status = client.embed(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{message}");
        assert!(status.message().starts_with(message), "{:?} starts with {message:?}", status.message());
    }
    assert_eq!(gateway.emulator.requests_served(), served, "nothing reached Bedrock");
}

#[tokio::test]
async fn each_kind_of_model_refuses_the_other_kinds_calls() {
    let gateway = gateway().await;
    let mut client = gateway.stub().await;
    let status = client.embed(embed_request("chat", &["x"])).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "model: \"chat\" is a chat model: call Converse, ConverseStream or CountTokens");

    let embedding_model = "model: \"embed\" is an embedding model: call Embed";
    let status = client.converse(user_request("embed", "hi")).await.unwrap_err();
    assert_eq!((status.code(), status.message()), (Code::InvalidArgument, embedding_model));
    let streamed = collect(&mut client, user_request("embed", "hi")).await;
    let status = streamed.error.expect("refused");
    assert_eq!((status.code(), status.message()), (Code::InvalidArgument, embedding_model));
    assert!(streamed.events.is_empty());

    let status = client.embed(embed_request("nope", &["x"])).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("cohere, embed"), "{}", status.message());
}

#[tokio::test]
async fn a_throttled_target_falls_back_and_the_usage_is_recorded() {
    const KEY: &str = "embed-key";
    let logs = LogCapture::install();
    let gateway = TestGateway::start_with(|config| {
        let mut embed = embedding_model("fault.throttle", EmbeddingFormat::TitanTextV2, &[512]);
        embed.fallbacks = vec![TargetConfig {
            model_id: TITAN.into(),
            region: None,
            role_arn: None,
            version: "titan-v2".into(),
            weight: None,
            additional_request_fields: None,
        }];
        config.models.insert("embed".into(), embed);
        let tenant = TenantConfig {
            api_keys: [("ci".to_owned(), api_key_digest(KEY).into())].into(),
            quotas: QuotaLimits { tokens_per_minute: Some(1_000), ..QuotaLimits::default() },
            ..TenantConfig::default()
        };
        config.tenants.insert("team".into(), tenant);
    })
    .await;
    let mut client = gateway.stub().await;
    let request = with_api_key(embed_request("embed", &["alpha beta", "gamma"]), KEY);
    let response = client.embed(request).await.unwrap().into_inner();
    assert_eq!(response.model_version, "titan-v2");
    assert_eq!(
        vectors(&response),
        [normalized(expected_embedding("alpha beta", 512)), normalized(expected_embedding("gamma", 512))]
    );
    let line = logs.request_line(&response.request_id).await;
    assert_eq!((line["rpc"].as_str(), line["status"].as_str()), (Some("Embed"), Some("OK")));
    assert_eq!((line["input_tokens"].as_u64(), line["output_tokens"].as_u64()), (Some(3), Some(0)));
    assert_eq!(line["fallback_from"], "embed");

    // A request estimated above the whole token quota can never fit.
    let long = "word ".repeat(1_000);
    let status = client.embed(with_api_key(embed_request("embed", &[&long]), KEY)).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(status.message().contains("tenants.team.quotas.tokens_per_minute"), "{}", status.message());
    assert!(status.message().ends_with("; send fewer or shorter texts per request"), "{}", status.message());
}
