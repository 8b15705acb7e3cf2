//! The codec against the real AWS SDK for Rust: a loopback server answers the SDK with this
//! module's functions, so the SDK's own serializers write the bodies decoded here, and its own
//! deserializers read the answers, frames and errors encoded here.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region, StalledStreamProtectionConfig};
use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::operation::RequestId;
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{self as sdk, ContentBlockDelta, ConverseStreamOutput};
use aws_smithy_types::Document;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::response::Response;
use axum::routing::post;
use bedrock_gateway_proto::v1;
use tonic::{Code, Status};
use v1::content_block::Block;

use super::*;
use crate::error::{REQUEST_ID_HEADER, RETRY_PUSHBACK_HEADER};

/// The most any exchange with the loopback server takes.
const BOUND: Duration = Duration::from_secs(10);

/// What the server decoded, for the test to look at.
type Seen<T> = Arc<Mutex<Option<T>>>;

/// A loopback server for `router`; the SDK client pointed at it, without retries.
async fn client_of(router: Router) -> Client {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let config = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .retry_config(RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

fn json_response(body: Bytes) -> Response {
    Response::builder().header("content-type", "application/json").body(Body::from(body)).unwrap()
}

fn user(blocks: Vec<sdk::ContentBlock>) -> sdk::Message {
    sdk::Message::builder().role(sdk::ConversationRole::User).set_content(Some(blocks)).build().unwrap()
}

fn text_answer() -> v1::ConverseResponse {
    v1::ConverseResponse {
        output: Some(v1::Message {
            role: v1::Role::Assistant as i32,
            content: vec![
                v1::ContentBlock {
                    block: Some(Block::Reasoning(v1::ReasoningBlock {
                        text: "hmm".into(),
                        signature: "sig".into(),
                        redacted: Vec::new(),
                    })),
                },
                v1::ContentBlock { block: Some(Block::Text("Sunny.".into())) },
                v1::ContentBlock {
                    block: Some(Block::ToolUse(v1::ToolUseBlock {
                        tool_use_id: "t1".into(),
                        name: "weather".into(),
                        input_json: r#"{"city":"Paris"}"#.into(),
                    })),
                },
            ],
        }),
        stop_reason: v1::StopReason::ToolUse as i32,
        usage: Some(v1::TokenUsage {
            input_tokens: 7,
            output_tokens: 5,
            total_tokens: 15,
            cache_read_input_tokens: 3,
            cache_write_input_tokens: 0,
        }),
        timing: Some(v1::Timing {
            time_to_first_token: None,
            total: Some(prost_types::Duration { seconds: 2, nanos: 0 }),
        }),
        ..v1::ConverseResponse::default()
    }
}

#[tokio::test]
async fn the_sdks_converse_request_decodes_and_its_answer_parses() {
    let seen: Seen<v1::ConverseRequest> = Arc::default();
    let decoded = seen.clone();
    let router = Router::new().route(
        "/model/{model}/converse",
        post(move |Path(model): Path<String>, body: Bytes| async move {
            *decoded.lock().unwrap() = Some(converse_request(&model, &body).unwrap());
            json_response(converse_response(&text_answer()))
        }),
    );
    let client = client_of(router).await;
    let schema = Document::Object([("type".to_owned(), Document::from("object"))].into());
    let tool = sdk::ToolSpecification::builder()
        .name("weather")
        .description("Forecasts.")
        .input_schema(sdk::ToolInputSchema::Json(schema))
        .build()
        .unwrap();
    let image = sdk::ImageBlock::builder()
        .format(sdk::ImageFormat::Png)
        .source(sdk::ImageSource::Bytes(Blob::new(vec![0x89, b'P', b'N', b'G', 0, 255])))
        .build()
        .unwrap();
    let cache_point = sdk::CachePointBlock::builder().r#type(sdk::CachePointType::Default).build().unwrap();
    let thinking = Document::Object(
        [(
            "thinking".to_owned(),
            Document::Object(
                [("type".to_owned(), Document::from("enabled")), ("budget_tokens".to_owned(), Document::from(2048u64))]
                    .into(),
            ),
        )]
        .into(),
    );
    let answer = tokio::time::timeout(
        BOUND,
        client
            .converse()
            .model_id("chat")
            .messages(user(vec![
                sdk::ContentBlock::Text("Weather?".into()),
                sdk::ContentBlock::Image(image),
                sdk::ContentBlock::CachePoint(cache_point.clone()),
            ]))
            .system(sdk::SystemContentBlock::Text("Be brief.".into()))
            .inference_config(sdk::InferenceConfiguration::builder().max_tokens(4096).stop_sequences("END").build())
            .tool_config(
                sdk::ToolConfiguration::builder()
                    .tools(sdk::Tool::ToolSpec(tool))
                    .tools(sdk::Tool::CachePoint(cache_point))
                    .tool_choice(sdk::ToolChoice::Auto(sdk::AutoToolChoice::builder().build()))
                    .build()
                    .unwrap(),
            )
            .additional_model_request_fields(thinking)
            .request_metadata("team", "search")
            .send(),
    )
    .await
    .unwrap()
    .unwrap();

    let request = seen.lock().unwrap().take().unwrap();
    assert_eq!(request.model, "chat");
    let content: Vec<_> = request.messages[0].content.iter().map(|block| block.block.clone().unwrap()).collect();
    assert_eq!(
        content,
        vec![
            Block::Text("Weather?".into()),
            Block::Image(v1::ImageBlock {
                format: v1::ImageFormat::Png as i32,
                data: vec![0x89, b'P', b'N', b'G', 0, 255]
            }),
            Block::CachePoint(v1::CachePoint { ttl: 0 }),
        ]
    );
    assert_eq!(
        request.system,
        vec![v1::SystemBlock { block: Some(v1::system_block::Block::Text("Be brief.".into())) }]
    );
    let inference = request.inference_config.unwrap();
    assert_eq!((inference.max_tokens, inference.stop_sequences), (Some(4096), vec!["END".to_owned()]));
    let tools = request.tool_config.unwrap();
    assert_eq!(tools.tools[0].input_schema_json, r#"{"type":"object"}"#);
    assert!(tools.cache_point.is_some());
    assert_eq!(tools.tool_choice.unwrap().choice, Some(v1::tool_choice::Choice::Auto(v1::AutoToolChoice {})));
    assert_eq!(request.reasoning, Some(v1::ReasoningConfig { effort: 0, budget_tokens: Some(2048) }));
    assert_eq!(request.request_metadata["team"], "search");

    let Some(sdk::ConverseOutput::Message(message)) = answer.output() else { panic!("a message") };
    assert_eq!(message.role, sdk::ConversationRole::Assistant);
    let sdk::ContentBlock::ReasoningContent(sdk::ReasoningContentBlock::ReasoningText(reasoning)) = &message.content[0]
    else {
        panic!("{:?}", message.content[0])
    };
    assert_eq!((reasoning.text.as_str(), reasoning.signature.as_deref()), ("hmm", Some("sig")));
    assert_eq!(message.content[1], sdk::ContentBlock::Text("Sunny.".into()));
    let sdk::ContentBlock::ToolUse(tool_use) = &message.content[2] else { panic!("{:?}", message.content[2]) };
    assert_eq!((tool_use.tool_use_id.as_str(), tool_use.name.as_str()), ("t1", "weather"));
    assert_eq!(tool_use.input, Document::Object([("city".to_owned(), Document::from("Paris"))].into()));
    assert_eq!(answer.stop_reason, sdk::StopReason::ToolUse);
    let usage = answer.usage().unwrap();
    assert_eq!((usage.input_tokens, usage.output_tokens, usage.total_tokens), (7, 5, 15));
    assert_eq!((usage.cache_read_input_tokens, usage.cache_write_input_tokens), (Some(3), Some(0)));
    assert_eq!(answer.metrics().unwrap().latency_ms, 2000);
}

fn event(event: v1::converse_stream_event::Event) -> Result<v1::ConverseStreamEvent, Status> {
    Ok(v1::ConverseStreamEvent { event: Some(event) })
}

fn delta(index: u32, delta: v1::content_block_delta::Delta) -> Result<v1::ConverseStreamEvent, Status> {
    event(v1::converse_stream_event::Event::ContentBlockDelta(v1::ContentBlockDelta {
        content_block_index: index,
        delta: Some(delta),
    }))
}

/// A client whose ConverseStream is answered with `events`.
async fn streaming(events: Vec<Result<v1::ConverseStreamEvent, Status>>) -> Client {
    let events = Arc::new(Mutex::new(Some(events)));
    let router = Router::new().route(
        "/model/{model}/converse-stream",
        post(move |Path(model): Path<String>, body: Bytes| async move {
            converse_request(&model, &body).unwrap();
            let events = events.lock().unwrap().take().unwrap();
            Response::builder()
                .header("content-type", "application/vnd.amazon.eventstream")
                .body(Body::from_stream(event_stream(futures::stream::iter(events))))
                .unwrap()
        }),
    );
    client_of(router).await
}

#[tokio::test]
async fn the_sdk_reads_every_event_of_a_stream_and_raises_the_exception_that_cuts_one() {
    use v1::content_block_delta::Delta;
    use v1::converse_stream_event::Event;
    let events = vec![
        event(Event::Start(v1::StreamStart::default())),
        delta(0, Delta::ReasoningText("Think".into())),
        delta(0, Delta::ReasoningSignature("sig".into())),
        event(Event::ContentBlockStop(v1::ContentBlockStop { content_block_index: 0 })),
        delta(1, Delta::ReasoningRedacted(vec![1, 2, 3])),
        event(Event::ContentBlockStop(v1::ContentBlockStop { content_block_index: 1 })),
        delta(2, Delta::Text("Checking.".into())),
        event(Event::ContentBlockStop(v1::ContentBlockStop { content_block_index: 2 })),
        event(Event::ContentBlockStart(v1::ContentBlockStart {
            content_block_index: 3,
            start: Some(v1::content_block_start::Start::ToolUse(v1::ToolUseStart {
                tool_use_id: "t1".into(),
                name: "weather".into(),
            })),
        })),
        delta(3, Delta::ToolUseInputJson("{\"city\":\"Paris\"}".into())),
        event(Event::ContentBlockStop(v1::ContentBlockStop { content_block_index: 3 })),
        event(Event::Stop(v1::StreamStop { stop_reason: v1::StopReason::ToolUse as i32 })),
        event(Event::Usage(v1::StreamUsage {
            usage: Some(v1::TokenUsage { input_tokens: 4, output_tokens: 6, total_tokens: 10, ..Default::default() }),
            timing: Some(v1::Timing {
                time_to_first_token: None,
                total: Some(prost_types::Duration { seconds: 0, nanos: 5_000_000 }),
            }),
        })),
    ];
    let client = streaming(events).await;
    let mut output = tokio::time::timeout(
        BOUND,
        client.converse_stream().model_id("chat").messages(user(vec![sdk::ContentBlock::Text("hi".into())])).send(),
    )
    .await
    .unwrap()
    .unwrap();
    let mut seen = Vec::new();
    while let Some(event) = tokio::time::timeout(BOUND, output.stream.recv()).await.unwrap().unwrap() {
        seen.push(match event {
            ConverseStreamOutput::MessageStart(start) => format!("start {}", start.role),
            ConverseStreamOutput::ContentBlockStart(start) => match start.start.unwrap() {
                sdk::ContentBlockStart::ToolUse(tool) => {
                    format!("{} tool {} {}", start.content_block_index, tool.tool_use_id, tool.name)
                }
                other => panic!("{other:?}"),
            },
            ConverseStreamOutput::ContentBlockDelta(delta) => {
                let index = delta.content_block_index;
                match delta.delta.unwrap() {
                    ContentBlockDelta::Text(text) => format!("{index} text {text}"),
                    ContentBlockDelta::ToolUse(tool) => format!("{index} input {}", tool.input),
                    ContentBlockDelta::ReasoningContent(sdk::ReasoningContentBlockDelta::Text(text)) => {
                        format!("{index} reasoning {text}")
                    }
                    ContentBlockDelta::ReasoningContent(sdk::ReasoningContentBlockDelta::Signature(signature)) => {
                        format!("{index} signature {signature}")
                    }
                    ContentBlockDelta::ReasoningContent(sdk::ReasoningContentBlockDelta::RedactedContent(blob)) => {
                        format!("{index} redacted {:?}", blob.into_inner())
                    }
                    other => panic!("{other:?}"),
                }
            }
            ConverseStreamOutput::ContentBlockStop(stop) => format!("{} stop", stop.content_block_index),
            ConverseStreamOutput::MessageStop(stop) => format!("stop {}", stop.stop_reason),
            ConverseStreamOutput::Metadata(metadata) => {
                let usage = metadata.usage.unwrap();
                let latency = metadata.metrics.unwrap().latency_ms;
                format!("usage {} {} {} in {latency} ms", usage.input_tokens, usage.output_tokens, usage.total_tokens)
            }
            other => panic!("{other:?}"),
        });
    }
    assert_eq!(
        seen,
        [
            "start assistant",
            "0 reasoning Think",
            "0 signature sig",
            "0 stop",
            "1 redacted [1, 2, 3]",
            "1 stop",
            "2 text Checking.",
            "2 stop",
            "3 tool t1 weather",
            "3 input {\"city\":\"Paris\"}",
            "3 stop",
            "stop tool_use",
            "usage 4 6 10 in 5 ms",
        ]
    );

    let mut throttled = Status::resource_exhausted("Bedrock throttled the model; the answer is incomplete");
    throttled.metadata_mut().insert(REQUEST_ID_HEADER, "req-9".parse().unwrap());
    let client = streaming(vec![
        event(Event::Start(v1::StreamStart::default())),
        delta(0, Delta::Text("Hal".into())),
        Err(throttled),
    ])
    .await;
    let mut output = client
        .converse_stream()
        .model_id("chat")
        .messages(user(vec![sdk::ContentBlock::Text("hi".into())]))
        .send()
        .await
        .unwrap();
    let mut events = 0;
    let error = loop {
        match tokio::time::timeout(BOUND, output.stream.recv()).await.unwrap() {
            Ok(Some(_)) => events += 1,
            Ok(None) => panic!("a cut stream must not end cleanly"),
            Err(error) => break error,
        }
    };
    assert_eq!(events, 2, "the events before the cut arrive");
    let ConverseStreamOutputError::ThrottlingException(exception) = error.into_service_error() else {
        panic!("a throttling exception")
    };
    assert_eq!(exception.message(), Some("Bedrock throttled the model; the answer is incomplete"));
}

#[tokio::test]
async fn the_sdk_raises_the_exception_each_error_maps_to() {
    let status = Arc::new(Mutex::new(Status::ok("")));
    let answer = status.clone();
    let router = Router::new()
        .route("/model/{model}/converse", post(move || async move { error_response(&answer.lock().unwrap()) }));
    let client = client_of(router).await;
    let with = |code: Code, pushback: Option<&str>| {
        let mut status = Status::new(code, format!("{code:?} happened"));
        status.metadata_mut().insert(REQUEST_ID_HEADER, "req-7".parse().unwrap());
        if let Some(pushback) = pushback {
            status.metadata_mut().insert(RETRY_PUSHBACK_HEADER, pushback.parse().unwrap());
        }
        status
    };
    let cases = [
        (with(Code::InvalidArgument, None), "ValidationException"),
        (with(Code::NotFound, None), "ResourceNotFoundException"),
        (with(Code::PermissionDenied, None), "AccessDeniedException"),
        (with(Code::Unauthenticated, None), "AccessDeniedException"),
        (with(Code::ResourceExhausted, Some("2500")), "ThrottlingException"),
        (with(Code::ResourceExhausted, Some("-1")), "ValidationException"),
        (with(Code::Unavailable, None), "ServiceUnavailableException"),
        (with(Code::DeadlineExceeded, None), "ModelTimeoutException"),
        (with(Code::FailedPrecondition, None), "ValidationException"),
        (with(Code::Unimplemented, None), "ValidationException"),
        (with(Code::Internal, None), "InternalServerException"),
    ];
    for (case, name) in cases {
        let message = case.message().to_owned();
        *status.lock().unwrap() = case;
        let request =
            client.converse().model_id("chat").messages(user(vec![sdk::ContentBlock::Text("hi".into())])).send();
        let error = tokio::time::timeout(BOUND, request).await.unwrap().unwrap_err();
        assert_eq!(error.request_id(), Some("req-7"), "{name}");
        let error = error.into_service_error();
        assert_eq!((error.code(), error.message()), (Some(name), Some(message.as_str())));
        let typed = match &error {
            ConverseError::ValidationException(_) => "ValidationException",
            ConverseError::ResourceNotFoundException(_) => "ResourceNotFoundException",
            ConverseError::AccessDeniedException(_) => "AccessDeniedException",
            ConverseError::ThrottlingException(_) => "ThrottlingException",
            ConverseError::ServiceUnavailableException(_) => "ServiceUnavailableException",
            ConverseError::ModelTimeoutException(_) => "ModelTimeoutException",
            ConverseError::InternalServerException(_) => "InternalServerException",
            other => panic!("{other:?}"),
        };
        assert_eq!(typed, name, "the SDK raises its own modelled exception");
    }
}

#[tokio::test]
async fn the_sdks_count_tokens_and_invoke_model_round_trip() {
    let router = Router::new()
        .route(
            "/model/{model}/count-tokens",
            post(|Path(model): Path<String>, body: Bytes| async move {
                let request = count_tokens_request(&model, &body).unwrap();
                assert_eq!(request.messages.len(), 1);
                json_response(count_tokens_response(&v1::CountTokensResponse {
                    input_tokens: 42,
                    ..v1::CountTokensResponse::default()
                }))
            }),
        )
        .route(
            "/model/{model}/invoke",
            post(|Path(model): Path<String>, body: Bytes| async move {
                let (request, shape) = embed_request(&model, &body).unwrap();
                assert_eq!((request.model.as_str(), request.texts.as_slice()), ("embed", &["hello".to_owned()][..]));
                let answer = v1::EmbedResponse {
                    embeddings: vec![v1::Embedding { values: vec![0.5, -0.5] }],
                    input_tokens: 1,
                    ..v1::EmbedResponse::default()
                };
                json_response(embed_response(&answer, shape))
            }),
        );
    let client = client_of(router).await;
    let input =
        sdk::ConverseTokensRequest::builder().messages(user(vec![sdk::ContentBlock::Text("hi".into())])).build();
    let counted = tokio::time::timeout(
        BOUND,
        client.count_tokens().model_id("counter").input(sdk::CountTokensInput::Converse(input)).send(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(counted.input_tokens, 42);
    let invoked = tokio::time::timeout(
        BOUND,
        client
            .invoke_model()
            .model_id("embed")
            .content_type("application/json")
            .body(Blob::new(br#"{"inputText": "hello"}"#.to_vec()))
            .send(),
    )
    .await
    .unwrap()
    .unwrap();
    let body: serde_json::Value = serde_json::from_slice(invoked.body.as_ref()).unwrap();
    assert_eq!(body, serde_json::json!({"embedding": [0.5, -0.5], "inputTextTokenCount": 1}));
}
