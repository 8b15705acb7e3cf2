//! Bounds on the request message while it arrives, before tonic buffers and decodes it:
//!
//! - **size**: refused with RESOURCE_EXHAUSTED as soon as the gRPC message header (an HTTP door's
//!   request: its `content-length`) declares a length over `server.max_request_bytes`, or more
//!   bytes than that arrive (tonic's own limit answers OUT_OF_RANGE, which tells a client nothing
//!   useful about what to change); logged with reason `size`;
//! - **time**: tonic reads the whole request (its one message and the end of the stream) before
//!   calling the service, so a client that sends slowly, or never ends its request, would otherwise
//!   hold a stream and memory as long as it likes; past `server.request_receive_timeout_secs` it is
//!   refused with DEADLINE_EXCEEDED, logged with reason `receive_timeout`;
//! - **memory**: every byte received is charged to one budget shared by all requests,
//!   `server.max_buffered_request_bytes`, and stays charged ([`RequestMemory`]) until the service
//!   has handed the request to Bedrock, since the decoded request, its conversion and the SDK's
//!   serialized body all live until then. The budget is shared fairly ([`Shares`]): one caller (its
//!   tenant, else its PrivateLink endpoint, else its address: [`CallerKey`]) holds at most
//!   `server.max_buffered_request_bytes_per_caller` of it, from its requests' first bytes, so a
//!   caller that never finishes its requests holds only its own share. A request that does not fit
//!   is refused with RESOURCE_EXHAUSTED and a short pushback, logged with reason `request_memory`
//!   (the whole budget) or `caller_request_memory` (the caller's share). Bytes are charged as they
//!   arrive, not as declared, so a client that declares a large message and sends nothing holds
//!   nothing. This is what ties the gateway's memory to its task size: see README.
//!
//! Every route passes these bounds; a control route's size bound is
//! [`CONTROL_MAX_REQUEST_BYTES`](super::route::CONTROL_MAX_REQUEST_BYTES).

use std::future::Future;
use std::pin::Pin;

use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;
use tonic::Status;
use tower::{Layer, Service};

use super::route::{CONTROL_MAX_REQUEST_BYTES, Route};
use crate::error::GatewayError;
use crate::ops::metrics::Rejection;
use crate::pipeline::admission::CallerKey;
use crate::pipeline::admission::shares::{Refusal, RequestMemory, Shares};
use crate::pipeline::request_log::RequestLog;

/// A gRPC message starts with a compression flag byte and a 4-byte big-endian length.
const MESSAGE_PREFIX_LEN: usize = 5;

/// The bounds of [`RequestBodyLimit`]; see the module documentation.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// `server.max_request_bytes`: the gateway service's request messages.
    pub max_request_bytes: usize,
    /// `server.request_receive_timeout_secs`.
    pub receive_timeout: Duration,
    /// `server.max_buffered_request_bytes`: all requests' bytes held at once.
    pub budget_bytes: usize,
    /// `server.max_buffered_request_bytes_per_caller`: one caller's share of the budget.
    pub per_caller_bytes: usize,
}

/// Layer for [`RequestBodyLimit`].
#[derive(Debug, Clone)]
pub struct RequestBodyLimitLayer {
    limits: BodyLimits,
    budget: Shares,
}

impl RequestBodyLimitLayer {
    /// Request bodies within `limits`, charged to one budget shared by every request of this layer.
    pub fn new(limits: BodyLimits) -> Self {
        RequestBodyLimitLayer { limits, budget: Shares::new(limits.budget_bytes, limits.per_caller_bytes) }
    }
}

impl<S> Layer<S> for RequestBodyLimitLayer {
    type Service = RequestBodyLimit<S>;

    fn layer(&self, inner: S) -> RequestBodyLimit<S> {
        RequestBodyLimit { inner, layer: self.clone() }
    }
}

/// Wraps each request body in a [`BoundedBody`].
#[derive(Debug, Clone)]
pub struct RequestBodyLimit<S> {
    inner: S,
    layer: RequestBodyLimitLayer,
}

