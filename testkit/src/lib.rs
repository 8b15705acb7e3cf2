//! Shared setup for the integration tests of the gateway and of the client: a real gateway on a
//! loopback port, calling an in-process Bedrock emulator through the real Bedrock SDK, and tonic
//! clients for it; a real `redis-server` for the quota store; a real `moto_server` for the AWS
//! APIs other than Bedrock. One place, so every test sees the same catalog and the same faults.

mod moto;
mod pki;

use std::net::SocketAddr;
use std::time::Duration;

use bedrock_emulator::{Emulator, EmulatorConfig, StreamEnd};
use bedrock_gateway::Config;
use bedrock_gateway::config::{
    CapabilitiesConfig, CredentialsSource, EmbeddingFormat, Modality, ModelConfig, ModelKind, ModelState,
    PromptCachingConfig,
};
use bedrock_gateway_proto::v1;
use bedrock_gateway_proto::v1::gateway_service_client::GatewayServiceClient;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

pub use moto::MotoServer;
pub use pki::{Certified, TestPki};

/// Tokens per emulator answer in tests.
pub const ANSWER_TOKENS: usize = 12;

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
        config.models.insert(
            alias.to_owned(),
            ModelConfig {
                model_id: model_id.to_owned(),
                region: None,
                targets: Vec::new(),
                fallbacks: Vec::new(),
                sticky_metadata_key: None,
                version: None,
                description: format!("test model {alias}"),
                max_tokens_cap: cap,
                default_max_tokens: None,
                temperature: None,
                top_p: None,
                guardrail: None,
                prompt_caching: PromptCachingConfig::default(),
                additional_request_fields: None,
                state: ModelState::Active,
                replacement: None,
                retires_on: None,
                kind: Default::default(),
                capabilities: Default::default(),
            },
        );
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
        model_id: model_id.to_owned(),
        region: None,
        targets: Vec::new(),
        fallbacks: Vec::new(),
        sticky_metadata_key: None,
        version: None,
        description: format!("test embedding model {model_id}"),
        max_tokens_cap: 4096,
        default_max_tokens: None,
        temperature: None,
        top_p: None,
        guardrail: None,
        prompt_caching: PromptCachingConfig::default(),
        additional_request_fields: None,
        state: ModelState::Active,
        replacement: None,
        retires_on: None,
        kind: ModelKind::Embedding,
        capabilities: CapabilitiesConfig {
            input_modalities: vec![Modality::Text],
            tools: false,
            embedding_format: Some(format),
            embedding_dimensions: dimensions.to_vec(),
            ..CapabilitiesConfig::default()
        },
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

