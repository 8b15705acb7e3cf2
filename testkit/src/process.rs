//! The real gateway binary as a child process.

use std::time::Duration;

use bedrock_emulator::Emulator;
use bedrock_gateway_proto::v1::gateway_service_client::GatewayServiceClient;
use tonic::transport::Channel;

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
