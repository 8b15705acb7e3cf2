//! Deterministic answers.
//!
//! Tests of other crates must know, without talking to the emulator, exactly
//! what it will answer. Everything here is a pure function of the prompt so
//! those tests can call it; the server uses the same functions, token by
//! token, without allocating per token.

use std::fmt::Write as _;

use serde_json::Value;

/// Words the answers are made of. Each carries the leading space it has when
/// it is not the first token, so tokens can be handed out as `&'static str`.
const VOCABULARY: [&str; 64] = [
    " lorem",
    " ipsum",
    " dolor",
    " sit",
    " amet",
    " consectetur",
    " adipiscing",
    " elit",
    " sed",
    " do",
    " eiusmod",
    " tempor",
    " incididunt",
    " ut",
    " labore",
    " et",
    " dolore",
    " magna",
    " aliqua",
    " enim",
    " ad",
    " minim",
    " veniam",
    " quis",
    " nostrud",
    " exercitation",
    " ullamco",
    " laboris",
    " nisi",
    " aliquip",
    " ex",
    " ea",
    " commodo",
    " consequat",
    " duis",
    " aute",
    " irure",
    " in",
    " reprehenderit",
    " voluptate",
    " velit",
    " esse",
    " cillum",
    " eu",
    " fugiat",
    " nulla",
    " pariatur",
    " excepteur",
    " sint",
    " occaecat",
    " cupidatat",
    " non",
    " proident",
    " sunt",
    " culpa",
    " qui",
    " officia",
    " deserunt",
    " mollit",
    " anim",
    " id",
    " est",
    " laborum",
    " vitae",
];

/// Text the emulator writes before calling a tool; its tokens are the words
/// of this sentence, with a leading space on all but the first.
pub const TOOL_PREAMBLE: &str = "Let me use a tool.";
const TOOL_PREAMBLE_TOKENS: [&str; 5] = ["Let", " me", " use", " a", " tool."];

/// The reasoning the emulator writes before its answer when asked to reason; its tokens are the
/// words of this sentence, with a leading space on all but the first.
pub const REASONING_TEXT: &str = "Let me think this through.";
const REASONING_TOKENS: [&str; 5] = ["Let", " me", " think", " this", " through."];

/// Stop reason for an answer that ran to its natural length.
pub(crate) const END_TURN: &str = "end_turn";
/// Stop reason for an answer cut at `maxTokens`.
pub(crate) const MAX_TOKENS: &str = "max_tokens";
/// Stop reason for an answer cut before a stop sequence.
pub(crate) const STOP_SEQUENCE: &str = "stop_sequence";
/// Stop reason for an answer that ends in a tool call.
pub(crate) const TOOL_USE: &str = "tool_use";
/// Stop reason of `fault.malformed-tool-use`.
pub(crate) const MALFORMED_TOOL_USE: &str = "malformed_tool_use";
/// Stop reason of `fault.malformed-model-output`.
pub(crate) const MALFORMED_MODEL_OUTPUT: &str = "malformed_model_output";

/// The answer the emulator gives to a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The streamed tokens, in order; `tokens.concat()` is the full text.
    pub tokens: Vec<String>,
    /// `"end_turn"`, `"max_tokens"` or, after [`Answer::with_stop_sequences`],
    /// `"stop_sequence"`.
    pub stop_reason: &'static str,
}

impl Answer {
    /// The full answer text.
    pub fn text(&self) -> String {
        self.tokens.concat()
    }

    /// Applies `inferenceConfig.stopSequences` the way the emulator does:
    /// the answer stops before the first token that, trimmed, equals one of
    /// `stop_sequences`.
    #[must_use]
    pub fn with_stop_sequences(mut self, stop_sequences: &[&str]) -> Answer {
        if let Some(cut) = self.tokens.iter().position(|t| stop_sequences.contains(&t.trim())) {
            self.tokens.truncate(cut);
            self.stop_reason = STOP_SEQUENCE;
        }
        self
    }
}

/// The answer to a request whose last user message has text
/// `last_user_text` (its text blocks concatenated), with
/// `inferenceConfig.maxTokens` = `max_tokens`, from an emulator configured
/// with `answer_tokens` tokens per answer.
pub fn expected_answer(last_user_text: &str, max_tokens: Option<u32>, answer_tokens: usize) -> Answer {
    let tokens = TokenSource::for_prompt(last_user_text);
    let (len, stop_reason) = answer_length(&tokens, max_tokens, answer_tokens, &[]);
    Answer { tokens: (0..len).map(|i| tokens.token(i).to_owned()).collect(), stop_reason }
}

/// The complete JSON input of the tool call the emulator makes for a prompt:
/// `{"query":"<last user text>"}`.
pub fn expected_tool_input(last_user_text: &str) -> String {
    let mut json = String::with_capacity(last_user_text.len() + 12);
    json.push_str("{\"query\":");
    push_json_string(&mut json, last_user_text);
    json.push('}');
    json
}

