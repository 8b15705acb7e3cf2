//! The door's error table: the statuses and bodies that make the `openai` packages raise the
//! right class, and the SSE error event made from the same table.

use std::time::Duration;

use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tonic::Status;

use super::events;
use crate::doors::openai::error_response;
use crate::doors::openai::errors::error_event;
use crate::error::{GatewayError, QuotaRetry, Reservation};

/// The status, headers and body `status` is answered with.
fn answered(status: &Status) -> (StatusCode, HeaderMap, Value) {
    let response = error_response(status);
    let (parts, body) = response.into_parts();
    let bytes = futures::executor::block_on(body.collect()).unwrap().to_bytes();
    (parts.status, parts.headers, serde_json::from_slice(&bytes).unwrap())
}

fn quota(retry: QuotaRetry) -> GatewayError {
    GatewayError::QuotaExceeded {
        quota: "tenants.payments.quotas.tokens_per_minute".into(),
        limit: 1000,
        retry,
        reserved: 1500,
        reserved_for: Reservation::Answer,
    }
}

#[test]
fn each_error_has_its_openai_status_type_and_code() {
    let cases: Vec<(GatewayError, u16, &str, Value)> = vec![
        (GatewayError::invalid("messages[0].content", "must not be empty"), 400, "invalid_request_error", Value::Null),
        (
            GatewayError::ModelRetired { alias: "old".into(), replacement: "chat".into() },
            400,
            "invalid_request_error",
            json!("model_retired"),
        ),
        (
            GatewayError::Unsupported { alias: "chat".into(), rpc: "CountTokens", capability: "count_tokens" },
            400,
            "invalid_request_error",
            json!("unsupported_model"),
        ),
        (GatewayError::RequestTooLarge { limit: 10 }, 400, "invalid_request_error", json!("request_too_large")),
        (quota(QuotaRetry::Never), 400, "invalid_request_error", json!("request_too_large")),
        (
            GatewayError::Unauthenticated { reason: "unknown key".into() },
            401,
            "invalid_request_error",
            json!("invalid_api_key"),
        ),
        (
            GatewayError::ModelNotAllowed { alias: "chat".into() },
            403,
            "invalid_request_error",
            json!("permission_denied"),
        ),
        (
            GatewayError::UnknownModel { alias: "gpt-4o".into(), known: "chat".into() },
            404,
            "invalid_request_error",
            json!("model_not_found"),
        ),
        (quota(QuotaRetry::After(Duration::from_millis(1234))), 429, "rate_limit_error", json!("rate_limit_exceeded")),
        (GatewayError::AtCapacity { limit: 1 }, 429, "rate_limit_error", json!("rate_limit_exceeded")),
        (GatewayError::ShuttingDown, 503, "server_error", json!("service_unavailable")),
        (GatewayError::DeadlineExceeded, 504, "server_error", json!("timeout")),
    ];
    for (err, status, kind, code) in cases {
        let (answered_status, headers, body) = answered(&err.to_status("req-1"));
        assert_eq!(answered_status.as_u16(), status, "{err:?}");
        assert_eq!(body["error"]["type"], kind, "{err:?}");
        assert_eq!(body["error"]["code"], code, "{err:?}");
        assert_eq!(body["error"]["message"], err.to_string(), "{err:?}");
        assert_eq!(headers["x-request-id"], "req-1", "{err:?}");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers.contains_key("retry-after"), status == 429, "{err:?}");
    }
    let (status, _, body) = answered(&Status::internal("boom"));
    assert_eq!(
        (status.as_u16(), &body["error"]["type"], &body["error"]["code"]),
        (500, &json!("server_error"), &Value::Null)
    );
}

#[test]
fn a_429_says_when_to_retry_in_seconds_rounded_up_and_in_milliseconds() {
    let (_, headers, _) = answered(&quota(QuotaRetry::After(Duration::from_millis(1234))).to_status("r"));
    assert_eq!(
        (&headers["retry-after"], &headers["retry-after-ms"]),
        (&"2".parse().unwrap(), &"1234".parse().unwrap())
    );
    let (_, headers, _) = answered(&GatewayError::AtCapacity { limit: 1 }.to_status("r"));
    assert_eq!((&headers["retry-after"], &headers["retry-after-ms"]), (&"1".parse().unwrap(), &"100".parse().unwrap()));
    let (status, headers, _) = answered(&Status::resource_exhausted("throttled mid-stream"));
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(!headers.contains_key("retry-after"), "no pushback, no wait to tell");
}

#[test]
fn param_names_the_field_a_refusal_begins_with() {
    let param = |err: GatewayError| answered(&err.to_status("r")).2["error"]["param"].clone();
    assert_eq!(
        param(GatewayError::invalid("messages[2].content[0].image_url.url", "must be a data URL")),
        "messages[2].content[0].image_url.url"
    );
    assert_eq!(param(GatewayError::invalid("metadata.team", "too long")), "metadata.team");
    assert_eq!(param(GatewayError::UnknownModel { alias: "x".into(), known: "chat".into() }), "model");
    assert_eq!(param(quota(QuotaRetry::Never)), Value::Null, "a quota's message begins with no field");
    assert_eq!(param(GatewayError::Unauthenticated { reason: "no key: send one".into() }), Value::Null);
    let (_, _, body) = answered(&Status::unavailable("model: x"));
    assert_eq!(body["error"]["param"], Value::Null, "server errors name no param");
}

#[test]
fn the_stream_error_event_is_the_same_error_object() {
    for status in [
        GatewayError::ShuttingDown.to_status("r"),
        GatewayError::invalid("tools[0].function.name", "bad").to_status("r"),
        quota(QuotaRetry::After(Duration::from_secs(3))).to_status("r"),
    ] {
        let event = error_event(&status);
        let data = events(&event);
        assert_eq!(data.len(), 1);
        let (_, _, body) = answered(&status);
        assert_eq!(serde_json::from_str::<Value>(&data[0]).unwrap(), body);
    }
}
