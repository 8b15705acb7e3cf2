//! The Redis quota store, shared by every task of the fleet (ElastiCache for Valkey or Redis OSS,
//! or any Redis-compatible server from 5.0 on).
//!
//! A task takes quota from the store ahead of its requests and spends it in process (see
//! `allowance.rs`), so most checks make no round trip; a request its allowances cannot cover
//! waits for one. Every exchange with the store is one round trip: one Lua script (`quota.lua`,
//! sent by hash, in full only when the server does not have it yet) that reads the server's clock
//! and takes or gives back on every counter of one tenant, all or nothing, atomically. All keys of
//! a tenant carry the tenant as hash tag, so in cluster mode (ElastiCache Serverless) they share
//! one slot. The concurrency places a task holds are leased and renewed each tick
//! (`quotas.redis.lease_ms` ÷ 3), so those of a task that died free themselves; every key expires
//! once idle, so a tenant that stops calling leaves nothing behind.
//!
//! Every call is bounded by `quotas.redis.timeout_ms`. A failure marks the store down: requests are
//! then decided on the fallback store, and only one request per second tries Redis again, so a
//! dead Redis adds its timeout to one request per second rather than to all of them. The
//! transitions, not each failure, are logged.
//!
//! With `quotas.redis.iam_auth`, connections AUTH with ElastiCache IAM tokens rather than a
//! password (`upstream::elasticache_iam`): the Redis client AUTHs each new connection with a fresh
//! token and re-AUTHs live ones with each later token.

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

use super::allowance::{Counter, Draw, Give, Ledger, Spent};
use super::{Kind, Limit, QuotaRequest, Refusal, Wait};
use crate::config::RedisConfig;
use crate::ops::metrics::{self, QuotaDecider};
use crate::upstream::elasticache_iam::ElastiCacheIamToken;

