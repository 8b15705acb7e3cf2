//! The child processes under test, each measured on its own: the emulator and the gateway run as
//! separate release binaries spawned by the load generator, so that `/proc/PID` gives each one's
//! resident memory and CPU time alone, and a noisy machine slows every side of a comparison alike
//! because all of them share one process tree.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::ValueEnum;
use serde::Serialize;

use crate::affinity::{Cores, on_cpu};

/// How long a child may take to accept TCP connections before the run gives up.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// What to do when the gateway or the emulator cannot be run.
const BUILD_RELEASE: &str = "build it with `cargo build --release`";
/// What to do when `redis-server` cannot be run.
const INSTALL_REDIS: &str = "install the Debian package redis-server";

/// Linux reports CPU times in `/proc/PID/stat` in USER_HZ ticks, which is 100 on every supported
/// architecture (the kernel's internal HZ differs, the exported unit does not).
const TICKS_PER_SECOND: f64 = 100.0;

/// The resolution of CPU times read from `/proc`, in seconds.
pub const CPU_TICK: f64 = 1.0 / TICKS_PER_SECOND;

/// Where the release binaries and the logs are, and how the children reach the emulator.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Folder of `bedrock-gateway` and `bedrock-emulator`.
    pub bin_dir: PathBuf,
    /// Folder for child logs and generated configs.
    pub work_dir: PathBuf,
    /// The pinned run's CPUs: gateways start on `gateway`, everything else on `load`; `None` lets
    /// every child run anywhere.
    pub cores: Option<Cores>,
    /// The protocol every emulator serves.
    pub bedrock_http: BedrockHttp,
}

/// The protocol between Bedrock's clients (the gateway, the direct SDK client, the peer proxy)
/// and the emulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BedrockHttp {
    /// Plain HTTP/1.1: the SDK holds a connection per concurrent stream and reads each event
    /// from its own socket.
    H1,
    /// TLS with ALPN `h2`, as Bedrock's endpoints serve it: the SDK multiplexes every stream on
    /// one connection.
    H2,
}

impl BedrockHttp {
    /// The protocol, for people.
    pub fn describe(self) -> &'static str {
        match self {
            BedrockHttp::H1 => "HTTP/1.1 over plain TCP",
            BedrockHttp::H2 => "HTTP/2 over TLS (ALPN h2), as Bedrock",
        }
    }
}

/// How clients reach one emulator.
#[derive(Debug, Clone)]
pub struct BedrockEndpoint {
    /// `http://127.0.0.1:PORT`, or `https://` over TLS.
    pub url: String,
    /// Over TLS, the PEM file of the emulator's self-signed certificate, the only one clients
    /// trust.
    pub certificate: Option<PathBuf>,
}

/// One spawned child, killed when dropped so an aborted run leaves nothing behind.
#[derive(Debug)]
pub struct ChildProcess {
    child: Child,
    /// The loopback address it listens on.
    pub addr: SocketAddr,
    /// When it was spawned.
    pub spawned_at: Instant,
    /// Whether it leads a process group of its own, whose CPU time counts as its own and which is
    /// killed with it (a server made of worker processes, which outlive a killed parent).
    group: bool,
}

impl ChildProcess {
    /// Its pid, for `/proc` sampling.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory now, in bytes.
    pub fn rss_bytes(&self) -> std::io::Result<u64> {
        rss_bytes(self.pid())
    }

    /// CPU seconds it has used: its own, or with its descendants' for a server made of worker
    /// processes.
    pub fn cpu_seconds(&self) -> std::io::Result<f64> {
        if self.group { self.tree_cpu_seconds() } else { cpu_seconds(self.pid()) }
    }

