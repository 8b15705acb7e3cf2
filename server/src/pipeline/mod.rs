//! The request pipeline: the phases every call goes through, whatever door it came in by
//! (identify, validate, resolve, admit, call, relay, settle), and the pieces each phase is made of.

pub mod admission;
pub mod convert;
pub mod embed;
pub mod metering;
pub mod peer;
pub mod quota;
pub mod relay;
pub mod request_log;
pub mod routing;
pub mod stream_reset;
pub mod tenants;
