//! The bounds on a unary Bedrock call (Converse, CountTokens, InvokeModel) while it waits on
//! Bedrock, so that a Bedrock that hangs or stalls frees the call's admission slot and its
//! tenant's places as ConverseStream's bounds free a stream's.
//!
//! The SDK reads a unary answer whole before it returns, so nothing outside the SDK sees the answer
//! begin or its bytes arrive. An interceptor on the call ([`watch`]) records both: when the
//! response's headers arrive, and each chunk of its body. The caller's wait ([`within`]) looks at
//! that record only when a bound could have passed, and gives up by dropping the SDK's future,
//! which drops its HTTP request. Two bounds apply:
//!
//! - until the response begins, [`UnaryBounds::respond_within`], counted from the call's start
//!   across the SDK's retries, as the stream's open timeout is;
//! - then between the chunks of its body, [`UnaryBounds::idle`], as between a stream's events.
//!
//! The SDK's own `read_timeout` does not fit: it bounds only the wait for the headers, and it is a
//! setting of the HTTP connector, so a value for some calls only would give those calls a
//! connection pool of their own.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_sdk_bedrockruntime::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_bedrockruntime::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_types::body::SdkBody;
use http_body_util::BodyExt;
use tokio::time::Instant;

use crate::error::GatewayError;

/// How long one unary call may wait on Bedrock.
#[derive(Debug, Clone, Copy)]
pub struct UnaryBounds {
    /// Longest from the call's start until Bedrock's response begins.
    pub respond_within: Duration,
    /// The config key of `respond_within`, named in the refusal.
    pub respond_key: &'static str,
    /// Longest silence between the chunks of the response's body
    /// (`server.stream_idle_timeout_secs`).
    pub idle: Duration,
    /// The caller's deadline.
    pub deadline: Instant,
}

/// When the current attempt's response last showed progress: `None` until its headers arrive.
#[derive(Debug, Default)]
pub struct Progress(Mutex<Option<Instant>>);

impl Progress {
    fn last(&self) -> Option<Instant> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, last: Option<Instant>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = last;
    }
}

/// The interceptor to put on a unary call, and the record it keeps for [`within`].
pub fn watch() -> (Watch, Arc<Progress>) {
    let progress = Arc::new(Progress::default());
    (Watch(Arc::clone(&progress)), progress)
}

/// Records a call's progress in its [`Progress`].
#[derive(Debug)]
pub struct Watch(Arc<Progress>);

impl Intercept for Watch {
    fn name(&self) -> &'static str {
        "UnaryProgress"
    }

    /// A retry waits for its own response again.
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.set(None);
        Ok(())
    }

    /// The response has begun: from now on, each chunk of its body is progress.
    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.set(Some(Instant::now()));
        let progress = Arc::clone(&self.0);
        let body = std::mem::replace(context.response_mut().body_mut(), SdkBody::taken());
        let body = body.map_preserve_contents(move |body| {
            let progress = Arc::clone(&progress);
            SdkBody::from_body_1_x(body.map_frame(move |frame| {
                progress.set(Some(Instant::now()));
                frame
            }))
        });
        *context.response_mut().body_mut() = body;
        Ok(())
    }
}

/// Awaits `call`, which carries the [`Watch`] of `progress`, within `bounds`; `alias` names the
/// model in the refusal.
pub async fn within<T>(
    call: impl Future<Output = T>,
    progress: &Progress,
    bounds: &UnaryBounds,
    alias: &str,
) -> Result<T, GatewayError> {
    let started = Instant::now();
    let respond_by = started + bounds.respond_within;
    let mut call = pin!(call);
    loop {
        // The chunks that arrive in between only move the record; the wait is checked when the
        // bound it would pass at comes.
        let due = progress.last().map_or(respond_by, |last| last + bounds.idle);
        tokio::select! {
            biased;
            done = &mut call => return Ok(done),
            () = tokio::time::sleep_until(due.min(bounds.deadline)) => {}
        }
        let now = Instant::now();
        if now >= bounds.deadline {
            return Err(GatewayError::DeadlineExceeded);
        }
        match progress.last() {
            None if now >= respond_by => {
                return Err(GatewayError::BedrockOpenTimeout {
                    alias: alias.to_owned(),
                    after: bounds.respond_within,
                    key: bounds.respond_key,
                });
            }
            Some(last) if now >= last + bounds.idle => return Err(GatewayError::StreamIdle(bounds.idle)),
            _ => {}
        }
    }
}
