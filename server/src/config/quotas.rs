//! `[quotas]`: the limits a tenant's quotas set, and where their counters live (this process, or
//! a Redis-compatible store shared by the fleet) with what happens when that store is unreachable.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::bedrock::CredentialsSource;
use super::duration::Millis;
use super::error::{ConfigError, invalid};

/// Limits on one tenant's use, fleet-wide (with `quotas.store = "redis"`). Unset: unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaLimits {
    /// Requests started per minute (a bucket refilled continuously, holding at most a minute's worth).
    pub requests_per_minute: Option<u64>,
    /// Tokens per minute: a request reserves its max_tokens plus an estimate of its input when it
    /// starts, and settles with Bedrock's reported usage when it ends.
    pub tokens_per_minute: Option<u64>,
    /// Requests in flight at once, streams included.
    pub concurrent_requests: Option<u64>,
}

impl QuotaLimits {
    /// Whether no limit is set.
    pub fn is_unlimited(&self) -> bool {
        *self == QuotaLimits::default()
    }
}

/// Which store holds the quota counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuotaStoreKind {
    /// In this process: each task enforces the quotas on its own (local mode, a single task).
    #[default]
    Memory,
    /// A Redis-compatible store (ElastiCache for Valkey or Redis OSS) shared by every task, so the
    /// quotas hold for the whole fleet.
    Redis,
}

/// Where quota counters live and what happens when that store is unreachable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotasConfig {
    /// `memory` or `redis`.
    pub store: QuotaStoreKind,
    /// How many tasks usually serve: while the Redis store is unreachable, each task enforces
    /// every quota divided by this, on its own, instead of failing requests.
    pub fallback_task_count: u32,
    /// The Redis store, for `store = "redis"`.
    pub redis: RedisConfig,
}

impl Default for QuotasConfig {
    fn default() -> Self {
        QuotasConfig { store: QuotaStoreKind::Memory, fallback_task_count: 2, redis: RedisConfig::default() }
    }
}

/// How to reach the Redis-compatible quota store.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://host:port` or, with TLS, `rediss://host:port` (ElastiCache Serverless needs TLS).
    pub url: String,
    /// AUTH user name (Redis 6 ACL / ElastiCache RBAC); unset: the default user. With `iam_auth`,
    /// required: the ElastiCache user id (for an IAM-enabled user, its id and name are the same).
    pub username: Option<String>,
    /// AUTH password; set it through `BEDROCK_GATEWAY_QUOTAS__REDIS__PASSWORD` (on ECS, from
    /// Secrets Manager), never in the file. Not printed by `check-config`.
    #[serde(skip_serializing)]
    pub password: Option<String>,
    /// Authenticate with ElastiCache IAM tokens instead of a password (then unset); unset:
    /// `password` (or none).
    pub iam_auth: Option<RedisIamAuthConfig>,
    /// Use the Redis Cluster protocol (ElastiCache Serverless and cluster-mode clusters).
    pub cluster: bool,
    /// With `rediss://`: PEM file with the CA certificates the store's certificate must chain to,
    /// instead of the system's (which ElastiCache's chain to); for a store with a private CA.
    pub ca_file: Option<PathBuf>,
    /// Longest a quota check waits for the store before the request is decided on the fallback limits.
    pub timeout_ms: Millis,
    /// Prefix of every key the gateway writes, so several gateways can share one store.
    pub key_prefix: String,
    /// How much of each quota, in percent, a task takes from the store ahead of its requests, so
    /// that most checks are decided in the task without a round trip. A task takes ahead only
    /// while more than half of the quota is left and keeps at most twice this much; 0: every
    /// check is a round trip.
    pub prefetch_percent: u8,
    /// How long the concurrency places a task holds stay taken on the store after the task stops
    /// renewing them (a task that died); the task renews them every third of this.
    pub lease_ms: Millis,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: String::new(),
            username: None,
            password: None,
            iam_auth: None,
            cluster: false,
            ca_file: None,
            timeout_ms: Millis(100),
            key_prefix: "bedrock-gateway".to_owned(),
            prefetch_percent: 2,
            lease_ms: Millis(30_000),
        }
    }
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("iam_auth", &self.iam_auth)
            .field("cluster", &self.cluster)
            .field("ca_file", &self.ca_file)
            .field("timeout_ms", &self.timeout_ms)
            .field("key_prefix", &self.key_prefix)
            .field("prefetch_percent", &self.prefetch_percent)
            .field("lease_ms", &self.lease_ms)
            .finish()
    }
}

/// ElastiCache IAM authentication: the gateway AUTHs as `quotas.redis.username` with a token it
/// signs with its own AWS credentials (the task role, which needs `elasticache:Connect` on the
/// cache and the user), so no password exists to store or rotate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisIamAuthConfig {
    /// The serverless cache's name, or the replication group's id.
    pub cache_name: String,
    /// Whether the cache is an ElastiCache Serverless cache (the token then names
    /// `ResourceType=ServerlessCache`); `false` for a replication group.
    #[serde(default = "serverless_default")]
    pub serverless: bool,
    /// The cache's region; unset: `bedrock.region`.
    #[serde(default)]
    pub region: Option<String>,
    /// `aws-chain` (the task role), or `emulator`: placeholder keys, for tests against a store
    /// that does not check the token.
    #[serde(default)]
    pub credentials: CredentialsSource,
}

