//! What tests can observe about the traffic the emulator served.
//!
//! Counters, the last request body and the access keys that signed requests
//! let tests check what a gateway sent, and with which credentials;
//! stream lifecycle events let them check that a gateway stops reading a
//! stream (and closes the connection) when its own client goes away.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http::Version;
use tokio::sync::broadcast;

/// How many stream ends a slow subscriber may fall behind before it sees
/// `RecvError::Lagged`.
const STREAM_END_BACKLOG: usize = 16 * 1024;

/// How a ConverseStream response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOutcome {
    /// The emulator sent everything it meant to send, including scripted
    /// failures such as `fault.stream-error.N` and `fault.close.N`.
    Completed,
    /// The client went away (dropped the body or the connection) before the
    /// emulator was done, including while a `fault.stall` stream was idle.
    Abandoned,
}

/// The end of one ConverseStream response body.
#[derive(Debug, Clone)]
pub struct StreamEnd {
    /// The model id from the request path, percent-decoded.
    pub model_id: String,
    /// Whether the emulator finished or the client left first.
    pub outcome: StreamOutcome,
    /// Event stream frames handed to the connection, exception frames included.
    pub events_sent: usize,
    /// When the stream ended: when its last frame was handed over, or when
    /// the server dropped the body after noticing the client had gone.
    pub at: Instant,
}

/// Shared record of served traffic.
#[derive(Debug)]
pub(crate) struct Observer {
    requests: AtomicU64,
    http2_requests: AtomicU64,
    connections: AtomicU64,
    // Kept as bytes and parsed only when asked for, to keep JSON work off
    // the hot path.
    last_body: Mutex<Option<Bytes>>,
    /// Requests by the access key id that signed them.
    signers: Mutex<HashMap<String, u64>>,
    stream_ends: broadcast::Sender<StreamEnd>,
}

impl Default for Observer {
    fn default() -> Self {
        Observer {
            requests: AtomicU64::new(0),
            http2_requests: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            last_body: Mutex::new(None),
            signers: Mutex::default(),
            stream_ends: broadcast::Sender::new(STREAM_END_BACKLOG),
        }
    }
}

impl Observer {
    /// Records a request (any operation), signed by `access_key_id` if it was;
    /// returns its sequence number.
    pub(crate) fn record_request(&self, body: Bytes, version: Version, access_key_id: Option<&str>) -> u64 {
        *self.last_body.lock().unwrap_or_else(|p| p.into_inner()) = Some(body);
        if let Some(access_key_id) = access_key_id {
            let mut signers = self.signers.lock().unwrap_or_else(|p| p.into_inner());
            match signers.get_mut(access_key_id) {
                Some(count) => *count += 1,
                None => {
                    signers.insert(access_key_id.to_owned(), 1);
                }
            }
        }
        if version == Version::HTTP_2 {
            self.http2_requests.fetch_add(1, Ordering::Relaxed);
        }
        self.requests.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn requests_served(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub(crate) fn http2_requests_served(&self) -> u64 {
        self.http2_requests.load(Ordering::Relaxed)
    }

    pub(crate) fn record_connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connections_accepted(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    pub(crate) fn last_request_body(&self) -> Option<serde_json::Value> {
        let body = self.last_body.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
        serde_json::from_slice(&body).ok()
    }

    pub(crate) fn requests_by_access_key(&self) -> BTreeMap<String, u64> {
        let signers = self.signers.lock().unwrap_or_else(|p| p.into_inner());
        signers.iter().map(|(key, count)| (key.clone(), *count)).collect()
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<StreamEnd> {
        self.stream_ends.subscribe()
    }

    fn stream_ended(&self, end: StreamEnd) {
        // Nobody listening is the normal case outside lifecycle tests.
        let _ = self.stream_ends.send(end);
    }
}

/// Reports a stream's end exactly once: as completed when told so, and as
/// abandoned if dropped before that, which is what hyper does with a
/// response body when the client disconnects.
#[derive(Debug)]
pub(crate) struct StreamGuard {
    observer: Arc<Observer>,
    model_id: String,
    events_sent: usize,
    ended: bool,
}

impl StreamGuard {
    pub(crate) fn new(observer: Arc<Observer>, model_id: String) -> Self {
        StreamGuard { observer, model_id, events_sent: 0, ended: false }
    }

    /// The model id of the stream's request.
    pub(crate) fn model_id(&self) -> &str {
        &self.model_id
    }

    pub(crate) fn event_sent(&mut self) {
        self.events_sent += 1;
    }

    pub(crate) fn completed(&mut self) {
        self.end(StreamOutcome::Completed);
    }

    fn end(&mut self, outcome: StreamOutcome) {
        if !self.ended {
            self.ended = true;
            self.observer.stream_ended(StreamEnd {
                model_id: std::mem::take(&mut self.model_id),
                outcome,
                events_sent: self.events_sent,
                at: Instant::now(),
            });
        }
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.end(StreamOutcome::Abandoned);
    }
}
