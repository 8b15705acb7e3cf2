//! The HTTP doors on the gateway's own port, as the edge and the transport serve them: HTTP/1.1 and
//! HTTP/2 on one listener beside gRPC; routing by content type and path; identity from the bearer
//! key (a SigV4 signature is no key); the edge's refusals in each door's shape; the size bound on
//! a door's body; a door turned off; the `protocol` label; drain closing HTTP/1.1 connections; and
//! the Rust AWS SDK, unmodified, streaming through the Bedrock-compatible door.

use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region, Token};
use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, ConverseStreamOutput, Message as BedrockMessage};
use bedrock_gateway::config::{EmbeddingFormat, QuotaLimits, TenantConfig};
use bedrock_gateway_testkit::{
    HttpClient, LogCapture, TestGateway, api_key_digest, embedding_model, grpc_status, metric_value, read_whole,
    sse_data,
};
use serde_json::json;

const KEY: &str = "payments-key";
const PROMPT: &str = "the secret prompt of the http doors test";

/// A gateway whose one tenant is known by its key, with a request quota of `requests_per_minute`.
async fn keyed(requests_per_minute: Option<u64>) -> TestGateway {
    TestGateway::start_with(|config| {
        config.models.get_mut("chat").unwrap().capabilities.count_tokens = true;
        let tenant = TenantConfig {
            api_keys: [("ci".to_owned(), api_key_digest(KEY).into())].into(),
            quotas: QuotaLimits { requests_per_minute, ..QuotaLimits::default() },
            ..TenantConfig::default()
        };
        config.tenants.insert("payments".into(), tenant);
    })
    .await
}

fn chat(stream: bool) -> serde_json::Value {
    json!({"model": "chat", "stream": stream, "messages": [{"role": "user", "content": PROMPT}]})
}

