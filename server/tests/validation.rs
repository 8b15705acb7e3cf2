//! Bad input is refused before Bedrock is called, with the right code and a message naming the
//! field or the alias, and the gateway keeps serving: fields, messages that do not decode, enum
//! values the API does not define, and bodies that are not gRPC with protobuf.

use bedrock_gateway_proto::{limits, v1};
use bedrock_gateway_testkit::{TestGateway, collect, grpc_call, grpc_frame, user_request};
use tonic::Code;

async fn refused(gateway: &TestGateway, request: v1::ConverseRequest) -> tonic::Status {
    let mut client = gateway.stub().await;
    let status = client.converse_stream(request.clone()).await.expect_err("the request is refused");
    let unary = client.converse(request).await.expect_err("Converse refuses it too");
    assert_eq!(unary.code(), status.code());
    status
}

#[tokio::test]
async fn unknown_alias_is_not_found_and_lists_the_valid_ones() {
    let gateway = TestGateway::start().await;
    let status = refused(&gateway, user_request("gpt-4", "hello")).await;
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("\"gpt-4\""), "{}", status.message());
    assert!(status.message().contains("chat, "), "lists the offered models: {}", status.message());
    assert_eq!(gateway.emulator.requests_served(), 0);
}

#[tokio::test]
async fn invalid_fields_are_named_and_never_reach_bedrock() {
    let gateway = TestGateway::start().await;
    let with_inference = |config: v1::InferenceConfig| {
        let mut request = user_request("chat", "hello");
        request.inference_config = Some(config);
        request
    };
    let no_messages = v1::ConverseRequest { model: "chat".into(), ..Default::default() };
    let mut empty_text = user_request("chat", "");
    empty_text.messages[0].content[0].block = Some(v1::content_block::Block::Text("   ".into()));
    let mut no_role = user_request("chat", "hello");
    no_role.messages[0].role = 0;
    let cases = [
        (no_messages, "messages"),
        (user_request("", "hello"), "model"),
        (empty_text, "messages[0].content[0].text"),
        (no_role, "messages[0].role"),
        (
            with_inference(v1::InferenceConfig { temperature: Some(2.0), ..Default::default() }),
            "inference_config.temperature",
        ),
        (with_inference(v1::InferenceConfig { top_p: Some(-0.1), ..Default::default() }), "inference_config.top_p"),
        (
            with_inference(v1::InferenceConfig { max_tokens: Some(1001), ..Default::default() }),
            "inference_config.max_tokens",
        ),
        (
            with_inference(v1::InferenceConfig { max_tokens: Some(0), ..Default::default() }),
            "inference_config.max_tokens",
        ),
    ];
    for (request, field) in cases {
        let status = refused(&gateway, request).await;
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {}", status.message());
        assert!(status.message().starts_with(&format!("{field}: ")), "names {field}: {}", status.message());
    }
    let over_cap =
        refused(&gateway, with_inference(v1::InferenceConfig { max_tokens: Some(5000), ..Default::default() })).await;
    assert!(over_cap.message().contains("1 to 1000"), "says what is allowed: {}", over_cap.message());
    assert_eq!(gateway.emulator.requests_served(), 0, "nothing reached Bedrock");

    let mut client = gateway.stub().await;
    assert!(collect(&mut client, user_request("chat", "still serving?")).await.usage.is_some());
}