/// How often a store marked down is tried again.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// How long the first connection may take at start-up (at least; `timeout_ms` when longer): it
/// includes DNS, TCP, TLS and AUTH, which later calls reuse.
const FIRST_CONNECT: Duration = Duration::from_secs(1);

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
    lease: Duration,
    /// This task's id on the store, which owns the places it holds.
    owner: String,
    health: Health,
    ledger: Ledger,
    /// Top-ups and give-backs run on their own tasks, from wherever they are decided.
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
    /// With `iam_auth`, the store is authenticated with IAM tokens for `default_region`'s cache
    /// unless it names its own region.
    pub(super) async fn connect(config: &RedisConfig, default_region: &str) -> Result<RedisStore, StoreError> {
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
        let tokens = match (&config.iam_auth, &config.username) {
            (Some(iam_auth), Some(user)) => Some(ElastiCacheIamToken::new(iam_auth, user, default_region).await),
            _ => None,
        };
        let first_connect = FIRST_CONNECT.max(config.timeout_ms.get());
        let connection = if config.cluster {
            // Following MOVED and ASK (slots moving while the store scales) takes a retry each;
            // the caller's timeout bounds the whole call, retries and their waits included.
            let mut client = ClusterClientBuilder::new([info]).retries(2);
            if let Some(roots) = roots {
                client = client.certs(roots);
            }
            if let Some(tokens) = tokens {
                client = client.set_credentials_provider(tokens);
            }
            let cluster = ClusterConfig::new().set_connection_timeout(first_connect);
            Connection::Cluster(client.build()?.get_pending_async_connection_with_config(cluster))
        } else {
            let client = match roots {
                Some(roots) => Client::build_with_tls(info, roots)?,
                None => Client::open(info)?,
            };
            // One attempt per call: a store that is down is tried again by the next probe.
            let mut manager =
                ConnectionManagerConfig::new().set_connection_timeout(Some(first_connect)).set_number_of_retries(0);
            if let Some(tokens) = tokens {
                // New connections AUTH with a fresh token, live ones again with each new one.
                manager = manager.set_credentials_provider(tokens);
            }
            Connection::Single(ConnectionManager::new_lazy_with_config(client, manager)?)
        };
        let store = RedisStore {
            connection,
            script: Script::new(include_str!("quota.lua")),
            key_prefix: config.key_prefix.clone(),
            timeout: config.timeout_ms.get(),
            lease: config.lease_ms.get(),
            owner: uuid::Uuid::new_v4().simple().to_string(),
            health: Health::new(),
            ledger: Ledger::new(config.prefetch_percent),
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

    /// How often the allowances are tidied and the places renewed: a third of the lease.
    pub(super) fn tick_interval(&self) -> Duration {
        self.lease / 3
    }

    /// Takes the request's place within `limits` (enforced at their quotas), from this task's
    /// allowances or, when they fall short, from the store, and says which. `Err` when the store
    /// was needed and did not answer in time (or is down): the request is for the fallback to decide.
    pub(super) async fn acquire(
        self: &Arc<Self>,
        request: &QuotaRequest<'_>,
        limits: &[Limit],
    ) -> Result<(Result<(), Vec<Refusal>>, QuotaDecider), ()> {
        let never = limits
            .iter()
            .filter(|limit| limit.kind != Kind::Concurrent && limit.need(request.tokens) > limit.quota)
            .map(|&limit| Refusal { limit, wait: Wait::Never })
            .collect::<Vec<_>>();
        if !never.is_empty() {
            return Ok((Err(never), QuotaDecider::Allowance));
        }
        let counters = self.counters(request.tenant, request.model, limits);
        let (draws, from_here) = match self.ledger.spend(request.tenant, &counters, request.tokens) {
            Spent::Here { top_up } => {
                if !top_up.is_empty() {
                    Arc::clone(self).spawn_top_up(counters, top_up);
                }
                return Ok((Ok(()), QuotaDecider::Allowance));
            }
            Spent::Short { draws, from_here } => (draws, from_here),
        };
        let decided = if self.health.should_try() { self.take(&counters, &draws).await } else { Err(()) };
        match &decided {
            Ok(Ok(taken)) => self.ledger.took(&counters, &draws, taken),
            Ok(Err(_)) | Err(()) => self.ledger.refund(&counters, &from_here),
        }
        decided.map(|decided| (decided.map(drop), QuotaDecider::Redis))
    }

    /// A request granted `limits` (those settled at the end) ended, having reserved `reserved`
    /// tokens and used `used`: its tokens and places go back to the allowances, and what this
    /// task should not keep back to the store.
    pub(super) fn release(self: Arc<Self>, tenant: &str, model: &str, limits: &[Limit], reserved: u64, used: u64) {
        let counters = self.counters(tenant, model, limits);
        let gives = self.ledger.release(&counters, reserved, used);
        if !gives.is_empty() {
            let runtime = self.runtime.clone();
            runtime.spawn(async move { self.give(&counters, &gives).await });
        }
    }

    /// Gives idle allowances back and renews the places held.
    pub(super) async fn tick(&self) {
        for (_tenant, counters, gives) in self.ledger.tick() {
            self.give(&counters, &gives).await;
        }
    }

    fn spawn_top_up(self: Arc<Self>, counters: Vec<Counter>, draws: Vec<Draw>) {
        let runtime = self.runtime.clone();
        runtime.spawn(async move {
            let taken = match self.health.is_up() {
                true => self.take(&counters, &draws).await.ok().and_then(Result::ok),
                false => None,
            };
            self.ledger.took(&counters, &draws, &taken.unwrap_or_else(|| vec![0; draws.len()]));
        });
    }

    /// Takes `draws` on the store: what each got, or which refused and how long each would wait.
    async fn take(&self, counters: &[Counter], draws: &[Draw]) -> Result<Result<Vec<u64>, Vec<Refusal>>, ()> {
        let amounts = draws.iter().map(|draw| (&counters[draw.index], [draw.least, draw.most].map(i128::from)));
        let invocation = self.invocation("take", amounts);
        let reply = match self.call(&invocation).await {
            Ok(reply) => reply,
            Err(err) => {
                self.health.failed(&err);
                return Err(());
            }
        };
        match parse_taken(&reply, counters, draws) {
            Some(decided) => {
                self.health.answered();
                Ok(decided)
            }
            None => {
                self.health.failed(&StoreError::Reply(reply));
                Err(())
            }
        }
    }

    /// Gives `gives` back to the store; when it does not take them, they stay in the allowances.
    async fn give(&self, counters: &[Counter], gives: &[Give]) {
        if !self.health.is_up() {
            self.ledger.give_failed(counters, gives);
            return;
        }
        let amounts =
            gives.iter().map(|give| (&counters[give.index], [i128::from(give.amount), i128::from(give.held)]));
        let invocation = self.invocation("give", amounts);
        let failure = match self.call(&invocation).await {
            Ok(reply) if reply == [1] => {
                self.health.answered();
                return;
            }
            Ok(reply) => StoreError::Reply(reply),
            Err(err) => err,
        };
        self.health.failed(&failure);
        self.ledger.give_failed(counters, gives);
    }

    /// A call of the script's `op` on `counters`, each with its two amounts (see `quota.lua`).
    fn invocation<'a>(
        &'a self,
        op: &str,
        counters: impl Iterator<Item = (&'a Counter, [i128; 2])>,
    ) -> ScriptInvocation<'a> {
        let mut invocation = self.script.prepare_invoke();
        invocation.arg(op).arg(&self.owner).arg(u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX));
        for (counter, [first, second]) in counters {
            invocation.key(&counter.key).arg(kind_code(counter.limit.kind)).arg(counter.limit.capacity);
            invocation.arg(first.to_string()).arg(second.to_string());
        }
        invocation
    }

    async fn call(&self, invocation: &ScriptInvocation<'_>) -> Result<Vec<i64>, StoreError> {
        match tokio::time::timeout(self.timeout, self.connection.invoke(invocation)).await {
            Ok(reply) => Ok(reply?),
            Err(_) => Err(StoreError::Timeout(self.timeout)),
        }
    }

    /// The counters of a request of `tenant` on `model` under `limits`.
    fn counters(&self, tenant: &str, model: &str, limits: &[Limit]) -> Vec<Counter> {
        let prefix = &self.key_prefix;
        let counter = |limit: &Limit| {
            let name = match limit.kind {
                Kind::Requests => "requests",
                Kind::Tokens => "tokens",
                Kind::Concurrent => "places",
            };
            let key = if limit.per_model {
                format!("{prefix}:{{{tenant}}}:model:{model}:{name}")
            } else {
                format!("{prefix}:{{{tenant}}}:{name}")
            };
            Counter { key, limit: *limit }
        };
        limits.iter().map(counter).collect()
    }
}

