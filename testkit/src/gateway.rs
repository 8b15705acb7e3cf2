//! A gateway on a loopback port in front of an in-process Bedrock emulator, and the configuration
//! every test starts from.

use std::net::SocketAddr;
use std::time::Duration;

use bedrock_emulator::{Emulator, EmulatorConfig};
use bedrock_gateway::Config;
use bedrock_gateway::config::CredentialsSource;
use bedrock_gateway::config::{CapabilitiesConfig, EmbeddingFormat, Modality, ModelConfig, ModelKind, ModelState};
use bedrock_gateway_proto::v1;
use bedrock_gateway_proto::v1::gateway_service_client::GatewayServiceClient;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use crate::{ANSWER_TOKENS, Certified, TestPki, collect};

/// A gateway and its emulator, stopped when dropped.
#[derive(Debug)]
pub struct TestGateway {
    /// Where the gateway listens.
    pub addr: SocketAddr,
    /// Where its admin listener (`/metrics`, `/healthz`, `/readyz`) listens, when it has one.
    pub admin_addr: Option<SocketAddr>,
    /// The Bedrock emulator behind it.
    pub emulator: Emulator,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<Result<(), bedrock_gateway::ServeError>>,
}

/// The catalog every test sees. Aliases starting with `fault-` reach the emulator's faults.
pub fn test_config(emulator_url: String) -> Config {
    let mut config = Config::default();
    config.bedrock.endpoint_url = Some(emulator_url);
    config.bedrock.credentials = CredentialsSource::Emulator;
    config.bedrock.max_attempts = 1;
    let mut add = |alias: &str, model_id: &str, cap: u32| {
        let model = ModelConfig {
            description: format!("test model {alias}"),
            max_tokens_cap: cap,
            ..ModelConfig::new(model_id)
        };
        config.models.insert(alias.to_owned(), model);
    };
    add("chat", "test.chat-v1", 1000);
    add("profile", "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.test.chat-v1:0", 1000);
    for fault in [
        "throttle",
        "throttle-once",
        "validation",
        "access-denied",
        "not-found",
        "model-timeout",
        "unavailable",
        "not-ready",
        "quota",
        "internal",
        "stream-error.3",
        "stall",
        "stall.2",
        "stall.8",
        "close.3",
        "no-metadata",
        "hang",
        "stall-body",
        "malformed-tool-use",
        "malformed-model-output",
    ] {
        add(&format!("fault-{fault}"), &format!("fault.{fault}"), 1000);
    }
    let legacy = config.models.get_mut("fault-throttle").cloned().unwrap();
    config.models.insert(
        "legacy".to_owned(),
        ModelConfig {
            model_id: "test.legacy".to_owned(),
            state: ModelState::Deprecated,
            replacement: Some("chat".to_owned()),
            retires_on: Some("2099-01-31".to_owned()),
            ..legacy.clone()
        },
    );
    config.models.insert(
        "retired".to_owned(),
        ModelConfig {
            model_id: "test.retired".to_owned(),
            state: ModelState::Retired,
            replacement: Some("chat".to_owned()),
            ..legacy
        },
    );
    config
}

/// An embedding model of `format` at `model_id`, offering `dimensions` (the default first), for a
/// test catalog (`config.models.insert("embed".into(), embedding_model(...))`).
pub fn embedding_model(model_id: &str, format: EmbeddingFormat, dimensions: &[u32]) -> ModelConfig {
    ModelConfig {
        description: format!("test embedding model {model_id}"),
        kind: ModelKind::Embedding,
        capabilities: CapabilitiesConfig {
            input_modalities: vec![Modality::Text],
            tools: false,
            embedding_format: Some(format),
            embedding_dimensions: dimensions.to_vec(),
            ..CapabilitiesConfig::default()
        },
        ..ModelConfig::new(model_id)
    }
}

impl TestGateway {
    /// A gateway with the test catalog and default limits.
    pub async fn start() -> TestGateway {
        TestGateway::start_with(|_| {}).await
    }

