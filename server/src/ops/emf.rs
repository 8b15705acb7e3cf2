//! CloudWatch Embedded Metric Format: with `metrics.emf` on, one JSON line on stdout per interval
//! that CloudWatch Logs turns into metrics, so ECS autoscaling and alarms need neither an agent nor
//! a Prometheus scraper. The values are taken, at each interval, from the gateway's [`Metrics`], so
//! they are the same recordings as the Prometheus series; the names below are a contract with the
//! Terraform that tracks them.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::config::MetricsConfig;
use crate::ops::metrics::{IntervalSample, Metrics, TenantCounts};

/// The CloudWatch namespace.
pub const NAMESPACE: &str = "BedrockGateway";
/// The one dimension, set to `metrics.emf_service_name`.
pub const DIMENSION: &str = "ServiceName";
/// Requests in flight in this task at the end of the interval; what autoscaling tracks.
pub const STREAMS_IN_FLIGHT: &str = "StreamsInFlight";
/// Open client connections of this task at the end of the interval.
pub const CONNECTIONS_OPEN: &str = "ConnectionsOpen";
/// Requests that reached a final status during the interval.
pub const REQUESTS: &str = "Requests";
/// Requests refused before reaching Bedrock during the interval.
pub const REJECTIONS: &str = "Rejections";
/// Bedrock errors during the interval.
pub const BEDROCK_ERRORS: &str = "BedrockErrors";
/// Time to first token of the interval's requests, as a distribution (any percentile in CloudWatch).
pub const TIME_TO_FIRST_TOKEN: &str = "TimeToFirstToken";
/// The second dimension of the per-tenant metrics (`Requests`, `Rejections`, `InputTokens`,
/// `OutputTokens`, each by `ServiceName` and `Tenant`): one line per tenant with requests in the interval.
pub const TENANT_DIMENSION: &str = "Tenant";
/// Input tokens of the tenant's requests in the interval: as Bedrock reported them, or as
/// estimated for a stream that ended without its usage.
pub const INPUT_TOKENS: &str = "InputTokens";
/// Output tokens of the tenant's requests in the interval, likewise.
pub const OUTPUT_TOKENS: &str = "OutputTokens";

/// Writes the lines of `metrics`' interval every `metrics.emf_interval_secs` to stdout until `stop`
/// is cancelled.
pub async fn run(config: MetricsConfig, metrics: Metrics, stop: CancellationToken) {
    let period = config.emf_interval_secs.get();
    let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.cancelled() => return,
        }
        let timestamp_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis() as u64);
        let sample = metrics.take_interval();
        let mut text = line(&sample, &config.emf_service_name, timestamp_ms);
        text.push('\n');
        for (tenant, counts) in &sample.tenants {
            text.push_str(&tenant_line(tenant, counts, &config.emf_service_name, timestamp_ms));
            text.push('\n');
        }
        // One write for the interval, so that lines from other writers never interleave within a line.
        if let Err(err) = std::io::stdout().lock().write_all(text.as_bytes()) {
            tracing::warn!(%err, "cannot write the EMF lines to stdout");
        }
    }
}

/// The EMF document of one interval.
fn line(sample: &IntervalSample, service_name: &str, timestamp_ms: u64) -> String {
    let mut metrics = Vec::new();
    let mut root = Map::new();
    root.insert(DIMENSION.to_owned(), json!(service_name));
    let mut add = |name: &str, unit: &str, value: Value| {
        metrics.push(json!({ "Name": name, "Unit": unit }));
        root.insert(name.to_owned(), value);
    };
    add(STREAMS_IN_FLIGHT, "Count", json!(sample.streams_in_flight));
    add(CONNECTIONS_OPEN, "Count", json!(sample.connections_open));
    add(REQUESTS, "Count", json!(sample.requests));
    add(REJECTIONS, "Count", json!(sample.rejections));
    add(BEDROCK_ERRORS, "Count", json!(sample.bedrock_errors));
    // EMF refuses an empty distribution: with no first token in the interval there is no value.
    if !sample.time_to_first_token_ms.is_empty() {
        let (values, counts): (Vec<f64>, Vec<u64>) = sample.time_to_first_token_ms.iter().copied().unzip();
        add(TIME_TO_FIRST_TOKEN, "Milliseconds", json!({ "Values": values, "Counts": counts }));
    }
    root.insert(
        "_aws".to_owned(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{ "Namespace": NAMESPACE, "Dimensions": [[DIMENSION]], "Metrics": metrics }],
        }),
    );
    Value::Object(root).to_string()
}

