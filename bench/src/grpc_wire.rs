//! gRPC by hand on raw HTTP/2, for the clients that misbehave on purpose (the abusers and the
//! floods): a gRPC client would not send half a message or never end a request. What they share is
//! the wire format: a message's 5-byte prefix, and the status a call ended with.

use bytes::Bytes;

/// A gRPC message's prefix: its compression flag and its length.
pub const MESSAGE_PREFIX_BYTES: usize = 5;

/// The prefix of an uncompressed message of `length` bytes.
pub fn prefix(length: u32) -> [u8; MESSAGE_PREFIX_BYTES] {
    let [a, b, c, d] = length.to_be_bytes();
    [0, a, b, c, d]
}

/// `message` as one length-prefixed gRPC frame.
pub fn frame(message: &[u8]) -> Bytes {
    let mut frame = Vec::with_capacity(MESSAGE_PREFIX_BYTES + message.len());
    frame.extend_from_slice(&prefix(u32::try_from(message.len()).unwrap_or(u32::MAX)));
    frame.extend_from_slice(message);
    frame.into()
}

/// The gRPC status in `headers` (a call refused at once carries it in its response headers, any
/// other in its trailers), by code name.
pub fn status_of(headers: &http::HeaderMap) -> Option<String> {
    let code = headers.get("grpc-status")?.to_str().ok()?.parse::<i32>().ok()?;
    Some(format!("{:?}", tonic::Code::from(code)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_the_flag_the_big_endian_length_and_the_message() {
        assert_eq!(&frame(b"abc")[..], b"\0\0\0\0\x03abc");
        assert_eq!(prefix(4_000_000), [0, 0, 0x3d, 0x09, 0]);
        let mut headers = http::HeaderMap::new();
        assert_eq!(status_of(&headers), None);
        headers.insert("grpc-status", http::HeaderValue::from_static("8"));
        assert_eq!(status_of(&headers).as_deref(), Some("ResourceExhausted"));
    }
}
