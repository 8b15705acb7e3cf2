//! The door's codec, tested on the JSON OpenAI's clients send and parse.

mod errors;

/// `text` as the server-sent events it holds, `data:` stripped.
fn events(text: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(text).unwrap();
    assert!(text.ends_with("\n\n"), "{text:?} ends an event");
    text.split_terminator("\n\n")
        .map(|event| event.strip_prefix("data: ").unwrap_or_else(|| panic!("{event:?} is a data line")).to_owned())
        .collect()
}
