//! The request's reasoning setting -> each model family's request fields.
//!
//! The API speaks of an effort and a token budget; which of Bedrock's model-specific
//! `additionalModelRequestFields` carries them is the catalog's business
//! (`capabilities.reasoning`), so clients never learn a model family's field names.

use aws_smithy_types::{Document, Number};
use bedrock_gateway_proto::v1;
use v1::ReasoningEffort as Effort;

use crate::config::ReasoningStyle;
use crate::error::GatewayError;
use crate::pipeline::catalog::Model;

type Result<T> = std::result::Result<T, GatewayError>;

/// The smallest budget Anthropic's thinking takes.
pub const MIN_BUDGET_TOKENS: u32 = 1024;

/// What a request's reasoning setting becomes for its model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reasoning {
    /// Anthropic's `thinking`, with this budget; `from_effort` is the effort it was derived from
    /// when the request set no budget of its own.
    Thinking { budget: u32, from_effort: Option<Effort> },
    /// `reasoning_effort`, with this value.
    Effort(&'static str),
}

/// The token budget an effort stands for, with models that take a budget.
fn budget_of(effort: Effort) -> u32 {
    match effort {
        Effort::Low => 1024,
        Effort::Unspecified | Effort::Medium => 4096,
        Effort::High => 16_384,
    }
}

/// Maps `config` for `model`; `None` when the request does not ask for reasoning, or asks a model
/// that the catalog says to ignore it for.
pub fn reasoning(config: Option<v1::ReasoningConfig>, model: &Model) -> Result<Option<Reasoning>> {
    let Some(config) = config else { return Ok(None) };
    let effort = match Effort::try_from(config.effort) {
        Ok(Effort::Unspecified) => None,
        Ok(effort) => Some(effort),
        Err(_) => {
            return Err(GatewayError::invalid(
                "reasoning.effort",
                format!("{} is not a reasoning effort; use LOW, MEDIUM or HIGH", config.effort),
            ));
        }
    };
    match model.capabilities.reasoning {
        ReasoningStyle::None if model.capabilities.ignore_unsupported_reasoning => Ok(None),
        ReasoningStyle::None => Err(GatewayError::invalid(
            "reasoning",
            format!("model {:?} does not reason on request (capabilities.reasoning)", model.name),
        )),
        ReasoningStyle::AnthropicThinking => match config.budget_tokens {
            Some(budget) if budget < MIN_BUDGET_TOKENS => Err(GatewayError::invalid(
                "reasoning.budget_tokens",
                format!("{budget} is below the smallest reasoning budget, {MIN_BUDGET_TOKENS}"),
            )),
            Some(budget) => Ok(Some(Reasoning::Thinking { budget, from_effort: None })),
            None => {
                let effort = effort.unwrap_or(Effort::Medium);
                Ok(Some(Reasoning::Thinking { budget: budget_of(effort), from_effort: Some(effort) }))
            }
        },
        // A budget with an effort is a portable request (the budget for models that take one);
        // a budget alone cannot be honoured here, and guessing an effort from it would hide that.
        ReasoningStyle::ReasoningEffort => match (effort, config.budget_tokens) {
            (None, Some(_)) => Err(GatewayError::invalid(
                "reasoning.budget_tokens",
                format!(
                    "model {:?} takes an effort, not a budget (capabilities.reasoning); set reasoning.effort",
                    model.name
                ),
            )),
            (effort, _) => Ok(Some(Reasoning::Effort(match effort.unwrap_or(Effort::Medium) {
                Effort::Low => "low",
                Effort::Unspecified | Effort::Medium => "medium",
                Effort::High => "high",
            }))),
        },
    }
}

impl Reasoning {
    /// The `additionalModelRequestFields` entry that asks for it.
    pub fn field(self) -> (String, Document) {
        match self {
            Reasoning::Thinking { budget, .. } => (
                "thinking".to_owned(),
                Document::Object(
                    [
                        ("type".to_owned(), Document::from("enabled")),
                        ("budget_tokens".to_owned(), Document::Number(Number::PosInt(u64::from(budget)))),
                    ]
                    .into(),
                ),
            ),
            Reasoning::Effort(effort) => ("reasoning_effort".to_owned(), Document::from(effort)),
        }
    }

    /// Whether the model refuses sampling settings while it reasons: Anthropic's thinking takes
    /// no temperature but 1 and no top_p below 0.95, so the alias's defaults are not sent.
    pub fn fixes_sampling(self) -> bool {
        matches!(self, Reasoning::Thinking { .. })
    }