/// The complete JSON input of the tool call the emulator makes for a prompt to a tool whose
/// input schema is `schema`: [`expected_json`] when the schema lists `properties`, else
/// [`expected_tool_input`].
pub fn expected_tool_input_for(schema: Option<&Value>, last_user_text: &str) -> String {
    match schema {
        Some(schema) if schema.get("properties").is_some_and(|p| p.as_object().is_some_and(|p| !p.is_empty())) => {
            expected_json(schema, last_user_text)
        }
        _ => expected_tool_input(last_user_text),
    }
}

/// The JSON the emulator generates for a JSON schema (native structured output, and the input of
/// tools whose schema lists properties): an object has every one of its properties, an array one
/// item, an enum its first value, a `const` its value, `anyOf`/`oneOf`/`allOf` their first
/// schema; strings are the last user text, integers 1, numbers 1.5, booleans true, anything else
/// null. Compact, keys in `serde_json`'s map order.
pub fn expected_json(schema: &Value, last_user_text: &str) -> String {
    sample(schema, last_user_text, 0).to_string()
}

/// Nesting beyond this is generated as null, so a recursive schema still gets an answer.
const MAX_SAMPLE_DEPTH: usize = 16;

fn sample(schema: &Value, text: &str, depth: usize) -> Value {
    if depth > MAX_SAMPLE_DEPTH {
        return Value::Null;
    }
    if let Some(value) = schema.get("const") {
        return value.clone();
    }
    if let Some(first) = schema.get("enum").and_then(Value::as_array).and_then(|values| values.first()) {
        return first.clone();
    }
    for combinator in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = schema.get(combinator).and_then(Value::as_array).and_then(|schemas| schemas.first()) {
            return sample(first, text, depth + 1);
        }
    }
    let ty = match schema.get("type") {
        Some(Value::String(ty)) => ty.as_str(),
        Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).find(|ty| *ty != "null").unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "null",
    };
    match ty {
        "object" => Value::Object(
            schema
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(name, property)| (name.clone(), sample(property, text, depth + 1)))
                .collect(),
        ),
        "array" => Value::Array(schema.get("items").map(|items| sample(items, text, depth + 1)).into_iter().collect()),
        "string" => Value::from(text),
        "integer" => Value::from(1),
        "number" => Value::from(1.5),
        "boolean" => Value::Bool(true),
        _ => Value::Null,
    }
}

/// The signature of the reasoning the emulator writes for a prompt.
pub fn expected_reasoning_signature(last_user_text: &str) -> String {
    let mut signature = String::with_capacity(20);
    // Writing to a String cannot fail.
    let _ = write!(signature, "sig_{:016x}", fnv1a(last_user_text.as_bytes()).rotate_left(17));
    signature
}

/// The redacted reasoning the emulator writes for a prompt with a word starting with "redact":
/// opaque bytes, not UTF-8.
pub fn expected_redacted_reasoning(last_user_text: &str) -> Vec<u8> {
    let mut redacted = vec![0xff, 0x00, b'r', b'e', b'd'];
    redacted.extend_from_slice(&fnv1a(last_user_text.as_bytes()).to_be_bytes());
    redacted
}

/// The `toolUseId` of the tool call the emulator makes for a prompt.
pub fn expected_tool_use_id(last_user_text: &str) -> String {
    let mut id = String::with_capacity(24);
    // Writing to a String cannot fail.
    let _ = write!(id, "tooluse_{:016x}", fnv1a(last_user_text.as_bytes()));
    id
}

/// Where the tokens of an answer come from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TokenSource {
    /// Vocabulary words picked by hashing the prompt and the token position.
    Prompt { seed: u64 },
    /// The words of [`TOOL_PREAMBLE`].
    ToolPreamble,
    /// The words of [`REASONING_TEXT`].
    Reasoning,
}

impl TokenSource {
    pub(crate) fn for_prompt(last_user_text: &str) -> TokenSource {
        TokenSource::Prompt { seed: fnv1a(last_user_text.as_bytes()) }
    }

    /// Token `index` of the answer. Prompt tokens never run out, which lets
    /// faults stream any number of deltas.
    pub(crate) fn token(self, index: usize) -> &'static str {
        match self {
            TokenSource::Prompt { seed } => {
                let word = VOCABULARY[(mix(seed, index as u64) % VOCABULARY.len() as u64) as usize];
                if index == 0 { &word[1..] } else { word }
            }
            TokenSource::ToolPreamble => TOOL_PREAMBLE_TOKENS[index],
            TokenSource::Reasoning => REASONING_TOKENS[index],
        }
    }

    pub(crate) const TOOL_PREAMBLE_LEN: usize = TOOL_PREAMBLE_TOKENS.len();
    pub(crate) const REASONING_LEN: usize = REASONING_TOKENS.len();
}

