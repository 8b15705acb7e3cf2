//! A document the gateway reads again while it runs, read in full only when it changed: a file
//! (read again, used only when its bytes changed: editors and ConfigMap updates replace files
//! whole) or one S3 object (conditional GETs, `s3.rs`). What the document holds is its reader's
//! business (the live catalog, `pipeline::catalog::live`); here it is bytes.

mod file;
mod s3;

use std::path::{Path, PathBuf};

use crate::config::S3CatalogConfig;

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
    pub async fn s3(config: &S3CatalogConfig, default_region: &str) -> Document {
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

/// SIGHUP, the conventional "read your configuration again".
#[derive(Debug)]
pub struct Hangup(Option<tokio::signal::unix::Signal>);

impl Hangup {
    /// Listens from now on, so that no SIGHUP finds the default action (exit).
    pub fn listen() -> Hangup {
        let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
        Hangup(
            signal.inspect_err(|err| tracing::warn!(%err, "no SIGHUP: documents reload on their interval only")).ok(),
        )
    }

    /// The next SIGHUP; never, without one.
    pub async fn next(&mut self) {
        if let Some(signal) = &mut self.0
            && signal.recv().await.is_some()
        {
            return;
        }
        std::future::pending().await
    }
}
