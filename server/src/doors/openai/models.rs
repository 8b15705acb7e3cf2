//! `GET /v1/models`: the caller's aliases as OpenAI's model list.

use bedrock_gateway_proto::v1;
use bytes::Bytes;
use serde::Serialize;

/// Who OpenAI's list says owns each model: the gateway, which names them; which provider's model
/// answers behind an alias is the platform team's business.
const OWNED_BY: &str = "bedrock-gateway";

#[derive(Debug, Serialize)]
struct List<'a> {
    object: &'static str,
    data: Vec<Model<'a>>,
}

#[derive(Debug, Serialize)]
struct Model<'a> {
    id: &'a str,
    object: &'static str,
    /// When the model was made, in Unix seconds: the catalog has no such date, so 0.
    created: u64,
    owned_by: &'static str,
}

/// The models of `list` a request may name: every alias the tenant may use but the retired ones,
/// which would only refuse.
pub fn models_response(list: &v1::ListModelsResponse) -> Bytes {
    let data = list
        .models
        .iter()
        .filter(|model| model.state() != v1::ModelState::Retired)
        .map(|model| Model { id: &model.name, object: "model", created: 0, owned_by: OWNED_BY })
        .collect();
    Bytes::from(serde_json::to_vec(&List { object: "list", data }).expect("a model list serializes"))
}
