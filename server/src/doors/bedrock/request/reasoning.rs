//! `additionalModelRequestFields` -> v1's reasoning setting.
//!
//! Bedrock passes these fields to the model as they are, so each model family has its own. The
//! gateway serves aliases, whose model and its fields are the catalog's business, so it reads
//! only the fields that ask for reasoning, in the shapes of the families that reason, and maps
//! them to v1's [`ReasoningConfig`](v1::ReasoningConfig), which the pipeline maps back to the
//! alias's own family:
//!
//! - `thinking` (Anthropic) and `reasoning_config` (its first name on Bedrock):
//!   `{"type": "enabled", "budget_tokens": N}` -> a budget of N; `{"type": "disabled"}` -> none;
//! - `reasoning_effort` (OpenAI's open-weight models): `"low" | "medium" | "high"` -> that effort;
//! - `reasoningConfig` (Amazon Nova): `{"type": "enabled", "maxReasoningEffort": "low" | "medium" |
//!   "high"}` -> that effort (medium when unset); `{"type": "disabled"}` -> none.
//!
//! Any other field, and a second reasoning field, is refused naming it: the gateway cannot pass a
//! model-specific field to whichever model the alias stands for.

use bedrock_gateway_proto::v1;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::doors::bedrock::json::decode_value;
use crate::error::GatewayError;

type Result<T> = std::result::Result<T, GatewayError>;

/// What the fields that ask for reasoning are called, for refusals.
pub(super) const REASONING_FIELDS: &str = "thinking, reasoning_config, reasoning_effort or reasoningConfig";

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum Thinking {
    Enabled { budget_tokens: u32 },
    Disabled {},
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Effort {
    Low,
    Medium,
    High,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NovaReasoning {
    r#type: Toggle,
    max_reasoning_effort: Option<Effort>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Toggle {
    Enabled,
    Disabled,
}

fn effort(effort: Option<Effort>) -> v1::ReasoningConfig {
    let effort = match effort {
        None => v1::ReasoningEffort::Unspecified,
        Some(Effort::Low) => v1::ReasoningEffort::Low,
        Some(Effort::Medium) => v1::ReasoningEffort::Medium,
        Some(Effort::High) => v1::ReasoningEffort::High,
    };
    v1::ReasoningConfig { effort: effort as i32, budget_tokens: None }
}

/// The reasoning `fields` ask for (`prefix` names where they are in the body).
pub(super) fn reasoning(fields: Option<Map<String, Value>>, prefix: &str) -> Result<Option<v1::ReasoningConfig>> {
    let mut asked: Option<(String, Option<v1::ReasoningConfig>)> = None;
    for (name, value) in fields.into_iter().flatten() {
        let field = format!("{prefix}additionalModelRequestFields.{name}");
        let config = match name.as_str() {
            "thinking" | "reasoning_config" => match decode_value(value, &field)? {
                Thinking::Enabled { budget_tokens } => Some(v1::ReasoningConfig {
                    effort: v1::ReasoningEffort::Unspecified as i32,
                    budget_tokens: Some(budget_tokens),
                }),
                Thinking::Disabled {} => None,
            },
            "reasoning_effort" => Some(effort(Some(decode_value(value, &field)?))),
            "reasoningConfig" => {
                let nova: NovaReasoning = decode_value(value, &field)?;
                (nova.r#type == Toggle::Enabled).then(|| effort(nova.max_reasoning_effort))
            }
            _ => {
                return Err(GatewayError::invalid(
                    field,
                    format!(
                        "the gateway passes no model-specific fields: the alias decides its model's; it reads only \
                         the reasoning settings {REASONING_FIELDS}"
                    ),
                ));
            }
        };
        if let Some((first, _)) = &asked {
            return Err(GatewayError::invalid(
                field,
                format!("sets reasoning besides additionalModelRequestFields.{first}; set one of {REASONING_FIELDS}"),
            ));
        }
        asked = Some((name, config));
    }
    Ok(asked.and_then(|(_, config)| config))
}
