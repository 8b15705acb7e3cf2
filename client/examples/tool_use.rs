//! Offers the model a tool, runs it when asked, and sends the result back for the final answer.
//!
//! `cargo run -p bedrock-gateway-client --example tool_use`

use bedrock_gateway_client::{Client, Request, v1};

/// The tool: a stand-in for a real weather lookup.
fn weather(input_json: &str) -> String {
    format!("Sunny and 21 °C (for the input {input_json})")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = std::env::var("BGW_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:50051".to_owned());
    let client = Client::builder(endpoint).build()?;

    let schema = r#"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"#;
    let mut conversation = Request::new("chat")
        .user("What should I wear in Oslo today? Use the weather tool.")
        .tool("weather", "The current weather in a city.", schema)
        .max_tokens(500);

    loop {
        let answer = client.converse(conversation.clone()).await?;
        if answer.stop_reason != v1::StopReason::ToolUse {
            println!("{}", answer.text);
            return Ok(());
        }
        // Keep the model's message (with its tool uses) in the conversation, then add the results.
        conversation = conversation.push(answer.message.clone());
        for tool_use in &answer.tool_uses {
            eprintln!("running {} with {}", tool_use.name, tool_use.input_json);
            conversation = conversation.tool_result(&tool_use.id, weather(&tool_use.input_json));
        }
    }
}
