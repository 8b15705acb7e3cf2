//! A file as a document: read again on each check, and handed on only when its bytes changed.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::Fetched;

#[derive(Debug)]
pub struct FileDocument {
    path: PathBuf,
    /// SHA-256 of the content last read.
    last: Option<[u8; 32]>,
}

impl FileDocument {
    pub(super) fn new(path: PathBuf) -> FileDocument {
        FileDocument { path, last: None }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The file's content, or `Unchanged`.
    pub(super) async fn fetch(&mut self) -> Result<Fetched, String> {
        let content =
            tokio::fs::read(&self.path).await.map_err(|err| format!("cannot read {}: {err}", self.path.display()))?;
        let digest = <[u8; 32]>::from(Sha256::digest(&content));
        if self.last == Some(digest) {
            return Ok(Fetched::Unchanged);
        }
        self.last = Some(digest);
        Ok(Fetched::Changed(content))
    }
}
