use super::content::valid_document_name;
use super::*;
use crate::config::{CapabilitiesConfig, PromptCachingConfig};
use crate::pipeline::convert::test_support::{model, request, text, with};

fn user(content: Vec<v1::ContentBlock>) -> v1::Message {
    v1::Message { role: v1::Role::User as i32, content }
}

/// A conversation of `count` messages, alternating user and assistant, of `blocks` text blocks each.
fn conversation(count: usize, blocks: usize) -> Vec<v1::Message> {
    (0..count)
        .map(|index| v1::Message {
            role: if index.is_multiple_of(2) { v1::Role::User } else { v1::Role::Assistant } as i32,
            content: vec![text("x"); blocks],
        })
        .collect()
}

fn tool(name: &str) -> v1::Tool {
    v1::Tool {
        name: name.into(),
        description: "d".into(),
        input_schema_json: r#"{"type":"object"}"#.into(),
        strict: None,
    }
}

/// Converts `at_limit` (which must pass) and `over` (which must be refused, naming `field` and
/// saying `limit`).
fn limit_holds(at_limit: v1::ConverseRequest, over: v1::ConverseRequest, field: &str, limit: &str) {
    if let Err(err) = to_bedrock(at_limit, &model()) {
        panic!("at the limit, {field} passes: {err}");
    }
    match to_bedrock(over, &model()) {
        Err(GatewayError::InvalidArgument { field: named, reason }) => {
            assert_eq!(named, field);
            assert!(reason.contains(limit), "{field}: {reason:?} says {limit:?}");
        }
        other => panic!("one over the limit, {field} is refused, got {other:?}"),
    }
}

