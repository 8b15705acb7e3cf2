//! Admission as tower layers, each readable on its own: who may call, how many requests may be in
//! flight, and how large one request may be. Each refuses with a clear status and leaves the server
//! serving everyone else.

mod api_key;
mod in_flight;
mod request_size;

pub use api_key::{ApiKeyAuth, ApiKeyAuthLayer, Caller};
pub use in_flight::{InFlightLimit, InFlightLimitLayer};
pub use request_size::{RequestSizeLimit, RequestSizeLimitLayer};
