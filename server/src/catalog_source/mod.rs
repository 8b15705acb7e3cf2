//! Where the catalog comes from while the gateway runs, and how a new one replaces the old.
//!
//! The platform team moves `chat` to a new model, or retires one, without a deployment: the
//! gateway checks its source every `catalog.reload_secs` and on SIGHUP. The source is the config
//! file the gateway started from (its `[models]`; other sections need a restart) or, with
//! `catalog.s3`, one S3 object read with conditional GETs (`s3.rs`). A new catalog is validated
//! alone, as a catalog, and with the running tenants that name its models; then swapped in
//! atomically; an invalid one is refused with a log line and a metric while the old one keeps
//! serving. A request resolves its model once, so a stream in flight ends on the target it started
//! with.

mod file;
mod s3;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use crate::catalog::config::ModelConfig;
use crate::catalog::{self, Catalog};
use crate::config::{Config, ConfigError, TenantConfig};
use crate::metrics::{self, CatalogReload};

use self::file::FileSource;
use self::s3::S3Source;

/// The catalog serving now; cloning shares it.
#[derive(Debug, Clone)]
pub struct LiveCatalog {
    current: Arc<ArcSwap<Catalog>>,
}

impl LiveCatalog {
    /// A catalog that stays `catalog` until a source replaces it.
    pub fn new(catalog: Catalog) -> LiveCatalog {
        LiveCatalog { current: Arc::new(ArcSwap::from_pointee(catalog)) }
    }

    /// The catalog serving now.
    pub fn current(&self) -> Arc<Catalog> {
        self.current.load_full()
    }
}

/// Why a source gave no catalog.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The source could not be read (a file error, S3 unreachable or refusing).
    #[error("{0}")]
    Unreachable(String),
    /// It was read, but is not a catalog: the message says where.
    #[error("{0}")]
    Invalid(String),
}

impl From<ConfigError> for SourceError {
    fn from(err: ConfigError) -> SourceError {
        SourceError::Invalid(err.to_string())
    }
}

/// What a check of the source found.
#[derive(Debug)]
enum Fetched {
    /// The same bytes as last time (the file).
    Unchanged,
    /// The source itself said nothing changed (S3's 304 to a conditional GET), so nothing was read.
    NotModified,
    /// A `[models]` table to validate.
    Models(BTreeMap<String, ModelConfig>),
}

/// The source a running gateway reloads its catalog from.
#[derive(Debug)]
pub struct CatalogSource {
    kind: SourceKind,
    /// The running tenants: the models they name must be in a new catalog.
    tenants: BTreeMap<String, TenantConfig>,
    /// `bedrock.region`, of the targets that name none.
    home_region: String,
    /// Listened to from the start, so that no SIGHUP finds the default action (exit).
    hangup: Hangup,
}

#[derive(Debug)]
enum SourceKind {
    File(FileSource),
    S3(S3Source),
}

impl CatalogSource {
    /// The source `config` names: `catalog.s3`, else the file it was loaded from; `None` for a
    /// configuration built in memory (tests, local mode without `--config`), whose catalog is fixed.
    pub async fn from_config(config: &Config) -> Option<CatalogSource> {
        let kind = match (&config.catalog.s3, &config.source_file) {
            (Some(s3), _) => SourceKind::S3(S3Source::new(s3, &config.bedrock.region).await),
            (None, Some(path)) => SourceKind::File(FileSource::new(path.clone())),
            (None, None) => return None,
        };
        Some(CatalogSource {
            kind,
            tenants: config.tenants.clone(),
            home_region: config.bedrock.region.clone(),
            hangup: Hangup::listen(),
        })
    }

