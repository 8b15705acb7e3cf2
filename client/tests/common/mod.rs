//! Shared setup for the client's integration tests: real gateways on loopback ports, each in
//! front of its own in-process Bedrock emulator (real Bedrock SDK in between).

#![allow(dead_code)] // each test binary uses its own subset

use std::net::SocketAddr;
use std::time::Duration;

use bedrock_emulator::{Emulator, EmulatorConfig};
use bedrock_gateway::Config;
use bedrock_gateway::config::{CredentialsSource, ModelConfig};
use bedrock_gateway_client::{Client, ClientBuilder};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Tokens per emulator answer.
pub const ANSWER_TOKENS: usize = 12;

/// A gateway and its emulator; stopped when dropped.
pub struct Gateway {
    pub addr: SocketAddr,
    pub emulator: Emulator,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<Result<(), bedrock_gateway::ServeError>>,
}

impl Gateway {
    /// A gateway on an ephemeral loopback port.
    pub async fn start() -> Gateway {
        Gateway::start_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), EmulatorConfig::default()).await
    }

    /// A gateway whose emulator is paced by `pacing`.
    pub async fn start_paced(pacing: EmulatorConfig) -> Gateway {
        Gateway::start_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), pacing).await
    }

    /// A gateway on `listener`. The catalog has `chat` and, for each emulator fault `x`, `fault-x`.
    pub async fn start_on(listener: TcpListener, pacing: EmulatorConfig) -> Gateway {
        Gateway::start_with(listener, pacing, |_| {}).await
    }

    /// A gateway on `listener` whose config `adjust` may change first.
    pub async fn start_with(
        listener: TcpListener,
        pacing: EmulatorConfig,
        adjust: impl FnOnce(&mut Config),
    ) -> Gateway {
        let emulator = Emulator::start(EmulatorConfig { answer_tokens: ANSWER_TOKENS, ..pacing }).await.unwrap();
        let mut config = Config::default();
        config.bedrock.endpoint_url = Some(emulator.endpoint_url());
        config.bedrock.credentials = CredentialsSource::Emulator;
        config.bedrock.max_attempts = 1; // The gateway does not retry, so the client's retries show.
        let template = bedrock_gateway::local::sample_models()["chat"].clone();
        for (alias, model_id) in [
            ("chat", "test.chat-v1"),
            ("fault-throttle", "fault.throttle"),
            ("fault-throttle-once", "fault.throttle-once"),
            ("fault-stream-error", "fault.stream-error.3"),
            ("fault-stall", "fault.stall.2"),
            ("fault-access-denied", "fault.access-denied"),
        ] {
            let model = ModelConfig { model_id: model_id.to_owned(), ..template.clone() };
            config.models.insert(alias.to_owned(), model);
        }
        adjust(&mut config);
        let addr = listener.local_addr().unwrap();
        let (shutdown, stop) = oneshot::channel();
        let server = tokio::spawn(bedrock_gateway::serve(config, listener, async {
            let _ = stop.await;
        }));
        Gateway { addr, emulator, shutdown: Some(shutdown), server }
    }

    /// The gateway's URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client builder for this gateway with fast retries.
    pub fn builder(&self) -> ClientBuilder {
        fast_retries(Client::builder(self.url()))
    }

    /// A client for this gateway with fast retries.
    pub fn client(&self) -> Client {
        self.builder().build().unwrap()
    }

    /// Drains the gateway (it sends GOAWAY) and waits until it has stopped.
    pub async fn stop(mut self) {
        self.begin_shutdown();
        let _ = (&mut self.server).await;
    }

    /// Starts draining the gateway: it sends GOAWAY and lets calls in flight finish.
    pub fn begin_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Short backoff so that tests with retries stay fast.
pub fn fast_retries(builder: ClientBuilder) -> ClientBuilder {
    builder.backoff(Duration::from_millis(5), Duration::from_millis(20)).retry_budget(0.5, 100)
}
