//! Prompt caching end to end (gateway -> real SDK -> emulator): the caller's cache points in the
//! exact body Bedrock receives, cache usage in both RPCs and in the request's log line, cache
//! points dropped for a model without prompt caching, and the ones Bedrock would refuse refused
//! with their field. Also the stream and request fixes that came with them: Converse has no time
//! to first token, content blocks the API does not carry leave no trace in the stream, and
//! conversations Bedrock would refuse are refused here first.

use bedrock_gateway::catalog::config::PromptCachingConfig;
use bedrock_gateway_proto::v1;
use bedrock_gateway_testkit::{ANSWER_TOKENS, LogCapture, TestGateway, collect, user_request};
use serde_json::{Value, json};
use tonic::Code;
use v1::content_block::Block;
use v1::converse_stream_event::Event;

/// `chat` caches; `profile` does not; `unknown-block` answers after a block no SDK knows.
async fn gateway() -> TestGateway {
    TestGateway::start_with(|config| {
        config.models.get_mut("chat").unwrap().capabilities.prompt_caching = Some(true);
        let mut unknown = config.models["profile"].clone();
        unknown.model_id = "fault.unknown-block".into();
        config.models.insert("unknown-block".into(), unknown);
    })
    .await
}

fn cache_point(ttl: v1::CacheTtl) -> v1::CachePoint {
    v1::CachePoint { ttl: ttl as i32 }
}

fn block(block: Block) -> v1::ContentBlock {
    v1::ContentBlock { block: Some(block) }
}

/// A cache point after the tools (1 token: the tool's name; the emulator counts words), after the
/// system prompt (3 words, for an hour) and after the user's document (`document`), then the
/// question.
fn cached_request(model: &str, document: &str, question: &str) -> v1::ConverseRequest {
    v1::ConverseRequest {
        system: vec![
            v1::SystemBlock { block: Some(v1::system_block::Block::Text("be very brief".into())) },
            v1::SystemBlock { block: Some(v1::system_block::Block::CachePoint(cache_point(v1::CacheTtl::OneHour))) },
        ],
        tool_config: Some(v1::ToolConfig {
            tools: vec![v1::Tool {
                name: "lookup".into(),
                description: String::new(),
                input_schema_json: r#"{"type":"object"}"#.into(),
                strict: None,
            }],
            tool_choice: None,
            cache_point: Some(cache_point(v1::CacheTtl::Unspecified)),
        }),
        messages: vec![v1::Message {
            role: v1::Role::User as i32,
            content: vec![
                block(Block::Text(document.into())),
                block(Block::CachePoint(cache_point(v1::CacheTtl::FiveMinutes))),
                block(Block::Text(question.into())),
            ],
        }],
        ..user_request(model, "")
    }
}

/// What a stream's usage event says, with the request id from its start.
async fn streamed(gateway: &TestGateway, request: v1::ConverseRequest) -> (String, v1::TokenUsage) {
    let collected = collect(&mut gateway.stub().await, request).await;
    assert!(collected.error.is_none(), "{:?}", collected.error);
    let Some(Event::Start(start)) = collected.events.first() else { panic!("{:?}", collected.events) };
    (start.request_id.clone(), collected.usage.unwrap().usage.unwrap())
}

async fn conversed(gateway: &TestGateway, request: v1::ConverseRequest) -> (String, v1::TokenUsage) {
    let response = gateway.stub().await.converse(request).await.unwrap().into_inner();
    (response.request_id, response.usage.unwrap())
}

fn counts(usage: &v1::TokenUsage) -> [u32; 5] {
    [
        usage.input_tokens,
        usage.cache_read_input_tokens,
        usage.cache_write_input_tokens,
        usage.output_tokens,
        usage.total_tokens,
    ]
}

fn no_cache_points(body: &Value) -> bool {
    !body.to_string().contains("cachePoint")
}

