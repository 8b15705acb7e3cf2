//! Worst-case gateway memory per request: N concurrent requests of the largest size the gateway
//! accepts (just under `server.max_request_bytes`) on the `idle` model, whose Bedrock stream the
//! emulator holds open after `messageStart`. Every request is received, decoded, converted,
//! serialized to JSON and sent to Bedrock while the scenario polls the gateway's `/proc/PID/status`;
//! once each has its first event, the gateway's peak RSS (`VmHWM`) is read. The headline is
//! (peak RSS - warmed-up baseline) / (N × bytes on the wire): what a maximum-size request costs
//! per byte it carries, which is what `server.max_concurrent_requests` has to be sized against.
//!
//! Each shape gets a fresh gateway, so each peak is its own. The shapes are the ways a request can
//! be large within the limits (`bedrock_gateway_proto::limits`), plus one the limits refuse, which
//! costs only what decoding it costs.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use bedrock_gateway_proto::{limits, v1};
use prost::Message as _;
use serde::Serialize;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::load::{Window, closed_loop};
use crate::processes::{ChildProcess, Layout, Pacing, memory};
use crate::profile::Profile;
use crate::target_check::TargetCheck;
use crate::targets::{IDLE_MODEL, STREAMS_PER_CONNECTION, Target};
use crate::units::{mib, times};

/// The gateway's default `server.max_request_bytes`, which the bench's gateway config keeps.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// Longest all requests of one shape may take to be answered (or refused).
const SEND_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause before reading the baseline and the settled RSS, so the allocator and the kernel's
/// counters settle.
const SETTLE: Duration = Duration::from_secs(1);
/// How often RSS is polled while the requests arrive.
const POLL: Duration = Duration::from_millis(2);

/// How the requests of one run are large.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// One image filling the request: protobuf bytes -> SDK blob -> base64 in the JSON body.
    Image,
    /// As many text blocks as the limits allow, sharing the bytes equally: per-block overhead.
    TextBlocks,
    /// The request's whole JSON-value budget spent on one-entry objects in tool-result JSON (the
    /// costliest bytes per byte on the wire the limits allow), the rest of the bytes as text.
    Json,
    /// One message of one-character text blocks, as many as fit: refused by the limits
    /// (INVALID_ARGUMENT) after tonic decoded it, so it costs what decoding it costs.
    TinyBlocks,
}

impl Shape {
    /// Every shape, in report order.
    pub const ALL: [Shape; 4] = [Shape::Image, Shape::TextBlocks, Shape::Json, Shape::TinyBlocks];

    /// How the report names it.
    pub fn label(self) -> &'static str {
        match self {
            Shape::Image => "one image",
            Shape::TextBlocks => "10,000 text blocks",
            Shape::Json => "tool-result JSON + text",
            Shape::TinyBlocks => "one-character blocks (refused)",
        }
    }

    /// Whether the gateway is expected to refuse these requests.
    pub fn refused(self) -> bool {
        self == Shape::TinyBlocks
    }

    /// The largest request of this shape whose encoding fits in `max_bytes`.
    pub fn request(self, max_bytes: usize) -> v1::ConverseRequest {
        let build = |size: usize| match self {
            Shape::Image => image_request(size),
            Shape::TextBlocks => text_blocks_request(size),
            Shape::Json => json_request(size),
            Shape::TinyBlocks => tiny_blocks_request(size),
        };
        if self == Shape::TinyBlocks {
            // Each block takes 5 bytes; rebuilding ~840,000 of them per step of a search is slow,
            // so start at the bound and drop blocks until the message prefix fits too.
            let mut request = build(max_bytes / 5);
            while request.encoded_len() > max_bytes {
                request.messages[0].content.pop();
            }
            return request;
        }
        // The encoded length grows with `size`; find the largest size that fits, searching only
        // sizes that could (a size is per block for text blocks, so 10,000 times larger on the wire).
        let most = if self == Shape::TextBlocks { max_bytes / limits::CONTENT_BLOCKS } else { max_bytes };
        let (mut fits, mut too_big) = (0, most + 1);
        while too_big - fits > 1 {
            let size = fits + (too_big - fits) / 2;
            if build(size).encoded_len() <= max_bytes {
                fits = size;
            } else {
                too_big = size;
            }
        }
        build(fits)
    }
}