#[tokio::test]
async fn requests_over_the_count_limits_are_refused_before_bedrock_is_called() {
    let gateway = TestGateway::start().await;
    let tiny = v1::ContentBlock { block: Some(v1::content_block::Block::Text("x".into())) };
    let mut too_many_blocks = user_request("chat", "hello");
    too_many_blocks.messages[0].content = vec![tiny.clone(); limits::BLOCKS_PER_MESSAGE + 1];
    // Within every per-message limit, but one block over the limit for the whole conversation.
    let mut too_many_in_all = user_request("chat", "hello");
    too_many_in_all.messages = (0..=limits::CONTENT_BLOCKS / limits::BLOCKS_PER_MESSAGE)
        .map(|index| v1::Message {
            role: if index.is_multiple_of(2) { v1::Role::User } else { v1::Role::Assistant } as i32,
            content: vec![tiny.clone(); if index == 0 { 1 } else { limits::BLOCKS_PER_MESSAGE }],
        })
        .collect();
    let long_name = user_request(&"chat".repeat(100), "hello");
    let cases = [
        (too_many_blocks, "messages[0].content", "at most 100"),
        (too_many_in_all, "messages", "at most 10000"),
        (long_name, "model", "at most 64"),
    ];
    for (request, field, limit) in cases {
        let status = refused(&gateway, request).await;
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {}", status.message());
        assert!(status.message().starts_with(&format!("{field}: ")), "names {field}: {}", status.message());
        assert!(status.message().contains(limit), "says {limit}: {}", status.message());
    }
    assert_eq!(gateway.emulator.requests_served(), 0, "nothing reached Bedrock");
}

