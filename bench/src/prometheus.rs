//! Reading the gateway's own counts: scenarios that must know what the gateway decided (refusals,
//! quota checks) read its Prometheus `/metrics` from its admin listener rather than guess it from
//! the client side.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest a `/metrics` read may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// Series of one `/metrics` read: the series as written (name and labels) -> value.
pub type Series = BTreeMap<String, f64>;

/// The value of label `key` in a series such as `name{a="x",b="y"}`.
pub fn label<'a>(series: &'a str, key: &str) -> Option<&'a str> {
    let labels = series.split_once('{')?.1.strip_suffix('}')?;
    labels
        .split("\",")
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix("=\""))
        .map(|value| value.trim_end_matches('"'))
}

/// Reads the gateway's Prometheus `/metrics` from its admin listener.
pub async fn scrape(admin: SocketAddr) -> std::io::Result<Series> {
    let read = async {
        let mut tcp = TcpStream::connect(admin).await?;
        tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n").await?;
        let mut text = String::new();
        tcp.read_to_string(&mut text).await?;
        Ok::<_, std::io::Error>(text)
    };
    let text = tokio::time::timeout(SCRAPE_TIMEOUT, read).await.map_err(std::io::Error::other)??;
    let (_, body) =
        text.split_once("\r\n\r\n").ok_or_else(|| std::io::Error::other("no HTTP response from /metrics"))?;
    Ok(body
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect())
}

/// The values of every series of counter `name`, keyed by their label `key`.
pub fn by_label(series: &Series, name: &str, key: &str) -> BTreeMap<String, f64> {
    let prefix = format!("{name}{{");
    series
        .iter()
        .filter(|(series, _)| series.starts_with(&prefix))
        .filter_map(|(series, value)| Some((label(series, key)?.to_owned(), *value)))
        .collect()
}

/// The quantile `q` of histogram `name`, all its label sets pooled, interpolated within its bucket
/// as Prometheus's `histogram_quantile` does; `None` without samples or beyond the last bound.
pub fn histogram_quantile(series: &Series, name: &str, q: f64) -> Option<f64> {
    let prefix = format!("{name}_bucket{{");
    let mut buckets = BTreeMap::<u64, (f64, f64)>::new();
    for (series, count) in series.iter().filter(|(series, _)| series.starts_with(&prefix)) {
        let bound = label(series, "le")?;
        let bound: f64 = if bound == "+Inf" { f64::INFINITY } else { bound.parse().ok()? };
        buckets.entry(bound.to_bits()).or_insert((bound, 0.0)).1 += count;
    }
    let mut buckets = buckets.into_values().collect::<Vec<_>>();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for (bound, cumulative) in buckets {
        if cumulative >= rank {
            return bound.is_finite().then(|| lower + (bound - lower) * (rank - below) / (cumulative - below).max(1.0));
        }
        (lower, below) = (bound, cumulative);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_pool_label_sets_and_interpolate() {
        let name = "bedrock_gateway_quota_check_duration_seconds";
        let bucket = |decider: &str, le: &str, count: f64| {
            (format!("{name}_bucket{{decided_by=\"{decider}\",le=\"{le}\"}}"), count)
        };
        let read = Series::from([
            bucket("allowance", "0.0001", 90.0),
            bucket("allowance", "0.001", 90.0),
            bucket("allowance", "+Inf", 90.0),
            bucket("redis", "0.0001", 0.0),
            bucket("redis", "0.001", 10.0),
            bucket("redis", "+Inf", 10.0),
            (format!("{name}_count{{decided_by=\"redis\"}}"), 10.0),
        ]);
        // Rank 99 of 100 lies 9 of the 10 samples into the (0.1 ms, 1 ms] bucket.
        let p99 = histogram_quantile(&read, name, 0.99).unwrap();
        assert!((p99 - 0.00091).abs() < 1e-9, "{p99}");
        assert!((histogram_quantile(&read, name, 0.5).unwrap() - 0.0001 * 50.0 / 90.0).abs() < 1e-12);
        assert_eq!(histogram_quantile(&Series::new(), name, 0.99), None);
    }

    #[test]
    fn labels_are_read_from_prometheus_series() {
        let series = r#"bedrock_gateway_requests_total{model="bench",caller="-",code="DeadlineExceeded"}"#;
        assert_eq!(label(series, "model"), Some("bench"));
        assert_eq!(label(series, "caller"), Some("-"));
        assert_eq!(label(series, "code"), Some("DeadlineExceeded"));
        assert_eq!(label(series, "reason"), None);
        let read = Series::from([
            (r#"bedrock_gateway_quota_checks_total{result="granted"}"#.to_owned(), 7.0),
            (r#"bedrock_gateway_quota_checks_total{result="exceeded"}"#.to_owned(), 0.0),
            (r#"bedrock_gateway_quota_checks_total_other{result="x"}"#.to_owned(), 1.0),
            (series.to_owned(), 4.0),
        ]);
        let checks = by_label(&read, "bedrock_gateway_quota_checks_total", "result");
        assert_eq!(checks, BTreeMap::from([("exceeded".to_owned(), 0.0), ("granted".to_owned(), 7.0)]));
    }
}
