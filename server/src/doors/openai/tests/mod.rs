//! The door's codec, tested on the JSON OpenAI's clients send and parse.

mod chunks;
mod embeddings;
mod errors;
mod fields;
mod request;
mod response;

use serde_json::{Value, json};

use super::chat_request;
use super::request::ChatRequest;
use crate::error::GatewayError;

/// `body` decoded, which must succeed.
fn chat(body: Value) -> ChatRequest {
    match chat_request(&serde_json::to_vec(&body).unwrap()) {
        Ok(request) => request,
        Err(err) => panic!("{body} is taken, got {err}"),
    }
}

/// The field and reason `body` is refused with.
fn refused(body: Value) -> (String, String) {
    refused_bytes(&serde_json::to_vec(&body).unwrap())
}

fn refused_bytes(body: &[u8]) -> (String, String) {
    match chat_request(body) {
        Err(GatewayError::InvalidArgument { field, reason }) => (field, reason),
        other => panic!("{} is refused, got {other:?}", String::from_utf8_lossy(body)),
    }
}

/// A request for the alias "chat" with `messages`, and `more` fields.
fn with_messages(messages: Value, more: Value) -> Value {
    let mut body = json!({"model": "chat", "messages": messages});
    for (key, value) in more.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

/// A one-message request with `more` fields.
fn asking(more: Value) -> Value {
    with_messages(json!([{"role": "user", "content": "Hello"}]), more)
}

/// `text` as the server-sent events it holds, `data:` stripped.
fn events(text: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(text).unwrap();
    assert!(text.ends_with("\n\n"), "{text:?} ends an event");
    text.split_terminator("\n\n")
        .map(|event| event.strip_prefix("data: ").unwrap_or_else(|| panic!("{event:?} is a data line")).to_owned())
        .collect()
}
