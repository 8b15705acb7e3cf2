//! The catalog as clients see it: lifecycle enforced at request time, its revision in ListModels,
//! stop reasons that mean a broken answer, and the promise that no client ever learns which
//! Bedrock model, inference profile or AWS account stands behind an alias.

use bedrock_gateway::catalog::Catalog;
use bedrock_gateway::catalog::config::{EmbeddingFormat, ModelConfig, ModelState};
use bedrock_gateway_proto::v1;
use bedrock_gateway_testkit::{TestGateway, collect, embedding_model, test_config, user_request};
use tonic::Code;

const PROFILE_ARN: &str = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123";
const ACCOUNT: &str = "123456789012";

/// An alias of the test catalog with another model id.
fn alias(config: &mut bedrock_gateway::Config, name: &str, model_id: &str) -> ModelConfig {
    let model = ModelConfig { model_id: model_id.to_owned(), ..config.models["chat"].clone() };
    config.models.insert(name.to_owned(), model.clone());
    model
}

#[tokio::test]
async fn a_model_past_its_retires_on_day_is_retired_and_names_its_replacement() {
    let gateway = TestGateway::start_with(|config| {
        let mut sunset = alias(config, "sunset", "test.sunset-v1");
        sunset.state = ModelState::Deprecated;
        sunset.replacement = Some("chat".to_owned());
        sunset.retires_on = Some("2020-01-31".to_owned());
        config.models.insert("sunset".to_owned(), sunset);
    })
    .await;
    let mut client = gateway.stub().await;
    let streamed = collect(&mut client, user_request("sunset", "hi")).await.error.expect("refused");
    let unary = client.converse(user_request("sunset", "hi")).await.unwrap_err();
    for status in [streamed, unary] {
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(status.message(), "model: \"sunset\" is retired; use \"chat\" instead");
    }
    assert_eq!(gateway.emulator.requests_served(), 0, "a retired model never reaches Bedrock");
    let models = client.list_models(v1::ListModelsRequest {}).await.unwrap().into_inner().models;
    let sunset = models.iter().find(|model| model.name == "sunset").unwrap();
    assert_eq!(sunset.state(), v1::ModelState::Retired);
    assert_eq!((sunset.retires_on.as_str(), sunset.replacement.as_str()), ("2020-01-31", "chat"));
}

#[tokio::test]
async fn list_models_reports_the_catalog_revision() {
    let gateway = TestGateway::start().await;
    let listed = gateway.stub().await.list_models(v1::ListModelsRequest {}).await.unwrap().into_inner();
    let config = test_config(gateway.emulator.endpoint_url());
    let expected = Catalog::from_config(&config.models, &config.bedrock.region);
    assert_eq!(listed.catalog_revision, expected.revision());
    assert_eq!(listed.catalog_revision.len(), 12);

    let changed = TestGateway::start_with(|config| config.models.get_mut("chat").unwrap().max_tokens_cap = 999).await;
    let other = changed.stub().await.list_models(v1::ListModelsRequest {}).await.unwrap().into_inner();
    assert_ne!(other.catalog_revision, listed.catalog_revision, "another catalog, another revision");
}

#[tokio::test]
async fn malformed_answers_keep_their_stop_reason_on_both_paths() {
    let gateway = TestGateway::start().await;
    let mut client = gateway.stub().await;
    for (alias, reason) in [
        ("fault-malformed-tool-use", v1::StopReason::MalformedToolUse),
        ("fault-malformed-model-output", v1::StopReason::MalformedModelOutput),
    ] {
        let collected = collect(&mut client, user_request(alias, "hi")).await;
        assert!(collected.error.is_none(), "{:?}", collected.error);
        assert_eq!(collected.stop_reason, Some(reason), "{alias}: not a complete STOP_REASON_OTHER");
        assert!(collected.usage.is_some(), "the stream still ends with stop and usage");
        let whole = client.converse(user_request(alias, "hi")).await.unwrap().into_inner();
        assert_eq!(whole.stop_reason(), reason);
    }
}

/// Everything a client can see must be free of the ARN, its resource id and the account.
fn assert_hidden(what: &str, seen: &str) {
    for secret in [PROFILE_ARN, "application-inference-profile", "abc123", ACCOUNT, "arn:aws", "fault."] {
        assert!(!seen.contains(secret), "{what} shows {secret:?}: {seen}");
    }
}

/// An embedding alias on `model_id`, described without it.
fn hidden_embedding(model_id: &str) -> ModelConfig {
    let description = "Embeddings from an application inference profile.".to_owned();
    ModelConfig { description, ..embedding_model(model_id, EmbeddingFormat::TitanTextV2, &[1024]) }
}

fn embed_request(model: &str) -> v1::EmbedRequest {
    v1::EmbedRequest { model: model.to_owned(), texts: vec!["where do you run?".to_owned()], ..Default::default() }
}