#[tokio::test]
async fn the_callers_cache_points_reach_bedrock_as_sent() {
    let gateway = gateway().await;
    for stream in [true, false] {
        let request = cached_request("chat", "a long shared document", "what now");
        if stream {
            streamed(&gateway, request).await;
        } else {
            conversed(&gateway, request).await;
        }
        let body = gateway.emulator.last_request_body().unwrap();
        assert_eq!(
            body["system"],
            json!([{"text": "be very brief"}, {"cachePoint": {"type": "default", "ttl": "1h"}}])
        );
        assert_eq!(body["toolConfig"]["tools"][1], json!({"cachePoint": {"type": "default"}}));
        assert_eq!(body["toolConfig"]["tools"].as_array().unwrap().len(), 2);
        assert_eq!(
            body["messages"],
            json!([{"role": "user", "content": [
                {"text": "a long shared document"},
                {"cachePoint": {"type": "default", "ttl": "5m"}},
                {"text": "what now"},
            ]}])
        );
    }
}

#[tokio::test]
async fn the_same_prefix_is_written_once_then_read_on_both_rpcs() {
    let log = LogCapture::install();
    let gateway = gateway().await;
    let answer = ANSWER_TOKENS as u32;
    // Before the last cache point: 1 (tool) + 3 (system) + 4 (document) tokens; after it the
    // question's 2.
    let (first, usage) = streamed(&gateway, cached_request("chat", "a long shared document", "what now")).await;
    assert_eq!(counts(&usage), [2, 0, 8, answer, 10 + answer], "the first request writes");
    let (_, usage) = streamed(&gateway, cached_request("chat", "a long shared document", "and then")).await;
    assert_eq!(counts(&usage), [2, 8, 0, answer, 10 + answer], "the next one reads");
    let (_, usage) = conversed(&gateway, cached_request("chat", "another long shared document", "what now")).await;
    assert_eq!(counts(&usage), [2, 4, 4, answer, 10 + answer], "tools and system read, the new document written");
    let (read, usage) = conversed(&gateway, cached_request("chat", "another long shared document", "why")).await;
    assert_eq!(counts(&usage), [1, 8, 0, answer, 9 + answer]);

    let line = log.request_line(&first).await;
    assert_eq!(
        (line["cache_read_input_tokens"].clone(), line["cache_write_input_tokens"].clone()),
        (json!(0), json!(8))
    );
    assert_eq!(line["input_tokens"], 2);
    let line = log.request_line(&read).await;
    assert_eq!(
        (line["cache_read_input_tokens"].clone(), line["cache_write_input_tokens"].clone()),
        (json!(8), json!(0))
    );
}

#[tokio::test]
async fn a_model_without_prompt_caching_never_sees_cache_points() {
    let gateway = gateway().await;
    let answer = ANSWER_TOKENS as u32;
    for stream in [true, false] {
        let request = cached_request("profile", "a long shared document", "what now");
        let (_, usage) = if stream { streamed(&gateway, request).await } else { conversed(&gateway, request).await };
        let body = gateway.emulator.last_request_body().unwrap();
        assert!(no_cache_points(&body), "{body}");
        assert_eq!(body["system"], json!([{"text": "be very brief"}]));
        assert_eq!(body["messages"][0]["content"], json!([{"text": "a long shared document"}, {"text": "what now"}]));
        assert_eq!(counts(&usage), [10, 0, 0, answer, 10 + answer], "nothing cached: every token is input");
    }
}

#[tokio::test]
async fn cache_points_bedrock_would_refuse_are_invalid_arguments_naming_the_field() {
    let gateway = TestGateway::start_with(|config| {
        let chat = config.models.get_mut("chat").unwrap();
        chat.prompt_caching = PromptCachingConfig { after_system: true, after_tools: false };
    })
    .await;
    let point = || block(Block::CachePoint(cache_point(v1::CacheTtl::Unspecified)));
    let text = |text: &str| block(Block::Text(text.into()));
    let with_content = |model: &str, content: Vec<v1::ContentBlock>| {
        let mut request = user_request(model, "");
        request.messages[0].content = content;
        request
    };
    let points = |count: usize| (0..count).flat_map(|_| [text("part"), point()]).collect::<Vec<_>>();
    let mut with_system = with_content("chat", points(4));
    with_system.system = vec![v1::SystemBlock { block: Some(v1::system_block::Block::Text("be brief".into())) }];
    let cases = [
        (with_content("profile", points(5)), "messages[0].content[9].cache_point", "5 cache points; at most 4"),
        (with_system, "messages[0].content[7].cache_point", "5 cache points, counting the 1 that model \"chat\" adds"),
        (with_content("chat", vec![point(), text("hello")]), "messages[0].content[0].cache_point", "first block"),
        (
            with_content("profile", vec![text("hello"), point(), point()]),
            "messages[0].content[2].cache_point",
            "follows another cache point",
        ),
    ];
    for (request, field, says) in cases {
        let status = gateway.stub().await.converse_stream(request.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().starts_with(&format!("{field}: ")), "{}", status.message());
        assert!(status.message().contains(says), "{}", status.message());
        assert_eq!(gateway.stub().await.converse(request).await.unwrap_err().message(), status.message());
    }
    assert_eq!(gateway.emulator.requests_served(), 0);
}

