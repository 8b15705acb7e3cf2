//! Reading the gateway's Prometheus metrics.

/// The value of one series of this process's metrics, exactly as the Prometheus text writes it
/// (`name{label="value",...}`); 0 when absent. Installs the recorder if needed.
pub fn metric(series: &str) -> f64 {
    let text = bedrock_gateway::metrics::render();
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0.0)
}

/// The value of the series `name` whose labels include all of `labels` in `text`, a `/metrics`
/// scrape ([`TestGateway::admin_get`]), summed over every such series (so `&[]` totals a counter
/// over all its labels); `None` when there is none. Histogram parts are series of their own:
/// `<name>_bucket` (with `le`), `<name>_sum`, `<name>_count`.
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut total = None;
    for line in text.lines().filter(|line| !line.starts_with('#') && !line.trim().is_empty()) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let (series_name, series_labels) = match series.split_once('{') {
            Some((series_name, rest)) => (series_name, parse_labels(rest.strip_suffix('}').unwrap_or(rest))),
            None => (series, Vec::new()),
        };
        let matches = series_name == name
            && labels.iter().all(|(key, wanted)| series_labels.iter().any(|(k, v)| k == key && v == wanted));
        if matches {
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("a number in {line:?}"));
            *total.get_or_insert(0.0) += value;
        }
    }
    total
}

/// `key="value",...` with the text format's escapes (`\\`, `\"`, `\n`) in values.
fn parse_labels(text: &str) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    let mut chars = text.chars();
    loop {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect::<String>().trim_matches(',').to_owned();
        if key.is_empty() || chars.next() != Some('"') {
            return labels;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(escaped) => value.push(escaped),
                    None => break,
                },
                c => value.push(c),
            }
        }
        labels.push((key, value));
    }
}
