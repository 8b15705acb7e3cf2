//! Phase "validate" of the pipeline: the checks of a request's own fields that need neither the
//! catalog nor the model, made before either is asked. What needs the model (capabilities, caps,
//! cache points) is checked as the request is converted for it (`convert/request.rs`).

use std::collections::HashMap;

use bedrock_gateway_proto::limits;

use crate::error::GatewayError;

type Result<T> = std::result::Result<T, GatewayError>;

/// A request's `model` is present and short enough to be a logical model name: checked before the
/// catalog is asked about it (an unknown name is echoed in the NOT_FOUND message).
pub fn check_model_name(model: &str) -> Result<()> {
    if model.is_empty() {
        return Err(GatewayError::invalid("model", "required: the name of a logical model, as listed by ListModels"));
    }
    let chars = model.chars().count();
    if chars > limits::MODEL_NAME_CHARS {
        return Err(GatewayError::invalid(
            "model",
            format!("{chars} characters; a logical model name has at most {}", limits::MODEL_NAME_CHARS),
        ));
    }
    Ok(())
}

/// Checks the count and lengths of a request's `request_metadata`.
pub fn check_labels(labels: &HashMap<String, String>) -> Result<()> {
    if labels.len() > limits::METADATA_ENTRIES {
        return Err(GatewayError::invalid(
            "request_metadata",
            format!("{} entries; at most {} are allowed", labels.len(), limits::METADATA_ENTRIES),
        ));
    }
    for (key, value) in labels {
        let chars = key.chars().count();
        if chars == 0 || chars > limits::METADATA_KEY_CHARS {
            // Only the start of a long key is echoed: the message is logged.
            let start: String = key.chars().take(16).collect();
            return Err(GatewayError::invalid(
                "request_metadata",
                format!(
                    "key {start:?}{} has {chars} characters; keys must have 1 to {}",
                    if chars > 16 { "..." } else { "" },
                    limits::METADATA_KEY_CHARS
                ),
            ));
        }
        let chars = value.chars().count();
        if chars > limits::METADATA_VALUE_CHARS {
            return Err(GatewayError::invalid(
                format!("request_metadata[{key:?}]"),
                format!("value has {chars} characters; at most {} are allowed", limits::METADATA_VALUE_CHARS),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit_holds(at_limit: HashMap<String, String>, over: HashMap<String, String>, field: &str, limit: &str) {
        if let Err(err) = check_labels(&at_limit) {
            panic!("at the limit, {field} passes: {err}");
        }
        match check_labels(&over) {
            Err(GatewayError::InvalidArgument { field: named, reason }) => {
                assert_eq!(named, field);
                assert!(reason.contains(limit), "{field}: {reason:?} says {limit:?}");
            }
            other => panic!("one over the limit, {field} is refused, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_model_is_named() {
        assert!(matches!(check_model_name(""), Err(GatewayError::InvalidArgument { field, .. }) if field == "model"));
    }

    #[test]
    fn model_name_and_metadata_lengths_are_limited() {
        let named = |chars| "m".repeat(chars);
        assert!(check_model_name(&named(limits::MODEL_NAME_CHARS)).is_ok());
        match check_model_name(&named(limits::MODEL_NAME_CHARS + 1)) {
            Err(GatewayError::InvalidArgument { field, reason }) => {
                assert_eq!(field, "model");
                assert!(reason.contains("at most 64"), "{reason}");
            }
            other => panic!("a 65-character name is refused, got {other:?}"),
        }

        let entries = |count: usize| (0..count).map(|index| (format!("k{index}"), "v".to_owned())).collect();
        limit_holds(
            entries(limits::METADATA_ENTRIES),
            entries(limits::METADATA_ENTRIES + 1),
            "request_metadata",
            "at most 16",
        );
        let key = |chars| [("k".repeat(chars), "v".to_owned())].into();
        limit_holds(
            key(limits::METADATA_KEY_CHARS),
            key(limits::METADATA_KEY_CHARS + 1),
            "request_metadata",
            "1 to 64",
        );
        let value = |chars| [("k".to_owned(), "v".repeat(chars))].into();
        limit_holds(
            value(limits::METADATA_VALUE_CHARS),
            value(limits::METADATA_VALUE_CHARS + 1),
            r#"request_metadata["k"]"#,
            "at most 256",
        );
    }
}