#[tokio::test]
async fn converse_reports_no_time_to_first_token() {
    let log = LogCapture::install();
    let gateway = gateway().await;
    let response = gateway.stub().await.converse(user_request("chat", "all at once")).await.unwrap().into_inner();
    let timing = response.timing.unwrap();
    assert!(timing.time_to_first_token.is_none() && timing.total.is_some(), "{timing:?}");
    let line = log.request_line(&response.request_id).await;
    assert!(line.get("ttft_ms").is_none() && line["duration_ms"].is_number(), "{line}");
}

#[tokio::test]
async fn blocks_the_api_does_not_carry_leave_no_trace_in_the_stream() {
    let gateway = gateway().await;
    let mut request = user_request("unknown-block", "use a tool");
    request.tool_config = cached_request("chat", "d", "q").tool_config;
    let collected = collect(&mut gateway.stub().await, request.clone()).await;
    assert!(collected.error.is_none(), "{:?}", collected.error);
    let mut shape: Vec<_> = collected
        .events
        .iter()
        .filter_map(|event| match event {
            Event::ContentBlockStart(start) => Some(("start", start.content_block_index)),
            Event::ContentBlockDelta(delta) => Some(("delta", delta.content_block_index)),
            Event::ContentBlockStop(stop) => Some(("stop", stop.content_block_index)),
            _ => None,
        })
        .collect();
    shape.dedup();
    // Bedrock's block 0 is of a kind the SDK does not know: no start, no delta, no stop of it, and
    // the text (Bedrock's 1) and the tool use (Bedrock's 2) are the caller's 0 and 1, as in Converse.
    assert_eq!(shape, [("delta", 0), ("stop", 0), ("start", 1), ("delta", 1), ("stop", 1)]);
    let output = gateway.stub().await.converse(request).await.unwrap().into_inner().output.unwrap();
    assert!(matches!(
        output.content.iter().map(|block| block.block.as_ref()).collect::<Vec<_>>().as_slice(),
        [Some(Block::Text(_)), Some(Block::ToolUse(_))]
    ));
}

#[tokio::test]
async fn conversations_bedrock_would_refuse_are_refused_with_the_field() {
    let gateway = gateway().await;
    let mut twice = user_request("chat", "hello");
    twice.messages.push(twice.messages[0].clone());
    let result = |item: v1::tool_result_content::Content| {
        let mut request = user_request("chat", "");
        request.messages[0].content = vec![block(Block::ToolResult(v1::ToolResultBlock {
            tool_use_id: "t1".into(),
            content: vec![v1::ToolResultContent { content: Some(item) }],
            status: 0,
        }))];
        request
    };
    use v1::tool_result_content::Content;
    let cases = [
        (twice, "messages[1].role: ROLE_USER twice in a row; messages must alternate"),
        (result(Content::Text(String::new())), "messages[0].content[0].tool_result.content[0].text: must not be empty"),
        (result(Content::Json(String::new())), "messages[0].content[0].tool_result.content[0].json: is not valid JSON"),
    ];
    for (request, message) in cases {
        let status = gateway.stub().await.converse_stream(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().starts_with(message), "{}", status.message());
    }
    assert_eq!(gateway.emulator.requests_served(), 0);
}