fn text(text: String) -> v1::ContentBlock {
    v1::ContentBlock { block: Some(v1::content_block::Block::Text(text)) }
}

fn held(messages: Vec<v1::Message>) -> v1::ConverseRequest {
    v1::ConverseRequest {
        model: IDLE_MODEL.to_owned(),
        messages,
        inference_config: Some(v1::InferenceConfig { max_tokens: Some(16), ..Default::default() }),
        ..Default::default()
    }
}

fn role(index: usize) -> i32 {
    (if index.is_multiple_of(2) { v1::Role::User } else { v1::Role::Assistant }) as i32
}

/// One user message: a line of text and an image of `bytes` bytes.
fn image_request(bytes: usize) -> v1::ConverseRequest {
    let image = v1::ContentBlock {
        block: Some(v1::content_block::Block::Image(v1::ImageBlock {
            format: v1::ImageFormat::Png as i32,
            data: vec![0x5a; bytes],
        })),
    };
    held(vec![v1::Message { role: role(0), content: vec![text("Describe this image.".to_owned()), image] }])
}

/// `limits::CONTENT_BLOCKS` text blocks of `chars` characters, in full messages.
fn text_blocks_request(chars: usize) -> v1::ConverseRequest {
    let block = text("w".repeat(chars.max(1)));
    let messages = (0..limits::CONTENT_BLOCKS / limits::BLOCKS_PER_MESSAGE)
        .map(|index| v1::Message { role: role(index), content: vec![block.clone(); limits::BLOCKS_PER_MESSAGE] })
        .collect();
    held(messages)
}

/// Tool results whose JSON holds `limits::JSON_VALUES` values as `{"a":0}` objects (an object
/// and a number each), plus one text block of `chars` characters.
fn json_request(chars: usize) -> v1::ConverseRequest {
    const RESULTS: usize = 10;
    // Each result's JSON: the array, then two values per object.
    let objects = (limits::JSON_VALUES / RESULTS - 1) / 2;
    let json = format!("[{}]", vec![r#"{"a":0}"#; objects].join(","));
    let item = v1::ToolResultContent { content: Some(v1::tool_result_content::Content::Json(json)) };
    let mut content = vec![text("w".repeat(chars.max(1)))];
    content.extend((0..RESULTS).map(|index| v1::ContentBlock {
        block: Some(v1::content_block::Block::ToolResult(v1::ToolResultBlock {
            tool_use_id: format!("tool-use-{index}"),
            content: vec![item.clone()],
            status: v1::ToolResultStatus::Success as i32,
        })),
    }));
    held(vec![v1::Message { role: role(0), content }])
}

/// One user message of `blocks` one-character text blocks.
fn tiny_blocks_request(blocks: usize) -> v1::ConverseRequest {
    held(vec![v1::Message { role: role(0), content: vec![text("w".to_owned()); blocks.max(1)] }])
}

/// One shape's measurement.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryRun {
    /// How the requests were large.
    pub shape: Shape,
    /// Its name in the report.
    pub label: &'static str,
    /// Concurrent requests.
    pub requests: usize,
    /// Encoded size of each request (the gRPC message, without its 5-byte prefix).
    pub wire_bytes_per_request: usize,
    /// Gateway RSS after warm-up, before the requests.
    pub baseline_rss_bytes: u64,
    /// Highest gateway RSS once every request was answered or refused: `VmHWM`, or the polled
    /// peak if that is higher (the kernel updates `VmHWM` lazily).
    pub peak_rss_bytes: u64,
    /// Highest `VmRSS` seen by polling every 2 ms: how close polling alone comes to `VmHWM`.
    pub polled_peak_rss_bytes: u64,
    /// Gateway RSS one second after every request was answered, their streams still open.
    pub settled_rss_bytes: u64,
    /// (peak - baseline) / (requests × wire bytes per request).
    pub peak_per_wire_byte: f64,
    /// Requests answered with a first event (expected for every shape but the refused one).
    pub answered: usize,
    /// Requests refused with INVALID_ARGUMENT (expected only for the refused shape).
    pub refused: usize,
    /// Requests that ended any other way (should be 0).
    pub failed: usize,
    /// The first unexpected outcome, if any.
    pub first_error: Option<String>,
}

impl MemoryRun {
    /// Whether every request ended as the shape expects.
    pub fn as_expected(&self) -> bool {
        let expected = if self.shape.refused() { self.refused } else { self.answered };
        self.failed == 0 && expected == self.requests
    }
}

/// The scenario's results.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryWorstCase {
    /// The request size the shapes fill.
    pub max_request_bytes: usize,
    /// One run per shape.
    pub runs: Vec<MemoryRun>,
}

