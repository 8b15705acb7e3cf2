//! The pipeline's answers -> Bedrock's JSON: Converse's response, CountTokens', and the pieces a
//! stream's events share with them (stop reasons, usage, metrics).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bedrock_gateway_proto::v1;
use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use v1::content_block::Block;

/// Bedrock's name of a stop reason. v1's OTHER (a reason newer than v1) and the unset value,
/// which the gateway never sends, both mean a complete answer: `end_turn`.
pub(super) fn stop_reason(reason: i32) -> &'static str {
    use v1::StopReason as R;
    match R::try_from(reason).unwrap_or(R::Other) {
        R::EndTurn | R::Other | R::Unspecified => "end_turn",
        R::ToolUse => "tool_use",
        R::MaxTokens => "max_tokens",
        R::StopSequence => "stop_sequence",
        R::GuardrailIntervened => "guardrail_intervened",
        R::ContentFiltered => "content_filtered",
        R::ContextWindowExceeded => "model_context_window_exceeded",
        R::MalformedToolUse => "malformed_tool_use",
        R::MalformedModelOutput => "malformed_model_output",
    }
}

/// Bedrock's token counts; v1's have the same meanings.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Usage {
    input_tokens: u32,
    output_tokens: u32,
    total_tokens: u32,
    cache_read_input_tokens: u32,
    cache_write_input_tokens: u32,
}

impl Usage {
    pub(super) fn of(usage: Option<&v1::TokenUsage>) -> Usage {
        let usage = usage.cloned().unwrap_or_default();
        Usage {
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            total_tokens: usage.total_tokens,
            cache_read_input_tokens: usage.cache_read_input_tokens,
            cache_write_input_tokens: usage.cache_write_input_tokens,
        }
    }
}

/// Bedrock's metrics: the answer's latency, as the gateway measured it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Metrics {
    latency_ms: u64,
}

impl Metrics {
    pub(super) fn of(timing: Option<&v1::Timing>) -> Metrics {
        let total = timing.and_then(|timing| timing.total);
        let latency_ms = total.map_or(0, |total| {
            let millis = i128::from(total.seconds) * 1000 + i128::from(total.nanos) / 1_000_000;
            u64::try_from(millis).unwrap_or_default()
        });
        Metrics { latency_ms }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ConverseOutput<'a> {
    output: Output<'a>,
    stop_reason: &'static str,
    usage: Usage,
    metrics: Metrics,
}

#[derive(Debug, Serialize)]
struct Output<'a> {
    message: OutputMessage<'a>,
}

#[derive(Debug, Serialize)]
struct OutputMessage<'a> {
    role: &'static str,
    content: Vec<OutputBlock<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
