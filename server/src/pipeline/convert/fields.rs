//! Checks of single request fields that more than one conversion makes: each refusal names the
//! field.

use aws_smithy_types::Document;

use super::json::{self, Budget, ParseError};
use crate::error::GatewayError;
use bedrock_gateway_proto::limits;

type Result<T> = std::result::Result<T, GatewayError>;

/// A Bedrock type's builder result, its error blamed on `field`.
pub fn built<T>(
    field: &str,
    result: std::result::Result<T, aws_smithy_types::error::operation::BuildError>,
) -> Result<T> {
    result.map_err(|err| GatewayError::invalid(field, err.to_string()))
}

/// Whether `name` is a tool name Bedrock accepts.
pub fn valid_tool_name(name: &str) -> bool {
    (1..=limits::TOOL_NAME_CHARS).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

/// `text` parsed as JSON within the request's `budget` of JSON values.
pub fn json_value(text: &str, field: &str, budget: &mut Budget) -> Result<Document> {
    json::parse(text, budget).map_err(|err| match err {
        ParseError::Invalid(err) => GatewayError::invalid(field, format!("is not valid JSON: {err}")),
        ParseError::OverBudget => GatewayError::invalid(
            field,
            format!(
                "the request's tool schemas, tool inputs and tool-result JSON hold more than {} JSON values",
                limits::JSON_VALUES
            ),
        ),
    })
}

/// `text` parsed as a JSON object within `budget`.
pub fn json_object(text: &str, field: &str, budget: &mut Budget) -> Result<Document> {
    let document = json_value(text, field, budget)?;
    if !matches!(document, Document::Object(_)) {
        return Err(GatewayError::invalid(field, "must be a JSON object, as in {\"key\": \"value\"}"));
    }
    Ok(document)
}
