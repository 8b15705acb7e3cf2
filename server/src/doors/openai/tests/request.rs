//! Chat completion requests: each message kind and field mapped, each refusal naming OpenAI's field.

use bedrock_gateway_proto::v1;
use serde_json::json;
use v1::content_block::Block;

use super::{asking, chat, refused, refused_bytes, with_messages};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\nimage";

fn data_url(media_type: &str, bytes: &[u8]) -> String {
    use base64::Engine as _;
    format!("data:{media_type};base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn blocks(message: &v1::Message) -> Vec<&Block> {
    message.content.iter().map(|block| block.block.as_ref().unwrap()).collect()
}

fn text(text: &str) -> Block {
    Block::Text(text.into())
}

#[test]
fn a_plain_request_maps_model_message_and_defaults() {
    let request = chat(asking(json!({})));
    assert!(!request.stream && !request.include_usage);
    let converse = request.converse;
    assert_eq!(converse.model, "chat");
    assert_eq!(converse.messages.len(), 1);
    assert_eq!(converse.messages[0].role, v1::Role::User as i32);
    assert_eq!(blocks(&converse.messages[0]), [&text("Hello")]);
    assert_eq!(converse.inference_config, Some(v1::InferenceConfig::default()));
    assert!(converse.system.is_empty() && converse.tool_config.is_none() && converse.reasoning.is_none());
    assert!(converse.response_format.is_none() && converse.request_metadata.is_empty());
}

#[test]
fn system_and_developer_messages_become_the_system_prompt_in_order() {
    let request = chat(with_messages(
        json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
        ]),
        json!({}),
    ));
    let system: Vec<_> = request.converse.system.iter().map(|block| block.block.clone().unwrap()).collect();
    assert_eq!(
        system,
        [v1::system_block::Block::Text("Be brief.".into()), v1::system_block::Block::Text("Answer in French.".into())]
    );
    assert_eq!(request.converse.messages.len(), 1);
    let (field, reason) = refused(with_messages(
        json!([{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]),
        json!({}),
    ));
    assert_eq!(
        (field.as_str(), reason.as_str()),
        ("messages[0].content[0].type", "system and developer messages take text parts only")
    );
}

#[test]
fn user_parts_carry_text_images_and_files() {
    let request = chat(with_messages(
        json!([{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": data_url("image/png", PNG), "detail": "high"}},
            {"type": "image_url", "image_url": {"url": data_url("image/jpeg", b"jpeg")}},
            {"type": "file", "file": {"file_data": data_url("application/pdf", b"%PDF"), "filename": "Q3 report.v2.pdf"}},
        ]}]),
        json!({}),
    ));
    let image = |format: v1::ImageFormat, data: &[u8]| {
        Block::Image(v1::ImageBlock { format: format as i32, data: data.to_vec() })
    };
    let document = Block::Document(v1::DocumentBlock {
        format: v1::DocumentFormat::Pdf as i32,
        name: "Q3 report v2".into(),
        data: b"%PDF".to_vec(),
    });
    assert_eq!(
        blocks(&request.converse.messages[0]),
        [&text("What is this?"), &image(v1::ImageFormat::Png, PNG), &image(v1::ImageFormat::Jpeg, b"jpeg"), &document]
    );
    // Base64 without its padding is still base64.
    let unpadded = format!(
        "data:image/png;base64,{}",
        data_url("image/png", b"ab").rsplit(',').next().unwrap().trim_end_matches('=')
    );
    let request = chat(with_messages(
        json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": unpadded}}]}]),
        json!({}),
    ));
    assert_eq!(blocks(&request.converse.messages[0]), [&image(v1::ImageFormat::Png, b"ab")]);
}

