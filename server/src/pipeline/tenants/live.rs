//! Where the tenants come from while the gateway runs, and how new ones replace the old.
//!
//! Onboarding a team or rotating a key is an edit of the tenants document, not a deployment: the
//! gateway checks its source every `tenants_source.reload_secs` and on SIGHUP, as it does the
//! catalog's (`pipeline::catalog::live`). The source is the config file the gateway started from
//! (its `[tenants]` and `[auth]`; other sections need a restart) or, with `tenants_source.s3`,
//! one S3 object `{"tenants": {...}}` read with conditional GETs (`upstream::documents`). A new
//! document is validated as start-up validates the tenants, against the catalog serving now, and
//! may not open the gateway by accident (see [`TenantsSource::validate`]); then it is swapped in
//! whole, atomically. An invalid one is refused with one log line and a metric while the old one
//! keeps serving. A request is identified once, so it keeps its tenant, and that tenant's quotas and
//! models, until it ends; the next request sees the new ones.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::{Identity, Tenants};
use crate::config::{self, AuthConfig, Config, ConfigError, DEFAULT_TENANT, ServerConfig, TenantConfig};
use crate::error::GatewayError;
use crate::ops::metrics::{self, KeyExpiries, Reload};
use crate::pipeline::catalog::live::{LiveCatalog, ModelsInUse};
use crate::pipeline::peer::Peer;
use crate::upstream::documents::{Document, Fetched, Schedule, SourceError};

/// The tenants serving now; cloning shares them.
#[derive(Debug, Clone)]
pub struct LiveTenants {
    current: Arc<ArcSwap<Tenants>>,
    /// Their keys' expiry times, as `/metrics` shows them.
    expiries: Arc<KeyExpiries>,
}

impl LiveTenants {
    /// Tenants that stay `tenants` until a source replaces them.
    pub fn new(tenants: Tenants) -> LiveTenants {
        let expiries = KeyExpiries::register();
        expiries.set(tenants.key_expiries());
        LiveTenants { current: Arc::new(ArcSwap::from_pointee(tenants)), expiries }
    }

    /// The tenants serving now.
    pub fn current(&self) -> Arc<Tenants> {
        self.current.load_full()
    }

    /// Identifies a request against the tenants serving now; see [`Tenants::identify`].
    pub fn identify(&self, authorization: Option<&[u8]>, peer: Option<&Peer>) -> Result<Identity, GatewayError> {
        self.current.load().identify(authorization, peer)
    }

    /// Serves `tenants` from now on.
    pub fn replace(&self, tenants: Tenants) {
        self.expiries.set(tenants.key_expiries());
        self.current.store(Arc::new(tenants));
    }
}

impl ModelsInUse for LiveTenants {
    fn require_models(&self, models: &BTreeSet<String>) -> Result<(), ConfigError> {
        self.current.load().require_models(models)
    }
}

/// The S3 object's content: `{"tenants": {"payments": {"api_keys": {...}, ...}}}`, the `[tenants]`
/// table of the config file in JSON form (Terraform's `jsonencode` writes it).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantsDocument {
    tenants: BTreeMap<String, TenantConfig>,
}

/// The source a running gateway reloads its tenants from.
#[derive(Debug)]
pub struct TenantsSource {
    document: Document,
    /// The catalog serving: the models a tenant names must be in it.
    catalog: LiveCatalog,
    /// `[server]` as the gateway started: endpoint ids need the PROXY protocol, subjects mTLS.
    server: ServerConfig,
    /// `[auth]` as the gateway started, which a document from S3 goes with.
    auth: AuthConfig,
    schedule: Schedule,
}

impl TenantsSource {
    /// The source `config` names: `tenants_source.s3`, else the file it was loaded from; `None` for
    /// a configuration built in memory (tests, local mode without `--config`), whose tenants are
    /// fixed.
    pub async fn from_config(config: &Config, catalog: LiveCatalog) -> Option<TenantsSource> {
        let document = match (&config.tenants_source.s3, &config.source_file) {
            (Some(s3), _) => Document::s3(s3, &config.bedrock.region).await,
            (None, Some(path)) => Document::file(path.clone()),
            (None, None) => return None,
        };
        Some(TenantsSource {
            document,
            catalog,
            server: config.server.clone(),
            auth: config.auth.clone(),
            schedule: Schedule::new(config.tenants_source.reload_secs.get()),
        })
    }

