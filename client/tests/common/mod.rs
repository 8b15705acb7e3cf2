//! The client tests' own helpers on top of the shared testkit: a client for a test gateway, with
//! backoff short enough to keep retry tests fast.

#![allow(dead_code, unused_imports)] // each test binary uses its own subset

use std::time::Duration;

use bedrock_gateway_client::{Client, ClientBuilder};
pub use bedrock_gateway_testkit::{ANSWER_TOKENS, TestGateway as Gateway};

/// A client builder for `gateway` with fast retries.
pub fn builder(gateway: &Gateway) -> ClientBuilder {
    fast_retries(Client::builder(gateway.url()))
}

/// A client for `gateway` with fast retries.
pub fn client(gateway: &Gateway) -> Client {
    builder(gateway).build().unwrap()
}

/// Short backoff so that tests with retries stay fast.
pub fn fast_retries(builder: ClientBuilder) -> ClientBuilder {
    builder.backoff(Duration::from_millis(5), Duration::from_millis(20)).retry_budget(0.5, 100)
}
