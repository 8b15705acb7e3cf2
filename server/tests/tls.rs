//! TLS and mutual TLS on the gRPC listener, with certificates generated per test: the client crate
//! streams over them, clients without the right certificate are refused at the handshake (and
//! counted), a verified client's subject reaches the request's log line, and the container health
//! check still works through the admin listener.

use std::time::Duration;

use bedrock_emulator::{EmulatorConfig, expected_answer};
use bedrock_gateway::config::Seconds;
use bedrock_gateway::metrics;
use bedrock_gateway_client::Client;
use bedrock_gateway_proto::v1::gateway_service_client::GatewayServiceClient;
use bedrock_gateway_testkit::{ANSWER_TOKENS, Certified, LogCapture, TestGateway, TestPki, collect, user_request};

/// The answer the client crate streams for `prompt`, over TLS with `pki`'s CA and `client` (mTLS).
async fn stream_with_the_client_crate(gateway: &TestGateway, pki: &TestPki, client: Option<&Certified>) -> String {
    let mut builder = Client::builder(format!("https://localhost:{}", gateway.addr.port()))
        .addresses([gateway.addr])
        .ca_certificate_pem(pki.ca_pem.clone());
    if let Some(client) = client {
        builder = builder.client_identity_pem(client.cert_pem.clone(), client.key_pem.clone());
    }
    let client = builder.build().unwrap();
    let mut text =
        client.converse_stream(bedrock_gateway_client::Request::new("chat").user("over tls")).await.unwrap().text();
    let mut answer = String::new();
    while let Some(piece) = text.next().await {
        answer.push_str(&piece.unwrap());
    }
    answer
}

/// Whether a call over `channel` (when it connected at all) fails: a refused handshake shows as
/// either, depending on the TLS version and who noticed first.
async fn refused(channel: Result<tonic::transport::Channel, tonic::transport::Error>) -> bool {
    match channel {
        Err(_) => true,
        Ok(channel) => {
            collect(&mut GatewayServiceClient::new(channel), user_request("chat", "refused")).await.error.is_some()
        }
    }
}

/// Whether a call over `channel` gets the whole answer.
async fn served(channel: Result<tonic::transport::Channel, tonic::transport::Error>) -> bool {
    let mut client = GatewayServiceClient::new(channel.expect("the TLS handshake succeeds"));
    let collected = collect(&mut client, user_request("chat", "served")).await;
    collected.usage.is_some() && collected.error.is_none()
}

#[tokio::test]
async fn tls_streams_an_answer_and_refuses_plaintext() {
    let pki = TestPki::new();
    let gateway = TestGateway::start_with(|config| config.server.tls = Some(pki.server_tls())).await;
    let answer = stream_with_the_client_crate(&gateway, &pki, None).await;
    assert_eq!(answer, expected_answer("over tls", None, ANSWER_TOKENS).text());

    let plaintext = tonic::transport::Endpoint::from_shared(gateway.url()).unwrap().connect().await;
    assert!(refused(plaintext).await, "a plaintext client must not be served");
    // A client that does not trust the gateway's CA refuses the gateway.
    let stranger = TestPki::new();
    assert!(refused(gateway.tls_channel(&stranger, None).await).await);
    assert_eq!(gateway.emulator.requests_served(), 1);
}

#[tokio::test]
async fn mutual_tls_requires_a_certificate_from_the_configured_ca() {
    let pki = TestPki::new();
    let gateway = TestGateway::start_with_admin(EmulatorConfig::default(), |config| {
        config.server.tls = Some(pki.mutual_tls(true))
    })
    .await;
    let client = pki.client("orders-service", "Example Corp");
    let answer = stream_with_the_client_crate(&gateway, &pki, Some(&client)).await;
    assert_eq!(answer, expected_answer("over tls", None, ANSWER_TOKENS).text());
    assert!(served(gateway.tls_channel(&pki, Some(&client)).await).await);

    let before = tls_rejections(&gateway).await;
    assert!(refused(gateway.tls_channel(&pki, None).await).await, "no client certificate");
    let unknown_ca = TestPki::new().client("orders-service", "Example Corp");
    assert!(refused(gateway.tls_channel(&pki, Some(&unknown_ca)).await).await, "a certificate from another CA");
    assert_eq!(gateway.emulator.requests_served(), 2);

    // The server counts a failed handshake after the client has seen it fail.
    let mut after = tls_rejections(&gateway).await;
    for _ in 0..100 {
        if after >= before + 2.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        after = tls_rejections(&gateway).await;
    }
    assert!(after >= before + 2.0, "{before} -> {after}");
}

/// `bedrock_gateway_rejections_total{reason="tls"}` (shared by every gateway of this test process).
async fn tls_rejections(gateway: &TestGateway) -> f64 {
    let (_, text) = gateway.admin_get("/metrics").await;
    let series = format!("{}{{reason=\"tls\"}} ", metrics::REJECTIONS_TOTAL);
    text.lines().find_map(|line| line.strip_prefix(&series)).map_or(0.0, |value| value.parse().unwrap())
}

