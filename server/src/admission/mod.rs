//! Admission: everything that decides whether a request may use the gateway, as pieces readable one
//! at a time. Outermost first:
//!
//! 1. [`RequestEdge`] gives the request its id and starts its log line, so every refusal below is
//!    logged once, with a reason, and answered with `x-request-id`.
//! 2. [`GrpcContentType`]: only gRPC with protobuf messages is read.
//! 3. [`Identify`]: which tenant the request is from, and whether it may call at all.
//! 4. [`RequestBodyLimit`]: how large the request message may be, how long it may take to arrive,
//!    and how many bytes of all requests may be held at once.
//! 5. [`Admission`], taken by the service once the message is complete: how many requests may be in
//!    flight, in total and per caller. Its [`Slot`] is held by the stream until it ends.
//! 6. The tenant's model access and quotas, checked by the service once the model is known (see
//!    [`crate::quota`]).
//!
//! Each refuses with a clear status and leaves the server serving everyone else.

mod concurrency;
mod content_type;
mod edge;
mod identity;
mod request_body;

pub use concurrency::{Admission, CallerKey, Slot};
pub use content_type::{GrpcContentType, GrpcContentTypeLayer};
pub use edge::{RequestEdge, RequestEdgeLayer};
pub use identity::{Identify, IdentifyLayer};
pub use request_body::{BoundedBody, RequestBodyLimit, RequestBodyLimitLayer, RequestMemory};
