//! The embedded server's accounts: `sme_owner`, `sme_ingest` and `sme_analytics` (see
//! `store::accounts`), with random passwords generated at the first start and kept in
//! `sme-accounts.toml` (mode 0600) beside the data, reused at every later start. `users.xml`
//! holds only their SHA-256, and no `default` user: a local process without a password is
//! refused ("Unknown user default").

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{Account, Accounts, StoreError};

/// The file name, in the server's data directory unless `EmbeddedOptions::accounts_file`
/// names another.
pub const ACCOUNTS_FILE: &str = "sme-accounts.toml";

/// User names of the three accounts.
pub const OWNER: &str = "sme_owner";
pub const INGEST: &str = "sme_ingest";
pub const ANALYTICS: &str = "sme_analytics";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    owner: Entry,
    ingest: Entry,
    analytics: Entry,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    user: String,
    password: String,
}

impl From<Entry> for Account {
    fn from(e: Entry) -> Self {
        Account::new(e.user, e.password)
    }
}

/// The accounts in `path`, created with fresh passwords if the file does not exist. A file
/// others may read is made private again (with a warning): the passwords in it may have leaked,
/// delete it to get new ones at the next start.
pub fn load_or_create(path: &Path) -> Result<Accounts, StoreError> {
    match fs::metadata(path) {
        Ok(meta) => {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(file = %path.display(),
                    "the embedded ClickHouse's password file was readable by others; made it \
                     private (0600). Delete it while the hub is stopped to get new passwords");
                fs::set_permissions(path, fs::Permissions::from_mode(0o600))
                    .map_err(|e| StoreError::io("make private", path, e))?;
            }
            load(path)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(path),
        Err(e) => Err(StoreError::io("read", path, e)),
    }
}

fn load(path: &Path) -> Result<Accounts, StoreError> {
    let text = fs::read_to_string(path).map_err(|e| StoreError::io("read", path, e))?;
    let file: File = toml::from_str(&text).map_err(|e| {
        StoreError::Embedded(format!(
            "{} is not a password file of the hub ({e}); delete it while the hub is stopped to \
             get new passwords",
            path.display()
        ))
    })?;
    Ok(Accounts {
        owner: file.owner.into(),
        ingest: file.ingest.into(),
        analytics: file.analytics.into(),
    })
}

fn create(path: &Path) -> Result<Accounts, StoreError> {
    let entry = |user: &str| Entry {
        user: user.to_owned(),
        password: random_password(),
    };
    let file = File {
        owner: entry(OWNER),
        ingest: entry(INGEST),
        analytics: entry(ANALYTICS),
    };
    let text = format!(
        "# Accounts of the hub's embedded ClickHouse, generated at its first start; users.xml \
         holds only\n# their SHA-256. Keep this file private (0600). Delete it while the hub is \
         stopped to get new\n# passwords. See docs/decisions.md, \"ClickHouse accounts\".\n{}",
        toml::to_string(&file).expect("plain strings serialise")
    );
    // `create_new`: of two processes starting on a fresh directory, one writes, both read it.
    let tmp = path.with_extension("toml.tmp");
    let _ = fs::remove_file(&tmp);
    let mut out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| StoreError::io("create", &tmp, e))?;
    out.write_all(text.as_bytes())
        .and_then(|()| out.sync_all())
        .map_err(|e| StoreError::io("write", &tmp, e))?;
    match fs::hard_link(&tmp, path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(StoreError::io("create", path, e)),
    }
    let _ = fs::remove_file(&tmp);
    tracing::info!(file = %path.display(), "generated the embedded ClickHouse's passwords");
    load(path)
}

/// 32 random bytes, hex: plain ASCII, so no escaping anywhere.
fn random_password() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// `<password_sha256_hex>` of `password`.
pub fn sha256_hex(password: &str) -> String {
    hex::encode(Sha256::digest(password.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_private_passwords_once_and_reuses_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ACCOUNTS_FILE);
        let first = load_or_create(&path).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(first.owner.user, OWNER);
        assert_eq!(first.ingest.user, INGEST);
        assert_eq!(first.analytics.user, ANALYTICS);
        assert_eq!(first.ingest.password.len(), 64);
        assert_ne!(first.owner.password, first.ingest.password);
        assert_eq!(load_or_create(&path).unwrap(), first);

        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(load_or_create(&path).unwrap(), first);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );

        fs::write(&path, "nonsense").unwrap();
        let err = load_or_create(&path).unwrap_err().to_string();
        assert!(err.contains(ACCOUNTS_FILE), "{err}");
    }

    #[test]
    fn hashes_like_sha256sum() {
        // printf secret | sha256sum
        assert_eq!(
            sha256_hex("secret"),
            "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
        );
    }
}
