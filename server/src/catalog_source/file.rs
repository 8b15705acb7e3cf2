//! The config file as a catalog source: read again on each check, and taken apart only when its
//! bytes changed (editors and ConfigMap updates replace files whole, so a change is seen once).

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::{Fetched, SourceError};
use crate::config::Config;

#[derive(Debug)]
pub(super) struct FileSource {
    path: PathBuf,
    /// SHA-256 of the content last read.
    last: Option<[u8; 32]>,
}

impl FileSource {
    pub(super) fn new(path: PathBuf) -> FileSource {
        FileSource { path, last: None }
    }

    /// The file's `[models]`, as the gateway would load them at start-up (environment overrides
    /// included), or `Unchanged`.
    pub(super) async fn fetch(&mut self) -> Result<Fetched, SourceError> {
        let content = tokio::fs::read(&self.path)
            .await
            .map_err(|err| SourceError::Unreachable(format!("cannot read {}: {err}", self.path.display())))?;
        let digest = <[u8; 32]>::from(Sha256::digest(&content));
        if self.last == Some(digest) {
            return Ok(Fetched::Unchanged);
        }
        self.last = Some(digest);
        let config = Config::load(Some(&self.path))?;
        Ok(Fetched::Models(config.models))
    }
}