async fn both_versions(gateway: &TestGateway) -> [(&'static str, HttpClient); 2] {
    [("HTTP/1.1", gateway.http1().await), ("HTTP/2", gateway.http2().await)]
}

#[tokio::test]
async fn both_doors_answer_over_http1_and_http2_beside_grpc() {
    let gateway = keyed(None).await;
    for (version, mut client) in both_versions(&gateway).await {
        let streamed = client.post_json("/v1/chat/completions", Some(KEY), &chat(true)).await;
        assert_eq!(streamed.status, 200, "{version}: {}", streamed.text());
        assert!(streamed.header("content-type").unwrap().starts_with("text/event-stream"), "{version}");
        assert!(streamed.header("x-request-id").is_some(), "{version}");
        let events = sse_data(&streamed.text());
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{version}: {events:?}");

        let whole = client.post_json("/v1/chat/completions", Some(KEY), &chat(false)).await;
        assert_eq!(whole.status, 200, "{version}: {}", whole.text());
        assert_eq!(whole.json()["model"], "chat", "{version}");

        let converse = json!({"messages": [{"role": "user", "content": [{"text": PROMPT}]}]});
        let answer = client.post_json("/model/chat/converse", Some(KEY), &converse).await;
        assert_eq!(answer.status, 200, "{version}: {}", answer.text());
        assert!(answer.json()["stopReason"].is_string(), "{version}: {}", answer.text());
        assert_eq!(answer.header("x-amzn-requestid"), answer.header("x-request-id"), "{version}");
    }
    // gRPC on the same port, unchanged.
    let mut stub = gateway.stub().await;
    let request = bedrock_gateway_testkit::with_api_key(bedrock_gateway_testkit::user_request("chat", "hi"), KEY);
    assert!(stub.converse(request).await.is_ok());
}

#[tokio::test]
async fn refusals_at_the_edge_are_in_the_doors_shape() {
    let gateway = keyed(None).await;
    let mut client = gateway.http1().await;
    let openai = client.post_json("/v1/chat/completions", Some("wrong-key"), &chat(false)).await;
    assert_eq!(openai.status, 401, "{}", openai.text());
    assert!(openai.json()["error"]["message"].is_string(), "{}", openai.text());

    let converse = json!({"messages": [{"role": "user", "content": [{"text": PROMPT}]}]});
    let bedrock = client.post_json("/model/chat/converse", None, &converse).await;
    assert!(bedrock.status.is_client_error(), "{}", bedrock.text());
    assert!(bedrock.header("x-amzn-errortype").is_some(), "{:?}", bedrock.headers);
    assert!(bedrock.json()["message"].is_string(), "{}", bedrock.text());

    // A SigV4 signature carries no key: identified as a call without one, here refused.
    let sigv4 = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=00";
    let response = client
        .send(http::Method::POST, "/model/chat/converse", &[("authorization", sigv4)], converse.to_string())
        .await;
    let signed = read_whole(response).await;
    assert!(signed.status.is_client_error(), "{}", signed.text());
    assert!(signed.json()["message"].as_str().unwrap().contains("Bearer"), "{}", signed.text());
}

#[tokio::test]
async fn a_sigv4_request_is_identified_like_a_grpc_call_without_a_key() {
    // No tenant requires identity: the default tenant answers, whatever the signature says.
    let gateway = TestGateway::start().await;
    let sdk = bedrock_sdk(&gateway, None);
    let answer = sdk
        .converse()
        .model_id("chat")
        .messages(user_message("hello"))
        .send()
        .await
        .expect("an unmodified SDK, SigV4-signed, is answered");
    assert!(answer.usage().is_some());
}

#[tokio::test]
async fn the_rust_aws_sdk_streams_through_the_bedrock_door_with_a_bearer_key() {
    let gateway = keyed(None).await;
    let sdk = bedrock_sdk(&gateway, Some(KEY));
    let mut stream = sdk
        .converse_stream()
        .model_id("chat")
        .messages(user_message(PROMPT))
        .send()
        .await
        .expect("the stream opens")
        .stream;
    let (mut text, mut stop, mut usage) = (String::new(), None, None);
    while let Some(event) = stream.recv().await.expect("no stream error") {
        match event {
            ConverseStreamOutput::ContentBlockDelta(delta) => {
                if let Some(Ok(piece)) = delta.delta().map(|delta| delta.as_text()) {
                    text.push_str(piece);
                }
            }
            ConverseStreamOutput::MessageStop(message_stop) => stop = Some(message_stop.stop_reason().clone()),
            ConverseStreamOutput::Metadata(metadata) => usage = metadata.usage().cloned(),
            _ => {}
        }
    }
    assert!(!text.is_empty());
    assert!(stop.is_some(), "the stream ended with its stop reason");
    assert!(usage.is_some_and(|usage| usage.output_tokens() > 0), "and its usage");

    let counted = sdk
        .count_tokens()
        .model_id("chat")
        .input(aws_sdk_bedrockruntime::types::CountTokensInput::Converse(
            aws_sdk_bedrockruntime::types::ConverseTokensRequest::builder().messages(user_message(PROMPT)).build(),
        ))
        .send()
        .await
        .expect("CountTokens is answered");
    assert!(counted.input_tokens() > 0);

    let unknown = sdk.converse().model_id("no-such-alias").messages(user_message("hi")).send().await.unwrap_err();
    let unknown = unknown.into_service_error();
    assert!(unknown.is_resource_not_found_exception(), "{unknown:?}");
    assert!(unknown.to_string().contains("chat"), "lists the tenant's aliases: {unknown}");
}

#[tokio::test]
async fn a_quota_refusal_is_throttling_with_its_wait() {
    let gateway = keyed(Some(1)).await;
    let sdk = bedrock_sdk(&gateway, Some(KEY));
    sdk.converse().model_id("chat").messages(user_message("one")).send().await.expect("the first fits");
    let refused = sdk.converse().model_id("chat").messages(user_message("two")).send().await.unwrap_err();
    let refused = refused.into_service_error();
    assert!(refused.is_throttling_exception(), "{refused:?}");

    let mut client = gateway.http1().await;
    let openai = client.post_json("/v1/chat/completions", Some(KEY), &chat(false)).await;
    assert_eq!(openai.status, 429, "{}", openai.text());
    let wait: u64 = openai.header("retry-after").expect("the wait").parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
}

#[tokio::test]
async fn a_door_body_over_the_size_bound_is_refused_in_the_doors_shape() {
    let gateway = TestGateway::start_with(|config| config.server.max_request_bytes = 1024).await;
    let mut client = gateway.http1().await;
    let long = json!({"model": "chat", "messages": [{"role": "user", "content": "x".repeat(4096)}]});
    let refused = client.post_json("/v1/chat/completions", None, &long).await;
    assert_eq!(refused.status, 400, "retrying cannot help: {}", refused.text());
    assert!(refused.json()["error"]["message"].as_str().unwrap().contains("limit of 1024 bytes"), "{}", refused.text());
    assert_eq!(gateway.emulator.requests_served(), 0);
}

#[tokio::test]
async fn routing_follows_the_content_type_and_the_doors_that_are_on() {
    let gateway = TestGateway::start_with(|config| config.protocols.openai = false).await;
    let mut client = gateway.http2().await;
    // gRPC's content type is gRPC's, whatever the path.
    let grpc =
        client.send(http::Method::POST, "/v1/chat/completions", &[("content-type", "application/grpc")], "").await;
    assert_eq!(grpc_status(grpc.headers()), Some(tonic::Code::Unimplemented));
    // A door turned off answers as any unknown path.
    let off = client.get("/v1/models", None).await;
    assert_eq!(off.status, 415, "{}", off.text());
    let on = client.post_json("/model/chat/converse", None, &json!({"messages": []})).await;
    assert_eq!(on.status, 400, "the Bedrock door is on: {}", on.text());
    assert!(on.header("x-amzn-errortype").unwrap().starts_with("ValidationException"));
}

#[tokio::test]
async fn requests_count_by_protocol_and_prompts_are_never_logged() {
    let logs = LogCapture::install();
    let gateway = TestGateway::start_with_admin(Default::default(), |_| {}).await;
    let mut client = gateway.http1().await;
    let answer = client.post_json("/v1/chat/completions", None, &chat(true)).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let id = answer.header("x-request-id").unwrap().to_owned();
    let line = logs.request_line(&id).await;
    assert_eq!(line["protocol"], "openai", "{line}");
    assert_eq!(line["rpc"], "ConverseStream", "{line}");
    let (_, metrics) = gateway.admin_get("/metrics").await;
    let labels = [("rpc", "ConverseStream"), ("protocol", "openai"), ("model", "chat"), ("code", "OK")];
    assert!(metric_value(&metrics, "bedrock_gateway_requests_total", &labels).is_some_and(|count| count >= 1.0));
    assert!(!logs.text().contains(PROMPT), "the prompt reached the logs");
}

#[tokio::test]
async fn drain_closes_idle_http1_connections() {
    let mut gateway = TestGateway::start().await;
    let mut client = gateway.http1().await;
    let answer = client.post_json("/v1/chat/completions", None, &chat(false)).await;
    assert_eq!(answer.status, 200);
    let HttpClient::Http1(mut sender) = client else { unreachable!() };
    gateway.begin_shutdown();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while sender.ready().await.is_ok() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(closed.is_ok(), "the kept-alive connection is closed by the drain");
}

fn user_message(text: &str) -> BedrockMessage {
    BedrockMessage::builder().role(ConversationRole::User).content(ContentBlock::Text(text.into())).build().unwrap()
}

/// The real Bedrock runtime client, pointed at the gateway: with a bearer `key`, or SigV4-signed
/// with made-up credentials.
fn bedrock_sdk(gateway: &TestGateway, key: Option<&str>) -> aws_sdk_bedrockruntime::Client {
    let mut config = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(gateway.url())
        .retry_config(aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled());
    config = match key {
        Some(key) => config.bearer_token(Token::new(key, None)),
        None => config.credentials_provider(Credentials::new("AKIDEXAMPLE", "secret", None, None, "test")),
    };
    aws_sdk_bedrockruntime::Client::from_conf(config.build())
}

#[tokio::test]
async fn a_stream_cut_mid_way_never_ends_cleanly_in_either_door() {
    let gateway = TestGateway::start().await;
    // OpenAI: an error event, and no [DONE].
    let mut client = gateway.http1().await;
    let cut = json!({"model": "fault-stream-error.3", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let answer = client.post_json("/v1/chat/completions", None, &cut).await;
    assert_eq!(answer.status, 200, "the stream had begun: {}", answer.text());
    let events = sse_data(&answer.text());
    assert!(!events.iter().any(|event| event == "[DONE]"), "{events:?}");
    let last: serde_json::Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert!(last["error"]["message"].is_string(), "{last}");
    // Bedrock: the SDK raises, after the events before the cut.
    let sdk = bedrock_sdk(&gateway, None);
    let mut stream = sdk
        .converse_stream()
        .model_id("fault-stream-error.3")
        .messages(user_message("hi"))
        .send()
        .await
        .unwrap()
        .stream;
    let mut events = 0;
    let ended = loop {
        match stream.recv().await {
            Ok(Some(_)) => events += 1,
            Ok(None) => break None,
            Err(err) => break Some(err),
        }
    };
    assert!(events > 0, "events came before the cut");
    assert!(ended.is_some(), "the SDK raised instead of ending cleanly");
}

#[tokio::test]
async fn lifecycle_notices_go_out_as_headers_and_the_bedrock_model_id_never_does() {
    let gateway = TestGateway::start().await;
    let mut client = gateway.http2().await;
    let legacy = json!({"model": "legacy", "messages": [{"role": "user", "content": "hi"}]});
    let deprecated = client.post_json("/v1/chat/completions", None, &legacy).await;
    assert_eq!(deprecated.status, 200, "{}", deprecated.text());
    assert!(deprecated.header("x-model-deprecation").is_some_and(|notice| notice.contains("chat")));
    let converse = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]});
    let retired = client.post_json("/model/retired/converse", None, &converse).await;
    assert_eq!(retired.status, 400, "{}", retired.text());
    assert!(retired.text().contains("chat"), "names the replacement: {}", retired.text());

    let mut answers = vec![deprecated, retired];
    for alias in ["chat", "fault-validation", "fault-access-denied", "fault-not-found"] {
        let path = format!("/model/{alias}/converse");
        answers.push(client.post_json(&path, None, &converse).await);
        let chat = json!({"model": alias, "messages": [{"role": "user", "content": "hi"}]});
        answers.push(client.post_json("/v1/chat/completions", None, &chat).await);
    }
    answers.push(client.get("/v1/models", None).await);
    for answer in &answers {
        let whole = format!("{:?} {}", answer.headers, answer.text());
        for bedrock_id in ["test.chat-v1", "test.legacy", "test.retired", "fault."] {
            assert!(!whole.contains(bedrock_id), "{bedrock_id} reached a caller: {whole}");
        }
    }
}

