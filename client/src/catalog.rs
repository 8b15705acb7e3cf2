//! What [`Client::catalog`](crate::Client::catalog) answers: the gateway's logical models and the
//! revision of the catalog they come from. The platform team changes the catalog while the gateway
//! runs; the revision tells a caller (or an operator comparing tasks) which one it was shown.

use bedrock_gateway_proto::v1;

/// The catalog a gateway serves.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    /// A short hash of the catalog's settings: the same on every task serving the same catalog,
    /// another one after any change.
    pub revision: String,
    /// The logical models, sorted by name, with their lifecycle state.
    pub models: Vec<v1::ModelInfo>,
}

impl From<v1::ListModelsResponse> for Catalog {
    fn from(response: v1::ListModelsResponse) -> Catalog {
        Catalog { revision: response.catalog_revision, models: response.models }
    }
}