#[test]
fn images_and_files_the_gateway_cannot_take_are_refused_naming_the_field() {
    let image = |url: &str| {
        refused(with_messages(
            json!([{"role": "user", "content": [{"type": "text", "text": "Look"}, {"type": "image_url", "image_url": {"url": url}}]}]),
            json!({}),
        ))
    };
    let (field, reason) = image("https://example.com/cat.png");
    assert_eq!(field, "messages[0].content[1].image_url.url");
    assert!(reason.contains("fetches no URLs") && reason.contains("data:image/png;base64"), "{reason}");
    let (field, reason) = image("data:image/bmp;base64,Qk0=");
    assert_eq!(field, "messages[0].content[1].image_url.url");
    assert!(reason.starts_with("\"image/bmp\" is not served"), "{reason}");
    let (_, reason) = image("data:image/png;base64,***");
    assert!(reason.starts_with("is not valid base64"), "{reason}");

    let file = |file: serde_json::Value| {
        refused(with_messages(json!([{"role": "user", "content": [{"type": "file", "file": file}]}]), json!({})))
    };
    let (field, reason) = file(json!({"file_id": "file-abc"}));
    assert_eq!(field, "messages[0].content[0].file.file_id");
    assert!(reason.contains("send the file itself as file_data"), "{reason}");
    let (field, _) = file(json!({"file_data": data_url("application/zip", b"PK")}));
    assert_eq!(field, "messages[0].content[0].file.file_data");

    let (field, reason) = refused(with_messages(
        json!([{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}]}]),
        json!({}),
    ));
    assert_eq!((field.as_str(), reason.as_str()), ("messages[0].content[0].type", "audio is not served: send text"));
}

#[test]
fn a_document_is_named_after_its_file() {
    let name = |filename: Option<&str>| {
        let mut file = json!({"file_data": data_url("text/plain", b"notes")});
        if let Some(filename) = filename {
            file["filename"] = json!(filename);
        }
        let request =
            chat(with_messages(json!([{"role": "user", "content": [{"type": "file", "file": file}]}]), json!({})));
        match blocks(&request.converse.messages[0])[0] {
            Block::Document(document) => document.name.clone(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(name(Some("minutes_2024-05 (final).txt")), "minutes 2024-05 (final)");
    assert_eq!(name(Some("...")), "document");
    assert_eq!(name(None), "document");
}

#[test]
fn assistant_tool_calls_and_tool_results_make_alternating_turns() {
    let request = chat(with_messages(
        json!([
            {"role": "user", "content": "Weather in Oslo and Bergen?"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "now", "arguments": ""}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "12 C"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "noon"}]},
            {"role": "user", "content": "Thanks. And tomorrow?"},
        ]),
        json!({}),
    ));
    let messages = &request.converse.messages;
    assert_eq!(messages.iter().map(|message| message.role).collect::<Vec<_>>(), [1, 2, 1]);
    let tool_use = |id: &str, name: &str, input: &str| {
        Block::ToolUse(v1::ToolUseBlock { tool_use_id: id.into(), name: name.into(), input_json: input.into() })
    };
    assert_eq!(
        blocks(&messages[1]),
        [&tool_use("call_1", "weather", "{\"city\":\"Oslo\"}"), &tool_use("call_2", "now", "{}")],
        "empty content is no text block; empty arguments are an empty object"
    );
    let result = |id: &str, output: &str| {
        Block::ToolResult(v1::ToolResultBlock {
            tool_use_id: id.into(),
            content: vec![v1::ToolResultContent {
                content: Some(v1::tool_result_content::Content::Text(output.into())),
            }],
            status: 0,
        })
    };
    assert_eq!(
        blocks(&messages[2]),
        [&result("call_1", "12 C"), &result("call_2", "noon"), &text("Thanks. And tomorrow?")],
        "consecutive tool and user messages are one user turn"
    );
}

#[test]
fn consecutive_messages_of_one_role_merge_and_the_first_turn_is_the_users() {
    let request = chat(with_messages(
        json!([
            {"role": "user", "content": "One"},
            {"role": "user", "content": "Two"},
            {"role": "assistant", "content": "Three"},
            {"role": "assistant", "content": [{"type": "text", "text": "Four"}, {"type": "refusal", "refusal": "No."}]},
        ]),
        json!({}),
    ));
    let messages = &request.converse.messages;
    assert_eq!(blocks(&messages[0]), [&text("One"), &text("Two")]);
    assert_eq!(blocks(&messages[1]), [&text("Three"), &text("Four"), &text("No.")]);

    let (field, reason) = refused(with_messages(
        json!([{"role": "system", "content": "S"}, {"role": "assistant", "content": "A"}]),
        json!({}),
    ));
    assert_eq!(field, "messages[1].role");
    assert!(reason.contains("must be a user message"), "{reason}");
    let (field, _) = refused(with_messages(json!([{"role": "system", "content": "S"}]), json!({})));
    assert_eq!(field, "messages");
}

