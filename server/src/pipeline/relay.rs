//! The relay turns Bedrock's event stream into the client's v1 stream, one event at a time.
//!
//! It owns the invariant "a stream never lies": a stream it produces ends either with `stop` then
//! `usage`, or with an error status saying the answer is incomplete.
//!
//! Two parts share one stream's state:
//! - the [`RelayStream`] is the client's response body. tonic polls it, and it polls Bedrock
//!   directly (no task, no buffer), so each event costs no extra hand-off, and when the client goes
//!   away and tonic drops the stream, the Bedrock connection is dropped in the same moment;
//! - a watchdog task enforces the bounds that must hold even when nobody polls the stream (a
//!   client that stops reading stops the polling): the deadline, the shutdown cut, and the client
//!   stall timeout. When one fires it ends the stream itself: the Bedrock call and the admission
//!   slot are dropped at once, the log line records why, and the client gets the error status. A
//!   client that does not read cannot take the status, so once the stream has had
//!   [`FINAL_STATUS_GRACE`] to send it, the watchdog resets the stream (RST_STREAM), which frees what
//!   HTTP/2 buffered for it (see [`crate::pipeline::stream_reset`]).

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use bedrock_gateway_proto::v1;
use futures::Stream;
use tokio::task::AbortHandle;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tonic::Status;
use v1::converse_stream_event::Event;

use crate::error::GatewayError;
use crate::ops::metrics::Metrics;
use crate::pipeline::admission::Slot;
use crate::pipeline::catalog::Model;
use crate::pipeline::convert::events::{BlockNumbers, Relayed, relayed};
use crate::pipeline::convert::structured::ToolAnswer;
use crate::pipeline::metering::Metered;
use crate::pipeline::request_log::RequestLog;
use crate::pipeline::routing::Target;
use crate::pipeline::stream_reset::{FINAL_STATUS_GRACE, StreamReset};
use crate::upstream::bedrock::{BedrockStream, classify};

/// Everything a relay needs besides the Bedrock stream.
#[derive(Debug)]
pub struct RelayContext {
    /// The logical model answering.
    pub model: Arc<Model>,
    /// Its target that answers.
    pub target: Arc<Target>,
    /// When the stream must be complete.
    pub deadline: Instant,
    /// Longest silence from Bedrock tolerated.
    pub idle_timeout: Duration,
    /// Longest the stream waits for the client to take its next event.
    pub client_stall_timeout: Duration,
    /// The request's log line; also its id and receipt time.
    pub log: RequestLog,
    /// Where a Bedrock error mid-stream is counted.
    pub metrics: Metrics,
    /// Cancelled when the stream must be cut: the shutdown grace, or its connection's age grace, ended.
    pub cut: CancellationToken,
    /// Resets the stream once the watchdog has ended it and its status had time to go out.
    pub reset: StreamReset,
    /// The request's admission slot, freed when the relay ends.
    #[expect(dead_code, reason = "held, not read: dropping it frees the slot")]
    pub slot: Slot,
    /// The request's quota reservation, settled when the relay ends.
    pub metered: Metered,
    /// Whether the answer comes as a forced tool's input, to be relayed as text.
    pub tool_answer: bool,
}

/// Longest the relay waits for Bedrock's end of body after the last event before giving up on
/// reusing the connection.
const BODY_END_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Starting,
    Streaming,
    Stopped(v1::StopReason),
    /// Usage was sent; Bedrock's end of body may still be unread.
    Completed,
    Finished,
}

/// The Bedrock side of one stream: events in, v1 events out, in order, with Bedrock's silence bounded.
struct Relay {
    bedrock: BedrockStream,
    context: RelayContext,
    phase: Phase,
    /// The caller's numbers of the content blocks relayed so far.
    blocks: BlockNumbers,
    first_content_at: Option<Instant>,
    /// Fires at the idle timeout. Reset only when it fires early (events arrived since it was set),
    /// not on every event: a per-event timer costs a timer-wheel insert and removal per token, which
    /// showed in the gateway's profile under paced load.
    idle: Pin<Box<Sleep>>,
    /// When Bedrock last sent something.
    last_event_at: Instant,
    /// Turns a forced tool's answer into text; `None` on the normal path, which it costs a branch.
    tool_answer: Option<ToolAnswer>,
}

/// What the response body and the watchdog share.
struct Shared {
    /// `None` once the stream has ended, normally or by the watchdog.
    relay: Option<Relay>,
    /// The status to send after the watchdog ended the stream.
    ending: Option<Status>,
    /// Whether the client is taking what the stream has for it.
    activity: Arc<Activity>,
    /// `activity` as the waker the relay polls Bedrock and its timers with.
    relay_waker: Waker,
}

