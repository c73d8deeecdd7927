//! The watched inbox (收件箱): files dropped into a folder are imported, then moved to `done/`, or
//! moved to `quarantine/` with `<name>.errors.txt` beside them.
//!
//! # Crash safety
//!
//! Per file the order is: read → check → import in ONE store transaction that also journals the
//! file's SHA-256 → move. Killed before the commit, nothing was stored and the file is still in
//! the inbox: the next pass imports it. Killed after the commit but before the move, the next pass
//! finds the content hash journalled and imports nothing, then moves the file. Records are keyed
//! by `record_id`, so even the same records in a differently named or slightly edited file are
//! never doubled. For a bad file the reasons are written (to a temporary name, then renamed)
//! before the file is moved, so a quarantined file always has its reasons; killed in between, the
//! next pass writes them again. Moves are renames within one filesystem (copy, sync and delete
//! across filesystems), and the directories are synced after a move.
//!
//! Files still being written are left alone: names starting with `.` or `~$` (Excel lock
//! files), ending in `.tmp`, `.part`, `.partial`, `.crdownload`, `.swp` or `~`, and files modified
//! in the last [`MIN_FILE_AGE`]. A bad file never blocks the good files beside it, and an I/O or
//! store failure leaves the file in place for the next pass.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use time::macros::format_description;
use time::OffsetDateTime;

use super::file::{read_checked, Limits};
use super::{ImportError, Intake, IntakeError};
use crate::store::{sha256_hex, ImportKind, ImportSummary, Store};

/// Files modified more recently than this are assumed to be still being written.
pub const MIN_FILE_AGE: Duration = Duration::from_secs(2);

/// What one inbox pass did.
#[derive(Debug, Default)]
pub struct InboxSummary {
    /// Imported (or already imported) and moved to `done/`.
    pub imported: Vec<ImportedFile>,
    /// Refused and moved to `quarantine/` with their reasons.
    pub quarantined: Vec<QuarantinedFile>,
    /// Left for a later pass: too new or a partial/lock file.
    pub skipped: Vec<PathBuf>,
    /// Could not be processed (I/O or store failure); left in the inbox to retry.
    pub failed: Vec<FailedFile>,
}

/// A file imported by an inbox pass.
#[derive(Debug)]
pub struct ImportedFile {
    /// Name in the inbox.
    pub name: String,
    /// Where it is now.
    pub moved_to: PathBuf,
    /// Records or profile.
    pub kind: ImportKind,
    /// What the store did.
    pub summary: ImportSummary,
}

/// A file quarantined by an inbox pass.
#[derive(Debug)]
pub struct QuarantinedFile {
    /// Name in the inbox.
    pub name: String,
    /// Where it is now.
    pub moved_to: PathBuf,
    /// The human-readable reasons beside it.
    pub errors_file: PathBuf,
    /// Number of problems found.
    pub problems: usize,
}

/// A file an inbox pass could not process.
#[derive(Debug)]
pub struct FailedFile {
    /// The file, still in the inbox.
    pub path: PathBuf,
    /// What went wrong.
    pub error: String,
}

/// Processes every settled file in `inbox` once; see the module docs.
pub fn process_inbox(
    inbox: &Path,
    quarantine: &Path,
    done: &Path,
    store: &mut Store,
    key: &[u8],
) -> InboxSummary {
    process_inbox_with(inbox, quarantine, done, store, key, Limits::default())
}

