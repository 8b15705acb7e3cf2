//! Waits for a whole answer, then prints it with its stop reason and token usage.
//!
//! `cargo run -p bedrock-gateway-client --example collect -- "Summarize HTTP/2 in one sentence."`

use bedrock_gateway_client::{Client, Request};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = std::env::var("BGW_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:50051".to_owned());
    let prompt = std::env::args().nth(1).unwrap_or_else(|| "Hello!".to_owned());

    let client = Client::builder(endpoint).build()?;
    let request = Request::new("chat").system("Answer in one paragraph.").user(prompt).max_tokens(300).temperature(0.3);
    match client.converse(request).await {
        Ok(answer) => {
            println!("{}", answer.text);
            eprintln!(
                "{:?}; {} tokens in, {} out; request {}",
                answer.stop_reason, answer.usage.input_tokens, answer.usage.output_tokens, answer.request_id
            );
        }
        // An error says whether part of the answer had arrived, and carries the gRPC code.
        Err(error) if error.is_incomplete() => eprintln!("the answer was cut off: {error}"),
        Err(error) => eprintln!("failed ({:?}): {}", error.code(), error.message()),
    }
    Ok(())
}
