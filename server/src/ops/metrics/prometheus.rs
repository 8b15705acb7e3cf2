//! The Prometheus side of the metrics: the process's recorder behind the `metrics` facade, which
//! the admin listener renders. The recorder is process-wide by the facade's design, so every
//! gateway of a process (tests run many) counts into the same series.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::{
    BEDROCK_ERRORS_TOTAL, CATALOG_RELOADS_TOTAL, CONNECTIONS_OPEN, DEPRECATED_CALLS_TOTAL, FALLBACKS_TOTAL,
    QUOTA_CHECK_DURATION_SECONDS, QUOTA_CHECKS_TOTAL, QUOTA_STORE_ERRORS_TOTAL, QUOTA_STORE_UP, QuotaCheck,
    REJECTIONS_TOTAL, REQUEST_DURATION_SECONDS, REQUESTS_TOTAL, Rejection, STREAMS_IN_FLIGHT, TENANTS_RELOADS_TOTAL,
    TIME_TO_FIRST_TOKEN_SECONDS, TOKENS_TOTAL,
};

/// Buckets of [`TIME_TO_FIRST_TOKEN_SECONDS`], from a cached prompt to a long reasoning model.
const TIME_TO_FIRST_TOKEN_BUCKETS: [f64; 18] =
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0];
/// Buckets of [`REQUEST_DURATION_SECONDS`], from a rejected call to the longest stream allowed.
const REQUEST_DURATION_BUCKETS: [f64; 15] =
    [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0];
/// Buckets of [`QUOTA_CHECK_DURATION_SECONDS`], from a check in process to a timed-out store.
const QUOTA_CHECK_DURATION_BUCKETS: [f64; 14] =
    [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25];
/// How often histogram samples are folded into their buckets when nothing scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder as the process's recorder and describes every series; later
/// calls (as from the many gateways of a test process) only return the same handle. Recordings
/// made before the first call are not counted: [`Metrics::new`](super::Metrics::new) calls it, so
/// that nothing recorded through a `Metrics` is lost, the gauges' increments and decrements included.
pub fn install() -> &'static PrometheusHandle {
    PROMETHEUS.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(TIME_TO_FIRST_TOKEN_SECONDS.to_owned()), &TIME_TO_FIRST_TOKEN_BUCKETS)
            .and_then(|builder| {
                builder.set_buckets_for_metric(
                    Matcher::Full(REQUEST_DURATION_SECONDS.to_owned()),
                    &REQUEST_DURATION_BUCKETS,
                )
            })
            .and_then(|builder| {
                builder.set_buckets_for_metric(
                    Matcher::Full(QUOTA_CHECK_DURATION_SECONDS.to_owned()),
                    &QUOTA_CHECK_DURATION_BUCKETS,
                )
            })
            .expect("bucket lists are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder was installed first; /metrics stays empty");
            return handle;
        }
        describe();
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new().name("metrics-upkeep".to_owned()).spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            }
        });
        if let Err(err) = spawned {
            tracing::warn!(%err, "cannot start the metrics upkeep thread; histograms are folded at scrapes only");
        }
        handle
    })
}

/// The Prometheus text exposition of every series, installing the recorder if needed.
pub fn render() -> String {
    let mut text = install().render();
    super::key_expiry::render(&mut text);
    text
}

fn describe() {
    describe_counter!(
        REQUESTS_TOTAL,
        Unit::Count,
        "Requests that reached a final status, by RPC, logical model, version, tenant, caller and gRPC code."
    );
    describe_counter!(REJECTIONS_TOTAL, Unit::Count, "Requests refused before reaching Bedrock, by reason.");
    describe_gauge!(STREAMS_IN_FLIGHT, Unit::Count, "Requests admitted and not yet finished, streams included.");
    describe_gauge!(CONNECTIONS_OPEN, Unit::Count, "Open client connections.");
    describe_histogram!(
        TIME_TO_FIRST_TOKEN_SECONDS,
        Unit::Seconds,
        "Time from receiving a request to its first content, by logical model and version."
    );
    describe_histogram!(
        REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "Time from receiving a request to its end, by RPC and logical model."
    );
    describe_counter!(
        TOKENS_TOTAL,
        Unit::Count,
        "Tokens, by logical model, tenant, caller and direction (input, output, cache_read, cache_write)."
    );
    describe_counter!(BEDROCK_ERRORS_TOTAL, Unit::Count, "Bedrock errors, by exception name.");
    describe_counter!(
        DEPRECATED_CALLS_TOTAL,
        Unit::Count,
        "Calls to deprecated logical models, by model, tenant and caller."
    );
    describe_gauge!(
        QUOTA_STORE_UP,
        Unit::Count,
        "1 while the Redis quota store answers, 0 while quotas are decided on the fallback limits."
    );
    describe_counter!(
        QUOTA_STORE_ERRORS_TOTAL,
        Unit::Count,
        "Calls to the Redis quota store that failed or timed out."
    );
    describe_counter!(QUOTA_CHECKS_TOTAL, Unit::Count, "Quota checks of requests with at least one quota, by result.");
    describe_counter!(
        FALLBACKS_TOTAL,
        Unit::Count,
        "Requests that went on to a model's next target because one had no capacity for them, by model, from_version and to_version."
    );
    describe_counter!(
        CATALOG_RELOADS_TOTAL,
        Unit::Count,
        "Checks of the catalog's source, by source (file, s3) and result (applied, unchanged, not_modified, invalid, unreachable)."
    );
    describe_counter!(
        TENANTS_RELOADS_TOTAL,
        Unit::Count,
        "Checks of the tenants' source, by source (file, s3) and result (applied, unchanged, not_modified, invalid, unreachable)."
    );
    describe_histogram!(
        QUOTA_CHECK_DURATION_SECONDS,
        Unit::Seconds,
        "How long quota checks held requests before Bedrock was called, by what decided them."
    );
    // Series whose labels are known up front start at zero, so that rates and alarms see their
    // first increase.
    for reason in Rejection::ALL {
        metrics::counter!(REJECTIONS_TOTAL, "reason" => reason.as_str()).increment(0);
    }
    for result in QuotaCheck::ALL {
        metrics::counter!(QUOTA_CHECKS_TOTAL, "result" => result.as_str()).increment(0);
    }
    metrics::counter!(QUOTA_STORE_ERRORS_TOTAL).increment(0);
    metrics::gauge!(STREAMS_IN_FLIGHT).increment(0.0);
    metrics::gauge!(CONNECTIONS_OPEN).increment(0.0);
}