#[tokio::test]
async fn an_application_inference_profile_arn_is_never_shown_to_clients() {
    let faults = [
        ("validation", Code::InvalidArgument),
        ("throttle", Code::ResourceExhausted),
        ("quota", Code::ResourceExhausted),
        ("access-denied", Code::PermissionDenied),
        ("not-found", Code::NotFound),
        ("model-timeout", Code::DeadlineExceeded),
        ("model-error", Code::Unavailable),
        ("not-ready", Code::Unavailable),
        ("unavailable", Code::Unavailable),
        ("internal", Code::Unavailable),
        ("stream-error.3", Code::Unavailable),
    ];
    let gateway = TestGateway::start_with(|config| {
        let mut hidden = alias(config, "hidden", PROFILE_ARN);
        hidden.description = "Served by an application inference profile.".to_owned();
        hidden.capabilities.count_tokens = true;
        config.models.insert("hidden".to_owned(), hidden);
        config.models.insert("hidden-embed".to_owned(), hidden_embedding(PROFILE_ARN));
        for (fault, _) in faults {
            // The emulator picks the fault from the ARN's resource id, and names the ARN in its messages.
            let arn = PROFILE_ARN.replace("abc123", &format!("fault.{fault}"));
            let mut chat = alias(config, &format!("hidden-{fault}"), &arn);
            chat.capabilities.count_tokens = true;
            config.models.insert(format!("hidden-{fault}"), chat);
            config.models.insert(format!("hidden-embed-{fault}"), hidden_embedding(&arn));
        }
    })
    .await;
    let mut client = gateway.stub().await;
    let mut stream_ends = gateway.emulator.subscribe();

    let listed = client.list_models(v1::ListModelsRequest {}).await.unwrap().into_inner();
    let hidden = listed.models.iter().find(|model| model.name == "hidden").unwrap();
    assert_eq!(hidden.version, "hidden", "the version defaults to the alias, never the model id");
    assert_hidden("ListModels", &format!("{listed:?}"));

    let response = client.converse_stream(user_request("hidden", "where do you run?")).await.unwrap();
    assert_hidden("the stream's response metadata", &format!("{:?}", response.metadata()));
    let mut stream = response.into_inner();
    let mut events = Vec::new();
    while let Some(event) = stream.message().await.unwrap() {
        events.push(event);
    }
    let trailers = stream.trailers().await.unwrap().expect("a stream ends with trailers");
    let Some(v1::converse_stream_event::Event::Start(start)) = events[0].event.as_ref() else { panic!("a start") };
    assert_eq!(start.model_version, "hidden");
    assert_hidden("the stream", &format!("{events:?}"));
    assert_hidden("the stream's trailers", &format!("{trailers:?}"));
    drop(stream);
    let end = bedrock_gateway_testkit::next_stream_end(&mut stream_ends).await;
    assert_eq!(end.model_id, PROFILE_ARN, "the SDK sent the ARN, percent-encoded, and the emulator took it");

    let unary = client.converse(user_request("hidden", "where do you run?")).await.unwrap();
    assert_hidden("Converse's metadata", &format!("{:?}", unary.metadata()));
    let unary = unary.into_inner();
    assert_eq!(unary.model_version, "hidden");
    assert_hidden("Converse", &format!("{unary:?}"));

    let counted = client.count_tokens(user_request("hidden", "where do you run?")).await.unwrap();
    assert_hidden("CountTokens' metadata", &format!("{:?}", counted.metadata()));
    let counted = counted.into_inner();
    assert_eq!(counted.model_version, "hidden");
    assert_hidden("CountTokens", &format!("{counted:?}"));
    let embedded = client.embed(embed_request("hidden-embed")).await.unwrap();
    assert_hidden("Embed's metadata", &format!("{:?}", embedded.metadata()));
    let embedded = embedded.into_inner();
    assert_eq!(embedded.model_version, "hidden-embed");
    assert_hidden("Embed", &format!("{embedded:?}"));

    for (fault, code) in faults {
        let alias = format!("hidden-{fault}");
        // A stream's status travels in its trailers, which the status' metadata holds.
        let streamed = collect(&mut client, user_request(&alias, "fail")).await.error.expect("the fault fails it");
        let unary = client.converse(user_request(&alias, "fail")).await.unwrap_err();
        let counted = client.count_tokens(user_request(&alias, "fail")).await.unwrap_err();
        let embed_alias = format!("hidden-embed-{fault}");
        let embedded = client.embed(embed_request(&embed_alias)).await.unwrap_err();
        for (alias, status) in [(&alias, streamed), (&alias, unary), (&alias, counted), (&embed_alias, embedded)] {
            assert_eq!(status.code(), code, "{alias}: {status:?}");
            assert!(status.message().contains(&format!("{alias:?}")), "{alias}: named by its alias: {status:?}");
            let details = String::from_utf8_lossy(status.details());
            assert_hidden(alias, &format!("{} {:?} {details}", status.message(), status.metadata()));
        }
    }
    let validation = client.converse(user_request("hidden-validation", "fail")).await.unwrap_err();
    assert_eq!(
        validation.message(),
        "the model \"hidden-validation\" rejected the request: ValidationException injected by bedrock-emulator \
         for model hidden-validation",
        "Bedrock's message is kept, with the ARN replaced by the alias"
    );
}