#[tokio::test]
async fn optional_client_certificates_let_clients_without_one_in() {
    let pki = TestPki::new();
    let gateway = TestGateway::start_with(|config| config.server.tls = Some(pki.mutual_tls(false))).await;
    assert!(served(gateway.tls_channel(&pki, None).await).await, "no client certificate");
    assert!(served(gateway.tls_channel(&pki, Some(&pki.client("orders-service", "Example Corp"))).await).await);
    // Optional is not unchecked: a certificate that is sent must verify.
    let unknown_ca = TestPki::new().client("orders-service", "Example Corp");
    assert!(refused(gateway.tls_channel(&pki, Some(&unknown_ca)).await).await);
}

#[tokio::test]
async fn the_client_certificates_subject_is_in_the_request_log_line() {
    // Process-wide, as in the gateway; this test's lines are told apart by their label.
    let captured = LogCapture::install();

    let pki = TestPki::new();
    let gateway = TestGateway::start_with(|config| {
        // Behind the NLB: the PROXY protocol header comes first, then the TLS handshake.
        config.server.proxy_protocol = true;
        config.server.tls = Some(pki.mutual_tls(false));
    })
    .await;
    let client = pki.client("orders-service", "Example, Inc.");
    let source = "10.1.2.3:45678".parse().unwrap();
    for identity in [Some(&client), None] {
        let channel = gateway.proxy_protocol_tls_channel(source, "vpce-0tls", &pki, identity).await;
        let mut stub = GatewayServiceClient::new(channel.unwrap());
        let mut request = user_request("chat", "whose certificate");
        request.request_metadata.insert("test".into(), "client-cert-subject".into());
        let collected = collect(&mut stub, request).await;
        assert!(collected.usage.is_some(), "{:?}", collected.error);
    }

    // A line is written once the request's last piece is dropped, just after the answer's end.
    let mut lines = Vec::new();
    for _ in 0..100 {
        lines = captured
            .request_lines()
            .into_iter()
            .filter(|line| line["labels"].as_str().is_some_and(|labels| labels.contains("client-cert-subject")))
            .collect();
        if lines.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let subjects: Vec<_> =
        lines.iter().map(|line| line.get("client_cert").and_then(|subject| subject.as_str())).collect();
    assert_eq!(subjects.len(), 2, "{lines:?}");
    assert!(subjects.contains(&Some(r"CN=orders-service,O=Example\, Inc.")), "{lines:?}");
    assert!(subjects.contains(&None), "no certificate, no subject: {lines:?}");
    assert!(lines.iter().all(|line| line["vpce"] == "vpce-0tls" && line["peer"] == "10.1.2.3:45678"), "{lines:?}");
}

#[tokio::test]
async fn a_silent_client_is_closed_after_the_handshake_timeout_without_holding_up_others() {
    let pki = TestPki::new();
    let gateway = TestGateway::start_with(|config| {
        config.server.tls = Some(pki.server_tls());
        config.server.handshake_timeout_secs = Seconds(1);
    })
    .await;
    let mut silent = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    assert!(served(gateway.tls_channel(&pki, None).await).await, "served while another handshake is pending");
    let mut byte = [0; 1];
    let closed = tokio::time::timeout(Duration::from_secs(5), tokio::io::AsyncReadExt::read(&mut silent, &mut byte))
        .await
        .expect("the gateway closes the silent connection");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
}

#[tokio::test]
async fn the_container_health_check_uses_the_admin_listener_when_tls_is_on() {
    let pki = TestPki::new();
    let gateway = TestGateway::start_with_admin(EmulatorConfig::default(), |config| {
        config.server.tls = Some(pki.mutual_tls(true))
    })
    .await;
    assert!(served(gateway.tls_channel(&pki, Some(&pki.client("ready", "Example Corp"))).await).await);
    let (addr, admin) = (gateway.addr.to_string(), gateway.admin_addr.unwrap().to_string());
    let healthcheck = |args: Vec<String>| {
        std::process::Command::new(env!("CARGO_BIN_EXE_bedrock-gateway"))
            .arg("healthcheck")
            .args(args)
            .env_remove("BEDROCK_GATEWAY_SERVER__PROXY_PROTOCOL")
            .output()
            .unwrap()
    };
    let (admin_check, grpc_check) = tokio::task::spawn_blocking(move || {
        (healthcheck(vec!["--admin".into(), admin]), healthcheck(vec!["--addr".into(), addr]))
    })
    .await
    .unwrap();
    assert!(admin_check.status.success(), "{}", String::from_utf8_lossy(&admin_check.stderr));
    assert!(!grpc_check.status.success(), "plaintext gRPC health cannot pass a TLS listener");
}

#[tokio::test]
async fn a_certificate_that_cannot_be_loaded_stops_the_gateway_naming_the_key() {
    let pki = TestPki::new();
    let other = TestPki::new();
    let gateway = TestGateway::start_with(|config| {
        config.server.tls =
            Some(bedrock_gateway::config::TlsConfig { key_file: other.server.key_file.clone(), ..pki.server_tls() });
    })
    .await;
    let error = gateway.stop().await.unwrap_err().to_string();
    assert!(error.starts_with("server.tls.key_file ("), "{error}");
    assert!(error.contains(&other.server.key_file.display().to_string()), "{error}");
}
