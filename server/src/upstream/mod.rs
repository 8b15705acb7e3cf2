//! Upstream: the AWS services the gateway calls, through the real AWS SDK.

pub mod bedrock;
pub mod documents;
pub mod elasticache_iam;
