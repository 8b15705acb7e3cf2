//! The `bedrock-emulator` binary announces its URL and serves the SDK, over TLS when asked.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region};
use bedrock_emulator::expected_answer;
use common::{MODEL, https_client, user};

/// Kills the child even when an assertion fails.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// Starts the binary with `args` and reads the URL it announces.
    fn start(args: &[&str]) -> (Running, String) {
        let mut child = Running(
            Command::new(env!("CARGO_BIN_EXE_bedrock-emulator"))
                .args(args)
                .stdout(Stdio::piped())
                .spawn()
                .expect("binary starts"),
        );
        let stdout = child.0.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("announcement");
        let url = line.trim().strip_prefix("bedrock-emulator listening on ").expect("announcement format").to_owned();
        (child, url)
    }
}

#[tokio::test]
async fn serves_on_the_announced_url() {
    let (_child, url) = Running::start(&["--port", "0", "--answer-tokens", "5"]);
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let config = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    let output = Client::from_conf(config)
        .converse()
        .model_id(MODEL)
        .messages(user("hello"))
        .send()
        .await
        .expect("the binary answers");
    let message = output.output().unwrap().as_message().unwrap();
    assert_eq!(message.content()[0].as_text().unwrap(), &expected_answer("hello", None, 5).text());
}

#[tokio::test]
async fn serves_tls_with_the_certificate_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let pem_file = dir.path().join("emulator.pem");
    let (_child, url) = Running::start(&["--port", "0", "--tls", "--tls-cert-out", pem_file.to_str().unwrap()]);
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let pem = std::fs::read_to_string(&pem_file).expect("the certificate is written before the announcement");

    let output = https_client(&url, &pem).converse().model_id(MODEL).messages(user("hello")).send().await;
    let output = output.expect("the binary answers over TLS");
    let message = output.output().unwrap().as_message().unwrap();
    assert_eq!(message.content()[0].as_text().unwrap(), &expected_answer("hello", None, 32).text());
}

#[test]
fn tls_needs_a_file_for_the_certificate() {
    let status = Command::new(env!("CARGO_BIN_EXE_bedrock-emulator"))
        .args(["--port", "0", "--tls"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("binary runs");
    assert!(!status.success());
}
