//! Local mode: the gateway on loopback with the Bedrock emulator in-process and a sample catalog,
//! so one command on a machine with only Rust shows the whole request path, real SDK included.

use std::time::Duration;

pub use bedrock_emulator::Emulator;
use bedrock_emulator::EmulatorConfig;

use crate::config::{
    CapabilitiesConfig, EmbeddingFormat, Modality, ModelConfig, ModelKind, ModelState, ReasoningStyle,
    StructuredOutputStyle,
};
use crate::config::{Config, CredentialsSource};

/// Starts the emulator with human-paced output and points `config` at it.
pub async fn start(config: &mut Config) -> std::io::Result<Emulator> {
    let emulator = Emulator::start(EmulatorConfig {
        time_to_first_token: Duration::from_millis(200),
        inter_token_gap: Duration::from_millis(25),
        ..EmulatorConfig::default()
    })
    .await?;
    config.bedrock.endpoint_url = Some(emulator.endpoint_url());
    config.bedrock.credentials = CredentialsSource::Emulator;
    Ok(emulator)
}

/// A catalog like a platform team's: two active chat models with their capabilities, one on its
/// way out, and an embedding model, so every RPC has a model to show it with. Local mode uses it
/// when the configuration has no `[models]`.
pub fn sample_models() -> std::collections::BTreeMap<String, ModelConfig> {
    let model = |model_id: &str, version: &str, description: &str| ModelConfig {
        version: Some(version.to_owned()),
        description: description.to_owned(),
        ..ModelConfig::new(model_id)
    };
    let chat = ModelConfig {
        capabilities: CapabilitiesConfig {
            input_modalities: vec![Modality::Text, Modality::Document],
            structured_output: StructuredOutputStyle::Tool,
            prompt_caching: Some(true),
            count_tokens: true,
            context_window: 200_000,
            ..CapabilitiesConfig::default()
        },
        ..model("us.anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3.5-haiku", "Fast general chat.")
    };
    let reasoning = ModelConfig {
        capabilities: CapabilitiesConfig {
            reasoning: ReasoningStyle::AnthropicThinking,
            structured_output: StructuredOutputStyle::Native,
            prompt_caching: Some(true),
            count_tokens: true,
            context_window: 200_000,
            ..CapabilitiesConfig::default()
        },
        ..model("us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4", "Harder, multi-step tasks.")
    };
    let legacy = ModelConfig {
        state: ModelState::Deprecated,
        replacement: Some("chat".to_owned()),
        retires_on: Some("2030-03-31".to_owned()),
        capabilities: CapabilitiesConfig {
            input_modalities: vec![Modality::Text],
            tools: false,
            context_window: 100_000,
            ..CapabilitiesConfig::default()
        },
        ..model("anthropic.claude-instant-v1", "claude-instant-1.2", "The previous default; use chat.")
    };
    let embed = ModelConfig {
        kind: ModelKind::Embedding,
        capabilities: CapabilitiesConfig {
            input_modalities: vec![Modality::Text],
            tools: false,
            context_window: 8_192,
            embedding_format: Some(EmbeddingFormat::TitanTextV2),
            embedding_dimensions: vec![1024, 512, 256],
            ..CapabilitiesConfig::default()
        },
        ..model("amazon.titan-embed-text-v2:0", "titan-embed-text-v2", "Text embeddings for search.")
    };
    [("chat", chat), ("reasoning", reasoning), ("legacy-chat", legacy), ("embed", embed)]
        .into_iter()
        .map(|(name, model)| (name.to_owned(), model))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_catalog_is_valid() {
        Config { models: sample_models(), ..Config::default() }.validate().unwrap();
    }
}
