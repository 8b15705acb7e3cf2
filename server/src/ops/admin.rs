//! The admin listener: plain HTTP/1.1 on its own port (`admin.listen`), apart from the gRPC
//! listener so that scrapes and health checks never count against, or get refused by, the
//! gateway's limits, and so that it can stay private to the task.
//!
//! - `GET /metrics`: every series of `metrics.rs`, in the Prometheus text format.
//! - `GET /healthz`: 200 while the process runs (liveness).
//! - `GET /readyz`: 200 while the gateway serves; 503 while it starts and once the shutdown drain
//!   has begun, so that a load balancer or mesh stops sending new work before streams are cut.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Response, StatusCode, header};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Longest a client may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after a failed accept (such as running out of file descriptors) before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// The Prometheus text format's content type.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

const STARTING: u8 = 0;
const SERVING: u8 = 1;
const DRAINING: u8 = 2;

/// What `/readyz` answers: shared by the server, which moves it forward, and the admin listener.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicU8>);

impl Readiness {
    /// The gateway accepts requests: `/readyz` answers 200.
    pub fn serving(&self) {
        // Never back from draining.
        let _ = self.0.compare_exchange(STARTING, SERVING, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// The shutdown drain has begun: `/readyz` answers 503 from now on.
    pub fn draining(&self) {
        self.0.store(DRAINING, Ordering::Relaxed);
    }

    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Relaxed) == SERVING
    }
}

/// Serves the admin endpoints on `listener` until `stop` is cancelled. `/metrics` renders the
/// process's Prometheus recorder, which the gateway's [`crate::ops::metrics::Metrics`] installed
/// before anything was recorded.
pub async fn serve(listener: TcpListener, readiness: Readiness, stop: CancellationToken) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!(%err, "admin listener: accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = stop.cancelled() => return,
        };
        let readiness = readiness.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                let response = respond(request.method(), request.uri().path(), &readiness);
                async move { Ok::<_, Infallible>(response) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                () = stop.cancelled() => {}
            }
        });
    }
}

fn respond(method: &Method, path: &str, readiness: &Readiness) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
    }
    match path {
        "/metrics" => {
            let mut response = Response::new(Full::new(Bytes::from(crate::ops::metrics::render())));
            response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(PROMETHEUS_TEXT));
            response
        }
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" if readiness.is_ready() => text(StatusCode::OK, "ready\n"),
        "/readyz" => text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
        _ => text(StatusCode::NOT_FOUND, "not found; try /metrics, /healthz or /readyz\n"),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_goes_starting_serving_draining_and_never_back() {
        let readiness = Readiness::default();
        assert!(!readiness.is_ready());
        readiness.serving();
        assert!(readiness.is_ready());
        readiness.draining();
        readiness.serving();
        assert!(!readiness.is_ready());
    }

    #[test]
    fn routes() {
        let readiness = Readiness::default();
        let status = |method: Method, path: &str| respond(&method, path, &readiness).status();
        assert_eq!(status(Method::GET, "/healthz"), StatusCode::OK);
        assert_eq!(status(Method::GET, "/readyz"), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status(Method::GET, "/nope"), StatusCode::NOT_FOUND);
        assert_eq!(status(Method::POST, "/healthz"), StatusCode::METHOD_NOT_ALLOWED);
        readiness.serving();
        assert_eq!(status(Method::GET, "/readyz"), StatusCode::OK);
    }
}