impl<S, ReqBody> Service<http::Request<ReqBody>> for RequestBodyLimit<S>
where
    S: Service<http::Request<BoundedBody<ReqBody>>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> S::Future {
        let extensions = request.extensions();
        let route = Route::from_extensions(extensions);
        let charge = Charge {
            max_bytes: match route {
                Route::Gateway(_) | Route::Http(..) => self.layer.limits.max_request_bytes,
                Route::Control(_) => CONTROL_MAX_REQUEST_BYTES,
            },
            grpc: !matches!(route, Route::Http(..)),
            caller: CallerKey::of(extensions),
            log: extensions.get::<RequestLog>().cloned(),
            memory: RequestMemory::default(),
        };
        request.extensions_mut().insert(charge.memory.clone());
        let layer = self.layer.clone();
        self.inner.call(request.map(|body| BoundedBody::new(body, layer, charge)))
    }
}

/// What one request's body is bounded by and charged to.
#[derive(Debug)]
struct Charge {
    /// The size bound of its route.
    max_bytes: usize,
    /// Whether the body is gRPC messages, each declaring its length; else an HTTP door's request.
    grpc: bool,
    /// Whose share of the budget its bytes take.
    caller: CallerKey,
    log: Option<RequestLog>,
    memory: RequestMemory,
}

impl Charge {
    /// Records the refusal in the request's log line and makes its status.
    fn refuse(&self, reason: Rejection, err: &GatewayError) -> Status {
        if let Some(log) = &self.log {
            log.refused(reason, err);
        }
        err.to_status(self.log.as_ref().map(RequestLog::request_id).unwrap_or_default())
    }
}

pin_project_lite::pin_project! {
    /// A request body that fails once it is known to exceed its size or its time.
    #[derive(Debug)]
    pub struct BoundedBody<B> {
        #[pin]
        body: B,
        layer: RequestBodyLimitLayer,
        charge: Charge,
        deadline: Pin<Box<Sleep>>,
        prefix: [u8; MESSAGE_PREFIX_LEN],
        // Bytes received so far; the first MESSAGE_PREFIX_LEN of them are in `prefix`.
        seen: usize,
    }
}

impl<B> BoundedBody<B> {
    fn new(body: B, layer: RequestBodyLimitLayer, charge: Charge) -> Self {
        let deadline = Box::pin(tokio::time::sleep(layer.limits.receive_timeout));
        BoundedBody { body, layer, charge, deadline, prefix: [0; MESSAGE_PREFIX_LEN], seen: 0 }
    }
}