#[test]
fn messages_missing_what_their_role_needs_are_refused_naming_the_field() {
    let cases = [
        (json!({"role": "user", "content": ""}), "messages[0].content", "must not be empty"),
        (json!({"role": "user"}), "messages[0].content", "required"),
        (json!({"role": "user", "content": []}), "messages[0].content", "at least one part is required"),
        (
            json!({"role": "user", "content": [{"type": "text", "text": " "}]}),
            "messages[0].content[0].text",
            "must not be empty",
        ),
        (
            json!({"role": "user", "content": "x", "tool_call_id": "c"}),
            "messages[0].tool_call_id",
            "only tool messages have tool_call_id; this one is a user message",
        ),
        (
            json!({"role": "user", "content": "x", "audio": {"id": "a"}}),
            "messages[0].audio",
            "audio is not served: send text",
        ),
        (
            json!({"role": "function", "name": "f", "content": "x"}),
            "messages[0].role",
            "the deprecated function role is not served: use tool messages",
        ),
        (
            json!({"role": "robot", "content": "x"}),
            "messages[0].role",
            "must be system, developer, user, assistant or tool",
        ),
    ];
    for (message, field, reason) in cases {
        assert_eq!(
            refused(with_messages(json!([message]), json!({}))),
            (field.to_owned(), reason.to_owned()),
            "{message}"
        );
    }
    let later = |message: serde_json::Value| {
        refused(with_messages(json!([{"role": "user", "content": "Hi"}, message]), json!({})))
    };
    assert_eq!(later(json!({"role": "assistant", "content": ""})).0, "messages[1].content");
    assert_eq!(
        later(json!({"role": "assistant", "content": "x", "function_call": {"name": "f"}})).0,
        "messages[1].function_call"
    );
    assert_eq!(
        later(json!({"role": "assistant", "tool_calls": [{"id": "c", "type": "custom", "function": {"name": "f", "arguments": "{}"}}]})).0,
        "messages[1].tool_calls[0].type"
    );
    assert_eq!(later(json!({"role": "tool", "content": "x"})), ("messages[1].tool_call_id".into(), "required".into()));
    let (field, reason) = later(json!({"role": "tool", "tool_call_id": "c", "content": ""}));
    assert_eq!(field, "messages[1].content");
    assert!(reason.contains("Bedrock takes no empty tool result"), "{reason}");
}

#[test]
fn what_clients_send_back_of_an_answer_is_taken() {
    chat(with_messages(
        json!([
            {"role": "user", "name": "ana", "content": "Hi"},
            {"role": "assistant", "content": "Hello", "refusal": null, "reasoning_content": "greet", "annotations": [], "audio": null, "function_call": null, "tool_calls": null},
            {"role": "user", "content": "Bye"},
        ]),
        json!({"prompt_cache_key": "k", "prompt_cache_retention": "24h", "stream": true, "stream_options": {"include_usage": true, "include_obfuscation": true}}),
    ));
}