fn serverless_default() -> bool {
    true
}

impl QuotasConfig {
    /// Checks the section's keys, and the Redis store's when it is the one used.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=1000).contains(&self.fallback_task_count) {
            return Err(invalid("quotas.fallback_task_count", "must be from 1 to 1000".to_owned()));
        }
        if self.store != QuotaStoreKind::Redis {
            return Ok(());
        }
        self.redis.validate()
    }
}

impl RedisConfig {
    /// Checks `[quotas.redis]` (for `store = "redis"`), and that the CA file it names exists.
    fn validate(&self) -> Result<(), ConfigError> {
        let has_host = self.url.parse::<http::Uri>().is_ok_and(|uri| uri.host().is_some_and(|host| !host.is_empty()));
        if !(self.url.starts_with("redis://") || self.url.starts_with("rediss://")) || !has_host {
            return Err(invalid(
                "quotas.redis.url",
                format!("{:?} must be redis://HOST:PORT, or rediss://HOST:PORT for TLS", self.url),
            ));
        }
        if let Some(iam_auth) = &self.iam_auth {
            self.validate_iam_auth(iam_auth)?;
        }
        if let Some(file) = &self.ca_file {
            if !self.url.starts_with("rediss://") {
                return Err(invalid("quotas.redis.ca_file", "needs a rediss:// url (TLS)".to_owned()));
            }
            if !file.is_file() {
                return Err(invalid("quotas.redis.ca_file", format!("no such file: {}", file.display())));
            }
        }
        if !(1..=10_000).contains(&self.timeout_ms.0) {
            return Err(invalid("quotas.redis.timeout_ms", "must be from 1 to 10000".to_owned()));
        }
        let prefix_ok = !self.key_prefix.is_empty()
            && self.key_prefix.len() <= 64
            && self.key_prefix.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '{' | '}'));
        if !prefix_ok {
            return Err(invalid(
                "quotas.redis.key_prefix",
                "must be 1 to 64 printable ASCII characters without spaces or braces".to_owned(),
            ));
        }
        if self.prefetch_percent > 25 {
            return Err(invalid("quotas.redis.prefetch_percent", "must be from 0 to 25".to_owned()));
        }
        // Renewals every third of the lease must have time to answer before it ends.
        if !(1000..=600_000).contains(&self.lease_ms.0) || self.lease_ms.0 < 3 * self.timeout_ms.0 {
            return Err(invalid(
                "quotas.redis.lease_ms",
                "must be from 1000 to 600000 and at least three times quotas.redis.timeout_ms".to_owned(),
            ));
        }
        Ok(())
    }

    /// With IAM authentication: a user to sign for, no password, TLS (ElastiCache takes IAM
    /// tokens only over TLS), and names that go into the token as they are.
    fn validate_iam_auth(&self, iam_auth: &RedisIamAuthConfig) -> Result<(), ConfigError> {
        // ElastiCache user ids and cache names: letters, digits and hyphens, from a letter.
        let is_name = |name: &str| {
            name.starts_with(|c: char| c.is_ascii_alphabetic())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        match &self.username {
            None => {
                return Err(invalid(
                    "quotas.redis.username",
                    "is required with quotas.redis.iam_auth: the ElastiCache user id".to_owned(),
                ));
            }
            Some(user) if !is_name(user) => {
                return Err(invalid(
                    "quotas.redis.username",
                    format!("{user:?} is no ElastiCache user id (letters, digits and hyphens, from a letter)"),
                ));
            }
            Some(_) => {}
        }
        if self.password.is_some() {
            return Err(invalid(
                "quotas.redis.password",
                "must be unset with quotas.redis.iam_auth, which authenticates with IAM tokens".to_owned(),
            ));
        }
        if !self.url.starts_with("rediss://") {
            return Err(invalid(
                "quotas.redis.url",
                "must be rediss:// with quotas.redis.iam_auth: ElastiCache takes IAM tokens only over TLS".to_owned(),
            ));
        }
        if !is_name(&iam_auth.cache_name) {
            return Err(invalid(
                "quotas.redis.iam_auth.cache_name",
                format!(
                    "{:?} is no cache name or replication group id (letters, digits and hyphens, from a letter)",
                    iam_auth.cache_name
                ),
            ));
        }
        if iam_auth.region.as_deref().is_some_and(|region| region.trim().is_empty()) {
            return Err(invalid(
                "quotas.redis.iam_auth.region",
                "must not be empty (unset: bedrock.region)".to_owned(),
            ));
        }
        Ok(())
    }
}