    /// CPU seconds of the process and every descendant it has now.
    fn tree_cpu_seconds(&self) -> std::io::Result<f64> {
        let root = self.pid();
        let mut parents = Vec::new();
        for entry in std::fs::read_dir("/proc")? {
            let Some(pid) = entry?.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
            if let Ok(parent) = parent_pid(pid) {
                parents.push((pid, parent));
            }
        }
        let mut tree = vec![root];
        let mut index = 0;
        while let Some(&pid) = tree.get(index) {
            tree.extend(parents.iter().filter(|(_, parent)| *parent == pid).map(|(child, _)| *child));
            index += 1;
        }
        // A process that ended since /proc was listed no longer counts; the root must be there.
        let mut total = cpu_seconds(root)?;
        total += tree[1..].iter().filter_map(|&pid| cpu_seconds(pid).ok()).sum::<f64>();
        Ok(total)
    }

    /// Its exit status, if it has exited.
    pub fn exited(&mut self) -> std::io::Result<Option<std::process::ExitStatus>> {
        self.child.try_wait()
    }

    /// Waits until its port accepts connections; returns the time since spawn.
    pub async fn wait_listening(&mut self) -> std::io::Result<Duration> {
        let addr = self.addr;
        let listening = async || tokio::net::TcpStream::connect(addr).await.is_ok();
        self.wait_until(&format!("nothing listening on {addr}"), listening).await
    }

    /// Waits until it has written `path`.
    async fn wait_for_file(&mut self, path: &Path) -> std::io::Result<Duration> {
        self.wait_until(&format!("no {}", path.display()), async || path.exists()).await
    }

