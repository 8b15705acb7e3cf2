//! The [`Client`]: the gateway's methods with retries, deadline and authentication applied.
//!
//! Every call goes the same way: wait for the endpoint's addresses, then attempt the call on a
//! balanced connection with the remaining deadline and the API key attached; if it fails before
//! any part of the answer arrived and [`retry`](crate::retry) allows it, wait and attempt again.
//! For a stream, "before any part of the answer" means before its first event, so an
//! [`EventStream`] is only handed out once that event is in.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bedrock_gateway_proto::v1;
use tokio::time::Instant;
use tonic::Status;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;
use v1::gateway_service_client::GatewayServiceClient;

use crate::balance::Balancer;
use crate::retry::Retry;
use crate::{Answer, Catalog, ClientBuilder, EmbedRequest, Embeddings, Error, EventStream, Request, TokenCount};

/// A client of the gateway. Cheap to clone (clones share connections and the retry budget); build
/// one per process and share it.
///
/// ```no_run
/// # async fn example() -> Result<(), bedrock_gateway_client::Error> {
/// use bedrock_gateway_client::{Client, Request};
///
/// let client = Client::builder("http://127.0.0.1:50051").build()?;
/// let answer = client.converse(Request::new("chat").user("hello").max_tokens(200)).await?;
/// println!("{} ({:?})", answer.text, answer.stop_reason);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    shared: Arc<Shared>,
    deadline: Option<Duration>,
}

/// What all clones of a client share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) balancer: Balancer,
    pub(crate) authorization: Option<MetadataValue<Ascii>>,
    pub(crate) retry: Retry,
    /// The endpoint URL as configured, for error messages.
    pub(crate) endpoint: String,
}

impl Client {
    /// Starts configuring a client of the gateway at `endpoint`, a URL such as
    /// `https://gateway.internal.example.com` or `http://127.0.0.1:50051`.
    pub fn builder(endpoint: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(endpoint.into())
    }

    pub(crate) fn new(shared: Arc<Shared>, deadline: Option<Duration>) -> Client {
        Client { shared, deadline }
    }

    /// The same client with another per-call deadline (see [`ClientBuilder::deadline`]).
    #[must_use]
    pub fn with_deadline(&self, deadline: Duration) -> Client {
        Client { shared: self.shared.clone(), deadline: Some(deadline) }
    }

    /// Asks for an answer as a stream of events.
    ///
    /// Returns once the first event has arrived: failures before it come back here, after the
    /// retries they allow; failures after it come from the stream, marked incomplete, and are never
    /// retried.
    pub async fn converse_stream(&self, request: impl Into<Request>) -> Result<EventStream, Error> {
        let request = v1::ConverseRequest::from(request.into());
        let started = Instant::now();
        let (first, stream) = self
            .call(started, |mut grpc, deadline| {
                let request = self.request(request.clone(), deadline);
                async move {
                    let mut stream = grpc.converse_stream(request).await?.into_inner();
                    match stream.message().await? {
                        Some(first) => Ok((first, stream)),
                        None => Err(Status::unavailable("the gateway ended the stream before its first event")),
                    }
                }
            })
            .await?;
        let deadline = self.deadline.map(|deadline| (started + deadline, deadline));
        Ok(EventStream::new(first, stream, deadline, self.shared.endpoint.as_str().into()))
    }

    /// Asks for an answer and waits for all of it: text, tool uses, stop reason and usage.
    pub async fn converse(&self, request: impl Into<Request>) -> Result<Answer, Error> {
        self.converse_stream(request).await?.answer().await
    }

    /// The logical models the gateway offers, sorted by name, with their lifecycle state.
    pub async fn list_models(&self) -> Result<Vec<v1::ModelInfo>, Error> {
        Ok(self.catalog().await?.models)
    }

