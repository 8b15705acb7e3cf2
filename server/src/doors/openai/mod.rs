//! The OpenAI-compatible door's protocol: OpenAI's chat completions, models and embeddings, decoded
//! into the v1 requests the pipeline runs and encoded from what it serves. The HTTP handlers call
//! these functions; nothing here knows of a connection.
//!
//! # Chat completions (`POST /v1/chat/completions`)
//!
//! Mapped:
//! - `model`: the alias. The answer names the alias, never the Bedrock model; `system_fingerprint`
//!   carries the version that answered (ListModels' `version`). The completion id is `chatcmpl-`
//!   and the gateway's request id.
//! - `messages`: `system` and `developer` messages become the system prompt, in order, wherever
//!   they stand. `user` messages take a string or `text`, `image_url` and `file` parts: images as
//!   data URLs (`data:image/png;base64,...`; PNG, JPEG, GIF, WebP), files as `file_data` data URLs
//!   (PDF, CSV, DOC, DOCX, XLS, XLSX, HTML, plain text, Markdown; the file name without its
//!   extension names the document). `assistant` messages take text (and `refusal` parts, as text)
//!   and `tool_calls`, whose `arguments` must be a JSON object (an empty string is taken as `{}`).
//!   `tool` messages (`tool_call_id`, a string or text parts) become tool results. Consecutive
//!   user and tool messages become one user turn, consecutive assistant messages one assistant
//!   turn, as Bedrock wants turns to alternate; the first message after the system prompt must be
//!   a user message.
//! - `tools` (`type: function`; `parameters` unset means none; `strict` on models with native
//!   structured output), `tool_choice` (`auto`; `required` is v1's any; a named function; `none`
//!   sends no tools, which Bedrock allows only while the conversation holds no tool calls, so it
//!   is refused in one that does).
//! - `response_format`: `json_schema` is v1's structured output (`strict` is ignored: the answer
//!   always follows the schema); `json_object` is structured output with the schema
//!   `{"type": "object"}`; `text` is the default.
//! - `reasoning_effort`: `low`, `medium`, `high` (`none` asks for none); on an alias that does not
//!   reason the pipeline refuses it. The reasoning comes back as `reasoning_content`, the field
//!   OpenAI-compatible servers (vLLM, DeepSeek) use, in the message and in deltas.
//! - `max_completion_tokens` (or the older `max_tokens`; both set must agree), `temperature`,
//!   `top_p`, `stop` (a string or an array), `stream`, `stream_options.include_usage`.
//! - `user` and `safety_identifier` go into the request's labels under the keys `user` and
//!   `safety_identifier`, `metadata` as it is: the usage record carries them, the model never sees
//!   them, and they never identify a tenant (only the key does). Together at most 16 labels, keys
//!   of 1 to 64 characters, values of at most 256. A `metadata` key that the alias routes by (its
//!   sticky key) routes these requests too.
//!
//! Refused, naming the field: `n` other than 1, `logprobs: true`, `top_logprobs`, a non-empty
//! `logit_bias`, non-zero `presence_penalty` or `frequency_penalty`, `seed` (Bedrock cannot make
//! answers repeatable), `modalities` other than text, `audio`, the deprecated `functions`,
//! `function_call` and `function` role, `parallel_tool_calls: false` (Bedrock cannot keep a model to
//! one call), `prediction`, `web_search_options`, `store: true`, `service_tier` other than `auto` or
//! `default`, `verbosity` other than `medium`, `input_audio` parts, `file_id` (the gateway has no
//! files), image URLs that are not data URLs (the gateway fetches nothing), empty texts and tool
//! outputs (Bedrock refuses them), and any field OpenAI's API does not have.
//!
//! Ignored, being hints that change no answer: `prompt_cache_key` and `prompt_cache_retention`
//! (aliases cache by their own cache points), `stream_options.include_obfuscation` (chunks are not
//! padded), a message's `name`, an image's `detail`, and what clients send back of an earlier
//! answer: `reasoning_content` (Bedrock takes reasoning back only with its signature, which this
//! protocol has no place for), `refusal` and `annotations`.
//!
//! The pipeline's own refusals name v1 fields; [`ChatRequest::fields`](request::ChatRequest::fields) renames them to this request's
//! (`tool_config.tools[0].name` becomes `tools[0].function.name`).
//!
//! An answer the model left incomplete although it stopped (a malformed tool call or output) is an
//! error, 503, or in a stream an error event: OpenAI has no finish reason for it, and its tool
//! calls must not be run.
//!
//! # Models (`GET /v1/models`)
//!
//! The aliases the caller may use, but the retired ones; `owned_by` is `bedrock-gateway` and
//! `created` is 0 (the catalog has no such date).
//!
//! # Embeddings (`POST /v1/embeddings`)
//!
//! `input` is a string or an array of strings (token ids are refused), `dimensions` one of the
//! alias's, `encoding_format` `float` or `base64`, `user` a label as above.
//!
//! # Errors
//!
//! [`error_response`] is the door's one mapping of errors; its module documents the table.

mod chunks;
mod embeddings;
mod errors;
mod fields;
mod messages;
mod models;
mod request;
mod response;
mod routes;
mod wire;

pub use chunks::{ChunkMeta, chat_chunks};
pub use embeddings::{EmbeddingsRequest, EncodingFormat, embeddings_request, embeddings_response};
pub use errors::error_response;
pub use models::models_response;
pub use request::chat_request;
pub use response::chat_response;
pub use routes::router;

#[cfg(test)]
mod tests;
