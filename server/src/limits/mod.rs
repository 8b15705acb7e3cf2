//! Admission limits as tower layers, each readable on its own: how many requests may be in flight,
//! and how large one request may be. Both answer with a clear RESOURCE_EXHAUSTED status and leave
//! the server serving everyone else.

mod in_flight;
mod request_size;

pub use in_flight::{InFlightLimit, InFlightLimitLayer};
pub use request_size::{RequestSizeLimit, RequestSizeLimitLayer};
