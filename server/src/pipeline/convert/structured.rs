//! Structured output: a JSON-schema response format, served by Bedrock's native output
//! configuration where the model has it, otherwise by a forced tool whose input is the answer.
//!
//! With the tool, the answer arrives as a tool use; [`ToolAnswer`] (streams) and
//! [`tool_answer_as_text`] (Converse) turn it back into text with stop reason END_TURN, so the
//! caller gets the same answer whichever way the model produced it.

use aws_sdk_bedrockruntime::types as bedrock;
use bedrock_gateway_proto::v1;
use v1::converse_stream_event::Event;

use super::events::{Relayed, relayed};
use super::fields::{built, json_object, valid_tool_name};
use super::json::Budget;
use super::reasoning::Reasoning;
use crate::config::StructuredOutputStyle;
use crate::error::GatewayError;
use crate::pipeline::catalog::Model;

type Result<T> = std::result::Result<T, GatewayError>;

/// The forced tool's description when the format has none: what the model is to put in it.
const ANSWER_TOOL_DESCRIPTION: &str = "Gives the answer, as this tool's input.";

/// How a response format reaches Bedrock.
#[derive(Debug)]
pub enum Structured {
    /// `outputConfig.textFormat`.
    Native(bedrock::OutputConfig),
    /// The tool configuration that forces the answer through a tool.
    Tool(bedrock::ToolConfiguration),
}

/// Validates `format` and maps it for `model`. `offers_tools`: the request has a tool
/// configuration of its own. The schema's values are charged to `json_budget`.
pub fn response_format(
    format: Option<v1::ResponseFormat>,
    offers_tools: bool,
    reasoning: Option<Reasoning>,
    model: &Model,
    json_budget: &mut Budget,
) -> Result<Option<Structured>> {
    let Some(format) = format else { return Ok(None) };
    let style = model.capabilities.structured_output;
    if style == StructuredOutputStyle::None {
        return Err(GatewayError::invalid(
            "response_format",
            format!("model {:?} has no structured output (capabilities.structured_output)", model.name),
        ));
    }
    let Some(v1::response_format::Format::JsonSchema(format)) = format.format else {
        return Err(GatewayError::invalid("response_format", "empty: set json_schema"));
    };
    if !valid_tool_name(&format.name) {
        return Err(GatewayError::invalid(
            "response_format.json_schema.name",
            "required: 1 to 64 letters, digits, '_' or '-'".to_owned(),
        ));
    }
    let schema = json_object(&format.schema_json, "response_format.json_schema.schema_json", json_budget)?;
    let description = (!format.description.is_empty()).then_some(format.description);
    match style {
        StructuredOutputStyle::None => unreachable!("refused above"),
        StructuredOutputStyle::Native => {
            let definition = bedrock::JsonSchemaDefinition::builder()
                .schema(format.schema_json)
                .name(format.name)
                .set_description(description)
                .build();
            let text_format = bedrock::OutputFormat::builder()
                .r#type(bedrock::OutputFormatType::JsonSchema)
                .structure(bedrock::OutputFormatStructure::JsonSchema(built("response_format", definition)?))
                .build();
            Ok(Some(Structured::Native(
                bedrock::OutputConfig::builder().text_format(built("response_format", text_format)?).build(),
            )))
        }
        StructuredOutputStyle::Tool => {
            if offers_tools {
                return Err(GatewayError::invalid(
                    "response_format",
                    format!(
                        "model {:?} needs a tool for structured output (capabilities.structured_output) and cannot \
                         combine it with tool_config",
                        model.name
                    ),
                ));
            }
            if reasoning.is_some_and(Reasoning::fixes_sampling) {
                return Err(GatewayError::invalid(
                    "response_format",
                    format!(
                        "model {:?} needs a forced tool for structured output (capabilities.structured_output), \
                         which its reasoning (capabilities.reasoning) cannot be combined with",
                        model.name
                    ),
                ));
            }
            let spec = bedrock::ToolSpecification::builder()
                .name(&format.name)
                .description(description.as_deref().unwrap_or(ANSWER_TOOL_DESCRIPTION))
                .input_schema(bedrock::ToolInputSchema::Json(schema))
                .build();
            let choice = bedrock::SpecificToolChoice::builder().name(format.name).build();
            let tools = bedrock::ToolConfiguration::builder()
                .tools(bedrock::Tool::ToolSpec(built("response_format", spec)?))
                .tool_choice(bedrock::ToolChoice::Tool(built("response_format", choice)?))
                .build();
            Ok(Some(Structured::Tool(built("response_format", tools)?)))
        }
    }
}

