//! Front doors: each decodes its protocol's requests into the pipeline's and encodes the
//! pipeline's events, errors and ends in its protocol's shape.

pub mod grpc;
#[cfg_attr(not(test), expect(unused, reason = "its HTTP handlers, the door's next part, call it"))]
pub mod openai;
