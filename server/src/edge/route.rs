//! Which kind of route a request is for, decided once at the edge from its path and content type
//! and put in its extensions, so that every layer after it treats the request the same way:
//!
//! - the gateway service's calls must be identified, may be as large as `server.max_request_bytes`
//!   and get a usage record; so do the HTTP doors' calls ([`Protocol::Bedrock`],
//!   [`Protocol::OpenAi`]), whose refusals are answered in their protocol's shape;
//! - everything else on the listener (gRPC health, server reflection, a path nothing serves) is open
//!   to every caller, for load balancers and grpcurl, but its requests are tiny: they get
//!   [`CONTROL_MAX_REQUEST_BYTES`], and a record only when refused. Every route gets the receive
//!   timeout and the request-memory budget.
//!
//! A request whose content type starts with `application/grpc` is gRPC, whatever its path; any
//! other request to a path of a door that is on goes to that door. The rest is gRPC's to refuse.

use bedrock_gateway_proto::v1::gateway_service_server::SERVICE_NAME as GATEWAY_SERVICE;

use crate::config::ProtocolsConfig;
use crate::doors;

/// The size bound of a control route's request, all its messages together: a health check or a
/// reflection exchange sends a few short names (grpcurl resolving a method sends well under 2 KiB).
pub const CONTROL_MAX_REQUEST_BYTES: usize = 16 * 1024;

/// The protocol a call came in by: the `protocol` label of the request metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The v1 gRPC API.
    Grpc,
    /// Bedrock's runtime API over HTTP.
    Bedrock,
    /// OpenAI's API over HTTP.
    OpenAi,
}

impl Protocol {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::Bedrock => "bedrock",
            Protocol::OpenAi => "openai",
        }
    }
}

