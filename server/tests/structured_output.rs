//! Structured output through the whole gateway: a JSON-schema response format sent as Bedrock's
//! `outputConfig` to models that have it natively (with strict tools), and as a forced tool to the
//! others, whose answer the caller gets as text either way; and the combinations a model refuses.

use bedrock_emulator::expected_json;
use bedrock_gateway::config::Config;
use bedrock_gateway::config::{ReasoningStyle, StructuredOutputStyle};
use bedrock_gateway_proto::v1;
use bedrock_gateway_testkit::{TestGateway, collect, user_request};
use serde_json::{Value, json};
use v1::content_block_delta::Delta;
use v1::converse_stream_event::Event;

const SCHEMA: &str = r#"{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"},"units":{"enum":["metric","imperial"]}},"required":["city"]}"#;

/// `chat` has native structured output, `tooled` answers through a tool and reasons with an
/// effort, `plain` has neither.
fn catalog(config: &mut Config) {
    config.models.get_mut("chat").unwrap().capabilities.structured_output = StructuredOutputStyle::Native;
    let mut tooled = config.models["profile"].clone();
    tooled.model_id = "test.tooled-v1".into();
    tooled.capabilities.structured_output = StructuredOutputStyle::Tool;
    tooled.capabilities.reasoning = ReasoningStyle::ReasoningEffort;
    config.models.insert("tooled".into(), tooled);
    let mut plain = config.models["profile"].clone();
    plain.model_id = "test.plain-v1".into();
    config.models.insert("plain".into(), plain);
}

fn formatted(model: &str, prompt: &str) -> v1::ConverseRequest {
    v1::ConverseRequest {
        response_format: Some(v1::ResponseFormat {
            format: Some(v1::response_format::Format::JsonSchema(v1::JsonSchemaFormat {
                name: "forecast".into(),
                description: "A weather forecast.".into(),
                schema_json: SCHEMA.into(),
            })),
        }),
        ..user_request(model, prompt)
    }
}

fn tool(name: &str, strict: Option<bool>) -> v1::Tool {
    v1::Tool {
        name: name.into(),
        description: "Looks things up.".into(),
        input_schema_json: r#"{"type":"object"}"#.into(),
        strict,
    }
}

fn schema() -> Value {
    serde_json::from_str(SCHEMA).unwrap()
}

/// The JSON answer as the stream carries it: three text deltas at `index`, the block's stop, and
/// stop END_TURN.
fn json_events(prompt: &str, index: u32) -> Vec<Event> {
    let json = expected_json(&schema(), prompt);
    let (first, second) = (json.len() / 3, json.len() * 2 / 3);
    let mut events: Vec<Event> = [&json[..first], &json[first..second], &json[second..]]
        .into_iter()
        .map(|piece| {
            Event::ContentBlockDelta(v1::ContentBlockDelta {
                content_block_index: index,
                delta: Some(Delta::Text(piece.into())),
            })
        })
        .collect();
    events.push(Event::ContentBlockStop(v1::ContentBlockStop { content_block_index: index }));
    events.push(Event::Stop(v1::StreamStop { stop_reason: v1::StopReason::EndTurn as i32 }));
    events
}

/// The events between `start` and `usage`.
fn content(events: &[Event]) -> &[Event] {
    assert!(matches!(events.first(), Some(Event::Start(_))) && matches!(events.last(), Some(Event::Usage(_))));
    &events[1..events.len() - 1]
}

#[tokio::test]
async fn native_models_get_an_output_config_and_answer_json_text() {
    let gateway = TestGateway::start_with(catalog).await;
    let mut client = gateway.stub().await;
    let prompt = "weather in Oslo";
    let collected = collect(&mut client, formatted("chat", prompt)).await;
    assert!(collected.error.is_none(), "{:?}", collected.error);
    assert_eq!(content(&collected.events), json_events(prompt, 0));
    let body = gateway.emulator.last_request_body().unwrap();
    assert_eq!(
        body["outputConfig"],
        json!({"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {
            "schema": SCHEMA, "name": "forecast", "description": "A weather forecast."}}}})
    );
    assert!(body.get("toolConfig").is_none());

    let response = client.converse(formatted("chat", prompt)).await.unwrap().into_inner();
    assert_eq!(response.stop_reason(), v1::StopReason::EndTurn);
    let output = response.output.unwrap();
    assert_eq!(
        output.content,
        [v1::ContentBlock { block: Some(v1::content_block::Block::Text(expected_json(&schema(), prompt))) }]
    );
}

