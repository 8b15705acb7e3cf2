//! A document the gateway reads again while it runs, read in full only when it changed: a file
//! (read again, used only when its bytes changed: editors and ConfigMap updates replace files
//! whole) or one S3 object (conditional GETs, `s3.rs`). What the document holds is its reader's
//! business (the live catalog, `pipeline::catalog::live`; the live tenants,
//! `pipeline::tenants::live`); here it is bytes, when to read them again, and why they gave nothing.

mod file;
mod s3;

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::S3DocumentConfig;

use self::file::FileDocument;
use self::s3::S3Document;

/// What a check of the document found.
#[derive(Debug)]
pub enum Fetched {
    /// The same bytes as last time (a file).
    Unchanged,
    /// The source itself said nothing changed (S3's 304 to a conditional GET), so nothing was read.
    NotModified,
    /// New content.
    Changed(Vec<u8>),
}

/// Where a document is read from.
#[derive(Debug)]
pub enum Document {
    /// A file.
    File(FileDocument),
    /// An S3 object.
    S3(S3Document),
}

impl Document {
    /// The file at `path`.
    pub fn file(path: PathBuf) -> Document {
        Document::File(FileDocument::new(path))
    }

    /// The object `config` names, in its region or else `default_region`.
    pub async fn s3(config: &S3DocumentConfig, default_region: &str) -> Document {
        Document::S3(S3Document::new(config, default_region).await)
    }

    /// The kind of source, as the `source` metric label names it.
    pub fn label(&self) -> &'static str {
        match self {
            Document::File(_) => "file",
            Document::S3(_) => "s3",
        }
    }

    /// The file's path, for a file.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Document::File(file) => Some(file.path()),
            Document::S3(_) => None,
        }
    }

    /// Where the document is, for messages.
    pub fn location(&self) -> String {
        match self {
            Document::File(file) => file.path().display().to_string(),
            Document::S3(s3) => s3.location(),
        }
    }

    /// Reads the document if it changed since the last read; the error says why it could not be
    /// read.
    pub async fn fetch(&mut self) -> Result<Fetched, String> {
        match self {
            Document::File(file) => file.fetch().await,
            Document::S3(s3) => s3.fetch().await,
        }
    }
}

/// Why a source gave no new document.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The source could not be read (a file error, S3 unreachable or refusing).
    #[error("{0}")]
    Unreachable(String),
    /// It was read, but is not a valid document: the message says where.
    #[error("{0}")]
    Invalid(String),
}

impl From<crate::config::ConfigError> for SourceError {
    fn from(err: crate::config::ConfigError) -> SourceError {
        SourceError::Invalid(err.to_string())
    }
}

/// When a document is checked again: every `interval` (never when zero) and on SIGHUP.
#[derive(Debug)]
pub struct Schedule {
    ticks: Option<tokio::time::Interval>,
    hangup: Hangup,
}

impl Schedule {
    /// Listens for SIGHUP from now on; the first tick is one `interval` away.
    pub fn new(interval: Duration) -> Schedule {
        let ticks = (!interval.is_zero()).then(|| {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks
        });
        Schedule { ticks, hangup: Hangup::listen() }
    }

    /// Waits for the next check, logging a SIGHUP as the reload of `what` from `source`; `false`
    /// once `stop` is cancelled.
    pub async fn next(&mut self, stop: &CancellationToken, what: &str, source: &str) -> bool {
        let Schedule { ticks, hangup } = self;
        let tick = async {
            match ticks {
                Some(ticks) => drop(ticks.tick().await),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = stop.cancelled() => false,
            () = hangup.next() => {
                tracing::info!(source, "SIGHUP: reloading the {what}");
                true
            }
            () = tick => true,
        }
    }
}

/// SIGHUP, the conventional "read your configuration again".
#[derive(Debug)]
struct Hangup(Option<tokio::signal::unix::Signal>);

impl Hangup {
    /// Listens from now on, so that no SIGHUP finds the default action (exit).
    fn listen() -> Hangup {
        let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
        Hangup(
            signal.inspect_err(|err| tracing::warn!(%err, "no SIGHUP: documents reload on their interval only")).ok(),
        )
    }

    /// The next SIGHUP; never, without one.
    async fn next(&mut self) {
        if let Some(signal) = &mut self.0
            && signal.recv().await.is_some()
        {
            return;
        }
        std::future::pending().await
    }
}