    /// The logical models the gateway offers, as [`list_models`](Client::list_models) does, with
    /// the revision of the catalog they come from.
    pub async fn catalog(&self) -> Result<Catalog, Error> {
        let response = self
            .call(Instant::now(), |mut grpc, deadline| {
                let request = self.request(v1::ListModelsRequest {}, deadline);
                async move { grpc.list_models(request).await }
            })
            .await?;
        Ok(response.into_inner().into())
    }

    /// Counts the input tokens `request` would use with its model, without running it: to check a
    /// conversation against the model's context window and the tenant's token quota. It costs
    /// one request of the quota and no tokens; models without `capabilities.count_tokens` answer
    /// [`Code::Unimplemented`](crate::Code::Unimplemented). Retried like any call, since counting
    /// changes nothing.
    pub async fn count_tokens(&self, request: impl Into<Request>) -> Result<TokenCount, Error> {
        let request = v1::ConverseRequest::from(request.into());
        let response = self
            .call(Instant::now(), |mut grpc, deadline| {
                let request = self.request(request.clone(), deadline);
                async move { grpc.count_tokens(request).await }
            })
            .await?;
        Ok(response.into_inner().into())
    }

    /// Turns texts into vectors with an embedding model. Retried like any call: embedding the
    /// same texts again gives the same vectors.
    pub async fn embed(&self, request: impl Into<EmbedRequest>) -> Result<Embeddings, Error> {
        let request = v1::EmbedRequest::from(request.into());
        let response = self
            .call(Instant::now(), |mut grpc, deadline| {
                let request = self.request(request.clone(), deadline);
                async move { grpc.embed(request).await }
            })
            .await?;
        Ok(response.into_inner().into())
    }

    /// Runs `attempt` until it succeeds, fails for good, or the deadline passes.
    async fn call<T, F, Fut>(&self, started: Instant, mut attempt: F) -> Result<T, Error>
    where
        F: FnMut(GatewayServiceClient<Channel>, Option<Instant>) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let deadline = self.deadline.map(|deadline| started + deadline);
        let retry = &self.shared.retry;
        retry.start_call();
        let mut attempts = 1;
        loop {
            let result = self.within(deadline, async {
                let channel = self.shared.balancer.channel().await.map_err(|reason| Error::Connect {
                    endpoint: self.shared.endpoint.clone(),
                    reason,
                    incomplete: false,
                })?;
                Ok(attempt(GatewayServiceClient::new(channel), deadline).await)
            });
            let status = match result.await? {
                Ok(value) => return Ok(value),
                Err(status) => status,
            };
            let remaining = deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()));
            if let (Some(Duration::ZERO), Some(timeout)) = (remaining, self.deadline) {
                // tonic's own timer for the deadline may have fired first, with a vaguer status.
                return Err(Error::DeadlineExceeded { deadline: timeout, incomplete: false });
            }
            let Some(delay) = retry.delay(attempts, &status, remaining) else {
                return Err(Error::from_status(&status, &self.shared.endpoint, false));
            };
            tracing::debug!(attempts, ?delay, code = ?status.code(), message = status.message(), "retrying the call");
            tokio::time::sleep(delay).await;
            attempts += 1;
        }
    }

    /// `work`, cut off with a deadline error at `deadline`.
    async fn within<T>(
        &self,
        deadline: Option<Instant>,
        work: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        match (deadline, self.deadline) {
            (Some(at), Some(timeout)) => tokio::time::timeout_at(at, work)
                .await
                .unwrap_or(Err(Error::DeadlineExceeded { deadline: timeout, incomplete: false })),
            _ => work.await,
        }
    }

    /// A gRPC request for `message` with the deadline and the API key attached.
    fn request<T>(&self, message: T, deadline: Option<Instant>) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(deadline) = deadline {
            request.set_timeout(deadline.saturating_duration_since(Instant::now()));
        }
        if let Some(authorization) = &self.shared.authorization {
            request.metadata_mut().insert("authorization", authorization.clone());
        }
        request
    }
}
