//! The `bedrock-gateway` binary: flags, config, logging and traces, then
//! [`bedrock_gateway::serve_with_admin`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bedrock_gateway::config::{LogFormat, Scheduler};
use bedrock_gateway::{Config, shutdown, telemetry};
use clap::{Parser, Subcommand};

/// gRPC streaming gateway in front of Amazon Bedrock.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// TOML configuration file.
    #[arg(long, env = "BEDROCK_GATEWAY_CONFIG")]
    config: Option<PathBuf>,
    /// Run with the Bedrock emulator in-process and a sample catalog, on loopback.
    #[arg(long)]
    local: bool,
    /// Address to listen on (overrides server.listen).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// AWS region of Bedrock (overrides bedrock.region).
    #[arg(long)]
    region: Option<String>,
    /// Bedrock runtime endpoint (overrides bedrock.endpoint_url).
    #[arg(long)]
    endpoint_url: Option<String>,
    /// Log format (overrides logging.format).
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Exit 0 when the gateway at ADDR reports SERVING on gRPC health (plaintext), or with
    /// --admin when its admin listener answers 200 on /readyz; for container health checks.
    Healthcheck {
        /// Gateway address.
        #[arg(long, default_value = "127.0.0.1:50051")]
        addr: SocketAddr,
        /// Open the connection with a PROXY protocol LOCAL header, as the gateway then requires.
        #[arg(long, env = "BEDROCK_GATEWAY_SERVER__PROXY_PROTOCOL", action = clap::ArgAction::Set, default_value_t = false)]
        proxy_protocol: bool,
        /// Check `GET /readyz` on the admin listener at this address instead of gRPC health (--addr
        /// and --proxy-protocol are then unused): for a gateway with `server.tls`, whose gRPC port
        /// needs a TLS client and maybe a client certificate.
        #[arg(long, value_name = "ADDR")]
        admin: Option<SocketAddr>,
    },
    /// Load and validate the configuration and the files it names, as start-up does, print it
    /// as TOML, and exit.
    CheckConfig,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(command) = &cli.command {
        return match runtime(1) {
            Ok(runtime) => runtime.block_on(run_command(command, &cli)),
            Err(err) => fail(&format!("cannot start the async runtime: {err}")),
        };
    }
    // Serving needs its configuration before the runtime, which `server.worker_threads` shapes.
    let config = match load_config(&cli) {
        Ok(config) => config,
        Err(message) => return fail(&message),
    };
    let threads = match config.server.scheduler {
        Scheduler::WorkStealing => config.server.threads(),
        // The main thread is the first shard; the gateway starts the others (see `shards`).
        Scheduler::ThreadPerCore => 1,
    };
    match runtime(threads) {
        Ok(runtime) => runtime.block_on(serve(cli, config)),
        Err(err) => fail(&format!("cannot start the async runtime: {err}")),
    }
}

/// The gateway's scheduler. One thread (`server.worker_threads = 1`, or 0 where the process may use
/// one CPU, as in a task of up to one vCPU) gets tokio's single-threaded scheduler: a woken task
/// waits its turn behind the others that are ready instead of running at once, so a connection's
/// task runs after all its streams that have events and writes them together, and no wake-up
/// crosses threads (about a fifth less CPU per relayed event; see BENCHMARKS.md). More threads get
/// the work-stealing scheduler, unless `server.scheduler = "thread_per_core"` gives each thread a
/// single-threaded runtime of its own.
fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    builder.enable_all().build()
}

async fn run_command(command: &Command, cli: &Cli) -> ExitCode {
    match command {
        Command::Healthcheck { admin: Some(admin), .. } => readiness_check(*admin).await,
        Command::Healthcheck { addr, proxy_protocol, admin: None } => healthcheck(*addr, *proxy_protocol).await,
        Command::CheckConfig => {
            let checked = load_config(cli)
                .and_then(|config| bedrock_gateway::preflight(&config).map(|_| config).map_err(|err| err.to_string()));
            match checked {
                Ok(config) => {
                    print!("{}", toml_text(&config.with_derived_defaults()));
                    ExitCode::SUCCESS
                }
                Err(message) => fail(&message),
            }
        }
    }
}

async fn serve(cli: Cli, mut config: Config) -> ExitCode {
    let emulator = match local_mode(&cli, &mut config).await {
        Ok(emulator) => emulator,
        Err(message) => return fail(&message),
    };
    let _telemetry = match telemetry::init(&config) {
        Ok(telemetry) => telemetry,
        Err(err) => return fail(&err.to_string()),
    };
    let (listener, admin_listener) =
        match (bind(config.server.listen, "server.listen").await, bind(config.admin.listen, "admin.listen").await) {
            (Ok(listener), Ok(admin_listener)) => (listener, admin_listener),
            (Err(message), _) | (_, Err(message)) => return fail(&message),
        };
    let addr = listener.local_addr().map_or_else(|_| config.server.listen.to_string(), |addr| addr.to_string());
    let admin_addr =
        admin_listener.local_addr().map_or_else(|_| config.admin.listen.to_string(), |addr| addr.to_string());
    match &emulator {
        Some(local) => {
            println!("bedrock-gateway listening on {addr} (local mode: Bedrock emulator at {})", local.endpoint_url);
            println!(
                "try: grpcurl -plaintext -d '{{\"model\":\"chat\",\"messages\":[{{\"role\":\"ROLE_USER\",\"content\":[{{\"text\":\"Hello\"}}]}}]}}' {addr} bedrock.gateway.v1.GatewayService/ConverseStream"
            );
            println!("metrics: curl http://{admin_addr}/metrics");
        }
        None => println!("bedrock-gateway listening on {addr}; admin (metrics, healthz, readyz) on {admin_addr}"),
    }
    match bedrock_gateway::serve_with_admin(config, listener, Some(admin_listener), shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err.to_string()),
    }
}

