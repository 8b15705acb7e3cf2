//! Admission: everything that decides whether a request may use the gateway, as pieces readable one
//! at a time. Every route on the listener passes the same edge ([`Edge`]): the gateway service,
//! the HTTP doors, health, reflection and whatever is added later, since the transport's
//! `Connections` serves only an [`Edge`] and an [`Edge`] can only be made around the listener's
//! whole set of routes. Outermost first:
//!
//! 1. [`RequestEdge`] decides the request's [`Route`](route::Route) (gRPC, or which HTTP door), gives it its id
//!    and starts its log line, so every refusal below is logged once, with a reason, and answered
//!    with `x-request-id`, in the protocol of its door ([`Route::refuse`](route::Route::refuse)).
//! 2. [`GrpcContentType`]: only gRPC with protobuf messages is read as gRPC.
//! 3. [`Identify`]: which tenant the request is from, and whether it may call at all (the gateway
//!    service's and the doors' routes; control routes are open to everyone).
//! 4. [`RequestBodyLimit`]: how large the request message may be (by route), how long it may take
//!    to arrive, and how many bytes of all requests, and of one caller's, may be held at once.
//! 5. [`Admission`], taken by the service once the message is complete: how many requests may be in
//!    flight, in total and per caller. Its [`Slot`] is held by the stream until it ends.
//! 6. The tenant's model access and quotas, checked by the service once the model is known (see
//!    [`crate::pipeline::quota`]).
//!
//! Each refuses with a clear status and leaves the server serving everyone else.

mod content_type;
mod identify;
mod request_body;
mod request_edge;
mod route;

pub use content_type::{GrpcContentType, GrpcContentTypeLayer};
pub use identify::{Identify, IdentifyLayer};
pub use request_body::{BodyLimits, RequestBodyLimit, RequestBodyLimitLayer};
pub use request_edge::{RequestEdge, RequestEdgeLayer};
use tonic::service::Routes;
use tower::Layer;

use crate::config::{ProtocolsConfig, ServerConfig};
use crate::ops::metrics::Metrics;
use crate::pipeline::tenants::live::LiveTenants;

/// The listener's routes behind every admission layer, as connections serve them.
#[derive(Debug, Clone)]
pub struct Edge(Layered);

type Layered = RequestEdge<GrpcContentType<Identify<RequestBodyLimit<Routes>>>>;

/// The admission layers, made once and shared by every shard, so that the request-memory budget
/// is the process's.
#[derive(Debug, Clone)]
pub struct EdgeLayers {
    request_edge: RequestEdgeLayer,
    identify: IdentifyLayer,
    body_limit: RequestBodyLimitLayer,
}

impl EdgeLayers {
    /// The bounds of `config` (`server`), routing to the doors of `protocols`, identifying callers
    /// against `tenants`, each request's record counting in `metrics`.
    pub fn new(
        config: &ServerConfig,
        protocols: ProtocolsConfig,
        tenants: LiveTenants,
        metrics: &Metrics,
    ) -> EdgeLayers {
        let body_limits = BodyLimits {
            max_request_bytes: config.max_request_bytes,
            receive_timeout: config.request_receive_timeout_secs.get(),
            budget_bytes: config.max_buffered_request_bytes,
            per_caller_bytes: config.per_caller_request_memory(),
        };
        EdgeLayers {
            request_edge: RequestEdgeLayer { metrics: metrics.clone(), protocols },
            identify: IdentifyLayer::new(tenants),
            body_limit: RequestBodyLimitLayer::new(body_limits),
        }
    }

    /// Every one of `routes` behind the layers.
    pub fn around(&self, routes: Routes) -> Edge {
        let routes = self.body_limit.layer(routes.prepare());
        Edge(self.request_edge.layer(GrpcContentTypeLayer.layer(self.identify.layer(routes))))
    }
}

impl<B> tower::Service<http::Request<B>> for Edge
where
    Layered: tower::Service<http::Request<B>>,
{
    type Response = <Layered as tower::Service<http::Request<B>>>::Response;
    type Error = <Layered as tower::Service<http::Request<B>>>::Error;
    type Future = <Layered as tower::Service<http::Request<B>>>::Future;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        self.0.call(request)
    }
}