#[tokio::test]
async fn strict_tools_reach_native_models() {
    let gateway = TestGateway::start_with(catalog).await;
    let mut request = user_request("chat", "hello");
    request.tool_config = Some(v1::ToolConfig {
        tools: vec![tool("lookup", Some(true)), tool("other", Some(false))],
        ..Default::default()
    });
    let collected = collect(&mut gateway.stub().await, request).await;
    assert!(collected.error.is_none(), "{:?}", collected.error);
    let body = gateway.emulator.last_request_body().unwrap();
    assert_eq!(
        body["toolConfig"]["tools"],
        json!([
            {"toolSpec": {"name": "lookup", "description": "Looks things up.", "inputSchema": {"json": {"type": "object"}}, "strict": true}},
            {"toolSpec": {"name": "other", "description": "Looks things up.", "inputSchema": {"json": {"type": "object"}}}}
        ])
    );
}

#[tokio::test]
async fn tool_models_answer_through_a_forced_tool_that_the_caller_sees_as_text() {
    let gateway = TestGateway::start_with(catalog).await;
    let mut client = gateway.stub().await;
    let prompt = "weather in Bergen";
    let collected = collect(&mut client, formatted("tooled", prompt)).await;
    assert!(collected.error.is_none(), "{:?}", collected.error);
    assert_eq!(content(&collected.events), json_events(prompt, 0), "no tool-use start, text deltas, END_TURN");
    let body = gateway.emulator.last_request_body().unwrap();
    assert_eq!(
        body["toolConfig"],
        json!({
            "tools": [{"toolSpec": {"name": "forecast", "description": "A weather forecast.", "inputSchema": {"json": schema()}}}],
            "toolChoice": {"tool": {"name": "forecast"}}
        })
    );
    assert!(body.get("outputConfig").is_none());

    let response = client.converse(formatted("tooled", prompt)).await.unwrap().into_inner();
    assert_eq!(response.stop_reason(), v1::StopReason::EndTurn);
    let output = response.output.unwrap();
    let [v1::ContentBlock { block: Some(v1::content_block::Block::Text(text)) }] = output.content.as_slice() else {
        panic!("one text block: {:?}", output.content)
    };
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap(),
        serde_json::from_str::<Value>(&expected_json(&schema(), prompt)).unwrap()
    );
}

#[tokio::test]
async fn reasoning_comes_before_the_json_through_a_tool() {
    let gateway = TestGateway::start_with(catalog).await;
    let prompt = "redact, then answer";
    let request = v1::ConverseRequest {
        reasoning: Some(v1::ReasoningConfig { effort: v1::ReasoningEffort::Low as i32, budget_tokens: None }),
        ..formatted("tooled", prompt)
    };
    let collected = collect(&mut gateway.stub().await, request).await;
    let events = content(&collected.events);
    assert!(
        matches!(
            &events[0],
            Event::ContentBlockDelta(v1::ContentBlockDelta {
                content_block_index: 0,
                delta: Some(Delta::ReasoningRedacted(_))
            })
        ),
        "{events:?}"
    );
    assert_eq!(events[1], Event::ContentBlockStop(v1::ContentBlockStop { content_block_index: 0 }));
    assert_eq!(&events[2..], json_events(prompt, 1));
}

#[tokio::test]
async fn refusals_name_the_field_the_alias_and_the_capability() {
    let gateway = TestGateway::start_with(catalog).await;
    let refused = async |request: v1::ConverseRequest| gateway.invalid_argument(request).await;
    assert_eq!(
        refused(formatted("plain", "hi")).await,
        "response_format: model \"plain\" has no structured output (capabilities.structured_output)"
    );
    let with_tools = v1::ConverseRequest {
        tool_config: Some(v1::ToolConfig { tools: vec![tool("lookup", None)], ..Default::default() }),
        ..formatted("tooled", "hi")
    };
    assert_eq!(
        refused(with_tools).await,
        "response_format: model \"tooled\" needs a tool for structured output (capabilities.structured_output) and \
         cannot combine it with tool_config"
    );
    for model in ["tooled", "plain"] {
        let strict = v1::ConverseRequest {
            tool_config: Some(v1::ToolConfig {
                tools: vec![tool("a", None), tool("b", Some(true))],
                ..Default::default()
            }),
            ..user_request(model, "hi")
        };
        assert_eq!(
            refused(strict).await,
            format!(
                "tool_config.tools[1].strict: model \"{model}\" has no strict tools (capabilities.structured_output)"
            )
        );
    }
    let mut bad_name = formatted("chat", "hi");
    if let Some(v1::response_format::Format::JsonSchema(format)) =
        bad_name.response_format.as_mut().and_then(|format| format.format.as_mut())
    {
        format.name = "a forecast".into();
    }
    assert!(refused(bad_name).await.starts_with("response_format.json_schema.name: "));
}
