//! The Bedrock-compatible door's codec: Bedrock Runtime's JSON bodies -> the v1 requests the
//! pipeline runs, and the pipeline's answers, streams and errors -> Bedrock's JSON, event-stream
//! frames and exceptions, so that an unmodified AWS SDK pointed at the gateway works. The path's
//! `{modelId}` is the alias; Bedrock's model ids never appear.
//!
//! Everything protocol-specific is here, as pure functions; the door's handlers only call them
//! around the pipeline. Errors are mapped in one place, [`error_response`], whose table also gives
//! a cut stream's exception frame. The pipeline's refusals name v1's fields; [`converse_refusal`],
//! [`count_tokens_refusal`] and [`embed_refusal`] name them as the caller's body does before they
//! become a status.
//!
//! # Converse and ConverseStream (`POST /model/{modelId}/converse`, `/converse-stream`)
//!
//! Accepted, each onto its v1 counterpart:
//!
//! - `messages[].role` (`user`, `assistant`) and `messages[].content[]`: `text`;
//!   `image` (`format`: png, jpeg, gif, webp; `source.bytes`); `document` (`format`: pdf, csv, doc,
//!   docx, xls, xlsx, html, txt, md; `name`; `source.bytes`, or `source.text`, taken as the file's
//!   bytes; `citations` only as `{"enabled": false}`); `toolUse` (`toolUseId`, `name`, `input`);
//!   `toolResult` (`toolUseId`, `content[]` of `json`, `text`, `image`, `document`; `status`);
//!   `reasoningContent` (`reasoningText` {`text`, `signature`}, or `redactedContent`);
//!   `cachePoint` (`type` default, `ttl` 5m or 1h);
//! - `system[]`: `text`, `cachePoint`;
//! - `inferenceConfig`: `maxTokens`, `temperature`, `topP`, `stopSequences`;
//! - `toolConfig`: `tools[]` of `toolSpec` (`name`, `description`, `inputSchema.json`, `strict`)
//!   and one `cachePoint` after the last tool; `toolChoice`: `auto`, `any`, `tool.name`;
//! - `additionalModelRequestFields`: only the fields that ask for reasoning, mapped to v1's
//!   reasoning setting: `thinking` and `reasoning_config` (`{"type": "enabled", "budget_tokens":
//!   N}` or disabled), `reasoning_effort` (`low`, `medium`, `high`), `reasoningConfig`
//!   (`{"type": "enabled", "maxReasoningEffort": ...}` or disabled);
//! - `outputConfig.textFormat` (`type` json_schema; `structure.jsonSchema` {`schema`, `name`,
//!   `description`}; a format without a name is named `answer`);
//! - `requestMetadata`, into the request's log line as for gRPC.
//!
//! Ignored, as harmless: `performanceConfig.latency` `standard` and `serviceTier.type` `default`
//! (what the gateway serves anyway), `additionalModelResponseFieldPaths` when empty, and JSON
//! `null` for any optional member.
//!
//! Refused with ValidationException naming the member (everything Bedrock has that the gateway
//! cannot honour): `image.source.s3Location`, `document.source.s3Location`,
//! `document.source.content`, `document.context`, `document.citations` enabled, `video`,
//! `audio`, `guardContent` (in messages and system), `citationsContent`, `searchResult`,
//! `toolAddition`, `toolRemoval`, `toolUse.type` and `toolResult.type` (server tools),
//! `toolResult.content[].video` and `.searchResult`, `toolConfig.tools[].systemTool`, a tools'
//! `cachePoint` before the last tool, any other `additionalModelRequestFields` member (the
//! alias decides its model's own fields) and a second reasoning field, `outputConfig.effort`,
//! `guardrailConfig`, `promptVariables`, `additionalModelResponseFieldPaths` (the answer carries
//! no model-specific fields), `performanceConfig.latency` `optimized`, any other
//! `serviceTier.type`. A member Bedrock does not have, a wrong type or a malformed body is
//! refused naming its JSON path. What v1 carries but the alias cannot take (a modality, tools,
//! limits) is the pipeline's to refuse, as for every door.
//!
//! The answer: `output.message` {`role`, `content[]` of `text`, `toolUse`, `reasoningContent`},
//! `stopReason`, `usage` (`inputTokens`, `outputTokens`, `totalTokens`, `cacheReadInputTokens`,
//! `cacheWriteInputTokens`), `metrics.latencyMs` (the gateway's measure). A stream's frames:
//! `messageStart`, `contentBlockStart` (tool uses), `contentBlockDelta` (`text`, `toolUse.input`,
//! `reasoningContent` `text`, `signature`, `redactedContent`), `contentBlockStop`,
//! `messageStop`, `metadata` (`usage`, `metrics.latencyMs`), or an exception frame where it is cut.
//!
//! # CountTokens (`POST /model/{modelId}/count-tokens`)
//!
//! `{"input": {"converse": {...}}}` with `messages`, `system`, `toolConfig` and
//! `additionalModelRequestFields`, read as above (paths under `input.converse.`);
//! `input.invokeModel` is refused. The answer: `{"inputTokens": N}`.
//!
//! # InvokeModel for embedding aliases (`POST /model/{modelId}/invoke`)
//!
//! Titan Text Embeddings' body `{"inputText", "dimensions", "normalize", "embeddingTypes":
//! ["float"]}`, answered `{"embedding", "inputTextTokenCount"}` (and `embeddingsByType.float`
//! when `embeddingTypes` was sent); Cohere Embed's `{"texts", "input_type", "truncate": "NONE",
//! "embedding_types": ["float"]}`, answered `{"id", "embeddings", "texts", "response_type"}` with
//! the vectors unscaled, as Cohere gives them. Refused: other embedding types, `truncate` START or
//! END (the gateway does not cut texts), and any other member (Cohere's `images`, `inputs`,
//! `output_dimension`, ...).

mod embed;
mod errors;
mod events;
mod json;
mod refusals;
mod request;
mod response;
mod routes;

pub use embed::{EmbedShape, embed_request, embed_response};
pub use errors::error_response;
pub use events::event_stream;
pub use refusals::{converse_refusal, count_tokens_refusal, embed_refusal};
pub use request::{converse_request, count_tokens_request};
pub use response::{converse_response, count_tokens_response};
pub use routes::router;

#[cfg(test)]
mod sdk_tests;