    /// The max_tokens of a request that sets none: room for the budget on top of the model's
    /// default answer length, within its cap.
    pub fn default_max_tokens(self, model: &Model) -> u32 {
        match self {
            Reasoning::Thinking { budget, .. } => {
                budget.saturating_add(model.default_max_tokens).min(model.max_tokens_cap)
            }
            Reasoning::Effort(_) => model.default_max_tokens,
        }
    }

    /// Checks that the budget fits below `max_tokens` (`requested`: the request set it).
    pub fn check_fits(self, max_tokens: u32, requested: bool, model: &Model) -> Result<()> {
        let Reasoning::Thinking { budget, from_effort } = self else { return Ok(()) };
        if budget < max_tokens {
            return Ok(());
        }
        let (field, what) = match from_effort {
            None => ("reasoning.budget_tokens", format!("{budget}")),
            Some(effort) => {
                ("reasoning.effort", format!("{} means a budget of {budget} tokens, which", effort.as_str_name()))
            }
        };
        let reason = if requested {
            format!("{what} must be less than inference_config.max_tokens ({max_tokens})")
        } else {
            format!(
                "{what} must be less than max_tokens, and model {:?} allows at most {} (inference_config.max_tokens unset: {max_tokens})",
                model.name, model.max_tokens_cap
            )
        };
        Err(GatewayError::invalid(field, reason))
    }

    /// Checks the request's sampling settings against what the model takes while it reasons.
    pub fn check_sampling(self, config: &v1::InferenceConfig, model: &Model) -> Result<()> {
        if !self.fixes_sampling() {
            return Ok(());
        }
        if let Some(temperature) = config.temperature
            && temperature != 1.0
        {
            return Err(GatewayError::invalid(
                "inference_config.temperature",
                format!(
                    "{temperature} cannot be combined with reasoning: model {:?} reasons with Anthropic thinking \
                     (capabilities.reasoning), which takes only the default temperature (1)",
                    model.name
                ),
            ));
        }
        if let Some(top_p) = config.top_p
            && !(0.95..=1.0).contains(&top_p)
        {
            return Err(GatewayError::invalid(
                "inference_config.top_p",
                format!(
                    "{top_p} cannot be combined with reasoning: model {:?} reasons with Anthropic thinking \
                     (capabilities.reasoning), which takes top_p from 0.95 to 1",
                    model.name
                ),
            ));
        }
        Ok(())
    }

