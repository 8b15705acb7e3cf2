//! The relay turns Bedrock's event stream into the client's v1 stream, one event at a time.
//!
//! It owns the invariant "a stream never lies": a stream it produces ends either with `stop` then
//! `usage`, or with an error status saying the answer is incomplete. It polls Bedrock directly from
//! the client's response stream (no task, no buffer), so when the client goes away and tonic drops
//! the stream, the Bedrock connection is dropped in the same moment and Bedrock stops generating.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bedrock_gateway_proto::v1;
use futures::Stream;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tonic::Status;
use v1::converse_stream_event::Event;

use crate::bedrock::{BedrockStream, classify};
use crate::catalog::Model;
use crate::convert::events::{Relayed, relayed};
use crate::error::GatewayError;
use crate::request_log::RequestLog;

/// Everything a relay needs besides the Bedrock stream.
#[derive(Debug)]
pub struct RelayContext {
    /// The gateway's request id.
    pub request_id: String,
    /// The logical model answering.
    pub model: Arc<Model>,
    /// When the gateway received the request.
    pub received_at: Instant,
    /// When the stream must be complete.
    pub deadline: Instant,
    /// Longest silence from Bedrock tolerated.
    pub idle_timeout: Duration,
    /// The request's log line.
    pub log: RequestLog,
    /// Cancelled when the shutdown grace period ends.
    pub cut: CancellationToken,
}

/// Longest the relay waits for Bedrock's end of body after the last event before giving up on
/// reusing the connection.
const BODY_END_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Starting,
    Streaming,
    /// Usage was sent; Bedrock's end of body may still be unread.
    Completed,
    Stopped(v1::StopReason),
    Finished,
}

struct Relay {
    bedrock: BedrockStream,
    cut: Pin<Box<WaitForCancellationFutureOwned>>,
    context: RelayContext,
    phase: Phase,
    first_content_at: Option<Instant>,
    /// Fires at the idle or overall deadline. Reset only when it fires early (events arrived since
    /// it was set), not on every event: a per-event `timeout_at` costs a timer-wheel insert and
    /// removal per token, which showed in the gateway's profile under paced load.
    idle: Pin<Box<tokio::time::Sleep>>,
    /// When Bedrock last sent something.
    last_event_at: Instant,
}

/// The client's stream for one ConverseStream call.
pub fn relay(
    bedrock: BedrockStream,
    context: RelayContext,
) -> impl Stream<Item = Result<v1::ConverseStreamEvent, Status>> {
    let cut = Box::pin(context.cut.clone().cancelled_owned());
    let now = Instant::now();
    let idle = Box::pin(tokio::time::sleep_until(context.deadline.min(now + context.idle_timeout)));
    let relay =
        Relay { bedrock, cut, context, phase: Phase::Starting, first_content_at: None, idle, last_event_at: now };
    futures::stream::unfold(relay, |mut relay| async move {
        let item = relay.next().await?;
        let item = item.map_err(|err| err.to_status(&relay.context.request_id));
        Some((item, relay))
    })
}

impl Relay {
    async fn next(&mut self) -> Option<Result<v1::ConverseStreamEvent, GatewayError>> {
        loop {
            match self.phase {
                Phase::Starting => {
                    self.phase = Phase::Streaming;
                    return Some(Ok(event(Event::Start(v1::StreamStart {
                        request_id: self.context.request_id.clone(),
                        model: self.context.model.name.clone(),
                        model_version: self.context.model.version.clone(),
                    }))));
                }
                Phase::Completed => {
                    self.phase = Phase::Finished;
                    // Reading Bedrock's end of body lets the SDK pool the connection, which spares
                    // the next call a TCP and TLS handshake; it is normally already buffered.
                    let _ = tokio::time::timeout(BODY_END_GRACE, self.bedrock.recv()).await;
                    return None;
                }
                Phase::Finished => return None,
                Phase::Streaming | Phase::Stopped(_) => {}
            }
            let received = loop {
                tokio::select! {
                    biased;
                    received = self.bedrock.recv() => break received,
                    () = &mut self.cut => return self.fail(GatewayError::ShuttingDown),
                    () = &mut self.idle => {
                        let now = Instant::now();
                        if now >= self.context.deadline {
                            return self.fail(GatewayError::DeadlineExceeded);
                        }
                        let idle_until = self.last_event_at + self.context.idle_timeout;
                        if now >= idle_until {
                            return self.fail(GatewayError::StreamIdle(self.context.idle_timeout));
                        }
                        self.idle.as_mut().reset(idle_until.min(self.context.deadline));
                    }
                }
            };
            self.last_event_at = Instant::now();
            let bedrock_event = match received {
                Ok(Some(bedrock_event)) => bedrock_event,
                Ok(None) => {
                    let reason = match self.phase {
                        Phase::Stopped(_) => "no usage after the stop event",
                        _ => "no stop event",
                    };
                    return self.fail(GatewayError::StreamTruncated { reason });
                }
                Err(err) => return self.fail(classify(err, &self.context.model, true)),
            };
            match (relayed(bedrock_event), self.phase) {
                (Relayed::Content(content), _) => {
                    if self.first_content_at.is_none() && matches!(content.event, Some(Event::ContentBlockDelta(_))) {
                        self.first_content_at = Some(Instant::now());
                    }
                    return Some(Ok(content));
                }
                (Relayed::Stop(stop_reason), _) => {
                    self.phase = Phase::Stopped(stop_reason);
                    return Some(Ok(event(Event::Stop(v1::StreamStop { stop_reason: stop_reason as i32 }))));
                }
                (Relayed::Usage(usage), Phase::Stopped(stop_reason)) => {
                    return Some(Ok(self.finish(stop_reason, usage)));
                }
                (Relayed::Usage(_), _) => {
                    return self.fail(GatewayError::StreamTruncated { reason: "usage arrived before the stop event" });
                }
                (Relayed::Skip, _) => {}
            }
        }
    }

    fn finish(&mut self, stop_reason: v1::StopReason, usage: v1::TokenUsage) -> v1::ConverseStreamEvent {
        self.phase = Phase::Completed;
        let time_to_first_token = self.first_content_at.map(|at| at - self.context.received_at);
        self.context.log.succeeded(stop_reason, usage, time_to_first_token);
        event(Event::Usage(v1::StreamUsage {
            usage: Some(usage),
            timing: Some(v1::Timing {
                time_to_first_token: time_to_first_token.map(proto_duration),
                total: Some(proto_duration(self.context.received_at.elapsed())),
            }),
        }))
    }

    fn fail(&mut self, err: GatewayError) -> Option<Result<v1::ConverseStreamEvent, GatewayError>> {
        self.phase = Phase::Finished;
        self.context.log.failed(&err);
        Some(Err(err))
    }
}

fn event(event: Event) -> v1::ConverseStreamEvent {
    v1::ConverseStreamEvent { event: Some(event) }
}

/// Converts to the protobuf well-known Duration.
pub fn proto_duration(duration: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(duration.subsec_nanos()).unwrap_or_default(),
    }
}