async fn bind(addr: SocketAddr, key: &str) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr).await.map_err(|err| format!("cannot listen on {addr} ({key}): {err}"))
}

fn load_config(cli: &Cli) -> Result<Config, String> {
    let mut config = Config::load(cli.config.as_deref()).map_err(|err| err.to_string())?;
    #[cfg(feature = "local")]
    if cli.local && config.models.is_empty() {
        config.models = bedrock_gateway::local::sample_models();
    }
    if let Some(listen) = cli.listen {
        config.server.listen = listen;
    }
    if let Some(region) = &cli.region {
        config.bedrock.region.clone_from(region);
    }
    if let Some(url) = &cli.endpoint_url {
        config.bedrock.endpoint_url = Some(url.clone());
    }
    if let Some(format) = cli.log_format {
        config.logging.format = format;
    }
    config.validate().map_err(|err| err.to_string())?;
    Ok(config)
}

/// Local mode's emulator, kept alive while the gateway serves.
#[cfg_attr(not(feature = "local"), allow(dead_code))]
struct LocalMode {
    endpoint_url: String,
    #[cfg(feature = "local")]
    _emulator: bedrock_gateway::local::Emulator,
}

/// With `--local`: starts the in-process emulator and points `config` at it.
#[cfg(feature = "local")]
async fn local_mode(cli: &Cli, config: &mut Config) -> Result<Option<LocalMode>, String> {
    if !cli.local {
        return Ok(None);
    }
    if cli.log_format.is_none() {
        config.logging.format = LogFormat::Text;
    }
    if cli.listen.is_none() {
        config.server.listen.set_ip([127, 0, 0, 1].into());
    }
    config.admin.listen.set_ip([127, 0, 0, 1].into());
    let emulator = bedrock_gateway::local::start(config)
        .await
        .map_err(|err| format!("cannot start the Bedrock emulator: {err}"))?;
    Ok(Some(LocalMode { endpoint_url: emulator.endpoint_url(), _emulator: emulator }))
}

#[cfg(not(feature = "local"))]
async fn local_mode(cli: &Cli, _config: &mut Config) -> Result<Option<LocalMode>, String> {
    if cli.local {
        return Err("--local needs a build with the `local` feature (the default); this binary has no emulator".into());
    }
    Ok(None)
}

fn toml_text(config: &Config) -> String {
    toml::to_string_pretty(config).unwrap_or_else(|err| format!("# cannot render: {err}\n"))
}

async fn healthcheck(addr: SocketAddr, proxy_protocol: bool) -> ExitCode {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let connector = tower::service_fn(move |_: http::Uri| async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        if proxy_protocol {
            tokio::io::AsyncWriteExt::write_all(&mut stream, &bedrock_gateway::proxy_protocol::encode_local()).await?;
        }
        Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
    });
    let check = async {
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?;
        let channel = endpoint.connect_with_connector(connector).await?;
        let response = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await?;
        Ok::<_, Box<dyn std::error::Error>>(response.into_inner().status == ServingStatus::Serving as i32)
    };
    match tokio::time::timeout(Duration::from_secs(3), check).await {
        Ok(Ok(true)) => ExitCode::SUCCESS,
        Ok(Ok(false)) => fail(&format!("{addr} is not serving")),
        Ok(Err(err)) => fail(&format!("{addr}: {err}")),
        Err(_) => fail(&format!("{addr}: no answer within 3 s")),
    }
}

/// `GET /readyz` on the admin listener at `addr`: plain HTTP/1.1, whatever the gRPC port requires.
async fn readiness_check(addr: SocketAddr) -> ExitCode {
    let check = async {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let request = http::Request::get("/readyz")
            .header(http::header::HOST, addr.to_string())
            .body(http_body_util::Empty::<bytes::Bytes>::new())?;
        Ok::<_, Box<dyn std::error::Error>>(sender.send_request(request).await?.status())
    };
    match tokio::time::timeout(Duration::from_secs(3), check).await {
        Ok(Ok(http::StatusCode::OK)) => ExitCode::SUCCESS,
        Ok(Ok(status)) => fail(&format!("{addr}/readyz answered {status}: not ready")),
        Ok(Err(err)) => fail(&format!("{addr}: {err}")),
        Err(_) => fail(&format!("{addr}: no answer within 3 s")),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}
