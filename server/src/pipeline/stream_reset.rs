//! Resetting a stream the gateway has ended (RST_STREAM), so that h2 frees what it holds for it.
//!
//! A stream ends with its final status, sent as trailers behind the data before them. When its
//! client stops reading, the stream's flow-control window fills and hyper, holding the next chunk
//! of the response until the window opens, stops polling the response body: it never learns that
//! the gateway ended the body, nothing more is sent, and h2 keeps the stream, with every byte
//! buffered for it, for as long as the connection lives. Only RST_STREAM frees it, and h2 sends one
//! (CANCEL) when the last handle to a stream still open is dropped: the handles live in the
//! stream's task, which hyper spawns.
//!
//! So hyper spawns each stream's task through [`StreamExecutor`], which keeps the task's abort
//! handle in a [`StreamReset`] that the task can see (a task-local). The connection puts it in the
//! stream's request extensions, and [`StreamReset::reset`] aborts the task. The relay's watchdog
//! resets every stream it ended once the stream has had [`FINAL_STATUS_GRACE`] to send its status:
//! by then a stream whose status went out has finished, and the reset does nothing.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::task::AbortHandle;

/// How long a stream ended by the gateway gets to send its final status before it is reset.
pub const FINAL_STATUS_GRACE: Duration = Duration::from_secs(2);

tokio::task_local! {
    /// The reset of the stream whose task this is.
    static STREAM: StreamReset;
}

/// Resets one stream; in every request's extensions.
#[derive(Debug, Clone, Default)]
pub struct StreamReset(Arc<OnceLock<AbortHandle>>);

impl StreamReset {
    /// The reset of the stream whose task calls this, when [`StreamExecutor`] spawned it; one that
    /// does nothing otherwise.
    pub fn of_this_task() -> StreamReset {
        STREAM.try_with(StreamReset::clone).unwrap_or_default()
    }

    /// Ends the stream's task: h2 sends RST_STREAM (CANCEL) and drops what it buffered for the
    /// stream. Nothing happens once the task has finished.
    pub fn reset(&self) {
        if let Some(task) = self.0.get() {
            task.abort();
        }
    }
}

/// hyper's executor for the gateway's connections: spawns each task on the current runtime, as
/// hyper-util's `TokioExecutor` does, with a [`StreamReset`] it can find.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamExecutor;

impl<F> hyper::rt::Executor<F> for StreamExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        let reset = StreamReset::default();
        let task = tokio::spawn(STREAM.scope(reset.clone(), future));
        // The task may already be running on another thread, but nothing resets a stream sooner
        // than a timeout of a second or more after it began.
        let _ = reset.0.set(task.abort_handle());
    }
}
