//! Web users (planners, coordinators, admins; domain §1) and their sessions, kept in ClickHouse
//! so that every hub process sees the same users, sessions and login failures.
//!
//! - [`password`]: argon2id hashes;
//! - [`sessions`]: random 256-bit tokens of which only the SHA-256 is stored, idle and absolute
//!   expiry;
//! - [`throttle`]: failed logins counted per account and per address over a window.
//!
//! A user's role and region become a [`Scope`] through [`Scope::for_user`] only, so a
//! coordinator's region is checked the same way here and in every answer.

pub mod password;
pub mod sessions;
pub mod throttle;

use clickhouse::Row;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::analytics::{Role, Scope, ScopeError};
use crate::registry::db;
use crate::store::{Store, StoreError};

pub use password::PasswordError;

/// A web user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Region code of a coordinator; `None` for planners and admins.
    pub region: Option<String>,
    /// Disabled users cannot log in and their sessions stop working.
    pub disabled: bool,
    /// PHC string of the argon2id hash.
    pub password_hash: String,
    /// Last change.
    pub updated_at: OffsetDateTime,
    /// Who made it.
    pub updated_by: String,
}

/// Errors managing users.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// Name not usable.
    #[error("user name {0:?} is not usable: use 1 to 64 letters, digits, '.', '_', '-' or '@'")]
    BadName(String),
    /// Role and region do not fit.
    #[error(transparent)]
    Scope(#[from] ScopeError),
    /// Password policy.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// Exists already.
    #[error("user {0} exists already; change the password with `sme-hub user passwd {0}`")]
    Exists(String),
    /// Not found.
    #[error("there is no user {0}; `sme-hub user list` shows the users")]
    Unknown(String),
    /// ClickHouse failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Row, Serialize, Deserialize)]
struct UserRow {
    name: String,
    version: u64,
    role: String,
    region_code: String,
    password_hash: String,
    disabled: u8,
    #[serde(with = "clickhouse::serde::time::datetime")]
    updated_at: OffsetDateTime,
    updated_by: String,
}

#[derive(Row, Serialize)]
struct UserInsert<'a> {
    name: &'a str,
    version: u64,
    role: i8,
    region_code: &'a str,
    password_hash: &'a str,
    disabled: u8,
    #[serde(with = "clickhouse::serde::time::datetime")]
    updated_at: OffsetDateTime,
    updated_by: &'a str,
}

const CURRENT_USERS: &str = "SELECT name, max(version) AS cur_version,
        toString(argMax(role, version)) AS cur_role,
        argMax(region_code, version) AS cur_region,
        argMax(password_hash, version) AS cur_hash,
        argMax(disabled, version) AS cur_disabled,
        argMax(updated_at, version) AS cur_updated_at,
        argMax(updated_by, version) AS cur_updated_by
    FROM users";

// === impl User ===

impl User {
    /// The user's scope (planners and admins national, a coordinator their region).
    pub fn scope(&self) -> Result<Scope, ScopeError> {
        Scope::for_user(self.role, self.region.as_deref())
    }

    fn from_row(row: UserRow) -> User {
        User {
            role: row.role.parse().unwrap_or(Role::Planner),
            region: (!row.region_code.is_empty()).then_some(row.region_code),
            disabled: row.disabled != 0,
            name: row.name,
            password_hash: row.password_hash,
            updated_at: row.updated_at,
            updated_by: row.updated_by,
        }
    }
}

/// A strictly increasing-enough version: wall-clock nanoseconds (not the hub's business clock,
/// which tests stop), so a later change always wins.
pub(crate) fn next_version() -> u64 {
    u64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos()).unwrap_or(0)
}

fn check_name(name: &str) -> Result<(), UserError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(UserError::BadName(name.to_owned()))
    }
}

async fn write(store: &Store, user: &User) -> Result<(), StoreError> {
    let row = UserInsert {
        name: &user.name,
        version: next_version(),
        role: match user.role {
            Role::Planner => 1,
            Role::Coordinator => 2,
            Role::Admin => 3,
        },
        region_code: user.region.as_deref().unwrap_or(""),
        password_hash: &user.password_hash,
        disabled: u8::from(user.disabled),
        updated_at: user.updated_at,
        updated_by: &user.updated_by,
    };
    db::insert::<UserInsert<'_>>(store, "users", std::slice::from_ref(&row)).await
}

/// The current state of user `name`, if any.
pub async fn find(store: &Store, name: &str) -> Result<Option<User>, StoreError> {
    let sql = format!("{CURRENT_USERS} WHERE name = ? GROUP BY name");
    let rows: Vec<UserRow> =
        db::fetch_all(store.client().query(&sql).bind(name), "find user").await?;
    Ok(rows.into_iter().next().map(User::from_row))
}

/// Every user, by name.
pub async fn list(store: &Store) -> Result<Vec<User>, StoreError> {
    let sql = format!("{CURRENT_USERS} GROUP BY name ORDER BY name");
    let rows: Vec<UserRow> = db::fetch_all(store.client().query(&sql), "list users").await?;
    Ok(rows.into_iter().map(User::from_row).collect())
}

/// Adds a user. A coordinator needs a region; planners and admins are national.
pub async fn add(
    store: &Store,
    name: &str,
    role: Role,
    region: Option<&str>,
    password: &str,
    by: &str,
    now: OffsetDateTime,
) -> Result<User, UserError> {
    check_name(name)?;
    let scope = Scope::for_user(role, region)?;
    if find(store, name).await?.is_some() {
        return Err(UserError::Exists(name.to_owned()));
    }
    let user = User {
        name: name.to_owned(),
        role,
        region: (!scope.is_national()).then(|| scope.region().to_owned()),
        disabled: false,
        password_hash: password::hash(password)?,
        updated_at: now,
        updated_by: by.to_owned(),
    };
    write(store, &user).await?;
    Ok(user)
}

/// Disables (or, with `disabled = false`, enables) a user. Their sessions stop working at once:
/// every request reads the user's current state.
pub async fn set_disabled(
    store: &Store,
    name: &str,
    disabled: bool,
    by: &str,
    now: OffsetDateTime,
) -> Result<User, UserError> {
    let mut user = find(store, name)
        .await?
        .ok_or_else(|| UserError::Unknown(name.to_owned()))?;
    user.disabled = disabled;
    user.updated_at = now;
    user.updated_by = by.to_owned();
    write(store, &user).await?;
    Ok(user)
}

/// Sets a new password. Existing sessions of the user are revoked.
pub async fn set_password(
    store: &Store,
    name: &str,
    password: &str,
    by: &str,
    now: OffsetDateTime,
) -> Result<User, UserError> {
    let mut user = find(store, name)
        .await?
        .ok_or_else(|| UserError::Unknown(name.to_owned()))?;
    user.password_hash = password::hash(password)?;
    user.updated_at = now;
    user.updated_by = by.to_owned();
    write(store, &user).await?;
    sessions::revoke_all(store, name, now).await?;
    Ok(user)
}
