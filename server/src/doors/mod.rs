//! Front doors: each decodes its protocol's requests into the pipeline's and encodes the
//! pipeline's events, errors and ends in its protocol's shape. gRPC is the typed contract; the
//! HTTP doors (Bedrock's runtime API, OpenAI's API) serve the same pipeline on the same listener,
//! for teams whose SDKs and tools already speak them.

pub mod bedrock;
pub mod grpc;
pub mod http;
pub mod openai;

use tonic::service::Routes;

use crate::config::ProtocolsConfig;
use crate::pipeline::Pipeline;

/// `routes` (gRPC's) and the routes of the HTTP doors that `protocols` turns on, answering through
/// `pipeline`.
pub fn with_http_doors(routes: Routes, protocols: ProtocolsConfig, pipeline: &Pipeline) -> Routes {
    let mut router = routes.into_axum_router();
    if protocols.bedrock {
        router = router.merge(bedrock::router(pipeline.clone()));
    }
    if protocols.openai {
        router = router.merge(openai::router(pipeline.clone()));
    }
    Routes::from(router)
}
