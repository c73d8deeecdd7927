//! The ledger of issued client certificates (证书台账): one file per certificate under
//! `<ca dir>/issued/<serial>.toml`, written before the certificate leaves the hub.
//!
//! Files beside the CA rather than a ClickHouse table: every hub process sharing the CA
//! directory sees them (like the tokens and revocations), `sme-hub cert list` and
//! `cert revoke --platform` work without ClickHouse, and the ledger is backed up and restored
//! with the CA it belongs to (see `docs/decisions.md`, "Identity"). An entry is never changed
//! once written; revocation is a separate file (`revocations.rs`).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::{create_dir, normalise_serial, write_file, PkiError};

/// How a certificate came to be issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssuedBy {
    /// `Enroll` with a single-use token.
    Enrolment,
    /// `Renew`, authenticated by the platform's previous certificate.
    Renewal,
}

impl IssuedBy {
    /// The word shown by `cert list` and stored in `certificate_events`.
    pub fn as_str(self) -> &'static str {
        match self {
            IssuedBy::Enrolment => "enrolment",
            IssuedBy::Renewal => "renewal",
        }
    }
}

/// One issued certificate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LedgerEntry {
    /// Serial number, lower-case hex (as the hub logs it and `cert revoke --serial` takes it).
    pub serial: String,
    /// The platform the certificate names.
    pub platform_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// When the hub signed it (to the nanosecond: renewals are ordered by it).
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    pub issued_by: IssuedBy,
    /// For a renewal: the certificate that authenticated the `Renew` call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predecessor: Option<String>,
    /// The hub process that issued it.
    #[serde(default)]
    pub hub_instance: String,
}

// === impl Ledger ===

/// The ledger directory.
#[derive(Debug, Clone)]
pub struct Ledger {
    dir: PathBuf,
}

impl Ledger {
    /// The ledger under `ca_dir`.
    pub fn new(ca_dir: &Path) -> Self {
        Self {
            dir: ca_dir.join("issued"),
        }
    }

    fn path(&self, serial: &str) -> PathBuf {
        self.dir.join(format!("{serial}.toml"))
    }

    /// Writes `entry` (before the certificate is handed out).
    pub fn record(&self, entry: &LedgerEntry) -> Result<(), PkiError> {
        create_dir(&self.dir)?;
        let body = toml::to_string(entry).expect("ledger entry serialises");
        write_file(&self.path(&entry.serial), body.as_bytes())
    }

    /// Removes the entry of a certificate that was made but never handed out (its enrolment
    /// token had been used meanwhile).
    pub fn forget(&self, serial: &str) -> Result<(), PkiError> {
        match fs::remove_file(self.path(serial)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(PkiError::Io {
                path: self.path(serial),
                source,
            }),
        }
    }

    /// The entry of `serial`, if the ledger has one.
    pub fn get(&self, serial: &str) -> Result<Option<LedgerEntry>, PkiError> {
        let Some(serial) = normalise_serial(serial) else {
            return Ok(None);
        };
        let path = self.path(&serial);
        match fs::read_to_string(&path) {
            Ok(body) => parse(&path, &body).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(PkiError::Io { path, source }),
        }
    }

    /// Every entry, by platform and then issue time.
    pub fn list(&self) -> Result<Vec<LedgerEntry>, PkiError> {
        let mut cache = LedgerCache::default();
        cache.refresh(self)?;
        let mut entries: Vec<LedgerEntry> = cache.entries.into_values().collect();
        entries.sort_by(|a, b| {
            (&a.platform_id, a.issued_at, &a.serial).cmp(&(&b.platform_id, b.issued_at, &b.serial))
        });
        Ok(entries)
    }

    /// The serials named by the files now in the directory (none if it does not exist yet).
    fn serials(&self) -> Result<Vec<String>, PkiError> {
        let read = match fs::read_dir(&self.dir) {
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(PkiError::Io {
                    path: self.dir.clone(),
                    source,
                })
            }
        };
        let mut serials = Vec::new();
        for entry in read {
            let entry = entry.map_err(|source| PkiError::Io {
                path: self.dir.clone(),
                source,
            })?;
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".toml")) else {
                continue; // temporary files of a write in progress
            };
            if normalise_serial(stem).as_deref() == Some(stem) {
                serials.push(stem.to_owned());
            }
        }
        Ok(serials)
    }
}