#[tokio::test]
async fn embeddings_through_both_doors() {
    let gateway = TestGateway::start_with(|config| {
        let titan = embedding_model("amazon.titan-embed-text-v2:0", EmbeddingFormat::TitanTextV2, &[1024, 256]);
        config.models.insert("embed".into(), titan);
    })
    .await;
    let sdk = bedrock_sdk(&gateway, None);
    let body = json!({"inputText": PROMPT, "dimensions": 256});
    let invoked = sdk
        .invoke_model()
        .model_id("embed")
        .content_type("application/json")
        .body(aws_sdk_bedrockruntime::primitives::Blob::new(body.to_string()))
        .send()
        .await
        .expect("InvokeModel answers");
    let answer: serde_json::Value = serde_json::from_slice(invoked.body().as_ref()).unwrap();
    assert_eq!(answer["embedding"].as_array().unwrap().len(), 256, "{answer}");
    assert!(answer["inputTextTokenCount"].as_u64().unwrap() > 0);

    let mut client = gateway.http1().await;
    let request = json!({"model": "embed", "input": ["one", "two"], "encoding_format": "float", "dimensions": 256});
    let answer = client.post_json("/v1/embeddings", None, &request).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let data = answer.json()["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 2);
    assert_eq!(data[1]["index"], 1);
    assert_eq!(data[0]["embedding"].as_array().unwrap().len(), 256);
}

#[tokio::test]
async fn drain_answers_an_http1_request_in_flight_with_connection_close() {
    let pacing = bedrock_emulator::EmulatorConfig {
        time_to_first_token: std::time::Duration::from_millis(600),
        ..Default::default()
    };
    let mut gateway = TestGateway::start_with_emulator(pacing, |_| {}).await;
    let mut client = gateway.http1().await;
    let request = chat(false);
    let in_flight = client.post_json("/v1/chat/completions", None, &request);
    let drain = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        gateway.begin_shutdown();
    };
    let (answer, ()) = tokio::join!(in_flight, drain);
    assert_eq!(answer.status, 200, "the request in flight is answered: {}", answer.text());
    assert_eq!(answer.header("connection"), Some("close"), "{:?}", answer.headers);
}