/// [`process_inbox`] with the configured size limits.
pub fn process_inbox_with(
    inbox: &Path,
    quarantine: &Path,
    done: &Path,
    store: &mut Store,
    key: &[u8],
    limits: Limits,
) -> InboxSummary {
    let mut summary = InboxSummary::default();
    let intake = Intake::new(key).with_limits(limits);
    let fail = |path: &Path, error: String| FailedFile {
        path: path.to_path_buf(),
        error,
    };
    for dir in [quarantine, done] {
        if let Err(e) = fs::create_dir_all(dir) {
            summary
                .failed
                .push(fail(dir, format!("cannot create the folder: {e}")));
            return summary;
        }
    }
    let mut files = match list(inbox) {
        Ok(f) => f,
        Err(e) => {
            summary
                .failed
                .push(fail(inbox, format!("cannot list the inbox: {e}")));
            return summary;
        }
    };
    files.sort();
    let now = SystemTime::now();
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if is_partial(&name) || !is_settled(&path, now) {
            summary.skipped.push(path);
            continue;
        }
        match intake.import_file(&path, store) {
            Ok(import) => match move_into(&path, done) {
                Ok(moved_to) => {
                    tracing::info!(file = %name, rows = import.summary.rows,
                        inserted = import.summary.inserted, updated = import.summary.updated,
                        already = import.summary.already_imported, "imported");
                    summary.imported.push(ImportedFile {
                        name,
                        moved_to,
                        kind: import.kind,
                        summary: import.summary,
                    });
                }
                Err(e) => summary.failed.push(fail(
                    &path,
                    format!("imported, but moving to {} failed: {e}", done.display()),
                )),
            },
            Err(ImportError::Intake(e @ IntakeError::Rejected { .. })) => {
                match quarantine_file(&path, quarantine, &e, &limits) {
                    Ok((moved_to, errors_file)) => {
                        tracing::warn!(file = %name, problems = e.problems().len(), "quarantined");
                        summary.quarantined.push(QuarantinedFile {
                            name,
                            moved_to,
                            errors_file,
                            problems: e.problems().len(),
                        });
                    }
                    Err(io) => summary.failed.push(fail(
                        &path,
                        format!("refused ({e}), and moving to quarantine failed: {io}"),
                    )),
                }
            }
            Err(e) => summary.failed.push(fail(&path, e.to_string())),
        }
    }
    summary
}

fn list(inbox: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(inbox)? {
        let entry = entry?;
        // Links are listed so they are refused and quarantined (with the reason), not left
        // in the inbox unexplained; they are never followed.
        let kind = entry.file_type()?;
        if kind.is_file() || kind.is_symlink() {
            out.push(entry.path());
        }
    }
    Ok(out)
}

fn is_partial(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    name.starts_with('.')
        || name.starts_with("~$")
        || name.ends_with('~')
        || [
            ".tmp",
            ".part",
            ".partial",
            ".crdownload",
            ".swp",
            ".errors.txt",
        ]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

/// Not modified within [`MIN_FILE_AGE`]. A modification time far in the future (a skewed clock
/// on the machine that wrote it) counts as settled, or the file would wait for that clock.
fn is_settled(path: &Path, now: SystemTime) -> bool {
    let Ok(modified) = fs::symlink_metadata(path).and_then(|m| m.modified()) else {
        return false;
    };
    match now.duration_since(modified) {
        Ok(age) => age >= MIN_FILE_AGE,
        Err(ahead) => ahead.duration() > Duration::from_secs(60),
    }
}

/// Writes `<name>.errors.txt` into `quarantine`, then moves the file beside it.
fn quarantine_file(
    path: &Path,
    quarantine: &Path,
    e: &IntakeError,
    limits: &Limits,
) -> io::Result<(PathBuf, PathBuf)> {
    let target = free_name(path, quarantine)?;
    let errors = errors_path(&target);
    // The same checked read as the import: a link is not followed, a huge file not read.
    let sha = read_checked(path, limits)
        .map(|bytes| sha256_hex(&bytes))
        .unwrap_or_else(|_| "— (not read)".to_owned());
    write_atomically(&errors, errors_report(path, &target, &sha, e).as_bytes())?;
    let moved = move_file(path, &target)?;
    Ok((moved, errors))
}

fn errors_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(".errors.txt");
    target.with_file_name(name)
}

