//! The `bgw` binary, run as a user would, against a gateway on a loopback port.

mod common;

use std::process::Output;

use bedrock_emulator::expected_answer;
use bedrock_gateway_testkit::TestPki;
use common::{ANSWER_TOKENS, Gateway};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

fn bgw(endpoint: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bgw"));
    command.env_clear().env("BGW_ENDPOINT", endpoint).kill_on_drop(true);
    command
}

async fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().await.unwrap();
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    (output, stdout, stderr)
}

#[tokio::test]
async fn chat_prints_the_answer_and_a_summary() {
    let gateway = Gateway::start().await;
    let (output, stdout, stderr) =
        run(bgw(&gateway.url()).args(["chat", "--model", "chat", "--max-tokens", "5", "hello cli"])).await;
    assert!(output.status.success(), "{stderr}");
    assert_eq!(stdout, format!("{}\n", expected_answer("hello cli", Some(5), ANSWER_TOKENS).text()));
    // ttft 3 ms · 2 in / 5 out tokens · max_tokens · 0.01 s
    let parts: Vec<&str> = stderr.trim_end().split(" · ").collect();
    assert_eq!(parts.len(), 4, "{stderr}");
    assert!(parts[0].starts_with("ttft ") && parts[0].ends_with(" ms"), "{stderr}");
    assert_eq!(parts[1], "2 in / 5 out tokens");
    assert_eq!(parts[2], "max_tokens");
    assert!(parts[3].ends_with(" s"), "{stderr}");
}

#[tokio::test]
async fn chat_reads_the_prompt_from_stdin_and_takes_a_system_prompt() {
    let gateway = Gateway::start().await;
    let mut child = bgw(&gateway.url())
        .args(["chat", "-m", "chat", "--system", "be brief", "--temperature", "0.2"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"from stdin\n").await.unwrap();
    let output = child.wait_with_output().await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let expected = expected_answer("from stdin", None, ANSWER_TOKENS).text();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), format!("{expected}\n"));
}

#[tokio::test]
async fn chat_json_prints_one_event_per_line() {
    let gateway = Gateway::start().await;
    let (output, stdout, stderr) =
        run(bgw(&gateway.url()).args(["chat", "--model", "chat", "--json", "json please"])).await;
    assert!(output.status.success(), "{stderr}");
    let events: Vec<serde_json::Value> = stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(events[0]["type"], "start");
    assert_eq!(events[0]["model"], "chat");
    let text: String = events.iter().filter(|e| e["type"] == "text").map(|e| e["text"].as_str().unwrap()).collect();
    assert_eq!(text, expected_answer("json please", None, ANSWER_TOKENS).text());
    let n = events.len();
    assert_eq!(events[n - 2]["reason"], "end_turn");
    assert_eq!(events[n - 1]["type"], "usage");
    assert_eq!(events[n - 1]["output_tokens"], ANSWER_TOKENS);
}

#[tokio::test]
async fn chat_caches_the_system_prompt_and_reports_cache_tokens() {
    let gateway = Gateway::start_with(|config| {
        config.models.get_mut("chat").unwrap().capabilities.prompt_caching = Some(true);
    })
    .await;
    let chat = ["chat", "-m", "chat", "--system", "be very brief", "--cache-system"];
    let (output, stdout, stderr) = run(bgw(&gateway.url()).args(chat).args(["--json", "first"])).await;
    assert!(output.status.success(), "{stderr}");
    let usage: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        (usage["cache_read_input_tokens"].as_u64(), usage["cache_write_input_tokens"].as_u64()),
        (Some(0), Some(3))
    );
    let body = gateway.emulator.last_request_body().unwrap();
    assert_eq!(body["system"][1], serde_json::json!({"cachePoint": {"type": "default"}}));

    let (output, _, stderr) = run(bgw(&gateway.url()).args(chat).arg("second")).await;
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("1 in / 12 out tokens · cache 3 read / 0 written · end_turn"), "{stderr}");
    let (output, _, stderr) = run(bgw(&gateway.url()).args(["chat", "-m", "chat", "--cache-system", "x"])).await;
    assert_eq!(output.status.code(), Some(2), "--cache-system needs --system: {stderr}");
}

#[tokio::test]
async fn models_lists_names_and_states_and_the_catalog_revision() {
    let gateway = Gateway::start().await;
    let revision = common::client(&gateway).catalog().await.unwrap().revision;
    assert!(!revision.is_empty());
    let (output, stdout, stderr) = run(bgw(&gateway.url()).arg("models")).await;
    assert!(output.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{stdout}");
    assert!(lines.iter().any(|l| l.starts_with("chat ") && l.contains(" active ")), "{stdout}");
    assert_eq!(lines.last(), Some(&format!("catalog revision {revision}").as_str()), "{stdout}");

    let (_, json, _) = run(bgw(&gateway.url()).args(["models", "--json"])).await;
    let models: Vec<serde_json::Value> = json.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let chat = models.iter().find(|m| m["name"] == "chat").unwrap();
    assert_eq!(chat["state"], "active");
    assert!(models.iter().all(|m| m["catalog_revision"] == revision.as_str()), "{json}");
}

/// One line on stderr starting with `bgw: error: `, and the exit code.
fn one_line_error(output: &Output, stderr: &str, code: i32) {
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    assert!(stderr.starts_with("bgw: error: ") && stderr.lines().count() == 1, "{stderr:?}");
}

#[tokio::test]
async fn connection_refused_is_one_clear_line() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (output, _, stderr) = run(bgw(&format!("http://{addr}")).arg("models")).await;
    one_line_error(&output, &stderr, 1);
    assert_eq!(stderr, format!("bgw: error: cannot connect to http://{addr}: connection refused\n"));
}