/// What a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// A method of the gateway service, by name (`unknown` for one it does not have).
    Gateway(&'static str),
    /// gRPC health (`Health`), server reflection (`ServerReflection`), or nothing (`unknown`).
    Control(&'static str),
    /// A call through an HTTP door, by the pipeline's name for it (`ChatCompletions` until the
    /// body says whether it streams).
    Http(Protocol, &'static str),
}

impl Route {
    /// The route of a request to `path`, such as `/bedrock.gateway.v1.GatewayService/ConverseStream`,
    /// whose content type is `content_type`, with the doors of `protocols`.
    pub fn of(path: &str, content_type: Option<&[u8]>, protocols: ProtocolsConfig) -> Route {
        let grpc = content_type.is_some_and(|value| {
            value.get(..GRPC.len()).is_some_and(|prefix| prefix.eq_ignore_ascii_case(GRPC.as_bytes()))
        });
        if !grpc && let Some(route) = Route::of_door(path, protocols) {
            return route;
        }
        Route::of_grpc(path)
    }

    fn of_grpc(path: &str) -> Route {
        let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or((path, ""));
        if service == GATEWAY_SERVICE {
            return Route::Gateway(match method {
                "ConverseStream" => "ConverseStream",
                "Converse" => "Converse",
                "ListModels" => "ListModels",
                "CountTokens" => "CountTokens",
                "Embed" => "Embed",
                _ => "unknown",
            });
        }
        Route::Control(match service {
            "grpc.health.v1.Health" => "Health",
            "grpc.reflection.v1.ServerReflection" | "grpc.reflection.v1alpha.ServerReflection" => "ServerReflection",
            _ => "unknown",
        })
    }

    /// The door's route of `path`, when a door that is on serves it.
    fn of_door(path: &str, protocols: ProtocolsConfig) -> Option<Route> {
        if protocols.bedrock
            && let Some(rest) = path.strip_prefix("/model/")
            && let Some((alias, operation)) = rest.rsplit_once('/')
            && !alias.is_empty()
            && !alias.contains('/')
        {
            let operation = match operation {
                "converse-stream" => "ConverseStream",
                "converse" => "Converse",
                "count-tokens" => "CountTokens",
                "invoke" => "Embed",
                _ => return None,
            };
            return Some(Route::Http(Protocol::Bedrock, operation));
        }
        if protocols.openai {
            let operation = match path {
                "/v1/chat/completions" => "ChatCompletions",
                "/v1/models" => "ListModels",
                "/v1/embeddings" => "Embed",
                _ => return None,
            };
            return Some(Route::Http(Protocol::OpenAi, operation));
        }
        None
    }

    /// The route of a request with these extensions: what the edge decided, else the gateway's
    /// (the strictest) for a request that did not come through it.
    pub fn from_extensions(extensions: &http::Extensions) -> Route {
        extensions.get::<Route>().copied().unwrap_or(Route::Gateway("unknown"))
    }

    /// Whether the route's calls must be identified and get a usage record.
    pub fn is_call(self) -> bool {
        !matches!(self, Route::Control(_))
    }

    /// The protocol its answers, and refusals, are in.
    pub fn protocol(self) -> Protocol {
        match self {
            Route::Gateway(_) | Route::Control(_) => Protocol::Grpc,
            Route::Http(protocol, _) => protocol,
        }
    }

    /// The answer to a request of this route that the edge refuses with `status`, in its protocol:
    /// the gRPC status itself, or the door's own error.
    pub fn refuse(self, status: tonic::Status) -> http::Response<tonic::body::Body> {
        match self.protocol() {
            Protocol::Grpc => status.into_http(),
            Protocol::Bedrock => doors::bedrock::error_response(&status).map(tonic::body::Body::new),
            Protocol::OpenAi => doors::openai::error_response(&status).map(tonic::body::Body::new),
        }
    }
}

/// gRPC's content types all start with this.
const GRPC: &str = "application/grpc";

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: ProtocolsConfig = ProtocolsConfig { bedrock: true, openai: true };

    fn grpc(path: &str) -> Route {
        Route::of(path, Some(b"application/grpc"), ALL)
    }

    #[test]
    fn grpc_paths_are_classified_by_service_and_method() {
        assert_eq!(grpc("/bedrock.gateway.v1.GatewayService/ConverseStream"), Route::Gateway("ConverseStream"));
        assert_eq!(grpc("/bedrock.gateway.v1.GatewayService/Nope"), Route::Gateway("unknown"));
        assert_eq!(grpc("/grpc.health.v1.Health/Watch"), Route::Control("Health"));
        for version in ["v1", "v1alpha"] {
            let path = format!("/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo");
            assert_eq!(grpc(&path), Route::Control("ServerReflection"));
        }
        assert_eq!(grpc("/"), Route::Control("unknown"));
        assert_eq!(grpc("/some.Other/Call"), Route::Control("unknown"));
    }

    #[test]
    fn door_paths_go_to_their_door_unless_the_request_is_grpc() {
        let json = Some(&b"application/json"[..]);
        assert_eq!(
            Route::of("/model/chat/converse-stream", json, ALL),
            Route::Http(Protocol::Bedrock, "ConverseStream")
        );
        assert_eq!(Route::of("/model/chat/converse", None, ALL), Route::Http(Protocol::Bedrock, "Converse"));
        assert_eq!(Route::of("/model/chat/count-tokens", json, ALL), Route::Http(Protocol::Bedrock, "CountTokens"));
        assert_eq!(Route::of("/model/embed/invoke", json, ALL), Route::Http(Protocol::Bedrock, "Embed"));
        assert_eq!(Route::of("/v1/chat/completions", json, ALL), Route::Http(Protocol::OpenAi, "ChatCompletions"));
        assert_eq!(Route::of("/v1/models", None, ALL), Route::Http(Protocol::OpenAi, "ListModels"));
        assert_eq!(Route::of("/v1/embeddings", json, ALL), Route::Http(Protocol::OpenAi, "Embed"));
        assert_eq!(grpc("/v1/chat/completions"), Route::Control("unknown"), "gRPC's to refuse");
        assert_eq!(Route::of("/model/a/b/converse", json, ALL), Route::Control("unknown"));
        assert_eq!(Route::of("/model//converse", json, ALL), Route::Control("unknown"));
        assert_eq!(Route::of("/model/chat/invoke-with-response-stream", json, ALL), Route::Control("unknown"));
    }

    #[test]
    fn a_door_turned_off_serves_nothing() {
        let json = Some(&b"application/json"[..]);
        let none = ProtocolsConfig { bedrock: false, openai: false };
        assert_eq!(Route::of("/model/chat/converse", json, none), Route::Control("unknown"));
        assert_eq!(Route::of("/v1/chat/completions", json, none), Route::Control("unknown"));
        let bedrock_only = ProtocolsConfig { bedrock: true, openai: false };
        assert_eq!(Route::of("/v1/models", json, bedrock_only), Route::Control("unknown"));
        assert_eq!(Route::of("/model/chat/converse", json, bedrock_only), Route::Http(Protocol::Bedrock, "Converse"));
    }
}
