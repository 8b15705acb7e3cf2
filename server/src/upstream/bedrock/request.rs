//! What the gateway sends Bedrock, in the SDK's own types: the pipeline converts a validated
//! request into a [`BedrockRequest`] and resolves its [`Destination`]; the calls take both.

use aws_sdk_bedrockruntime::types as bedrock;
use aws_smithy_types::Document;

use crate::config::GuardrailConfig;

/// Where one call goes: Bedrock's model, region and account (the role assumed there), the
/// model's guardrail and own request fields, and the alias that every error names instead of the
/// model id.
#[derive(Debug, Clone, Copy)]
pub struct Destination<'a> {
    /// The logical model the caller named.
    pub alias: &'a str,
    /// Bedrock's model id (or inference profile, or ARN): never shown to callers.
    pub model_id: &'a str,
    /// The region whose runtime is called.
    pub region: &'a str,
    /// The role assumed for the call (`None`: the gateway's own credentials): never shown to
    /// callers.
    pub role_arn: Option<&'a str>,
    /// The model's guardrail, applied by Bedrock.
    pub guardrail: Option<&'a GuardrailConfig>,
    /// The target's `additionalModelRequestFields`.
    pub additional_fields: Option<&'a Document>,
}

/// Everything a Converse or ConverseStream call needs besides the model id.
#[derive(Debug, Clone)]
pub struct BedrockRequest {
    /// The conversation.
    pub messages: Vec<bedrock::Message>,
    /// System prompts.
    pub system: Vec<bedrock::SystemContentBlock>,
    /// Sampling and length; max_tokens is always set, to the model's `default_max_tokens` when the
    /// client left it out, and temperature and top_p to the model's defaults, if it has any.
    pub inference: bedrock::InferenceConfiguration,
    /// Tools, when offered.
    pub tool_config: Option<bedrock::ToolConfiguration>,
    /// The request's own `additionalModelRequestFields` (its reasoning setting), sent over the
    /// target's: see [`BedrockRequest::additional_fields_for`].
    pub additional_fields: Vec<(String, Document)>,
    /// Bedrock's output configuration (native structured output).
    pub output_config: Option<bedrock::OutputConfig>,
    /// Whether the answer is the input of a forced tool, to be turned back into text (structured
    /// output through a tool).
    pub answer_in_tool: bool,
}

impl BedrockRequest {
    /// The `additionalModelRequestFields` to send to a destination whose own are `target_fields`
    /// (its target's, else its alias's): those, with the request's own fields in place of any of
    /// the same name.
    pub fn additional_fields_for(&self, target_fields: Option<&Document>) -> Option<Document> {
        if self.additional_fields.is_empty() {
            return target_fields.cloned();
        }
        let mut fields = match target_fields {
            Some(Document::Object(fields)) => fields.clone(),
            _ => Default::default(),
        };
        fields.extend(self.additional_fields.iter().cloned());
        Some(Document::Object(fields))
    }
}
