//! What the gateway itself counted while it was abused, from its `/metrics`: refusals by reason
//! and the streams it ended.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::prometheus::{Series, label};

/// What the gateway's `/metrics` counted during the abused rounds (normal clients included, who
/// are never refused and never end with these codes).
#[derive(Debug, Clone, Default, Serialize)]
pub struct GatewayCounts {
    /// Refusals by reason (`bedrock_gateway_rejections_total`).
    pub rejections: BTreeMap<String, u64>,
    /// Streams the gateway ended because their client took nothing for the client stall timeout
    /// (`bench` requests ending DeadlineExceeded).
    pub streams_ended_client_stalled: u64,
    /// `bench` requests whose client went away before they ended (Cancelled).
    pub streams_cancelled_by_client: u64,
}

impl GatewayCounts {
    /// Adds what changed between two reads.
    pub fn add(&mut self, before: &Series, after: &Series) {
        let delta = |series: &str| {
            let change =
                after.get(series).copied().unwrap_or_default() - before.get(series).copied().unwrap_or_default();
            change.max(0.0) as u64
        };
        for series in after.keys() {
            if series.starts_with("bedrock_gateway_rejections_total{")
                && let Some(reason) = label(series, "reason")
            {
                *self.rejections.entry(reason.to_owned()).or_default() += delta(series);
            }
            if series.starts_with("bedrock_gateway_requests_total{") && label(series, "model") == Some("bench") {
                match label(series, "code") {
                    Some("DeadlineExceeded") => self.streams_ended_client_stalled += delta(series),
                    Some("Cancelled") => self.streams_cancelled_by_client += delta(series),
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_counts_are_the_changes_between_reads() {
        let series = r#"bedrock_gateway_requests_total{model="bench",caller="-",code="DeadlineExceeded"}"#;
        let before = Series::from([(r#"bedrock_gateway_rejections_total{reason="receive_timeout"}"#.to_owned(), 3.0)]);
        let mut after = before.clone();
        after.insert(r#"bedrock_gateway_rejections_total{reason="receive_timeout"}"#.to_owned(), 10.0);
        after.insert(series.to_owned(), 4.0);
        let mut counts = GatewayCounts::default();
        counts.add(&before, &after);
        assert_eq!(counts.rejections["receive_timeout"], 7);
        assert_eq!(counts.streams_ended_client_stalled, 4);
    }
}