    /// Polls `ready` until it holds, the child exits or [`READY_TIMEOUT`] has passed since the
    /// spawn (then the error says `missing`); returns the time since spawn.
    async fn wait_until(&mut self, missing: &str, mut ready: impl AsyncFnMut() -> bool) -> std::io::Result<Duration> {
        while self.spawned_at.elapsed() < READY_TIMEOUT {
            if ready().await {
                return Ok(self.spawned_at.elapsed());
            }
            if let Some(status) = self.child.try_wait()? {
                return Err(std::io::Error::other(format!("child exited early with {status}; see its log")));
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        Err(std::io::Error::other(format!("{missing} after {READY_TIMEOUT:?}")))
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if self.group
            && let Ok(pid) = i32::try_from(self.pid())
        {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the emulator paces its answers.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// Milliseconds before the first token.
    pub ttft_ms: u64,
    /// Milliseconds between tokens.
    pub token_gap_ms: u64,
    /// Tokens per answer (requests may cut it shorter with maxTokens).
    pub answer_tokens: usize,
}

impl Layout {
    /// Starts `bedrock-emulator` on a free loopback port, serving [`Layout::bedrock_http`], and
    /// waits until it listens (and, over TLS, has written its certificate beside its log).
    pub async fn emulator(&self, name: &str, pacing: Pacing) -> std::io::Result<(ChildProcess, BedrockEndpoint)> {
        let addr = free_port()?;
        let mut command = Command::new(self.bin_dir.join("bedrock-emulator"));
        command.args([
            "--host",
            "127.0.0.1",
            "--port",
            &addr.port().to_string(),
            "--ttft-ms",
            &pacing.ttft_ms.to_string(),
            "--token-gap-ms",
            &pacing.token_gap_ms.to_string(),
            "--answer-tokens",
            &pacing.answer_tokens.to_string(),
        ]);
        let certificate = match self.bedrock_http {
            BedrockHttp::H1 => None,
            BedrockHttp::H2 => Some(self.work_dir.join(format!("emulator-{name}.pem"))),
        };
        if let Some(path) = &certificate {
            // One left by an earlier run in the same folder would pass for this emulator's.
            if let Err(err) = std::fs::remove_file(path)
                && err.kind() != std::io::ErrorKind::NotFound
            {
                return Err(err);
            }
            command.arg("--tls").arg("--tls-cert-out").arg(path);
        }
        let cpu = self.cores.map(|cores| cores.load);
        let mut child = self.spawn(command, &format!("emulator-{name}"), addr, BUILD_RELEASE, cpu)?;
        child.wait_listening().await?;
        if let Some(path) = &certificate {
            child.wait_for_file(path).await?;
        }
        let scheme = if certificate.is_some() { "https" } else { "http" };
        Ok((child, BedrockEndpoint { url: format!("{scheme}://{addr}"), certificate }))
    }

    /// Starts `bedrock-gateway` in front of `emulator` without waiting for it, so cold start can
    /// be timed from the spawn.
    pub fn gateway(&self, name: &str, emulator: &BedrockEndpoint, log_filter: &str) -> std::io::Result<ChildProcess> {
        self.gateway_with(name, emulator, log_filter, &GatewaySettings::default())
    }

    /// [`Layout::gateway`] with `settings` changed from the common configuration.
    pub fn gateway_with(
        &self,
        name: &str,
        emulator: &BedrockEndpoint,
        log_filter: &str,
        settings: &GatewaySettings,
    ) -> std::io::Result<ChildProcess> {
        let addr = free_port()?;
        let config = self.work_dir.join(format!("gateway-{name}.toml"));
        std::fs::write(&config, gateway_config(addr, &emulator.url, log_filter, settings))?;
        let mut command = Command::new(self.bin_dir.join("bedrock-gateway"));
        command.arg("--config").arg(&config).env_remove("RUST_LOG");
        if let Some(certificate) = &emulator.certificate {
            // The SDK's default client trusts the roots rustls-native-certs loads: from these two
            // variables when either is set, else from the system store. Setting one and clearing
            // the other leaves the emulator's certificate as the only root.
            command.env("SSL_CERT_FILE", certificate).env_remove("SSL_CERT_DIR");
        }
        let cpu = self.cores.map(|cores| cores.gateway);
        self.spawn(command, &format!("gateway-{name}"), addr, BUILD_RELEASE, cpu)
    }

    /// Starts a `redis-server` (from `PATH`) on a free loopback port, working in `dir` and
    /// persisting nothing, and waits until it listens; its log goes with the others.
    pub async fn redis(&self, name: &str, dir: &Path) -> std::io::Result<ChildProcess> {
        let addr = free_port()?;
        let mut command = Command::new("redis-server");
        command.args(["--bind", "127.0.0.1", "--port", &addr.port().to_string(), "--save", "", "--appendonly", "no"]);
        command.arg("--dir").arg(dir);
        let cpu = self.cores.map(|cores| cores.load);
        let mut child = self.spawn(command, &format!("redis-{name}"), addr, INSTALL_REDIS, cpu)?;
        child.wait_listening().await?;
        Ok(child)
    }

    /// Starts the LiteLLM proxy (`litellm` is its console script) in front of `emulator` on a free
    /// loopback port with `workers` worker processes, without waiting for it: its model `bench` is
    /// the emulator's `bench-model` through LiteLLM's Bedrock Converse provider, with fake
    /// credentials, no database, no telemetry, no cost-map download and warnings-only logs.
    pub fn litellm(
        &self,
        name: &str,
        litellm: &Path,
        emulator: &BedrockEndpoint,
        workers: usize,
    ) -> std::io::Result<ChildProcess> {
        let addr = free_port()?;
        let config = self.work_dir.join(format!("litellm-{name}.yaml"));
        std::fs::write(&config, litellm_config(&emulator.url))?;
        let log_config = self.work_dir.join(format!("litellm-{name}-logging.json"));
        std::fs::write(&log_config, LITELLM_LOGGING)?;
        let mut command = Command::new(litellm);
        command
            .arg("--config")
            .arg(&config)
            .args(["--host", "127.0.0.1", "--port", &addr.port().to_string()])
            .args(["--num_workers", &workers.to_string(), "--telemetry", "False"])
            .arg("--log_config")
            .arg(&log_config)
            .env("LITELLM_LOG", "ERROR")
            .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            .env("LITELLM_TELEMETRY", "False")
            .env("PYTHONUNBUFFERED", "1")
            .env_remove("DATABASE_URL")
            .env_remove("LITELLM_MASTER_KEY")
            .process_group(0);
        if let Some(certificate) = &emulator.certificate {
            // LiteLLM's HTTP client builds its SSL context from this CA file when it is set. Its
            // default transport, aiohttp, speaks HTTP/1.1 only: the peer gets TLS without HTTP/2.
            command.env("SSL_CERT_FILE", certificate);
        }
        let cpu = self.cores.map(|cores| cores.gateway);
        let mut child = self.spawn(command, &format!("litellm-{name}"), addr, INSTALL_LITELLM, cpu)?;
        child.group = true;
        Ok(child)
    }

    /// Spawns `command` with its output in `<name>.log`, on `cpu` if given; `remedy` says what to
    /// do when the program cannot be run.
    fn spawn(
        &self,
        mut command: Command,
        name: &str,
        addr: SocketAddr,
        remedy: &str,
        cpu: Option<usize>,
    ) -> std::io::Result<ChildProcess> {
        let log = self.work_dir.join(format!("{name}.log"));
        let file = File::create(&log)?;
        command.stdin(Stdio::null()).stdout(file.try_clone()?).stderr(file);
        let spawned_at = Instant::now();
        let spawned = match cpu {
            Some(cpu) => on_cpu(cpu, || command.spawn())?,
            None => command.spawn(),
        };
        let child = spawned.map_err(|err| {
            let program = Path::new(command.get_program()).display();
            std::io::Error::new(err.kind(), format!("{program}: {err} ({remedy})"))
        })?;
        // For attaching a profiler (`perf record -p PID`) while a scenario runs.
        eprintln!("{name}: pid {} on {addr}", child.id());
        Ok(ChildProcess { child, addr, spawned_at, group: false })
    }
}

/// What a scenario changes in the gateway's configuration.
#[derive(Debug, Clone, Default)]
pub struct GatewaySettings {
    /// `key = value` lines added to the `[server]` table; one whose key the common configuration
    /// sets replaces that line.
    pub server: Vec<String>,
    /// The admin listener's address, for a scenario that reads `/metrics`; any free port otherwise.
    pub admin: Option<SocketAddr>,
    /// TOML appended after the common configuration: tables of its own (tenants, quotas).
    pub tables: String,
}

/// The gateway configuration every scenario uses: the emulator as Bedrock, no retries, room for
/// the idle scenario's 10,000 streams from one client address (one caller gets half of the
/// in-flight limit) and for the memory scenario's maximum-size requests (whose bytes the default
/// budget would refuse beyond 32 at once, which is what it is for), the admin listener
/// on a port of its own (gateways may overlap), and two models, `bench` (answers) and `idle` (the
/// emulator's `fault.stall`, which never finishes).
fn gateway_config(listen: SocketAddr, emulator_url: &str, log_filter: &str, settings: &GatewaySettings) -> String {
    let key = |line: &str| line.split('=').next().unwrap_or_default().trim().to_owned();
    let common = COMMON_SERVER.into_iter().filter(|common| settings.server.iter().all(|line| key(line) != key(common)));
    let server =
        common.chain(settings.server.iter().map(String::as_str)).map(|line| format!("{line}\n")).collect::<String>();
    let admin = settings.admin.unwrap_or(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
    format!(
        r#"[server]
listen = "{listen}"
{server}
[admin]
listen = "{admin}"

[bedrock]
endpoint_url = "{emulator_url}"
credentials = "emulator"
max_attempts = 1

[logging]
format = "json"
filter = "{log_filter}"

[models.bench]
model_id = "bench-model"

[models.idle]
model_id = "fault.stall"
{tables}"#,
        tables = settings.tables
    )
}

/// The `[server]` lines of [`gateway_config`] that a scenario may replace.
const COMMON_SERVER: [&str; 2] = ["max_concurrent_requests = 20000", "max_buffered_request_bytes = 1073741824"];

/// What to do when the LiteLLM proxy cannot be run.
const INSTALL_LITELLM: &str = "`bash bench/run.sh --peer litellm` installs it";

/// The LiteLLM proxy's configuration: one model, the emulator behind LiteLLM's Bedrock Converse
/// provider (`bedrock/converse/<model id>`), the same fake credentials the other clients use.
fn litellm_config(emulator_url: &str) -> String {
    format!(
        r#"model_list:
  - model_name: bench
    litellm_params:
      model: bedrock/converse/bench-model
      aws_bedrock_runtime_endpoint: "{emulator_url}"
      aws_region_name: us-east-1
      aws_access_key_id: emulator
      aws_secret_access_key: emulator
litellm_settings:
  telemetry: false
  set_verbose: false
"#
    )
}

/// Uvicorn's logging configuration for the proxy: warnings and errors only, so its access log (a
/// line per request) costs the peer no more than the gateway's `warn` filter costs the gateway.
const LITELLM_LOGGING: &str = r#"{
  "version": 1,
  "disable_existing_loggers": false,
  "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
  "root": {"level": "WARNING", "handlers": ["stderr"]},
  "loggers": {
    "uvicorn": {"level": "WARNING"},
    "uvicorn.error": {"level": "WARNING"},
    "uvicorn.access": {"level": "WARNING"},
    "LiteLLM": {"level": "ERROR"},
    "LiteLLM Proxy": {"level": "ERROR"},
    "LiteLLM Router": {"level": "ERROR"}
  }
}
"#;

/// A loopback port that was free a moment ago; the child binds it right after.
pub fn free_port() -> std::io::Result<SocketAddr> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()
}

/// `VmRSS` of a process, in bytes.
pub fn rss_bytes(pid: u32) -> std::io::Result<u64> {
    Ok(memory(pid)?.rss_bytes)
}

/// Resident memory of a process, now and at its highest, from one read of `/proc/PID/status`.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// `VmRSS`, bytes.
    pub rss_bytes: u64,
    /// `VmHWM`, the highest `VmRSS` since the process started, bytes.
    pub peak_rss_bytes: u64,
}

/// `VmRSS` and `VmHWM` of a process.
pub fn memory(pid: u32) -> std::io::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .ok_or_else(|| std::io::Error::other(format!("no {name} in /proc/{pid}/status")))
    };
    Ok(Memory { rss_bytes: field("VmRSS:")?, peak_rss_bytes: field("VmHWM:")? })
}

