//! Single-use enrolment tokens (注册令牌).

use std::fs;
use std::path::PathBuf;

use rand::RngCore;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use super::{create_dir, rfc3339, write_secret, PkiError};

/// Version prefix of enrolment tokens.
const TOKEN_PREFIX: &str = "SME1";

/// Why an enrolment token was refused. Each maps to PERMISSION_DENIED with this text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("enrolment token is malformed: expected SME1.<secret>.<ca fingerprint> as printed by `sme-hub token issue`")]
    Malformed,
    #[error("enrolment token is unknown to this hub: ask the hub operator for a new one")]
    Unknown,
    #[error("enrolment token has already been used: each token works once; ask the hub operator for a new one")]
    AlreadyUsed,
    #[error("enrolment token expired at {0}: ask the hub operator for a new one")]
    Expired(String),
    #[error("enrolment token was not issued for platform {requested}: check the platform id, or ask the hub operator for a token for it")]
    WrongPlatform { requested: String },
    #[error("token store error: {0}")]
    Store(String),
}

// === impl TokenStore ===

/// Single-use enrolment tokens (注册令牌). Only a hash of each token is stored.
pub struct TokenStore {
    pub(super) dir: PathBuf,
    pub(super) ca_fingerprint: String,
}

/// What is stored for an unused token.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct TokenRecord {
    platform_id: String,
    issued_at: String,
    expires_at: String,
}

impl TokenStore {
    /// Issues a token for `platform_id`, valid for `ttl`. The returned string carries the CA
    /// fingerprint, so the agent can check the hub before it sends anything.
    pub fn issue(&self, platform_id: &str, ttl: Duration) -> Result<String, PkiError> {
        sme_proto::credit_code::validate(platform_id).map_err(|e| PkiError::BadPlatformId {
            platform_id: platform_id.to_owned(),
            reason: e.to_string(),
        })?;
        create_dir(&self.dir)?;
        let mut secret = [0u8; 24];
        rand::rng().fill_bytes(&mut secret);
        let secret = hex::encode(secret);
        let now = OffsetDateTime::now_utc();
        let record = TokenRecord {
            platform_id: platform_id.to_owned(),
            issued_at: rfc3339(now),
            expires_at: rfc3339(now + ttl),
        };
        let body = toml::to_string(&record).expect("token record serialises");
        write_secret(&self.dir.join(token_file(&secret)), body.as_bytes())?;
        Ok(format!("{TOKEN_PREFIX}.{secret}.{}", self.ca_fingerprint))
    }

    /// Whether `token` would be accepted for `platform_id` now, without using it up: the
    /// enrolment checks it, signs the certificate, and only then consumes it.
    pub fn check(&self, token: &str, platform_id: &str) -> Result<(), TokenError> {
        self.valid(token, platform_id).map(drop)
    }

