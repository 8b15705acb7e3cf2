//! Where connections are served. By default (`server.scheduler = "thread_per_core"`) one shard
//! per thread, each a single-threaded runtime that serves whole connections: PROXY header, TLS
//! handshake, HTTP/2, every stream, and their Bedrock calls over the shard's own Bedrock client, so
//! its own HTTP/2 connection to Bedrock. With one thread, or with `"work_stealing"`, one shard: the
//! process's runtime, whose scheduler (single-threaded, or work-stealing over
//! `server.worker_threads`) runs every connection.
//!
//! Why: the SDK drives its one HTTP/2 connection to Bedrock from one task. Under work stealing that
//! task wakes each stream's task, often on another thread, for every frame, and the stream's task
//! wakes its client connection's task, maybe on a third; on a shard all three share a thread, as on
//! the single-threaded scheduler, which takes about a fifth less CPU per relayed event. The price:
//! one busy client connection cannot use more than one core.
//!
//! One listener, on the main thread (shard 0, which also runs everything else: admin listener,
//! catalog reloads, EMF), hands accepted connections round-robin to the shards: that balances
//! better than `SO_REUSEPORT`'s hash of the 4-tuple. Each connection carries its
//! `server.max_connections` place, so the cap bounds the whole process. What the shards share they
//! share as the threads of the work-stealing scheduler do: admission, catalog, quotas, tenants,
//! metrics, health, the drain and cut tokens.

use std::io;
use std::thread::JoinHandle;

use tokio::sync::mpsc::{self, UnboundedSender, error::SendError};
use tokio_util::sync::CancellationToken;

use crate::transport::connection::Connections;
use crate::transport::listener::{Accepted, Incoming};

/// Starts a shard for each of `shards`: the first on the current runtime, each other on a thread
/// of its own. The returned future accepts on `incoming` until `drain` is cancelled, then closes
/// the listening socket, and completes once every shard's connections have closed and its thread
/// has ended. Dropping it stops the other shards' threads as dropping a runtime stops its tasks.
pub fn start(
    incoming: Incoming,
    shards: Vec<Connections>,
    drain: CancellationToken,
    cut: CancellationToken,
) -> io::Result<impl Future<Output = ()>> {
    let mut shards = shards.into_iter();
    let first = shards.next().expect("at least one shard");
    let (to_first, first_accepted) = mpsc::unbounded_channel();
    let mut handoffs = vec![to_first];
    let mut threads = Vec::new();
    let stop = CancellationToken::new();
    for (index, connections) in shards.enumerate() {
        let (handoff, accepted) = mpsc::unbounded_channel();
        let (drain, cut, stop) = (drain.clone(), cut.clone(), stop.clone());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let thread = std::thread::Builder::new().name(format!("shard-{}", index + 1)).spawn(move || {
            runtime.block_on(async {
                tokio::select! {
                    () = connections.serve(accepted, drain, cut) => {}
                    () = stop.cancelled() => {}
                }
            });
        })?;
        handoffs.push(handoff);
        threads.push(thread);
    }
    Ok(async move {
        let _stop = stop.drop_guard();
        let first = first.serve(first_accepted, drain.clone(), cut);
        tokio::join!(accept(incoming, handoffs, drain), first);
        for thread in threads {
            join(thread).await;
        }
    })
}

/// Accepts until `drain` is cancelled, handing each connection to the next of `shards`; then
/// closes the listening socket, so new clients are refused instead of left in the backlog, and
/// the hand-off channels, so the shards know no more will come.
async fn accept(mut incoming: Incoming, mut shards: Vec<UnboundedSender<Accepted>>, drain: CancellationToken) {
    let mut next = 0;
    loop {
        let mut accepted = tokio::select! {
            biased;
            () = drain.cancelled() => break,
            accepted = incoming.next() => accepted,
        };
        // Only a shard whose thread panicked stops receiving; the others take its share. The first
        // shard runs beside this loop, so one always remains.
        while let Err(SendError(returned)) = shards[next % shards.len()].send(accepted) {
            tracing::error!("a shard has stopped; its share of new connections goes to the others");
            shards.remove(next % shards.len());
            accepted = returned;
        }
        next = next.wrapping_add(1);
    }
}

/// Waits for a shard's thread to end, off the runtime; a panic is reported, not propagated, so
/// that shutdown completes.
async fn join(thread: JoinHandle<()>) {
    let name = thread.thread().name().unwrap_or("shard").to_owned();
    if let Ok(Err(_)) = tokio::task::spawn_blocking(move || thread.join()).await {
        tracing::error!(thread = name, "a shard's thread panicked");
    }
}