    /// The source's `[tenants]` and `[auth]`, if they changed: the file's as the gateway would load
    /// them at start-up (environment overrides included), the S3 object's as its JSON says.
    async fn fetch(&mut self) -> Result<Option<(BTreeMap<String, TenantConfig>, AuthConfig)>, SourceError> {
        let content = match self.document.fetch().await.map_err(SourceError::Unreachable)? {
            Fetched::Unchanged | Fetched::NotModified => return Ok(None),
            Fetched::Changed(content) => content,
        };
        if let Some(path) = self.document.path() {
            let config = Config::load(Some(path))?;
            return Ok(Some((config.tenants, config.auth)));
        }
        let mut json = serde_json::Deserializer::from_slice(&content);
        let document: TenantsDocument = serde_path_to_error::deserialize(&mut json).map_err(|err| {
            let key = err.path().to_string();
            SourceError::Invalid(format!(
                "{} is not a tenants document: `{key}`: {}",
                self.document.location(),
                err.inner()
            ))
        })?;
        Ok(Some((document.tenants, self.auth.clone())))
    }

    /// `tenants` and `auth` as tenants, if start-up would accept them with the catalog serving now,
    /// and if they do not open the gateway that `current` keeps closed: were identity no longer
    /// required only because the document lost its last key, endpoint and subject, a caller
    /// without any would get in as `default`. Opening it is said by writing `[tenants.default]`
    /// or `auth.require_identity = false`.
    fn validate(
        &self,
        tenants: BTreeMap<String, TenantConfig>,
        auth: AuthConfig,
        current: &Tenants,
    ) -> Result<Tenants, SourceError> {
        let models = self.catalog.current().model_names();
        config::validate_tenants(&tenants, &auth, &self.server, Some(&models))?;
        let opens = current.identity_required()
            && !auth.identity_required(&tenants)
            && auth.require_identity.is_none()
            && !tenants.contains_key(DEFAULT_TENANT);
        if opens {
            return Err(SourceError::Invalid(
                "`auth.require_identity`: this document identifies no caller (no API key, client-certificate \
                 subject or VPC endpoint id), so every caller would get in as the `default` tenant, while the \
                 tenants serving require identity; write [tenants.default] or auth.require_identity = false to \
                 let unidentified callers in"
                    .to_owned(),
            ));
        }
        Ok(Tenants::new(tenants, auth))
    }

    /// The first tenants, for a source the configuration's own `[tenants]` cannot stand in for
    /// (S3): start-up fails without them. `current` are the configuration's.
    pub async fn initial(&mut self, current: &Tenants) -> Result<Option<Tenants>, SourceError> {
        if self.document.path().is_some() {
            // The configuration's tenants are the file's, as loaded. The file is not read now: were
            // it edited since, the edit would pass for what is serving; the first check reads it.
            return Ok(None);
        }
        match self.fetch().await? {
            Some((tenants, auth)) => self.validate(tenants, auth, current).map(Some),
            None => Err(SourceError::Unreachable("the first read returned no tenants".to_owned())),
        }
    }

    /// Checks the source on its schedule, swapping each valid new document into `live`, until
    /// `stop`.
    pub async fn watch(mut self, live: LiveTenants, stop: CancellationToken) {
        while self.schedule.next(&stop, "tenants", self.document.label()).await {
            self.reload(&live).await;
        }
    }

    async fn reload(&mut self, live: &LiveTenants) {
        let source = self.document.label();
        let unchanged = match &self.document {
            Document::File(_) => Reload::Unchanged,
            Document::S3(_) => Reload::NotModified,
        };
        let (tenants, auth) = match self.fetch().await {
            Ok(None) => return metrics::tenants_reloaded(source, unchanged),
            Ok(Some(document)) => document,
            Err(err) => return refused(source, &err),
        };
        let current = live.current();
        if current.config() == (&tenants, &auth) {
            return metrics::tenants_reloaded(source, Reload::Unchanged);
        }
        let count = tenants.len();
        match self.validate(tenants, auth, &current) {
            Ok(tenants) => {
                tracing::info!(
                    source,
                    tenants = count,
                    "tenants changed: new requests use the new ones, requests in flight keep theirs"
                );
                live.replace(tenants);
                metrics::tenants_reloaded(source, Reload::Applied);
            }
            Err(err) => refused(source, &err),
        }
    }
}

/// Logs why a check gave no new tenants, once, and counts it.
fn refused(source: &'static str, err: &SourceError) {
    match err {
        SourceError::Invalid(reason) => {
            tracing::error!(source, %reason, "new tenants refused; the current ones keep serving");
            metrics::tenants_reloaded(source, Reload::Invalid);
        }
        SourceError::Unreachable(reason) => {
            tracing::warn!(source, %reason, "tenants source unreadable; the current tenants keep serving");
            metrics::tenants_reloaded(source, Reload::Unreachable);
        }
    }
}
