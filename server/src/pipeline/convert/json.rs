//! JSON text <-> the SDK's `Document`, for tool inputs, tool results and schemas, which the v1 API
//! carries as JSON text so that any client can fill them without a protobuf Struct.

use std::collections::HashMap;
use std::fmt;

use aws_smithy_types::{Document, Number};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// How many more JSON values a request may hold, shared by all the JSON texts of one request.
#[derive(Debug)]
pub struct Budget {
    left: usize,
    exceeded: bool,
}

impl Budget {
    /// Allows `values` JSON values in all.
    pub fn new(values: usize) -> Budget {
        Budget { left: values, exceeded: false }
    }

    fn take<E: de::Error>(&mut self) -> Result<(), E> {
        match self.left.checked_sub(1) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => {
                self.exceeded = true;
                Err(E::custom("too many JSON values"))
            }
        }
    }
}

/// Why JSON text did not become a `Document`.
#[derive(Debug)]
pub enum ParseError {
    /// Not JSON.
    Invalid(serde_json::Error),
    /// The request's budget of JSON values ran out; parsing stopped there.
    OverBudget,
}

/// Parses JSON text straight into a `Document`, with no `serde_json::Value` in between (which
/// would double the memory a large document takes), stopping as soon as `budget` runs out.
pub fn parse(text: &str, budget: &mut Budget) -> Result<Document, ParseError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed = Seed(budget).deserialize(&mut deserializer).and_then(|document| {
        deserializer.end()?;
        Ok(document)
    });
    parsed.map_err(|err| if budget.exceeded { ParseError::OverBudget } else { ParseError::Invalid(err) })
}

/// Deserializes one JSON value, charging it and everything inside it to the budget.
struct Seed<'b>(&'b mut Budget);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Document;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Document, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Document;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Document, E> {
        self.0.take()?;
        Ok(Document::Null)
    }

    fn visit_bool<E: de::Error>(self, flag: bool) -> Result<Document, E> {
        self.0.take()?;
        Ok(Document::Bool(flag))
    }

    fn visit_u64<E: de::Error>(self, unsigned: u64) -> Result<Document, E> {
        self.0.take()?;
        Ok(Document::Number(Number::PosInt(unsigned)))
    }

    fn visit_i64<E: de::Error>(self, signed: i64) -> Result<Document, E> {
        self.0.take()?;
        Ok(Document::Number(Number::NegInt(signed)))
    }

    fn visit_f64<E: de::Error>(self, float: f64) -> Result<Document, E> {
        self.0.take()?;
        Ok(Document::Number(Number::Float(float)))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Document, E> {
        self.visit_string(text.to_owned())
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Document, E> {
        self.0.take()?;
        Ok(Document::String(text))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Document, A::Error> {
        self.0.take()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Seed(&mut *self.0))? {
            items.push(item);
        }
        Ok(Document::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Document, A::Error> {
        self.0.take()?;
        let mut fields = HashMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Seed(&mut *self.0))?;
            fields.insert(key, value);
        }
        Ok(Document::Object(fields))
    }
}

/// Converts JSON into a `Document`, for JSON the gateway holds itself (configured request fields).
pub fn to_document(value: &Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(flag) => Document::Bool(*flag),
        Value::Number(number) => Document::Number(match (number.as_u64(), number.as_i64()) {
            (Some(unsigned), _) => Number::PosInt(unsigned),
            (None, Some(signed)) => Number::NegInt(signed),
            (None, None) => Number::Float(number.as_f64().unwrap_or_default()),
        }),
        Value::String(text) => Document::String(text.clone()),
        Value::Array(items) => Document::Array(items.iter().map(to_document).collect()),
        Value::Object(fields) => {
            Document::Object(fields.iter().map(|(key, value)| (key.clone(), to_document(value))).collect())
        }
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

    fn parsed(text: &str, values: usize) -> Result<Document, ParseError> {
        parse(text, &mut Budget::new(values))
    }

    #[test]
    fn round_trips_every_kind_of_value() {
        let value = serde_json::json!({"a": [1, -2, 2.5, "x\u{e9}", true, null], "b": {"c": {}}});
        let document = parsed(&value.to_string(), 100).unwrap();
        assert_eq!(from_document(&document), value);
        assert_eq!(to_document(&value), document);
    }

    #[test]
    fn every_value_is_charged_to_one_budget() {
        // The array, its three numbers: four values.
        assert!(parsed("[1, 2, 3]", 4).is_ok());
        assert!(matches!(parsed("[1, 2, 3]", 3), Err(ParseError::OverBudget)));
        let mut budget = Budget::new(5);
        parse(r#"{"a": 1}"#, &mut budget).unwrap();
        parse(r#"{"b": 2}"#, &mut budget).unwrap();
        assert!(matches!(parse(r#"{"c": 3}"#, &mut budget), Err(ParseError::OverBudget)));
    }

    #[test]
    fn invalid_json_is_not_blamed_on_the_budget() {
        assert!(matches!(parsed("{\"a\": }", 100), Err(ParseError::Invalid(_))));
        assert!(matches!(parsed("[1] trailing", 100), Err(ParseError::Invalid(_))));
    }
}
