//! Bedrock's Converse, ConverseStream and CountTokens bodies -> the v1 request the pipeline runs.
//!
//! Decoding refuses what is not Bedrock's shape (serde, naming the JSON path) and what Bedrock has
//! but the gateway cannot honour (naming the member); everything else maps one to one onto v1, and
//! the pipeline validates the result as it validates a gRPC request.

mod content;
mod reasoning;
mod wire;

use bedrock_gateway_proto::v1;
use serde_json::{Map, Value};

use super::json::{Union, decode};
use crate::error::GatewayError;

type Result<T> = std::result::Result<T, GatewayError>;

/// The name of a JSON-schema output format that has none: v1 names every format (the name of
/// the tool that carries the answer for models without native structured output).
const UNNAMED_FORMAT: &str = "answer";

/// The body of Converse or ConverseStream for the model `alias` (the path's `{modelId}`).
pub fn converse_request(alias: &str, body: &[u8]) -> Result<v1::ConverseRequest> {
    let body: wire::ConverseBody = decode(body)?;
    refuse_unhonoured(&body)?;
    let mut request = conversation(
        alias,
        Conversation {
            messages: body.messages,
            system: body.system,
            tool_config: body.tool_config,
            additional_fields: body.additional_model_request_fields,
        },
        "",
    )?;
    request.inference_config = body.inference_config.map(|config| v1::InferenceConfig {
        max_tokens: config.max_tokens,
        temperature: config.temperature,
        top_p: config.top_p,
        stop_sequences: config.stop_sequences,
    });
    request.request_metadata = body.request_metadata;
    request.response_format = body.output_config.and_then(|config| config.text_format).map(response_format);
    Ok(request)
}

/// The body of CountTokens for the model `alias`: `{"input": {"converse": {...}}}`.
pub fn count_tokens_request(alias: &str, body: &[u8]) -> Result<v1::ConverseRequest> {
    let body: wire::CountTokensBody = decode(body)?;
    match body.input.0 {
        wire::CountTokensInput::Converse(converse) => conversation(
            alias,
            Conversation {
                messages: converse.messages,
                system: converse.system,
                tool_config: converse.tool_config,
                additional_fields: converse.additional_model_request_fields,
            },
            "input.converse.",
        ),
        wire::CountTokensInput::InvokeModel(_) => Err(GatewayError::invalid(
            "input.invokeModel",
            "the gateway counts the tokens of Converse inputs only; send input.converse",
        )),
    }
}

/// Refuses the members of a Converse body that ask for what the gateway does not do.
fn refuse_unhonoured(body: &wire::ConverseBody) -> Result<()> {
    if body.guardrail_config.is_some() {
        return Err(GatewayError::invalid("guardrailConfig", "the gateway applies no guardrails; leave it unset"));
    }
    if body.prompt_variables.is_some() {
        return Err(GatewayError::invalid(
            "promptVariables",
            "the gateway serves models, not prompts from Prompt management; leave it unset",
        ));
    }
    if !body.additional_model_response_field_paths.is_empty() {
        return Err(GatewayError::invalid(
            "additionalModelResponseFieldPaths",
            "the gateway returns no model-specific response fields; leave it unset",
        ));
    }
    if body.performance_config.as_ref().is_some_and(|config| config.latency == wire::Latency::Optimized) {
        return Err(GatewayError::invalid(
            "performanceConfig.latency",
            "the gateway serves standard latency only; use \"standard\" or leave it unset",
        ));
    }
    if let Some(tier) = &body.service_tier
        && tier.tier != "default"
    {
        return Err(GatewayError::invalid(
            "serviceTier.type",
            "the gateway serves the default tier only; use \"default\" or leave it unset",
        ));
    }
    if body.output_config.as_ref().is_some_and(|config| config.effort.is_some()) {
        return Err(GatewayError::invalid(
            "outputConfig.effort",
            format!(
                "the gateway does not carry an output effort; ask for reasoning in additionalModelRequestFields \
                 ({})",
                reasoning::REASONING_FIELDS
            ),
        ));
    }
    Ok(())
}

/// What Converse and CountTokens bodies share.
struct Conversation {
    messages: Vec<wire::Message>,
    system: Vec<Union<wire::SystemBlock>>,
    tool_config: Option<wire::ToolConfig>,
    additional_fields: Option<Map<String, Value>>,
}

/// The v1 request for `parts`, whose members are at `prefix` in the body.
fn conversation(alias: &str, parts: Conversation, prefix: &str) -> Result<v1::ConverseRequest> {
    Ok(v1::ConverseRequest {
        model: alias.to_owned(),
        messages: content::messages(parts.messages, prefix)?,
        system: content::system(parts.system, prefix)?,
        tool_config: parts.tool_config.map(|config| tool_config(config, prefix)).transpose()?,
        reasoning: reasoning::reasoning(parts.additional_fields, prefix)?,
        ..v1::ConverseRequest::default()
    })
}

fn tool_config(config: wire::ToolConfig, prefix: &str) -> Result<v1::ToolConfig> {
    let count = config.tools.len();
    let mut converted = v1::ToolConfig::default();
    for (index, Union(tool)) in config.tools.into_iter().enumerate() {
        let field = format!("{prefix}toolConfig.tools[{index}]");
        match tool {
            wire::Tool::ToolSpec(spec) => {
                let wire::InputSchema::Json(schema) = spec.input_schema.0;
                converted.tools.push(v1::Tool {
                    name: spec.name,
                    description: spec.description.unwrap_or_default(),
                    input_schema_json: schema.to_string(),
                    strict: spec.strict,
                });
            }
            // v1 has one cache point for the tools, which ends the prefix after all of them.
            wire::Tool::CachePoint(point) if index + 1 == count => {
                converted.cache_point = Some(content::cache_point(point));
            }
            wire::Tool::CachePoint(_) => {
                return Err(GatewayError::invalid(
                    format!("{field}.cachePoint"),
                    "the gateway takes a cache point among the tools only after the last tool",
                ));
            }
            wire::Tool::System(_) => {
                return Err(GatewayError::invalid(
                    format!("{field}.systemTool"),
                    "the gateway offers no system tools; a tool is toolSpec or cachePoint",
                ));
            }
        }
    }
    converted.tool_choice = config.tool_choice.map(|Union(choice)| {
        use v1::tool_choice::Choice;
        v1::ToolChoice {
            choice: Some(match choice {
                wire::ToolChoice::Auto(_) => Choice::Auto(v1::AutoToolChoice {}),
                wire::ToolChoice::Any(_) => Choice::Any(v1::AnyToolChoice {}),
                wire::ToolChoice::Tool(tool) => Choice::Tool(tool.name),
            }),
        }
    });
    Ok(converted)
}

fn response_format(format: wire::TextFormat) -> v1::ResponseFormat {
    let wire::FormatStructure::JsonSchema(schema) = format.structure.0;
    v1::ResponseFormat {
        format: Some(v1::response_format::Format::JsonSchema(v1::JsonSchemaFormat {
            name: schema.name.unwrap_or_else(|| UNNAMED_FORMAT.to_owned()),
            description: schema.description.unwrap_or_default(),
            schema_json: schema.schema,
        })),
    }
}

#[cfg(test)]
mod tests;
