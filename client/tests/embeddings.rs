//! `Client::count_tokens` and `Client::embed` against a real gateway (and its emulator), retries
//! included, and `bgw count` / `bgw embed` as a user runs them.

mod common;

use bedrock_emulator::{expected_embedding, normalized};
use bedrock_gateway::Config;
use bedrock_gateway::catalog::config::EmbeddingFormat;
use bedrock_gateway_client::{Code, EmbedRequest, Request};
use bedrock_gateway_testkit::embedding_model;
use common::Gateway;

fn catalog(config: &mut Config) {
    config.models.get_mut("chat").unwrap().capabilities.count_tokens = true;
    let titan = "amazon.titan-embed-text-v2:0";
    config.models.insert("embed".into(), embedding_model(titan, EmbeddingFormat::TitanTextV2, &[1024, 256]));
    // The emulator throttles the first request with each body, then answers.
    let mut flaky = embedding_model("fault.throttle-once", EmbeddingFormat::TitanTextV2, &[256]);
    flaky.capabilities.max_embed_texts = 1;
    config.models.insert("flaky-embed".into(), flaky);
    let mut flaky_chat = config.models["fault-throttle-once"].clone();
    flaky_chat.capabilities.count_tokens = true;
    config.models.insert("flaky-chat".into(), flaky_chat);
}

#[tokio::test]
async fn count_tokens_answers_the_models_count() {
    let gateway = Gateway::start_with(catalog).await;
    let client = common::client(&gateway);
    let counted = client.count_tokens(Request::new("chat").system("be brief").user("three words here")).await.unwrap();
    assert_eq!(counted.input_tokens, 5);
    assert_eq!(counted.model_version, "chat");
    let error = client.count_tokens(Request::new("profile").user("hi")).await.unwrap_err();
    assert_eq!(error.code(), Code::Unimplemented);
    assert!(error.message().contains("\"profile\""), "{}", error.message());
}

#[tokio::test]
async fn embed_answers_vectors_in_order() {
    let gateway = Gateway::start_with(catalog).await;
    let client = common::client(&gateway);
    let embeddings = client
        .embed(EmbedRequest::new("embed").text("first").texts(["second", "third"]).dimensions(256))
        .await
        .unwrap();
    let expected: Vec<_> = ["first", "second", "third"].map(|text| normalized(expected_embedding(text, 256))).into();
    assert_eq!(embeddings.vectors, expected);
    assert_eq!((embeddings.dimensions, embeddings.input_tokens), (256, 3));
    let error = client.embed(EmbedRequest::new("chat").text("x")).await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    assert!(error.message().contains("is a chat model"), "{}", error.message());
}

#[tokio::test]
async fn throttled_counts_and_embeddings_are_retried() {
    let gateway = Gateway::start_with(catalog).await;
    let client = common::client(&gateway);
    let embeddings = client.embed(EmbedRequest::new("flaky-embed").text("again").normalize(false)).await.unwrap();
    assert_eq!(embeddings.vectors, [expected_embedding("again", 256)]);
    let counted = client.count_tokens(Request::new("flaky-chat").user("count again")).await.unwrap();
    assert_eq!(counted.input_tokens, 2);
    assert_eq!(gateway.emulator.requests_served(), 4, "each throttled once, then answered");
}

#[tokio::test]
async fn bgw_count_and_embed_print_what_the_gateway_answers() {
    use tokio::process::Command;
    let gateway = Gateway::start_with(catalog).await;
    let bgw = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bgw"));
        command.env_clear().env("BGW_ENDPOINT", gateway.url()).args(args).kill_on_drop(true);
        command
    };
    let output = bgw(&["count", "--model", "chat", "--system", "be brief", "three words here"]).output().await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8(output.stdout).unwrap(), "5\n");

    let output =
        bgw(&["embed", "--model", "embed", "--dimensions", "256", "alpha", "beta gamma"]).output().await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((printed["dimensions"].as_u64(), printed["input_tokens"].as_u64()), (Some(256), Some(3)));
    let embeddings = printed["embeddings"].as_array().unwrap();
    assert_eq!(embeddings.len(), 2);
    let first: Vec<f32> = serde_json::from_value(embeddings[0]["values"].clone()).unwrap();
    assert_eq!(first, normalized(expected_embedding("alpha", 256))[..8]);
    assert!((embeddings[1]["norm"].as_f64().unwrap() - 1.0).abs() < 1e-4);

    let output = bgw(&["models", "--json"]).output().await.unwrap();
    let embed = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|model| model["name"] == "embed")
        .unwrap();
    assert_eq!(embed["kind"], "embedding");
    assert_eq!(embed["capabilities"]["embedding_dimensions"], serde_json::json!([1024, 256]));
    let output = bgw(&["models"]).output().await.unwrap();
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(
        table
            .lines()
            .any(|line| line.starts_with("embed ") && line.contains(" embedding ") && line.contains("dims=1024/256")),
        "{table}"
    );
}
