//! Composes the gRPC server: the gateway service behind its admission layers, plus health and
//! reflection as ordinary services, with graceful draining on shutdown.

use std::future::Future;
use std::time::Duration;

use bedrock_gateway_proto::v1::gateway_service_server::GatewayServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::{CancellationToken, DropGuard};
use tonic::transport::Server;
use tower::ServiceBuilder;

use crate::admin::{self, Readiness};
use crate::admission::{ApiKeyAuthLayer, InFlightLimitLayer, RequestSizeLimitLayer};
use crate::bedrock::Bedrock;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::service::Gateway;
use crate::{emf, listener};

/// How long cut streams get to send their final status before the server stops regardless.
const CUT_FLUSH: Duration = Duration::from_secs(2);

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The reflection service could not load the API's descriptors.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("server: {0}")]
    Transport(#[from] tonic::transport::Error),
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
    config.validate()?;
    let readiness = Readiness::default();
    let _background = spawn_background(&config, admin_listener, &readiness);
    let bedrock = Bedrock::connect(&config.bedrock).await;
    let cut = CancellationToken::new();
    let gateway = Gateway::new(Catalog::from_config(&config.models), bedrock, &config.server, cut.clone());

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<GatewayServiceServer<Gateway>>().await;

    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(bedrock_gateway_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let limits = &config.server;
    let gateway_service = ServiceBuilder::new()
        .layer(ApiKeyAuthLayer::new(&config.auth.api_keys))
        .layer(InFlightLimitLayer::new(limits.max_concurrent_requests))
        .layer(RequestSizeLimitLayer::new(limits.max_request_bytes))
        .service(
            GatewayServiceServer::new(gateway)
                // The size layer answers first; this only bounds what tonic will allocate.
                .max_decoding_message_size(limits.max_request_bytes.saturating_add(1024)),
        );

    let incoming = listener::incoming(listener, limits.proxy_protocol);
    let (drain, drain_signal) = tokio::sync::oneshot::channel::<()>();
    let server = Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(limits.http2_keepalive_interval_secs)))
        .http2_keepalive_timeout(Some(Duration::from_secs(limits.http2_keepalive_timeout_secs)))
        .add_service(health_service)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?)
        .add_service(gateway_service)
        .serve_with_incoming_shutdown(incoming, async {
            let _ = drain_signal.await;
        });
    tokio::pin!(server);

    readiness.serving();
    tokio::select! {
        finished = &mut server => return Ok(finished?),
        () = shutdown => {}
    }
    readiness.draining();
    tracing::info!(grace_secs = limits.shutdown_grace_secs, "shutting down: draining in-flight streams");
    health.set_not_serving::<GatewayServiceServer<Gateway>>().await;
    let _ = drain.send(());
    if let Ok(finished) = tokio::time::timeout(limits.shutdown_grace(), &mut server).await {
        return Ok(finished?);
    }
    tracing::warn!("shutdown grace elapsed; ending the streams still open as incomplete");
    cut.cancel();
    // The cut streams send their final status, then their connections close.
    match tokio::time::timeout(CUT_FLUSH, server).await {
        Ok(finished) => Ok(finished?),
        Err(_) => Ok(()),
    }
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
