//! Embeds a few texts and a query, then ranks the texts by cosine similarity to the query: with
//! vectors of length 1 (the default), that is their dot product.
//!
//! `cargo run -p bedrock-gateway-client --example embed -- "which protocol multiplexes streams?"`

use bedrock_gateway_client::{Client, EmbedRequest, v1};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = std::env::var("BGW_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:50051".to_owned());
    let query = std::env::args().nth(1).unwrap_or_else(|| "which protocol multiplexes streams?".to_owned());
    let documents = [
        "HTTP/2 multiplexes many streams over one TCP connection.",
        "TLS 1.3 needs one round trip to set up a connection.",
        "gRPC carries protocol buffers over HTTP/2.",
    ];

    let client = Client::builder(endpoint).build()?;
    // Models that embed queries and documents differently are told which is which.
    let stored = client.embed(EmbedRequest::new("embed").texts(documents).dimensions(256)).await?;
    let asked = EmbedRequest::new("embed").text(query).dimensions(256).purpose(v1::EmbeddingPurpose::SearchQuery);
    let query = client.embed(asked).await?;

    let mut ranked: Vec<(f32, &str)> = stored
        .vectors
        .iter()
        .zip(documents)
        .map(|(vector, text)| (vector.iter().zip(&query.vectors[0]).map(|(a, b)| a * b).sum(), text))
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (score, text) in ranked {
        println!("{score:+.3}  {text}");
    }
    eprintln!("{} dimensions; {} tokens embedded", stored.dimensions, stored.input_tokens + query.input_tokens);
    Ok(())
}
