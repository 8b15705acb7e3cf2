//! Bedrock stream events -> v1 stream events: the per-event hot path of every stream, so it moves
//! strings out of the SDK's events instead of copying them.

use aws_sdk_bedrockruntime::types as bedrock;
use bedrock_gateway_proto::v1;
use v1::converse_stream_event::Event;

/// What the relay should do with one Bedrock event.
#[derive(Debug, PartialEq)]
pub enum Relayed {
    /// Forward this content event.
    Content(v1::ConverseStreamEvent),
    /// The model stopped, for this reason.
    Stop(v1::StopReason),
    /// The final usage numbers arrived.
    Usage(v1::TokenUsage),
    /// Nothing for the client (message start, or an event kind this API does not carry).
    Skip,
}

/// Converts one Bedrock stream event.
pub fn relayed(event: bedrock::ConverseStreamOutput) -> Relayed {
    use bedrock::ConverseStreamOutput as Output;
    match event {
        Output::ContentBlockDelta(delta) => content_delta(delta),
        Output::ContentBlockStart(start) => match start.start {
            Some(bedrock::ContentBlockStart::ToolUse(tool_use)) => {
                content(Event::ContentBlockStart(v1::ContentBlockStart {
                    content_block_index: index(start.content_block_index),
                    start: Some(v1::content_block_start::Start::ToolUse(v1::ToolUseStart {
                        tool_use_id: tool_use.tool_use_id,
                        name: tool_use.name,
                    })),
                }))
            }
            _ => content(Event::ContentBlockStart(v1::ContentBlockStart {
                content_block_index: index(start.content_block_index),
                start: None,
            })),
        },
        Output::ContentBlockStop(stop) => content(Event::ContentBlockStop(v1::ContentBlockStop {
            content_block_index: index(stop.content_block_index),
        })),
        Output::MessageStop(stop) => Relayed::Stop(stop_reason(&stop.stop_reason)),
        Output::Metadata(metadata) => Relayed::Usage(token_usage(metadata.usage.as_ref())),
        _ => Relayed::Skip,
    }
}

fn content_delta(event: bedrock::ContentBlockDeltaEvent) -> Relayed {
    use v1::content_block_delta::Delta;
    let delta = match event.delta {
        Some(bedrock::ContentBlockDelta::Text(text)) => Delta::Text(text),
        Some(bedrock::ContentBlockDelta::ToolUse(tool_use)) => Delta::ToolUseInputJson(tool_use.input),
        Some(bedrock::ContentBlockDelta::ReasoningContent(bedrock::ReasoningContentBlockDelta::Text(text))) => {
            Delta::ReasoningText(text)
        }
        Some(bedrock::ContentBlockDelta::ReasoningContent(bedrock::ReasoningContentBlockDelta::Signature(
            signature,
        ))) => Delta::ReasoningSignature(signature),
        Some(bedrock::ContentBlockDelta::ReasoningContent(bedrock::ReasoningContentBlockDelta::RedactedContent(
            redacted,
        ))) => Delta::ReasoningRedacted(redacted.into_inner()),
        _ => return Relayed::Skip,
    };
    content(Event::ContentBlockDelta(v1::ContentBlockDelta {
        content_block_index: index(event.content_block_index),
        delta: Some(delta),
    }))
}

fn content(event: Event) -> Relayed {
    Relayed::Content(v1::ConverseStreamEvent { event: Some(event) })
}

fn index(bedrock_index: i32) -> u32 {
    u32::try_from(bedrock_index).unwrap_or_default()
}

/// Maps Bedrock's stop reason; reasons newer than this API become `Other`, which still means done,
/// so every reason that means a broken answer must have its own value.
pub fn stop_reason(reason: &bedrock::StopReason) -> v1::StopReason {
    use bedrock::StopReason as B;
    match reason {
        B::EndTurn => v1::StopReason::EndTurn,
        B::ToolUse => v1::StopReason::ToolUse,
        B::MaxTokens => v1::StopReason::MaxTokens,
        B::StopSequence => v1::StopReason::StopSequence,
        B::GuardrailIntervened => v1::StopReason::GuardrailIntervened,
        B::ContentFiltered => v1::StopReason::ContentFiltered,
        B::ModelContextWindowExceeded => v1::StopReason::ContextWindowExceeded,
        B::MalformedToolUse => v1::StopReason::MalformedToolUse,
        B::MalformedModelOutput => v1::StopReason::MalformedModelOutput,
        _ => v1::StopReason::Other,
    }
}

/// Maps Bedrock's token counts; a missing record counts as zero.
pub fn token_usage(usage: Option<&bedrock::TokenUsage>) -> v1::TokenUsage {
    let count = |tokens: i32| u32::try_from(tokens).unwrap_or_default();
    usage.map_or_else(v1::TokenUsage::default, |usage| v1::TokenUsage {
        input_tokens: count(usage.input_tokens),
        output_tokens: count(usage.output_tokens),
        total_tokens: count(usage.total_tokens),
        cache_read_input_tokens: usage.cache_read_input_tokens.map(count).unwrap_or_default(),
        cache_write_input_tokens: usage.cache_write_input_tokens.map(count).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_delta_moves_into_a_v1_delta() {
        let event = bedrock::ConverseStreamOutput::ContentBlockDelta(
            bedrock::ContentBlockDeltaEvent::builder()
                .content_block_index(2)
                .delta(bedrock::ContentBlockDelta::Text("hi".into()))
                .build()
                .unwrap(),
        );
        let expected = content(Event::ContentBlockDelta(v1::ContentBlockDelta {
            content_block_index: 2,
            delta: Some(v1::content_block_delta::Delta::Text("hi".into())),
        }));
        assert_eq!(relayed(event), expected);
    }

    #[test]
    fn message_start_is_skipped_and_stop_maps_its_reason() {
        let start = bedrock::MessageStartEvent::builder().role(bedrock::ConversationRole::Assistant).build().unwrap();
        assert_eq!(relayed(bedrock::ConverseStreamOutput::MessageStart(start)), Relayed::Skip);
        let stop = bedrock::MessageStopEvent::builder().stop_reason(bedrock::StopReason::MaxTokens).build().unwrap();
        assert_eq!(relayed(bedrock::ConverseStreamOutput::MessageStop(stop)), Relayed::Stop(v1::StopReason::MaxTokens));
        assert_eq!(stop_reason(&bedrock::StopReason::from("brand_new_reason")), v1::StopReason::Other);
        for (wire, expected) in [
            ("malformed_tool_use", v1::StopReason::MalformedToolUse),
            ("malformed_model_output", v1::StopReason::MalformedModelOutput),
        ] {
            assert_eq!(stop_reason(&bedrock::StopReason::from(wire)), expected);
            assert!(expected.is_incomplete(), "{expected:?} is an incomplete answer");
        }
        assert!(!v1::StopReason::Other.is_incomplete() && !v1::StopReason::MaxTokens.is_incomplete());
    }
}
