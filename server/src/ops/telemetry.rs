//! Logs and traces. Logs are JSON lines for CloudWatch or text for a terminal, on stderr, filtered
//! by `logging.filter` (overridden by `RUST_LOG` when set). Each request runs in a span
//! ([`request_span`]) whose parent is the caller's W3C `traceparent`, and whose `trace_id` field
//! puts the trace id in the request's log lines even when nothing is exported. With
//! `telemetry.otlp_endpoint` set, spans are also exported over OTLP/HTTP.

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TraceId, TracerProvider as _};
use opentelemetry_otlp::{ExporterBuildError, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{Config, LogFormat};

/// The OpenTelemetry `service.name` of exported spans.
const SERVICE_NAME: &str = "bedrock-gateway";

/// Logging or trace export could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// `logging.filter` does not parse (validation refuses it first).
    #[error("logging.filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    /// The exporter to `telemetry.otlp_endpoint` could not be built.
    #[error("telemetry.otlp_endpoint: {0}")]
    Export(#[from] ExporterBuildError),
}

/// Keeps trace export running; dropping it flushes the spans not yet sent.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(err) = provider.shutdown()
        {
            tracing::warn!(%err, "trace export did not shut down cleanly");
        }
    }
}

/// Installs the global subscriber: the log layer, and the OpenTelemetry layer when
/// `telemetry.otlp_endpoint` is set. Later calls (as in tests) install nothing, but still return
/// a guard.
pub fn init(config: &Config) -> Result<Telemetry, TelemetryError> {
    let filter = match EnvFilter::try_from_default_env() {
        Ok(filter) => filter,
        Err(_) => config.logging.env_filter()?,
    };
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match config.logging.format {
        LogFormat::Json => logs.json().flatten_event(true).boxed(),
        LogFormat::Text => logs.boxed(),
    };
    let provider = config.telemetry.otlp_endpoint.as_deref().map(tracer_provider).transpose()?;
    let traces =
        provider.as_ref().map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer(SERVICE_NAME)));
    let _ = tracing_subscriber::registry().with(logs).with(traces).with(filter).try_init();
    Ok(Telemetry { provider })
}

/// Batches spans to `<endpoint>/v1/traces` on a thread of its own (OTLP/HTTP, protobuf).
fn tracer_provider(endpoint: &str) -> Result<SdkTracerProvider, ExporterBuildError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(SERVICE_NAME).build())
        .build())
}

/// The span of one request, made from its HTTP headers: a child of the caller's span when they
/// carry a valid W3C `traceparent`, else the root of a new trace. Its `trace_id` field holds the
/// trace id: the caller's, or the one the OpenTelemetry layer started (none without export and
/// without a `traceparent`); it is also returned, for the request's log line, which may be written
/// after the span has closed.
pub fn request_span(headers: &http::HeaderMap) -> (tracing::Span, Option<TraceId>) {
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    let remote = parent.span().span_context().trace_id();
    let span = tracing::info_span!("request", otel.kind = "server", trace_id = tracing::field::Empty);
    let trace_id = if remote != TraceId::INVALID {
        // Fails only without the OpenTelemetry layer (no export) or with the span filtered out;
        // the trace id is logged either way.
        let _ = span.set_parent(parent);
        remote
    } else {
        span.context().span().span_context().trace_id()
    };
    if trace_id == TraceId::INVALID {
        return (span, None);
    }
    span.record("trace_id", tracing::field::display(trace_id));
    (span, Some(trace_id))
}

/// Reads propagation headers from an `http::HeaderMap`.
struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::SpanId;
    use tracing_subscriber::Registry;

    use super::*;

    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT_ID: &str = "00f067aa0ba902b7";

    fn headers(traceparent: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", traceparent.parse().unwrap());
        headers
    }

    fn valid() -> http::HeaderMap {
        headers(&format!("00-{TRACE_ID}-{PARENT_ID}-01"))
    }

    /// A subscriber with the OpenTelemetry layer, as `init` installs it when export is on.
    fn with_otel_layer<T>(f: impl FnOnce() -> T) -> T {
        let tracer = SdkTracerProvider::builder().build().tracer("test");
        let subscriber = Registry::default().with(tracing_opentelemetry::layer().with_tracer(tracer));
        tracing::subscriber::with_default(subscriber, f)
    }

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The JSON log line of one event inside the request span, with the JSON log layer only, as
    /// `init` installs it when export is off.
    fn logged_within(headers: &http::HeaderMap) -> serde_json::Value {
        let captured = Captured::default();
        let writer = captured.clone();
        let logs = tracing_subscriber::fmt::layer().json().flatten_event(true).with_writer(move || writer.clone());
        tracing::subscriber::with_default(Registry::default().with(logs), || {
            request_span(headers).0.in_scope(|| tracing::info!("inside"));
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        serde_json::from_str(text.trim()).expect("one JSON line")
    }

    #[test]
    fn a_valid_traceparent_becomes_the_parent() {
        let (trace_id, span_id) = with_otel_layer(|| {
            let cx = request_span(&valid()).0.context();
            let span_context = cx.span().span_context().clone();
            (span_context.trace_id(), span_context.span_id())
        });
        assert_eq!(trace_id, TraceId::from_hex(TRACE_ID).unwrap());
        assert_ne!(span_id, SpanId::from_hex(PARENT_ID).unwrap(), "the request span is the caller's child");
        assert_ne!(span_id, SpanId::INVALID);
    }

    #[test]
    fn without_a_valid_traceparent_a_new_trace_starts() {
        for traceparent in ["00-00000000000000000000000000000000-00f067aa0ba902b7-01", "garbage"] {
            let trace_id =
                with_otel_layer(|| request_span(&headers(traceparent)).0.context().span().span_context().trace_id());
            assert_ne!(trace_id, TraceId::INVALID, "{traceparent}");
            assert_ne!(trace_id, TraceId::from_hex(TRACE_ID).unwrap());
        }
    }

    #[test]
    fn the_trace_id_is_logged_without_export() {
        let line = logged_within(&valid());
        assert_eq!(line["span"]["trace_id"], TRACE_ID, "{line}");
        let line = logged_within(&http::HeaderMap::new());
        assert!(line["span"].get("trace_id").is_none(), "no trace, no id: {line}");
    }
}