/// The human-readable reasons: header, every problem on its own lines, what to do.
fn errors_report(original: &Path, target: &Path, sha: &str, e: &IntakeError) -> String {
    let now = OffsetDateTime::now_utc()
        .to_offset(sme_proto::period::CST)
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second] (UTC+8)"
        ))
        .unwrap_or_default();
    let problems = e.problems();
    let mut s = String::from("\u{feff}");
    s.push_str(&format!(
        "文件 File: {}\n处理时间 Checked at: {now}\nSHA-256: {}\n\n\
         共发现 {n} 处问题，整个文件未导入。\n\
         {n} problem(s) found; nothing from this file was imported.\n\n",
        original.file_name().unwrap_or_default().to_string_lossy(),
        sha,
        n = problems.len()
    ));
    for (i, p) in problems.iter().enumerate() {
        s.push_str(&format!("{}. {} / {}", i + 1, p.location.zh(), p.location));
        if let Some(c) = &p.column {
            s.push_str(&format!("，列 column “{c}”"));
        }
        if let Some(v) = &p.value {
            s.push_str(&format!("，值 value “{v}”"));
        }
        s.push_str(&format!("\n   {}\n   {}\n", p.zh, p.en));
    }
    s.push_str(&format!(
        "\n处理方法：请按上述说明修改文件（{}），保存后重新放入收件箱。\n\
         What to do: correct the file ({}) as listed above and put it into the inbox again.\n",
        target.display(),
        target.display()
    ));
    s
}

/// A name in `dir` not yet taken: `name.ext`, else `name-1.ext`, `name-2.ext`, ….
fn free_name(path: &Path, dir: &Path) -> io::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let candidate = dir.join(name);
    if !candidate.exists() {
        return Ok(candidate);
    }
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    (1..10_000)
        .map(|i| dir.join(format!("{stem}-{i}{ext}")))
        .find(|c| !c.exists())
        .ok_or_else(|| io::Error::new(io::ErrorKind::AlreadyExists, "no free name"))
}

fn move_into(path: &Path, dir: &Path) -> io::Result<PathBuf> {
    let target = free_name(path, dir)?;
    move_file(path, &target)
}

/// Renames; across filesystems copies to a temporary name, syncs, renames and deletes the source.
fn move_file(from: &Path, to: &Path) -> io::Result<PathBuf> {
    match fs::rename(from, to) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
            let tmp = to.with_extension("moving.tmp");
            fs::copy(from, &tmp)?;
            fs::File::open(&tmp)?.sync_all()?;
            fs::rename(&tmp, to)?;
            fs::remove_file(from)?;
        }
        Err(e) => return Err(e),
    }
    sync_dir(to.parent());
    sync_dir(from.parent());
    Ok(to.to_path_buf())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_dir(path.parent());
    Ok(())
}

/// Makes a rename durable (best effort; not possible on every platform).
fn sync_dir(dir: Option<&Path>) {
    if let Some(d) = dir {
        if let Ok(f) = fs::File::open(d) {
            let _ = f.sync_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_names() {
        for n in [
            ".hidden.csv",
            "~$book.xlsx",
            "a.csv.tmp",
            "a.PART",
            "a.csv~",
            "x.errors.txt",
        ] {
            assert!(is_partial(n), "{n}");
        }
        for n in ["records.csv", "服务记录.xlsx", "profile.json"] {
            assert!(!is_partial(n), "{n}");
        }
    }

    #[test]
    fn free_names_do_not_overwrite() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("a.csv");
        assert_eq!(free_name(&src, d.path()).unwrap(), d.path().join("a.csv"));
        fs::write(d.path().join("a.csv"), "x").unwrap();
        fs::write(d.path().join("a-1.csv"), "x").unwrap();
        assert_eq!(free_name(&src, d.path()).unwrap(), d.path().join("a-2.csv"));
        assert_eq!(
            errors_path(&d.path().join("a-2.csv")),
            d.path().join("a-2.csv.errors.txt")
        );
    }

    #[test]
    fn fresh_files_are_not_settled() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.csv");
        fs::write(&p, "x").unwrap();
        assert!(!is_settled(&p, SystemTime::now()));
        assert!(is_settled(&p, SystemTime::now() + Duration::from_secs(3)));
    }
}
