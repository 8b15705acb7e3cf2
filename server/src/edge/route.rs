//! Which kind of route a request is for, decided once at the edge from its path and put in its
//! extensions, so that every layer after it treats the request the same way:
//!
//! - the gateway service's calls must be identified, may be as large as `server.max_request_bytes`
//!   and get a usage record;
//! - everything else on the listener (gRPC health, server reflection, a path nothing serves) is open
//!   to every caller, for load balancers and grpcurl, but its requests are tiny: they get
//!   [`CONTROL_MAX_REQUEST_BYTES`], and a record only when refused. Every route gets the receive
//!   timeout and the request-memory budget.

use bedrock_gateway_proto::v1::gateway_service_server::SERVICE_NAME as GATEWAY_SERVICE;

/// The size bound of a control route's request, all its messages together: a health check or a
/// reflection exchange sends a few short names (grpcurl resolving a method sends well under 2 KiB).
pub const CONTROL_MAX_REQUEST_BYTES: usize = 16 * 1024;

/// What a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// A method of the gateway service, by name (`unknown` for one it does not have).
    Gateway(&'static str),
    /// gRPC health (`Health`), server reflection (`ServerReflection`), or nothing (`unknown`).
    Control(&'static str),
}

impl Route {
    /// The route of a request to `path`, such as `/bedrock.gateway.v1.GatewayService/ConverseStream`.
    pub fn of(path: &str) -> Route {
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

    /// The route of a request with these extensions: what the edge decided, else the gateway's
    /// (the strictest) for a request that did not come through it.
    pub fn from_extensions(extensions: &http::Extensions) -> Route {
        extensions.get::<Route>().copied().unwrap_or(Route::Gateway("unknown"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_classified_by_service_and_method() {
        assert_eq!(Route::of("/bedrock.gateway.v1.GatewayService/ConverseStream"), Route::Gateway("ConverseStream"));
        assert_eq!(Route::of("/bedrock.gateway.v1.GatewayService/Nope"), Route::Gateway("unknown"));
        assert_eq!(Route::of("/grpc.health.v1.Health/Watch"), Route::Control("Health"));
        for version in ["v1", "v1alpha"] {
            let path = format!("/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo");
            assert_eq!(Route::of(&path), Route::Control("ServerReflection"));
        }
        assert_eq!(Route::of("/"), Route::Control("unknown"));
        assert_eq!(Route::of("/some.Other/Call"), Route::Control("unknown"));
    }
}
