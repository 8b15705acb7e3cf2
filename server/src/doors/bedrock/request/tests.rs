use bedrock_gateway_proto::v1;
use serde_json::{Value, json};
use v1::content_block::Block;

use super::{converse_request, count_tokens_request};
use crate::error::GatewayError;

fn converse(body: Value) -> v1::ConverseRequest {
    converse_request("chat", body.to_string().as_bytes()).unwrap_or_else(|err| panic!("{body}: {err}"))
}

/// The field and reason of a refused body.
fn refused(body: &[u8]) -> (String, String) {
    match converse_request("chat", body) {
        Err(GatewayError::InvalidArgument { field, reason }) => (field, reason),
        other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
    }
}

fn refused_json(body: Value) -> (String, String) {
    refused(body.to_string().as_bytes())
}

/// A body whose first user message holds `block`.
fn with_block(block: Value) -> Value {
    json!({"messages": [{"role": "user", "content": [{"text": "look"}, block]}]})
}

fn block(request: &v1::ConverseRequest, message: usize, index: usize) -> &Block {
    request.messages[message].content[index].block.as_ref().unwrap()
}

fn text(text: &str) -> v1::ContentBlock {
    v1::ContentBlock { block: Some(Block::Text(text.to_owned())) }
}

#[test]
fn a_conversation_maps_member_for_member_onto_v1() {
    let request = converse(json!({
        "messages": [
            {"role": "user", "content": [
                {"text": "What is in this picture?"},
                {"image": {"format": "png", "source": {"bytes": "iVBORw=="}}},
                {"document": {"format": "pdf", "name": "Report (2024)", "source": {"bytes": "JVBERg=="}}},
                {"cachePoint": {"type": "default", "ttl": "1h"}},
            ]},
            {"role": "assistant", "content": [
                {"reasoningContent": {"reasoningText": {"text": "Let me look.", "signature": "sig"}}},
                {"reasoningContent": {"redactedContent": "AQID"}},
                {"toolUse": {"toolUseId": "t1", "name": "lookup", "input": {"q": "cat"}}},
            ]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "t1", "status": "error", "content": [
                    {"json": {"found": false}},
                    {"text": "not found"},
                    {"image": {"format": "jpeg", "source": {"bytes": "/9g="}}},
                    {"document": {"format": "txt", "name": "log", "source": {"text": "line"}}},
                ]}},
            ]},
        ],
        "system": [{"text": "Be brief."}, {"cachePoint": {"type": "default"}}],
        "inferenceConfig": {"maxTokens": 512, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]},
        "toolConfig": {
            "tools": [
                {"toolSpec": {"name": "lookup", "description": "Finds things.", "inputSchema": {"json": {"type": "object"}}, "strict": true}},
                {"toolSpec": {"name": "other", "inputSchema": {"json": {"type": "object"}}}},
                {"cachePoint": {"type": "default", "ttl": "5m"}},
            ],
            "toolChoice": {"tool": {"name": "lookup"}},
        },
        "requestMetadata": {"team": "search"},
        "outputConfig": {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {
            "schema": "{\"type\":\"object\"}", "name": "result", "description": "The result."
        }}}},
        "performanceConfig": {"latency": "standard"},
        "serviceTier": {"type": "default"},
        "additionalModelResponseFieldPaths": [],
    }));
    let expected = v1::ConverseRequest {
        model: "chat".into(),
        messages: vec![
            v1::Message {
                role: v1::Role::User as i32,
                content: vec![
                    text("What is in this picture?"),
                    v1::ContentBlock {
                        block: Some(Block::Image(v1::ImageBlock {
                            format: v1::ImageFormat::Png as i32,
                            data: vec![0x89, b'P', b'N', b'G'],
                        })),
                    },
                    v1::ContentBlock {
                        block: Some(Block::Document(v1::DocumentBlock {
                            format: v1::DocumentFormat::Pdf as i32,
                            name: "Report (2024)".into(),
                            data: b"%PDF".to_vec(),
                        })),
                    },
                    v1::ContentBlock {
                        block: Some(Block::CachePoint(v1::CachePoint { ttl: v1::CacheTtl::OneHour as i32 })),
                    },
                ],
            },
            v1::Message {
                role: v1::Role::Assistant as i32,
                content: vec![
                    v1::ContentBlock {
                        block: Some(Block::Reasoning(v1::ReasoningBlock {
                            text: "Let me look.".into(),
                            signature: "sig".into(),
                            redacted: Vec::new(),
                        })),
                    },
                    v1::ContentBlock {
                        block: Some(Block::Reasoning(v1::ReasoningBlock {
                            text: String::new(),
                            signature: String::new(),
                            redacted: vec![1, 2, 3],
                        })),
                    },
                    v1::ContentBlock {
                        block: Some(Block::ToolUse(v1::ToolUseBlock {
                            tool_use_id: "t1".into(),
                            name: "lookup".into(),
                            input_json: r#"{"q":"cat"}"#.into(),
                        })),
                    },
                ],
            },
            v1::Message {
                role: v1::Role::User as i32,
                content: vec![v1::ContentBlock {
                    block: Some(Block::ToolResult(v1::ToolResultBlock {
                        tool_use_id: "t1".into(),
                        status: v1::ToolResultStatus::Error as i32,
                        content: vec![
                            v1::ToolResultContent {
                                content: Some(v1::tool_result_content::Content::Json(r#"{"found":false}"#.into())),
                            },
                            v1::ToolResultContent {
                                content: Some(v1::tool_result_content::Content::Text("not found".into())),
                            },
                            v1::ToolResultContent {
                                content: Some(v1::tool_result_content::Content::Image(v1::ImageBlock {
                                    format: v1::ImageFormat::Jpeg as i32,
                                    data: vec![0xff, 0xd8],
                                })),
                            },
                            v1::ToolResultContent {
                                content: Some(v1::tool_result_content::Content::Document(v1::DocumentBlock {
                                    format: v1::DocumentFormat::Txt as i32,
                                    name: "log".into(),
                                    data: b"line".to_vec(),
                                })),
                            },
                        ],
                    })),
                }],
            },
        ],
        system: vec![
            v1::SystemBlock { block: Some(v1::system_block::Block::Text("Be brief.".into())) },
            v1::SystemBlock { block: Some(v1::system_block::Block::CachePoint(v1::CachePoint { ttl: 0 })) },
        ],
        inference_config: Some(v1::InferenceConfig {
            max_tokens: Some(512),
            temperature: Some(0.5),
            top_p: Some(0.9),
            stop_sequences: vec!["END".into()],
        }),
        tool_config: Some(v1::ToolConfig {
            tools: vec![
                v1::Tool {
                    name: "lookup".into(),
                    description: "Finds things.".into(),
                    input_schema_json: r#"{"type":"object"}"#.into(),
                    strict: Some(true),
                },
                v1::Tool {
                    name: "other".into(),
                    description: String::new(),
                    input_schema_json: r#"{"type":"object"}"#.into(),
                    strict: None,
                },
            ],
            tool_choice: Some(v1::ToolChoice { choice: Some(v1::tool_choice::Choice::Tool("lookup".into())) }),
            cache_point: Some(v1::CachePoint { ttl: v1::CacheTtl::FiveMinutes as i32 }),
        }),
        request_metadata: [("team".to_owned(), "search".to_owned())].into(),
        reasoning: None,
        response_format: Some(v1::ResponseFormat {
            format: Some(v1::response_format::Format::JsonSchema(v1::JsonSchemaFormat {
                name: "result".into(),
                description: "The result.".into(),
                schema_json: r#"{"type":"object"}"#.into(),
            })),
        }),
    };
    assert_eq!(request, expected);
}

#[test]
fn tool_choices_and_an_unnamed_output_format_map() {
    let choice = |choice: Value| {
        let request = converse(json!({
            "messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "toolConfig": {"tools": [{"toolSpec": {"name": "a", "inputSchema": {"json": {}}}}], "toolChoice": choice},
        }));
        request.tool_config.unwrap().tool_choice.unwrap().choice.unwrap()
    };
    assert_eq!(choice(json!({"auto": {}})), v1::tool_choice::Choice::Auto(v1::AutoToolChoice {}));
    assert_eq!(choice(json!({"any": {}})), v1::tool_choice::Choice::Any(v1::AnyToolChoice {}));
    let request = converse(json!({
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "outputConfig": {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": "{}"}}}},
    }));
    let Some(v1::response_format::Format::JsonSchema(format)) = request.response_format.unwrap().format else {
        panic!("a JSON schema format")
    };
    assert_eq!((format.name.as_str(), format.description.as_str()), ("answer", ""), "v1 names every format");
}

#[test]
fn nulls_are_absent_members() {
    let request = converse(json!({
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "inferenceConfig": {"maxTokens": null, "temperature": 0.1},
        "toolConfig": null,
        "guardrailConfig": null,
        "additionalModelRequestFields": null,
    }));
    assert_eq!(request.inference_config.unwrap().max_tokens, None);
    assert_eq!((request.tool_config, request.reasoning), (None, None));
}

#[test]
fn a_union_with_no_member_or_two_is_refused_naming_it() {
    let (field, reason) = refused_json(with_block(json!({})));
    assert_eq!(field, "messages[0].content[1]");
    assert!(reason.contains("empty: set one of text, image, document"), "{reason}");
    let (field, reason) =
        refused(br#"{"messages": [{"role": "user", "content": [{"text": "a", "cachePoint": {"type": "default"}}]}]}"#);
    assert_eq!(field, "messages[0].content[0]");
    assert!(reason.contains("sets `cachePoint` besides another member; set exactly one"), "{reason}");
    let (field, _) = refused_json(with_block(
        json!({"image": {"format": "png", "source": {"bytes": "AA==", "s3Location": {"uri": "s3://b/k"}}}}),
    ));
    assert_eq!(field, "messages[0].content[1].image.source");
}

#[test]
fn what_bedrock_has_but_the_gateway_cannot_honour_is_refused_naming_the_member() {
    let message = |block: Value| with_block(block);
    let s3 = json!({"uri": "s3://bucket/key"});
    let cases = [
        (
            message(json!({"image": {"format": "png", "source": {"s3Location": s3}}})),
            "messages[0].content[1].image.source.s3Location",
            "send the image's bytes (source.bytes)",
        ),
        (
            message(json!({"document": {"format": "pdf", "name": "d", "source": {"s3Location": s3}}})),
            "messages[0].content[1].document.source.s3Location",
            "does not read S3 objects",
        ),
        (
            message(json!({"document": {"format": "txt", "name": "d", "source": {"content": [{"text": "x"}]}}})),
            "messages[0].content[1].document.source.content",
            "in chunks",
        ),
        (
            message(json!({"document": {"format": "txt", "name": "d", "source": {"text": "x"}, "context": "c"}})),
            "messages[0].content[1].document.context",
            "put it in a text block",
        ),
        (
            message(
                json!({"document": {"format": "txt", "name": "d", "source": {"text": "x"}, "citations": {"enabled": true}}}),
            ),
            "messages[0].content[1].document.citations",
            "citations",
        ),
        (
            message(json!({"video": {"format": "mp4", "source": {"bytes": "AA=="}}})),
            "messages[0].content[1].video",
            "videos",
        ),
        (message(json!({"audio": {}})), "messages[0].content[1].audio", "audio"),
        (
            message(json!({"guardContent": {"text": {"text": "x"}}})),
            "messages[0].content[1].guardContent",
            "guardrails",
        ),
        (message(json!({"citationsContent": {}})), "messages[0].content[1].citationsContent", "citations"),
        (message(json!({"searchResult": {}})), "messages[0].content[1].searchResult", "search results"),
        (message(json!({"toolAddition": {}})), "messages[0].content[1].toolAddition", "mid-conversation"),
        (message(json!({"toolRemoval": {}})), "messages[0].content[1].toolRemoval", "mid-conversation"),
        (
            message(json!({"toolUse": {"toolUseId": "t", "name": "n", "input": {}, "type": "server_tool_use"}})),
            "messages[0].content[1].toolUse.type",
            "server tools",
        ),
        (
            message(json!({"toolResult": {"toolUseId": "t", "content": [{"text": "x"}], "type": "x"}})),
            "messages[0].content[1].toolResult.type",
            "server tools",
        ),
        (
            message(json!({"toolResult": {"toolUseId": "t", "content": [{"text": "x"}, {"video": {}}]}})),
            "messages[0].content[1].toolResult.content[1].video",
            "a tool result's item is one of json, text, image or document",
        ),
        (
            message(json!({"toolResult": {"toolUseId": "t", "content": [{"searchResult": {}}]}})),
            "messages[0].content[1].toolResult.content[0].searchResult",
            "search results",
        ),
        (
            json!({"messages": [], "system": [{"text": "x"}, {"guardContent": {}}]}),
            "system[1].guardContent",
            "a system block is text or cachePoint",
        ),
        (
            json!({"messages": [], "toolConfig": {"tools": [{"systemTool": {"name": "web"}}]}}),
            "toolConfig.tools[0].systemTool",
            "no system tools",
        ),
        (
            json!({"messages": [], "toolConfig": {"tools": [
                {"cachePoint": {"type": "default"}},
                {"toolSpec": {"name": "a", "inputSchema": {"json": {}}}},
            ]}}),
            "toolConfig.tools[0].cachePoint",
            "only after the last tool",
        ),
        (json!({"messages": [], "guardrailConfig": {"guardrailIdentifier": "g"}}), "guardrailConfig", "no guardrails"),
        (json!({"messages": [], "promptVariables": {"x": {"text": "y"}}}), "promptVariables", "Prompt management"),
        (
            json!({"messages": [], "additionalModelResponseFieldPaths": ["/stop_sequence"]}),
            "additionalModelResponseFieldPaths",
            "no model-specific response fields",
        ),
        (
            json!({"messages": [], "performanceConfig": {"latency": "optimized"}}),
            "performanceConfig.latency",
            "standard",
        ),
        (json!({"messages": [], "serviceTier": {"type": "priority"}}), "serviceTier.type", "default tier"),
        (json!({"messages": [], "outputConfig": {"effort": "high"}}), "outputConfig.effort", "reasoning_effort"),
    ];
    for (body, expected_field, expected_reason) in cases {
        let (field, reason) = refused_json(body.clone());
        assert_eq!(field, expected_field, "{body}");
        assert!(reason.contains(expected_reason), "{field}: {reason}");
    }
    // Members the gateway carries are listed where a block is refused.
    let (_, reason) = refused_json(with_block(json!({"video": {}})));
    assert!(
        reason.ends_with(
            "a content block is one of text, image, document, toolUse, toolResult, reasoningContent or cachePoint"
        ),
        "{reason}"
    );
}

#[test]
fn malformed_bodies_are_refused_naming_the_json_path() {
    let cases: [(&[u8], &str, &str); 10] = [
        (b"{\"messages\": [", "messages", "EOF while parsing"),
        (b" [{}]", "body", "must be a JSON object"),
        (b"{\"messages\": []} x", "body", "trailing characters"),
        (br#"{"messages": [], "modelId": "x"}"#, "modelId", "unknown field `modelId`"),
        (br#"{"messages": [], "inferenceConfig": {"maxTokens": -1}}"#, "inferenceConfig.maxTokens", "-1"),
        (br#"{"messages": [], "inferenceConfig": {"topK": 5}}"#, "inferenceConfig.topK", "unknown field `topK`"),
        (br#"{"messages": [{"role": "system", "content": []}]}"#, "messages[0].role", "expected `user` or `assistant`"),
        (
            br#"{"messages": [{"role": "user", "content": [{"image": {"format": "bmp", "source": {"bytes": "AA=="}}}]}]}"#,
            "messages[0].content[0].image.format",
            "unknown variant `bmp`, expected one of `png`, `jpeg`, `gif`, `webp`",
        ),
        (
            br#"{"messages": [{"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": "not base64!"}}}]}]}"#,
            "messages[0].content[0].image.source.bytes",
            "is not base64",
        ),
        (
            br#"{"messages": [{"role": "user", "content": [{"cachePoint": {"type": "default", "ttl": "2h"}}]}]}"#,
            "messages[0].content[0].cachePoint.ttl",
            "expected `5m` or `1h`",
        ),
    ];
    for (body, expected_field, expected_reason) in cases {
        let (field, reason) = refused(body);
        assert_eq!(field, expected_field, "{}", String::from_utf8_lossy(body));
        assert!(reason.contains(expected_reason), "{field}: {reason}");
    }
}

#[test]
fn reasoning_fields_map_onto_v1_reasoning() {
    let reasoning = |fields: Value| converse(json!({"messages": [], "additionalModelRequestFields": fields})).reasoning;
    let budget = |budget| Some(v1::ReasoningConfig { effort: 0, budget_tokens: Some(budget) });
    let effort = |effort: v1::ReasoningEffort| Some(v1::ReasoningConfig { effort: effort as i32, budget_tokens: None });
    assert_eq!(reasoning(json!({"thinking": {"type": "enabled", "budget_tokens": 2048}})), budget(2048));
    assert_eq!(reasoning(json!({"reasoning_config": {"type": "enabled", "budget_tokens": 1024}})), budget(1024));
    assert_eq!(reasoning(json!({"thinking": {"type": "disabled"}})), None);
    assert_eq!(reasoning(json!({"reasoning_effort": "high"})), effort(v1::ReasoningEffort::High));
    assert_eq!(
        reasoning(json!({"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "low"}})),
        effort(v1::ReasoningEffort::Low)
    );
    assert_eq!(reasoning(json!({"reasoningConfig": {"type": "enabled"}})), effort(v1::ReasoningEffort::Unspecified));
    assert_eq!(reasoning(json!({"reasoningConfig": {"type": "disabled"}})), None);
    assert_eq!(reasoning(json!({})), None);
}

#[test]
fn other_model_specific_fields_and_a_second_reasoning_field_are_refused_naming_them() {
    let refusal = |fields: Value| refused_json(json!({"messages": [], "additionalModelRequestFields": fields}));
    let (field, reason) = refusal(json!({"top_k": 5}));
    assert_eq!(field, "additionalModelRequestFields.top_k");
    assert!(reason.contains("no model-specific fields") && reason.contains("reasoning_effort"), "{reason}");
    let (field, reason) =
        refusal(json!({"reasoning_effort": "low", "thinking": {"type": "enabled", "budget_tokens": 2048}}));
    assert_eq!(field, "additionalModelRequestFields.thinking");
    assert!(reason.contains("besides additionalModelRequestFields.reasoning_effort"), "{reason}");
    let (field, reason) = refusal(json!({"thinking": {"type": "adaptive"}}));
    assert_eq!(field, "additionalModelRequestFields.thinking.type");
    assert!(reason.contains("unknown variant `adaptive`, expected `enabled` or `disabled`"), "{reason}");
    let (field, _) = refusal(json!({"thinking": {"type": "enabled"}}));
    assert_eq!(field, "additionalModelRequestFields.thinking", "budget_tokens is required");
    let (field, reason) = refusal(json!({"reasoning_effort": "extreme"}));
    assert_eq!(field, "additionalModelRequestFields.reasoning_effort");
    assert!(reason.contains("expected one of `low`, `medium`, `high`"), "{reason}");
    let (field, _) = refusal(json!({"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "max"}}));
    assert_eq!(field, "additionalModelRequestFields.reasoningConfig.maxReasoningEffort");
    let (field, reason) = refused_json(json!({"messages": [], "additionalModelRequestFields": [1]}));
    assert_eq!(field, "additionalModelRequestFields");
    assert!(reason.contains("expected a map"), "{reason}");
}

#[test]
fn count_tokens_reads_the_converse_input_naming_paths_under_it() {
    let body = json!({"input": {"converse": {
        "messages": [{"role": "user", "content": [{"text": "count me"}]}],
        "system": [{"text": "sys"}],
        "toolConfig": {"tools": [{"toolSpec": {"name": "a", "inputSchema": {"json": {}}}}]},
        "additionalModelRequestFields": {"reasoning_effort": "medium"},
    }}});
    let request = count_tokens_request("counter", body.to_string().as_bytes()).unwrap();
    assert_eq!(request.model, "counter");
    assert_eq!(*block(&request, 0, 0), Block::Text("count me".into()));
    assert_eq!(request.system.len(), 1);
    assert_eq!(request.tool_config.unwrap().tools[0].name, "a");
    assert_eq!(request.reasoning.unwrap().effort, v1::ReasoningEffort::Medium as i32);

    let refusal = |body: Value| match count_tokens_request("counter", body.to_string().as_bytes()) {
        Err(GatewayError::InvalidArgument { field, reason }) => (field, reason),
        other => panic!("{body}: {other:?}"),
    };
    let (field, reason) = refusal(json!({"input": {"invokeModel": {"body": "{}"}}}));
    assert_eq!(field, "input.invokeModel");
    assert!(reason.contains("Converse inputs only"), "{reason}");
    let (field, _) = refusal(json!({"input": {"converse": {"messages": [], "inferenceConfig": {"maxTokens": 5}}}}));
    assert_eq!(field, "input.converse.inferenceConfig", "CountTokens' Converse input has no inference settings");
    let (field, _) =
        refusal(json!({"input": {"converse": {"messages": [{"role": "user", "content": [{"video": {}}]}]}}}));
    assert_eq!(field, "input.converse.messages[0].content[0].video");
    let (field, _) = refusal(json!({"input": {"converse": {"messages": [], "system": [{"guardContent": {}}]}}}));
    assert_eq!(field, "input.converse.system[0].guardContent");
    let (field, _) =
        refusal(json!({"input": {"converse": {"messages": [], "additionalModelRequestFields": {"x": 1}}}}));
    assert_eq!(field, "input.converse.additionalModelRequestFields.x");
    let (field, _) =
        refusal(json!({"input": {"converse": {"messages": [], "toolConfig": {"tools": [{"systemTool": {}}]}}}}));
    assert_eq!(field, "input.converse.toolConfig.tools[0].systemTool");
    let (field, reason) = refusal(json!({"input": {}}));
    assert_eq!(field, "input");
    assert!(reason.contains("empty: set one of converse, invokeModel"), "{reason}");
}
