//! `ListModels`: the logical models the caller's tenant may call, asking nothing of Bedrock.

use bedrock_gateway_proto::v1;
use tonic::{Request, Response, Status};

use super::call_of;
use crate::pipeline::Pipeline;

pub(super) fn serve(
    pipeline: &Pipeline,
    request: Request<v1::ListModelsRequest>,
) -> Result<Response<v1::ListModelsResponse>, Status> {
    let (call, _) = call_of(pipeline, "ListModels", request);
    pipeline.list_models(&call).map(Response::new).map_err(|err| err.to_status(call.request_id()))
}
