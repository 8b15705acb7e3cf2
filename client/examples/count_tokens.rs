//! Counts a conversation's input tokens before sending it, and sends it only if it fits the
//! model's context window (from ListModels) with room for the answer.
//!
//! `cargo run -p bedrock-gateway-client --example count_tokens -- "Summarize HTTP/2 in one sentence."`

use bedrock_gateway_client::{Client, Code, Request};

const MAX_TOKENS: u32 = 300;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = std::env::var("BGW_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:50051".to_owned());
    let prompt = std::env::args().nth(1).unwrap_or_else(|| "Hello!".to_owned());

    let client = Client::builder(endpoint).build()?;
    let models = client.list_models().await?;
    let window = models
        .iter()
        .find(|model| model.name == "chat")
        .and_then(|model| model.capabilities.as_ref())
        .map_or(0, |capabilities| capabilities.context_window);

    let request = Request::new("chat").system("Answer in one paragraph.").user(prompt).max_tokens(MAX_TOKENS);
    match client.count_tokens(request.clone()).await {
        Ok(count) => {
            println!("{} input tokens (model version {})", count.input_tokens, count.model_version);
            if window > 0 && count.input_tokens + MAX_TOKENS > window {
                eprintln!("too long for the context window of {window} tokens; not sent");
                return Ok(());
            }
        }
        // A model that cannot count says so; the request can still be sent.
        Err(error) if error.code() == Code::Unimplemented => eprintln!("not counted: {}", error.message()),
        Err(error) => return Err(error.into()),
    }
    let answer = client.converse(request).await?;
    println!("{}", answer.text);
    eprintln!("Bedrock counted {} input tokens", answer.usage.input_tokens);
    Ok(())
}
