//! JSON text <-> the SDK's `Document`, for tool inputs, tool results and schemas, which the v1 API
//! carries as JSON text so that any client can fill them without a protobuf Struct.

use std::collections::HashMap;

use aws_smithy_types::{Document, Number};
use serde_json::Value;

/// Converts parsed JSON into a `Document`.
pub fn to_document(value: Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(flag) => Document::Bool(flag),
        Value::Number(number) => Document::Number(if let Some(unsigned) = number.as_u64() {
            Number::PosInt(unsigned)
        } else if let Some(signed) = number.as_i64() {
            Number::NegInt(signed)
        } else {
            Number::Float(number.as_f64().unwrap_or(f64::NAN))
        }),
        Value::String(text) => Document::String(text),
        Value::Array(items) => Document::Array(items.into_iter().map(to_document).collect()),
        Value::Object(fields) => Document::Object(
            fields.into_iter().map(|(key, value)| (key, to_document(value))).collect::<HashMap<_, _>>(),
        ),
    }
}

/// Converts a `Document` back into JSON.
pub fn from_document(document: &Document) -> Value {
    match document {
        Document::Null => Value::Null,
        Document::Bool(flag) => Value::Bool(*flag),
        Document::Number(Number::PosInt(unsigned)) => Value::from(*unsigned),
        Document::Number(Number::NegInt(signed)) => Value::from(*signed),
        Document::Number(Number::Float(float)) => {
            serde_json::Number::from_f64(*float).map_or(Value::Null, Value::Number)
        }
        Document::String(text) => Value::String(text.clone()),
        Document::Array(items) => Value::Array(items.iter().map(from_document).collect()),
        Document::Object(fields) => {
            Value::Object(fields.iter().map(|(key, value)| (key.clone(), from_document(value))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_kind_of_value() {
        let value = serde_json::json!({"a": [1, -2, 2.5, "x", true, null], "b": {"c": {}}});
        assert_eq!(from_document(&to_document(value.clone())), value);
    }
}
