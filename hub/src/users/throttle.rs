//! Login throttling per account and per address, across hub processes: every attempt is a row
//! of `login_attempts`, and a login is refused (before its password is even checked) while the
//! account or the address has too many failures within the window. A success does not wipe the
//! account's failures: they age out of the window, so an attacker who also knows one password
//! cannot reset the counter of another account from the same address.
//!
//! Two processes checking at the same moment can each let one more attempt through; the limit
//! holds to within the number of hub processes.

use std::time::Duration;

use clickhouse::Row;
use serde::Serialize;
use time::OffsetDateTime;

use crate::registry::db;
use crate::store::{Store, StoreError};

/// Limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// How far back failures count.
    pub window: Duration,
    /// Failures of one account within the window before its logins are refused.
    pub max_failures_per_account: u32,
    /// Failures from one address within the window before its logins are refused.
    pub max_failures_per_address: u32,
}

/// Why a login is refused before its password is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Throttled {
    /// The account has too many recent failures.
    Account {
        /// Failures counted.
        failures: u64,
    },
    /// The address has too many recent failures.
    Address {
        /// Failures counted.
        failures: u64,
    },
}

#[derive(Row, Serialize)]
struct AttemptRow<'a> {
    #[serde(with = "clickhouse::serde::time::datetime")]
    at: OffsetDateTime,
    user_name: &'a str,
    address: &'a str,
    success: u8,
}

fn unix(t: OffsetDateTime) -> u32 {
    u32::try_from(t.unix_timestamp()).unwrap_or(0)
}

/// Whether a login of `user_name` from `address` may be tried at `now`.
pub async fn check(
    store: &Store,
    user_name: &str,
    address: &str,
    now: OffsetDateTime,
    settings: &ThrottleSettings,
) -> Result<Result<(), Throttled>, StoreError> {
    let since = now - time::Duration::try_from(settings.window).unwrap_or(time::Duration::DAY);
    let query = store
        .client()
        .query(
            "SELECT toUInt64(countIf(user_name = ?)), toUInt64(countIf(address = ?))
             FROM login_attempts
             WHERE success = 0 AND toUInt32(at) > ? AND (user_name = ? OR address = ?)",
        )
        .bind(user_name)
        .bind(address)
        .bind(unix(since))
        .bind(user_name)
        .bind(address);
    let counts: Vec<(u64, u64)> = db::fetch_all(query, "count login failures").await?;
    let (account, from_address) = counts.first().copied().unwrap_or((0, 0));
    Ok(if account >= u64::from(settings.max_failures_per_account) {
        Err(Throttled::Account { failures: account })
    } else if from_address >= u64::from(settings.max_failures_per_address) {
        Err(Throttled::Address {
            failures: from_address,
        })
    } else {
        Ok(())
    })
}

/// Records one attempt (synchronously, so the next check in any process counts it).
pub async fn record(
    store: &Store,
    user_name: &str,
    address: &str,
    success: bool,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let row = AttemptRow {
        at: now,
        user_name,
        address,
        success: u8::from(success),
    };
    db::insert::<AttemptRow<'_>>(store, "login_attempts", std::slice::from_ref(&row)).await
}
