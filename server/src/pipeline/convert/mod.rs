//! Conversions between the v1 API and the Bedrock SDK's types: pure functions, unit-tested here,
//! so the service and the relay only orchestrate.

pub mod events;
pub mod fields;
pub(crate) mod json;
pub mod reasoning;
pub mod request;
pub mod response;
pub mod structured;
#[cfg(test)]
mod test_support;