/// Runs every shape at each of `profile.memory_requests` concurrent requests.
pub async fn run(profile: &Profile, layout: &Layout) -> Result<MemoryWorstCase, Box<dyn std::error::Error>> {
    let (_emulator, bedrock) =
        layout.emulator("memory", Pacing { ttft_ms: 0, token_gap_ms: 0, answer_tokens: 32 }).await?;
    let mut runs = Vec::new();
    for shape in Shape::ALL {
        let request = shape.request(MAX_REQUEST_BYTES);
        for &requests in &profile.memory_requests {
            eprintln!("memory: {} x{requests}", shape.label());
            let mut gateway = layout.gateway("memory", &bedrock, "warn")?;
            gateway.wait_listening().await?;
            runs.push(measure(&gateway, shape, request.clone(), requests).await?);
        }
    }
    Ok(MemoryWorstCase { max_request_bytes: MAX_REQUEST_BYTES, runs })
}

/// Sends `requests` copies of `request` at once through fresh connections and measures the peak.
async fn measure(
    gateway: &ChildProcess,
    shape: Shape,
    request: v1::ConverseRequest,
    requests: usize,
) -> Result<MemoryRun, Box<dyn std::error::Error>> {
    // One connection per request, as from separate clients, plus the warm-up's.
    let target = Arc::new(Target::gateway(gateway.addr, requests * STREAMS_PER_CONNECTION).await?);
    let warm = Window { ramp: Duration::from_millis(100), measure: Duration::from_millis(300) };
    closed_loop(&target, 8, 16, warm).await;
    tokio::time::sleep(SETTLE).await;
    let baseline = memory(gateway.pid())?.rss_bytes;

    let wire_bytes = request.encoded_len();
    let stop = CancellationToken::new();
    let poller = tokio::spawn(poll_peak(gateway.pid(), stop.clone()));
    let mut sends = JoinSet::new();
    for worker in 0..requests {
        let (target, request) = (Arc::clone(&target), request.clone());
        sends.spawn(async move { tokio::time::timeout(SEND_TIMEOUT, target.open_held(worker, request)).await });
    }
    let (mut answered, mut refused, mut failed, mut first_error) = (0, 0, 0, None);
    let mut open = Vec::new();
    while let Some(sent) = sends.join_next().await {
        let unexpected = match sent? {
            Ok(Ok(stream)) if !shape.refused() => {
                answered += 1;
                open.push(stream);
                None
            }
            Ok(Err(status)) if shape.refused() && status.code() == tonic::Code::InvalidArgument => {
                refused += 1;
                None
            }
            Ok(Ok(_)) => Some("answered, but the limits should have refused it".to_owned()),
            Ok(Err(status)) => Some(format!("{:?}: {}", status.code(), status.message())),
            Err(_) => Some(format!("no answer within {SEND_TIMEOUT:?}")),
        };
        if let Some(message) = unexpected {
            failed += 1;
            first_error.get_or_insert(message);
        }
    }
    let high_water = memory(gateway.pid())?.peak_rss_bytes;
    stop.cancel();
    let polled_peak = poller.await?;
    // The kernel updates VmHWM lazily; a poll can see a little more.
    let peak = high_water.max(polled_peak);
    tokio::time::sleep(SETTLE).await;
    let settled = memory(gateway.pid())?.rss_bytes;
    drop(open);
    Ok(MemoryRun {
        shape,
        label: shape.label(),
        requests,
        wire_bytes_per_request: wire_bytes,
        baseline_rss_bytes: baseline,
        peak_rss_bytes: peak,
        polled_peak_rss_bytes: polled_peak,
        settled_rss_bytes: settled,
        peak_per_wire_byte: peak.saturating_sub(baseline) as f64 / (requests * wire_bytes).max(1) as f64,
        answered,
        refused,
        failed,
        first_error,
    })
}

