//! The API's gRPC codec: prost, with a smaller encoding buffer than tonic's default, and a status
//! for a message that does not decode that names its type and says whose mistake it is.
//!
//! tonic allocates each call's encoding buffer up front and keeps it for the whole call. Its default
//! of 8 KiB was the largest single part of what an open stream holds in the gateway, while a stream
//! event is a few dozen bytes. A larger message grows the buffer in steps of its size, so a big
//! unary answer costs a few more allocations, and nothing else changes.
//!
//! prost reports a message that does not decode as INTERNAL, which says the server failed. A
//! request that does not decode is the caller's to fix, so the server answers INVALID_ARGUMENT; an
//! answer the client cannot decode stays INTERNAL, as the fault is not the caller's.

use std::marker::PhantomData;

use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic::{Code, Status};
use tonic_prost::{ProstCodec, ProstEncoder};

use crate::v1;

/// Bytes allocated for a call's encoding buffer, and its growth step.
const ENCODE_BUFFER_BYTES: usize = 1024;
/// tonic's default: how much encoded data a call gathers before yielding it.
const YIELD_THRESHOLD_BYTES: usize = 32 * 1024;

/// prost encoding with [`ENCODE_BUFFER_BYTES`], and decoding with [`Decoded`]'s status.
#[derive(Debug, Clone)]
pub struct ApiCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for ApiCodec<T, U> {
    fn default() -> Self {
        ApiCodec(PhantomData)
    }
}

impl<T, U> Codec for ApiCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Decoded + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ApiDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(BufferSettings::new(ENCODE_BUFFER_BYTES, YIELD_THRESHOLD_BYTES))
    }

    fn decoder(&mut self) -> Self::Decoder {
        ApiDecoder(PhantomData)
    }
}

/// Which way a message travels: it says whose mistake a message that does not decode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the caller to the server: INVALID_ARGUMENT.
    Request,
    /// From the server to the caller: INTERNAL.
    Answer,
}

/// A message an RPC of the API decodes.
pub trait Decoded: prost::Name {
    /// Which way it travels.
    const DIRECTION: Direction;
}

macro_rules! decoded {
    ($direction:expr => $($message:ty),+) => {
        $(impl Decoded for $message {
            const DIRECTION: Direction = $direction;
        })+
    };
}

decoded!(Direction::Request => v1::ConverseRequest, v1::ListModelsRequest, v1::EmbedRequest);
decoded!(
    Direction::Answer =>
    v1::ConverseResponse,
    v1::ConverseStreamEvent,
    v1::ListModelsResponse,
    v1::CountTokensResponse,
    v1::EmbedResponse
);

/// prost decoding, with tonic's default buffer settings and [`Decoded`]'s status.
#[derive(Debug, Clone)]
pub struct ApiDecoder<U>(PhantomData<U>);

impl<U: prost::Message + Default + Decoded> Decoder for ApiDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(src).map(Some).map_err(undecodable::<U>)
    }
}

/// The status of a `U` that does not decode.
fn undecodable<U: Decoded>(err: prost::DecodeError) -> Status {
    let (code, what) = match U::DIRECTION {
        Direction::Request => (Code::InvalidArgument, "request"),
        Direction::Answer => (Code::Internal, "answer"),
    };
    Status::new(code, format!("the {what} message does not decode as {}: {err}", U::full_name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Field 2 of ConverseRequest (`messages`, length-delimited) with a length past the end.
    const TRUNCATED: &[u8] = &[0x12, 0x05, 0x01];

    fn decode<U: prost::Message + Default + Decoded + std::fmt::Debug>(bytes: &[u8]) -> Status {
        undecodable::<U>(U::decode(bytes).unwrap_err())
    }

    #[test]
    fn an_undecodable_request_is_the_callers_mistake_and_an_undecodable_answer_is_not() {
        let request = decode::<v1::ConverseRequest>(TRUNCATED);
        assert_eq!(request.code(), Code::InvalidArgument);
        assert!(
            request
                .message()
                .starts_with("the request message does not decode as bedrock.gateway.v1.ConverseRequest: "),
            "{}",
            request.message()
        );
        let answer = decode::<v1::ConverseResponse>(TRUNCATED);
        assert_eq!(answer.code(), Code::Internal);
        assert!(answer.message().contains("answer message does not decode as bedrock.gateway.v1.ConverseResponse"));
    }
}
