//! Where the bytes go: a file, written as `NAME.part` and renamed to `NAME` only when the
//! export is complete (an interrupted export never leaves a file that looks complete), or an
//! HTTP body fed through a bounded channel (a slow client slows the export, it does not fill
//! memory). Either way the bytes are counted and hashed (SHA-256) for the audit.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// The destination of an export.
pub enum Target {
    /// A file path (its directory must exist).
    File(PathBuf),
    /// Chunks of an HTTP body.
    Body(mpsc::Sender<Result<Vec<u8>, std::io::Error>>),
}

/// An open output.
pub struct Output {
    target: Target,
    file: Option<tokio::fs::File>,
    part: Option<PathBuf>,
    hasher: Sha256,
    bytes: u64,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Bytes.
    pub bytes: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// `NAME.part` beside `NAME`.
pub fn part_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    path.with_file_name(name)
}

impl Output {
    /// Opens the target (for a file, creates `NAME.part`).
    pub async fn open(target: Target) -> std::io::Result<Output> {
        let (file, part) = match &target {
            Target::File(path) => {
                let part = part_path(path);
                let f = tokio::fs::File::create(&part).await?;
                (Some(f), Some(part))
            }
            Target::Body(_) => (None, None),
        };
        Ok(Output {
            target,
            file,
            part,
            hasher: Sha256::new(),
            bytes: 0,
        })
    }

    /// Writes a chunk.
    pub async fn write(&mut self, chunk: Vec<u8>) -> std::io::Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        self.hasher.update(&chunk);
        self.bytes += chunk.len() as u64;
        match (&mut self.file, &self.target) {
            (Some(f), _) => f.write_all(&chunk).await,
            (None, Target::Body(tx)) => tx.send(Ok(chunk)).await.map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
            }),
            (None, Target::File(_)) => unreachable!("a file target has a file"),
        }
    }

    /// Copies a finished file (XLSX) into the output.
    pub async fn copy_file(&mut self, path: &Path) -> std::io::Result<()> {
        use tokio::io::AsyncReadExt;
        let mut f = tokio::fs::File::open(path).await?;
        loop {
            let mut buf = vec![0u8; 1 << 16];
            let n = f.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            buf.truncate(n);
            self.write(buf).await?;
        }
    }

    /// Bytes and hash so far.
    pub fn digest(&self) -> Written {
        Written {
            bytes: self.bytes,
            sha256: hex::encode(self.hasher.clone().finalize()),
        }
    }

    /// Completes the output: a file is synced and renamed to its final name.
    pub async fn commit(mut self) -> std::io::Result<Written> {
        if let (Some(f), Some(part), Target::File(path)) =
            (self.file.take(), self.part.take(), &self.target)
        {
            let mut f = f;
            f.flush().await?;
            f.sync_all().await?;
            drop(f);
            tokio::fs::rename(&part, path).await?;
        }
        Ok(Written {
            bytes: self.bytes,
            sha256: hex::encode(self.hasher.clone().finalize()),
        })
    }

    /// Gives up: a file's `.part` is removed; a body gets the error (the client sees a broken
    /// download, not a complete-looking one).
    pub async fn abort(mut self, why: &str) {
        if let Some(part) = self.part.take() {
            drop(self.file.take());
            let _ = tokio::fs::remove_file(&part).await;
        }
        if let Target::Body(tx) = &self.target {
            let _ = tx.send(Err(std::io::Error::other(why.to_owned()))).await;
        }
    }
}
