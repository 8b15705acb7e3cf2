//! The gateway's log lines, captured.

use std::time::Duration;

/// The log lines of this test process, captured in memory as the gateway writes them by default
/// (JSON, `info`, every target). The subscriber is process-wide, so tests of one binary share the
/// capture and tell their lines apart by request id or labels.
#[derive(Debug, Clone)]
pub struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    /// The capture of this process, installing its subscriber on the first call.
    pub fn install() -> LogCapture {
        static CAPTURE: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
        CAPTURE
            .get_or_init(|| {
                let capture = LogCapture(std::sync::Arc::default());
                let writer = capture.clone();
                tracing_subscriber::fmt()
                    .json()
                    .flatten_event(true)
                    .with_env_filter("info")
                    .with_writer(move || writer.clone())
                    .init();
                capture
            })
            .clone()
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())).into_owned()
    }

    /// The request log lines (target `bedrock_gateway::request`) written so far, parsed.
    pub fn request_lines(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|line| line["target"] == "bedrock_gateway::request")
            .collect()
    }

    /// Waits up to 2 s for the request log line of `request_id` (written when the request's last
    /// piece is dropped, just after its end).
    pub async fn request_line(&self, request_id: &str) -> serde_json::Value {
        for _ in 0..100 {
            if let Some(line) = self.request_lines().into_iter().find(|line| line["request_id"] == request_id) {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no request log line for {request_id} in:\n{}", self.text());
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
