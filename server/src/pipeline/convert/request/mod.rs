//! v1 request -> Bedrock Converse input, validating as it goes: a request that converts is one
//! Bedrock can accept, and a request that does not is rejected with the path of the offending field,
//! before anything is sent.
//!
//! The request is taken by value: text, image and document bytes move into the SDK's types, so a
//! 4 MiB image is never held twice. Its size is bounded first: every count in
//! [`bedrock_gateway_proto::limits`] is checked before anything is converted, so an abusive request
//! is refused for the price of counting.

use std::collections::HashSet;

use aws_sdk_bedrockruntime::types as bedrock;
use bedrock_gateway_proto::limits;
use bedrock_gateway_proto::v1;

use super::fields::{built, json_object, valid_tool_name};
use super::json::Budget;
use super::reasoning::{self, Reasoning};
use super::structured::{self, Structured};
use crate::config::Modality;
use crate::error::GatewayError;
use crate::pipeline::catalog::Model;
pub use crate::upstream::bedrock::BedrockRequest;

mod content;

use content::{cache_point, cache_point_with, messages, non_empty, system};

type Result<T> = std::result::Result<T, GatewayError>;

/// Refuses `count` over `limit`, naming the field, what is counted and the limit.
fn at_most(field: impl Into<String>, count: usize, limit: usize, what: &str) -> Result<()> {
    if count > limit {
        return Err(GatewayError::invalid(field, format!("{count} {what}; at most {limit} are allowed")));
    }
    Ok(())
}

/// What an image costs at most on the models the gateway serves (Claude: about 1,600 tokens for
/// 1.15 megapixels, which is as large as it resizes to).
const TOKENS_PER_IMAGE: u64 = 1_600;