/// Strict tools need native structured output.
pub fn check_strict_tools(tools: Option<&v1::ToolConfig>, model: &Model) -> Result<()> {
    if model.capabilities.structured_output == StructuredOutputStyle::Native {
        return Ok(());
    }
    let strict = tools.and_then(|tools| tools.tools.iter().position(|tool| tool.strict == Some(true)));
    match strict {
        Some(index) => Err(GatewayError::invalid(
            format!("tool_config.tools[{index}].strict"),
            format!("model {:?} has no strict tools (capabilities.structured_output)", model.name),
        )),
        None => Ok(()),
    }
}

/// Turns the stream of an answer given through the forced tool back into text: the tool block's
/// start is not sent, its input fragments become text deltas, text the model wrote around the tool
/// is dropped, and the stop reason TOOL_USE becomes END_TURN. Reasoning and every other event pass
/// as they would without it, so the stream's ending is the relay's as always.
#[derive(Debug, Default)]
pub struct ToolAnswer {
    /// Blocks (of index below 64) whose text was dropped, so that their stops are dropped too.
    dropped: u64,
}

impl ToolAnswer {
    /// Converts one Bedrock stream event.
    pub fn relayed(&mut self, event: bedrock::ConverseStreamOutput) -> Relayed {
        use bedrock::ConverseStreamOutput as Output;
        let bit = |index: i32| u32::try_from(index).ok().and_then(|index| 1u64.checked_shl(index)).unwrap_or(0);
        match event {
            Output::ContentBlockStart(start) if matches!(start.start, Some(bedrock::ContentBlockStart::ToolUse(_))) => {
                Relayed::Skip
            }
            Output::ContentBlockDelta(mut delta) => match delta.delta.take() {
                Some(bedrock::ContentBlockDelta::ToolUse(tool_use)) => Relayed::Content(v1::ConverseStreamEvent {
                    event: Some(Event::ContentBlockDelta(v1::ContentBlockDelta {
                        content_block_index: u32::try_from(delta.content_block_index).unwrap_or_default(),
                        delta: Some(v1::content_block_delta::Delta::Text(tool_use.input)),
                    })),
                }),
                Some(bedrock::ContentBlockDelta::Text(_)) => {
                    self.dropped |= bit(delta.content_block_index);
                    Relayed::Skip
                }
                other => {
                    delta.delta = other;
                    relayed(Output::ContentBlockDelta(delta))
                }
            },
            Output::ContentBlockStop(stop) if self.dropped & bit(stop.content_block_index) != 0 => Relayed::Skip,
            Output::MessageStop(stop) if stop.stop_reason == bedrock::StopReason::ToolUse => {
                Relayed::Stop(v1::StopReason::EndTurn)
            }
            event => relayed(event),
        }
    }
}

/// Turns a whole answer given through the forced tool back into text: the tool use becomes a
/// text block holding its input, text around it is dropped, and TOOL_USE becomes END_TURN.
pub fn tool_answer_as_text(content: &mut Vec<v1::ContentBlock>, stop_reason: &mut v1::StopReason) {
    use v1::content_block::Block;
    content.retain_mut(|block| match block.block.take() {
        Some(Block::ToolUse(tool_use)) => {
            block.block = Some(Block::Text(tool_use.input_json));
            true
        }
        Some(Block::Text(_)) => false,
        other => {
            block.block = other;
            true
        }
    });
    if *stop_reason == v1::StopReason::ToolUse {
        *stop_reason = v1::StopReason::EndTurn;
    }
}

#[cfg(test)]
mod tests {
    use aws_smithy_types::Document;

    use super::*;
    use crate::config::{CapabilitiesConfig, ReasoningStyle};
    use crate::pipeline::convert::request::to_bedrock;
    use crate::pipeline::convert::test_support::{model, rejected, with};

    fn structured(style: StructuredOutputStyle) -> Model {
        Model {
            name: "shaped".into(),
            capabilities: CapabilitiesConfig { structured_output: style, ..CapabilitiesConfig::default() },
            ..model()
        }
    }

    const SCHEMA: &str = r#"{"type":"object","properties":{"city":{"type":"string"}}}"#;

