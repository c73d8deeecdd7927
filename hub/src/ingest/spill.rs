//! The audit spill: audit entries that found no room in memory, or that ClickHouse did not take,
//! kept on disk until the writer can store them — so a full queue or a ClickHouse outage bounds
//! the audit trail by disk space, not by dropping entries (domain §6: every submission is in
//! the audit trail).
//!
//! The spill is a directory of segment files (`<data_dir>/audit-spill/seg-<nanos>-<seq>.jsonl`),
//! one JSON object per line. Entries are appended to the newest segment, which is closed at
//! [`SEGMENT_BYTES`]; the writer drains the oldest closed segment (closing the open one first
//! when it is the only one), inserts its entries into ClickHouse and only then deletes the file.
//! A crash between the insert and the delete stores those entries twice (the audit table keeps
//! every row); the alternative, deleting first, could lose them. Segments survive a restart and
//! are drained by the next hub process.
//!
//! Writes that an answer depends on (the audit rows of accepted reports when ClickHouse did not
//! take them) are fsynced before the answer goes out; refusals that only overflowed the memory
//! queue are written without fsync (a crash may lose the last page, as it would lose the
//! memory queue). Past `max_bytes` on disk new entries are dropped and counted
//! (`sme_hub_audit_dropped_total`): the cap protects the disk the hub needs for everything else.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::store::{AuditEntry, AuditOutcome};
use crate::web::Metrics;

/// A segment is closed (and becomes drainable) at this size.
pub const SEGMENT_BYTES: u64 = 4 << 20;

/// Why entries could not be spilled.
#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    /// The spill holds `max_bytes` already.
    #[error("the audit spill in {dir} is full ({bytes} bytes on disk, limit {max_bytes})")]
    Full {
        dir: PathBuf,
        bytes: u64,
        max_bytes: u64,
    },
    /// Another hub process holds the directory.
    #[error(
        "the audit spill {dir} is in use by another hub process; every hub process needs its \
         own data_dir (they may share ca_dir and ClickHouse)"
    )]
    InUse { dir: PathBuf },
    #[error("cannot write the audit spill {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One audit entry as a line of a segment.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    /// Unix time of receipt, nanoseconds.
    at: i64,
    platform_id: String,
    cert_subject: String,
    period: String,
    report_id: String,
    revision: u32,
    outcome: String,
    status_code: i32,
    rule_ids: Vec<String>,
    peer: String,
    hub_instance: String,
}

impl Line {
    fn of(e: &AuditEntry) -> Line {
        Line {
            at: i64::try_from(e.received_at.unix_timestamp_nanos()).unwrap_or(i64::MAX),
            platform_id: e.platform_id.clone(),
            cert_subject: e.cert_subject.clone(),
            period: e.period.clone(),
            report_id: e.report_id.clone(),
            revision: e.revision,
            outcome: e.outcome.as_str().to_owned(),
            status_code: e.status_code,
            rule_ids: e.rule_ids.clone(),
            peer: e.peer.clone(),
            hub_instance: e.hub_instance.clone(),
        }
    }

    fn into_entry(self) -> Option<AuditEntry> {
        Some(AuditEntry {
            received_at: OffsetDateTime::from_unix_timestamp_nanos(self.at.into()).ok()?,
            platform_id: self.platform_id,
            cert_subject: self.cert_subject,
            period: self.period,
            report_id: self.report_id,
            revision: self.revision,
            outcome: AuditOutcome::parse(&self.outcome)?,
            status_code: self.status_code,
            rule_ids: self.rule_ids,
            peer: self.peer,
            hub_instance: self.hub_instance,
        })
    }
}

/// A closed segment taken for draining: its entries, and the file to delete once stored.
#[derive(Debug)]
pub struct Segment {
    pub path: PathBuf,
    pub entries: Vec<AuditEntry>,
    bytes: u64,
}

// === impl AuditSpill ===

/// The on-disk spill of the audit queue. Cheap to share (`Arc`); its methods block on disk
/// I/O, so async callers use them from `spawn_blocking` or accept a short write.
#[derive(Debug)]
pub struct AuditSpill {
    dir: PathBuf,
    max_bytes: u64,
    /// Bytes in every segment on disk (kept in the metrics' gauge too).
    bytes: AtomicU64,
    open: Mutex<Open>,
    metrics: Arc<Metrics>,
    /// An exclusive lock on `<dir>/.lock` for the life of the process: one drainer per spill.
    _lock: File,
}