/// A cautious count of the request's input tokens, for the quota reservation made before Bedrock
/// reports the real one: a token per 4 bytes of everything but images, and [`TOKENS_PER_IMAGE`]
/// per image. Settling with Bedrock's usage corrects it.
pub fn estimated_input_tokens(request: &v1::ConverseRequest) -> u64 {
    use prost::Message as _;
    let images = request.messages.iter().flat_map(|message| &message.content).flat_map(|block| match &block.block {
        Some(v1::content_block::Block::Image(image)) => vec![image],
        Some(v1::content_block::Block::ToolResult(result)) => result
            .content
            .iter()
            .filter_map(|item| match &item.content {
                Some(v1::tool_result_content::Content::Image(image)) => Some(image),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    });
    let (count, bytes) = images.fold((0u64, 0usize), |(count, bytes), image| (count + 1, bytes + image.data.len()));
    (request.encoded_len().saturating_sub(bytes) as u64).div_ceil(4) + count * TOKENS_PER_IMAGE
}

/// Validates `request` for `model` and converts it to Bedrock's types, moving its contents.
pub fn to_bedrock(request: v1::ConverseRequest, model: &Model) -> Result<BedrockRequest> {
    check_limits(&request)?;
    check_modalities(&request, model)?;
    check_tools(&request, model)?;
    let cache_points = check_cache_points(&request, model)?;
    let v1::ConverseRequest {
        messages: conversation,
        system: prompts,
        inference_config,
        tool_config: tools,
        reasoning,
        response_format,
        ..
    } = request;
    let mut json_budget = Budget::new(limits::JSON_VALUES);
    let reasoning = reasoning::reasoning(reasoning, model)?;
    structured::check_strict_tools(tools.as_ref(), model)?;
    if let Some(reasoning) = reasoning {
        reasoning.check_tool_choice(tools.as_ref(), model)?;
    }
    let structured = structured::response_format(response_format, tools.is_some(), reasoning, model, &mut json_budget)?;
    let mut tool_config = tools.map(|tools| tool_config(tools, &mut json_budget)).transpose()?;
    let (output_config, answer_in_tool) = match structured {
        Some(Structured::Native(output_config)) => (Some(output_config), false),
        Some(Structured::Tool(forced)) => {
            tool_config = Some(forced);
            (None, true)
        }
        None => (None, false),
    };
    let messages = messages(conversation, &mut json_budget)?;
    let mut system = system(prompts)?;
    if cache_points.after_system {
        system.push(bedrock::SystemContentBlock::CachePoint(cache_point()));
    }
    if cache_points.after_tools
        && let Some(tools) = &mut tool_config
    {
        tools.tools.push(bedrock::Tool::CachePoint(cache_point()));
    }
    let mut converted = BedrockRequest {
        messages,
        system,
        inference: inference(inference_config, model, reasoning)?,
        tool_config,
        additional_fields: reasoning.map(|reasoning| vec![reasoning.field()]).unwrap_or_default(),
        output_config,
        answer_in_tool,
    };
    if cache_points.from_caller > 0 && !model.prompt_caching() {
        drop_cache_points(&mut converted);
    }
    Ok(converted)
}

/// The cache points a request ends up with besides the caller's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CachePoints {
    /// How many the caller put.
    from_caller: usize,
    /// The model adds one after the system prompt.
    after_system: bool,
    /// The model adds one after the tools.
    after_tools: bool,
}

/// Checks the caller's cache points where Bedrock would refuse them: one that caches nothing (a
/// message's or the system prompt's first block, or right after another), and more than
/// [`limits::CACHE_POINTS`] in all, counting those the model adds. A model adds its automatic
/// points only where there is something to cache and the caller has not put one already. The
/// rules hold on every model, so a request valid on one alias is valid on all of them.
fn check_cache_points(request: &v1::ConverseRequest, model: &Model) -> Result<CachePoints> {
    use v1::content_block::Block;
    use v1::system_block::Block as System;
    // In Bedrock's order of the prompt: tools, system, messages.
    let mut fields = Vec::new();
    let tools = request.tool_config.as_ref();
    if tools.is_some_and(|tools| tools.cache_point.is_some()) {
        fields.push("tool_config.cache_point".to_owned());
    }
    let system_points = request.system.iter().map(|block| matches!(block.block, Some(System::CachePoint(_))));
    check_placement(system_points, || "system".to_owned(), "the system prompt's", &mut fields)?;
    for (index, message) in request.messages.iter().enumerate() {
        let points = message.content.iter().map(|block| matches!(block.block, Some(Block::CachePoint(_))));
        check_placement(points, || format!("messages[{index}].content"), "a message's", &mut fields)?;
    }
    let system_ends_cached =
        request.system.last().is_some_and(|block| matches!(block.block, Some(System::CachePoint(_))));
    let points = CachePoints {
        from_caller: fields.len(),
        after_system: model.prompt_caching.after_system && !request.system.is_empty() && !system_ends_cached,
        after_tools: model.prompt_caching.after_tools && tools.is_some_and(|tools| tools.cache_point.is_none()),
    };
    let automatic = usize::from(points.after_system) + usize::from(points.after_tools);
    let total = fields.len() + automatic;
    if total > limits::CACHE_POINTS {
        let added = match automatic {
            0 => String::new(),
            _ => format!(", counting the {automatic} that model {:?} adds", model.name),
        };
        // The first point beyond the limit is the one named.
        let field = fields.swap_remove(limits::CACHE_POINTS - automatic);
        let reason = format!("{total} cache points{added}; at most {} are allowed in a request", limits::CACHE_POINTS);
        return Err(GatewayError::invalid(field, reason));
    }
    Ok(points)
}

/// Refuses a cache point first in the list (`list` names it) or right after another one; adds the
/// field of each to `fields`.
fn check_placement(
    points: impl Iterator<Item = bool>,
    list: impl Fn() -> String,
    whose: &str,
    fields: &mut Vec<String>,
) -> Result<()> {
    let mut previous = None;
    for (index, point) in points.enumerate() {
        if point {
            let field = format!("{}[{index}].cache_point", list());
            match previous {
                None => {
                    return Err(GatewayError::invalid(
                        field,
                        format!("cannot be {whose} first block: it would cache nothing"),
                    ));
                }
                Some(true) => {
                    return Err(GatewayError::invalid(
                        field,
                        "follows another cache point: it would cache nothing more",
                    ));
                }
                Some(false) => fields.push(field),
            }
        }
        previous = Some(point);
    }
    Ok(())
}

/// Removes the caller's cache points, for a model without prompt caching: they are hints, which
/// such a model's Bedrock call need not take.
fn drop_cache_points(request: &mut BedrockRequest) {
    request.system.retain(|block| !matches!(block, bedrock::SystemContentBlock::CachePoint(_)));
    for message in &mut request.messages {
        message.content.retain(|block| !matches!(block, bedrock::ContentBlock::CachePoint(_)));
    }
    if let Some(tools) = &mut request.tool_config {
        tools.tools.retain(|tool| !matches!(tool, bedrock::Tool::CachePoint(_)));
    }
}

/// Checks every count the limits bound before anything is converted.
fn check_limits(request: &v1::ConverseRequest) -> Result<()> {
    use v1::content_block::Block;
    at_most("messages", request.messages.len(), limits::MESSAGES, "messages")?;
    let mut blocks = 0;
    for (index, message) in request.messages.iter().enumerate() {
        let field = || format!("messages[{index}].content");
        at_most(field(), message.content.len(), limits::BLOCKS_PER_MESSAGE, "content blocks")?;
        blocks += message.content.len();
        for (block_index, block) in message.content.iter().enumerate() {
            if let Some(Block::ToolResult(result)) = &block.block {
                let field = format!("{}[{block_index}].tool_result.content", field());
                at_most(field, result.content.len(), limits::TOOL_RESULT_ITEMS, "items")?;
                blocks += result.content.len();
            }
        }
    }
    at_most("messages", blocks, limits::CONTENT_BLOCKS, "content blocks and tool-result items in all messages")?;
    at_most("system", request.system.len(), limits::SYSTEM_BLOCKS, "system blocks")?;
    if let Some(tools) = &request.tool_config {
        at_most("tool_config.tools", tools.tools.len(), limits::TOOLS, "tools")?;
    }
    if let Some(config) = &request.inference_config {
        at_most("inference_config.stop_sequences", config.stop_sequences.len(), limits::STOP_SEQUENCES, "given")?;
    }
    Ok(())
}

/// Refuses images and documents, wherever they are (tool results included), for a model whose
/// `capabilities.input_modalities` does not list them: Bedrock's own refusal would name its model.
fn check_modalities(request: &v1::ConverseRequest, model: &Model) -> Result<()> {
    use v1::content_block::Block;
    use v1::tool_result_content::Content;
    let reads = |modality| model.capabilities.input_modalities.contains(&modality);
    if reads(Modality::Image) && reads(Modality::Document) {
        return Ok(());
    }
    let refuse = |field: String, modality: Modality| {
        let reads: Vec<_> = model.capabilities.input_modalities.iter().map(modality_name).collect();
        GatewayError::invalid(
            field,
            format!(
                "model {:?} does not read {}s (its capabilities.input_modalities: {})",
                model.name,
                modality_name(&modality),
                reads.join(", ")
            ),
        )
    };
    for (index, message) in request.messages.iter().enumerate() {
        for (block_index, block) in message.content.iter().enumerate() {
            let field = format!("messages[{index}].content[{block_index}]");
            let kinds: Vec<(String, Modality)> = match &block.block {
                Some(Block::Image(_)) => vec![(format!("{field}.image"), Modality::Image)],
                Some(Block::Document(_)) => vec![(format!("{field}.document"), Modality::Document)],
                Some(Block::ToolResult(result)) => result
                    .content
                    .iter()
                    .enumerate()
                    .filter_map(|(item, content)| match &content.content {
                        Some(Content::Image(_)) => {
                            Some((format!("{field}.tool_result.content[{item}].image"), Modality::Image))
                        }
                        Some(Content::Document(_)) => {
                            Some((format!("{field}.tool_result.content[{item}].document"), Modality::Document))
                        }
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            if let Some((field, modality)) = kinds.into_iter().find(|(_, modality)| !reads(*modality)) {
                return Err(refuse(field, modality));
            }
        }
    }
    Ok(())
}

fn modality_name(modality: &Modality) -> &'static str {
    match modality {
        Modality::Text => "text",
        Modality::Image => "image",
        Modality::Document => "document",
    }
}

/// Refuses tools for a model without `capabilities.tools`.
fn check_tools(request: &v1::ConverseRequest, model: &Model) -> Result<()> {
    if request.tool_config.is_some() && !model.capabilities.tools {
        return Err(GatewayError::invalid(
            "tool_config",
            format!("model {:?} does not use tools (its capabilities.tools is false)", model.name),
        ));
    }
    Ok(())
}

/// The request's inference settings, the model's defaults filling what it leaves unset: a
/// request without max_tokens gets `default_max_tokens`, not the cap, because Bedrock reserves
/// quota for max_tokens when the request starts. With `reasoning`, max_tokens makes room for its
/// budget, and a model that reasons with fixed sampling gets no sampling defaults.
fn inference(
    config: Option<v1::InferenceConfig>,
    model: &Model,
    reasoning: Option<Reasoning>,
) -> Result<bedrock::InferenceConfiguration> {
    let config = config.unwrap_or_default();
    let default_max_tokens =
        reasoning.map_or(model.default_max_tokens, |reasoning| reasoning.default_max_tokens(model));
    let max_tokens = config.max_tokens.unwrap_or(default_max_tokens);
    if max_tokens == 0 || max_tokens > model.max_tokens_cap {
        return Err(GatewayError::invalid(
            "inference_config.max_tokens",
            format!("{max_tokens} is out of range; model {:?} allows 1 to {}", model.name, model.max_tokens_cap),
        ));
    }
    let sampling_defaults = match reasoning {
        Some(reasoning) => {
            reasoning.check_fits(max_tokens, config.max_tokens.is_some(), model)?;
            reasoning.check_sampling(&config, model)?;
            !reasoning.fixes_sampling()
        }
        None => true,
    };
    let mut builder = bedrock::InferenceConfiguration::builder().max_tokens(max_tokens as i32);
    if let Some(temperature) = config.temperature {
        builder = builder.temperature(unit_interval(temperature, "inference_config.temperature")?);
    } else if let Some(temperature) = model.temperature.filter(|_| sampling_defaults) {
        builder = builder.temperature(temperature);
    }
    if let Some(top_p) = config.top_p {
        builder = builder.top_p(unit_interval(top_p, "inference_config.top_p")?);
    } else if let Some(top_p) = model.top_p.filter(|_| sampling_defaults) {
        builder = builder.top_p(top_p);
    }
    for (index, sequence) in config.stop_sequences.into_iter().enumerate() {
        builder = builder.stop_sequences(non_empty(sequence, &format!("inference_config.stop_sequences[{index}]"))?);
    }
    Ok(builder.build())
}

fn unit_interval(value: f32, field: &str) -> Result<f32> {
    if !(0.0..=1.0).contains(&value) {
        return Err(GatewayError::invalid(field, format!("{value} is out of range; allowed: 0.0 to 1.0")));
    }
    Ok(value)
}

fn tool_config(config: v1::ToolConfig, json_budget: &mut Budget) -> Result<bedrock::ToolConfiguration> {
    if config.tools.is_empty() {
        return Err(GatewayError::invalid(
            "tool_config.tools",
            "at least one tool is required when tool_config is set",
        ));
    }
    let mut names = HashSet::new();
    let mut builder = bedrock::ToolConfiguration::builder();
    for (index, tool) in config.tools.into_iter().enumerate() {
        let field = format!("tool_config.tools[{index}]");
        if !valid_tool_name(&tool.name) {
            // The name is echoed only when it is short enough to be one.
            let shown =
                if tool.name.len() <= limits::TOOL_NAME_CHARS { format!("{:?} ", tool.name) } else { String::new() };
            return Err(GatewayError::invalid(
                format!("{field}.name"),
                format!("{shown}is not a tool name: 1 to {} letters, digits, '_' or '-'", limits::TOOL_NAME_CHARS),
            ));
        }
        if !names.insert(tool.name.clone()) {
            return Err(GatewayError::invalid(
                format!("{field}.name"),
                format!("{:?} is offered twice; tool names must be distinct", tool.name),
            ));
        }
        let schema = json_object(&tool.input_schema_json, &format!("{field}.input_schema_json"), json_budget)?;
        let mut spec =
            bedrock::ToolSpecification::builder().name(tool.name).input_schema(bedrock::ToolInputSchema::Json(schema));
        if !tool.description.is_empty() {
            spec = spec.description(tool.description);
        }
        // Only models with native structured output get here with a strict tool.
        if tool.strict == Some(true) {
            spec = spec.strict(true);
        }
        builder = builder.tools(bedrock::Tool::ToolSpec(built(&field, spec.build())?));
    }
    if let Some(point) = &config.cache_point {
        builder = builder.tools(bedrock::Tool::CachePoint(cache_point_with(point, "tool_config.cache_point")?));
    }
    if let Some(choice) = config.tool_choice.and_then(|choice| choice.choice) {
        use v1::tool_choice::Choice;
        let choice = match choice {
            Choice::Auto(_) => bedrock::ToolChoice::Auto(bedrock::AutoToolChoice::builder().build()),
            Choice::Any(_) => bedrock::ToolChoice::Any(bedrock::AnyToolChoice::builder().build()),
            Choice::Tool(name) => {
                if !names.contains(&name) {
                    let mut offered = names.into_iter().collect::<Vec<_>>();
                    offered.sort();
                    let offered = offered.join(", ");
                    let shown: String = name.chars().take(limits::TOOL_NAME_CHARS).collect();
                    return Err(GatewayError::invalid(
                        "tool_config.tool_choice.tool",
                        format!("{shown:?} is not one of the offered tools ({offered})"),
                    ));
                }
                let specific =
                    built("tool_config.tool_choice.tool", bedrock::SpecificToolChoice::builder().name(name).build())?;
                bedrock::ToolChoice::Tool(specific)
            }
        };
        builder = builder.tool_choice(choice);
    }
    built("tool_config", builder.build())
}

#[cfg(test)]
mod tests;
