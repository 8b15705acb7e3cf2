//! Bedrock's prompt cache, as far as a caller can see it: the usage it reports.
//!
//! A `cachePoint` block ends a prefix of the prompt, taken in Bedrock's order (tools, then system
//! prompts, then messages). The first request with a prefix writes it to the cache; a later one
//! with the same prefix, on the same model id and within its TTL (5 minutes, or 1 hour with
//! `"ttl":"1h"`, counted from its last use), reads it. The usage says so: `cacheReadInputTokens`
//! are the tokens of the longest cached prefix, `cacheWriteInputTokens` those from there to the
//! last cache point, and `inputTokens` only the rest. Unlike Bedrock there is no minimum prefix
//! length, so short test prompts cache too.
//!
//! Cache points are validated as Bedrock does: at most [`MAX_CACHE_POINTS`], none first in the
//! system prompt or a message, none right after another.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::errors::RequestError;
use crate::generate::{fnv1a, fnv1a_more, words};

/// Bedrock's limit on cache points in one request.
pub(crate) const MAX_CACHE_POINTS: usize = 4;

/// Prefixes the emulator remembers at most, so that its memory stays bounded however many
/// distinct prompts it serves.
const MAX_ENTRIES: usize = 10_000;

/// What a prefix ending at a cache point is: its hash, its tokens, how long it stays cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    hash: u64,
    tokens: usize,
    ttl: Duration,
}

/// The cache part of a request's usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CacheUsage {
    /// Input tokens read from the cache.
    pub(crate) read: usize,
    /// Input tokens written to the cache.
    pub(crate) write: usize,
}

/// The prefixes cached, per model id, with when each expires.
#[derive(Debug, Default)]
pub(crate) struct PromptCache {
    entries: Mutex<HashMap<(String, u64), Instant>>,
}

impl PromptCache {
    /// Looks up and stores the prefixes ending at `checkpoints` (in prompt order) for `model_id`,
    /// as of `now`, and says what the request read and wrote.
    pub(crate) fn usage(&self, model_id: &str, checkpoints: &[Checkpoint], now: Instant) -> CacheUsage {
        let Some(last) = checkpoints.last() else {
            return CacheUsage::default();
        };
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let mut key = (model_id.to_owned(), 0);
        let hit = checkpoints.iter().rposition(|checkpoint| {
            key.1 = checkpoint.hash;
            entries.get(&key).is_some_and(|expires| *expires > now)
        });
        let read = hit.map_or(0, |hit| checkpoints[hit].tokens);
        // The prefix read is used again, so it lives on; the longer ones are written.
        for checkpoint in &checkpoints[hit.unwrap_or(0)..] {
            if entries.len() >= MAX_ENTRIES {
                evict(&mut entries, now);
            }
            entries.insert((model_id.to_owned(), checkpoint.hash), now + checkpoint.ttl);
        }
        CacheUsage { read, write: last.tokens - read }
    }
}

/// Frees room for one entry: the expired ones go, or else the one that expires first.
fn evict(entries: &mut HashMap<(String, u64), Instant>, now: Instant) {
    entries.retain(|_, expires| *expires > now);
    if entries.len() >= MAX_ENTRIES
        && let Some(first) = entries.iter().min_by_key(|(_, expires)| **expires).map(|(key, _)| key.clone())
    {
        entries.remove(&first);
    }
}

/// The checkpoints of a request body that has cache points, validated as Bedrock validates them.
pub(crate) fn checkpoints(body: &[u8]) -> Result<Vec<Checkpoint>, RequestError> {
    let request: Value = serde_json::from_slice(body)?;
    let mut prefix = Prefix { hash: fnv1a(b"prompt"), tokens: 0, checkpoints: Vec::new() };
    if let Some(tools) = request.pointer("/toolConfig/tools").and_then(Value::as_array) {
        prefix.section("tools", tools, |tool| {
            let spec = tool.get("toolSpec");
            let text = |field| spec.and_then(|spec| spec.get(field)).and_then(Value::as_str).map_or(0, words);
            text("name") + text("description")
        })?;
    }
    if let Some(system) = request.get("system").and_then(Value::as_array) {
        prefix.section("system", system, text_tokens)?;
    }
    for (index, message) in request.get("messages").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let role = message.get("role").and_then(Value::as_str).unwrap_or_default();
        let content = message.get("content").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
        prefix.section(&format!("messages[{index}] {role}"), content, text_tokens)?;
    }
    if prefix.checkpoints.len() > MAX_CACHE_POINTS {
        return Err(RequestError::CachePoints(format!(
            "The request has {} cachePoint blocks; at most {MAX_CACHE_POINTS} are allowed.",
            prefix.checkpoints.len()
        )));
    }
    Ok(prefix.checkpoints)
}

fn text_tokens(block: &Value) -> usize {
    block.get("text").and_then(Value::as_str).map_or(0, words)
}

/// The prompt read so far.
struct Prefix {
    hash: u64,
    tokens: usize,
    checkpoints: Vec<Checkpoint>,
}

