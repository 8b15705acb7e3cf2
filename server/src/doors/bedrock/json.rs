//! The JSON mechanics of Bedrock's request bodies: decoding that names the path of a bad value,
//! Bedrock's unions (an object with exactly one member), and blobs sent as base64.

use std::fmt;
use std::marker::PhantomData;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, VariantAccess, Visitor};
use serde::{Deserialize, forward_to_deserialize_any};

use crate::error::GatewayError;

/// Decodes `body` as `T`; a syntax or type error is refused naming the JSON path where it is
/// (`messages[0].content[1].image.format`).
pub(super) fn decode<'de, T: Deserialize<'de>>(body: &'de [u8]) -> Result<T, GatewayError> {
    // Serde would also read a struct from an array of its members' values; Bedrock's bodies are
    // objects.
    if body.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
        return Err(GatewayError::invalid("body", "must be a JSON object"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(refusal)?;
    deserializer.end().map_err(|err| GatewayError::invalid("body", err.to_string()))?;
    Ok(value)
}

/// Decodes a JSON value already parsed (a model-specific field) as `T`, its paths under `field`.
pub(super) fn decode_value<T: de::DeserializeOwned>(value: serde_json::Value, field: &str) -> Result<T, GatewayError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." { field.to_owned() } else { format!("{field}.{path}") };
        GatewayError::invalid(field, err.into_inner().to_string())
    })
}

fn refusal(err: serde_path_to_error::Error<serde_json::Error>) -> GatewayError {
    let path = err.path().to_string();
    // serde_path_to_error's "." is the root: the body as a whole.
    let field = if path == "." { "body".to_owned() } else { path };
    let err = err.into_inner();
    let reason = err.to_string();
    // A bad value is found by its path; the position helps only with a syntax error.
    let position = format!(" at line {} column {}", err.line(), err.column());
    let reason = match err.classify() {
        serde_json::error::Category::Data => reason.strip_suffix(&position).unwrap_or(&reason).to_owned(),
        _ => reason,
    };
    GatewayError::invalid(field, reason)
}

/// One of Bedrock's unions: a JSON object with exactly one member, the variant of `T`, an
/// externally tagged enum of newtype variants. Serde's own enums take the first member and then
/// fail on a second with a syntax error; this refuses an empty object and a second member by name.
#[derive(Debug)]
pub(super) struct Union<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Union<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(UnionVisitor(PhantomData))
    }
}

struct UnionVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for UnionVisitor<T> {
    type Value = Union<T>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an object with exactly one member")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Union<T>, A::Error> {
        let value = T::deserialize(OneMember(&mut map))?;
        if let Some(second) = map.next_key::<String>()? {
            return Err(de::Error::custom(format_args!("sets `{second}` besides another member; set exactly one")));
        }
        Ok(Union(value))
    }
}

/// The map of a union, read as an enum: its one key is the variant, its value the variant's.
struct OneMember<'a, A>(&'a mut A);

impl<'de, A: MapAccess<'de>> Deserializer<'de> for OneMember<'_, A> {
    type Error = A::Error;

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        visitor.visit_enum(Member { map: self.0, variants })
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, A::Error> {
        Err(de::Error::custom("a union is read as an enum"))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

struct Member<'a, A> {
    map: &'a mut A,
    variants: &'static [&'static str],
}

impl<'de, A: MapAccess<'de>> EnumAccess<'de> for Member<'_, A> {
    type Error = A::Error;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self), A::Error> {
        match self.map.next_key_seed(seed)? {
            Some(variant) => Ok((variant, self)),
            None => Err(de::Error::custom(format_args!("empty: set one of {}", self.variants.join(", ")))),
        }
    }
}

impl<'de, A: MapAccess<'de>> VariantAccess<'de> for Member<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        Err(de::Error::custom("a union's members are values"))
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        self.map.next_value_seed(seed)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _visitor: V) -> Result<V::Value, A::Error> {
        Err(de::Error::custom("a union's members are values"))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, A::Error> {
        Err(de::Error::custom("a union's members are values"))
    }
}

/// A blob sent as base64 text, decoded as it is read: the text is never held as a string.
#[derive(Debug)]
pub(super) struct Base64(pub Vec<u8>);

impl<'de> Deserialize<'de> for Base64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(Base64Visitor)
    }
}

struct Base64Visitor;

impl Visitor<'_> for Base64Visitor {
    type Value = Base64;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a base64 string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Base64, E> {
        // The error names the position of the bad character, never the text.
        BASE64.decode(text).map(Base64).map_err(|err| E::custom(format_args!("is not base64: {err}")))
    }
}

/// An object that must be empty, as `{"auto": {}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Empty {}
