//! The API's gRPC codec: prost, with a smaller encoding buffer than tonic's default.
//!
//! tonic allocates each call's encoding buffer up front and keeps it for the whole call. Its default
//! of 8 KiB was the largest single part of what an open stream holds in the gateway, while a stream
//! event is a few dozen bytes. A larger message grows the buffer in steps of its size, so a big
//! unary answer costs a few more allocations, and nothing else changes.

use std::marker::PhantomData;

use tonic::codec::{BufferSettings, Codec};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// Bytes allocated for a call's encoding buffer, and its growth step.
const ENCODE_BUFFER_BYTES: usize = 1024;
/// tonic's default: how much encoded data a call gathers before yielding it.
const YIELD_THRESHOLD_BYTES: usize = 32 * 1024;

/// prost encoding and decoding with [`ENCODE_BUFFER_BYTES`] for encoding.
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
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(BufferSettings::new(ENCODE_BUFFER_BYTES, YIELD_THRESHOLD_BYTES))
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<T, U>::raw_decoder(BufferSettings::default())
    }
}
