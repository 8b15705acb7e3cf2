//! Figures for the unit tests of the report and of the scenarios' sections and targets: one side's
//! numbers, a difference of distributions, one server's side of the peer comparison.

use crate::scenario::SideStats;
use crate::scenario::peer::ServerSide;
use crate::stats::{Added, Summary};

/// A side that finished `streams` streams of 44 events in 15 measured seconds, with TTFT p50
/// `p50_ms` and each higher percentile 1 ms above the one before.
pub fn stats(streams: u64, errors: u64, p50_ms: f64, first_error: Option<&str>) -> SideStats {
    SideStats {
        ttft: Summary {
            count: streams,
            p50_ms,
            p90_ms: p50_ms + 1.0,
            p99_ms: p50_ms + 2.0,
            max_ms: p50_ms + 3.0,
            mean_ms: p50_ms,
        },
        streams,
        events: streams * 44,
        errors,
        first_error: first_error.map(str::to_owned),
        streams_per_sec: streams as f64 / 15.0,
        events_per_sec: (streams * 44) as f64 / 15.0,
    }
}

/// Added TTFT of `p50_ms` at p50 and p90, `p99_ms` at p99 and at the maximum.
pub fn added(p50_ms: f64, p99_ms: f64) -> Added {
    Added { p50_ms, p90_ms: p50_ms, p99_ms, max_ms: p99_ms }
}

/// A server's side of the peer comparison: `stats`, `p50_ms` added at p50 (three times that at
/// p99), ten more streams with the ramp-ups, `cpu_ms` per stream, 0.8 cores busy, the load
/// generator 0.5.
pub fn server(stats: SideStats, p50_ms: f64, cpu_ms: Option<f64>) -> ServerSide {
    ServerSide {
        added: added(p50_ms, p50_ms * 3.0),
        streams_with_ramp_up: stats.streams + 10,
        errors_with_ramp_up: stats.errors,
        stats,
        server_cpu_ms_per_stream: cpu_ms,
        server_cores: 0.8,
        load_generator_cores: 0.5,
    }
}
