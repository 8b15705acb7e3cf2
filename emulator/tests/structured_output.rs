//! Structured output through the real SDK: `outputConfig.textFormat` answers JSON generated from
//! the schema, and a forced tool answers an input generated from its schema, without a preamble.

mod common;

use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, JsonSchemaDefinition, OutputConfig, OutputFormat, OutputFormatStructure, OutputFormatType,
    SpecificToolChoice, StopReason, Tool, ToolChoice, ToolConfiguration, ToolInputSchema, ToolSpecification,
};
use aws_smithy_types::Document;
use bedrock_emulator::{expected_json, expected_tool_use_id};
use common::{MODEL, client, collect, emulator, user};

const SCHEMA: &str = r#"{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"},"units":{"enum":["metric","imperial"]}},"required":["city"]}"#;

fn output_config(schema: &str) -> OutputConfig {
    let definition = JsonSchemaDefinition::builder().schema(schema).name("forecast").build().unwrap();
    let format = OutputFormat::builder()
        .r#type(OutputFormatType::JsonSchema)
        .structure(OutputFormatStructure::JsonSchema(definition))
        .build()
        .unwrap();
    OutputConfig::builder().text_format(format).build()
}

fn schema() -> serde_json::Value {
    serde_json::from_str(SCHEMA).unwrap()
}

#[tokio::test]
async fn a_json_schema_format_streams_json_that_follows_it() {
    let emulator = emulator().await;
    let prompt = "weather in Oslo";
    let output = client(&emulator)
        .converse_stream()
        .model_id(MODEL)
        .messages(user(prompt))
        .output_config(output_config(SCHEMA))
        .send()
        .await
        .unwrap();
    let got = collect(output).await.unwrap();
    assert_eq!(got.text.len(), 3);
    let json = got.text.concat();
    assert_eq!(json, expected_json(&schema(), prompt));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&json).unwrap(),
        serde_json::json!({"city": prompt, "days": 1, "units": "metric"})
    );
    assert_eq!(got.stop_reason.as_deref(), Some("end_turn"));
    assert_eq!(got.usage.map(|usage| usage.1), Some(3));
    let body = emulator.last_request_body().unwrap();
    assert_eq!(
        body["outputConfig"],
        serde_json::json!({"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": SCHEMA, "name": "forecast"}}}})
    );
}

#[tokio::test]
async fn converse_answers_the_same_json() {
    let emulator = emulator().await;
    let prompt = "weather in Bergen";
    let output = client(&emulator)
        .converse()
        .model_id(MODEL)
        .messages(user(prompt))
        .output_config(output_config(SCHEMA))
        .send()
        .await
        .unwrap();
    let content = output.output().unwrap().as_message().unwrap().content();
    assert_eq!(content, [ContentBlock::Text(expected_json(&schema(), prompt))]);
    assert_eq!(output.stop_reason(), &StopReason::EndTurn);
}

#[tokio::test]
async fn a_forced_tool_answers_its_schema_without_a_preamble() {
    let emulator = emulator().await;
    let prompt = "weather in Tromso";
    let spec = ToolSpecification::builder()
        .name("forecast")
        .input_schema(ToolInputSchema::Json(to_document(&schema())))
        .strict(true)
        .build()
        .unwrap();
    let config = ToolConfiguration::builder()
        .tools(Tool::ToolSpec(spec))
        .tool_choice(ToolChoice::Tool(SpecificToolChoice::builder().name("forecast").build().unwrap()))
        .build()
        .unwrap();
    let client = client(&emulator);
    let output =
        client.converse_stream().model_id(MODEL).messages(user(prompt)).tool_config(config.clone()).send().await;
    let got = collect(output.unwrap()).await.unwrap();
    assert!(got.text.is_empty() && got.text_index.is_none(), "no preamble: {:?}", got.text);
    assert_eq!(got.tool_start, Some((0, expected_tool_use_id(prompt), "forecast".into())));
    assert_eq!(got.tool_input.concat(), expected_json(&schema(), prompt));
    assert_eq!(got.stop_reason.as_deref(), Some("tool_use"));
    assert_eq!(emulator.last_request_body().unwrap()["toolConfig"]["tools"][0]["toolSpec"]["strict"], true);

    let output = client.converse().model_id(MODEL).messages(user(prompt)).tool_config(config).send().await.unwrap();
    let content = output.output().unwrap().as_message().unwrap().content();
    let [ContentBlock::ToolUse(tool)] = content else { panic!("one tool use: {content:?}") };
    assert_eq!(Some(tool.input()), Some(&to_document(&schema_input(prompt))));
}

#[tokio::test]
async fn a_schema_that_is_not_a_json_object_is_refused() {
    let emulator = emulator().await;
    let err = client(&emulator)
        .converse()
        .model_id(MODEL)
        .messages(user("hi"))
        .output_config(output_config("[1, 2]"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
}

fn schema_input(prompt: &str) -> serde_json::Value {
    serde_json::from_str(&expected_json(&schema(), prompt)).unwrap()
}

fn to_document(value: &serde_json::Value) -> Document {
    match value {
        serde_json::Value::Null => Document::Null,
        serde_json::Value::Bool(b) => Document::Bool(*b),
        serde_json::Value::Number(n) => match n.as_u64() {
            Some(u) => Document::from(u),
            None => Document::from(n.as_f64().unwrap()),
        },
        serde_json::Value::String(s) => Document::from(s.as_str()),
        serde_json::Value::Array(items) => Document::Array(items.iter().map(to_document).collect()),
        serde_json::Value::Object(map) => {
            Document::Object(map.iter().map(|(k, v)| (k.clone(), to_document(v))).collect())
        }
    }
}
