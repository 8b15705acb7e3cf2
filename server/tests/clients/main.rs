//! The HTTP doors through clients no one here wrote, each run as its own program against a gateway
//! serving TLS from a test CA ([`ClientsGateway`]): boto3, the AWS SDK for JavaScript and
//! LangChain's ChatBedrockConverse on the Bedrock-compatible door ([`bedrock`]); the `openai`
//! package and LangChain's ChatOpenAI on the OpenAI-compatible door ([`openai`]); and README's
//! examples, run as written but for the endpoint and the CA ([`readme`]). The scripts beside this
//! file do what a team's code would and print what the client made of each answer; the tests check
//! it against the emulator's deterministic answers. `cargo xtask test` installs the clients.

mod bedrock;
mod openai;
mod readme;

use std::path::PathBuf;

use bedrock_gateway_testkit::{ClientsGateway, Runner};
use serde_json::Value;

/// A script of this folder.
fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients").join(name)
}

/// Runs case `case` of the Python script `name` with `argument`, as tenant `key`: its result.
async fn python(gateway: &ClientsGateway, name: &str, case: &str, argument: &str, key: &str) -> Value {
    gateway.run_script(Runner::Python, &script(name), &[case, argument], key).await.json()
}

/// `value[key]` as text; panics showing `value` when it is not.
fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or_else(|| panic!("{key:?} is not text in {value:#}"))
}

/// Checks that `got` (JSON numbers) is `want` to within f32 rounding.
fn assert_vector(got: &Value, want: &[f32]) {
    let got: Vec<f64> = got
        .as_array()
        .unwrap_or_else(|| panic!("not a vector: {got}"))
        .iter()
        .map(|value| value.as_f64().unwrap())
        .collect();
    assert_eq!(got.len(), want.len(), "the vector's length");
    for (index, (got, want)) in got.iter().zip(want).enumerate() {
        assert!((got - f64::from(*want)).abs() < 1e-6, "value {index}: {got} is not {want}");
    }
}