/// Sets a process's `VmHWM` back to its current `VmRSS` (Linux 4.0+), so that the next peak read
/// is the peak since now.
pub fn reset_peak_rss(pid: u32) -> std::io::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
}

/// `utime + stime` of a process, in seconds.
pub fn cpu_seconds(pid: u32) -> std::io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may contain spaces; the numeric fields follow its closing paren.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default().split_whitespace().collect();
    // After the paren: state is field 3, so utime (14) and stime (15) are at offsets 11 and 12.
    let ticks = |offset: usize| fields.get(offset).and_then(|value| value.parse::<u64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => Ok((user + system) as f64 / TICKS_PER_SECOND),
        _ => Err(std::io::Error::other(format!("unexpected /proc/{pid}/stat"))),
    }
}

/// The parent's pid, from `/proc/PID/stat`.
fn parent_pid(pid: u32) -> std::io::Result<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // After the command name's closing paren: state, then the parent's pid.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(1))
        .and_then(|value| value.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("unexpected /proc/{pid}/stat")))
}

/// Raises the open-file limit to its hard limit, for this process and the children it spawns
/// (10,000 idle streams need one connection each, in the gateway and the emulator).
pub fn raise_fd_limit() -> std::io::Result<u64> {
    let (_, hard) = rlimit::Resource::NOFILE.get()?;
    rlimit::increase_nofile_limit(hard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenarios_server_line_replaces_the_common_one_of_the_same_key() {
        let settings = GatewaySettings {
            server: vec!["max_buffered_request_bytes = 134217728".to_owned(), "proxy_protocol = true".to_owned()],
            ..GatewaySettings::default()
        };
        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 1));
        let config = gateway_config(listen, "http://127.0.0.1:2", "warn", &settings);
        assert_eq!(config.matches("max_buffered_request_bytes").count(), 1, "{config}");
        assert!(config.contains("max_buffered_request_bytes = 134217728\n"), "{config}");
        assert!(config.contains("max_concurrent_requests = 20000\n"), "{config}");
        assert!(config.contains("proxy_protocol = true\n"), "{config}");
        let common = gateway_config(listen, "http://127.0.0.1:2", "warn", &GatewaySettings::default());
        assert!(common.contains("max_buffered_request_bytes = 1073741824\n"), "{common}");
    }
}