fn parse(path: &Path, body: &str) -> Result<LedgerEntry, PkiError> {
    toml::from_str(body).map_err(|e| PkiError::Damaged {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

// === impl LedgerCache ===

/// The ledger in memory, brought up to date by [`LedgerCache::refresh`]: a directory listing,
/// and only the files not seen before are read (entries never change once written).
#[derive(Debug, Default, Clone)]
pub(crate) struct LedgerCache {
    pub(crate) entries: HashMap<String, LedgerEntry>,
}

impl LedgerCache {
    /// Reads the entries written since the last refresh and drops those removed.
    pub(crate) fn refresh(&mut self, ledger: &Ledger) -> Result<(), PkiError> {
        let serials = ledger.serials()?;
        let present: std::collections::HashSet<&str> = serials.iter().map(String::as_str).collect();
        self.entries.retain(|s, _| present.contains(s.as_str()));
        let mut damaged = None;
        for serial in &serials {
            if self.entries.contains_key(serial) {
                continue;
            }
            let path = ledger.path(serial);
            match fs::read_to_string(&path) {
                Ok(body) => match parse(&path, &body) {
                    Ok(entry) => {
                        self.entries.insert(serial.clone(), entry);
                    }
                    Err(e) => damaged = Some(e),
                },
                // Removed between the listing and the read (a discarded certificate).
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => damaged = Some(PkiError::Io { path, source }),
            }
        }
        damaged.map_or(Ok(()), Err)
    }

    /// The entries of `platform_id` issued before `before`, other than `serial`.
    pub(crate) fn older(
        &self,
        platform_id: &str,
        serial: &str,
        before: OffsetDateTime,
    ) -> Vec<&LedgerEntry> {
        self.entries
            .values()
            .filter(|e| e.platform_id == platform_id && e.serial != serial && e.issued_at < before)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::tests::platform;
    use time::Duration;

    pub(crate) fn entry(serial: &str, issued_by: IssuedBy, at: OffsetDateTime) -> LedgerEntry {
        LedgerEntry {
            serial: serial.into(),
            platform_id: platform(),
            not_before: at - Duration::minutes(5),
            not_after: at + Duration::days(365),
            issued_at: at,
            issued_by,
            predecessor: None,
            hub_instance: "test".into(),
        }
    }

    #[test]
    fn entries_round_trip_and_the_cache_follows_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::new(dir.path());
        assert!(ledger.list().unwrap().is_empty(), "no directory yet");
        let now = OffsetDateTime::now_utc();
        let a = entry("0a01", IssuedBy::Enrolment, now);
        let mut b = entry("0b02", IssuedBy::Renewal, now + Duration::nanoseconds(1));
        b.predecessor = Some("0a01".into());
        ledger.record(&a).unwrap();
        ledger.record(&b).unwrap();
        assert_eq!(ledger.list().unwrap(), vec![a.clone(), b.clone()]);
        assert_eq!(ledger.get("0B:02").unwrap(), Some(b.clone()));
        assert_eq!(ledger.get("ffff").unwrap(), None);

        let mut cache = LedgerCache::default();
        cache.refresh(&ledger).unwrap();
        let older: Vec<&str> = cache
            .older(&a.platform_id, "0b02", b.issued_at)
            .iter()
            .map(|e| e.serial.as_str())
            .collect();
        assert_eq!(older, ["0a01"], "nanoseconds order two renewals");
        ledger.forget("0a01").unwrap();
        ledger.forget("0a01").unwrap();
        cache.refresh(&ledger).unwrap();
        assert_eq!(cache.entries.len(), 1);

        std::fs::write(dir.path().join("issued/0c03.toml"), "not toml").unwrap();
        assert!(matches!(
            cache.refresh(&ledger),
            Err(PkiError::Damaged { .. })
        ));
        assert!(cache.entries.contains_key("0b02"), "the good entries stay");
    }
}