/// How many tokens an answer has and why it stops.
pub(crate) fn answer_length(
    tokens: &TokenSource,
    max_tokens: Option<u32>,
    answer_tokens: usize,
    stop_sequences: &[String],
) -> (usize, &'static str) {
    let (limit, reason) = match max_tokens {
        Some(max) if (max as usize) < answer_tokens => (max as usize, MAX_TOKENS),
        _ => (answer_tokens, END_TURN),
    };
    if !stop_sequences.is_empty() {
        let stop = (0..limit).find(|&i| {
            let token = tokens.token(i).trim();
            stop_sequences.iter().any(|s| s == token)
        });
        if let Some(cut) = stop {
            return (cut, STOP_SEQUENCE);
        }
    }
    (limit, reason)
}

/// Appends `s` as a JSON string literal.
///
/// Hand-written because it is on the per-token path and cannot fail, unlike
/// `serde_json`'s `io::Write` based serializer.
pub(crate) fn push_json_string(out: &mut impl JsonSink, s: &str) {
    const HEX: [&str; 16] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"];
    out.push_str("\"");
    let mut clean_from = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        // `i` is at an ASCII byte, hence a char boundary.
        out.push_str(&s[clean_from..i]);
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push_str(HEX[usize::from(b >> 4)]);
            out.push_str(HEX[usize::from(b & 0xf)]);
        } else {
            out.push_str(escape);
        }
        clean_from = i + 1;
    }
    out.push_str(&s[clean_from..]);
    out.push_str("\"");
}

/// A buffer JSON text is appended to: the response buffer, or a `String`
/// for the answers promised to tests.
pub(crate) trait JsonSink {
    fn push_str(&mut self, s: &str);
}

impl JsonSink for bytes::BytesMut {
    fn push_str(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }
}

impl JsonSink for String {
    fn push_str(&mut self, s: &str) {
        String::push_str(self, s);
    }
}

/// 64-bit FNV-1a: tiny, stable across platforms and releases, unlike `std`'s
/// randomly seeded hasher.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_more(0xcbf2_9ce4_8422_2325, bytes)
}

/// Continues an FNV-1a hash with more bytes, for hashing a sequence piece by piece.
pub(crate) fn fnv1a_more(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// SplitMix64 finalizer over seed and position, so neighbouring positions
/// pick unrelated words.
pub(crate) fn mix(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_add(index.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The tokens of a text, as the emulator counts them: its whitespace-separated words.
pub(crate) fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_stable_and_prompt_dependent() {
        let a = expected_answer("hello", None, 8);
        assert_eq!(a, expected_answer("hello", None, 8));
        assert_ne!(a, expected_answer("hello!", None, 8));
        assert_eq!(a.tokens.len(), 8);
        assert_eq!(a.stop_reason, "end_turn");
        assert!(!a.tokens[0].starts_with(' '));
        assert!(a.tokens[1..].iter().all(|t| t.starts_with(' ')));
    }

    #[test]
    fn max_tokens_cuts_the_answer() {
        let full = expected_answer("hello", None, 8);
        let cut = expected_answer("hello", Some(3), 8);
        assert_eq!(cut.tokens, full.tokens[..3]);
        assert_eq!(cut.stop_reason, "max_tokens");
        assert_eq!(expected_answer("hello", Some(8), 8).stop_reason, "end_turn");
    }

    #[test]
    fn stop_sequences_cut_before_the_matching_token() {
        let full = expected_answer("hello", None, 8);
        let stop = full.tokens[4].trim().to_owned();
        let first = full.tokens.iter().position(|t| t.trim() == stop).unwrap();
        let cut = full.clone().with_stop_sequences(&[&stop]);
        assert_eq!(cut.tokens, full.tokens[..first]);
        assert_eq!(cut.stop_reason, "stop_sequence");
        let (len, reason) = answer_length(&TokenSource::for_prompt("hello"), None, 8, &[stop]);
        assert_eq!((len, reason), (first, "stop_sequence"));
    }

    #[test]
    fn json_follows_the_schema() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "score": {"type": ["number", "null"]},
                "tags": {"type": "array", "items": {"enum": ["warm", "cold"]}},
                "sunny": {"type": "boolean"},
                "where": {"anyOf": [{"type": "object", "properties": {"lat": {"type": "number"}}}, {"type": "null"}]},
                "kind": {"const": "forecast"}
            }
        });
        let json: Value = serde_json::from_str(&expected_json(&schema, "Oslo")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"city": "Oslo", "days": 1, "score": 1.5, "tags": ["warm"], "sunny": true,
                "where": {"lat": 1.5}, "kind": "forecast"})
        );
        let free = serde_json::json!({"type": "object"});
        assert_eq!(expected_tool_input_for(Some(&free), "hi"), expected_tool_input("hi"));
        assert_eq!(expected_tool_input_for(None, "hi"), expected_tool_input("hi"));
        let recursive = serde_json::json!({"type": "array", "items": {"$ref": "#"}});
        assert_eq!(expected_json(&recursive, "x"), "[null]");
    }

    #[test]
    fn tool_input_is_escaped_json() {
        let input = expected_tool_input("say \"hi\"\n\u{1}é");
        let parsed: serde_json::Value = serde_json::from_str(&input).unwrap();
        assert_eq!(parsed["query"], "say \"hi\"\n\u{1}é");
    }
}