#[test]
fn tools_and_tool_choice_map_to_the_tool_config() {
    use v1::tool_choice::Choice;
    let tools = json!([
        {"type": "function", "function": {"name": "weather", "description": "Today's weather.", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true}},
        {"type": "function", "function": {"name": "now"}},
    ]);
    let config =
        |choice: serde_json::Value| chat(asking(json!({"tools": tools, "tool_choice": choice}))).converse.tool_config;
    let offered = config(json!("auto")).unwrap();
    assert_eq!(
        offered.tools,
        [
            v1::Tool {
                name: "weather".into(),
                description: "Today's weather.".into(),
                input_schema_json: r#"{"properties":{"city":{"type":"string"}},"type":"object"}"#.into(),
                strict: Some(true),
            },
            v1::Tool {
                name: "now".into(),
                description: String::new(),
                input_schema_json: r#"{"type":"object","properties":{}}"#.into(),
                strict: None,
            },
        ]
    );
    let choice = |choice| config(choice).unwrap().tool_choice.unwrap().choice.unwrap();
    assert_eq!(choice(json!("auto")), Choice::Auto(v1::AutoToolChoice {}));
    assert_eq!(choice(json!("required")), Choice::Any(v1::AnyToolChoice {}));
    assert_eq!(choice(json!({"type": "function", "function": {"name": "now"}})), Choice::Tool("now".into()));
    assert_eq!(config(json!(null)).unwrap().tool_choice, None);
    assert_eq!(config(json!("none")), None, "none offers no tools");
    assert_eq!(chat(asking(json!({"tools": []}))).converse.tool_config, None);
}

#[test]
fn schemas_pass_on_as_they_came_their_properties_in_order() {
    let body = br#"{"model": "chat", "messages": [{"role": "user", "content": "Hi"}],
        "tools": [{"type": "function", "function": {"name": "t", "parameters": {"type": "object", "properties": {"why": {}, "answer": {}}}}}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object", "properties": {"why": {}, "answer": {}}}}}}"#;
    let converse = super::super::chat_request(body).unwrap().converse;
    let written = r#"{"type": "object", "properties": {"why": {}, "answer": {}}}"#;
    assert_eq!(converse.tool_config.unwrap().tools[0].input_schema_json, written);
    let Some(v1::response_format::Format::JsonSchema(format)) = converse.response_format.unwrap().format else {
        panic!("a JSON schema")
    };
    assert_eq!(format.schema_json, written);
}

#[test]
fn tool_settings_bedrock_cannot_serve_are_refused_naming_the_field() {
    let tool = json!({"type": "function", "function": {"name": "now"}});
    let history = json!([
        {"role": "user", "content": "Time?"},
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "now", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c", "content": "noon"},
    ]);
    let (field, reason) = refused(with_messages(history, json!({"tools": [tool], "tool_choice": "none"})));
    assert_eq!(field, "tool_choice");
    assert!(reason.contains("conversation with tool calls"), "{reason}");
    let cases = [
        (json!({"tool_choice": "required"}), "tool_choice", "requires tools: none are offered"),
        (
            json!({"tools": [tool], "tool_choice": "sometimes"}),
            "tool_choice",
            "must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": ...}}",
        ),
        (json!({"tools": [tool], "tool_choice": {"type": "allowed_tools"}}), "tool_choice.type", "must be function"),
        (json!({"tools": [tool], "tool_choice": {"type": "function"}}), "tool_choice.function.name", "required"),
        (json!({"tools": [tool, {"type": "custom", "custom": {"name": "x"}}]}), "tools[1].type", "must be function"),
        (json!({"tools": [{"type": "function"}]}), "tools[0].function", "required"),
        (
            json!({"tools": [tool], "parallel_tool_calls": false}),
            "parallel_tool_calls",
            "must be true or unset: Bedrock cannot keep a model to one tool call",
        ),
        (
            json!({"functions": [{"name": "f"}]}),
            "functions",
            "the deprecated functions are not served: use tools and tool_choice",
        ),
        (
            json!({"function_call": "auto"}),
            "function_call",
            "the deprecated functions are not served: use tools and tool_choice",
        ),
    ];
    for (more, field, reason) in cases {
        assert_eq!(refused(asking(more.clone())), (field.to_owned(), reason.to_owned()), "{more}");
    }
    chat(asking(json!({"tools": [tool], "parallel_tool_calls": true})));
}