    fn formatted(name: &str, schema: &str) -> v1::ConverseRequest {
        with(|r| {
            r.response_format = Some(v1::ResponseFormat {
                format: Some(v1::response_format::Format::JsonSchema(v1::JsonSchemaFormat {
                    name: name.into(),
                    description: "A city.".into(),
                    schema_json: schema.into(),
                })),
            });
        })
    }

    fn tool(strict: Option<bool>) -> v1::Tool {
        v1::Tool { name: "t".into(), input_schema_json: r#"{"type":"object"}"#.into(), strict, ..Default::default() }
    }

    #[test]
    fn native_models_get_an_output_config_and_strict_tools() {
        let mut request = formatted("city", SCHEMA);
        request.tool_config = Some(v1::ToolConfig { tools: vec![tool(Some(true))], ..Default::default() });
        let converted = to_bedrock(request, &structured(StructuredOutputStyle::Native)).unwrap();
        let format = converted.output_config.unwrap().text_format.unwrap();
        assert_eq!(format.r#type, bedrock::OutputFormatType::JsonSchema);
        let bedrock::OutputFormatStructure::JsonSchema(definition) = format.structure.unwrap() else {
            panic!("a JSON schema")
        };
        assert_eq!(
            (definition.schema(), definition.name(), definition.description()),
            (SCHEMA, Some("city"), Some("A city."))
        );
        assert!(!converted.answer_in_tool);
        let tools = converted.tool_config.unwrap();
        assert_eq!(tools.tools[0].as_tool_spec().unwrap().strict, Some(true));
    }

    #[test]
    fn tool_models_force_a_tool_whose_input_is_the_answer() {
        let converted = to_bedrock(formatted("city", SCHEMA), &structured(StructuredOutputStyle::Tool)).unwrap();
        assert!(converted.output_config.is_none() && converted.answer_in_tool);
        let tools = converted.tool_config.unwrap();
        let spec = tools.tools[0].as_tool_spec().unwrap();
        assert_eq!((spec.name(), spec.description()), ("city", Some("A city.")));
        let Some(bedrock::ToolInputSchema::Json(Document::Object(schema))) = spec.input_schema() else {
            panic!("the schema is the input schema")
        };
        assert_eq!(schema["type"], Document::from("object"));
        assert_eq!(
            tools.tool_choice,
            Some(bedrock::ToolChoice::Tool(bedrock::SpecificToolChoice::builder().name("city").build().unwrap()))
        );
    }

    #[test]
    fn unsupported_combinations_are_refused_naming_the_field_and_capability() {
        let (field, reason) = rejected(formatted("city", SCHEMA), &structured(StructuredOutputStyle::None));
        assert_eq!(field, "response_format");
        assert_eq!(reason, "model \"shaped\" has no structured output (capabilities.structured_output)");

        let tool_model = structured(StructuredOutputStyle::Tool);
        let mut with_tools = formatted("city", SCHEMA);
        with_tools.tool_config = Some(v1::ToolConfig { tools: vec![tool(None)], ..Default::default() });
        let (field, reason) = rejected(with_tools, &tool_model);
        assert_eq!(field, "response_format");
        assert!(reason.contains("cannot combine it with tool_config"), "{reason}");

        let strict = with(|r| {
            r.tool_config = Some(v1::ToolConfig { tools: vec![tool(None), tool(Some(true))], ..Default::default() });
        });
        let (field, reason) = rejected(strict.clone(), &tool_model);
        assert_eq!(field, "tool_config.tools[1].strict");
        assert_eq!(reason, "model \"shaped\" has no strict tools (capabilities.structured_output)");
        assert_eq!(rejected(strict, &structured(StructuredOutputStyle::None)).0, "tool_config.tools[1].strict");

        let mut thinking = tool_model.clone();
        thinking.capabilities.reasoning = ReasoningStyle::AnthropicThinking;
        let mut reasoned = formatted("city", SCHEMA);
        reasoned.reasoning = Some(v1::ReasoningConfig::default());
        assert_eq!(rejected(reasoned, &thinking).0, "response_format");
    }

    #[test]
    fn the_format_is_validated() {
        let native = structured(StructuredOutputStyle::Native);
        assert_eq!(rejected(formatted("", SCHEMA), &native).0, "response_format.json_schema.name");
        assert_eq!(rejected(formatted("a city", SCHEMA), &native).0, "response_format.json_schema.name");
        assert_eq!(rejected(formatted("city", "[1]"), &native).0, "response_format.json_schema.schema_json");
        assert_eq!(rejected(formatted("city", "{"), &native).0, "response_format.json_schema.schema_json");
        let empty = with(|r| r.response_format = Some(v1::ResponseFormat { format: None }));
        assert_eq!(rejected(empty, &native).0, "response_format");
        let huge = format!(r#"{{"enum":[{}]}}"#, vec!["0"; bedrock_gateway_proto::limits::JSON_VALUES].join(","));
        let (field, reason) = rejected(formatted("city", &huge), &native);
        assert_eq!(field, "response_format.json_schema.schema_json");
        assert!(reason.contains("more than 50000 JSON values"), "{reason}");
    }

    fn stream_event(event: bedrock::ConverseStreamOutput) -> Relayed {
        ToolAnswer::default().relayed(event)
    }

    #[test]
    fn streamed_tool_input_becomes_text_and_tool_use_becomes_end_turn() {
        let mut answer = ToolAnswer::default();
        let start = bedrock::ContentBlockStartEvent::builder()
            .content_block_index(1)
            .start(bedrock::ContentBlockStart::ToolUse(
                bedrock::ToolUseBlockStart::builder().tool_use_id("t1").name("city").build().unwrap(),
            ))
            .build()
            .unwrap();
        assert_eq!(answer.relayed(bedrock::ConverseStreamOutput::ContentBlockStart(start)), Relayed::Skip);
        let delta = |index, delta| {
            bedrock::ConverseStreamOutput::ContentBlockDelta(
                bedrock::ContentBlockDeltaEvent::builder().content_block_index(index).delta(delta).build().unwrap(),
            )
        };
        let input = bedrock::ToolUseBlockDelta::builder().input("{\"city\":").build().unwrap();
        assert_eq!(
            answer.relayed(delta(1, bedrock::ContentBlockDelta::ToolUse(input))),
            Relayed::Content(v1::ConverseStreamEvent {
                event: Some(Event::ContentBlockDelta(v1::ContentBlockDelta {
                    content_block_index: 1,
                    delta: Some(v1::content_block_delta::Delta::Text("{\"city\":".into())),
                })),
            })
        );
        let stop = |index| {
            bedrock::ConverseStreamOutput::ContentBlockStop(
                bedrock::ContentBlockStopEvent::builder().content_block_index(index).build().unwrap(),
            )
        };
        assert!(matches!(answer.relayed(stop(1)), Relayed::Content(_)), "the answer's block ends as usual");
        assert_eq!(answer.relayed(delta(0, bedrock::ContentBlockDelta::Text("Sure:".into()))), Relayed::Skip);
        assert_eq!(answer.relayed(stop(0)), Relayed::Skip, "a block whose text was dropped does not end");
        let reasoning =
            bedrock::ContentBlockDelta::ReasoningContent(bedrock::ReasoningContentBlockDelta::Text("hm".into()));
        assert!(matches!(answer.relayed(delta(2, reasoning)), Relayed::Content(_)), "reasoning passes");
        let message_stop = |reason| {
            bedrock::ConverseStreamOutput::MessageStop(
                bedrock::MessageStopEvent::builder().stop_reason(reason).build().unwrap(),
            )
        };
        assert_eq!(stream_event(message_stop(bedrock::StopReason::ToolUse)), Relayed::Stop(v1::StopReason::EndTurn));
        assert_eq!(
            stream_event(message_stop(bedrock::StopReason::MaxTokens)),
            Relayed::Stop(v1::StopReason::MaxTokens),
            "a cut answer stays cut"
        );
    }

    #[test]
    fn a_whole_tool_answer_becomes_a_text_block() {
        use v1::content_block::Block;
        let block = |block| v1::ContentBlock { block: Some(block) };
        let reasoning = Block::Reasoning(v1::ReasoningBlock { text: "hm".into(), ..Default::default() });
        let mut content = vec![
            block(reasoning.clone()),
            block(Block::Text("Sure:".into())),
            block(Block::ToolUse(v1::ToolUseBlock {
                tool_use_id: "t1".into(),
                name: "city".into(),
                input_json: r#"{"city":"Oslo"}"#.into(),
            })),
        ];
        let mut stop = v1::StopReason::ToolUse;
        tool_answer_as_text(&mut content, &mut stop);
        assert_eq!(content, vec![block(reasoning), block(Block::Text(r#"{"city":"Oslo"}"#.into()))]);
        assert_eq!(stop, v1::StopReason::EndTurn);
    }
}
