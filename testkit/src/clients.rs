//! The HTTP doors through clients no one here wrote: boto3, the `openai` package, LangChain, the
//! AWS SDK for JavaScript and curl, each run as its own program against a gateway serving TLS from
//! a test CA (botocore sends a bearer key over HTTPS only, "Bearer authorization requires an HTTPS
//! endpoint"), with tenants known by their keys.
//!
//! `cargo xtask test` installs the clients and names them in the environment:
//! `BGW_CLIENTS_PYTHON` is a python with boto3, openai and LangChain, `BGW_CLIENTS_NODE_MODULES` a
//! `node_modules` with `@aws-sdk/client-bedrock-runtime`. Without those variables the ones it
//! installs under `$BGW_TOOLS_DIR` (default `~/.cache/bedrock-gateway-ci`) are used; when neither
//! is there a test fails naming `cargo xtask test`, never skips.
//!
//! A script gets everything a team would set in its environment, and nothing of this machine's:
//! the gateway's URL (`GATEWAY_URL`), the tenant's key as the SDKs read it
//! (`AWS_BEARER_TOKEN_BEDROCK`, `OPENAI_API_KEY`), the CA as each reads it (`AWS_CA_BUNDLE` for
//! botocore, `SSL_CERT_FILE` for httpx, `NODE_EXTRA_CA_CERTS` for node), an empty home (no AWS
//! profile or credentials), and no instance metadata lookups (nothing leaves loopback). It is
//! bounded in time, a failure shows its output, and what it printed must never hold a Bedrock
//! model id of the catalog: the gateway answers with aliases only.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use bedrock_gateway::config::{EmbeddingFormat, QuotaLimits, StructuredOutputStyle, TenantConfig};
use tempfile::TempDir;

use crate::programs::missing_program;
use crate::{TestGateway, TestPki, api_key_digest, embedding_model};

/// The key of tenant `team`, which may use every model.
pub const TEAM_KEY: &str = "team-key-for-the-client-tests";
/// The key of tenant `restricted`, which may use `chat` only.
pub const RESTRICTED_KEY: &str = "restricted-key-for-the-client-tests";
/// The key of tenant `throttled`, which may start one request a minute.
pub const THROTTLED_KEY: &str = "throttled-key-for-the-client-tests";

/// The embedding alias (Amazon Titan Text Embeddings v2's body, dimensions 1024, 512 or 256).
pub const EMBED_ALIAS: &str = "embed";

/// Longest a script may run: Python imports LangChain in seconds, on a busy 2-core machine in
/// several.
const SCRIPT_TIME: Duration = Duration::from_secs(60);

/// A client program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// The clients' python (boto3, openai, LangChain).
    Python,
    /// node, resolving `@aws-sdk/client-bedrock-runtime` from the clients' `node_modules`.
    Node,
    /// `sh -e`, with curl on the PATH.
    Shell,
}

/// What a script printed.
#[derive(Debug)]
pub struct ScriptOutput {
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl ScriptOutput {
    /// The last line of the output as JSON: the scripts' results.
    pub fn json(&self) -> serde_json::Value {
        let last = self.stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last)
            .unwrap_or_else(|err| panic!("the script's last line is not JSON ({err}):\n{}", self.stdout))
    }
}

/// A gateway for third-party clients: TLS from [`ClientsGateway::pki`], the tenants of
/// [`TEAM_KEY`], [`RESTRICTED_KEY`] and [`THROTTLED_KEY`], the test catalog with `chat` doing
/// native structured output and CountTokens, and the embedding alias [`EMBED_ALIAS`].
#[derive(Debug)]
pub struct ClientsGateway {
    /// The gateway.
    pub gateway: TestGateway,
    /// Its CA and server certificate.
    pub pki: TestPki,
    /// Every Bedrock model id of the catalog, which no answer may show.
    model_ids: Vec<String>,
    /// The scripts' home and scratch space.
    scratch: TempDir,
}

impl ClientsGateway {
    /// Starts one.
    pub async fn start() -> ClientsGateway {
        let pki = TestPki::new();
        let mut model_ids = Vec::new();
        let gateway = TestGateway::start_with(|config| {
            config.server.tls = Some(pki.server_tls());
            let chat = config.models.get_mut("chat").expect("the test catalog has chat");
            chat.capabilities.structured_output = StructuredOutputStyle::Native;
            chat.capabilities.count_tokens = true;
            let embed = embedding_model("test.titan-embed-text-v2", EmbeddingFormat::TitanTextV2, &[1024, 512, 256]);
            config.models.insert(EMBED_ALIAS.to_owned(), embed);
            let tenant = |key: &str, models: Option<Vec<String>>, quotas: QuotaLimits| TenantConfig {
                api_keys: [("sdk".to_owned(), api_key_digest(key).into())].into(),
                models,
                quotas,
                ..TenantConfig::default()
            };
            config.tenants.insert("team".into(), tenant(TEAM_KEY, None, QuotaLimits::default()));
            let chat_only = Some(vec!["chat".to_owned()]);
            config.tenants.insert("restricted".into(), tenant(RESTRICTED_KEY, chat_only, QuotaLimits::default()));
            let one_a_minute = QuotaLimits { requests_per_minute: Some(1), ..QuotaLimits::default() };
            config.tenants.insert("throttled".into(), tenant(THROTTLED_KEY, None, one_a_minute));
            for model in config.models.values() {
                let targets = model.targets.iter().chain(&model.fallbacks).map(|target| target.model_id.clone());
                model_ids.extend(std::iter::once(model.model_id.clone()).chain(targets));
            }
        })
        .await;
        ClientsGateway { gateway, pki, model_ids, scratch: tempfile::tempdir().unwrap() }
    }