    /// Uses up `token` for `platform_id`. Succeeds once per token.
    pub fn consume(&self, token: &str, platform_id: &str) -> Result<(), TokenError> {
        let (path, used) = self.valid(token, platform_id)?;
        let used_dir = self.dir.join("used");
        fs::create_dir_all(&used_dir)
            .map_err(|e| TokenError::Store(format!("{}: {e}", used_dir.display())))?;
        // The rename is the single point of truth: of two concurrent enrolments with the same
        // token, exactly one rename succeeds.
        match fs::rename(&path, &used) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(TokenError::AlreadyUsed),
            Err(e) => Err(TokenError::Store(format!("{}: {e}", path.display()))),
        }
    }

    /// The unused token's file and where it goes once used, if `token` is valid for
    /// `platform_id` now.
    fn valid(&self, token: &str, platform_id: &str) -> Result<(PathBuf, PathBuf), TokenError> {
        let secret = parse_token(token)?.0;
        let name = token_file(secret);
        let path = self.dir.join(&name);
        let used = self.dir.join("used").join(&name);
        let body = match fs::read_to_string(&path) {
            Ok(body) => body,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(if used.exists() {
                    TokenError::AlreadyUsed
                } else {
                    TokenError::Unknown
                });
            }
            Err(e) => return Err(TokenError::Store(format!("{}: {e}", path.display()))),
        };
        let record: TokenRecord = toml::from_str(&body)
            .map_err(|e| TokenError::Store(format!("{}: {e}", path.display())))?;
        if record.platform_id != platform_id {
            // Which platform it is for stays in the hub's log: the caller is told only that it
            // is not the one asked for.
            tracing::info!(issued_for = %record.platform_id, requested = %platform_id,
                "enrolment token presented for another platform");
            return Err(TokenError::WrongPlatform {
                requested: platform_id.to_owned(),
            });
        }
        let expires = OffsetDateTime::parse(
            &record.expires_at,
            &time::format_description::well_known::Rfc3339,
        )
        .map_err(|e| TokenError::Store(format!("{}: {e}", path.display())))?;
        if OffsetDateTime::now_utc() > expires {
            return Err(TokenError::Expired(record.expires_at));
        }
        Ok((path, used))
    }
}

/// Splits a token into its secret and CA fingerprint.
pub fn parse_token(token: &str) -> Result<(&str, &str), TokenError> {
    let mut parts = token.trim().split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(TOKEN_PREFIX), Some(secret), Some(pin), None)
            if secret.len() == 48
                && pin.len() == 64
                && secret.bytes().all(|b| b.is_ascii_hexdigit())
                && pin.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Ok((secret, pin))
        }
        _ => Err(TokenError::Malformed),
    }
}

fn token_file(secret: &str) -> String {
    format!("{}.toml", hex::encode(Sha256::digest(secret.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::tests::platform;
    use crate::pki::CertificateAuthority;

    #[test]
    fn token_works_once_and_only_for_its_platform() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::init(dir.path(), &["localhost".into()], false).unwrap();
        let tokens = ca.tokens();
        let id = platform();
        let token = tokens.issue(&id, Duration::hours(1)).unwrap();
        let other = sme_proto::credit_code::make_valid("91310000MA1FL0000");
        let err = tokens.consume(&token, &other).unwrap_err();
        assert!(matches!(err, TokenError::WrongPlatform { .. }), "{err}");
        assert!(
            !err.to_string().contains(&id),
            "the message names the token's platform: {err}"
        );
        // Checking does not use it up, as often as asked.
        tokens.check(&token, &id).unwrap();
        tokens.check(&token, &id).unwrap();
        tokens.consume(&token, &id).unwrap();
        assert_eq!(tokens.check(&token, &id), Err(TokenError::AlreadyUsed));
        assert_eq!(tokens.consume(&token, &id), Err(TokenError::AlreadyUsed));
        assert_eq!(tokens.consume("SME1.x.y", &id), Err(TokenError::Malformed));
        let forged = format!("SME1.{}.{}", "ab".repeat(24), ca.fingerprint());
        assert_eq!(tokens.consume(&forged, &id), Err(TokenError::Unknown));
    }

    #[test]
    fn of_concurrent_consumers_exactly_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::init(dir.path(), &["localhost".into()], false).unwrap();
        let token = ca.tokens().issue(&platform(), Duration::hours(1)).unwrap();
        let wins: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| ca.tokens().consume(&token, &platform()).is_ok()))
                .collect();
            handles
                .into_iter()
                .map(|h| usize::from(h.join().unwrap()))
                .sum()
        });
        assert_eq!(wins, 1);
    }

    #[test]
    fn expired_token_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::init(dir.path(), &["localhost".into()], false).unwrap();
        let token = ca
            .tokens()
            .issue(&platform(), Duration::seconds(-1))
            .unwrap();
        assert!(matches!(
            ca.tokens().consume(&token, &platform()),
            Err(TokenError::Expired(_))
        ));
    }
}
