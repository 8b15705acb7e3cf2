//! Capabilities end to end: ListModels reports each model's kind and capabilities as the catalog
//! configures them, and a request asking a model for what it cannot take (images, documents,
//! tools) is refused naming the field and the model, before Bedrock is called.

use bedrock_gateway::catalog::config::{EmbeddingFormat, Modality, ReasoningStyle, StructuredOutputStyle};
use bedrock_gateway_proto::v1;
use bedrock_gateway_testkit::{TestGateway, collect, embedding_model, user_request};
use tonic::Code;

async fn gateway() -> TestGateway {
    TestGateway::start_with(|config| {
        let chat = &mut config.models.get_mut("chat").unwrap().capabilities;
        chat.input_modalities = vec![Modality::Text, Modality::Image];
        chat.reasoning = ReasoningStyle::AnthropicThinking;
        chat.structured_output = StructuredOutputStyle::Native;
        chat.prompt_caching = Some(true);
        chat.count_tokens = true;
        chat.context_window = 200_000;
        let profile = &mut config.models.get_mut("profile").unwrap().capabilities;
        profile.input_modalities = vec![Modality::Text];
        profile.tools = false;
        let mut embed = embedding_model("amazon.titan-embed-text-v2:0", EmbeddingFormat::TitanTextV2, &[512, 256]);
        embed.capabilities.max_embed_texts = 32;
        embed.capabilities.context_window = 8_192;
        config.models.insert("embed".into(), embed);
    })
    .await
}

fn info(models: &[v1::ModelInfo], name: &str) -> v1::ModelInfo {
    models.iter().find(|model| model.name == name).unwrap().clone()
}

#[tokio::test]
async fn list_models_shows_each_models_kind_and_capabilities() {
    let gateway = gateway().await;
    let models = gateway.stub().await.list_models(v1::ListModelsRequest {}).await.unwrap().into_inner().models;
    let chat = info(&models, "chat");
    assert_eq!(chat.kind(), v1::ModelKind::Chat);
    assert_eq!(
        chat.capabilities.unwrap(),
        v1::ModelCapabilities {
            input_modalities: vec![v1::Modality::Text as i32, v1::Modality::Image as i32],
            tools: true,
            reasoning: true,
            structured_output: true,
            prompt_caching: true,
            count_tokens: true,
            context_window: 200_000,
            embedding_dimensions: Vec::new(),
            max_embed_texts: 0,
        }
    );
    let profile = info(&models, "profile");
    assert_eq!(
        profile.capabilities.unwrap(),
        v1::ModelCapabilities { input_modalities: vec![v1::Modality::Text as i32], ..Default::default() },
        "the defaults, less what the catalog took away"
    );
    let embed = info(&models, "embed");
    assert_eq!(embed.kind(), v1::ModelKind::Embedding);
    assert_eq!(
        embed.capabilities.unwrap(),
        v1::ModelCapabilities {
            input_modalities: vec![v1::Modality::Text as i32],
            context_window: 8_192,
            embedding_dimensions: vec![512, 256],
            max_embed_texts: 32,
            ..Default::default()
        }
    );
}

fn with_block(model: &str, block: v1::content_block::Block) -> v1::ConverseRequest {
    let mut request = user_request(model, "look at this");
    request.messages[0].content.push(v1::ContentBlock { block: Some(block) });
    request
}

fn image() -> v1::content_block::Block {
    v1::content_block::Block::Image(v1::ImageBlock { format: v1::ImageFormat::Png as i32, data: vec![1, 2, 3] })
}

fn document() -> v1::content_block::Block {
    v1::content_block::Block::Document(v1::DocumentBlock {
        format: v1::DocumentFormat::Txt as i32,
        name: "notes".into(),
        data: b"notes".to_vec(),
    })
}

#[tokio::test]
async fn content_a_model_cannot_read_is_refused_naming_the_field_and_the_model() {
    let gateway = gateway().await;
    let mut client = gateway.stub().await;
    let served = gateway.emulator.requests_served();
    let cases = [
        (
            with_block("profile", image()),
            "messages[0].content[1].image: model \"profile\" does not read images (its capabilities.input_modalities: text)",
        ),
        (
            with_block("chat", document()),
            "messages[0].content[1].document: model \"chat\" does not read documents (its capabilities.input_modalities: text, image)",
        ),
        (
            with_block(
                "chat",
                v1::content_block::Block::ToolResult(v1::ToolResultBlock {
                    tool_use_id: "t1".into(),
                    content: vec![v1::ToolResultContent {
                        content: Some(v1::tool_result_content::Content::Document(v1::DocumentBlock {
                            format: v1::DocumentFormat::Txt as i32,
                            name: "out".into(),
                            data: b"out".to_vec(),
                        })),
                    }],
                    status: 0,
                }),
            ),
            "messages[0].content[1].tool_result.content[0].document: model \"chat\" does not read documents",
        ),
        (
            v1::ConverseRequest {
                tool_config: Some(v1::ToolConfig {
                    tools: vec![v1::Tool {
                        name: "lookup".into(),
                        description: "d".into(),
                        input_schema_json: "{}".into(),
                        strict: None,
                    }],
                    ..Default::default()
                }),
                ..user_request("profile", "use a tool")
            },
            "tool_config: model \"profile\" does not use tools (its capabilities.tools is false)",
        ),
    ];
    for (request, message) in cases {
        let status = client.converse(request.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{message}");
        assert!(status.message().starts_with(message), "{:?} starts with {message:?}", status.message());
        let streamed = collect(&mut client, request).await.error.expect("refused");
        assert_eq!(streamed.message(), status.message());
    }
    assert_eq!(gateway.emulator.requests_served(), served, "nothing reached Bedrock");

    // What a model reads goes through.
    client.converse(with_block("chat", image())).await.unwrap();
}
