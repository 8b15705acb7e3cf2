//! AWS event stream frame encoding.
//!
//! Bedrock's streaming operations wrap every event in a binary frame
//! (`application/vnd.amazon.eventstream`). The emulator only ever writes
//! frames whose headers are strings, so only that header type is supported.
//!
//! Frame layout, all integers big-endian:
//!
//! ```text
//! total length u32 | headers length u32 | prelude CRC32 u32 | headers | payload | message CRC32 u32
//! ```
//!
//! Each header is `name length u8 | name | type u8 (7 = string) | value length u16 | value`.

use bytes::{BufMut, BytesMut};

const PRELUDE_LEN: usize = 8;
const PRELUDE_WITH_CRC_LEN: usize = PRELUDE_LEN + 4;
const HEADER_TYPE_STRING: u8 = 7;

/// Appends one frame to `out`.
///
/// The payload is written in place by `write_payload` so that JSON can be
/// produced straight into the output buffer; lengths and checksums are
/// patched in afterwards.
pub(crate) fn encode(out: &mut BytesMut, headers: &[(&str, &str)], write_payload: impl FnOnce(&mut BytesMut)) {
    let start = out.len();
    out.put_bytes(0, PRELUDE_WITH_CRC_LEN);
    for (name, value) in headers {
        debug_assert!(name.len() <= usize::from(u8::MAX));
        debug_assert!(value.len() <= usize::from(u16::MAX));
        out.put_u8(name.len() as u8);
        out.put_slice(name.as_bytes());
        out.put_u8(HEADER_TYPE_STRING);
        out.put_u16(value.len() as u16);
        out.put_slice(value.as_bytes());
    }
    let headers_len = out.len() - start - PRELUDE_WITH_CRC_LEN;
    write_payload(out);
    let total_len = out.len() - start + 4;

    let frame = &mut out[start..];
    frame[0..4].copy_from_slice(&(total_len as u32).to_be_bytes());
    frame[4..8].copy_from_slice(&(headers_len as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&frame[..PRELUDE_LEN]);
    frame[8..12].copy_from_slice(&prelude_crc.to_be_bytes());
    let message_crc = crc32fast::hash(frame);
    out.put_u32(message_crc);
}

#[cfg(test)]
mod tests {
    use super::encode;
    use bytes::{BufMut, BytesMut};

    #[test]
    fn empty_frame_matches_the_reference_vector() {
        // The "empty_message" vector of the AWS event stream test suite.
        let mut out = BytesMut::new();
        encode(&mut out, &[], |_| {});
        assert_eq!(
            &out[..],
            &[0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff]
        );
    }

    #[test]
    fn lengths_account_for_headers_and_payload() {
        let mut out = BytesMut::new();
        out.put_slice(b"earlier frame");
        encode(&mut out, &[(":event-type", "x")], |b| b.put_slice(b"{}"));
        let frame = &out[13..];
        let headers_len = 1 + 11 + 1 + 2 + 1;
        assert_eq!(u32::from_be_bytes(frame[0..4].try_into().unwrap()) as usize, frame.len());
        assert_eq!(u32::from_be_bytes(frame[4..8].try_into().unwrap()) as usize, headers_len);
        assert_eq!(&frame[12 + headers_len..frame.len() - 4], b"{}");
    }

    #[test]
    fn the_sdk_decoder_reads_what_we_write() {
        let mut out = BytesMut::new();
        encode(&mut out, &[(":event-type", "messageStart"), (":message-type", "event")], |b| {
            b.put_slice(br#"{"role":"assistant"}"#)
        });
        let message = aws_smithy_eventstream::frame::read_message_from(&out[..]).unwrap();
        assert_eq!(&message.payload()[..], br#"{"role":"assistant"}"#);
        let headers: Vec<_> =
            message.headers().iter().map(|h| (h.name().as_str(), h.value().as_string().unwrap().as_str())).collect();
        assert_eq!(headers, [(":event-type", "messageStart"), (":message-type", "event")]);
    }
}
