//! `ConverseStream`: the pipeline's [`ConverseStream`](crate::pipeline::ConverseStream) operation.

use bedrock_gateway_proto::v1;
use tonic::{Request, Response, Status};

use super::{call_of, respond};
use crate::pipeline::relay::RelayStream;
use crate::pipeline::{ConverseStream, Pipeline};

pub(super) async fn serve(
    pipeline: &Pipeline,
    request: Request<v1::ConverseRequest>,
) -> Result<Response<RelayStream>, Status> {
    let (call, message) = call_of(pipeline, "ConverseStream", request);
    let request_id = call.request_id().to_owned();
    let served = pipeline.run::<ConverseStream>(call, message).await.map_err(|err| err.to_status(&request_id))?;
    Ok(respond(served))
}
