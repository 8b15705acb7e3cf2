//! Micro-benchmarks of the gateway's per-event and per-request hot paths, so a regression shows
//! up in review as a number: `cargo bench -p bedrock-gateway-bench`.
//!
//! - `event/*`: one Bedrock stream event -> v1 event (`convert::events::relayed`) -> protobuf bytes,
//!   which the gateway does for every token of every stream.
//! - `request/*`: validating a v1 request and converting it to Bedrock's types
//!   (`convert::request::to_bedrock`), done once per call.

use std::hint::black_box;
use std::time::Duration;

use aws_sdk_bedrockruntime::types as bedrock;
use bedrock_gateway::config::{Config, DEFAULT_TENANT, TenantConfig};
use bedrock_gateway::parts::Catalog;
use bedrock_gateway::parts::Tenant;
use bedrock_gateway::parts::to_bedrock;
use bedrock_gateway::parts::{Relayed, relayed};
use bedrock_gateway_proto::v1;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use prost::Message as _;

fn text_delta(text: &str) -> bedrock::ConverseStreamOutput {
    bedrock::ConverseStreamOutput::ContentBlockDelta(
        bedrock::ContentBlockDeltaEvent::builder()
            .content_block_index(0)
            .delta(bedrock::ContentBlockDelta::Text(text.to_owned()))
            .build()
            .expect("index and delta are set"),
    )
}

fn metadata() -> bedrock::ConverseStreamOutput {
    let usage = bedrock::TokenUsage::builder().input_tokens(12).output_tokens(32).total_tokens(44).build();
    let metrics = bedrock::ConverseStreamMetrics::builder().latency_ms(120).build();
    bedrock::ConverseStreamOutput::Metadata(
        bedrock::ConverseStreamMetadataEvent::builder()
            .usage(usage.expect("counts are set"))
            .metrics(metrics.expect("latency is set"))
            .build(),
    )
}

/// Converts and encodes one event as the relay and tonic do, into a reused buffer.
fn relay_and_encode(event: bedrock::ConverseStreamOutput, buffer: &mut Vec<u8>) -> usize {
    buffer.clear();
    match relayed(event) {
        Relayed::Content(content) => content.encode(buffer).expect("a Vec grows as needed"),
        Relayed::Usage(usage) => usage.encode(buffer).expect("a Vec grows as needed"),
        Relayed::Stop(reason) => buffer.push(reason as u8),
        Relayed::Skip => {}
    }
    buffer.len()
}

fn events(c: &mut Criterion) {
    let mut group = c.benchmark_group("event");
    group.throughput(Throughput::Elements(1));
    let mut buffer = Vec::with_capacity(256);
    // The SDK hands over an owned event; building it is setup, not measured.
    group.bench_function("text_delta_to_grpc_bytes", |b| {
        b.iter_batched(
            || text_delta(" benchmark"),
            |event| relay_and_encode(black_box(event), &mut buffer),
            BatchSize::SmallInput,
        );
    });
    group.bench_function("metadata_to_usage_bytes", |b| {
        b.iter_batched(metadata, |event| relay_and_encode(black_box(event), &mut buffer), BatchSize::SmallInput);
    });
    group.finish();
}

fn chat_request(turns: usize) -> v1::ConverseRequest {
    let text = |role: v1::Role, text: &str| v1::Message {
        role: role as i32,
        content: vec![v1::ContentBlock { block: Some(v1::content_block::Block::Text(text.to_owned())) }],
    };
    let mut messages = Vec::new();
    for turn in 0..turns {
        messages.push(text(v1::Role::User, &format!("Question {turn}: what does the gateway add to latency?")));
        messages.push(text(v1::Role::Assistant, "Very little: it relays each event as it arrives."));
    }
    messages.push(text(v1::Role::User, "Summarise the benchmark methodology in one sentence."));
    v1::ConverseRequest {
        model: "bench".to_owned(),
        messages,
        system: vec![v1::SystemBlock { block: Some(v1::system_block::Block::Text("Be brief.".to_owned())) }],
        inference_config: Some(v1::InferenceConfig {
            max_tokens: Some(512),
            temperature: Some(0.2),
            stop_sequences: vec!["END".to_owned()],
            ..Default::default()
        }),
        request_metadata: [("team".to_owned(), "platform".to_owned())].into(),
        ..Default::default()
    }
}

fn requests(c: &mut Criterion) {
    let config = Config::from_toml("[models.bench]\nmodel_id = \"bench-model\"\n").expect("the bench catalog is valid");
    let catalog = Catalog::from_config(&config.models, &config.bedrock.region);
    let tenant = Tenant::from_config(DEFAULT_TENANT, &TenantConfig::default());
    let model = catalog.resolve("bench", &tenant).expect("the bench model exists");
    let mut group = c.benchmark_group("request");
    for turns in [0, 8] {
        let request = chat_request(turns);
        group.bench_function(format!("validate_and_convert_{}_messages", request.messages.len()), |b| {
            // The gateway converts the request it owns; the copy handed over is setup, not measured.
            b.iter_batched(
                || request.clone(),
                |request| to_bedrock(black_box(request), &model).expect("the request is valid"),
                BatchSize::SmallInput,
            );
        });
    }
    group.bench_function("resolve_model", |b| {
        b.iter(|| catalog.resolve(black_box("bench"), &tenant).expect("known model"))
    });
    group.finish();
}

fn short() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = hot_path;
    config = short();
    targets = events, requests
}
criterion_main!(hot_path);
