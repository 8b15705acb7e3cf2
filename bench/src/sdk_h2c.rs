//! The SDK's HTTP client over cleartext HTTP/2 (prior knowledge), for the real
//! `aws-sdk-bedrockruntime` client calling the gateway's Bedrock-compatible door.
//!
//! The bench's gateway listens without TLS, and its gRPC clients speak HTTP/2 to it in the clear,
//! 100 streams on a connection. The SDK's default client offers HTTP/2 only through TLS (ALPN), so
//! over `http://` it would speak HTTP/1.1, a connection and a socket write per event, and the
//! comparison of the two doors would measure two transports instead. This client is the HTTP
//! library the SDK's default client is built on (hyper-util's pooled client) with HTTP/2 from the
//! first byte; everything above it (the operation, its JSON, SigV4 signing, the event-stream
//! decoding) is the SDK's own.

use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::body::SdkBody;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::rt::TokioExecutor;

/// One pooled client: one HTTP/2 connection per host, on which every request is a stream.
#[derive(Debug, Clone)]
struct PriorKnowledge {
    client: Client<TcpConnector, SdkBody>,
}

impl HttpConnector for PriorKnowledge {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(err) => return HttpConnectorFuture::ready(Err(ConnectorError::user(err.into()))),
        };
        let response = self.client.request(request);
        HttpConnectorFuture::new(async move {
            let response = response.await.map_err(|err| ConnectorError::io(err.into()))?;
            Response::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|err| ConnectorError::other(err.into(), None))
        })
    }
}

/// An SDK HTTP client holding one cleartext HTTP/2 connection to each server it calls (the
/// gateway has `server.http2_max_concurrent_streams` of 200 by default; callers keep below it).
pub fn client() -> SharedHttpClient {
    let mut tcp = TcpConnector::new();
    tcp.set_nodelay(true);
    let connector = PriorKnowledge { client: Client::builder(TokioExecutor::new()).http2_only(true).build(tcp) };
    http_client_fn(move |_settings, _components| SharedHttpConnector::new(connector.clone()))
}
