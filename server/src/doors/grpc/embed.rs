//! `Embed`: the pipeline's [`Embed`](crate::pipeline::Embed) operation.

use bedrock_gateway_proto::v1;
use tonic::{Request, Response, Status};

use super::{call_of, respond};
use crate::pipeline::{Embed, Pipeline};

pub(super) async fn serve(
    pipeline: &Pipeline,
    request: Request<v1::EmbedRequest>,
) -> Result<Response<v1::EmbedResponse>, Status> {
    let (call, message) = call_of(pipeline, "Embed", request);
    let request_id = call.request_id().to_owned();
    let served = pipeline.run::<Embed>(call, message).await.map_err(|err| err.to_status(&request_id))?;
    Ok(respond(served))
}
