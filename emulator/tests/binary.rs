//! The `bedrock-emulator` binary announces its URL and serves the SDK.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region};
use bedrock_emulator::expected_answer;
use common::{MODEL, user};

/// Kills the child even when an assertion fails.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn serves_on_the_announced_url() {
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_bedrock-emulator"))
            .args(["--port", "0", "--answer-tokens", "5"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("binary starts"),
    );
    let stdout = child.0.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("announcement");
    let url = line.trim().strip_prefix("bedrock-emulator listening on ").expect("announcement format").to_owned();
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
