//! README's "Use it from any language", run as written: each fenced block of the section follows
//! a marker, `<!-- example: python|node|sh -->` for one this test runs or `<!-- not run: why -->`.
//! Only the placeholders change: the endpoint `https://llm.internal:50051` and the CA file
//! `llm-ca.pem`; the key and the CA reach them through the variables the section tells teams to
//! set. Every example asks `chat` for "Hello" and must print that answer, token by token in order
//! (OpenAI's stream also ending with `data: [DONE]`).

use bedrock_emulator::expected_answer;
use bedrock_gateway_testkit::{ANSWER_TOKENS, ClientsGateway, Runner, TEAM_KEY};

const SECTION: &str = "## Use it from any language";
const ENDPOINT: &str = "https://llm.internal:50051";
const CA_FILE: &str = "llm-ca.pem";

/// A fenced block of the section and the marker before it.
#[derive(Debug)]
struct Block {
    marker: String,
    language: String,
    code: String,
}

/// The section's fenced blocks, each with the marker on the line before its fence (after a blank
/// line or not); a block without one fails the test.
fn blocks() -> Vec<Block> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let start = readme.find(SECTION).unwrap_or_else(|| panic!("README has {SECTION:?}"));
    let section = &readme[start + SECTION.len()..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let mut blocks = Vec::new();
    let mut lines = section.lines();
    let mut previous = "";
    while let Some(line) = lines.next() {
        if let Some(language) = line.strip_prefix("```") {
            let marker = previous.strip_prefix("<!-- ").and_then(|marker| marker.strip_suffix(" -->"));
            let marker = marker.unwrap_or_else(|| panic!("the ```{language} block has no marker before it"));
            let code: Vec<&str> = lines.by_ref().take_while(|line| *line != "```").collect();
            blocks.push(Block {
                marker: marker.to_owned(),
                language: language.to_owned(),
                code: code.join("\n") + "\n",
            });
        }
        if !line.trim().is_empty() {
            previous = line;
        }
    }
    blocks
}

/// Checks that `output` holds every token of `answer`, in order.
fn assert_tokens_in_order(output: &str, answer: &[String], example: &str) {
    let mut rest = output;
    for token in answer {
        let at = rest.find(token.as_str()).unwrap_or_else(|| panic!("{example}: {token:?} missing in:\n{output}"));
        rest = &rest[at + token.len()..];
    }
}

#[tokio::test]
async fn every_example_runs_and_prints_the_answer() {
    let gateway = ClientsGateway::start().await;
    let answer = expected_answer("Hello", None, ANSWER_TOKENS).tokens;
    let mut ran = Vec::new();
    for block in blocks() {
        let runner = match block.marker.as_str() {
            "example: python" => Runner::Python,
            "example: node" => Runner::Node,
            "example: sh" => Runner::Shell,
            marker if marker.starts_with("not run: ") => continue,
            marker => panic!("unknown marker {marker:?}: `example: python|node|sh` or `not run: why`"),
        };
        let first_line = block.code.lines().next().unwrap_or_default();
        let example = format!("the ```{} example starting {first_line:?}", block.language);
        assert!(block.code.contains(ENDPOINT), "{example} calls the gateway at {ENDPOINT}");
        let code =
            block.code.replace(ENDPOINT, &gateway.endpoint()).replace(CA_FILE, gateway.ca_file().to_str().unwrap());
        let name = match runner {
            Runner::Python => "example.py",
            Runner::Node => "example.mjs",
            Runner::Shell => "example.sh",
        };
        let output = gateway.run(runner, name, &code, &[], TEAM_KEY).await;
        assert_tokens_in_order(&output.stdout, &answer, &example);
        if output.stdout.contains("data: ") {
            let last = output.stdout.lines().rfind(|line| line.starts_with("data: "));
            assert_eq!(last, Some("data: [DONE]"), "{example}: a whole stream ends with [DONE]");
        }
        ran.push(block.language);
    }
    assert_eq!(
        ran,
        ["python", "js", "python", "python", "sh"],
        "the examples run: boto3, JavaScript, openai, LangChain, curl"
    );
}

#[tokio::test]
async fn the_environment_block_sets_what_the_examples_are_run_with() {
    let blocks = blocks();
    let environment = blocks.iter().find(|block| block.language == "sh" && block.marker.starts_with("not run"));
    let environment = environment.expect("the section's block of environment variables");
    // What `ClientsGateway::run` gives every script, as the section tells teams to.
    for variable in
        ["AWS_BEARER_TOKEN_BEDROCK", "OPENAI_API_KEY", "AWS_CA_BUNDLE", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS"]
    {
        assert!(environment.code.contains(&format!("export {variable}=")), "the section sets {variable}");
    }
    let java = blocks.iter().find(|block| block.language == "java").expect("the Java snippet");
    assert!(java.marker.starts_with("not run: "), "Java cannot be run here, and the section says so");
}