fn kind_code(kind: Kind) -> &'static str {
    match kind {
        Kind::Requests => "r",
        Kind::Tokens => "t",
        Kind::Concurrent => "c",
    }
}

/// The script's answer to a take: `[1, taken...]`, or `[0, (index, wait)...]` with indexes into
/// `draws`; `None` when malformed.
fn parse_taken(reply: &[i64], counters: &[Counter], draws: &[Draw]) -> Option<Result<Vec<u64>, Vec<Refusal>>> {
    match reply {
        [1, taken @ ..] if taken.len() == draws.len() => {
            taken.iter().map(|&taken| u64::try_from(taken).ok()).collect::<Option<Vec<_>>>().map(Ok)
        }
        [0, refused @ ..] if !refused.is_empty() && refused.len() % 2 == 0 => {
            let refusals = refused.chunks_exact(2).map(|pair| {
                let draw = draws.get(usize::try_from(pair[0]).ok()?.checked_sub(1)?)?;
                let wait = match pair[1] {
                    -1 => Wait::Never,
                    -2 => Wait::PlaceFrees,
                    ms => Wait::For(Duration::from_millis(u64::try_from(ms).ok()?)),
                };
                Some(Refusal { limit: counters[draw.index].limit, wait })
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

    fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    fn should_try(&self) -> bool {
        if self.is_up() {
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