    /// A gateway whose config `adjust` may change first.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestGateway {
        TestGateway::start_with_emulator(EmulatorConfig::default(), adjust).await
    }

    /// A gateway in front of an emulator paced by `pacing` (its answer length is always
    /// [`ANSWER_TOKENS`]).
    pub async fn start_with_emulator(pacing: EmulatorConfig, adjust: impl FnOnce(&mut Config)) -> TestGateway {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        TestGateway::start_on(listener, pacing, adjust).await
    }

    /// A gateway on `listener` (any loopback address or a port to reuse), in front of an emulator
    /// paced by `pacing`, with the test catalog changed by `adjust`.
    pub async fn start_on(
        listener: TcpListener,
        pacing: EmulatorConfig,
        adjust: impl FnOnce(&mut Config),
    ) -> TestGateway {
        TestGateway::serve(listener, None, pacing, adjust).await
    }

    /// A gateway with an admin listener on an ephemeral loopback port ([`TestGateway::admin_addr`]),
    /// in front of an emulator paced by `pacing`. The Prometheus recorder is process-wide, so
    /// every gateway of the test process counts into the same series.
    pub async fn start_with_admin(pacing: EmulatorConfig, adjust: impl FnOnce(&mut Config)) -> TestGateway {
        // The server installs it too, but only once its task runs: this way whatever the test
        // records from now on is counted.
        bedrock_gateway::metrics::install();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
        TestGateway::serve(listener, Some(admin), pacing, adjust).await
    }

    async fn serve(
        listener: TcpListener,
        admin: Option<TcpListener>,
        pacing: EmulatorConfig,
        adjust: impl FnOnce(&mut Config),
    ) -> TestGateway {
        let emulator = Emulator::start(EmulatorConfig { answer_tokens: ANSWER_TOKENS, ..pacing }).await.unwrap();
        let mut config = test_config(emulator.endpoint_url());
        adjust(&mut config);
        let addr = listener.local_addr().unwrap();
        let admin_addr = admin.as_ref().map(|admin| admin.local_addr().unwrap());
        let (shutdown, stop) = oneshot::channel();
        let server = tokio::spawn(bedrock_gateway::serve_with_admin(config, listener, admin, async {
            let _ = stop.await;
        }));
        TestGateway { addr, admin_addr, emulator, shutdown: Some(shutdown), server }
    }

    /// `GET path` on the admin listener over a fresh HTTP/1.1 connection: the status and the body.
    /// Panics when the gateway has no admin listener.
    pub async fn admin_get(&self, path: &str) -> (http::StatusCode, String) {
        use http_body_util::BodyExt;
        let addr = self.admin_addr.expect("a gateway started with an admin listener");
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
        tokio::spawn(connection);
        let request =
            http::Request::get(path).header(http::header::HOST, addr.to_string()).body(String::new()).unwrap();
        let response = tokio::time::timeout(Duration::from_secs(5), sender.send_request(request))
            .await
            .expect("the admin listener answers within 5 s")
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    /// The gateway's URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A generated tonic client on a fresh connection.
    pub async fn stub(&self) -> GatewayServiceClient<Channel> {
        GatewayServiceClient::new(self.channel().await).max_decoding_message_size(64 * 1024 * 1024)
    }

    /// Sends `request` as Converse and as ConverseStream, checks that both are INVALID_ARGUMENT with
    /// the same message and that nothing reached Bedrock, and returns the message.
    pub async fn invalid_argument(&self, request: v1::ConverseRequest) -> String {
        let mut client = self.stub().await;
        let served = self.emulator.requests_served();
        let status = client.converse(request.clone()).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        let streamed = collect(&mut client, request).await.error.expect("the stream is refused too");
        assert_eq!((streamed.code(), streamed.message()), (status.code(), status.message()));
        assert_eq!(self.emulator.requests_served(), served, "nothing reached Bedrock");
        status.message().to_owned()
    }

    /// A fresh channel, for health and reflection clients.
    pub async fn channel(&self) -> Channel {
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{}", self.addr)).unwrap();
        for _ in 0..100 {
            if let Ok(channel) = endpoint.connect().await {
                return channel;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("gateway at {} did not come up", self.addr);
    }

    /// A fresh channel from the loopback address `source` (any of 127.0.0.0/8, which Linux routes
    /// to `lo`): a client the gateway tells apart by its address.
    pub async fn channel_from(&self, source: std::net::IpAddr) -> Channel {
        tonic::transport::Endpoint::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .local_address(Some(source))
            .connect()
            .await
            .unwrap()
    }

    /// A raw TCP connection to the gateway from the loopback address `source`.
    pub async fn tcp_from(&self, source: std::net::IpAddr) -> tokio::net::TcpStream {
        let socket = match source {
            std::net::IpAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
            std::net::IpAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
        }
        .unwrap();
        socket.bind(SocketAddr::new(source, 0)).unwrap();
        socket.connect(self.addr).await.unwrap()
    }

    /// A channel over TLS to a gateway started with one of `pki`'s `server.tls` configs, trusting
    /// `pki`'s CA and presenting `client` (mTLS) when given. A refused client certificate may only
    /// show on the first call: in TLS 1.3 the client finishes its handshake before the server
    /// has checked the certificate.
    pub async fn tls_channel(
        &self,
        pki: &TestPki,
        client: Option<&Certified>,
    ) -> Result<Channel, tonic::transport::Error> {
        tls_endpoint(&format!("https://{}", self.addr), pki, client)?.connect().await
    }

    /// A channel that opens each connection with a PROXY protocol v2 header, as the NLB does.
    pub async fn proxy_protocol_channel(&self, source: SocketAddr, vpc_endpoint_id: &str) -> Channel {
        self.channel_behind(bedrock_gateway::proxy_protocol::encode(source, self.addr, Some(vpc_endpoint_id))).await
    }

    /// A channel that opens each connection with `header`, whatever it says: PROXY protocol bytes
    /// the NLB would send, or ones it would not ([`local_header_with_endpoint`]).
    pub async fn channel_behind(&self, header: Vec<u8>) -> Channel {
        let addr = self.addr;
        let connector = tower::service_fn(move |_: http::Uri| connect_with_header(addr, header.clone()));
        tonic::transport::Endpoint::from_static("http://gateway.test").connect_with_connector(connector).await.unwrap()
    }

    /// [`TestGateway::tls_channel`] behind a PROXY protocol v2 header, which the NLB sends before
    /// the client's TLS handshake.
    pub async fn proxy_protocol_tls_channel(
        &self,
        source: SocketAddr,
        vpc_endpoint_id: &str,
        pki: &TestPki,
        client: Option<&Certified>,
    ) -> Result<Channel, tonic::transport::Error> {
        let header = bedrock_gateway::proxy_protocol::encode(source, self.addr, Some(vpc_endpoint_id));
        let addr = self.addr;
        let connector = tower::service_fn(move |_: http::Uri| connect_with_header(addr, header.clone()));
        tls_endpoint("https://gateway.test", pki, client)?.connect_with_connector(connector).await
    }

    /// Waits until the gateway accepts PROXY protocol connections.
    pub async fn channel_ready_over_proxy_protocol(&self) {
        let mut health = tonic_health::pb::health_client::HealthClient::new(
            self.proxy_protocol_channel("127.0.0.1:1".parse().unwrap(), "vpce-test").await,
        );
        health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap();
    }

    /// A bare HTTP/2 connection to the gateway whose streams get a receive window of `window` bytes
    /// and whose reading the test controls: for clients that misbehave on purpose (never finish
    /// a request, never read an answer).
    pub async fn raw_http2(&self, window: u32) -> h2::client::SendRequest<bytes::Bytes> {
        self.raw_http2_watched(window).await.0
    }

    /// [`TestGateway::raw_http2`], and the task driving the connection, which ends when the
    /// connection does (after the gateway's GOAWAY, for one).
    pub async fn raw_http2_watched(
        &self,
        window: u32,
    ) -> (h2::client::SendRequest<bytes::Bytes>, JoinHandle<Result<(), h2::Error>>) {
        let tcp = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (sender, connection) = h2::client::Builder::new().initial_window_size(window).handshake(tcp).await.unwrap();
        let connection = tokio::spawn(connection);
        (sender.ready().await.unwrap(), connection)
    }

    /// Asks the gateway to drain and waits until it has stopped.
    pub async fn stop(mut self) -> Result<(), bedrock_gateway::ServeError> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        (&mut self.server).await.unwrap()
    }

    /// Sends the shutdown signal without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A TCP connection to `addr` that has sent `header` (a PROXY protocol header).
async fn connect_with_header(
    addr: SocketAddr,
    header: Vec<u8>,
) -> std::io::Result<hyper_util::rt::TokioIo<tokio::net::TcpStream>> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    tokio::io::AsyncWriteExt::write_all(&mut stream, &header).await?;
    Ok(hyper_util::rt::TokioIo::new(stream))
}

/// An endpoint at `url` over TLS to a server certificate of `pki` (checked for `localhost`),
/// presenting `client` when given.
fn tls_endpoint(
    url: &str,
    pki: &TestPki,
    client: Option<&Certified>,
) -> Result<tonic::transport::Endpoint, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new().domain_name("localhost").ca_certificate(Certificate::from_pem(&pki.ca_pem));
    if let Some(client) = client {
        tls = tls.identity(Identity::from_pem(&client.cert_pem, &client.key_pem));
    }
    tonic::transport::Endpoint::from_shared(url.to_owned())?.tls_config(tls)
}