#[tokio::test]
async fn an_unknown_model_names_the_valid_ones() {
    let gateway = Gateway::start().await;
    let (output, stdout, stderr) = run(bgw(&gateway.url()).args(["chat", "--model", "nope", "hi"])).await;
    one_line_error(&output, &stderr, 1);
    assert!(stderr.contains("unknown model \"nope\"") && stderr.contains("chat"), "{stderr}");
    assert!(stderr.contains("(request id "), "{stderr}");
    assert!(stdout.is_empty());
}

#[tokio::test]
async fn permission_denied_is_one_line() {
    let gateway = Gateway::start().await;
    let (output, _, stderr) = run(bgw(&gateway.url()).args(["chat", "--model", "fault-access-denied", "hi"])).await;
    one_line_error(&output, &stderr, 1);
    assert!(stderr.contains("PermissionDenied"), "{stderr}");
}

#[tokio::test]
async fn an_incomplete_answer_exits_with_3() {
    let gateway = Gateway::start().await;
    let (output, stdout, stderr) =
        run(bgw(&gateway.url()).args(["chat", "--model", "fault-stream-error.3", "cut"])).await;
    one_line_error(&output, &stderr, 3);
    assert!(stderr.contains("[the answer is incomplete]"), "{stderr}");
    let partial = expected_answer("cut", None, ANSWER_TOKENS).tokens[..3].concat();
    assert_eq!(stdout, format!("{partial}\n"));
}

#[tokio::test]
async fn a_malformed_answer_exits_with_3_like_a_cut_one() {
    let gateway = Gateway::start().await;
    let (output, stdout, stderr) =
        run(bgw(&gateway.url()).args(["chat", "--model", "fault-malformed-tool-use", "break"])).await;
    one_line_error(&output, &stderr, 3);
    assert!(stderr.contains("tool call is malformed [the answer is incomplete]"), "{stderr}");
    assert_eq!(stdout, format!("{}\n", expected_answer("break", None, ANSWER_TOKENS).text()));

    let (output, stdout, stderr) =
        run(bgw(&gateway.url()).args(["chat", "--json", "--model", "fault-malformed-model-output", "break"])).await;
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    let events: Vec<serde_json::Value> = stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let n = events.len();
    assert_eq!(events[n - 3]["reason"], "malformed_model_output");
    assert_eq!(events[n - 2]["type"], "usage");
    assert_eq!((events[n - 1]["type"].as_str(), events[n - 1]["incomplete"].as_bool()), (Some("error"), Some(true)));
}

#[tokio::test]
async fn flags_override_the_environment() {
    let gateway = Gateway::start().await;
    let (output, stdout, stderr) =
        run(bgw("http://127.0.0.1:1").args(["--endpoint", &gateway.url(), "chat", "--model", "chat", "x"])).await;
    assert!(output.status.success(), "{stderr}");
    assert!(!stdout.is_empty());
}

#[tokio::test]
async fn the_api_key_comes_from_the_environment() {
    let gateway = Gateway::start_with(|config| {
        // `printf %s client-test-key | sha256sum`
        let digest = "7653e7e439287c56e80aad1168e4844c3ba7e15086130dc3ddfced9db8ff5f5a";
        config.auth.api_keys.insert("client-tests".to_owned(), digest.to_owned().into());
    })
    .await;
    let (output, _, stderr) = run(bgw(&gateway.url()).env("BGW_API_KEY", "client-test-key").arg("models")).await;
    assert!(output.status.success(), "{stderr}");
    let (output, _, stderr) = run(bgw(&gateway.url()).arg("models")).await;
    one_line_error(&output, &stderr, 1);
    assert!(stderr.contains("Unauthenticated"), "{stderr}");
}

#[tokio::test]
async fn chat_over_mutual_tls_with_the_certificate_flags() {
    let pki = TestPki::new();
    let gateway = Gateway::start_with(|config| config.server.tls = Some(pki.mutual_tls(true))).await;
    let client = pki.client("cli-user", "Example Corp");
    let endpoint = format!("https://127.0.0.1:{}", gateway.addr.port());
    let ca = pki.ca_file();
    let with_certificate = [
        "--ca-cert".as_ref(),
        ca.as_os_str(),
        "--client-cert".as_ref(),
        client.cert_file.as_os_str(),
        "--client-key".as_ref(),
        client.key_file.as_os_str(),
    ];
    let (output, stdout, stderr) =
        run(bgw(&endpoint).args(with_certificate).args(["chat", "--model", "chat", "hello over mtls"])).await;
    assert!(output.status.success(), "{stderr}");
    assert_eq!(stdout, format!("{}\n", expected_answer("hello over mtls", None, ANSWER_TOKENS).text()));

    let (output, stdout, stderr) =
        run(bgw(&endpoint).args(["--ca-cert".as_ref(), ca.as_os_str()]).args(["chat", "--model", "chat", "no cert"]))
            .await;
    one_line_error(&output, &stderr, 1);
    assert!(stdout.is_empty());
}
