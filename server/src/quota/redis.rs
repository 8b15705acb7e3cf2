//! The Redis quota store, shared by every task of the fleet (ElastiCache for Valkey or Redis OSS,
//! or any Redis-compatible server from 5.0 on).
//!
//! Every acquire and every settlement is one round trip: one Lua script (`quota.lua`, sent by
//! hash, in full only when the server does not have it yet) that reads the server's clock, checks
//! every limit of the request and applies all or nothing, atomically. All keys of a request carry
//! the tenant as hash tag, so in cluster mode (ElastiCache Serverless) they share one slot.
//! Concurrency places are leases that expire at the request's deadline, so those of a task that
//! dies free themselves; every key expires once idle, so a tenant that stops calling leaves
//! nothing behind.
//!
//! Every call is bounded by `quotas.redis.timeout_ms`. A failure marks the store down: requests are
//! then decided on the fallback store, and only one request per second tries Redis again, so a
//! dead Redis adds its timeout to one request per second rather than to all of them. The
//! transitions, not each failure, are logged.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster::{ClusterClientBuilder, ClusterConfig};
use ::redis::cluster_async::ClusterConnection;
use ::redis::{Client, ConnectionInfo, IntoConnectionInfo, RedisError, Script, ScriptInvocation, TlsCertificates};
use tokio::time::Instant;

use super::{Kind, Limit, QuotaRequest, Refusal, Wait};
use crate::config::RedisConfig;
use crate::metrics;

/// How often a store marked down is tried again.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// How long the first connection may take at start-up (at least; `timeout_ms` when longer): it
/// includes DNS, TCP, TLS and AUTH, which later calls reuse.
const FIRST_CONNECT: Duration = Duration::from_secs(1);

/// The longest a concurrency place is held, whatever the request's deadline: the longest any
/// duration in the configuration may be.
const MAX_HOLD: Duration = Duration::from_secs(7 * 24 * 3600);

/// The id of a request's concurrency places on the store.
#[derive(Debug)]
pub(super) struct Lease(String);

