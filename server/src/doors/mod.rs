//! Front doors: each decodes its protocol's requests into the pipeline's and encodes the
//! pipeline's events, errors and ends in its protocol's shape.

// The codec comes first; the handlers that call it come with the HTTP front doors (issue 24).
#[allow(dead_code, unused_imports)]
pub mod bedrock;
pub mod grpc;