/// The highest `VmRSS` of `pid` seen until `stop`.
async fn poll_peak(pid: u32, stop: CancellationToken) -> u64 {
    let mut peak = 0;
    loop {
        if let Ok(now) = memory(pid) {
            peak = peak.max(now.rss_bytes);
        }
        tokio::select! {
            () = stop.cancelled() => return peak,
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

impl MemoryWorstCase {
    /// Its targets: peak memory per byte on the wire of each accepted shape, at the most requests.
    pub fn checks(&self) -> Vec<TargetCheck> {
        let most = self.runs.iter().map(|run| run.requests).max();
        let accepted_at_most = |run: &&MemoryRun| !run.shape.refused() && Some(run.requests) == most;
        let judged = self.runs.iter().filter(accepted_at_most);
        judged
            .map(|run| {
                let name = format!(
                    "gateway peak memory per byte on the wire, {} max-size requests: {}",
                    run.requests, run.label
                );
                TargetCheck::at_most(name, "≤ 3×", run.peak_per_wire_byte, 3.0, times)
            })
            .collect()
    }

    /// Runs in which a request did not end as its shape expects.
    pub fn problems(&self) -> Vec<String> {
        let unexpected = self.runs.iter().filter(|run| !run.as_expected());
        unexpected
            .map(|run| {
                format!(
                    "memory {}: {} answered, {} refused, {} failed of {} ({})",
                    run.label,
                    run.answered,
                    run.refused,
                    run.failed,
                    run.requests,
                    run.first_error.as_deref().unwrap_or("-")
                )
            })
            .collect()
    }

    /// Its section.
    pub fn markdown(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "## Gateway memory per maximum-size request\n\nN concurrent requests of at most {} bytes each, on a model whose \
             Bedrock stream stays open, each through its own connection and a fresh gateway per shape and N. Peak = `VmHWM` \
             once every request was answered (or refused); per wire byte = (peak - baseline) / (N × wire bytes); settled = \
             RSS 1 s later, the streams still open. N = 1 shows one request's transient peak (decoding, conversion and JSON \
             serialization are synchronous, so they run at most one per worker thread at a time); the largest N shows what \
             each request costs while it is received and sent to Bedrock.\n\n\
             | shape | N | wire bytes per request | baseline RSS | peak RSS | polled peak | settled RSS | peak per wire byte | outcome |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---|",
            self.max_request_bytes
        );
        for run in &self.runs {
            let outcome = if run.shape.refused() {
                format!("{} refused", run.refused)
            } else {
                format!("{} answered", run.answered)
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.2}× | {}{} |",
                run.label,
                run.requests,
                run.wire_bytes_per_request,
                mib(run.baseline_rss_bytes),
                mib(run.peak_rss_bytes),
                mib(run.polled_peak_rss_bytes),
                mib(run.settled_rss_bytes),
                run.peak_per_wire_byte,
                outcome,
                if run.failed > 0 { format!(", {} failed", run.failed) } else { String::new() }
            );
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_fills_the_request_within_the_limits() {
        // A quarter of the real size keeps the test quick in debug builds; the shapes scale.
        let max_bytes = MAX_REQUEST_BYTES / 4;
        for shape in Shape::ALL {
            let request = shape.request(max_bytes);
            let size = request.encoded_len();
            assert!(size <= max_bytes, "{shape:?}: {size}");
            // "Just under": within what one step of the shape's size adds (a character in each of
            // 10,000 text blocks, at most).
            assert!(size > max_bytes - 16 * 1024, "{shape:?}: {size}");
            let blocks: usize = request.messages.iter().map(|message| message.content.len()).sum();
            if shape.refused() {
                assert!(blocks > limits::CONTENT_BLOCKS, "{shape:?} is over the limits");
            } else {
                assert!(blocks <= limits::CONTENT_BLOCKS, "{shape:?}: {blocks} blocks");
                assert!(request.messages.len() <= limits::MESSAGES);
                assert!(request.messages.iter().all(|message| message.content.len() <= limits::BLOCKS_PER_MESSAGE));
            }
        }
    }
}
