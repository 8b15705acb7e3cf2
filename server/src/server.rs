//! Composes the server: the gateway service, health and reflection as ordinary services, and the
//! HTTP doors that are on, all behind the same admission edge ([`crate::edge::Edge`]), on one shard or one per thread (see [`crate::transport::shards`]), with
//! graceful draining on shutdown.

use std::future::Future;
use std::sync::Arc;

use bedrock_gateway_proto::v1::gateway_service_server::GatewayServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::{CancellationToken, DropGuard};
use tonic::service::Routes;

use crate::config::Config;
use crate::doors::grpc::Gateway;
use crate::doors::with_http_doors;
use crate::edge::EdgeLayers;
use crate::ops::admin::{self, Readiness};
use crate::ops::emf;
use crate::ops::health::Health;
use crate::ops::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::pipeline::admission::Admission;
use crate::pipeline::catalog::Catalog;
use crate::pipeline::catalog::live::{CatalogSource, LiveCatalog};
use crate::pipeline::quota::Quotas;
use crate::pipeline::tenants::live::{LiveTenants, TenantsSource};
use crate::pipeline::tenants::{Tenants, warn_of_expiring_keys};
use crate::transport::connection::Connections;
use crate::transport::connection_caps::ConnectionCaps;
use crate::transport::listener::{Incoming, Setup};
use crate::transport::shards;
use crate::transport::tls::{Acceptor, TlsFileError};
use crate::upstream::bedrock::Bedrock;
use crate::upstream::documents::SourceError;

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
    Catalog(#[source] SourceError),
    /// The tenants' source (`tenants_source.s3`) gave no valid tenants at start-up.
    #[error("tenants: {0}")]
    Tenants(#[source] SourceError),
    /// A shard's thread or runtime could not start (`server.scheduler = "thread_per_core"`).
    #[error("server.scheduler: cannot start a shard: {0}")]
    Shards(#[source] std::io::Error),
    /// A file of `server.tls` cannot be used.
    #[error(transparent)]
    Tls(#[from] TlsFileError),
}

/// Everything start-up refuses before it serves: the configuration's values
/// ([`Config::validate`]) and the files they name, loaded as serving uses them (the `server.tls`
/// certificate, key and CA). `check-config` runs it too, so that it refuses whatever start-up
/// would, with the same message. Returns the TLS acceptor, when `server.tls` is set.
pub fn preflight(config: &Config) -> Result<Option<Acceptor>, ServeError> {
    config.validate()?;
    Ok(config.server.tls.as_ref().map(Acceptor::load).transpose()?)
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
    // Made first, so that no request goes uncounted; every part that records holds a clone.
    let metrics = Metrics::new();
    let _background = spawn_background(&config, admin_listener, &readiness, &metrics);
    let bedrock = Bedrock::connect(&config.bedrock, metrics.clone()).await;
    let cut = CancellationToken::new();
    let limits = &config.server;
    let admission = Admission::new(limits.max_concurrent_requests, limits.per_caller_limit(), metrics.clone());
    // The catalog first, as the configuration's tenants name its models; then the tenants, which
    // must name the catalog's.
    let tenants = LiveTenants::new(Tenants::from_config(&config));
    let mut catalog_source = CatalogSource::from_config(&config, Arc::new(tenants.clone())).await;
    let first_catalog = match &mut catalog_source {
        Some(source) => source.initial().await.map_err(ServeError::Catalog)?,
        None => None,
    };
    let catalog =
        LiveCatalog::new(first_catalog.unwrap_or_else(|| Catalog::from_config(&config.models, &config.bedrock.region)));
    let mut tenants_source = TenantsSource::from_config(&config, catalog.clone()).await;
    if let Some(source) = &mut tenants_source
        && let Some(first_tenants) = source.initial(&tenants.current()).await.map_err(ServeError::Tenants)?
    {
        tenants.replace(first_tenants);
    }
    let stop_reloads = CancellationToken::new();
    let _stop_reloads = stop_reloads.clone().drop_guard();
    if let Some(source) = catalog_source {
        tokio::spawn(source.watch(catalog.clone(), stop_reloads.clone()));
    }
    if let Some(source) = tenants_source {
        tokio::spawn(source.watch(tenants.clone(), stop_reloads.clone()));
    }
    tokio::spawn(warn_of_expiring_keys(tenants.clone(), stop_reloads));
    let quotas = Quotas::connect(&config.quotas, &config.bedrock.region).await;
    let pipeline = Pipeline::new(catalog, bedrock.clone(), admission, quotas, &config, metrics.clone(), cut.clone());
    let (health, health_service) = Health::serving().await;

    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(bedrock_gateway_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let shared_routes =
        Routes::new(health_service).add_service(reflection().build_v1()?).add_service(reflection().build_v1alpha()?);
    // Made once, as every shard shares them: the body limit holds the process's request memory budget.
    let edge = EdgeLayers::new(limits, config.protocols, tenants, &metrics);
    let caps = ConnectionCaps::new(limits, metrics.clone());
    let setup = Arc::new(Setup::new(limits, Arc::clone(&caps), tls, metrics.clone()));
    // Shard 0 uses the Bedrock client made above; every other shard one of its own.
    let shards = (0..limits.shards())
        .map(|shard| {
            let pipeline =
                if shard == 0 { pipeline.clone() } else { pipeline.with_bedrock(bedrock.for_another_thread()) };
            let gateway_service = GatewayServiceServer::new(Gateway::new(pipeline.clone()))
                // The body limit answers first; this only bounds what tonic will allocate.
                .max_decoding_message_size(limits.max_request_bytes.saturating_add(1024));
            let routes =
                with_http_doors(shared_routes.clone().add_service(gateway_service), config.protocols, &pipeline);
            Connections::new(limits, edge.around(routes), Arc::clone(&setup))
        })
        .collect();

    let drain = CancellationToken::new();
    let server = shards::start(Incoming::new(listener, limits, caps, metrics), shards, drain.clone(), cut.clone())
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

/// Starts what runs beside the server: the admin listener and the EMF writer, which reads
/// `metrics`. They stop when the returned guard is dropped.
fn spawn_background(
    config: &Config,
    admin_listener: Option<TcpListener>,
    readiness: &Readiness,
    metrics: &Metrics,
) -> DropGuard {
    let stop = CancellationToken::new();
    if let Some(admin_listener) = admin_listener {
        tokio::spawn(admin::serve(admin_listener, readiness.clone(), stop.clone()));
    }
    if config.metrics.emf {
        tokio::spawn(emf::run(config.metrics.clone(), metrics.clone(), stop.clone()));
    }
    stop.drop_guard()
}
