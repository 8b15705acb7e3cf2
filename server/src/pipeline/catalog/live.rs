//! Where the catalog comes from while the gateway runs, and how a new one replaces the old.
//!
//! The platform team moves `chat` to a new model, or retires one, without a deployment: the
//! gateway checks its source every `catalog.reload_secs` and on SIGHUP. The source is the config
//! file the gateway started from (its `[models]`; other sections need a restart) or, with
//! `catalog.s3`, one S3 object read with conditional GETs (`upstream::documents`). A new catalog is validated
//! alone, as a catalog, and with the tenants serving now that name its models; then swapped in
//! atomically; an invalid one is refused with a log line and a metric while the old one keeps
//! serving. A request resolves its model once, so a stream in flight ends on the target it started
//! with.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use serde::Deserialize;

use super::Catalog;
use crate::config::{self, Config, ConfigError, ModelConfig};
use crate::ops::metrics::{self, Reload};
pub use crate::upstream::documents::SourceError;
use crate::upstream::documents::{Document, Fetched, Schedule};

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

/// Whoever names models, and so needs them in every new catalog: the tenants serving
/// (`pipeline::tenants::live`), which sit above the catalog and so are asked through this.
pub trait ModelsInUse: std::fmt::Debug + Send + Sync {
    /// Refuses a catalog of `models` that lacks a model named now, naming the key that names it.
    fn require_models(&self, models: &BTreeSet<String>) -> Result<(), ConfigError>;
}

/// The S3 object's content: `{"models": {"chat": {"model_id": "...", ...}}}`, the `[models]` table of
/// the config file in JSON form (Terraform's `jsonencode` writes it).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogDocument {
    models: BTreeMap<String, ModelConfig>,
}

/// The source a running gateway reloads its catalog from.
#[derive(Debug)]
pub struct CatalogSource {
    document: Document,
    /// The tenants serving: the models they name must be in a new catalog.
    tenants: Arc<dyn ModelsInUse>,
    /// `bedrock.region`, of the targets that name none.
    home_region: String,
    /// Made from the start, so that no SIGHUP finds the default action (exit).
    schedule: Schedule,
}

impl CatalogSource {
    /// The source `config` names: `catalog.s3`, else the file it was loaded from; `None` for a
    /// configuration built in memory (tests, local mode without `--config`), whose catalog is fixed.
    /// A new catalog must have the models `tenants` name.
    pub async fn from_config(config: &Config, tenants: Arc<dyn ModelsInUse>) -> Option<CatalogSource> {
        let document = match (&config.catalog.s3, &config.source_file) {
            (Some(s3), _) => Document::s3(s3, &config.bedrock.region).await,
            (None, Some(path)) => Document::file(path.clone()),
            (None, None) => return None,
        };
        Some(CatalogSource {
            document,
            tenants,
            home_region: config.bedrock.region.clone(),
            schedule: Schedule::new(config.catalog.reload_secs.get()),
        })
    }

