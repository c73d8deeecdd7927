//! Web sessions. The browser holds a random 256-bit token in an `HttpOnly` cookie; ClickHouse
//! holds only its SHA-256, so a leak of the database or a backup yields no usable session.
//!
//! A session ends at the first of: its absolute expiry (set at login), an idle period without
//! requests, a logout, a password change. Activity is recorded by writing a new row at most once
//! per [`touch_interval`], so an idle expiry of 30 minutes is enforced to within that interval
//! without one write per request. Every hub process reads the same rows.
//!
//! The CSRF token of a session is derived from its token ([`csrf_token`]): only someone who holds
//! the cookie's value can compute it, a page of another origin can neither read the cookie nor
//! the JSON answers that carry the CSRF token, and the hub can hand it out again (`GET
//! /api/v1/me`) without storing it.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use clickhouse::Row;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::registry::db;
use crate::store::{Store, StoreError};

/// How long sessions last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    /// Ends after this long without a request.
    pub idle: Duration,
    /// Ends this long after login, whatever the activity.
    pub absolute: Duration,
}

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Hex SHA-256 of the token.
    pub token_sha256: String,
    /// Whose.
    pub user_name: String,
    /// Login time.
    pub created_at: OffsetDateTime,
    /// Last recorded activity.
    pub last_seen_at: OffsetDateTime,
    /// Absolute end.
    pub expires_at: OffsetDateTime,
    /// Logged out or revoked.
    pub revoked: bool,
}

/// Why a session is not (any more) valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// No such token.
    Unknown,
    /// Logged out, or revoked by a password change.
    Revoked,
    /// Idle too long.
    Idle,
    /// Past its absolute expiry.
    Expired,
}

impl SessionEnd {
    /// For the audit and the error detail.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionEnd::Unknown => "unknown session",
            SessionEnd::Revoked => "session ended (logout or password change)",
            SessionEnd::Idle => "session idle too long",
            SessionEnd::Expired => "session past its absolute expiry",
        }
    }
}

#[derive(Row, Serialize, Deserialize)]
struct SessionRow {
    token_sha256: String,
    version: u64,
    user_name: String,
    #[serde(with = "clickhouse::serde::time::datetime")]
    created_at: OffsetDateTime,
    #[serde(with = "clickhouse::serde::time::datetime")]
    last_seen_at: OffsetDateTime,
    #[serde(with = "clickhouse::serde::time::datetime")]
    expires_at: OffsetDateTime,
    revoked: u8,
    address: String,
}