/// Why the store did not decide.
#[derive(Debug, thiserror::Error)]
pub(super) enum StoreError {
    #[error(transparent)]
    Redis(#[from] RedisError),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("unexpected answer from the quota script: {0:?}")]
    Reply(Vec<i64>),
    #[error("cannot read quotas.redis.ca_file {}: {source}", file.display())]
    CaFile { file: PathBuf, source: std::io::Error },
}

pub(super) struct RedisStore {
    connection: Connection,
    script: Script,
    key_prefix: String,
    timeout: Duration,
    health: Health,
    /// Settlements run on their own task, from wherever the grant is dropped.
    runtime: tokio::runtime::Handle,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .field("up", &self.health.up.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Connection {
    async fn invoke(&self, invocation: &ScriptInvocation<'_>) -> Result<Vec<i64>, RedisError> {
        match self.clone() {
            Connection::Single(mut connection) => invocation.invoke_async(&mut connection).await,
            Connection::Cluster(mut connection) => invocation.invoke_async(&mut connection).await,
        }
    }

    async fn ping(&self) -> Result<(), RedisError> {
        let ping = ::redis::cmd("PING");
        match self.clone() {
            Connection::Single(mut connection) => ping.query_async(&mut connection).await,
            Connection::Cluster(mut connection) => ping.query_async(&mut connection).await,
        }
    }
}

impl RedisStore {
    /// A store on `config`, whose first connection is tried at once: when it fails the store
    /// starts down (and says so). Errs only when no client can be built from the configuration.
    pub(super) async fn connect(config: &RedisConfig) -> Result<RedisStore, StoreError> {
        let mut info: ConnectionInfo = config.url.as_str().into_connection_info()?;
        let mut settings = info.redis_settings().clone();
        if let Some(username) = &config.username {
            settings = settings.set_username(username);
        }
        if let Some(password) = &config.password {
            settings = settings.set_password(password);
        }
        info = info.set_redis_settings(settings);
        if matches!(info.addr(), ::redis::ConnectionAddr::TcpTls { .. }) {
            install_crypto_provider();
        }
        let roots = match &config.ca_file {
            Some(file) => Some(TlsCertificates {
                client_tls: None,
                root_cert: Some(
                    std::fs::read(file).map_err(|source| StoreError::CaFile { file: file.clone(), source })?,
                ),
            }),
            None => None,
        };
        let first_connect = FIRST_CONNECT.max(config.timeout());
        let connection = if config.cluster {
            // Following MOVED and ASK (slots moving while the store scales) takes a retry each;
            // the caller's timeout bounds the whole call, retries and their waits included.
            let mut client = ClusterClientBuilder::new([info]).retries(2);
            if let Some(roots) = roots {
                client = client.certs(roots);
            }
            let cluster = ClusterConfig::new().set_connection_timeout(first_connect);
            Connection::Cluster(client.build()?.get_pending_async_connection_with_config(cluster))
        } else {
            let client = match roots {
                Some(roots) => Client::build_with_tls(info, roots)?,
                None => Client::open(info)?,
            };
            // One attempt per call: a store that is down is tried again by the next probe.
            let manager =
                ConnectionManagerConfig::new().set_connection_timeout(Some(first_connect)).set_number_of_retries(0);
            Connection::Single(ConnectionManager::new_lazy_with_config(client, manager)?)
        };
        let store = RedisStore {
            connection,
            script: Script::new(include_str!("quota.lua")),
            key_prefix: config.key_prefix.clone(),
            timeout: config.timeout(),
            health: Health::new(),
            runtime: tokio::runtime::Handle::current(),
        };
        match tokio::time::timeout(first_connect, store.connection.ping()).await {
            Ok(Ok(())) => {
                tracing::info!(cluster = config.cluster, "quota store connected");
                metrics::quota_store_up(true);
            }
            Ok(Err(err)) => store.health.failed(&err.into()),
            Err(_) => store.health.failed(&StoreError::Timeout(first_connect)),
        }
        Ok(store)
    }

    /// Whether to ask the store: always while it answers; while down, once per [`RETRY_INTERVAL`].
    pub(super) fn should_try(&self) -> bool {
        self.health.should_try()
    }

    /// Takes the request's place within `limits` (enforced at their quotas). `Err` when the store
    /// did not answer in time: the failure is recorded, the request is for the fallback to decide.
    pub(super) async fn acquire(
        &self,
        request: &QuotaRequest<'_>,
        limits: &[Limit],
    ) -> Result<Result<Lease, Vec<Refusal>>, ()> {
        let lease = uuid::Uuid::new_v4().simple().to_string();
        let hold_ms = request.hold_for.min(MAX_HOLD).as_millis().max(1);
        let mut invocation = self.script.prepare_invoke();
        self.add_limits(&mut invocation, request.tenant, request.model, limits);
        invocation.arg("acquire").arg(&lease).arg(request.tokens).arg(hold_ms);
        self.add_kinds(&mut invocation, limits);
        let reply = match self.call(&invocation).await {
            Ok(reply) => reply,
            Err(err) => {
                self.health.failed(&err);
                return Err(());
            }
        };
        match parse_acquired(&reply, limits) {
            Some(decided) => {
                self.health.answered();
                Ok(decided.map(|()| Lease(lease)))
            }
            None => {
                self.health.failed(&StoreError::Reply(reply));
                Err(())
            }
        }
    }

    /// Settles a grant on its own task: refunds or charges the tokens, frees the places. When the
    /// store does not answer, the places free themselves when their lease ends.
    pub(super) fn release(
        self: Arc<Self>,
        tenant: String,
        model: String,
        limits: Vec<Limit>,
        lease: Lease,
        reserved: u64,
        used: u64,
    ) {
        let runtime = self.runtime.clone();
        runtime.spawn(async move {
            let mut invocation = self.script.prepare_invoke();
            self.add_limits(&mut invocation, &tenant, &model, &limits);
            invocation.arg("settle").arg(&lease.0).arg(reserved).arg(used);
            self.add_kinds(&mut invocation, &limits);
            match self.call(&invocation).await {
                Ok(reply) if reply == [1] => self.health.answered(),
                Ok(reply) => self.health.failed(&StoreError::Reply(reply)),
                Err(err) => self.health.failed(&err),
            }
        });
    }

    async fn call(&self, invocation: &ScriptInvocation<'_>) -> Result<Vec<i64>, StoreError> {
        match tokio::time::timeout(self.timeout, self.connection.invoke(invocation)).await {
            Ok(reply) => Ok(reply?),
            Err(_) => Err(StoreError::Timeout(self.timeout)),
        }
    }

    fn add_limits(&self, invocation: &mut ScriptInvocation<'_>, tenant: &str, model: &str, limits: &[Limit]) {
        for limit in limits {
            let counter = match limit.kind {
                Kind::Requests => "requests",
                Kind::Tokens => "tokens",
                Kind::Concurrent => "concurrent",
            };
            let prefix = &self.key_prefix;
            let key = if limit.per_model {
                format!("{prefix}:{{{tenant}}}:model:{model}:{counter}")
            } else {
                format!("{prefix}:{{{tenant}}}:{counter}")
            };
            invocation.key(key);
        }
    }

    fn add_kinds(&self, invocation: &mut ScriptInvocation<'_>, limits: &[Limit]) {
        for limit in limits {
            let kind = match limit.kind {
                Kind::Requests => "r",
                Kind::Tokens => "t",
                Kind::Concurrent => "c",
            };
            invocation.arg(kind).arg(limit.capacity);
        }
    }
}

/// The script's answer to an acquire: `[1]`, or `[0, (index, wait)...]`; `None` when malformed.
fn parse_acquired(reply: &[i64], limits: &[Limit]) -> Option<Result<(), Vec<Refusal>>> {
    match reply {
        [1] => Some(Ok(())),
        [0, refused @ ..] if !refused.is_empty() && refused.len() % 2 == 0 => {
            let refusals = refused.chunks_exact(2).map(|pair| {
                let limit = *limits.get(usize::try_from(pair[0]).ok()?.checked_sub(1)?)?;
                let wait = match pair[1] {
                    -1 => Wait::Never,
                    -2 => Wait::PlaceFrees,
                    ms => Wait::For(Duration::from_millis(u64::try_from(ms).ok()?)),
                };
                Some(Refusal { limit, wait })
            });
            refusals.collect::<Option<Vec<_>>>().map(Err)
        }
        _ => None,
    }
}

/// Whether the store answers, and when to try it again when it does not.
#[derive(Debug)]
struct Health {
    up: AtomicBool,
    /// Milliseconds after `start` before which a store marked down is not tried again.
    retry_at_ms: AtomicU64,
    start: Instant,
}

impl Health {
    fn new() -> Health {
        Health { up: AtomicBool::new(true), retry_at_ms: AtomicU64::new(0), start: Instant::now() }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn should_try(&self) -> bool {
        if self.up.load(Ordering::Relaxed) {
            return true;
        }
        let now = self.now_ms();
        let retry_at = self.retry_at_ms.load(Ordering::Relaxed);
        // Of the requests arriving once the interval is over, only the one that moves the next
        // retry on tries this time.
        now >= retry_at
            && self
                .retry_at_ms
                .compare_exchange(
                    retry_at,
                    now + RETRY_INTERVAL.as_millis() as u64,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    fn answered(&self) {
        if !self.up.swap(true, Ordering::Relaxed) {
            tracing::info!("quota store answers again: quotas are enforced fleet-wide again");
            metrics::quota_store_up(true);
        }
    }

    fn failed(&self, err: &StoreError) {
        metrics::quota_store_error();
        if self.up.swap(false, Ordering::Relaxed) {
            self.retry_at_ms.store(self.now_ms() + RETRY_INTERVAL.as_millis() as u64, Ordering::Relaxed);
            tracing::warn!(
                %err,
                "quota store unreachable: quotas are enforced per task on the fallback limits until it answers again"
            );
            metrics::quota_store_up(false);
        }
    }
}

/// rustls needs one process-wide crypto provider when, as here, more than one is linked (the AWS
/// SDK brings aws-lc-rs): the redis client takes the process default. The gateway uses ring, as
/// its own TLS does; whoever installed one first wins.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
