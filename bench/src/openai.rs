//! The load generator's client for OpenAI-compatible servers (the gateway's OpenAI-compatible door
//! and the peer proxy, called alike): `POST /v1/chat/completions` with `stream: true`, read as
//! server-sent events and timed to the first content delta, as the other sides are timed to their
//! first text delta. One client, so one connection pool, for all workers (HTTP/1.1: a connection
//! per concurrent stream).

use std::net::SocketAddr;

use serde::Deserialize;
use tokio::time::Instant;

use crate::streamed::Streamed;

/// Characters of an unexpected body or event quoted in an error.
const EXCERPT: usize = 200;

/// A pooled client for one server's chat completions endpoint.
#[derive(Debug, Clone)]
pub struct ChatClient {
    client: reqwest::Client,
    url: String,
}

impl ChatClient {
    /// A client for the server listening on `server`.
    pub fn new(server: SocketAddr) -> Result<ChatClient, reqwest::Error> {
        let client = reqwest::Client::builder().no_proxy().tcp_nodelay(true).pool_idle_timeout(None).build()?;
        Ok(ChatClient { client, url: format!("http://{server}/v1/chat/completions") })
    }

    /// Streams one answer of `model` of at most `max_tokens` tokens to `prompt`, to its end.
    pub async fn stream(&self, model: &str, prompt: &str, max_tokens: u32) -> Result<Streamed, String> {
        let body = serde_json::json!({
            "model": model,
            "stream": true,
            "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": prompt}],
        });
        let mut response = self
            .client
            .post(&self.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|err| format!("request failed: {err}"))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(format!("HTTP {status}: {}", excerpt(&text)));
        }
        let mut events = EventStream::default();
        // Read to the end of the body (past `[DONE]`) so the connection goes back to the pool.
        while let Some(bytes) = response.chunk().await.map_err(|err| format!("reading the stream failed: {err}"))? {
            events.feed(&bytes, Instant::now())?;
        }
        events.finish()
    }
}

/// Server-sent events of a streamed chat completion, parsed as they arrive.
#[derive(Debug, Default)]
pub struct EventStream {
    buffer: Vec<u8>,
    first_token_at: Option<Instant>,
    events: u64,
    done: bool,
}

/// The part of a `chat.completion.chunk` the bench reads.
#[derive(Debug, Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    error: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    delta: Option<Delta>,
}

#[derive(Debug, Deserialize)]
struct Delta {
    content: Option<String>,
}

impl Choice {
    fn content(&self) -> Option<&str> {
        self.delta.as_ref()?.content.as_deref()
    }
}

impl EventStream {
    /// Adds bytes received at `now`, handling every event they complete.
    pub fn feed(&mut self, bytes: &[u8], now: Instant) -> Result<(), String> {
        self.buffer.extend_from_slice(bytes);
        while let Some((end, separator)) = event_end(&self.buffer) {
            let event: Vec<u8> = self.buffer.drain(..end + separator).collect();
            self.event(&event[..end], now)?;
        }
        Ok(())
    }

    fn event(&mut self, event: &[u8], now: Instant) -> Result<(), String> {
        let text = std::str::from_utf8(event).map_err(|_| "an event is not UTF-8".to_owned())?;
        let data: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .map(|value| value.strip_prefix(' ').unwrap_or(value))
            .collect();
        // Comments and other fields (keep-alives) carry no data.
        if data.is_empty() {
            return Ok(());
        }
        let data = data.join("\n");
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let chunk: Chunk =
            serde_json::from_str(&data).map_err(|err| format!("not a completion chunk ({err}): {}", excerpt(&data)))?;
        if let Some(error) = chunk.error {
            return Err(format!("error event: {}", excerpt(&error.to_string())));
        }
        self.events += 1;
        if self.first_token_at.is_none()
            && chunk.choices.iter().any(|choice| choice.content().is_some_and(|text| !text.is_empty()))
        {
            self.first_token_at = Some(now);
        }
        Ok(())
    }

    /// The stream's figures once its body ended: an error unless it ended with `[DONE]` after a
    /// content delta.
    pub fn finish(self) -> Result<Streamed, String> {
        if !self.done {
            return Err("the stream ended without `data: [DONE]`".to_owned());
        }
        let first_token_at = self.first_token_at.ok_or("the stream had no content delta")?;
        Ok(Streamed { first_token_at, events: self.events })
    }
}

/// Where the first complete event in `buffer` ends, and the length of the blank line ending it.
fn event_end(buffer: &[u8]) -> Option<(usize, usize)> {
    let find = |separator: &[u8]| buffer.windows(separator.len()).position(|window| window == separator);
    match (find(b"\n\n"), find(b"\r\n\r\n")) {
        (Some(lf), Some(crlf)) if crlf < lf => Some((crlf, 4)),
        (Some(lf), _) => Some((lf, 2)),
        (None, Some(crlf)) => Some((crlf, 4)),
        (None, None) => None,
    }
}

fn excerpt(text: &str) -> String {
    text.chars().take(EXCERPT).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// What LiteLLM 1.80.17 sent for `max_tokens: 2` (ids shortened), split at awkward places.
    const LITELLM_STREAM: &str = concat!(
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"mollit\",\"role\":\"assistant\"}}]}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" ullamco\"}}]}\n\n",
        ": keep-alive\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"finish_reason\":\"length\",\"index\":0,\"delta\":{}}]}\n\n",
        "data: [DONE]\n\n",
    );

    #[test]
    fn times_the_first_content_delta_and_counts_chunks_across_reads() {
        let start = Instant::now();
        let mut stream = EventStream::default();
        let (head, tail) = LITELLM_STREAM.as_bytes().split_at(40);
        stream.feed(head, start).unwrap();
        stream.feed(tail, start + Duration::from_millis(5)).unwrap();
        let streamed = stream.finish().unwrap();
        assert_eq!(streamed.events, 3);
        assert_eq!(streamed.first_token_at, start + Duration::from_millis(5));
    }

    #[test]
    fn crlf_separators_and_a_role_only_first_chunk() {
        let start = Instant::now();
        let mut stream = EventStream::default();
        stream
            .feed(b"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\r\n\r\n", start)
            .unwrap();
        stream
            .feed(
                b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\r\n\r\ndata: [DONE]\r\n\r\n",
                start + Duration::from_millis(1),
            )
            .unwrap();
        assert_eq!(stream.finish().unwrap().first_token_at, start + Duration::from_millis(1));
    }

    #[test]
    fn errors_and_cut_streams_fail() {
        let now = Instant::now();
        let mut stream = EventStream::default();
        let error = stream.feed(b"data: {\"error\":{\"message\":\"throttled\"}}\n\n", now).unwrap_err();
        assert!(error.contains("throttled"), "{error}");
        let mut cut = EventStream::default();
        cut.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n", now).unwrap();
        assert!(cut.finish().unwrap_err().contains("[DONE]"));
        let mut empty = EventStream::default();
        empty.feed(b"data: [DONE]\n\n", now).unwrap();
        assert!(empty.finish().unwrap_err().contains("no content delta"));
    }
}
