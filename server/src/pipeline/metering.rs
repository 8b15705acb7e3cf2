//! A request's token reservation, settled with what the request used: Bedrock's reported usage
//! when the answer completes, else (a stream cancelled, cut or broken after Bedrock began) the
//! input estimate plus the output relayed so far. A request that never reached Bedrock's model
//! refunds everything. The reservation's concurrency places are freed with it.
//!
//! A charge on an estimate is also the request's usage: it goes to the request's record, so that
//! its log line and the tenant's token counts say what its quotas were charged.

use bedrock_gateway_proto::v1;

use crate::pipeline::quota::QuotaGrant;
use crate::pipeline::request_log::RequestLog;

/// Bytes of output text per token, for the estimate of a stream that ended without usage.
const BYTES_PER_TOKEN: u64 = 4;

/// Settles the reservation it holds exactly once: explicitly, or when dropped.
#[derive(Debug)]
pub struct Metered {
    grant: Option<QuotaGrant>,
    /// `None` where no tokens quota applies: the input is then not estimated.
    input_estimate: Option<u64>,
    output_bytes: u64,
    /// Whether Bedrock began working on the request (and so may charge its input).
    started: bool,
    /// Where a charge on an estimate is recorded.
    log: RequestLog,
}

impl Metered {
    /// Holds `grant` for the request of `log`, whose input is estimated at `input_estimate` tokens
    /// (`None`: not estimated, as no tokens quota applies).
    pub fn new(grant: QuotaGrant, input_estimate: Option<u64>, log: RequestLog) -> Metered {
        Metered { grant: Some(grant), input_estimate, output_bytes: 0, started: false, log }
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
        let Some(grant) = self.grant.take() else { return };
        if !self.started {
            return grant.settle(0);
        }
        let output = self.output_bytes.div_ceil(BYTES_PER_TOKEN);
        grant.settle(self.input_estimate.unwrap_or(0) + output);
        self.log.charged_estimate(self.input_estimate, output);
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
    use std::sync::Arc;

    use super::*;
    use crate::config::{QuotaLimits, QuotasConfig, TenantConfig};
    use crate::ops::metrics::{self, Metrics};
    use crate::pipeline::quota::{QuotaRequest, Quotas};
    use crate::pipeline::tenants::{Identity, IdentitySource, Tenant};

    #[tokio::test(start_paused = true)]
    async fn prompt_cache_reads_and_writes_are_charged_with_the_rest() {
        let quotas = Quotas::connect(&QuotasConfig::default(), "us-east-1").await;
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
        Metered::new(grant, Some(10), RequestLog::start("Converse", None, None, &Metrics::new())).settle(&usage);
        // 660 of the minute's 1000 are spent: 340 remain, and no more.
        assert!(quotas.acquire(request(341)).await.is_err());
        assert!(quotas.acquire(request(340)).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_cut_short_is_charged_its_estimate_and_its_record_counts_it_once() {
        let counted = Metrics::new();
        let quotas = Quotas::connect(&QuotasConfig::default(), "us-east-1").await;
        let limits =
            QuotaLimits { requests_per_minute: None, tokens_per_minute: Some(1000), concurrent_requests: None };
        let none = QuotaLimits { tokens_per_minute: None, ..limits };
        let request = |tokens| QuotaRequest {
            tenant: "metering-unit-tenant",
            model: "chat",
            tenant_limits: &limits,
            model_limits: &none,
            tokens,
        };
        let tenant = TenantConfig { quotas: limits, ..TenantConfig::default() };
        let log = RequestLog::start("ConverseStream", None, None, &counted);
        log.set_identity(&Identity {
            tenant: Arc::new(Tenant::from_config("metering-unit-tenant", &tenant)),
            key_name: None,
            source: IdentitySource::Unidentified,
        });
        let mut metered = Metered::new(quotas.acquire(request(130)).await.unwrap(), Some(30), log.clone());
        metered.started();
        let delta = v1::ContentBlockDelta {
            delta: Some(v1::content_block_delta::Delta::Text("ten bytes!".into())),
            ..Default::default()
        };
        metered.relayed(&v1::ConverseStreamEvent {
            event: Some(v1::converse_stream_event::Event::ContentBlockDelta(delta)),
        });
        // The client went away: no usage, no outcome.
        drop(metered);
        drop(log);
        let counts = counted.take_interval().tenants["metering-unit-tenant"];
        // Charged 30 + ceil(10 / 4) = 33 of the minute's 1000.
        assert!(quotas.acquire(request(968)).await.is_err());
        assert!(quotas.acquire(request(967)).await.is_ok());
        assert_eq!((counts.requests, counts.input_tokens, counts.output_tokens), (1, 30, 3), "the EMF counts");
        let text = metrics::render();
        for (direction, tokens) in [("input", 30), ("output", 3)] {
            let series = format!(
                "{}{{model=\"unknown\",tenant=\"metering-unit-tenant\",caller=\"-\",direction=\"{direction}\"}} {tokens}\n",
                metrics::TOKENS_TOTAL
            );
            assert!(text.contains(&series), "{series} in\n{text}");
        }
    }
}