fn rejected_field(request: v1::ConverseRequest) -> String {
    match to_bedrock(request, &model()) {
        Err(GatewayError::InvalidArgument { field, .. }) => field,
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

#[test]
fn input_estimates_count_text_by_bytes_and_images_by_a_fixed_cost() {
    let text = v1::ConverseRequest {
        model: "chat".into(),
        messages: vec![v1::Message {
            role: v1::Role::User as i32,
            content: vec![v1::ContentBlock { block: Some(v1::content_block::Block::Text("x".repeat(4000))) }],
        }],
        ..Default::default()
    };
    let estimate = estimated_input_tokens(&text);
    assert!((1000..1010).contains(&estimate), "{estimate}");
    let mut with_image = text.clone();
    with_image.messages[0].content.push(v1::ContentBlock {
        block: Some(v1::content_block::Block::Image(v1::ImageBlock {
            format: v1::ImageFormat::Png as i32,
            data: vec![0; 3_000_000],
        })),
    });
    let with_image = estimated_input_tokens(&with_image);
    assert!((estimate + 1600..estimate + 1620).contains(&with_image), "image bytes are not text: {with_image}");
}

#[test]
fn simple_request_converts_with_max_tokens_defaulting_to_the_models_default() {
    let converted = to_bedrock(request(), &model()).unwrap();
    assert_eq!(converted.messages.len(), 1);
    assert_eq!(converted.inference.max_tokens, Some(300), "the default, not the cap of 1000");
    assert_eq!((converted.inference.temperature, converted.inference.top_p), (None, None));
    assert!(converted.tool_config.is_none());
}

#[test]
fn model_defaults_fill_only_what_the_request_leaves_unset() {
    let tuned = Model { temperature: Some(0.2), top_p: Some(0.8), ..model() };
    let converted = to_bedrock(request(), &tuned).unwrap();
    assert_eq!((converted.inference.temperature, converted.inference.top_p), (Some(0.2), Some(0.8)));
    let mut own = request();
    own.inference_config = Some(v1::InferenceConfig {
        max_tokens: Some(1000),
        temperature: Some(0.9),
        top_p: Some(0.5),
        ..Default::default()
    });
    let converted = to_bedrock(own, &tuned).unwrap();
    assert_eq!(converted.inference.max_tokens, Some(1000));
    assert_eq!((converted.inference.temperature, converted.inference.top_p), (Some(0.9), Some(0.5)));
}

#[test]
fn cache_points_follow_the_last_system_block_and_the_last_tool() {
    let caching = Model { prompt_caching: PromptCachingConfig { after_system: true, after_tools: true }, ..model() };
    let system = |text: &str| v1::SystemBlock { block: Some(v1::system_block::Block::Text(text.into())) };
    let converted = to_bedrock(
        with(|r| {
            r.system = vec![system("a"), system("b")];
            r.tool_config = Some(v1::ToolConfig { tools: vec![tool("t1"), tool("t2")], ..Default::default() });
        }),
        &caching,
    )
    .unwrap();
    assert_eq!(converted.system.len(), 3);
    assert!(matches!(converted.system[2], bedrock::SystemContentBlock::CachePoint(_)), "{:?}", converted.system);
    let tools = converted.tool_config.unwrap().tools;
    assert_eq!(tools.len(), 3);
    assert!(matches!(tools[2], bedrock::Tool::CachePoint(_)), "{tools:?}");
    // Nothing to cache, no cache point.
    let bare = to_bedrock(request(), &caching).unwrap();
    assert!(bare.system.is_empty() && bare.tool_config.is_none());
}

fn point() -> v1::CachePoint {
    v1::CachePoint { ttl: 0 }
}

fn cached(ttl: v1::CacheTtl) -> v1::ContentBlock {
    v1::ContentBlock { block: Some(v1::content_block::Block::CachePoint(v1::CachePoint { ttl: ttl as i32 })) }
}

fn system_text(text: &str) -> v1::SystemBlock {
    v1::SystemBlock { block: Some(v1::system_block::Block::Text(text.into())) }
}

fn system_point() -> v1::SystemBlock {
    v1::SystemBlock { block: Some(v1::system_block::Block::CachePoint(point())) }
}

fn caching() -> Model {
    Model { capabilities: CapabilitiesConfig { prompt_caching: Some(true), ..Default::default() }, ..model() }
}

fn refusal(request: v1::ConverseRequest, model: &Model) -> (String, String) {
    match to_bedrock(request, model) {
        Err(GatewayError::InvalidArgument { field, reason }) => (field, reason),
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

/// A request with a cache point in the tools, the system prompt and the message.
fn with_cache_points() -> v1::ConverseRequest {
    with(|r| {
        r.system = vec![system_text("s"), system_point()];
        r.tool_config = Some(v1::ToolConfig { tools: vec![tool("t")], tool_choice: None, cache_point: Some(point()) });
        r.messages[0].content.extend([cached(v1::CacheTtl::OneHour), text("question")]);
    })
}

#[test]
fn callers_cache_points_reach_a_caching_model_with_their_ttl() {
    let converted = to_bedrock(with_cache_points(), &caching()).unwrap();
    let bedrock::SystemContentBlock::CachePoint(system) = &converted.system[1] else { panic!("{converted:?}") };
    assert_eq!((system.r#type(), system.ttl()), (&bedrock::CachePointType::Default, None));
    let bedrock::ContentBlock::CachePoint(message) = &converted.messages[0].content[1] else { panic!() };
    assert_eq!(message.ttl(), Some(&bedrock::CacheTtl::OneHour));
    let tools = converted.tool_config.unwrap().tools;
    assert!(matches!(tools.as_slice(), [bedrock::Tool::ToolSpec(_), bedrock::Tool::CachePoint(_)]), "{tools:?}");
}

#[test]
fn cache_points_are_dropped_for_a_model_without_prompt_caching() {
    let converted = to_bedrock(with_cache_points(), &model()).unwrap();
    assert_eq!(converted.system.len(), 1);
    assert!(matches!(
        converted.messages[0].content.as_slice(),
        [bedrock::ContentBlock::Text(_), bedrock::ContentBlock::Text(_)]
    ));
    assert_eq!(converted.tool_config.unwrap().tools.len(), 1);
}

#[test]
fn the_models_cache_points_are_not_added_where_the_caller_put_one() {
    let automatic =
        Model { prompt_caching: PromptCachingConfig { after_system: true, after_tools: true }, ..caching() };
    let converted = to_bedrock(with_cache_points(), &automatic).unwrap();
    assert_eq!(converted.system.len(), 2, "{:?}", converted.system);
    assert_eq!(converted.tool_config.unwrap().tools.len(), 2);
}

#[test]
fn cache_points_that_cache_nothing_are_refused() {
    let leading = with(|r| r.messages[0].content.insert(0, cached(v1::CacheTtl::Unspecified)));
    let (field, reason) = refusal(leading, &caching());
    assert_eq!(field, "messages[0].content[0].cache_point");
    assert!(reason.contains("first block"), "{reason}");
    let doubled = with(|r| r.messages[0].content.extend(vec![cached(v1::CacheTtl::Unspecified); 2]));
    assert_eq!(refusal(doubled, &model()).0, "messages[0].content[2].cache_point", "on every model");
    let system_first = with(|r| r.system = vec![system_point(), system_text("s")]);
    assert_eq!(refusal(system_first, &caching()).0, "system[0].cache_point");
}

#[test]
fn at_most_four_cache_points_counting_the_models_own() {
    let points = |count: usize| {
        with(|r| {
            r.messages[0].content =
                (0..count).flat_map(|_| [text("part"), cached(v1::CacheTtl::Unspecified)]).collect();
        })
    };
    assert!(to_bedrock(points(4), &caching()).is_ok());
    let (field, reason) = refusal(points(5), &caching());
    assert_eq!(field, "messages[0].content[9].cache_point");
    assert!(reason.contains("5 cache points; at most 4"), "{reason}");
    let automatic =
        Model { prompt_caching: PromptCachingConfig { after_system: true, after_tools: false }, ..caching() };
    let with_system = |count| with(|r| *r = v1::ConverseRequest { system: vec![system_text("s")], ..points(count) });
    assert!(to_bedrock(with_system(3), &automatic).is_ok());
    let (field, reason) = refusal(with_system(4), &automatic);
    assert_eq!(field, "messages[0].content[7].cache_point");
    assert!(reason.contains(r#"counting the 1 that model "chat" adds"#), "{reason}");
}

#[test]
fn messages_must_alternate_roles() {
    let twice = with(|r| r.messages.push(user(vec![text("again")])));
    let (field, reason) = refusal(twice, &model());
    assert_eq!(field, "messages[1].role");
    assert!(reason.contains("ROLE_USER twice in a row; messages must alternate"), "{reason}");
}

#[test]
fn tool_result_items_must_not_be_empty() {
    let result = |item: Option<v1::tool_result_content::Content>, items: usize| {
        with(|r| {
            r.messages[0].content = vec![v1::ContentBlock {
                block: Some(v1::content_block::Block::ToolResult(v1::ToolResultBlock {
                    tool_use_id: "t1".into(),
                    content: vec![v1::ToolResultContent { content: item }; items],
                    status: 0,
                })),
            }];
        })
    };
    use v1::tool_result_content::Content;
    let field = |request| refusal(request, &model()).0;
    assert_eq!(
        field(result(Some(Content::Text(String::new())), 1)),
        "messages[0].content[0].tool_result.content[0].text"
    );
    assert_eq!(field(result(Some(Content::Json(" ".into())), 1)), "messages[0].content[0].tool_result.content[0].json");
    assert_eq!(field(result(None, 1)), "messages[0].content[0].tool_result.content[0]");
    assert_eq!(field(result(None, 0)), "messages[0].content[0].tool_result.content");
}

#[test]
fn empty_messages_are_named() {
    let mut empty = request();
    empty.messages.clear();
    assert_eq!(rejected_field(empty), "messages");
}

#[test]
fn inference_limits_are_enforced() {
    let mut over_cap = request();
    over_cap.inference_config = Some(v1::InferenceConfig { max_tokens: Some(1001), ..Default::default() });
    assert_eq!(rejected_field(over_cap), "inference_config.max_tokens");
    let mut hot = request();
    hot.inference_config = Some(v1::InferenceConfig { temperature: Some(1.5), ..Default::default() });
    assert_eq!(rejected_field(hot), "inference_config.temperature");
    let mut nan = request();
    nan.inference_config = Some(v1::InferenceConfig { top_p: Some(f32::NAN), ..Default::default() });
    assert_eq!(rejected_field(nan), "inference_config.top_p");
}

#[test]
fn nested_fields_are_named_with_their_path() {
    let mut bad_image = request();
    bad_image.messages[0].content.push(v1::ContentBlock {
        block: Some(v1::content_block::Block::Image(v1::ImageBlock { format: 0, data: vec![1] })),
    });
    assert_eq!(rejected_field(bad_image), "messages[0].content[1].image.format");

    let mut bad_tool_input = request();
    bad_tool_input.messages.push(v1::Message {
        role: v1::Role::Assistant as i32,
        content: vec![v1::ContentBlock {
            block: Some(v1::content_block::Block::ToolUse(v1::ToolUseBlock {
                tool_use_id: "t1".into(),
                name: "search".into(),
                input_json: "[1, 2]".into(),
            })),
        }],
    });
    assert_eq!(rejected_field(bad_tool_input), "messages[1].content[0].tool_use.input_json");

    let mut assistant_first = request();
    assistant_first.messages[0].role = v1::Role::Assistant as i32;
    assert_eq!(rejected_field(assistant_first), "messages[0].role");
}

#[test]
fn tool_config_is_checked() {
    let tool = |name: &str| v1::Tool {
        name: name.into(),
        description: "d".into(),
        input_schema_json: r#"{"type":"object"}"#.into(),
        strict: None,
    };
    let mut duplicate = request();
    duplicate.tool_config =
        Some(v1::ToolConfig { tools: vec![tool("a"), tool("a")], tool_choice: None, cache_point: None });
    assert_eq!(rejected_field(duplicate), "tool_config.tools[1].name");

    let mut unknown_choice = request();
    unknown_choice.tool_config = Some(v1::ToolConfig {
        tools: vec![tool("a")],
        tool_choice: Some(v1::ToolChoice { choice: Some(v1::tool_choice::Choice::Tool("b".into())) }),
        cache_point: None,
    });
    assert_eq!(rejected_field(unknown_choice), "tool_config.tool_choice.tool");

    let mut good = request();
    good.tool_config = Some(v1::ToolConfig { tools: vec![tool("a")], tool_choice: None, cache_point: None });
    assert!(to_bedrock(good, &model()).unwrap().tool_config.is_some());
}

#[test]
fn document_names_follow_bedrock_rules() {
    assert!(valid_document_name("Q3 report (final) [v2]"));
    assert!(!valid_document_name("report.pdf"));
    assert!(!valid_document_name("two  spaces"));
    assert!(!valid_document_name(""));
}

#[test]
fn message_and_block_counts_are_limited() {
    let messages = |count| with(|r| r.messages = conversation(count, 1));
    limit_holds(messages(limits::MESSAGES), messages(limits::MESSAGES + 1), "messages", "at most 2000");

    let blocks = |count| with(|r| r.messages = conversation(1, count));
    limit_holds(
        blocks(limits::BLOCKS_PER_MESSAGE),
        blocks(limits::BLOCKS_PER_MESSAGE + 1),
        "messages[0].content",
        "at most 100",
    );

    let full = limits::CONTENT_BLOCKS / limits::BLOCKS_PER_MESSAGE;
    let total = |extra: usize| {
        with(|r| {
            r.messages = conversation(full, limits::BLOCKS_PER_MESSAGE);
            r.messages.extend(conversation(extra + 1, 1).into_iter().skip(1));
        })
    };
    limit_holds(total(0), total(1), "messages", "at most 10000");
}

#[test]
fn tool_result_items_are_limited_and_count_towards_all_blocks() {
    let result = |items| {
        with(|r| {
            let item = v1::ToolResultContent { content: Some(v1::tool_result_content::Content::Text("ok".into())) };
            let block = v1::content_block::Block::ToolResult(v1::ToolResultBlock {
                tool_use_id: "t1".into(),
                content: vec![item; items],
                status: 0,
            });
            r.messages = vec![user(vec![v1::ContentBlock { block: Some(block) }])];
        })
    };
    limit_holds(
        result(limits::TOOL_RESULT_ITEMS),
        result(limits::TOOL_RESULT_ITEMS + 1),
        "messages[0].content[0].tool_result.content",
        "at most 100",
    );

    // 99 full messages plus one message holding a tool result: its items count too.
    let mut over = conversation(limits::CONTENT_BLOCKS / limits::BLOCKS_PER_MESSAGE - 1, limits::BLOCKS_PER_MESSAGE);
    over.push(result(limits::TOOL_RESULT_ITEMS).messages.remove(0));
    over.last_mut().unwrap().role = if over.len() % 2 == 1 { v1::Role::User } else { v1::Role::Assistant } as i32;
    assert_eq!(rejected_field(with(|r| r.messages = over)), "messages");
}

#[test]
fn system_tools_and_stop_sequences_are_limited() {
    let system = |count| {
        with(|r| r.system = vec![v1::SystemBlock { block: Some(v1::system_block::Block::Text("s".into())) }; count])
    };
    limit_holds(system(limits::SYSTEM_BLOCKS), system(limits::SYSTEM_BLOCKS + 1), "system", "at most 100");

    let tools = |count: usize| {
        with(|r| {
            let tools = (0..count).map(|index| tool(&format!("tool-{index}"))).collect();
            r.tool_config = Some(v1::ToolConfig { tools, tool_choice: None, cache_point: None });
        })
    };
    limit_holds(tools(limits::TOOLS), tools(limits::TOOLS + 1), "tool_config.tools", "at most 256");

    let stops = |count| {
        with(|r| {
            r.inference_config =
                Some(v1::InferenceConfig { stop_sequences: vec!["END".into(); count], ..Default::default() });
        })
    };
    limit_holds(
        stops(limits::STOP_SEQUENCES),
        stops(limits::STOP_SEQUENCES + 1),
        "inference_config.stop_sequences",
        "at most 8",
    );
}

#[test]
fn json_values_are_limited_across_the_request() {
    // {"a": [0, ...]}: the object, the array and `zeros` numbers.
    let schema = |zeros: usize| format!(r#"{{"a": [{}]}}"#, vec!["0"; zeros].join(","));
    let tools = |zeros| {
        with(|r| {
            let mut big = tool("big");
            big.input_schema_json = schema(zeros);
            r.tool_config = Some(v1::ToolConfig { tools: vec![big], tool_choice: None, cache_point: None });
        })
    };
    limit_holds(
        tools(limits::JSON_VALUES - 2),
        tools(limits::JSON_VALUES - 1),
        "tool_config.tools[0].input_schema_json",
        "more than 50000 JSON values",
    );
    // The budget is shared: a small tool input after a schema that used it all up is refused.
    let mut shared = tools(limits::JSON_VALUES - 2);
    shared.messages.push(v1::Message {
        role: v1::Role::Assistant as i32,
        content: vec![v1::ContentBlock {
            block: Some(v1::content_block::Block::ToolUse(v1::ToolUseBlock {
                tool_use_id: "t1".into(),
                name: "big".into(),
                input_json: "{}".into(),
            })),
        }],
    });
    assert_eq!(rejected_field(shared), "messages[1].content[0].tool_use.input_json");
}

#[test]
fn limits_are_checked_before_anything_is_converted() {
    // The first block is invalid, but the count is what is reported: nothing was converted.
    let mut over = with(|r| r.messages = conversation(1, limits::BLOCKS_PER_MESSAGE + 1));
    over.messages[0].content[0] = v1::ContentBlock { block: None };
    assert_eq!(rejected_field(over), "messages[0].content");
}

#[test]
fn bytes_and_text_move_into_the_sdk_types() {
    let image = vec![7u8; 4096];
    let document = vec![8u8; 4096];
    let prompt = "describe these".repeat(100);
    let (image_at, document_at, prompt_at) = (image.as_ptr(), document.as_ptr(), prompt.as_ptr());
    let request = with(|r| {
        r.messages = vec![user(vec![
            text(&prompt),
            v1::ContentBlock {
                block: Some(v1::content_block::Block::Image(v1::ImageBlock {
                    format: v1::ImageFormat::Png as i32,
                    data: image,
                })),
            },
            v1::ContentBlock {
                block: Some(v1::content_block::Block::Document(v1::DocumentBlock {
                    format: v1::DocumentFormat::Pdf as i32,
                    name: "report".into(),
                    data: document,
                })),
            },
        ])];
        r.messages[0].content[0] = v1::ContentBlock { block: Some(v1::content_block::Block::Text(prompt)) };
    });
    let converted = to_bedrock(request, &model()).unwrap();
    let content = &converted.messages[0].content;
    let bedrock::ContentBlock::Text(text) = &content[0] else { panic!("text first") };
    let bedrock::ContentBlock::Image(image) = &content[1] else { panic!("image second") };
    let bedrock::ContentBlock::Document(document) = &content[2] else { panic!("document third") };
    let Some(bedrock::ImageSource::Bytes(image)) = image.source() else { panic!("image bytes") };
    let Some(bedrock::DocumentSource::Bytes(document)) = document.source() else { panic!("document bytes") };
    assert_eq!(text.as_ptr(), prompt_at, "the text was moved, not copied");
    assert_eq!(image.as_ref().as_ptr(), image_at, "the image was moved, not copied");
    assert_eq!(document.as_ref().as_ptr(), document_at, "the document was moved, not copied");
}
