//! `CountTokens`: the pipeline's [`CountTokens`](crate::pipeline::CountTokens) operation.

use bedrock_gateway_proto::v1;
use tonic::{Request, Response, Status};

use super::{call_of, respond};
use crate::pipeline::{CountTokens, Pipeline};

pub(super) async fn serve(
    pipeline: &Pipeline,
    request: Request<v1::ConverseRequest>,
) -> Result<Response<v1::CountTokensResponse>, Status> {
    let (call, message) = call_of(pipeline, "CountTokens", request);
    let request_id = call.request_id().to_owned();
    let served = pipeline.run::<CountTokens>(call, message).await.map_err(|err| err.to_status(&request_id))?;
    Ok(respond(served))
}
