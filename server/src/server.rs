//! Composes the gRPC server: the gateway service, health and reflection as ordinary services, all
//! behind the same admission edge ([`crate::admission::Edge`]), on one shard or one per thread (see [`crate::shards`]), with
//! graceful draining on shutdown.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use bedrock_gateway_proto::v1::gateway_service_server::GatewayServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::{CancellationToken, DropGuard};
use tonic::service::Routes;

use crate::admin::{self, Readiness};
use crate::admission::{Admission, EdgeLayers};
use crate::bedrock::Bedrock;
use crate::catalog::Catalog;
use crate::catalog_source::{CatalogSource, LiveCatalog};
use crate::config::Config;
use crate::connection::Connections;
use crate::connection_caps::ConnectionCaps;
use crate::health::Health;
use crate::listener::{Incoming, Setup};
use crate::quota::Quotas;
use crate::service::Gateway;
use crate::tenants::Tenants;
use crate::tls::Acceptor;
use crate::{emf, shards};

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The reflection service could not load the API's descriptors.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The catalog's source (`catalog.s3`) gave no valid catalog at start-up.
    #[error("catalog: {0}")]
    Catalog(#[from] crate::catalog_source::SourceError),
    /// A shard's thread or runtime could not start (`server.scheduler = "thread_per_core"`).
    #[error("server.scheduler: cannot start a shard: {0}")]
    Shards(#[source] std::io::Error),
    /// A file of `server.tls` cannot be used.
    #[error("{key} ({}): {reason}", file.display())]
    Tls {
        /// The config key that names the file.
        key: &'static str,
        /// The file.
        file: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// Everything start-up refuses before it serves: the configuration's values
/// ([`Config::validate`]) and the files they name, loaded as serving uses them (the `server.tls`
/// certificate, key and CA). `check-config` runs it too, so that it refuses whatever start-up
/// would, with the same message. Returns the TLS acceptor, when `server.tls` is set.
pub fn preflight(config: &Config) -> Result<Option<Acceptor>, ServeError> {
    config.validate()?;
    config.server.tls.as_ref().map(Acceptor::load).transpose()
}

/// Serves the gateway on `listener` until `shutdown` completes, then drains: health turns
/// NOT_SERVING, new connections are refused, and in-flight streams get `server.shutdown_grace_secs`
/// to finish before they are cut. No admin listener: see [`serve_with_admin`].
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    serve_with_admin(config, listener, None, shutdown).await
}

/// [`serve`], plus the admin endpoints (`/metrics`, `/healthz`, `/readyz`; see [`admin`]) on
/// `admin_listener` when given, whose readiness turns 503 when the drain begins, and the CloudWatch
/// EMF lines when `metrics.emf` is on. Both stop when this returns. `main` binds `admin.listen`;
/// tests pass a listener on an ephemeral port.
pub async fn serve_with_admin(
    config: Config,
    listener: TcpListener,
    admin_listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    // Before anything starts, so that a bad value or certificate stops the process at once.
    let tls = preflight(&config)?;
    let readiness = Readiness::default();
    let _background = spawn_background(&config, admin_listener, &readiness);
    let bedrock = Bedrock::connect(&config.bedrock).await;
    let cut = CancellationToken::new();
    let limits = &config.server;
    let admission = Admission::new(limits.max_concurrent_requests, limits.per_caller_limit());
    let mut catalog_source = CatalogSource::from_config(&config).await;
    let first_catalog = match &mut catalog_source {
        Some(source) => source.initial().await?,
        None => None,
    };
    let catalog =
        LiveCatalog::new(first_catalog.unwrap_or_else(|| Catalog::from_config(&config.models, &config.bedrock.region)));
    let stop_reloads = CancellationToken::new();
    let _stop_reloads = stop_reloads.clone().drop_guard();
    if let Some(source) = catalog_source {
        tokio::spawn(source.watch(catalog.clone(), config.catalog.reload_secs.get(), stop_reloads));
    }
    let tenants = Arc::new(Tenants::from_config(&config));
    let quotas = Quotas::connect(&config.quotas).await;
    let gateway = Gateway::new(catalog, bedrock.clone(), admission, quotas, limits, &config.bedrock, cut.clone());
    let (health, health_service) = Health::serving().await;

    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(bedrock_gateway_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let shared_routes =
        Routes::new(health_service).add_service(reflection().build_v1()?).add_service(reflection().build_v1alpha()?);
    // Made once, as every shard shares them: the body limit holds the process's request memory budget.
    let edge = EdgeLayers::new(limits, tenants);
    let caps = ConnectionCaps::new(limits);
    let setup = Arc::new(Setup::new(limits, Arc::clone(&caps), tls));
    // Shard 0 uses the Bedrock client made above; every other shard one of its own.
    let shards = (0..limits.shards())
        .map(|shard| {
            let gateway = if shard == 0 { gateway.clone() } else { gateway.with_bedrock(bedrock.for_another_thread()) };
            let gateway_service = GatewayServiceServer::new(gateway)
                // The body limit answers first; this only bounds what tonic will allocate.
                .max_decoding_message_size(limits.max_request_bytes.saturating_add(1024));
            let routes = shared_routes.clone().add_service(gateway_service);
            Connections::new(limits, edge.around(routes), Arc::clone(&setup))
        })
        .collect();

    let drain = CancellationToken::new();
    let server = shards::start(Incoming::new(listener, limits, caps), shards, drain.clone(), cut.clone())
        .map_err(ServeError::Shards)?;
    tokio::pin!(server);

    readiness.serving();
    tokio::select! {
        () = &mut server => return Ok(()),
        () = shutdown => {}
    }
    readiness.draining();
    tracing::info!(grace_secs = limits.shutdown_grace_secs.0, "shutting down: draining in-flight streams");
    health.drain().await;
    drain.cancel();
    if tokio::time::timeout(limits.shutdown_grace_secs.get(), &mut server).await.is_ok() {
        return Ok(());
    }
    tracing::warn!("shutdown grace elapsed; ending the streams still open as incomplete");
    // Every connection's cut token is a child of this one: the cut streams send their final
    // status, then their connections close, within the connections' flush time.
    cut.cancel();
    server.await;
    Ok(())
}

/// Starts what runs beside the server: the admin listener and the EMF writer. They stop when the
/// returned guard is dropped.
fn spawn_background(config: &Config, admin_listener: Option<TcpListener>, readiness: &Readiness) -> DropGuard {
    let stop = CancellationToken::new();
    if let Some(admin_listener) = admin_listener {
        // Installed before serving, so that no request goes uncounted.
        crate::metrics::install();
        tokio::spawn(admin::serve(admin_listener, readiness.clone(), stop.clone()));
    }
    if config.metrics.emf {
        tokio::spawn(emf::run(config.metrics.clone(), stop.clone()));
    }
    stop.drop_guard()
}