impl<B> Body for BoundedBody<B>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Status;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, Status>>> {
        let this = self.project();
        // Checked before reading, so a client trickling bytes cannot outrun the deadline.
        if this.deadline.is_elapsed() {
            let err = GatewayError::RequestNotReceived(this.layer.limits.receive_timeout);
            return Poll::Ready(Some(Err(this.charge.refuse(Rejection::ReceiveTimeout, &err))));
        }
        let limit = this.charge.max_bytes;
        if !this.charge.grpc && *this.seen == 0 && this.body.size_hint().lower() > limit as u64 {
            let err = GatewayError::RequestTooLarge { limit };
            return Poll::Ready(Some(Err(this.charge.refuse(Rejection::Size, &err))));
        }
        let frame = match this.body.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(err))) => return Poll::Ready(Some(Err(Status::from_error(err.into())))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {
                if this.deadline.as_mut().poll(cx).is_ready() {
                    // Woken by the deadline: report it on the next poll, right away.
                    cx.waker().wake_by_ref();
                }
                return Poll::Pending;
            }
        };
        if let Some(data) = frame.data_ref() {
            let filled = (*this.seen).min(MESSAGE_PREFIX_LEN);
            let chunk = data.chunk();
            let wanted = (MESSAGE_PREFIX_LEN - filled).min(chunk.len());
            this.prefix[filled..filled + wanted].copy_from_slice(&chunk[..wanted]);
            *this.seen += data.remaining();
            let too_large = if this.charge.grpc {
                let declared = (*this.seen >= MESSAGE_PREFIX_LEN).then(|| {
                    u32::from_be_bytes([this.prefix[1], this.prefix[2], this.prefix[3], this.prefix[4]]) as usize
                });
                declared.is_some_and(|len| len > limit) || *this.seen > limit + MESSAGE_PREFIX_LEN
            } else {
                *this.seen > limit
            };
            if too_large {
                let err = GatewayError::RequestTooLarge { limit };
                return Poll::Ready(Some(Err(this.charge.refuse(Rejection::Size, &err))));
            }
            // A data frame is at most 16 MiB (HTTP/2's largest frame size), so its length fits.
            let bytes = u32::try_from(data.remaining()).unwrap_or(u32::MAX);
            match this.layer.budget.take(&this.charge.caller, bytes) {
                Ok(bytes) => this.charge.memory.charge(bytes),
                Err(refusal) => {
                    let limits = &this.layer.limits;
                    let (reason, err) = match refusal {
                        Refusal::Total => {
                            (Rejection::RequestMemory, GatewayError::RequestMemoryFull { budget: limits.budget_bytes })
                        }
                        Refusal::Caller => (
                            Rejection::CallerRequestMemory,
                            GatewayError::CallerRequestMemoryFull { share: limits.per_caller_bytes },
                        ),
                    };
                    return Poll::Ready(Some(Err(this.charge.refuse(reason, &err))));
                }
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use http_body_util::{BodyExt, StreamBody};

    use super::*;
    use crate::edge::route::Protocol;

    fn layer(max_request_bytes: usize, budget_bytes: usize, per_caller_bytes: usize) -> RequestBodyLimitLayer {
        let receive_timeout = Duration::from_secs(10);
        RequestBodyLimitLayer::new(BodyLimits { max_request_bytes, receive_timeout, budget_bytes, per_caller_bytes })
    }

    fn caller(name: &str) -> CallerKey {
        CallerKey::Tenant(Arc::from(name))
    }

    fn charge(layer: &RequestBodyLimitLayer, caller: CallerKey, route: Route) -> Charge {
        let max_bytes = match route {
            Route::Gateway(_) | Route::Http(..) => layer.limits.max_request_bytes,
            Route::Control(_) => CONTROL_MAX_REQUEST_BYTES,
        };
        let grpc = !matches!(route, Route::Http(..));
        Charge { max_bytes, grpc, caller, log: None, memory: RequestMemory::default() }
    }

    fn body_of(
        chunks: Vec<&'static [u8]>,
        layer: &RequestBodyLimitLayer,
        charge: Charge,
    ) -> BoundedBody<impl Body<Data = Bytes, Error = Status> + use<>> {
        let frames = chunks.into_iter().map(|chunk| Ok::<_, Status>(Frame::data(Bytes::from_static(chunk))));
        BoundedBody::new(StreamBody::new(futures::stream::iter(frames)), layer.clone(), charge)
    }

    fn bounded(chunks: Vec<&'static [u8]>, max_bytes: usize) -> BoundedBody<impl Body<Data = Bytes, Error = Status>> {
        let layer = layer(max_bytes, 4096, 4096);
        let charge = charge(&layer, caller("a"), Route::Gateway("Converse"));
        body_of(chunks, &layer, charge)
    }

    /// A 7-byte message, 12 bytes on the wire.
    const SEVEN_BYTE_MESSAGE: &[u8] = &[0, 0, 0, 0, 7, 1, 2, 3, 4, 5, 6, 7];

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_even_when_the_prefix_is_split() {
        // Compression flag 0, then a declared length of 2000 bytes, split over two chunks.
        let mut body = bounded(vec![&[0, 0, 0], &[0x07, 0xD0, 1, 2]], 1024);
        assert!(body.frame().await.unwrap().is_ok(), "the first chunk does not yet say how long");
        let status = body.frame().await.unwrap().unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    }

    #[tokio::test]
    async fn a_message_within_the_limit_passes() {
        let mut body = bounded(vec![&[0, 0, 0, 0, 3], &[1, 2, 3]], 1024);
        while let Some(frame) = body.frame().await {
            assert!(frame.is_ok());
        }
    }

    #[tokio::test]
    async fn a_control_route_has_the_small_bound() {
        let layer = layer(4 * 1024 * 1024, 1 << 20, 1 << 20);
        // Declares 20,000 bytes: within the gateway's bound, over a control route's.
        let declared: &'static [u8] = &[0, 0, 0, 0x4E, 0x20];
        let mut control = body_of(vec![declared], &layer, charge(&layer, caller("a"), Route::Control("Health")));
        assert_eq!(control.frame().await.unwrap().unwrap_err().code(), tonic::Code::ResourceExhausted);
        let mut gateway = body_of(vec![declared], &layer, charge(&layer, caller("a"), Route::Gateway("Converse")));
        assert!(gateway.frame().await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn bytes_stay_charged_until_released_and_a_full_budget_refuses() {
        let layer = layer(1024, 16, 16);
        let first = charge(&layer, caller("a"), Route::Gateway("Converse"));
        let held = first.memory.clone();
        let mut body = body_of(vec![SEVEN_BYTE_MESSAGE], &layer, first);
        while let Some(frame) = body.frame().await {
            frame.unwrap();
        }
        drop(body);
        assert_eq!(layer.budget.available(), 4, "12 bytes held after the body is gone");
        let mut body =
            body_of(vec![SEVEN_BYTE_MESSAGE], &layer, charge(&layer, caller("b"), Route::Gateway("Converse")));
        let status = body.frame().await.unwrap().unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(status.message().contains("server.max_buffered_request_bytes"), "{}", status.message());
        held.release();
        assert_eq!(layer.budget.available(), 16);
    }

    #[tokio::test]
    async fn a_caller_holding_its_share_is_refused_while_another_is_served() {
        let layer = layer(1024, 64, 20);
        let first = charge(&layer, caller("greedy"), Route::Gateway("Converse"));
        let held = first.memory.clone();
        let mut body = body_of(vec![SEVEN_BYTE_MESSAGE], &layer, first);
        body.frame().await.unwrap().unwrap();
        let mut again =
            body_of(vec![SEVEN_BYTE_MESSAGE], &layer, charge(&layer, caller("greedy"), Route::Gateway("Converse")));
        let status = again.frame().await.unwrap().unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(status.message().contains("server.max_buffered_request_bytes_per_caller"), "{}", status.message());
        let mut other =
            body_of(vec![SEVEN_BYTE_MESSAGE], &layer, charge(&layer, caller("other"), Route::Gateway("Converse")));
        other.frame().await.unwrap().expect("another caller's request fits the budget");
        drop((body, held));
        assert_eq!(layer.budget.held_by(&caller("greedy")), 0);
    }

    #[tokio::test]
    async fn an_http_door_body_is_bounded_by_its_bytes_and_its_declared_length() {
        let layer = layer(8, 4096, 4096);
        let door = || charge(&layer, caller("a"), Route::Http(Protocol::OpenAi, "Embed"));
        let mut within = body_of(vec![b"{\"a\":1}"], &layer, door());
        assert!(within.frame().await.unwrap().is_ok(), "8 bytes, no gRPC prefix to allow for");
        let mut over = body_of(vec![b"{\"a\":1", b"23}"], &layer, door());
        assert!(over.frame().await.unwrap().is_ok());
        assert_eq!(over.frame().await.unwrap().unwrap_err().code(), tonic::Code::ResourceExhausted);
        drop((within, over));
        let declared = http_body_util::Full::new(Bytes::from_static(b"0123456789"));
        let mut declared = BoundedBody::new(declared, layer.clone(), door());
        let status = declared.frame().await.unwrap().unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted, "refused on its length, before its bytes");
        assert_eq!(layer.budget.available(), 4096, "nothing was charged");
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_still_arriving_at_its_deadline_is_refused() {
        let never_ends = StreamBody::new(futures::stream::pending::<Result<Frame<Bytes>, Status>>());
        let layer = layer(1024, 4096, 4096);
        let charge = charge(&layer, caller("a"), Route::Control("ServerReflection"));
        let mut body = BoundedBody::new(never_ends, layer, charge);
        let status = body.frame().await.unwrap().unwrap_err();
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
    }
}
