//! A plain HTTP client for the HTTP doors' tests: one connection, HTTP/1.1 or HTTP/2, the request
//! as written and the answer as it arrives, so that a test sees the wire a door wrote rather than
//! what a client library made of it. The third-party clients' tests use the clients themselves.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::TestGateway;

/// Longest a test waits for an answer's head or its whole body.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// One connection to the gateway.
#[derive(Debug)]
pub enum HttpClient {
    /// HTTP/1.1.
    Http1(http1::SendRequest<Full<Bytes>>),
    /// HTTP/2 (prior knowledge, as gRPC clients connect).
    Http2(http2::SendRequest<Full<Bytes>>),
}

/// An answer read whole.
#[derive(Debug)]
pub struct HttpAnswer {
    /// Its status.
    pub status: http::StatusCode,
    /// Its headers.
    pub headers: http::HeaderMap,
    /// Its body.
    pub body: Bytes,
}

impl HttpAnswer {
    /// The body as JSON; panics, showing the body, when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

impl TestGateway {
    /// A fresh HTTP/1.1 connection to the gateway.
    pub async fn http1(&self) -> HttpClient {
        let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.unwrap();
        tokio::spawn(connection);
        HttpClient::Http1(sender)
    }

    /// A fresh HTTP/2 connection to the gateway.
    pub async fn http2(&self) -> HttpClient {
        let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
        tokio::spawn(connection);
        HttpClient::Http2(sender)
    }
}

impl HttpClient {
    /// Sends `method path` with `headers` (plus `host`) and `body`; the answer's head, its body
    /// still arriving.
    pub async fn send(
        &mut self,
        method: http::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> http::Response<Incoming> {
        let uri = match self {
            HttpClient::Http1(_) => path.to_owned(),
            HttpClient::Http2(_) => format!("http://gateway{path}"),
        };
        let mut request = http::Request::builder().method(method).uri(uri).header(http::header::HOST, "gateway");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body.into())).unwrap();
        let sent = async {
            match self {
                HttpClient::Http1(sender) => {
                    sender.ready().await.unwrap();
                    sender.send_request(request).await
                }
                HttpClient::Http2(sender) => {
                    sender.ready().await.unwrap();
                    sender.send_request(request).await
                }
            }
        };
        tokio::time::timeout(ANSWER_WITHIN, sent).await.expect("the gateway answers in time").unwrap()
    }

    /// `POST path` of `body` as JSON with the bearer `key`, if any; the answer read whole.
    pub async fn post_json(&mut self, path: &str, key: Option<&str>, body: &serde_json::Value) -> HttpAnswer {
        let bearer = key.map(|key| format!("Bearer {key}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer));
        }
        let response = self.send(http::Method::POST, path, &headers, body.to_string()).await;
        read_whole(response).await
    }

    /// `GET path` with the bearer `key`, if any; the answer read whole.
    pub async fn get(&mut self, path: &str, key: Option<&str>) -> HttpAnswer {
        let bearer = key.map(|key| format!("Bearer {key}"));
        let headers: Vec<_> = bearer.iter().map(|bearer| ("authorization", bearer.as_str())).collect();
        let response = self.send(http::Method::GET, path, &headers, Bytes::new()).await;
        read_whole(response).await
    }
}

/// The rest of `response`, read whole within the test's bound.
pub async fn read_whole(response: http::Response<Incoming>) -> HttpAnswer {
    let (parts, body) = response.into_parts();
    let body = tokio::time::timeout(ANSWER_WITHIN, body.collect())
        .await
        .expect("the answer ends in time")
        .map(|collected| collected.to_bytes())
        .unwrap_or_else(|err| panic!("the answer's body failed: {err}"));
    HttpAnswer { status: parts.status, headers: parts.headers, body }
}

/// The `data:` payloads of a server-sent-event stream, in order.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| event.lines().find_map(|line| line.strip_prefix("data: ")).map(str::to_owned))
        .collect()
}