    fn label(&self) -> &'static str {
        match self.kind {
            SourceKind::File(_) => "file",
            SourceKind::S3(_) => "s3",
        }
    }

    async fn fetch(&mut self) -> Result<Fetched, SourceError> {
        match &mut self.kind {
            SourceKind::File(file) => file.fetch().await,
            SourceKind::S3(s3) => s3.fetch().await,
        }
    }

    /// `models` as a catalog, if it is a valid one and has every model the tenants name.
    fn validate(&self, models: BTreeMap<String, ModelConfig>) -> Result<Catalog, SourceError> {
        catalog::config::validate(&models)?;
        for (name, tenant) in &self.tenants {
            tenant.require_models(name, &models)?;
        }
        Ok(Catalog::from_config(&models, &self.home_region))
    }

    /// The first catalog, for a source the configuration's own `[models]` cannot stand in for
    /// (S3): start-up fails without it.
    pub async fn initial(&mut self) -> Result<Option<Catalog>, SourceError> {
        if matches!(self.kind, SourceKind::File(_)) {
            // The configuration was just loaded from the file: remember its content as read.
            self.fetch().await?;
            return Ok(None);
        }
        match self.fetch().await? {
            Fetched::Models(models) => self.validate(models).map(Some),
            Fetched::Unchanged | Fetched::NotModified => {
                Err(SourceError::Unreachable("the first read returned no catalog".to_owned()))
            }
        }
    }

    /// Checks the source every `interval` (never when zero) and on SIGHUP, swapping each valid
    /// new catalog into `live`, until `stop`.
    pub async fn watch(mut self, live: LiveCatalog, interval: Duration, stop: CancellationToken) {
        let mut ticks = (!interval.is_zero()).then(|| {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks
        });
        let next_tick = async |ticks: &mut Option<tokio::time::Interval>| match ticks {
            Some(ticks) => drop(ticks.tick().await),
            None => std::future::pending().await,
        };
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.hangup.next() => tracing::info!(source = self.label(), "SIGHUP: reloading the catalog"),
                () = next_tick(&mut ticks) => {}
            }
            self.reload(&live).await;
        }
    }

    async fn reload(&mut self, live: &LiveCatalog) {
        let source = self.label();
        let models = match self.fetch().await {
            Ok(Fetched::Unchanged) => return metrics::catalog_reloaded(source, CatalogReload::Unchanged),
            Ok(Fetched::NotModified) => return metrics::catalog_reloaded(source, CatalogReload::NotModified),
            Ok(Fetched::Models(models)) => models,
            Err(err) => return refused(source, &err),
        };
        let catalog = match self.validate(models) {
            Ok(catalog) => catalog,
            Err(err) => return refused(source, &err),
        };
        let previous = live.current();
        if catalog.revision() == previous.revision() {
            return metrics::catalog_reloaded(source, CatalogReload::Unchanged);
        }
        tracing::info!(
            source,
            revision = catalog.revision(),
            previous = previous.revision(),
            "catalog changed: new requests use the new one, requests in flight end on the old"
        );
        live.current.store(Arc::new(catalog));
        metrics::catalog_reloaded(source, CatalogReload::Applied);
    }
}

fn refused(source: &'static str, err: &SourceError) {
    match err {
        SourceError::Invalid(reason) => {
            tracing::error!(source, %reason, "new catalog refused; the current one keeps serving");
            metrics::catalog_reloaded(source, CatalogReload::Invalid);
        }
        SourceError::Unreachable(reason) => {
            tracing::warn!(source, %reason, "catalog source unreadable; the current catalog keeps serving");
            metrics::catalog_reloaded(source, CatalogReload::Unreachable);
        }
    }
}

/// SIGHUP, the conventional "read your configuration again".
#[derive(Debug)]
struct Hangup(Option<tokio::signal::unix::Signal>);

impl Hangup {
    fn listen() -> Hangup {
        let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
        Hangup(
            signal.inspect_err(|err| tracing::warn!(%err, "no SIGHUP: the catalog reloads on its interval only")).ok(),
        )
    }

    async fn next(&mut self) {
        if let Some(signal) = &mut self.0
            && signal.recv().await.is_some()
        {
            return;
        }
        std::future::pending().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TlsConfig;

    fn models(text: &str) -> BTreeMap<String, ModelConfig> {
        Config::from_toml(text).unwrap().models
    }

    #[tokio::test]
    async fn a_new_catalog_is_checked_alone_and_against_the_tenants_that_name_its_models() {
        let mut config = Config::from_toml(
            "[models.chat]\nmodel_id = \"c\"\n[tenants.a]\nmodels = [\"chat\"]\n[tenants.a.model_quotas.chat]\n\
             requests_per_minute = 10\n",
        )
        .unwrap();
        config.source_file = Some("gateway.toml".into());
        // A section the running gateway loaded long ago, whose files may be gone since: a reload
        // does not look at it.
        config.server.tls = Some(TlsConfig {
            cert_file: "/nonexistent/server.pem".into(),
            key_file: "/nonexistent/server.key".into(),
            client_ca_file: None,
            client_cert_required: true,
        });
        let source = CatalogSource::from_config(&config).await.unwrap();

        let catalog = source.validate(models("[models.chat]\nmodel_id = \"c2\"\n[models.more]\nmodel_id = \"m\"\n"));
        assert!(catalog.is_ok(), "{catalog:?}");
        let refusal = |text: &str| match source.validate(models(text)) {
            Err(SourceError::Invalid(reason)) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        };
        let without_chat = refusal("[models.other]\nmodel_id = \"o\"\n");
        assert!(without_chat.contains("`tenants.a.models`"), "{without_chat}");
        let mut broken = models("[models.chat]\nmodel_id = \"c\"\n");
        broken.get_mut("chat").unwrap().max_tokens_cap = 0;
        match source.validate(broken) {
            Err(SourceError::Invalid(reason)) => assert!(reason.contains("`models.chat.max_tokens_cap`"), "{reason}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
