//! One call as the pipeline sees it: everything a door knows of it besides its message. The edge
//! and the transport put these in the request's extensions (the record, the identity, the peer,
//! the connection's cut, the stream's reset, the request's memory); a door takes them out once,
//! here, whatever its protocol, and adds the caller's own deadline if its protocol has one.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::error::GatewayError;
use crate::ops::metrics::{Metrics, Rejection};
use crate::pipeline::admission::CallerKey;
use crate::pipeline::admission::shares::RequestMemory;
use crate::pipeline::peer::{ConnectionCut, Peer};
use crate::pipeline::request_log::RequestLog;
use crate::pipeline::stream_reset::StreamReset;
use crate::pipeline::tenants::Identity;

/// One call in the pipeline, from its door.
#[derive(Debug)]
pub struct Call {
    log: RequestLog,
    identity: Option<Identity>,
    caller: CallerKey,
    client_timeout: Option<Duration>,
    cut: Option<CancellationToken>,
    reset: StreamReset,
    memory: Option<RequestMemory>,
}

impl Call {
    /// The call `rpc` with these request extensions, whose caller asked for an answer within
    /// `client_timeout`. Its record is the one the edge started (or a new one counted in
    /// `metrics`, for a service run without the edge).
    pub fn start(
        rpc: &'static str,
        extensions: &http::Extensions,
        client_timeout: Option<Duration>,
        metrics: &Metrics,
    ) -> Call {
        let log = extensions
            .get::<RequestLog>()
            .cloned()
            .unwrap_or_else(|| RequestLog::start(rpc, extensions.get::<Peer>().cloned(), None, metrics));
        Call {
            log,
            identity: extensions.get::<Identity>().cloned(),
            caller: CallerKey::of(extensions),
            client_timeout,
            cut: extensions.get::<ConnectionCut>().map(|cut| cut.0.clone()),
            reset: extensions.get::<StreamReset>().cloned().unwrap_or_default(),
            memory: extensions.get::<RequestMemory>().cloned(),
        }
    }

    /// The call's record: its log line, id and clock.
    pub fn log(&self) -> &RequestLog {
        &self.log
    }

    /// The id the caller sees with every answer and error.
    pub fn request_id(&self) -> &str {
        self.log.request_id()
    }

    /// Phase "identify": the caller's identity, as the edge's identity layer established it.
    pub fn identity(&self) -> Result<&Identity, GatewayError> {
        self.identity.as_ref().ok_or_else(|| {
            self.failed(GatewayError::Unauthenticated { reason: "the request was not identified".into() })
        })
    }

    /// Who the admission bounds count the call against.
    pub fn caller(&self) -> &CallerKey {
        &self.caller
    }

    /// The caller's own deadline, if its protocol carries one.
    pub fn client_timeout(&self) -> Option<Duration> {
        self.client_timeout
    }

    /// Cancelled when the call's connection must end its streams now, if it came on one.
    pub fn connection_cut(&self) -> Option<&CancellationToken> {
        self.cut.as_ref()
    }

    /// Resets the call's stream once it has been ended and its final status had time to go out.
    pub fn stream_reset(&self) -> &StreamReset {
        &self.reset
    }

    /// Bedrock has the request: its bytes (the decoded message, its conversion, the SDK's body)
    /// are gone, so they leave the memory budget. A failed call gives them back when it is dropped.
    pub fn release_request_memory(&self) {
        if let Some(memory) = &self.memory {
            memory.release();
        }
    }

    /// Records that the call failed with `err`, and returns it for its door to answer with.
    pub fn failed(&self, err: GatewayError) -> GatewayError {
        self.log.failed(&err);
        err
    }

    /// Records that the call was refused for `reason` with `err`, and returns it.
    pub fn refused(&self, reason: Rejection, err: GatewayError) -> GatewayError {
        self.log.refused(reason, &err);
        err
    }
}