/// Tells when the stream last had something for the client that the client did not take.
///
/// The relay is polled only when the client can take more (HTTP/2 flow control), so a client that
/// stops reading shows as wake-ups (Bedrock sent something, a timer fired) with no poll after them,
/// or as an event handed out with no poll after it. Silence from Bedrock is not a stall: then
/// nothing wakes the stream. Its own locks, never held while polling, so a wake-up from inside a
/// poll cannot deadlock.
struct Activity {
    /// Set on an event handed out or the first wake-up after a poll; cleared by the next poll.
    waiting_on_client_since: Mutex<Option<Instant>>,
    /// The response body's task, to pass wake-ups on to.
    body: Mutex<Option<Waker>>,
}

impl Activity {
    fn waiting_on_client_since(&self) -> Option<Instant> {
        *lock(&self.waiting_on_client_since)
    }

    fn set_waiting(&self, since: Option<Instant>) {
        *lock(&self.waiting_on_client_since) = since;
    }

    fn wake_body(&self) {
        if let Some(body) = lock(&self.body).as_ref() {
            body.wake_by_ref();
        }
    }
}

impl Wake for Activity {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        lock(&self.waiting_on_client_since).get_or_insert_with(Instant::now);
        self.wake_body();
    }
}

/// The client's stream for one ConverseStream call.
pub struct RelayStream {
    shared: Arc<Mutex<Shared>>,
    watchdog: AbortHandle,
}

impl std::fmt::Debug for RelayStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayStream").finish_non_exhaustive()
    }
}