#[derive(Debug, Default)]
struct Open {
    file: Option<(PathBuf, File, u64)>,
    seq: u64,
}

impl AuditSpill {
    /// Opens (creating) the spill directory and counts what an earlier process left in it.
    pub fn open(dir: &Path, max_bytes: u64, metrics: Arc<Metrics>) -> Result<Self, SpillError> {
        let io = |source| SpillError::Io {
            path: dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let lock = File::create(dir.join(".lock")).map_err(io)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(SpillError::InUse {
                    dir: dir.to_owned(),
                })
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let mut bytes = 0;
        for seg in segments(dir).map_err(io)? {
            bytes += std::fs::metadata(&seg).map(|m| m.len()).unwrap_or(0);
        }
        if bytes > 0 {
            tracing::warn!(dir = %dir.display(), bytes,
                "audit entries left in the spill by an earlier run; they are stored as soon as ClickHouse takes writes");
        }
        metrics.audit_spilled_bytes.set(bytes as i64);
        Ok(Self {
            dir: dir.to_owned(),
            max_bytes,
            bytes: AtomicU64::new(bytes),
            open: Mutex::new(Open::default()),
            metrics,
            _lock: lock,
        })
    }

    /// Bytes on disk waiting to be stored.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Whether anything waits to be stored.
    pub fn has_entries(&self) -> bool {
        self.bytes() > 0
    }

    /// Appends `entries`; with `sync`, they are on disk (fsynced) when this returns.
    pub fn append(&self, entries: &[AuditEntry], sync: bool) -> Result<(), SpillError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut text = Vec::with_capacity(entries.len() * 256);
        for e in entries {
            serde_json::to_writer(&mut text, &Line::of(e)).expect("audit lines serialise");
            text.push(b'\n');
        }
        let len = text.len() as u64;
        let held = self.bytes();
        if held + len > self.max_bytes {
            return Err(SpillError::Full {
                dir: self.dir.clone(),
                bytes: held,
                max_bytes: self.max_bytes,
            });
        }
        let mut open = self.open.lock().expect("spill lock poisoned");
        if open
            .file
            .as_ref()
            .is_none_or(|(_, _, n)| *n >= SEGMENT_BYTES)
        {
            open.seq += 1;
            let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
            let path = self
                .dir
                .join(format!("seg-{nanos:020}-{:06}.jsonl", open.seq));
            let file = OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(&path)
                .map_err(|source| SpillError::Io {
                    path: path.clone(),
                    source,
                })?;
            open.file = Some((path, file, 0));
        }
        let (path, file, n) = open.file.as_mut().expect("opened above");
        let io = |source| SpillError::Io {
            path: path.clone(),
            source,
        };
        file.write_all(&text).map_err(io)?;
        if sync {
            file.sync_data().map_err(io)?;
        }
        *n += len;
        let total = self.bytes.fetch_add(len, Ordering::Relaxed) + len;
        self.metrics.audit_spilled_bytes.set(total as i64);
        Ok(())
    }

    /// The oldest segment with its entries (closing the open one when it is the only one), or
    /// `None` when the spill is empty. The segment stays on disk until [`AuditSpill::remove`].
    pub fn oldest(&self) -> Result<Option<Segment>, SpillError> {
        let io = |source| SpillError::Io {
            path: self.dir.clone(),
            source,
        };
        let path = {
            let mut open = self.open.lock().expect("spill lock poisoned");
            let all = segments(&self.dir).map_err(io)?;
            let Some(first) = all.first().cloned() else {
                return Ok(None);
            };
            if open.file.as_ref().is_some_and(|(p, _, _)| *p == first) {
                // Close it: new entries go to a new segment.
                open.file = None;
            }
            first
        };
        let file = File::open(&path).map_err(|source| SpillError::Io {
            path: path.clone(),
            source,
        })?;
        let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut entries = Vec::new();
        for (n, line) in BufReader::new(file).split(b'\n').enumerate() {
            let line = line.map_err(|source| SpillError::Io {
                path: path.clone(),
                source,
            })?;
            if line.is_empty() {
                continue;
            }
            match serde_json::from_slice::<Line>(&line)
                .ok()
                .and_then(Line::into_entry)
            {
                Some(e) => entries.push(e),
                // A torn last line (a crash mid-write) or a damaged one: say so, keep the rest.
                None => tracing::error!(path = %path.display(), line = n + 1,
                    "unreadable audit spill line skipped"),
            }
        }
        Ok(Some(Segment {
            path,
            entries,
            bytes,
        }))
    }