    fn label(&self) -> &'static str {
        self.document.label()
    }

    /// The source's `[models]`, if they changed: the file's as the gateway would load them at
    /// start-up (environment overrides included), the S3 object's as its JSON says.
    async fn fetch(&mut self) -> Result<Option<BTreeMap<String, ModelConfig>>, SourceError> {
        let content = match self.document.fetch().await.map_err(SourceError::Unreachable)? {
            Fetched::Unchanged | Fetched::NotModified => return Ok(None),
            Fetched::Changed(content) => content,
        };
        match self.document.path() {
            Some(path) => Ok(Some(Config::load(Some(path))?.models)),
            None => serde_json::from_slice::<CatalogDocument>(&content).map(|document| Some(document.models)).map_err(
                |err| SourceError::Invalid(format!("{} is not a catalog document: {err}", self.document.location())),
            ),
        }
    }

    /// `models` as a catalog, if it is a valid one and has every model the tenants serving name.
    fn validate(&self, models: BTreeMap<String, ModelConfig>) -> Result<Catalog, SourceError> {
        config::validate_models(&models)?;
        self.tenants.require_models(&models.keys().cloned().collect())?;
        Ok(Catalog::from_config(&models, &self.home_region))
    }

    /// The first catalog, for a source the configuration's own `[models]` cannot stand in for
    /// (S3): start-up fails without it.
    pub async fn initial(&mut self) -> Result<Option<Catalog>, SourceError> {
        if self.document.path().is_some() {
            // The configuration was just loaded from the file: remember its content as read.
            self.fetch().await?;
            return Ok(None);
        }
        match self.fetch().await? {
            Some(models) => self.validate(models).map(Some),
            None => Err(SourceError::Unreachable("the first read returned no catalog".to_owned())),
        }
    }

    /// Checks the source on its schedule, swapping each valid new catalog into `live`, until
    /// `stop`.
    pub async fn watch(mut self, live: LiveCatalog, stop: CancellationToken) {
        while self.schedule.next(&stop, "catalog", self.label()).await {
            self.reload(&live).await;
        }
    }

    async fn reload(&mut self, live: &LiveCatalog) {
        let source = self.label();
        let unchanged = match &self.document {
            Document::File(_) => Reload::Unchanged,
            Document::S3(_) => Reload::NotModified,
        };
        let models = match self.fetch().await {
            Ok(None) => return metrics::catalog_reloaded(source, unchanged),
            Ok(Some(models)) => models,
            Err(err) => return refused(source, &err),
        };
        let catalog = match self.validate(models) {
            Ok(catalog) => catalog,
            Err(err) => return refused(source, &err),
        };
        let previous = live.current();
        if catalog.revision() == previous.revision() {
            return metrics::catalog_reloaded(source, Reload::Unchanged);
        }
        tracing::info!(
            source,
            revision = catalog.revision(),
            previous = previous.revision(),
            "catalog changed: new requests use the new one, requests in flight end on the old"
        );
        live.current.store(Arc::new(catalog));
        metrics::catalog_reloaded(source, Reload::Applied);
    }
}

fn refused(source: &'static str, err: &SourceError) {
    match err {
        SourceError::Invalid(reason) => {
            tracing::error!(source, %reason, "new catalog refused; the current one keeps serving");
            metrics::catalog_reloaded(source, Reload::Invalid);
        }
        SourceError::Unreachable(reason) => {
            tracing::warn!(source, %reason, "catalog source unreadable; the current catalog keeps serving");
            metrics::catalog_reloaded(source, Reload::Unreachable);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    use crate::config::{TenantConfig, TlsConfig};

    /// The tenants serving, as their configuration: what a catalog reload asks.
    #[derive(Debug)]
    struct ServingTenants(Mutex<BTreeMap<String, TenantConfig>>);

    impl ModelsInUse for ServingTenants {
        fn require_models(&self, models: &BTreeSet<String>) -> Result<(), ConfigError> {
            let tenants = self.0.lock().unwrap();
            tenants.iter().try_for_each(|(name, tenant)| tenant.require_models(name, models))
        }
    }

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
        let tenants = Arc::new(ServingTenants(Mutex::new(config.tenants.clone())));
        let source = CatalogSource::from_config(&config, tenants.clone()).await.unwrap();

        let catalog = source.validate(models("[models.chat]\nmodel_id = \"c2\"\n[models.more]\nmodel_id = \"m\"\n"));
        assert!(catalog.is_ok(), "{catalog:?}");
        let refusal = |text: &str| match source.validate(models(text)) {
            Err(SourceError::Invalid(reason)) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        };
        let without_chat = refusal("[models.other]\nmodel_id = \"o\"\n");
        assert!(without_chat.contains("`tenants.a.models`"), "{without_chat}");
        // The tenants serving now, not those the gateway started with: a tenant onboarded since
        // that names `more` keeps it in every new catalog.
        let onboarded =
            Config::from_toml("[models.more]\nmodel_id = \"m\"\n[tenants.b]\nmodels = [\"more\"]\n").unwrap();
        *tenants.0.lock().unwrap() = onboarded.tenants;
        let without_more = refusal("[models.chat]\nmodel_id = \"c2\"\n");
        assert!(without_more.contains("`tenants.b.models`"), "{without_more}");
        let mut broken = models("[models.chat]\nmodel_id = \"c\"\n");
        broken.get_mut("chat").unwrap().max_tokens_cap = 0;
        match source.validate(broken) {
            Err(SourceError::Invalid(reason)) => assert!(reason.contains("`models.chat.max_tokens_cap`"), "{reason}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