/// Starts relaying `bedrock` to the client, with its watchdog.
pub fn relay(bedrock: BedrockStream, context: RelayContext) -> RelayStream {
    let now = Instant::now();
    let bounds = Bounds {
        deadline: context.deadline,
        client_stall_timeout: context.client_stall_timeout,
        cut: context.cut.clone(),
        reset: context.reset.clone(),
    };
    let relay = Relay {
        bedrock,
        tool_answer: context.tool_answer.then(ToolAnswer::default),
        idle: Box::pin(tokio::time::sleep_until(now + context.idle_timeout)),
        context,
        phase: Phase::Starting,
        blocks: BlockNumbers::default(),
        first_content_at: None,
        last_event_at: now,
    };
    // Handed to tonic, the stream waits for its first poll like for any later one.
    let activity = Arc::new(Activity { waiting_on_client_since: Mutex::new(Some(now)), body: Mutex::new(None) });
    let relay_waker = Waker::from(Arc::clone(&activity));
    let shared = Arc::new(Mutex::new(Shared { relay: Some(relay), ending: None, activity, relay_waker }));
    let watchdog = tokio::spawn(watch(Arc::downgrade(&shared), bounds)).abort_handle();
    RelayStream { shared, watchdog }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; if something did, the state is still a valid one.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Stream for RelayStream {
    type Item = Result<v1::ConverseStreamEvent, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut shared = lock(&self.shared);
        let shared = &mut *shared;
        {
            let mut body = lock(&shared.activity.body);
            match &mut *body {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                waker => *waker = Some(cx.waker().clone()),
            }
        }
        shared.activity.set_waiting(None);
        let Some(relay) = shared.relay.as_mut() else {
            return Poll::Ready(shared.ending.take().map(Err));
        };
        match relay.poll_next(&mut Context::from_waker(&shared.relay_waker)) {
            Poll::Ready(Some(Ok(event))) => {
                shared.activity.set_waiting(Some(Instant::now()));
                Poll::Ready(Some(Ok(event)))
            }
            Poll::Ready(Some(Err(err))) => {
                let status = err.to_status(relay.context.log.request_id());
                // Ended: free the Bedrock connection and the slot now, not when tonic drops the body.
                shared.relay = None;
                Poll::Ready(Some(Err(status)))
            }
            Poll::Ready(None) => {
                shared.relay = None;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for RelayStream {
    fn drop(&mut self) {
        self.watchdog.abort();
    }
}

impl Shared {
    /// Ends the stream for `err`, unless its answer was already complete.
    fn end(&mut self, err: GatewayError) {
        let Some(relay) = self.relay.take() else { return };
        if relay.phase != Phase::Completed {
            relay.context.log.failed(&err);
            self.ending = Some(err.to_status(relay.context.log.request_id()));
        }
        drop(relay);
        self.activity.wake_body();
    }
}

/// The bounds the watchdog enforces.
struct Bounds {
    deadline: Instant,
    client_stall_timeout: Duration,
    cut: CancellationToken,
    reset: StreamReset,
}

/// Ends the stream at its deadline, when it is cut, or when the client has left an event untaken
/// for the stall timeout, then resets it once its status had time to go out. Holds the state
/// weakly: once the response body is gone there is nothing to end. A stream that finishes drops its
/// response body, which aborts this task, grace included.
async fn watch(shared: Weak<Mutex<Shared>>, bounds: Bounds) {
    let ended = end_when_due(shared, &bounds).await;
    if ended {
        tokio::time::sleep(FINAL_STATUS_GRACE).await;
        bounds.reset.reset();
    }
}

/// Waits for one of the bounds and ends the stream for it; false when the stream was already gone.
async fn end_when_due(shared: Weak<Mutex<Shared>>, bounds: &Bounds) -> bool {
    let mut check_at = bounds.deadline.min(Instant::now() + bounds.client_stall_timeout);
    loop {
        let cut = tokio::select! {
            biased;
            () = bounds.cut.cancelled() => true,
            () = tokio::time::sleep_until(check_at) => false,
        };
        let Some(shared) = shared.upgrade() else { return false };
        let mut shared = lock(&shared);
        let now = Instant::now();
        let stalled_at = shared.activity.waiting_on_client_since().map(|since| since + bounds.client_stall_timeout);
        let err = if cut {
            GatewayError::ShuttingDown
        } else if now >= bounds.deadline {
            GatewayError::DeadlineExceeded
        } else {
            match stalled_at {
                Some(at) if now >= at => GatewayError::ClientStalled(bounds.client_stall_timeout),
                Some(at) => {
                    check_at = at.min(bounds.deadline);
                    continue;
                }
                None => {
                    check_at = (now + bounds.client_stall_timeout).min(bounds.deadline);
                    continue;
                }
            }
        };
        shared.end(err);
        return true;
    }
}

impl Relay {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<v1::ConverseStreamEvent, GatewayError>>> {
        loop {
            match self.phase {
                Phase::Starting => {
                    self.phase = Phase::Streaming;
                    let model = &self.context.model;
                    return Poll::Ready(Some(Ok(event(Event::Start(v1::StreamStart {
                        request_id: self.context.log.request_id().to_owned(),
                        model: model.name.clone(),
                        model_version: self.context.target.version.clone(),
                    })))));
                }
                Phase::Completed => return self.poll_end_of_body(cx),
                Phase::Finished => return Poll::Ready(None),
                Phase::Streaming | Phase::Stopped(_) => {}
            }
            // Dropping a pending `recv` loses nothing: the receiver keeps its buffer in itself.
            let polled = pin!(self.bedrock.recv()).poll(cx);
            let received = match polled {
                Poll::Ready(received) => received,
                Poll::Pending => {
                    if self.idle.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    let idle_until = self.last_event_at + self.context.idle_timeout;
                    if Instant::now() >= idle_until {
                        return Poll::Ready(self.fail(GatewayError::StreamIdle(self.context.idle_timeout)));
                    }
                    self.idle.as_mut().reset(idle_until);
                    continue;
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
                    return Poll::Ready(self.fail(GatewayError::StreamTruncated { reason }));
                }
                Err(err) => {
                    return Poll::Ready(self.fail(classify(
                        err,
                        &self.context.model.name,
                        &self.context.target.model_id,
                        true,
                        &self.context.metrics,
                    )));
                }
            };
            let converted = match &mut self.tool_answer {
                None => relayed(bedrock_event),
                Some(tool_answer) => tool_answer.relayed(bedrock_event),
            };
            match (converted, self.phase) {
                (Relayed::Content(content), _) => {
                    let Some(content) = self.blocks.renumber(content) else { continue };
                    self.context.metered.relayed(&content);
                    if self.first_content_at.is_none() && matches!(content.event, Some(Event::ContentBlockDelta(_))) {
                        self.first_content_at = Some(Instant::now());
                    }
                    return Poll::Ready(Some(Ok(content)));
                }
                (Relayed::Stop(stop_reason), _) => {
                    self.phase = Phase::Stopped(stop_reason);
                    return Poll::Ready(Some(Ok(event(Event::Stop(v1::StreamStop {
                        stop_reason: stop_reason as i32,
                    })))));
                }
                (Relayed::Usage(usage), Phase::Stopped(stop_reason)) => {
                    return Poll::Ready(Some(Ok(self.finish(stop_reason, usage))));
                }
                (Relayed::Usage(_), _) => {
                    return Poll::Ready(
                        self.fail(GatewayError::StreamTruncated { reason: "usage arrived before the stop event" }),
                    );
                }
                (Relayed::Skip, _) => {}
            }
        }
    }

    /// Reads Bedrock's end of body, which lets the SDK pool the connection and spares the next call
    /// a TCP and TLS handshake; it is normally already buffered, so the grace rarely matters.
    fn poll_end_of_body(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<v1::ConverseStreamEvent, GatewayError>>> {
        let ended = pin!(self.bedrock.recv()).poll(cx).is_ready();
        if ended || self.idle.as_mut().poll(cx).is_ready() {
            self.phase = Phase::Finished;
            return Poll::Ready(None);
        }
        Poll::Pending
    }

    fn finish(&mut self, stop_reason: v1::StopReason, usage: v1::TokenUsage) -> v1::ConverseStreamEvent {
        self.phase = Phase::Completed;
        self.idle.as_mut().reset(Instant::now() + BODY_END_GRACE);
        let received_at = self.context.log.received_at();
        let time_to_first_token = self.first_content_at.map(|at| at - received_at);
        self.context.log.succeeded(stop_reason, usage, time_to_first_token);
        self.context.metered.settle(&usage);
        event(Event::Usage(v1::StreamUsage {
            usage: Some(usage),
            timing: Some(v1::Timing {
                time_to_first_token: time_to_first_token.map(proto_duration),
                total: Some(proto_duration(received_at.elapsed())),
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