#[tokio::test]
async fn oversized_request_is_resource_exhausted_and_the_server_keeps_serving() {
    let gateway = TestGateway::start().await;
    let mut client = gateway.stub().await.max_encoding_message_size(64 * 1024 * 1024);
    let mut request = user_request("chat", "describe this image");
    request.messages[0].content.push(v1::ContentBlock {
        block: Some(v1::content_block::Block::Image(v1::ImageBlock {
            format: v1::ImageFormat::Png as i32,
            data: vec![7u8; 5 * 1024 * 1024],
        })),
    });
    let status = client.converse_stream(request).await.expect_err("a 5 MiB request is refused");
    assert_eq!(status.code(), Code::ResourceExhausted, "{}", status.message());
    assert!(status.message().contains("4194304 bytes"), "{}", status.message());
    assert_eq!(gateway.emulator.requests_served(), 0);

    let collected = collect(&mut client, user_request("chat", "and now a small one")).await;
    assert!(collected.usage.is_some(), "{:?}", collected.error);
}

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_are_shed() {
    let gateway = TestGateway::start_with(|config| {
        config.server.max_concurrent_requests = 2;
        config.server.max_concurrent_requests_per_caller = Some(2);
    })
    .await;
    let mut client = gateway.stub().await;
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut stream = client.converse_stream(user_request("fault-stall", "hold")).await.unwrap().into_inner();
        stream.message().await.unwrap();
        open.push(stream);
    }
    let status = client.converse_stream(user_request("chat", "one more")).await.expect_err("at capacity");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(status.message().contains("capacity"), "{}", status.message());
    drop(open);
    // Permits return when the streams are dropped; the next request is admitted.
    let mut admitted = false;
    for _ in 0..50 {
        if collect(&mut client, user_request("chat", "again")).await.usage.is_some() {
            admitted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(admitted);
}

/// The status of a trailers-only response: its headers, with their HTTP status.
fn refusal(response: &http::Response<h2::RecvStream>) -> (http::StatusCode, tonic::Status) {
    let status = tonic::Status::from_header_map(response.headers()).expect("a gRPC status in the headers");
    (response.status(), status)
}

#[tokio::test]
async fn a_message_that_does_not_decode_is_invalid_argument_naming_its_type() {
    let gateway = TestGateway::start().await;
    let mut raw = gateway.raw_http2(65_535).await;
    // One gRPC message of 3 bytes: field 2 (length-delimited) declares 5 bytes and has 1.
    let undecodable = bytes::Bytes::from_static(&[0, 0, 0, 0, 3, 0x12, 0x05, 0x01]);
    for (method, message) in [
        ("Converse", "ConverseRequest"),
        ("ConverseStream", "ConverseRequest"),
        ("CountTokens", "ConverseRequest"),
        ("Embed", "EmbedRequest"),
    ] {
        let (response, mut body) = raw.send_request(grpc_call(method), false).unwrap();
        body.send_data(undecodable.clone(), true).unwrap();
        let (_, status) = refusal(&response.await.unwrap());
        assert_eq!(status.code(), Code::InvalidArgument, "{method}: {}", status.message());
        let says = format!("the request message does not decode as bedrock.gateway.v1.{message}: ");
        assert!(status.message().starts_with(&says), "{method}: {}", status.message());
    }
    assert_eq!(gateway.emulator.requests_served(), 0);
}

#[tokio::test]
async fn an_unknown_cache_ttl_is_refused_naming_the_field_and_the_values() {
    let gateway = TestGateway::start().await;
    let point = |ttl| v1::CachePoint { ttl };
    let mut in_message = user_request("chat", "hello");
    in_message.messages[0]
        .content
        .push(v1::ContentBlock { block: Some(v1::content_block::Block::CachePoint(point(7))) });
    let mut in_system = user_request("chat", "hello");
    in_system.system = vec![
        v1::SystemBlock { block: Some(v1::system_block::Block::Text("be brief".into())) },
        v1::SystemBlock { block: Some(v1::system_block::Block::CachePoint(point(3))) },
    ];
    let mut after_tools = user_request("chat", "hello");
    after_tools.tool_config = Some(v1::ToolConfig {
        tools: vec![v1::Tool {
            name: "lookup".into(),
            description: "d".into(),
            input_schema_json: r#"{"type":"object"}"#.into(),
            strict: None,
        }],
        cache_point: Some(point(-1)),
        ..Default::default()
    });
    for (request, field, value) in [
        (in_message, "messages[0].content[1].cache_point.ttl", 7),
        (in_system, "system[1].cache_point.ttl", 3),
        (after_tools, "tool_config.cache_point.ttl", -1),
    ] {
        let message = gateway.invalid_argument(request).await;
        assert_eq!(
            message,
            format!(
                "{field}: {value} is not a CacheTtl; use CACHE_TTL_FIVE_MINUTES, CACHE_TTL_ONE_HOUR or leave it unset"
            )
        );
    }
}

#[tokio::test]
async fn only_grpc_with_protobuf_is_read() {
    let gateway = TestGateway::start().await;
    let mut raw = gateway.raw_http2(65_535).await;
    let call = |content_type: Option<&str>| {
        let mut call = grpc_call("Converse");
        match content_type {
            Some(content_type) => call.headers_mut().insert("content-type", content_type.parse().unwrap()),
            None => call.headers_mut().remove("content-type"),
        };
        call
    };
    let served = grpc_frame(&user_request("chat", "hello"));
    for content_type in ["application/grpc", "application/grpc+proto", "Application/GRPC+Proto"] {
        let (response, mut body) = raw.send_request(call(Some(content_type)), false).unwrap();
        body.send_data(served.clone(), true).unwrap();
        let response = response.await.unwrap();
        assert_eq!(response.status(), 200, "{content_type}");
        let mut answer = response.into_body();
        while answer.data().await.is_some() {}
        let trailers = answer.trailers().await.unwrap().expect("trailers");
        assert_eq!(trailers["grpc-status"], "0", "{content_type}: {trailers:?}");
    }
    assert_eq!(gateway.emulator.requests_served(), 3);

    // A gRPC client with another codec gets a gRPC status its library shows; anything else, 415.
    let cases = [
        (Some("application/grpc+json"), http::StatusCode::OK, "content-type \"application/grpc+json\" is not served"),
        (Some("application/grpc-web"), http::StatusCode::OK, "content-type \"application/grpc-web\" is not served"),
        (
            Some("application/json"),
            http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content-type \"application/json\" is not",
        ),
        (None, http::StatusCode::UNSUPPORTED_MEDIA_TYPE, "the request has no content-type"),
    ];
    for (content_type, http_status, says) in cases {
        let (response, mut body) = raw.send_request(call(content_type), false).unwrap();
        body.send_data(served.clone(), true).unwrap();
        let (status_code, status) = refusal(&response.await.unwrap());
        assert_eq!(status_code, http_status, "{content_type:?}");
        assert_eq!(status.code(), Code::InvalidArgument, "{content_type:?}");
        assert!(status.message().starts_with(says), "{content_type:?}: {}", status.message());
        assert!(status.message().ends_with("(content-type application/grpc or application/grpc+proto)"));
        assert!(status.metadata().get("x-request-id").is_some());
    }
    assert_eq!(gateway.emulator.requests_served(), 3, "nothing misread reached Bedrock");
}