    /// Checks the request's tool choice: Anthropic's thinking cannot be combined with a forced tool.
    pub fn check_tool_choice(self, tools: Option<&v1::ToolConfig>, model: &Model) -> Result<()> {
        use v1::tool_choice::Choice;
        let forced = tools
            .and_then(|tools| tools.tool_choice.as_ref())
            .is_some_and(|choice| matches!(choice.choice, Some(Choice::Any(_) | Choice::Tool(_))));
        if forced && self.fixes_sampling() {
            return Err(GatewayError::invalid(
                "tool_config.tool_choice",
                format!(
                    "a forced tool cannot be combined with reasoning: model {:?} reasons with Anthropic thinking \
                     (capabilities.reasoning); leave the choice to the model",
                    model.name
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CapabilitiesConfig;
    use crate::pipeline::convert::request::to_bedrock;
    use crate::pipeline::convert::test_support::{model, rejected, with};

    fn reasoning_model(style: ReasoningStyle) -> Model {
        Model {
            name: "thinker".into(),
            max_tokens_cap: 20_000,
            default_max_tokens: 1000,
            capabilities: CapabilitiesConfig { reasoning: style, ..CapabilitiesConfig::default() },
            ..model()
        }
    }

    fn asking(effort: Effort, budget_tokens: Option<u32>) -> v1::ConverseRequest {
        with(|r| r.reasoning = Some(v1::ReasoningConfig { effort: effort as i32, budget_tokens }))
    }

    fn thinking(budget: u64) -> Document {
        Document::Object(
            [
                ("type".to_owned(), Document::from("enabled")),
                ("budget_tokens".to_owned(), Document::Number(Number::PosInt(budget))),
            ]
            .into(),
        )
    }

    #[test]
    fn efforts_map_to_budgets_and_max_tokens_makes_room() {
        let thinker = reasoning_model(ReasoningStyle::AnthropicThinking);
        for (effort, budget) in
            [(Effort::Unspecified, 4096), (Effort::Low, 1024), (Effort::Medium, 4096), (Effort::High, 16_384)]
        {
            let converted = to_bedrock(asking(effort, None), &thinker).unwrap();
            assert_eq!(converted.additional_fields, vec![("thinking".to_owned(), thinking(budget))], "{effort:?}");
            assert_eq!(converted.inference.max_tokens, Some(budget as i32 + 1000), "{effort:?}");
        }
        let own = to_bedrock(asking(Effort::High, Some(2000)), &thinker).unwrap();
        assert_eq!(own.additional_fields, vec![("thinking".to_owned(), thinking(2000))], "the budget wins");
        let capped = Model { max_tokens_cap: 5000, ..thinker };
        assert_eq!(to_bedrock(asking(Effort::Medium, None), &capped).unwrap().inference.max_tokens, Some(5000));
    }

    #[test]
    fn budgets_out_of_range_are_refused_with_the_numbers() {
        let thinker = reasoning_model(ReasoningStyle::AnthropicThinking);
        let (field, reason) = rejected(asking(Effort::Unspecified, Some(1023)), &thinker);
        assert_eq!((field.as_str(), reason.contains("1024")), ("reasoning.budget_tokens", true), "{reason}");
        let mut over = asking(Effort::Unspecified, Some(3000));
        over.inference_config = Some(v1::InferenceConfig { max_tokens: Some(3000), ..Default::default() });
        let (field, reason) = rejected(over, &thinker);
        assert_eq!(field, "reasoning.budget_tokens");
        assert!(reason.contains("3000 must be less than inference_config.max_tokens (3000)"), "{reason}");
        let small = Model { max_tokens_cap: 4096, ..thinker };
        let (field, reason) = rejected(asking(Effort::High, None), &small);
        assert_eq!(field, "reasoning.effort");
        assert!(reason.contains("16384") && reason.contains("at most 4096"), "{reason}");
    }

    #[test]
    fn thinking_takes_no_temperature_and_drops_the_alias_defaults() {
        let thinker =
            Model { temperature: Some(0.2), top_p: Some(0.5), ..reasoning_model(ReasoningStyle::AnthropicThinking) };
        let converted = to_bedrock(asking(Effort::Low, None), &thinker).unwrap();
        assert_eq!((converted.inference.temperature, converted.inference.top_p), (None, None));
        let sampled = |temperature, top_p| {
            let mut request = asking(Effort::Low, None);
            request.inference_config = Some(v1::InferenceConfig { temperature, top_p, ..Default::default() });
            request
        };
        assert_eq!(rejected(sampled(Some(0.5), None), &thinker).0, "inference_config.temperature");
        assert_eq!(rejected(sampled(None, Some(0.9)), &thinker).0, "inference_config.top_p");
        let converted = to_bedrock(sampled(Some(1.0), Some(0.95)), &thinker).unwrap();
        assert_eq!((converted.inference.temperature, converted.inference.top_p), (Some(1.0), Some(0.95)));
    }

    #[test]
    fn effort_models_take_an_effort_not_a_budget() {
        let effort_model = reasoning_model(ReasoningStyle::ReasoningEffort);
        for (effort, wire) in
            [(Effort::Unspecified, "medium"), (Effort::Low, "low"), (Effort::Medium, "medium"), (Effort::High, "high")]
        {
            let converted = to_bedrock(asking(effort, None), &effort_model).unwrap();
            assert_eq!(converted.additional_fields, vec![("reasoning_effort".to_owned(), Document::from(wire))]);
            assert_eq!(converted.inference.max_tokens, Some(1000));
        }
        let both = to_bedrock(asking(Effort::High, Some(5000)), &effort_model).unwrap();
        assert_eq!(both.additional_fields, vec![("reasoning_effort".to_owned(), Document::from("high"))]);
        let (field, reason) = rejected(asking(Effort::Unspecified, Some(5000)), &effort_model);
        assert_eq!(field, "reasoning.budget_tokens");
        assert!(reason.contains("model \"thinker\" takes an effort, not a budget"), "{reason}");
    }

    #[test]
    fn models_without_reasoning_refuse_it_unless_told_to_ignore_it() {
        let plain = reasoning_model(ReasoningStyle::None);
        let (field, reason) = rejected(asking(Effort::Low, None), &plain);
        assert_eq!(field, "reasoning");
        assert_eq!(reason, "model \"thinker\" does not reason on request (capabilities.reasoning)");
        let mut lenient = plain;
        lenient.capabilities.ignore_unsupported_reasoning = true;
        assert!(to_bedrock(asking(Effort::Low, None), &lenient).unwrap().additional_fields.is_empty());
        let unknown = with(|r| r.reasoning = Some(v1::ReasoningConfig { effort: 9, budget_tokens: None }));
        assert_eq!(rejected(unknown, &reasoning_model(ReasoningStyle::ReasoningEffort)).0, "reasoning.effort");
    }

    #[test]
    fn the_requests_fields_replace_the_targets_of_the_same_name_only() {
        let thinker = reasoning_model(ReasoningStyle::AnthropicThinking);
        let converted = to_bedrock(asking(Effort::Low, None), &thinker).unwrap();
        let alias = Document::Object(
            [("thinking".to_owned(), thinking(8000)), ("top_k".to_owned(), Document::Number(Number::PosInt(5)))].into(),
        );
        let merged = converted.additional_fields_for(Some(&alias));
        let expected = Document::Object(
            [("thinking".to_owned(), thinking(1024)), ("top_k".to_owned(), Document::Number(Number::PosInt(5)))].into(),
        );
        assert_eq!(merged, Some(expected));
        assert_eq!(
            converted.additional_fields_for(None),
            Some(Document::Object([("thinking".to_owned(), thinking(1024))].into()))
        );
        let plain = to_bedrock(with(|_| {}), &thinker).unwrap();
        let alias = Some(Document::Object([("top_k".to_owned(), Document::from(5.0))].into()));
        assert_eq!(plain.additional_fields_for(alias.as_ref()), alias, "without reasoning, the target's");
    }

    #[test]
    fn redacted_reasoning_converts_both_ways() {
        use aws_sdk_bedrockruntime::types as bedrock;
        use aws_smithy_types::Blob;
        use v1::content_block::Block;
        let assistant = |reasoning: v1::ReasoningBlock| {
            with(|r| {
                r.messages.push(v1::Message {
                    role: v1::Role::Assistant as i32,
                    content: vec![v1::ContentBlock { block: Some(Block::Reasoning(reasoning)) }],
                });
            })
        };
        let redacted = v1::ReasoningBlock { redacted: vec![0, 159, 255], ..Default::default() };
        let converted = to_bedrock(assistant(redacted.clone()), &model()).unwrap();
        assert_eq!(
            converted.messages[1].content,
            [bedrock::ContentBlock::ReasoningContent(bedrock::ReasoningContentBlock::RedactedContent(Blob::new(
                vec![0, 159, 255]
            )))]
        );
        let both = v1::ReasoningBlock { text: "hm".into(), ..redacted };
        assert_eq!(rejected(assistant(both), &model()).0, "messages[1].content[0].reasoning.redacted");

        let delta = bedrock::ContentBlockDeltaEvent::builder()
            .content_block_index(0)
            .delta(bedrock::ContentBlockDelta::ReasoningContent(bedrock::ReasoningContentBlockDelta::RedactedContent(
                Blob::new(vec![1, 2]),
            )))
            .build()
            .unwrap();
        let relayed =
            crate::pipeline::convert::events::relayed(bedrock::ConverseStreamOutput::ContentBlockDelta(delta));
        let crate::pipeline::convert::events::Relayed::Content(v1::ConverseStreamEvent {
            event: Some(v1::converse_stream_event::Event::ContentBlockDelta(delta)),
        }) = relayed
        else {
            panic!("relayed: {relayed:?}")
        };
        assert_eq!(delta.delta, Some(v1::content_block_delta::Delta::ReasoningRedacted(vec![1, 2])));

        let message = bedrock::Message::builder()
            .role(bedrock::ConversationRole::Assistant)
            .content(bedrock::ContentBlock::ReasoningContent(bedrock::ReasoningContentBlock::RedactedContent(
                Blob::new(vec![3]),
            )))
            .build()
            .unwrap();
        let output = aws_sdk_bedrockruntime::operation::converse::ConverseOutput::builder()
            .output(bedrock::ConverseOutput::Message(message))
            .stop_reason(bedrock::StopReason::EndTurn)
            .build()
            .unwrap();
        let answer = crate::pipeline::convert::response::answer(output);
        assert_eq!(
            answer.output.content[0].block,
            Some(Block::Reasoning(v1::ReasoningBlock { redacted: vec![3], ..Default::default() }))
        );
    }

    #[test]
    fn thinking_refuses_a_forced_tool() {
        let thinker = reasoning_model(ReasoningStyle::AnthropicThinking);
        let mut forced = asking(Effort::Low, None);
        forced.tool_config = Some(v1::ToolConfig {
            tools: vec![v1::Tool {
                name: "a".into(),
                input_schema_json: r#"{"type":"object"}"#.into(),
                ..Default::default()
            }],
            tool_choice: Some(v1::ToolChoice { choice: Some(v1::tool_choice::Choice::Tool("a".into())) }),
            cache_point: None,
        });
        assert_eq!(rejected(forced, &thinker).0, "tool_config.tool_choice");
    }
}
