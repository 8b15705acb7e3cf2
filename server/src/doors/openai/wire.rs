//! Reading OpenAI's JSON: every syntax, type, missing or unknown field error names where it is,
//! as OpenAI's field path (`messages[2].content[0].image_url`), and the fields that are a string
//! or an array (`content`, `stop`, `input`) keep naming their items.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, Deserializer, SeqAccess, Visitor};

use crate::error::GatewayError;

/// Decodes `body` as one JSON value of type `T`, refusing it naming the field at fault.
pub(super) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, GatewayError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(refusal)?;
    deserializer.end().map_err(|err| GatewayError::invalid("body", format!("is more than one JSON value: {err}")))?;
    Ok(value)
}

/// The refusal of a body that does not decode: serde's message, blamed on the path it stopped at.
/// A missing field is named itself (serde stops at its parent); a field the request type does not
/// have is refused as such, with the fields it could have been.
fn refusal(err: serde_path_to_error::Error<serde_json::Error>) -> GatewayError {
    let path = err.path().to_string();
    let message = err.into_inner().to_string();
    if let Some((name, _)) = quoted_after(&message, "missing field `") {
        let field = if path == "." { name.to_owned() } else { format!("{path}.{name}") };
        return GatewayError::invalid(field, "required");
    }
    if let Some((_, expected)) = quoted_after(&message, "unknown field `") {
        return GatewayError::invalid(
            path,
            format!("is not a field this gateway takes here{}", expected.replace(", expected", "; expected")),
        );
    }
    GatewayError::invalid(if path == "." { "body".to_owned() } else { path }, message)
}

/// In `message` starting with `prefix`, the name quoted up to the next backtick, and what follows it.
fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<(&'a str, &'a str)> {
    message.strip_prefix(prefix)?.split_once('`')
}

/// A field that OpenAI takes either as one string or as an array of items.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum StringOr<T> {
    /// The string form.
    String(String),
    /// The array form.
    Array(Vec<T>),
}

impl<'de, T: de::Deserialize<'de>> de::Deserialize<'de> for StringOr<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Either<T>(PhantomData<T>);

        impl<'de, T: de::Deserialize<'de>> Visitor<'de> for Either<T> {
            type Value = StringOr<T>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a string or an array")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<StringOr<T>, E> {
                Ok(StringOr::String(text.to_owned()))
            }

            fn visit_string<E: de::Error>(self, text: String) -> Result<StringOr<T>, E> {
                Ok(StringOr::String(text))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<StringOr<T>, A::Error> {
                // The hint is the sender's claim: it sizes nothing beyond what arrives.
                let mut array = Vec::with_capacity(items.size_hint().unwrap_or(0).min(16));
                while let Some(item) = items.next_element()? {
                    array.push(item);
                }
                Ok(StringOr::Array(array))
            }
        }

        deserializer.deserialize_any(Either(PhantomData))
    }
}

/// Base64 as data URLs carry it, padded or not.
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// A data URL's media type (without parameters) and its base64-decoded bytes; `None` for anything
/// else (an `http(s)` URL, or a data URL that is not base64).
pub(super) fn data_url(url: &str) -> Option<Result<(&str, Vec<u8>), base64::DecodeError>> {
    use base64::Engine as _;
    let (header, data) = url.strip_prefix("data:")?.split_once(',')?;
    let media_type = header.strip_suffix(";base64")?;
    let media_type = media_type.split_once(';').map_or(media_type, |(media_type, _)| media_type);
    Some(BASE64.decode(data).map(|bytes| (media_type, bytes)))
}