enum OutputBlock<'a> {
    Text(&'a str),
    ToolUse(ToolUse<'a>),
    ReasoningContent(Reasoning<'a>),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolUse<'a> {
    tool_use_id: &'a str,
    name: &'a str,
    input: Value,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
enum Reasoning<'a> {
    ReasoningText {
        text: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        signature: Option<&'a str>,
    },
    RedactedContent(String),
}

fn output_block(block: &v1::ContentBlock) -> Option<OutputBlock<'_>> {
    Some(match block.block.as_ref()? {
        Block::Text(text) => OutputBlock::Text(text),
        Block::ToolUse(tool_use) => OutputBlock::ToolUse(ToolUse {
            tool_use_id: &tool_use.tool_use_id,
            name: &tool_use.name,
            // The pipeline wrote the input from the model's JSON, so it parses; were it ever not
            // JSON, it goes as a JSON string rather than be lost.
            input: serde_json::from_str(&tool_use.input_json)
                .unwrap_or_else(|_| Value::String(tool_use.input_json.clone())),
        }),
        Block::Reasoning(reasoning) if !reasoning.redacted.is_empty() => {
            OutputBlock::ReasoningContent(Reasoning::RedactedContent(BASE64.encode(&reasoning.redacted)))
        }
        Block::Reasoning(reasoning) => OutputBlock::ReasoningContent(Reasoning::ReasoningText {
            text: &reasoning.text,
            signature: (!reasoning.signature.is_empty()).then_some(reasoning.signature.as_str()),
        }),
        // A model's answer holds only the kinds above.
        Block::Image(_) | Block::Document(_) | Block::ToolResult(_) | Block::CachePoint(_) => return None,
    })
}

/// `value` as a JSON body or payload.
pub(super) fn to_json(value: &impl Serialize) -> Bytes {
    Bytes::from(serde_json::to_vec(value).expect("the answer's types serialize to JSON"))
}

/// Converse's response body.
pub fn converse_response(response: &v1::ConverseResponse) -> Bytes {
    let content = response.output.iter().flat_map(|message| &message.content).filter_map(output_block).collect();
    to_json(&ConverseOutput {
        output: Output { message: OutputMessage { role: "assistant", content } },
        stop_reason: stop_reason(response.stop_reason),
        usage: Usage::of(response.usage.as_ref()),
        metrics: Metrics::of(response.timing.as_ref()),
    })
}

/// CountTokens' response body.
pub fn count_tokens_response(response: &v1::CountTokensResponse) -> Bytes {
    to_json(&serde_json::json!({ "inputTokens": response.input_tokens }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn block(block: Block) -> v1::ContentBlock {
        v1::ContentBlock { block: Some(block) }
    }

    #[test]
    fn a_whole_answer_is_bedrocks_converse_response() {
        let response = v1::ConverseResponse {
            request_id: "req-1".into(),
            model: "chat".into(),
            model_version: "3".into(),
            output: Some(v1::Message {
                role: v1::Role::Assistant as i32,
                content: vec![
                    block(Block::Reasoning(v1::ReasoningBlock {
                        text: "hmm".into(),
                        signature: "sig".into(),
                        redacted: Vec::new(),
                    })),
                    block(Block::Reasoning(v1::ReasoningBlock {
                        text: String::new(),
                        signature: String::new(),
                        redacted: vec![1, 2, 3],
                    })),
                    block(Block::Reasoning(v1::ReasoningBlock {
                        text: "unsigned".into(),
                        signature: String::new(),
                        redacted: Vec::new(),
                    })),
                    block(Block::Text("Checking.".into())),
                    block(Block::ToolUse(v1::ToolUseBlock {
                        tool_use_id: "t1".into(),
                        name: "weather".into(),
                        input_json: r#"{"city":"Paris","days":[1,2]}"#.into(),
                    })),
                ],
            }),
            stop_reason: v1::StopReason::ToolUse as i32,
            usage: Some(v1::TokenUsage {
                input_tokens: 7,
                output_tokens: 5,
                total_tokens: 12,
                cache_read_input_tokens: 0,
                cache_write_input_tokens: 0,
            }),
            timing: Some(v1::Timing {
                time_to_first_token: None,
                total: Some(prost_types::Duration { seconds: 0, nanos: 987_654_321 }),
            }),
        };
        let body: Value = serde_json::from_slice(&converse_response(&response)).unwrap();
        assert_eq!(
            body,
            json!({
                "output": {"message": {"role": "assistant", "content": [
                    {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig"}}},
                    {"reasoningContent": {"redactedContent": "AQID"}},
                    {"reasoningContent": {"reasoningText": {"text": "unsigned"}}},
                    {"text": "Checking."},
                    {"toolUse": {"toolUseId": "t1", "name": "weather", "input": {"city": "Paris", "days": [1, 2]}}},
                ]}},
                "stopReason": "tool_use",
                "usage": {"inputTokens": 7, "outputTokens": 5, "totalTokens": 12, "cacheReadInputTokens": 0, "cacheWriteInputTokens": 0},
                "metrics": {"latencyMs": 987},
            })
        );
    }

    #[test]
    fn an_answer_without_usage_or_timing_still_has_bedrocks_required_members() {
        let body: Value = serde_json::from_slice(&converse_response(&v1::ConverseResponse::default())).unwrap();
        assert_eq!(body["output"], json!({"message": {"role": "assistant", "content": []}}));
        assert_eq!(body["stopReason"], "end_turn");
        assert_eq!(body["usage"]["totalTokens"], 0);
        assert_eq!(body["metrics"], json!({"latencyMs": 0}));
    }

    #[test]
    fn every_stop_reason_has_bedrocks_name() {
        use v1::StopReason as R;
        let cases = [
            (R::EndTurn, "end_turn"),
            (R::ToolUse, "tool_use"),
            (R::MaxTokens, "max_tokens"),
            (R::StopSequence, "stop_sequence"),
            (R::GuardrailIntervened, "guardrail_intervened"),
            (R::ContentFiltered, "content_filtered"),
            (R::ContextWindowExceeded, "model_context_window_exceeded"),
            (R::MalformedToolUse, "malformed_tool_use"),
            (R::MalformedModelOutput, "malformed_model_output"),
            (R::Other, "end_turn"),
        ];
        for (reason, name) in cases {
            assert_eq!(stop_reason(reason as i32), name, "{reason:?}");
        }
        assert_eq!(stop_reason(99), "end_turn", "a reason newer than v1 means a complete answer");
    }

    #[test]
    fn count_tokens_answers_the_input_tokens() {
        let response = v1::CountTokensResponse { input_tokens: 1234, ..v1::CountTokensResponse::default() };
        assert_eq!(&count_tokens_response(&response)[..], br#"{"inputTokens":1234}"#);
    }
}
