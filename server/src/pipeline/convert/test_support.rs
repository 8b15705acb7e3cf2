//! Requests and models the conversions' unit tests share.

use bedrock_gateway_proto::v1;

use super::request::to_bedrock;
use crate::config::{CapabilitiesConfig, ModelKind, ModelState, PromptCachingConfig};
use crate::error::GatewayError;
use crate::pipeline::catalog::Model;

/// A chat model without capabilities beyond the defaults, named "chat", with a cap of 1000.
pub fn model() -> Model {
    Model {
        name: "chat".into(),
        targets: Vec::new(),
        fallbacks: Vec::new(),
        sticky_metadata_key: None,
        description: String::new(),
        max_tokens_cap: 1000,
        default_max_tokens: 300,
        temperature: None,
        top_p: None,
        guardrail: None,
        prompt_caching: PromptCachingConfig::default(),
        state: ModelState::Active,
        replacement: None,
        retires_on: None,
        kind: ModelKind::Chat,
        capabilities: CapabilitiesConfig::default(),
    }
}

pub fn text(text: &str) -> v1::ContentBlock {
    v1::ContentBlock { block: Some(v1::content_block::Block::Text(text.into())) }
}

pub fn request() -> v1::ConverseRequest {
    v1::ConverseRequest {
        model: "chat".into(),
        messages: vec![v1::Message { role: v1::Role::User as i32, content: vec![text("hello")] }],
        ..Default::default()
    }
}

/// A one-message request, adjusted.
pub fn with(adjust: impl FnOnce(&mut v1::ConverseRequest)) -> v1::ConverseRequest {
    let mut request = request();
    adjust(&mut request);
    request
}

/// The field and reason `request` is refused with by `model`.
pub fn rejected(request: v1::ConverseRequest, model: &Model) -> (String, String) {
    match to_bedrock(request, model) {
        Err(GatewayError::InvalidArgument { field, reason }) => (field, reason),
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}