    /// Deletes a drained segment (its entries are stored).
    pub fn remove(&self, segment: Segment) -> Result<(), SpillError> {
        std::fs::remove_file(&segment.path).map_err(|source| SpillError::Io {
            path: segment.path.clone(),
            source,
        })?;
        let before = self
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(b.saturating_sub(segment.bytes))
            })
            .unwrap_or_default();
        let left = before.saturating_sub(segment.bytes);
        self.metrics.audit_spilled_bytes.set(left as i64);
        Ok(())
    }
}

/// Segment files, oldest first (their names sort by creation).
fn segments(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seg-") && n.ends_with(".jsonl"))
        })
        .collect();
    all.sort();
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u32) -> AuditEntry {
        AuditEntry {
            received_at: OffsetDateTime::from_unix_timestamp(1_780_000_000 + i64::from(n)).unwrap(),
            platform_id: "91110108000000001X".into(),
            cert_subject: "CN=x".into(),
            period: "2026-05".into(),
            report_id: format!("id-{n}"),
            revision: n,
            outcome: AuditOutcome::Deferred,
            status_code: 14,
            rule_ids: vec!["E001".into()],
            peer: "127.0.0.1:1".into(),
            hub_instance: "hub:1".into(),
        }
    }

    #[test]
    fn entries_survive_a_reopen_and_drain_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = Arc::new(Metrics::default());
        let spill = AuditSpill::open(dir.path(), 1 << 20, metrics.clone()).unwrap();
        spill.append(&[entry(1), entry(2)], true).unwrap();
        assert!(spill.has_entries());
        drop(spill);
        let spill = AuditSpill::open(dir.path(), 1 << 20, metrics.clone()).unwrap();
        assert!(spill.bytes() > 0, "an earlier run's entries are counted");
        spill.append(&[entry(3)], false).unwrap();
        let first = spill.oldest().unwrap().expect("a segment");
        assert_eq!(first.entries, vec![entry(1), entry(2)]);
        spill.remove(first).unwrap();
        let second = spill.oldest().unwrap().expect("the open segment, closed");
        assert_eq!(second.entries, vec![entry(3)]);
        spill.remove(second).unwrap();
        assert!(spill.oldest().unwrap().is_none());
        assert_eq!(spill.bytes(), 0);
        assert_eq!(metrics.audit_spilled_bytes.get(), 0);
        // A closed segment is not appended to again.
        spill.append(&[entry(4)], false).unwrap();
        assert_eq!(spill.oldest().unwrap().unwrap().entries, vec![entry(4)]);
    }

    #[test]
    fn one_process_per_spill() {
        let dir = tempfile::tempdir().unwrap();
        let _first = AuditSpill::open(dir.path(), 1 << 20, Arc::new(Metrics::default())).unwrap();
        let err = AuditSpill::open(dir.path(), 1 << 20, Arc::new(Metrics::default())).unwrap_err();
        assert!(err.to_string().contains("own data_dir"), "{err}");
    }

    #[test]
    fn the_cap_refuses_instead_of_filling_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let spill = AuditSpill::open(dir.path(), 300, Arc::new(Metrics::default())).unwrap();
        spill.append(&[entry(1)], false).unwrap();
        let err = spill.append(&[entry(2)], false).unwrap_err();
        assert!(matches!(err, SpillError::Full { .. }), "{err}");
        assert!(err.to_string().contains("limit 300"), "{err}");
    }

    #[test]
    fn a_torn_last_line_loses_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let spill = AuditSpill::open(dir.path(), 1 << 20, Arc::new(Metrics::default())).unwrap();
        spill.append(&[entry(1)], true).unwrap();
        drop(spill);
        let seg = segments(dir.path()).unwrap().pop().unwrap();
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(b"{\"at\":17800").unwrap();
        let spill = AuditSpill::open(dir.path(), 1 << 20, Arc::new(Metrics::default())).unwrap();
        assert_eq!(spill.oldest().unwrap().unwrap().entries, vec![entry(1)]);
    }
}
