//! A local stand-in for the Amazon Bedrock runtime, for tests, benchmarks
//! and local mode.
//!
//! It speaks Bedrock's real wire protocol, so the real
//! `aws-sdk-bedrockruntime` client, given [`Emulator::endpoint_url`] as its
//! endpoint, cannot tell the difference:
//!
//! - `POST /model/{modelId}/converse-stream` answers
//!   `application/vnd.amazon.eventstream` frames: `messageStart`,
//!   `contentBlockDelta`s, `contentBlockStop`, `messageStop`, `metadata`;
//! - `POST /model/{modelId}/converse` answers the same content as JSON;
//! - `POST /model/{modelId}/count-tokens` (CountTokens, Converse input) answers
//!   `{"inputTokens": N}`, N counted as Converse's usage counts it;
//! - `POST /model/{modelId}/invoke` (InvokeModel) answers embedding models:
//!   Amazon Titan Text Embeddings v2 and Cohere Embed v3 (see Embeddings);
//! - errors use the statuses of Bedrock's service model, the
//!   `x-amzn-errortype` header and a `{"message": ...}` body.
//!
//! Signatures are not checked: any credentials work.
//!
//! # Answers
//!
//! Answers are deterministic so tests can know them in advance:
//!
//! - The answer depends only on the text of the **last user message** (its
//!   text blocks concatenated), `inferenceConfig.maxTokens` and
//!   [`EmulatorConfig::answer_tokens`]; [`expected_answer`] computes it.
//!   Tokens are words picked by hashing the prompt; every token but the
//!   first has a leading space. An answer has `answer_tokens` tokens, or is
//!   cut at `maxTokens` tokens with stop reason `max_tokens`.
//! - **Stop sequences**: the answer stops before the first token that,
//!   trimmed, equals one of `inferenceConfig.stopSequences`, with stop
//!   reason `stop_sequence` ([`Answer::with_stop_sequences`]).
//! - **Tool use**: when `toolConfig` has a tool and either `toolChoice` is
//!   `any` or `tool`, or the last user text contains the word "tool", the
//!   answer is the text [`TOOL_PREAMBLE`] (content block 0), then a
//!   `toolUse` block (index 1) for the `toolChoice` tool or else the first
//!   tool, with id [`expected_tool_use_id`] and input
//!   [`expected_tool_input`] streamed in three fragments; stop reason
//!   `tool_use`. A forced tool (`toolChoice` `any` or `tool`) comes without
//!   the preamble, as Anthropic's models answer, in the first block after
//!   any reasoning. A tool whose input schema lists `properties` gets an
//!   input generated from the schema ([`expected_tool_input_for`]).
//! - **Reasoning**: when `additionalModelRequestFields` asks for it
//!   (`thinking` with `type` `enabled`, whose `budget_tokens` must be at
//!   least 1024 and below `maxTokens`, or `reasoning_effort`), a reasoning
//!   block comes first (index 0; the other blocks move up by one): the
//!   tokens of [`REASONING_TEXT`] as `reasoningContent.text` deltas, then a
//!   `reasoningContent.signature` delta ([`expected_reasoning_signature`]);
//!   or, when the last user text has a word starting with "redact", one
//!   `reasoningContent.redactedContent` delta
//!   ([`expected_redacted_reasoning`], base64 on the wire). Converse answers
//!   the same as a `reasoningContent` block. `reasoningContent` blocks sent
//!   back must be in assistant messages and hold `reasoningText` with text
//!   or valid base64 `redactedContent`.
//! - **Structured output**: with `outputConfig.textFormat` (type
//!   `json_schema`, the schema a JSON object in
//!   `structure.jsonSchema.schema`) and no tool call, the text is
//!   [`expected_json`] of the schema, streamed in three fragments, stop
//!   reason `end_turn`.
//! - **Usage**: the prompt's tokens are the whitespace-separated words in
//!   all text blocks of the system prompt and all messages and in the names
//!   and descriptions of the tools (at least 1); `outputTokens` is the number
//!   of deltas (reasoning, text and tool input fragments); `totalTokens` the
//!   prompt's tokens plus `outputTokens`.
//! - **Prompt caching**: `cachePoint` blocks in `toolConfig.tools`, `system`
//!   and message content end prefixes of the prompt (tools, system, messages,
//!   in that order). Per model id, the first request with a prefix writes it,
//!   a later one within its TTL (`5m` by default, `1h`) reads it: the usage
//!   then also has `cacheReadInputTokens` (the longest cached prefix's tokens)
//!   and `cacheWriteInputTokens` (from there to the last cache point), and
//!   `inputTokens` counts only the rest. Any prefix caches (Bedrock has a
//!   minimum length); at most 10,000 prefixes are kept. More than 4 cache
//!   points, or one first in the system prompt or a message or right after
//!   another, is a `ValidationException`, as on Bedrock.
//! - **Pacing**: [`EmulatorConfig::time_to_first_token`] passes before the
//!   first delta and [`EmulatorConfig::inter_token_gap`] between deltas.
//!   Converse takes as long as the stream would.
//!
//! # Embeddings
//!
//! InvokeModel serves model ids containing `titan-embed` or `cohere.embed`
//! (and any other id by the body's shape), checking bodies as Bedrock does
//! (unknown keys, dimensions, `input_type`, at most 96 Cohere texts) and
//! answering with [`ValidationException`s](#faults) otherwise:
//!
//! - **Titan** (`{"inputText", "dimensions", "normalize"}`): the vector is
//!   [`expected_embedding`]`(text, dimensions)` (dimensions 1024, 512 or
//!   256, default 1024), [`normalized`] unless `normalize` is false;
//!   `inputTextTokenCount` is the text's word count (at least 1);
//! - **Cohere** (`{"texts", "input_type", "truncate", "embedding_types"}`):
//!   one vector per text, [`expected_embedding`]`("{input_type}:{text}",
//!   1024)`, never normalised, under `embeddings.float` when
//!   `embedding_types` is `["float"]`, else as a plain list.
//!
//! Both send the input tokens (the word counts) in the
//! `X-Amzn-Bedrock-Input-Token-Count` header, as Bedrock does. Faults apply
//! to CountTokens and InvokeModel as to Converse.
//!
//! # Faults
//!
//! A model id `fault.<name>`, or an ARN whose resource id is `fault.<name>`
//! (such as `arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/fault.throttle`),
//! or, when the model id is not a fault, the request header
//! `x-emulator-fault: fault.<name>`, injects a failure. Error messages name
//! the model id, as many of Bedrock's do:
//!
//! | fault | effect |
//! |---|---|
//! | `fault.throttle` | 429 `ThrottlingException` |
//! | `fault.throttle-once` | `ThrottlingException` the first time a prompt (last user text) is seen by this emulator, normal answers afterwards |
//! | `fault.validation` | 400 `ValidationException` |
//! | `fault.access-denied` | 403 `AccessDeniedException` |
//! | `fault.not-found` | 404 `ResourceNotFoundException` |
//! | `fault.model-timeout` | 408 `ModelTimeoutException` |
//! | `fault.model-error` | 424 `ModelErrorException` |
//! | `fault.not-ready` | 429 `ModelNotReadyException` |
//! | `fault.quota` | 400 `ServiceQuotaExceededException` (not a modelled error of Converse, so the SDK reports it as unhandled with that code) |
//! | `fault.internal` | 500 `InternalServerException` |
//! | `fault.unavailable` | 503 `ServiceUnavailableException` |
//! | `fault.stream-error.N` | N text deltas, then a `modelStreamErrorException` frame and a clean end of body |
//! | `fault.stall`, `fault.stall.N` | `messageStart` and N deltas, then silence until the client leaves |
//! | `fault.close.N` | N deltas, then the connection is dropped mid-body |
//! | `fault.no-metadata` | a normal stream without the final `metadata` event |
//! | `fault.hang` | the request is read and never answered (no status line), until the client leaves |
//! | `fault.stall-body` | the response's status, headers and the first half of its body, then silence until the client leaves (with ConverseStream: `messageStart`, then silence) |
//! | `fault.malformed-tool-use` | the normal answer, with stop reason `malformed_tool_use` |
//! | `fault.malformed-model-output` | the normal answer, with stop reason `malformed_model_output` |
//! | `fault.unknown-block` | the normal answer after a content block 0 of a kind no SDK knows (start, delta and stop in a stream; a content entry in Converse), so the text is block 1 and a tool call block 2 |
//!
//! The N deltas of the breaking faults are the first N tokens of the plain
//! answer to the prompt (for any N: `expected_answer(text, None, N)`).
//! Other `fault.*` names are rejected with a `ValidationException`. With
//! Converse, `stream-error` becomes a `ModelErrorException`, `stall` never
//! answers and `close` drops the connection without a response.
//!
//! # TLS and HTTP/2
//!
//! [`Emulator::start_tls`] serves TLS as Bedrock's endpoints do: ALPN offers
//! `h2`, then `http/1.1`, so the SDK (which offers both) multiplexes all its
//! calls to the emulator on one connection, as it does in production. The
//! certificate is self-signed, made at start for `localhost`, `127.0.0.1` and
//! `::1`: clients trust [`Emulator::certificate_pem`] as their root.
//! [`Emulator::start`] serves plain HTTP, where the SDK speaks HTTP/1.1, one
//! connection per concurrent call. The HTTP/2 server sets no limit on
//! concurrent streams. Over HTTP/2, `fault.close.N` resets its stream rather
//! than the connection, which other calls share.
//!
//! # Observation
//!
//! [`Emulator::requests_served`], [`Emulator::last_request_body`] and
//! [`Emulator::subscribe`] (one [`StreamEnd`] per ConverseStream body) let
//! tests check what a client sent and when it gave up on a stream;
//! [`Emulator::connections_accepted`] and [`Emulator::http2_requests_served`]
//! how it was sent.

mod cache;
mod embed;
mod errors;
mod fault;
mod frame;
mod generate;
mod observe;
mod reply;
mod request;
mod routes;
mod server;
mod stream;
mod tls;

use std::time::Duration;

pub use embed::{COHERE_DIMENSIONS, TITAN_DIMENSIONS, expected_embedding, normalized};
pub use generate::{
    Answer, REASONING_TEXT, TOOL_PREAMBLE, expected_answer, expected_json, expected_reasoning_signature,
    expected_redacted_reasoning, expected_tool_input, expected_tool_input_for, expected_tool_use_id,
};
pub use observe::{StreamEnd, StreamOutcome};
pub use server::Emulator;

/// How the emulator answers.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Pause before the first delta of a stream. Default: zero.
    pub time_to_first_token: Duration,
    /// Pause between deltas. Default: zero.
    pub inter_token_gap: Duration,
    /// Tokens in an answer not cut by `maxTokens`. Default: 32.
    pub answer_tokens: usize,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig { time_to_first_token: Duration::ZERO, inter_token_gap: Duration::ZERO, answer_tokens: 32 }
    }
}
