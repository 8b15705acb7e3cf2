//! `bedrock-gateway check-config` refuses whatever start-up refuses, with the same message naming
//! the key: it runs start-up's own checks, the loading of the files the configuration names
//! included, so it cannot pass a configuration the server would then stop on.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rcgen::{CertificateParams, KeyPair};

/// A configuration start-up accepts (both listeners on ports of their own, Bedrock never called),
/// with `extra` after it.
fn config_text(extra: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [bedrock]\nendpoint_url = \"http://127.0.0.1:1\"\ncredentials = \"emulator\"\n\
         [models.chat]\nmodel_id = \"m\"\n{extra}\n"
    )
}

/// A directory with `gateway.toml` (`config_text(extra)`), `server.pem` and `server.key` (a
/// working pair), and `junk.pem` (no PEM at all).
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyPair::generate().unwrap();
        let certificate = CertificateParams::new(vec!["localhost".to_owned()]).unwrap().self_signed(&key).unwrap();
        std::fs::write(dir.path().join("server.pem"), certificate.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
        std::fs::write(dir.path().join("junk.pem"), "not PEM\n").unwrap();
        Files { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `server.tls` with these files of the directory.
    fn tls(&self, cert: &str, key: &str, client_ca: &str) -> String {
        format!(
            "[server.tls]\ncert_file = {:?}\nkey_file = {:?}\nclient_ca_file = {:?}\n",
            self.path(cert),
            self.path(key),
            self.path(client_ca)
        )
    }

    fn config(&self, extra: &str) -> PathBuf {
        let file = self.path("gateway.toml");
        std::fs::write(&file, config_text(extra)).unwrap();
        file
    }
}

/// Runs the gateway binary with `--config config` and `args`; one that has not exited within
/// 10 s (a server that started) is killed and fails the test.
fn run(config: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bedrock-gateway"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!("`{args:?}` still ran after 10 s: {}", String::from_utf8_lossy(&output.stdout));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Checks that check-config and start-up both refuse `config`, with the same last line naming `key`.
fn both_refuse(config: &Path, key: &str) -> String {
    let last_line = |output: &Output| {
        assert!(!output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
        String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or_default().to_owned()
    };
    let checked = last_line(&run(config, &["check-config"]));
    let started = last_line(&run(config, &[]));
    assert!(checked.contains(key), "{checked}");
    assert_eq!(checked, started, "check-config says what start-up says");
    checked
}

#[test]
fn a_working_configuration_passes_and_shows_the_identity_rule_it_gets() {
    let files = Files::new();
    let extra = format!(
        "{}[tenants.ops]\napi_keys = {{ ci = \"{}\" }}",
        files.tls("server.pem", "server.key", "server.pem"),
        "A".repeat(64)
    );
    let output = run(&files.config(&extra), &["check-config"]);
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(printed.contains("require_identity = true"), "the derived default is written out:\n{printed}");
}

#[test]
fn server_tls_files_that_are_not_what_their_key_needs_are_refused() {
    let files = Files::new();
    for (cert, key, client_ca, refused_key, reason) in [
        ("junk.pem", "server.key", "server.pem", "server.tls.cert_file", "no PEM certificate"),
        ("server.pem", "server.pem", "server.pem", "server.tls.key_file", "no PEM private key"),
        ("server.pem", "server.key", "junk.pem", "server.tls.client_ca_file", "no PEM certificate"),
    ] {
        let message = both_refuse(&files.config(&files.tls(cert, key, client_ca)), refused_key);
        assert!(message.contains(reason), "{message}");
    }
}

#[test]
fn a_logging_filter_the_logger_cannot_parse_is_refused() {
    let files = Files::new();
    both_refuse(&files.config("[logging]\nfilter = \"info,bedrock_gateway=loud\""), "logging.filter");
}

#[test]
fn key_names_are_checked_like_tenant_names() {
    let files = Files::new();
    let digest = "a".repeat(64);
    both_refuse(&files.config(&format!("[auth.api_keys]\n\"Bad Name!\" = \"{digest}\"")), "auth.api_keys.Bad Name!");
    let in_tenant = format!("[tenants.ops]\napi_keys = {{ \"Bad Name!\" = \"{digest}\" }}");
    both_refuse(&files.config(&in_tenant), "tenants.ops.api_keys.Bad Name!");
}
