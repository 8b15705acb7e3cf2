//! Prompts and completions never appear in the logs; each request leaves exactly one line with
//! its id, model, status, token counts and timings.

use bedrock_gateway_proto::v1::gateway_service_client::GatewayServiceClient;
use bedrock_gateway_testkit::{LogCapture, TestGateway, collect, grpc_call, user_request};
use sha2::Digest;

#[tokio::test]
async fn logs_carry_one_line_per_request_and_no_content() {
    let captured = LogCapture::install();

    let gateway = TestGateway::start_with(|config| config.server.proxy_protocol = true).await;
    let channel = gateway.proxy_protocol_channel("10.1.2.3:45678".parse().unwrap(), "vpce-0123456789abcdef0").await;
    let mut client = GatewayServiceClient::new(channel);
    let prompt = "my-secret-prompt-7f3a about the quarterly numbers";
    let mut request = user_request("chat", prompt);
    request.system = vec![bedrock_gateway_proto::v1::SystemBlock {
        block: Some(bedrock_gateway_proto::v1::system_block::Block::Text("system-secret-91c2".into())),
    }];
    request.request_metadata.insert("team".into(), "payments".into());
    let collected = collect(&mut client, request).await;
    let failed = collect(&mut client, user_request("fault-stream-error.3", "another-secret-55d1")).await;
    assert!(failed.error.is_some());
    drop(client);
    drop(gateway);

    // Refusals: each gets one line with its reason, and its id reaches the client.
    let guarded = TestGateway::start_with(|config| {
        config.auth.api_keys.insert("team-a".into(), format!("{:x}", sha2::Sha256::digest(b"team-a-key")).into());
    })
    .await;
    let unauthenticated = collect(&mut guarded.stub().await, user_request("chat", "no key")).await.error.unwrap();
    let auth_request_id = unauthenticated.metadata().get("x-request-id").unwrap().to_str().unwrap().to_owned();
    let mut raw = guarded.raw_http2(65_535).await;
    let mut garbled = grpc_call("ConverseStream");
    garbled.headers_mut().insert("authorization", "Bearer team-a-key".parse().unwrap());
    let (response, mut body) = raw.send_request(garbled, false).unwrap();
    body.send_data(bytes::Bytes::from_static(&[0, 0, 0, 0, 3, 0xff, 0xff, 0xff]), true).unwrap();
    let response = response.await.unwrap();
    let decode_request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    drop(guarded);

    let logs = captured.text();
    for secret in ["my-secret-prompt-7f3a", "quarterly", "system-secret-91c2", "another-secret-55d1"] {
        assert!(!logs.contains(secret), "the logs contain {secret:?}:\n{logs}");
    }
    assert!(!logs.contains(&collected.text), "the logs contain the completion:\n{logs}");

    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["target"] == "bedrock_gateway::request")
        .collect();
    assert_eq!(lines.len(), 4, "one line per request:\n{logs}");
    let ok = &lines[0];
    assert_eq!(ok["status"], "OK");
    assert_eq!(ok["model"], "chat");
    assert_eq!(ok["output_tokens"], bedrock_gateway_testkit::ANSWER_TOKENS as u64);
    assert!(ok["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(ok["ttft_ms"].is_number() && ok["duration_ms"].is_number());
    assert!(ok["labels"].as_str().unwrap().contains("payments"));
    assert_eq!(ok["peer"], "10.1.2.3:45678", "the client's address from the PROXY protocol header");
    assert_eq!(ok["vpce"], "vpce-0123456789abcdef0");
    // The usage record: who, which model version, and that it ran to its end.
    assert_eq!((&ok["tenant"], &ok["identity"]), (&"default".into(), &"none".into()), "no identity configured");
    assert!(ok["model_version"].as_str().is_some_and(|version| !version.is_empty()), "{ok}");
    assert_eq!(ok["cancelled"], false);
    assert!(ok["input_tokens"].as_u64().is_some_and(|tokens| tokens > 0));
    assert_eq!(lines[1]["status"], "Unavailable");
    assert!(lines[0]["reason"].is_null(), "served requests have no refusal reason");

    let refused =
        |id: &str| lines.iter().find(|line| line["request_id"] == id).unwrap_or_else(|| panic!("{id}: {logs}"));
    let auth = refused(&auth_request_id);
    assert_eq!((&auth["status"], &auth["reason"]), (&"Unauthenticated".into(), &"auth".into()));
    let decode = refused(&decode_request_id);
    assert_eq!(decode["reason"], "decode", "{decode}");
    assert_eq!(
        (&decode["tenant"], &decode["api_key"], &decode["identity"]),
        (&"team-a".into(), &"team-a".into(), &"api_key".into())
    );
}
