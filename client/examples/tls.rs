//! Calls a gateway over TLS with a private CA, an optional client certificate, and an API key.
//!
//! ```text
//! BGW_ENDPOINT=https://gateway.internal.example.com BGW_CA_CERT=ca.pem BGW_API_KEY=... \
//!   cargo run -p bedrock-gateway-client --example tls
//! ```
//! Set `BGW_CLIENT_CERT` and `BGW_CLIENT_KEY` (PEM files) when the gateway asks for mutual TLS.

use std::time::Duration;

use bedrock_gateway_client::{Client, Request};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name: &str| std::env::var(name).ok();
    let endpoint = var("BGW_ENDPOINT").unwrap_or_else(|| "https://gateway.internal.example.com".to_owned());

    let mut builder = Client::builder(endpoint)
        .api_key(var("BGW_API_KEY").unwrap_or_default())
        .deadline(Duration::from_secs(120))
        .user_agent("tls-example/1.0");
    if let Some(ca) = var("BGW_CA_CERT") {
        builder = builder.ca_certificate_pem(std::fs::read(ca)?);
    }
    if let (Some(cert), Some(key)) = (var("BGW_CLIENT_CERT"), var("BGW_CLIENT_KEY")) {
        builder = builder.client_identity_pem(std::fs::read(cert)?, std::fs::read(key)?);
    }
    let client = builder.build()?;

    for model in client.list_models().await? {
        println!("{} ({:?})", model.name, model.state());
    }
    let answer = client.converse(Request::new("chat").user("Hello over TLS!").max_tokens(100)).await?;
    println!("{}", answer.text);
    Ok(())
}
