//! Behaviour that needs a gateway stub with scripted answers: TLS with a private CA and a client
//! certificate, the API key header, and the server's retry pushback.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bedrock_gateway_client::v1::gateway_service_server::{GatewayService, GatewayServiceServer};
use bedrock_gateway_client::{Client, Code, Error, v1};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

/// ListModels answers from a script; what each call carried is recorded.
#[derive(Default)]
struct Stub {
    script: Mutex<VecDeque<Result<v1::ListModelsResponse, Status>>>,
    /// Per call: the `authorization` header and whether a client certificate was presented.
    calls: Mutex<Vec<(Option<String>, bool)>>,
}

#[tonic::async_trait]
impl GatewayService for Stub {
    type ConverseStreamStream = futures::stream::Empty<Result<v1::ConverseStreamEvent, Status>>;

    async fn converse_stream(
        &self,
        _: Request<v1::ConverseRequest>,
    ) -> Result<Response<Self::ConverseStreamStream>, Status> {
        Err(Status::unimplemented("stub"))
    }

    async fn converse(&self, _: Request<v1::ConverseRequest>) -> Result<Response<v1::ConverseResponse>, Status> {
        Err(Status::unimplemented("stub"))
    }

    async fn count_tokens(&self, _: Request<v1::ConverseRequest>) -> Result<Response<v1::CountTokensResponse>, Status> {
        Err(Status::unimplemented("stub"))
    }

    async fn embed(&self, _: Request<v1::EmbedRequest>) -> Result<Response<v1::EmbedResponse>, Status> {
        Err(Status::unimplemented("stub"))
    }

    async fn list_models(
        &self,
        request: Request<v1::ListModelsRequest>,
    ) -> Result<Response<v1::ListModelsResponse>, Status> {
        let authorization = request.metadata().get("authorization").map(|v| v.to_str().unwrap().to_owned());
        let client_certificate = request.peer_certs().is_some_and(|certs| !certs.is_empty());
        self.calls.lock().unwrap().push((authorization, client_certificate));
        self.script.lock().unwrap().pop_front().unwrap_or_else(|| Ok(Default::default())).map(Response::new)
    }
}

async fn serve(stub: Arc<Stub>, tls: Option<ServerTlsConfig>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut server = Server::builder();
    if let Some(tls) = tls {
        // The test binary links both of rustls's providers (the gateway's AWS SDK brings one), so
        // tonic's server needs to be told; its client picks one by itself.
        let _ = rustls::crypto::ring::default_provider().install_default();
        server = server.tls_config(tls).unwrap();
    }
    let router = server.add_service(GatewayServiceServer::from_arc(stub));
    tokio::spawn(router.serve_with_incoming(TcpIncoming::from(listener)));
    addr
}

fn throttled(pushback: &str) -> Result<v1::ListModelsResponse, Status> {
    let mut status = Status::resource_exhausted("slow down");
    status.metadata_mut().insert("grpc-retry-pushback-ms", pushback.parse().unwrap());
    Err(status)
}

#[tokio::test]
async fn honours_the_servers_retry_pushback() {
    let stub = Arc::new(Stub::default());
    stub.script.lock().unwrap().extend([throttled("300"), Ok(Default::default())]);
    let addr = serve(stub.clone(), None).await;
    let client = Client::builder(format!("http://{addr}")).build().unwrap();
    let started = Instant::now();
    client.list_models().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
    assert_eq!(stub.calls.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_negative_pushback_means_do_not_retry() {
    let stub = Arc::new(Stub::default());
    stub.script.lock().unwrap().extend([throttled("-1"), Ok(Default::default())]);
    let addr = serve(stub.clone(), None).await;
    let error = Client::builder(format!("http://{addr}")).build().unwrap().list_models().await.unwrap_err();
    assert_eq!(error.code(), Code::ResourceExhausted);
    assert_eq!(stub.calls.lock().unwrap().len(), 1);
}

/// A private CA, a server certificate for `gateway.test` and a client certificate, all PEM.
struct Pki {
    ca: String,
    server: (String, String),
    client: (String, String),
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![name.to_owned()]).unwrap().signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    Pki { ca, server: leaf("gateway.test"), client: leaf("orders-service") }
}

#[tokio::test]
async fn tls_with_a_private_ca_a_client_certificate_and_an_api_key() {
    let pki = pki();
    let stub = Arc::new(Stub::default());
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(&pki.server.0, &pki.server.1))
        .client_ca_root(Certificate::from_pem(&pki.ca));
    let addr = serve(stub.clone(), Some(tls)).await;

    let client = Client::builder(format!("https://gateway.test:{}", addr.port()))
        .addresses([addr])
        .ca_certificate_pem(pki.ca.clone())
        .client_identity_pem(pki.client.0.clone(), pki.client.1.clone())
        .api_key("secret-key")
        .build()
        .unwrap();
    client.list_models().await.unwrap();
    assert_eq!(*stub.calls.lock().unwrap(), [(Some("Bearer secret-key".to_owned()), true)]);

    // A client that does not trust the private CA cannot connect.
    let stranger = Client::builder(format!("https://gateway.test:{}", addr.port()))
        .addresses([addr])
        .max_attempts(1)
        .build()
        .unwrap();
    let error = stranger.list_models().await.unwrap_err();
    assert!(matches!(error, Error::Connect { .. }), "{error:?}");
}

#[tokio::test]
async fn tls_settings_need_an_https_endpoint() {
    let error = Client::builder("http://gateway.test").ca_certificate_pem("pem").build().unwrap_err();
    assert!(matches!(error, Error::Config(_)), "{error:?}");
}