impl Prefix {
    /// Reads one part of the prompt (the tools, the system prompt, a message), named `name`.
    fn section(&mut self, name: &str, blocks: &[Value], tokens: impl Fn(&Value) -> usize) -> Result<(), RequestError> {
        // The section's name is hashed too, so that moving a block to another part of the prompt
        // changes the prefix.
        self.hash = fnv1a_more(self.hash, name.as_bytes());
        let mut previous_was_point = None;
        for block in blocks {
            let point = block.get("cachePoint");
            match (point, previous_was_point) {
                // Bedrock refuses these in the system prompt and in messages.
                (Some(_), None) if name != "tools" => {
                    return Err(RequestError::CachePoints(format!(
                        "A cachePoint block cannot be the first block of {name}."
                    )));
                }
                (Some(_), Some(true)) => {
                    return Err(RequestError::CachePoints(format!(
                        "A cachePoint block cannot follow another cachePoint block in {name}."
                    )));
                }
                (Some(point), _) => {
                    let ttl = match point.get("ttl").and_then(Value::as_str) {
                        Some("1h") => Duration::from_secs(3600),
                        _ => Duration::from_secs(300),
                    };
                    self.checkpoints.push(Checkpoint { hash: self.hash, tokens: self.tokens, ttl });
                }
                (None, _) => {
                    self.hash = fnv1a_more(self.hash, block.to_string().as_bytes());
                    self.tokens += tokens(block);
                }
            }
            previous_was_point = Some(point.is_some());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(body: &str) -> Vec<Checkpoint> {
        checkpoints(body.as_bytes()).unwrap()
    }

    const CACHED: &str = r#"{
        "toolConfig":{"tools":[{"toolSpec":{"name":"lookup","description":"finds things"}},{"cachePoint":{"type":"default"}}]},
        "system":[{"text":"be very brief"},{"cachePoint":{"type":"default","ttl":"1h"}}],
        "messages":[{"role":"user","content":[{"text":"a long document"},{"cachePoint":{"type":"default"}},{"text":"question"}]}]
    }"#;

    #[test]
    fn checkpoints_end_prefixes_in_prompt_order() {
        let found = points(CACHED);
        let tokens: Vec<_> = found.iter().map(|c| c.tokens).collect();
        assert_eq!(tokens, [3, 6, 9], "tool name + description, then the system prompt, then the document");
        assert_eq!(found[1].ttl, Duration::from_secs(3600));
        assert_eq!(found[0].ttl, Duration::from_secs(300));
        let changed = points(&CACHED.replace("a long document", "another document"));
        assert_eq!(changed[..2], found[..2], "the prefixes before the change are the same");
        assert_ne!(changed[2].hash, found[2].hash);
    }

    #[test]
    fn the_first_request_writes_and_the_next_reads_until_the_ttl_passes() {
        let cache = PromptCache::default();
        let found = points(CACHED);
        let now = Instant::now();
        assert_eq!(cache.usage("m", &found, now), CacheUsage { read: 0, write: 9 });
        assert_eq!(cache.usage("m", &found, now + Duration::from_secs(1)), CacheUsage { read: 9, write: 0 });
        assert_eq!(cache.usage("other", &found, now), CacheUsage { read: 0, write: 9 }, "per model id");
        let longer = points(&CACHED.replace(r#"{"text":"question"}"#, r#"{"text":"more"},{"cachePoint":{}}"#));
        assert_eq!(cache.usage("m", &longer, now), CacheUsage { read: 9, write: 1 });
        // The 5-minute prefixes expire 5 minutes after their last use; the 1-hour one lives on.
        let later = now + Duration::from_secs(301);
        assert_eq!(cache.usage("m", &found, later), CacheUsage { read: 6, write: 3 });
    }

    #[test]
    fn memory_is_bounded() {
        let cache = PromptCache::default();
        let now = Instant::now();
        for hash in 0..(MAX_ENTRIES as u64 + 10) {
            let checkpoint = Checkpoint { hash, tokens: 1, ttl: Duration::from_secs(300) };
            cache.usage("m", &[checkpoint], now);
        }
        assert_eq!(cache.entries.lock().unwrap().len(), MAX_ENTRIES);
    }

    #[test]
    fn misplaced_and_extra_cache_points_are_refused() {
        let message = |content: &str| format!(r#"{{"messages":[{{"role":"user","content":[{content}]}}]}}"#);
        let point = r#"{"cachePoint":{"type":"default"}}"#;
        let text = r#"{"text":"x"}"#;
        for bad in [
            message(&format!("{point},{text}")),
            message(&format!("{text},{point},{point}")),
            message(&[text, point].repeat(5).join(",")),
            format!(r#"{{"system":[{point}],"messages":[]}}"#),
        ] {
            assert!(matches!(checkpoints(bad.as_bytes()), Err(RequestError::CachePoints(_))), "{bad}");
        }
        assert_eq!(points(&message(&[text, point].repeat(4).join(","))).len(), 4);
    }
}
