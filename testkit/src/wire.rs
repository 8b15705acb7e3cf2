//! Raw HTTP/2 and gRPC wire pieces, for tests that speak to the gateway below a gRPC client: PROXY
//! headers, gRPC requests and frames, statuses.

use std::net::SocketAddr;

/// A PROXY protocol v2 LOCAL header (the command of the NLB's own health checks) that still
/// carries a client address and `vpc_endpoint_id`'s TLV, as no NLB sends but any peer could.
pub fn local_header_with_endpoint(source: SocketAddr, destination: SocketAddr, vpc_endpoint_id: &str) -> Vec<u8> {
    let mut header = bedrock_gateway::proxy_protocol::encode(source, destination, Some(vpc_endpoint_id));
    // Byte 12 is version 2 and the command: 0x21 PROXY, 0x20 LOCAL.
    header[12] = 0x20;
    header
}

/// The headers of a gRPC call of `method` on the gateway service, for [`TestGateway::raw_http2`].
pub fn grpc_call(method: &str) -> http::Request<()> {
    grpc_call_to(&format!("/bedrock.gateway.v1.GatewayService/{method}"))
}

/// The headers of a gRPC call to `path` (`/package.Service/Method`), for [`TestGateway::raw_http2`].
pub fn grpc_call_to(path: &str) -> http::Request<()> {
    http::Request::post(format!("http://gateway.test{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap()
}

/// The gRPC status in `headers` (a trailers-only answer's, or trailers).
pub fn grpc_status(headers: &http::HeaderMap) -> Option<tonic::Code> {
    let value = headers.get("grpc-status")?.to_str().ok()?.parse::<i32>().ok()?;
    Some(tonic::Code::from(value))
}

/// A raw call's gRPC status: in its headers when it ended before any message, else in its
/// trailers, after whatever messages it sent.
pub async fn final_status(response: http::Response<h2::RecvStream>) -> Option<tonic::Code> {
    if let Some(code) = grpc_status(response.headers()) {
        return Some(code);
    }
    let mut body = response.into_body();
    while body.data().await.is_some() {}
    grpc_status(&body.trailers().await.ok()??)
}

/// `message` as one gRPC length-prefixed message.
pub fn grpc_frame(message: &impl prost::Message) -> bytes::Bytes {
    let encoded = message.encode_to_vec();
    let mut frame = Vec::with_capacity(5 + encoded.len());
    frame.push(0);
    frame.extend_from_slice(&u32::try_from(encoded.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(&encoded);
    frame.into()
}