/// The EMF document of one tenant's interval.
fn tenant_line(tenant: &str, counts: &TenantCounts, service_name: &str, timestamp_ms: u64) -> String {
    let metrics: Vec<Value> = [REQUESTS, REJECTIONS, INPUT_TOKENS, OUTPUT_TOKENS]
        .iter()
        .map(|name| json!({ "Name": name, "Unit": "Count" }))
        .collect();
    json!({
        DIMENSION: service_name,
        TENANT_DIMENSION: tenant,
        REQUESTS: counts.requests,
        REJECTIONS: counts.rejections,
        INPUT_TOKENS: counts.input_tokens,
        OUTPUT_TOKENS: counts.output_tokens,
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[DIMENSION, TENANT_DIMENSION]],
                "Metrics": metrics,
            }],
        },
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::metrics::Rejection;

    fn parse(sample: &IntervalSample) -> Value {
        let line = line(sample, "gateway-prod", 1_700_000_000_123);
        assert!(!line.contains('\n'), "one line: {line}");
        serde_json::from_str(&line).expect("the line is JSON")
    }

    fn declared(document: &Value) -> Vec<(String, String)> {
        document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .expect("a metric list")
            .iter()
            .map(|metric| (metric["Name"].as_str().unwrap().to_owned(), metric["Unit"].as_str().unwrap().to_owned()))
            .collect()
    }

    #[test]
    fn the_line_is_an_emf_document() {
        let sample = IntervalSample {
            streams_in_flight: 37,
            connections_open: 12,
            requests: 120,
            rejections: 3,
            bedrock_errors: 1,
            time_to_first_token_ms: vec![(181.02, 4), (215.27, 9), (1448.15, 1)],
            tenants: Default::default(),
        };
        let document = parse(&sample);
        let aws = &document["_aws"];
        assert_eq!(aws["Timestamp"], 1_700_000_000_123_u64);
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(aws["CloudWatchMetrics"].as_array().unwrap().len(), 1);
        assert_eq!(directive["Namespace"], "BedrockGateway");
        assert_eq!(directive["Dimensions"], json!([["ServiceName"]]));
        assert_eq!(document["ServiceName"], "gateway-prod");
        let declared = declared(&document);
        for (name, value) in [
            ("StreamsInFlight", 37),
            ("ConnectionsOpen", 12),
            ("Requests", 120),
            ("Rejections", 3),
            ("BedrockErrors", 1),
        ] {
            assert!(declared.contains(&(name.to_owned(), "Count".to_owned())), "{name} declared in {declared:?}");
            assert_eq!(document[name], value, "{name}");
        }
        assert!(declared.contains(&("TimeToFirstToken".to_owned(), "Milliseconds".to_owned())));
        assert_eq!(document["TimeToFirstToken"]["Values"], json!([181.02, 215.27, 1448.15]));
        assert_eq!(document["TimeToFirstToken"]["Counts"], json!([4, 9, 1]));
        // Every declared metric has its value at the root, as CloudWatch requires.
        for (name, _) in &declared {
            assert!(!document[name].is_null(), "{name} has a value");
        }
    }

    #[test]
    fn an_interval_without_first_tokens_declares_no_distribution() {
        let document = parse(&IntervalSample::default());
        assert_eq!(document["StreamsInFlight"], 0);
        assert_eq!(document["Requests"], 0);
        assert!(document.get("TimeToFirstToken").is_none());
        assert!(!declared(&document).iter().any(|(name, _)| name == "TimeToFirstToken"));
    }

    #[test]
    fn a_tenant_line_carries_its_counts_by_service_and_tenant() {
        let counts = TenantCounts { requests: 7, rejections: 2, input_tokens: 1200, output_tokens: 340 };
        let document: Value = serde_json::from_str(&tenant_line("payments", &counts, "gw", 1)).unwrap();
        assert_eq!(document["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["ServiceName", "Tenant"]]));
        assert_eq!((&document["ServiceName"], &document["Tenant"]), (&json!("gw"), &json!("payments")));
        for (name, value) in [("Requests", 7), ("Rejections", 2), ("InputTokens", 1200), ("OutputTokens", 340)] {
            assert!(declared(&document).contains(&(name.to_owned(), "Count".to_owned())), "{name}");
            assert_eq!(document[name], value, "{name}");
        }
    }

    #[test]
    fn the_line_is_made_of_what_the_metrics_recorded_since_the_last() {
        let metrics = Metrics::new();
        let _in_flight = metrics.in_flight();
        metrics.rejected(Rejection::Quota);
        let document = parse(&metrics.take_interval());
        assert_eq!((&document["StreamsInFlight"], &document["Rejections"]), (&json!(1), &json!(1)));
        let next = parse(&metrics.take_interval());
        assert_eq!((&next["StreamsInFlight"], &next["Rejections"]), (&json!(1), &json!(0)), "a gauge stays");
    }

    #[tokio::test(start_paused = true)]
    async fn run_stops_when_told() {
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(MetricsConfig::default(), Metrics::new(), stop.clone()));
        stop.cancel();
        tokio::time::timeout(std::time::Duration::from_secs(1), task).await.unwrap().unwrap();
    }
}
