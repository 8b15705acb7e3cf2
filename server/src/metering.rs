//! A request's token reservation, settled with what the request used: Bedrock's reported usage
//! when the answer completes, else (a stream cancelled, cut or broken after Bedrock began) the
//! input estimate plus the output relayed so far. A request that never reached Bedrock's model
//! refunds everything. The reservation's concurrency places are freed with it.

use bedrock_gateway_proto::v1;

use crate::quota::QuotaGrant;

/// Bytes of output text per token, for the estimate of a stream that ended without usage.
const BYTES_PER_TOKEN: u64 = 4;

/// Settles the reservation it holds exactly once: explicitly, or when dropped.
#[derive(Debug)]
pub struct Metered {
    grant: Option<QuotaGrant>,
    input_estimate: u64,
    output_bytes: u64,
    /// Whether Bedrock began working on the request (and so may charge its input).
    started: bool,
}

impl Metered {
    /// Holds `grant` for a request whose input is estimated at `input_estimate` tokens.
    pub fn new(grant: QuotaGrant, input_estimate: u64) -> Metered {
        Metered { grant: Some(grant), input_estimate, output_bytes: 0, started: false }
    }

    /// Bedrock accepted the request and is answering.
    pub fn started(&mut self) {
        self.started = true;
    }

    /// Counts output relayed to the client.
    pub fn relayed(&mut self, event: &v1::ConverseStreamEvent) {
        use v1::content_block_delta::Delta;
        if let Some(v1::converse_stream_event::Event::ContentBlockDelta(v1::ContentBlockDelta {
            delta: Some(Delta::Text(text) | Delta::ToolUseInputJson(text) | Delta::ReasoningText(text)),
            ..
        })) = &event.event
        {
            self.output_bytes += text.len() as u64;
        }
    }

    /// Settles with Bedrock's own count: every token it bills, cache reads and writes included
    /// (what the usage's `total_tokens` counts).
    pub fn settle(&mut self, usage: &v1::TokenUsage) {
        if let Some(grant) = self.grant.take() {
            grant.settle(billed_tokens(usage));
        }
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        if let Some(grant) = self.grant.take() {
            let used = if self.started { self.input_estimate + self.output_bytes.div_ceil(BYTES_PER_TOKEN) } else { 0 };
            grant.settle(used);
        }
    }
}

/// The tokens a request is charged: input, cache reads, cache writes and output, as Bedrock counts
/// them towards its own token quotas.
fn billed_tokens(usage: &v1::TokenUsage) -> u64 {
    [usage.input_tokens, usage.cache_read_input_tokens, usage.cache_write_input_tokens, usage.output_tokens]
        .into_iter()
        .map(u64::from)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{QuotaLimits, QuotasConfig};
    use crate::quota::{QuotaRequest, Quotas};

    #[tokio::test(start_paused = true)]
    async fn prompt_cache_reads_and_writes_are_charged_with_the_rest() {
        let quotas = Quotas::connect(&QuotasConfig::default()).await;
        let limits =
            QuotaLimits { requests_per_minute: None, tokens_per_minute: Some(1000), concurrent_requests: None };
        let none = QuotaLimits { tokens_per_minute: None, ..limits };
        let request =
            |tokens| QuotaRequest { tenant: "t", model: "chat", tenant_limits: &limits, model_limits: &none, tokens };
        let grant = quotas.acquire(request(100)).await.unwrap();
        let usage = v1::TokenUsage {
            input_tokens: 10,
            output_tokens: 50,
            total_tokens: 660,
            cache_read_input_tokens: 500,
            cache_write_input_tokens: 100,
        };
        Metered::new(grant, 10).settle(&usage);
        // 660 of the minute's 1000 are spent: 340 remain, and no more.
        assert!(quotas.acquire(request(341)).await.is_err());
        assert!(quotas.acquire(request(340)).await.is_ok());
    }
}