#[test]
fn response_formats_map_to_structured_output() {
    let format = |format: serde_json::Value| chat(asking(json!({"response_format": format}))).converse.response_format;
    let schema = |format: Option<v1::ResponseFormat>| match format.unwrap().format.unwrap() {
        v1::response_format::Format::JsonSchema(schema) => schema,
    };
    assert_eq!(
        schema(format(
            json!({"type": "json_schema", "json_schema": {"name": "city", "description": "A city.", "strict": true, "schema": {"type": "object"}}})
        )),
        v1::JsonSchemaFormat {
            name: "city".into(),
            description: "A city.".into(),
            schema_json: r#"{"type":"object"}"#.into()
        }
    );
    let any_object = schema(format(json!({"type": "json_object"})));
    assert_eq!((any_object.name.as_str(), any_object.schema_json.as_str()), ("json_object", r#"{"type":"object"}"#));
    assert_eq!(format(json!({"type": "text"})), None);
    let refusal = |format| refused(asking(json!({"response_format": format}))).0;
    assert_eq!(
        refusal(json!({"type": "json_schema", "json_schema": {"name": "city"}})),
        "response_format.json_schema.schema"
    );
    assert_eq!(refusal(json!({"type": "json_schema"})), "response_format.json_schema");
    assert_eq!(refusal(json!({"type": "yaml"})), "response_format.type");
}

#[test]
fn reasoning_effort_maps_to_the_reasoning_config() {
    let effort = |effort: &str| chat(asking(json!({"reasoning_effort": effort}))).converse.reasoning;
    for (name, expected) in [
        ("low", v1::ReasoningEffort::Low),
        ("medium", v1::ReasoningEffort::Medium),
        ("high", v1::ReasoningEffort::High),
    ] {
        assert_eq!(effort(name), Some(v1::ReasoningConfig { effort: expected as i32, budget_tokens: None }));
    }
    assert_eq!(effort("none"), None);
    assert_eq!(
        refused(asking(json!({"reasoning_effort": "minimal"}))),
        ("reasoning_effort".into(), "must be none, low, medium or high".into())
    );
}

#[test]
fn sampling_length_and_stop_map_to_the_inference_config() {
    let config = |more| chat(asking(more)).converse.inference_config.unwrap();
    let set = config(json!({"max_completion_tokens": 200, "temperature": 0.5, "top_p": 0.9, "stop": ["END", "STOP"]}));
    assert_eq!(
        set,
        v1::InferenceConfig {
            max_tokens: Some(200),
            temperature: Some(0.5),
            top_p: Some(0.9),
            stop_sequences: vec!["END".into(), "STOP".into()]
        }
    );
    assert_eq!(config(json!({"max_tokens": 100, "stop": "END"})).stop_sequences, ["END"]);
    assert_eq!(config(json!({"max_tokens": 100})).max_tokens, Some(100));
    assert_eq!(config(json!({"max_tokens": 100, "max_completion_tokens": 100})).max_tokens, Some(100));
    let (field, reason) = refused(asking(json!({"max_tokens": 100, "max_completion_tokens": 200})));
    assert_eq!(field, "max_tokens");
    assert!(reason.contains("set one of them"), "{reason}");
}

#[test]
fn stream_and_include_usage_are_read() {
    let request = chat(asking(json!({"stream": true, "stream_options": {"include_usage": true}})));
    assert!(request.stream && request.include_usage);
    let request = chat(asking(json!({"stream": true, "stream_options": null})));
    assert!(request.stream && !request.include_usage);
}

#[test]
fn user_and_metadata_become_labels_within_the_pipelines_limits() {
    let labels = |more| chat(asking(more)).converse.request_metadata;
    let user = "user-7f3a9c2e-41b8-4d1e-9a55-0c8e2b6f1d94@payments.example.com";
    let labeled = labels(json!({"user": user, "safety_identifier": "h-123", "metadata": {"team": "payments"}}));
    assert_eq!(labeled.len(), 3);
    assert_eq!(labeled["user"], user);
    assert_eq!(labeled["safety_identifier"], "h-123");
    assert_eq!(labeled["team"], "payments");
    assert!(labels(json!({"user": ""})).is_empty(), "an empty user is no label");
    assert_eq!(labels(json!({"user": "u", "metadata": {"user": "u"}}))["user"], "u");

    let (field, reason) = refused(asking(json!({"user": "u", "metadata": {"user": "v"}})));
    assert_eq!(field, "metadata.user");
    assert!(reason.contains("set one of them"), "{reason}");
    let (field, reason) = refused(asking(json!({"user": "u".repeat(257)})));
    assert_eq!((field.as_str(), reason.as_str()), ("user", "257 characters; at most 256 are allowed"));
    let sixteen: serde_json::Map<_, _> = (0..16).map(|index| (format!("k{index}"), json!("v"))).collect();
    labels(json!({"metadata": sixteen}));
    let (field, reason) = refused(asking(json!({"metadata": sixteen, "user": "u"})));
    assert_eq!(field, "metadata");
    assert!(reason.contains("at most 16"), "{reason}");
    assert_eq!(refused(asking(json!({"metadata": {"k".repeat(65): "v"}}))).0, "metadata");
    assert_eq!(refused(asking(json!({"metadata": {"k": "v".repeat(257)}}))).0, "metadata.k");
}

#[test]
fn what_bedrock_cannot_do_is_refused_naming_the_field() {
    let cases = [
        (json!({"n": 2}), "n"),
        (json!({"logprobs": true}), "logprobs"),
        (json!({"top_logprobs": 3}), "top_logprobs"),
        (json!({"logit_bias": {"50256": -100}}), "logit_bias"),
        (json!({"presence_penalty": 0.5}), "presence_penalty"),
        (json!({"frequency_penalty": -1}), "frequency_penalty"),
        (json!({"seed": 42}), "seed"),
        (json!({"modalities": ["text", "audio"]}), "modalities"),
        (json!({"audio": {"voice": "alloy", "format": "mp3"}}), "audio"),
        (json!({"prediction": {"type": "content", "content": "x"}}), "prediction"),
        (json!({"web_search_options": {}}), "web_search_options"),
        (json!({"store": true}), "store"),
        (json!({"service_tier": "flex"}), "service_tier"),
        (json!({"verbosity": "low"}), "verbosity"),
        (json!({"best_of": 2}), "best_of"),
    ];
    for (more, field) in cases {
        assert_eq!(refused(asking(more.clone())).0, field, "{more}");
    }
    let (_, reason) = refused(asking(json!({"best_of": 2})));
    assert!(
        reason.starts_with("is not a field this gateway takes here; expected one of `model`, `messages`"),
        "{reason}"
    );
    // Set to what the gateway does anyway, they are taken.
    chat(asking(json!({
        "n": 1, "logprobs": false, "logit_bias": {}, "presence_penalty": 0, "frequency_penalty": 0.0,
        "modalities": ["text"], "store": false, "service_tier": "auto", "verbosity": "medium", "seed": null,
    })));
}

#[test]
fn json_errors_name_where_they_are() {
    let cases = [
        (json!({"messages": [{"role": "user", "content": "x"}]}), "model", "required"),
        (json!({"model": "chat", "messages": [{"content": "x"}]}), "messages[0].role", "required"),
        (asking(json!({"max_tokens": -1})), "max_tokens", "invalid value: integer `-1`, expected u32"),
        (asking(json!({"temperature": "hot"})), "temperature", "invalid type: string \"hot\", expected f32"),
        (asking(json!({"stop": 3})), "stop", "invalid type: integer `3`, expected a string or an array"),
        (
            with_messages(json!([{"role": "user", "content": 5}]), json!({})),
            "messages[0].content",
            "invalid type: integer `5`, expected a string or an array",
        ),
        (
            with_messages(
                json!([{"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {}}]}]),
                json!({}),
            ),
            "messages[0].content[0].cache_control",
            "is not a field this gateway takes here; expected one of `type`, `text`, `image_url`, `file`, `input_audio`, `refusal`",
        ),
    ];
    for (body, field, reason) in cases {
        let (named, said) = refused(body.clone());
        assert_eq!(named, field, "{body}");
        assert!(said.starts_with(reason), "{body}: {said:?} starts with {reason:?}");
    }
    let (field, reason) = refused_bytes(br#"{"model": "chat", "messages": [{"role": "user", "content": "x"}"#);
    assert_eq!(field, "messages");
    assert!(reason.contains("EOF"), "{reason}");
    let (field, _) = refused_bytes(b"[]");
    assert_eq!(field, "body");
    let (field, _) = refused_bytes(br#"{"model": "chat", "messages": []} {}"#);
    assert_eq!(field, "body");
}