/// A new random token (43 characters of base64url for 256 bits).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Hex SHA-256 of a token: what is stored and looked up.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The session's CSRF token, derived from its token (see the module docs).
pub fn csrf_token(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"sme-hub csrf v1\0");
    h.update(token.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// How often activity is written: a tenth of the idle time, at most a minute.
pub fn touch_interval(settings: &SessionSettings) -> Duration {
    (settings.idle / 10).min(Duration::from_secs(60))
}

fn span(d: Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

// === impl Session ===

impl Session {
    /// Whether the session is valid at `now`.
    pub fn check(&self, now: OffsetDateTime, settings: &SessionSettings) -> Result<(), SessionEnd> {
        if self.revoked {
            Err(SessionEnd::Revoked)
        } else if now >= self.expires_at {
            Err(SessionEnd::Expired)
        } else if now - self.last_seen_at >= span(settings.idle) {
            Err(SessionEnd::Idle)
        } else {
            Ok(())
        }
    }

    fn row(&self, address: &str) -> SessionRow {
        SessionRow {
            token_sha256: self.token_sha256.clone(),
            version: super::next_version(),
            user_name: self.user_name.clone(),
            created_at: self.created_at,
            last_seen_at: self.last_seen_at,
            expires_at: self.expires_at,
            revoked: u8::from(self.revoked),
            address: address.to_owned(),
        }
    }
}

async fn write(store: &Store, rows: &[SessionRow]) -> Result<(), StoreError> {
    db::insert::<SessionRow>(store, "sessions", rows).await
}

/// Starts a session for `user_name`; returns the token for the cookie and the session.
pub async fn create(
    store: &Store,
    user_name: &str,
    address: &str,
    now: OffsetDateTime,
    settings: &SessionSettings,
) -> Result<(String, Session), StoreError> {
    let token = new_token();
    let session = Session {
        token_sha256: token_hash(&token),
        user_name: user_name.to_owned(),
        created_at: now,
        last_seen_at: now,
        expires_at: now + span(settings.absolute),
        revoked: false,
    };
    write(store, &[session.row(address)]).await?;
    Ok((token, session))
}

/// The session of `token`, as every process sees it: revoked once any row says so, last seen
/// at the latest recorded activity.
pub async fn find(store: &Store, token: &str) -> Result<Option<Session>, StoreError> {
    #[derive(Row, Deserialize)]
    struct Found {
        user_name: String,
        #[serde(with = "clickhouse::serde::time::datetime")]
        created_at: OffsetDateTime,
        #[serde(with = "clickhouse::serde::time::datetime")]
        last_seen_at: OffsetDateTime,
        #[serde(with = "clickhouse::serde::time::datetime")]
        expires_at: OffsetDateTime,
        revoked: u8,
    }
    let hash = token_hash(token);
    let query = store
        .client()
        .query(
            "SELECT any(user_name), min(created_at), max(last_seen_at), min(expires_at), max(revoked)
             FROM sessions WHERE token_sha256 = ? GROUP BY token_sha256",
        )
        .bind(&hash);
    let rows: Vec<Found> = db::fetch_all(query, "find session").await?;
    Ok(rows.into_iter().next().map(|f| Session {
        token_sha256: hash,
        user_name: f.user_name,
        created_at: f.created_at,
        last_seen_at: f.last_seen_at,
        expires_at: f.expires_at,
        revoked: f.revoked != 0,
    }))
}

/// Records activity when the last record is older than [`touch_interval`].
pub async fn touch(
    store: &Store,
    session: &Session,
    address: &str,
    now: OffsetDateTime,
    settings: &SessionSettings,
) -> Result<(), StoreError> {
    if now - session.last_seen_at < span(touch_interval(settings)) {
        return Ok(());
    }
    let touched = Session {
        last_seen_at: now,
        ..session.clone()
    };
    write(store, &[touched.row(address)]).await
}

/// Ends one session (logout).
pub async fn revoke(store: &Store, session: &Session, address: &str) -> Result<(), StoreError> {
    let ended = Session {
        revoked: true,
        ..session.clone()
    };
    write(store, &[ended.row(address)]).await
}

/// Ends every live session of `user_name` (password change).
pub async fn revoke_all(
    store: &Store,
    user_name: &str,
    now: OffsetDateTime,
) -> Result<usize, StoreError> {
    #[derive(Row, Deserialize)]
    struct Live {
        token_sha256: String,
        #[serde(with = "clickhouse::serde::time::datetime")]
        created_at: OffsetDateTime,
        #[serde(with = "clickhouse::serde::time::datetime")]
        last_seen_at: OffsetDateTime,
        #[serde(with = "clickhouse::serde::time::datetime")]
        expires_at: OffsetDateTime,
    }
    let query = store
        .client()
        .query(
            "SELECT token_sha256, min(created_at), max(last_seen_at), min(expires_at)
             FROM sessions WHERE user_name = ?
             GROUP BY token_sha256
             HAVING max(revoked) = 0 AND toUInt32(min(expires_at)) > ?",
        )
        .bind(user_name)
        .bind(u32::try_from(now.unix_timestamp()).unwrap_or(0));
    let live: Vec<Live> = db::fetch_all(query, "live sessions of a user").await?;
    let rows: Vec<SessionRow> = live
        .into_iter()
        .map(|l| {
            Session {
                token_sha256: l.token_sha256,
                user_name: user_name.to_owned(),
                created_at: l.created_at,
                last_seen_at: l.last_seen_at,
                expires_at: l.expires_at,
                revoked: true,
            }
            .row("")
        })
        .collect();
    write(store, &rows).await?;
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn tokens_are_random_and_only_their_hash_and_csrf_are_derived() {
        let a = new_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, new_token());
        assert_eq!(token_hash(&a).len(), 64);
        assert_eq!(csrf_token(&a), csrf_token(&a));
        assert_ne!(csrf_token(&a), csrf_token(&new_token()));
        assert_ne!(csrf_token(&a), a);
    }

    #[test]
    fn sessions_end_when_idle_expired_or_revoked() {
        let settings = SessionSettings {
            idle: Duration::from_secs(1800),
            absolute: Duration::from_secs(8 * 3600),
        };
        let login = datetime!(2026-06-01 09:00 UTC);
        let s = Session {
            token_sha256: String::new(),
            user_name: "a".into(),
            created_at: login,
            last_seen_at: login,
            expires_at: login + time::Duration::hours(8),
            revoked: false,
        };
        assert_eq!(
            s.check(login + time::Duration::minutes(29), &settings),
            Ok(())
        );
        assert_eq!(
            s.check(login + time::Duration::minutes(30), &settings),
            Err(SessionEnd::Idle)
        );
        let active = Session {
            last_seen_at: login + time::Duration::minutes(470),
            ..s.clone()
        };
        assert_eq!(
            active.check(login + time::Duration::hours(8), &settings),
            Err(SessionEnd::Expired)
        );
        let out = Session { revoked: true, ..s };
        assert_eq!(out.check(login, &settings), Err(SessionEnd::Revoked));
        assert_eq!(touch_interval(&settings), Duration::from_secs(60));
    }
}
