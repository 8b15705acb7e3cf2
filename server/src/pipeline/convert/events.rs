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
        // Only a tool-use block has something to say before its first delta; the others begin
        // with it.
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
            _ => Relayed::Skip,
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

/// The caller's numbering of an answer's content blocks. Bedrock numbers every block it produces,
/// but a block none of whose events reach the caller (a kind this API does not carry) must leave
/// no trace: no `content_block_stop` of its own, and no gap in the numbers of the others. So a
/// block is numbered when its first event is relayed, from 0, which is also its position in the
/// content of a Converse answer.
#[derive(Debug, Default)]
pub struct BlockNumbers {
    /// Bedrock's index of each block the caller has seen, in the caller's order.
    seen: Vec<u32>,
}

impl BlockNumbers {
    /// Renumbers a content event for the caller; `None` for the stop of a block the caller never
    /// saw.
    pub fn renumber(&mut self, mut event: v1::ConverseStreamEvent) -> Option<v1::ConverseStreamEvent> {
        let (index, opens) = match &mut event.event {
            Some(Event::ContentBlockStart(start)) => (&mut start.content_block_index, true),
            Some(Event::ContentBlockDelta(delta)) => (&mut delta.content_block_index, true),
            Some(Event::ContentBlockStop(stop)) => (&mut stop.content_block_index, false),
            _ => return Some(event),
        };
        // The block of the last event is the likeliest, so the search starts from the end.
        let number = match self.seen.iter().rposition(|&seen| seen == *index) {
            Some(number) => number,
            None if opens => {
                self.seen.push(*index);
                self.seen.len() - 1
            }
            None => return None,
        };
        *index = u32::try_from(number).unwrap_or(u32::MAX);
        Some(event)
    }
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

    fn delta(index: i32) -> bedrock::ConverseStreamOutput {
        bedrock::ConverseStreamOutput::ContentBlockDelta(
            bedrock::ContentBlockDeltaEvent::builder()
                .content_block_index(index)
                .delta(bedrock::ContentBlockDelta::Text("x".into()))
                .build()
                .unwrap(),
        )
    }

    fn stop(index: i32) -> bedrock::ConverseStreamOutput {
        bedrock::ConverseStreamOutput::ContentBlockStop(
            bedrock::ContentBlockStopEvent::builder().content_block_index(index).build().unwrap(),
        )
    }

    #[test]
    fn only_tool_use_blocks_start_with_a_content_block_start() {
        let start = |start: Option<bedrock::ContentBlockStart>| {
            bedrock::ConverseStreamOutput::ContentBlockStart(
                bedrock::ContentBlockStartEvent::builder().content_block_index(0).set_start(start).build().unwrap(),
            )
        };
        assert_eq!(relayed(start(None)), Relayed::Skip, "a text or reasoning block begins with its first delta");
        let tool = bedrock::ToolUseBlockStart::builder().tool_use_id("t1").name("search").build().unwrap();
        assert!(matches!(
            relayed(start(Some(bedrock::ContentBlockStart::ToolUse(tool)))),
            Relayed::Content(v1::ConverseStreamEvent { event: Some(Event::ContentBlockStart(_)) })
        ));
    }

    #[test]
    fn blocks_the_caller_never_saw_leave_no_stop_and_no_gap() {
        let mut numbers = BlockNumbers::default();
        let mut renumbered = |event| match relayed(event) {
            Relayed::Content(content) => numbers.renumber(content).map(|content| match content.event {
                Some(Event::ContentBlockDelta(delta)) => ("delta", delta.content_block_index),
                Some(Event::ContentBlockStop(stop)) => ("stop", stop.content_block_index),
                other => panic!("{other:?}"),
            }),
            other => panic!("{other:?}"),
        };
        // Block 0 had only deltas this API does not carry: its stop is not sent, and block 1 is
        // the caller's block 0.
        assert_eq!(renumbered(stop(0)), None);
        assert_eq!(renumbered(delta(1)), Some(("delta", 0)));
        assert_eq!(renumbered(delta(1)), Some(("delta", 0)));
        assert_eq!(renumbered(stop(1)), Some(("stop", 0)));
        assert_eq!(renumbered(delta(3)), Some(("delta", 1)));
        assert_eq!(renumbered(stop(2)), None);
        assert_eq!(renumbered(stop(3)), Some(("stop", 1)));
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
