//! Streams an answer to stdout as it arrives.
//!
//! Run against a local gateway (`cargo run -p bedrock-gateway -- --local`):
//! `cargo run -p bedrock-gateway-client --example stream -- "Why is the sky blue?"`

use std::io::Write;

use bedrock_gateway_client::{Client, Request};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = std::env::var("BGW_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:50051".to_owned());
    let prompt = std::env::args().nth(1).unwrap_or_else(|| "Hello!".to_owned());

    let client = Client::builder(endpoint).build()?;
    let mut text = client.converse_stream(Request::new("chat").user(prompt).max_tokens(200)).await?.text();
    while let Some(piece) = text.next().await {
        print!("{}", piece?);
        std::io::stdout().flush()?;
    }
    println!();
    Ok(())
}