/// A PROXY protocol v2 LOCAL header (the command of the NLB's own health checks) that still
/// carries a client address and `vpc_endpoint_id`'s TLV, as no NLB sends but any peer could.
pub fn local_header_with_endpoint(source: SocketAddr, destination: SocketAddr, vpc_endpoint_id: &str) -> Vec<u8> {
    let mut header = bedrock_gateway::proxy_protocol::encode(source, destination, Some(vpc_endpoint_id));
    // Byte 12 is version 2 and the command: 0x21 PROXY, 0x20 LOCAL.
    header[12] = 0x20;
    header
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

/// A one-message user request.
pub fn user_request(model: &str, text: &str) -> v1::ConverseRequest {
    v1::ConverseRequest {
        model: model.to_owned(),
        messages: vec![v1::Message {
            role: v1::Role::User as i32,
            content: vec![v1::ContentBlock { block: Some(v1::content_block::Block::Text(text.to_owned())) }],
        }],
        ..Default::default()
    }
}

/// The headers of a gRPC call of `method` on the gateway service, for [`TestGateway::raw_http2`].
pub fn grpc_call(method: &str) -> http::Request<()> {
    grpc_call_to(&format!("/bedrock.gateway.v1.GatewayService/{method}"))
}

/// The headers of a gRPC call to `path` (`/package.Service/Method`), for [`TestGateway::raw_http2`].
pub fn grpc_call_to(path: &str) -> http::Request<()> {
    http::Request::post(format!("http://gateway.test{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap()
}

/// The gRPC status in `headers` (a trailers-only answer's, or trailers).
pub fn grpc_status(headers: &http::HeaderMap) -> Option<tonic::Code> {
    let value = headers.get("grpc-status")?.to_str().ok()?.parse::<i32>().ok()?;
    Some(tonic::Code::from(value))
}

/// A raw call's gRPC status: in its headers when it ended before any message, else in its
/// trailers, after whatever messages it sent.
pub async fn final_status(response: http::Response<h2::RecvStream>) -> Option<tonic::Code> {
    if let Some(code) = grpc_status(response.headers()) {
        return Some(code);
    }
    let mut body = response.into_body();
    while body.data().await.is_some() {}
    grpc_status(&body.trailers().await.ok()??)
}

/// `message` as one gRPC length-prefixed message.
pub fn grpc_frame(message: &impl prost::Message) -> bytes::Bytes {
    let encoded = message.encode_to_vec();
    let mut frame = Vec::with_capacity(5 + encoded.len());
    frame.push(0);
    frame.extend_from_slice(&u32::try_from(encoded.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(&encoded);
    frame.into()
}

/// Everything a stream delivered.
#[derive(Debug, Default)]
pub struct Collected {
    /// Every event, in order.
    pub events: Vec<v1::converse_stream_event::Event>,
    /// The text deltas joined.
    pub text: String,
    /// From the stop event.
    pub stop_reason: Option<v1::StopReason>,
    /// The usage event.
    pub usage: Option<v1::StreamUsage>,
    /// The status the stream ended with, if not OK.
    pub error: Option<tonic::Status>,
}

/// Reads a stream to its end.
pub async fn collect(client: &mut GatewayServiceClient<Channel>, request: v1::ConverseRequest) -> Collected {
    collect_request(client, tonic::Request::new(request)).await
}

/// Reads a stream to its end, for a request with metadata of its own (such as [`with_api_key`]).
pub async fn collect_request(
    client: &mut GatewayServiceClient<Channel>,
    request: tonic::Request<v1::ConverseRequest>,
) -> Collected {
    let mut collected = Collected::default();
    let mut stream = match client.converse_stream(request).await {
        Ok(response) => response.into_inner(),
        Err(status) => {
            collected.error = Some(status);
            return collected;
        }
    };
    loop {
        match stream.message().await {
            Ok(Some(event)) => {
                let event = event.event.expect("every event has a payload");
                use v1::converse_stream_event::Event;
                match &event {
                    Event::ContentBlockDelta(v1::ContentBlockDelta {
                        delta: Some(v1::content_block_delta::Delta::Text(text)),
                        ..
                    }) => collected.text.push_str(text),
                    Event::Stop(stop) => collected.stop_reason = Some(stop.stop_reason()),
                    Event::Usage(usage) => collected.usage = Some(*usage),
                    _ => {}
                }
                collected.events.push(event);
            }
            Ok(None) => return collected,
            Err(status) => {
                collected.error = Some(status);
                return collected;
            }
        }
    }
}

/// A gateway process: the real binary, in local mode (the Bedrock emulator in-process) or in
/// front of a given Bedrock endpoint, configured from a file; killed when dropped.
#[derive(Debug)]
pub struct GatewayProcess {
    child: std::process::Child,
    addr: String,
}

impl GatewayProcess {
    /// Starts `binary` (a test's `env!("CARGO_BIN_EXE_bedrock-gateway")`) with `--config config`
    /// on free loopback ports, and returns once it listens.
    pub fn start(binary: &std::path::Path, config: &std::path::Path) -> GatewayProcess {
        let mut command = std::process::Command::new(binary);
        command.arg("--local");
        GatewayProcess::spawn(command, config)
    }

    /// Like [`GatewayProcess::start`] but not in local mode: Bedrock is `bedrock.endpoint_url` of
    /// `config`, and `env` is added to the process's environment (e.g. `SSL_CERT_FILE` to trust an
    /// emulator serving TLS).
    pub fn start_in_front_of_bedrock(
        binary: &std::path::Path,
        config: &std::path::Path,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> GatewayProcess {
        let mut command = std::process::Command::new(binary);
        command.envs(env.iter().copied());
        GatewayProcess::spawn(command, config)
    }

    /// [`GatewayProcess::start_in_front_of_bedrock`] with `emulator`, serving TLS
    /// ([`Emulator::start_tls`]), as Bedrock, trusting only its certificate: `dir` gets the
    /// certificate and the config, which has model `chat` (`test.chat`), then `more_toml`.
    pub fn start_in_front_of_tls_emulator(
        binary: &std::path::Path,
        emulator: &Emulator,
        dir: &std::path::Path,
        more_toml: &str,
    ) -> GatewayProcess {
        let certificate = dir.join("emulator.pem");
        std::fs::write(&certificate, emulator.certificate_pem().expect("the emulator serves TLS")).unwrap();
        let config = dir.join("gateway.toml");
        let toml = format!(
            "[bedrock]\nendpoint_url = \"{}\"\ncredentials = \"emulator\"\nmax_attempts = 1\n\n\
             [models.chat]\nmodel_id = \"test.chat\"\n\n{more_toml}",
            emulator.endpoint_url()
        );
        std::fs::write(&config, toml).unwrap();
        // `SSL_CERT_DIR` names a directory without the system's roots, so only the emulator's
        // certificate is trusted.
        GatewayProcess::start_in_front_of_bedrock(
            binary,
            &config,
            &[("SSL_CERT_FILE", certificate.as_os_str()), ("SSL_CERT_DIR", dir.as_os_str())],
        )
    }

    fn spawn(mut command: std::process::Command, config: &std::path::Path) -> GatewayProcess {
        use std::io::BufRead;
        let mut child = command
            .args(["--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .env("BEDROCK_GATEWAY_ADMIN__LISTEN", "127.0.0.1:0")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let addr = first.split_whitespace().nth(3).unwrap().trim_end_matches(';').to_owned();
        // Keep reading, so the process never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        GatewayProcess { child, addr }
    }

    /// A client of its gateway service.
    pub async fn client(&self) -> GatewayServiceClient<Channel> {
        GatewayServiceClient::connect(format!("http://{}", self.addr)).await.unwrap()
    }

    /// Sends it a signal, as `kill -SIGNAL` does (`HUP`, `TERM`, ...), without needing a `kill`
    /// program (a minimal Debian has none).
    pub fn signal(&self, signal: &str) {
        use nix::sys::signal::{Signal, kill};
        let signal: Signal = format!("SIG{signal}").parse().unwrap_or_else(|_| panic!("no signal SIG{signal}"));
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("a pid fits an i32"));
        kill(pid, signal).unwrap_or_else(|err| panic!("kill -{signal} {pid}: {err}"));
    }

    /// Its exit status once it has exited, waiting at most `within`; `None` if it still runs.
    pub async fn exit_status(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of one series of this process's metrics, exactly as the Prometheus text writes it
/// (`name{label="value",...}`); 0 when absent. Installs the recorder if needed.
pub fn metric(series: &str) -> f64 {
    let text = bedrock_gateway::metrics::render();
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0.0)
}

/// The value of the series `name` whose labels include all of `labels` in `text`, a `/metrics`
/// scrape ([`TestGateway::admin_get`]), summed over every such series (so `&[]` totals a counter
/// over all its labels); `None` when there is none. Histogram parts are series of their own:
/// `<name>_bucket` (with `le`), `<name>_sum`, `<name>_count`.
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut total = None;
    for line in text.lines().filter(|line| !line.starts_with('#') && !line.trim().is_empty()) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let (series_name, series_labels) = match series.split_once('{') {
            Some((series_name, rest)) => (series_name, parse_labels(rest.strip_suffix('}').unwrap_or(rest))),
            None => (series, Vec::new()),
        };
        let matches = series_name == name
            && labels.iter().all(|(key, wanted)| series_labels.iter().any(|(k, v)| k == key && v == wanted));
        if matches {
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("a number in {line:?}"));
            *total.get_or_insert(0.0) += value;
        }
    }
    total
}

/// `key="value",...` with the text format's escapes (`\\`, `\"`, `\n`) in values.
fn parse_labels(text: &str) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    let mut chars = text.chars();
    loop {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect::<String>().trim_matches(',').to_owned();
        if key.is_empty() || chars.next() != Some('"') {
            return labels;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(escaped) => value.push(escaped),
                    None => break,
                },
                c => value.push(c),
            }
        }
        labels.push((key, value));
    }
}

/// The SHA-256 of an API key as the config holds it (`auth.api_keys`, `tenants.<name>.api_keys`).
pub fn api_key_digest(key: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// `message` as a request that carries `authorization: Bearer <key>`.
pub fn with_api_key<T>(message: T, key: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {key}").parse().expect("a key is ASCII"));
    request
}

/// Waits for the emulator to report the end of a stream.
pub async fn next_stream_end(events: &mut tokio::sync::broadcast::Receiver<StreamEnd>) -> StreamEnd {
    tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("the emulator reports the stream's end within 5 s")
        .expect("the emulator's event channel is open")
}

/// A real `redis-server` (Debian package `redis-server`) on a free loopback port, in a temporary
/// directory, without persistence; killed when dropped. Tests skip nothing when it is missing:
/// they fail, naming `cargo xtask test`, which installs it.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    /// The TLS port, with `start_tls`.
    tls_port: Option<u16>,
    cluster: bool,
    dir: tempfile::TempDir,
    process: Option<std::process::Child>,
}

impl RedisServer {
    /// A plain server.
    pub async fn start() -> RedisServer {
        RedisServer::launch(false, false).await
    }

    /// A server that also serves TLS ([`RedisServer::tls_url`]) with a certificate for
    /// `localhost` issued by a CA of its own ([`RedisServer::ca_file`]).
    pub async fn start_tls() -> RedisServer {
        RedisServer::launch(true, false).await
    }

    /// A server in cluster mode, a cluster of one node that owns every slot.
    pub async fn start_cluster() -> RedisServer {
        RedisServer::launch(false, true).await
    }

    async fn launch(tls: bool, cluster: bool) -> RedisServer {
        let dir = tempfile::Builder::new().prefix("redis-test").tempdir().unwrap();
        if tls {
            write_tls_files(dir.path());
        }
        let mut server = RedisServer { port: free_port(), tls_port: tls.then(free_port), cluster, dir, process: None };
        server.spawn().await;
        if cluster {
            let answer = server.command(&["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]).await;
            assert!(answer.starts_with("+OK"), "CLUSTER ADDSLOTSRANGE: {answer}");
            server.wait_for_cluster().await;
        }
        server
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `rediss://localhost:PORT`, for a server started with [`RedisServer::start_tls`].
    pub fn tls_url(&self) -> String {
        format!("rediss://localhost:{}", self.tls_port.expect("a server started with start_tls"))
    }

    /// The PEM file of the CA that issued the TLS certificate.
    pub fn ca_file(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Kills the server at once, as a crash would; its data is lost.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Starts the server again on the same ports (empty, except for a cluster's slot
    /// assignment) and waits until it answers.
    pub async fn restart(&mut self) {
        self.spawn().await;
        if self.cluster {
            self.wait_for_cluster().await;
        }
    }

    async fn spawn(&mut self) {
        self.stop();
        let dir = self.dir.path();
        let mut command = std::process::Command::new("redis-server");
        command
            .current_dir(dir)
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", "", "--appendonly", "no"])
            .args(["--logfile", "redis.log"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if let Some(tls_port) = self.tls_port {
            command.args(["--tls-port", &tls_port.to_string(), "--tls-auth-clients", "no"]);
            command.args([
                "--tls-cert-file",
                "server.pem",
                "--tls-key-file",
                "server.key",
                "--tls-ca-cert-file",
                "ca.pem",
            ]);
        }
        if self.cluster {
            command.args(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]);
        }
        let process = command.spawn().unwrap_or_else(|err| missing_program("redis-server", &err));
        self.process = Some(process);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(answer) = tokio::time::timeout(Duration::from_millis(500), self.command(&["PING"])).await
                && answer.starts_with("+PONG")
            {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "redis-server did not answer within 5 s: {}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// Sends one command on the plain port and returns the first chunk of the answer (RESP text),
    /// or an empty string when the server cannot be reached.
    pub async fn command(&self, args: &[&str]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else {
            return String::new();
        };
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        if stream.write_all(request.as_bytes()).await.is_err() {
            return String::new();
        }
        let mut answer = vec![0; 64 * 1024];
        let read = stream.read(&mut answer).await.unwrap_or(0);
        String::from_utf8_lossy(&answer[..read]).into_owned()
    }

    async fn wait_for_cluster(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !self.command(&["CLUSTER", "INFO"]).await.contains("cluster_state:ok") {
            assert!(tokio::time::Instant::now() < deadline, "the cluster did not turn ok within 5 s: {}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Fails the test when a program it starts cannot run: a missing program is named with the
/// command that installs it, never skipped.
fn missing_program(program: &str, err: &std::io::Error) -> ! {
    if err.kind() == std::io::ErrorKind::NotFound {
        panic!("{program} is not installed: run the tests with `cargo xtask test`, which installs it or says how");
    }
    panic!("{program} does not start: {err}");
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `ca.pem`, and `server.pem` + `server.key` issued by it for `localhost` and 127.0.0.1.
fn write_tls_files(dir: &std::path::Path) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    std::fs::write(dir.join("ca.pem"), ca_params.self_signed(&ca_key).unwrap().pem()).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let cert = CertificateParams::new(names).unwrap().signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("server.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
}

/// The log lines of this test process, captured in memory as the gateway writes them by default
/// (JSON, `info`, every target). The subscriber is process-wide, so tests of one binary share the
/// capture and tell their lines apart by request id or labels.
#[derive(Debug, Clone)]
pub struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    /// The capture of this process, installing its subscriber on the first call.
    pub fn install() -> LogCapture {
        static CAPTURE: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
        CAPTURE
            .get_or_init(|| {
                let capture = LogCapture(std::sync::Arc::default());
                let writer = capture.clone();
                tracing_subscriber::fmt()
                    .json()
                    .flatten_event(true)
                    .with_env_filter("info")
                    .with_writer(move || writer.clone())
                    .init();
                capture
            })
            .clone()
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())).into_owned()
    }

    /// The request log lines (target `bedrock_gateway::request`) written so far, parsed.
    pub fn request_lines(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|line| line["target"] == "bedrock_gateway::request")
            .collect()
    }

    /// Waits up to 2 s for the request log line of `request_id` (written when the request's last
    /// piece is dropped, just after its end).
    pub async fn request_line(&self, request_id: &str) -> serde_json::Value {
        for _ in 0..100 {
            if let Some(line) = self.request_lines().into_iter().find(|line| line["request_id"] == request_id) {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no request log line for {request_id} in:\n{}", self.text());
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