    /// The URL clients are given: `https://localhost:PORT`, a name the certificate holds.
    pub fn endpoint(&self) -> String {
        format!("https://localhost:{}", self.gateway.addr.port())
    }

    /// The file with the CA that signed the gateway's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.pki.ca_file()
    }

    /// Runs `script` (a file of the test's) with `args`, as tenant `key`; see [`ClientsGateway::run`].
    pub async fn run_script(&self, runner: Runner, script: &Path, args: &[&str], key: &str) -> ScriptOutput {
        let source = std::fs::read_to_string(script).unwrap_or_else(|err| panic!("{}: {err}", script.display()));
        let name = script.file_name().expect("a script file").to_string_lossy().into_owned();
        self.run(runner, &name, &source, args, key).await
    }

    /// Runs `source` with `runner` and `args`, as tenant `key`, until it exits: at most
    /// [`SCRIPT_TIME`]. Panics, showing what it printed, when it fails, runs over its time or
    /// prints a Bedrock model id.
    pub async fn run(&self, runner: Runner, name: &str, source: &str, args: &[&str], key: &str) -> ScriptOutput {
        let dir = tempfile::tempdir_in(self.scratch.path()).unwrap();
        let file = dir.path().join(name);
        std::fs::write(&file, source).unwrap();
        let (program, mut command) = match runner {
            Runner::Python => {
                let python = tool("BGW_CLIENTS_PYTHON", "clients/bin/python");
                let mut command = Command::new(&python);
                command.arg(&file);
                (python.display().to_string(), command)
            }
            Runner::Node => {
                // Node resolves an ES module's imports from the folders above its file, never from
                // NODE_PATH: the script's folder gets the clients' node_modules.
                let node_modules = tool("BGW_CLIENTS_NODE_MODULES", "clients-js/node_modules");
                std::os::unix::fs::symlink(&node_modules, dir.path().join("node_modules")).unwrap();
                let mut command = Command::new("node");
                command.arg(&file);
                ("node".to_owned(), command)
            }
            Runner::Shell => {
                // The shell's own "not found" would not say how to install curl.
                if let Err(err) = Command::new("curl").arg("--version").stdout(Stdio::null()).status() {
                    missing_program("curl", &err);
                }
                let mut command = Command::new("sh");
                command.arg("-e").arg(&file);
                ("sh".to_owned(), command)
            }
        };
        let (stdout_file, stderr_file) = (dir.path().join("stdout"), dir.path().join("stderr"));
        let ca = self.ca_file();
        command
            .args(args)
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.scratch.path())
            .env("LANG", "C.UTF-8")
            .env("GATEWAY_URL", self.endpoint())
            .env("AWS_BEARER_TOKEN_BEDROCK", key)
            .env("OPENAI_API_KEY", key)
            .env("AWS_CA_BUNDLE", &ca)
            .env("SSL_CERT_FILE", &ca)
            .env("NODE_EXTRA_CA_CERTS", &ca)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout_file).unwrap())
            .stderr(std::fs::File::create(&stderr_file).unwrap());
        let mut child = command.spawn().unwrap_or_else(|err| missing_program(&program, &err));
        let deadline = tokio::time::Instant::now() + SCRIPT_TIME;
        // Polled, not waited for: the gateway runs on this test's runtime.
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let read = |file: &Path| String::from_utf8_lossy(&std::fs::read(file).unwrap()).into_owned();
        let output = ScriptOutput { stdout: read(&stdout_file), stderr: read(&stderr_file) };
        let shown = || format!("--- stdout ---\n{}\n--- stderr ---\n{}", output.stdout, output.stderr);
        match status {
            None => panic!("{name} {args:?} ran over {SCRIPT_TIME:?} and was killed\n{}", shown()),
            Some(status) if !status.success() => panic!("{name} {args:?} failed ({status})\n{}", shown()),
            Some(_) => {}
        }
        for model_id in &self.model_ids {
            assert!(
                !output.stdout.contains(model_id.as_str()) && !output.stderr.contains(model_id.as_str()),
                "{name} {args:?} was shown the Bedrock model id {model_id:?}\n{}",
                shown()
            );
        }
        output
    }
}

/// The clients' `relative` path under the tools folder, or the environment variable `variable`
/// when it is set; panics naming `cargo xtask test` when neither exists.
fn tool(variable: &str, relative: &str) -> PathBuf {
    if let Some(given) = std::env::var_os(variable).filter(|value| !value.is_empty()) {
        return PathBuf::from(given);
    }
    let tools = std::env::var_os("BGW_TOOLS_DIR")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache/bedrock-gateway-ci")));
    let installed = tools.map(|tools| tools.join(relative)).filter(|path| path.exists());
    installed.unwrap_or_else(|| {
        panic!(
            "{variable} is not set and the clients are not installed: run the tests with `cargo xtask test`, \
             which installs boto3, openai, LangChain and the AWS SDK for JavaScript and sets it"
        )
    })
}
