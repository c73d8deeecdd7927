//! SQL of the registry tables (schema in `store/migrations.rs`, version 4). Reads never rely on
//! merges: the current version of a row is chosen with `argMax` at query time.

use std::collections::HashMap;
use std::time::Duration;

use clickhouse::{Row, RowOwned, RowRead, RowWrite};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::region::{self, SHIPPED_REVISION};
use super::{DemoLevel, Division, Platform, PlatformType, RowWarning, SmeCount};
use crate::store::{Store, StoreError};

/// Longest a registry query may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// `closed_date` of a platform that is not closed (ClickHouse `Date` has no "none").
const NOT_CLOSED: Date = time::macros::date!(1970 - 01 - 01);

// === rows ===

#[derive(Row, Serialize)]
struct PlatformInsert<'a> {
    credit_code: &'a str,
    version: u64,
    #[serde(with = "clickhouse::serde::time::datetime")]
    updated_at: OffsetDateTime,
    name: &'a str,
    region_code: &'a str,
    industry: &'a str,
    platform_type: &'a str,
    level: i8,
    independent_legal_person: u8,
    #[serde(with = "clickhouse::serde::time::date")]
    registered_date: Date,
    #[serde(with = "clickhouse::serde::time::date")]
    closed_date: Date,
    warnings_en: Vec<&'a str>,
    warnings_zh: Vec<&'a str>,
    source: &'a str,
    updated_by: &'a str,
}

/// Columns in the order of [`PLATFORM_COLUMNS`].
#[derive(Row, Deserialize)]
struct PlatformRead {
    credit_code: String,
    name: String,
    region_code: String,
    industry: String,
    platform_type: String,
    level: i8,
    independent_legal_person: u8,
    #[serde(with = "clickhouse::serde::time::date")]
    registered_date: Date,
    #[serde(with = "clickhouse::serde::time::date")]
    closed_date: Date,
    warnings_en: Vec<String>,
    warnings_zh: Vec<String>,
    #[serde(with = "clickhouse::serde::time::datetime")]
    updated_at: OffsetDateTime,
    updated_by: String,
    source: String,
}

/// The current version of each platform (aliases differ from the column names: ClickHouse
/// aliases are global and would otherwise refer to themselves).
const CURRENT_PLATFORMS: &str = "SELECT credit_code,
        argMax(name, version) AS cur_name,
        argMax(region_code, version) AS cur_region,
        argMax(industry, version) AS cur_industry,
        argMax(platform_type, version) AS cur_type,
        argMax(level, version) AS cur_level,
        argMax(independent_legal_person, version) AS cur_legal_person,
        argMax(registered_date, version) AS cur_registered,
        argMax(closed_date, version) AS cur_closed,
        argMax(warnings_en, version) AS cur_warnings_en,
        argMax(warnings_zh, version) AS cur_warnings_zh,
        argMax(updated_at, version) AS cur_updated_at,
        argMax(updated_by, version) AS cur_updated_by,
        argMax(source, version) AS cur_source
    FROM platforms";

const PLATFORM_COLUMNS: &str = "credit_code, cur_name, cur_region, cur_industry, cur_type, \
     cur_level, cur_legal_person, cur_registered, cur_closed, cur_warnings_en, cur_warnings_zh, \
     cur_updated_at, cur_updated_by, cur_source";

/// The SQL of the current registry, one row per platform with the `cur_*` columns; for other
/// modules' queries (completeness).
pub(crate) fn current_platforms_sql() -> String {
    format!("{CURRENT_PLATFORMS} GROUP BY credit_code")
}

impl PlatformRead {
    fn into_platform(self) -> Platform {
        let warnings = self
            .warnings_en
            .into_iter()
            .zip(self.warnings_zh)
            .map(|(en, zh)| RowWarning { en, zh })
            .collect();
        Platform {
            credit_code: self.credit_code,
            name: self.name,
            region_code: self.region_code,
            industry: self.industry,
            platform_type: PlatformType::from_stored(&self.platform_type),
            level: DemoLevel::from_code(self.level),
            independent_legal_person: self.independent_legal_person != 0,
            registered: self.registered_date,
            closed: closed_from_stored(self.closed_date),
            warnings,
            updated_at: self.updated_at,
            updated_by: self.updated_by,
            source: self.source,
        }
    }
}

/// `closed_date` as stored → `None` for the "not closed" sentinel.
pub(crate) fn closed_from_stored(d: Date) -> Option<Date> {
    (d != NOT_CLOSED).then_some(d)
}

#[derive(Row, Serialize)]
struct DivisionInsert<'a> {
    revision: u32,
    code: &'a str,
    name: &'a str,
    name_en: &'a str,
    level: i8,
    parent_code: String,
    #[serde(with = "clickhouse::serde::time::datetime")]
    loaded_at: OffsetDateTime,
    source: &'a str,
}

#[derive(Row, Deserialize)]
struct DivisionRead {
    revision: u32,
    code: String,
    name: String,
    name_en: String,
}

#[derive(Row, Serialize)]
struct SmeCountInsert<'a> {
    region_code: &'a str,
    year: u16,
    sme_count: u64,
    version: u64,
    #[serde(with = "clickhouse::serde::time::datetime")]
    imported_at: OffsetDateTime,
    source: &'a str,
}

#[derive(Row, Deserialize)]
struct SmeCountRead {
    region_code: String,
    year: u16,
    sme_count: u64,
}

/// One line of the `registry_imports` log.
#[derive(Debug, Clone, Row, Serialize)]
pub struct ImportLog {
    /// Id of the import.
    #[serde(with = "clickhouse::serde::uuid")]
    pub import_id: Uuid,
    /// When.
    #[serde(with = "clickhouse::serde::time::datetime")]
    pub imported_at: OffsetDateTime,
    /// `platforms`, `divisions` or `sme_counts`.
    pub kind: String,
    /// File name as given.
    pub file_name: String,
    /// SHA-256 of the file's bytes (hex).
    pub sha256: String,
    /// Data rows in the file.
    pub row_count: u32,
    /// Rows written (new or changed).
    pub changed: u32,
    /// Rows with warnings.
    pub warnings: u32,
    /// Who imported it.
    pub imported_by: String,
}

// === platforms ===

/// Writes a new version of each platform, stamped `at` and `by`. Returns the version.
pub async fn upsert_platforms(
    store: &Store,
    platforms: &[Platform],
    by: &str,
    at: OffsetDateTime,
) -> Result<u64, StoreError> {
    let version = version_of(at);
    let rows: Vec<PlatformInsert<'_>> = platforms
        .iter()
        .map(|p| PlatformInsert {
            credit_code: &p.credit_code,
            version,
            updated_at: at,
            name: &p.name,
            region_code: &p.region_code,
            industry: &p.industry,
            platform_type: p.platform_type.as_str(),
            level: p.level.code(),
            independent_legal_person: p.independent_legal_person.into(),
            registered_date: p.registered,
            closed_date: p.closed.unwrap_or(NOT_CLOSED),
            warnings_en: p.warnings.iter().map(|w| w.en.as_str()).collect(),
            warnings_zh: p.warnings.iter().map(|w| w.zh.as_str()).collect(),
            source: &p.source,
            updated_by: by,
        })
        .collect();
    insert::<PlatformInsert<'_>>(store, "platforms", &rows).await?;
    Ok(version)
}

/// The current registry, optionally only platforms whose region starts with `prefix` (digits,
/// see [`region::filter_prefix`]), ordered by region then code.
pub async fn platforms(store: &Store, prefix: Option<&str>) -> Result<Vec<Platform>, StoreError> {
    let prefix = prefix.unwrap_or("");
    let sql = format!(
        "SELECT {PLATFORM_COLUMNS} FROM ({CURRENT_PLATFORMS} GROUP BY credit_code)
         WHERE substring(cur_region, 1, ?) = ?
         ORDER BY cur_region, credit_code"
    );
    let query = store
        .client()
        .query(&sql)
        .bind(prefix.len() as u64)
        .bind(prefix);
    let rows: Vec<PlatformRead> = fetch_all(query, "registry platforms").await?;
    Ok(rows.into_iter().map(PlatformRead::into_platform).collect())
}

/// The current version of one platform.
pub async fn platform(store: &Store, credit_code: &str) -> Result<Option<Platform>, StoreError> {
    let sql = format!(
        "SELECT {PLATFORM_COLUMNS} FROM ({CURRENT_PLATFORMS} WHERE credit_code = ? GROUP BY credit_code)"
    );
    let query = store.client().query(&sql).bind(credit_code);
    let rows: Vec<PlatformRead> = fetch_all(query, "registry platform").await?;
    Ok(rows.into_iter().next().map(PlatformRead::into_platform))
}

/// Every stored version of one platform, oldest first: its registry history.
pub async fn platform_history(
    store: &Store,
    credit_code: &str,
) -> Result<Vec<Platform>, StoreError> {
    // FINAL collapses a version written twice; distinct versions are distinct keys.
    let sql = "SELECT credit_code, name, region_code, industry, platform_type, level,
                      independent_legal_person, registered_date, closed_date, warnings_en,
                      warnings_zh, updated_at, updated_by, source
               FROM platforms FINAL WHERE credit_code = ?
               ORDER BY version";
    let query = store.client().query(sql).bind(credit_code);
    let rows: Vec<PlatformRead> = fetch_all(query, "registry platform history").await?;
    Ok(rows.into_iter().map(PlatformRead::into_platform).collect())
}

// === divisions ===

/// Writes division names for their revisions (a later load of the same code and revision
/// replaces the name).
pub async fn upsert_divisions(
    store: &Store,
    divisions: &[Division],
    source: &str,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let rows: Vec<DivisionInsert<'_>> = divisions
        .iter()
        .map(|d| DivisionInsert {
            revision: d.revision,
            code: &d.code,
            name: &d.name,
            name_en: &d.name_en,
            level: match region::level(&d.code) {
                region::RegionLevel::Province | region::RegionLevel::National => 1,
                region::RegionLevel::Prefecture => 2,
                region::RegionLevel::County => 3,
            },
            parent_code: match region::level(&d.code) {
                region::RegionLevel::Prefecture => region::province_of(&d.code),
                region::RegionLevel::County => region::prefecture_of(&d.code),
                _ => String::new(),
            },
            loaded_at: at,
            source,
        })
        .collect();
    insert::<DivisionInsert<'_>>(store, "divisions", &rows).await
}

/// Divisions of one revision, or (`None`) the newest name of every code in any revision;
/// ordered by code.
pub async fn divisions(store: &Store, revision: Option<u32>) -> Result<Vec<Division>, StoreError> {
    let query = match revision {
        Some(r) => store
            .client()
            .query(
                "SELECT revision, code, argMax(name, loaded_at), argMax(name_en, loaded_at)
                 FROM divisions WHERE revision = ?
                 GROUP BY revision, code ORDER BY code",
            )
            .bind(r),
        None => store.client().query(
            "SELECT max(revision), code,
                    argMax(name, toUInt64(revision) * 4294967296 + toUInt32(loaded_at)),
                    argMax(name_en, toUInt64(revision) * 4294967296 + toUInt32(loaded_at))
             FROM divisions GROUP BY code ORDER BY code",
        ),
    };
    let rows: Vec<DivisionRead> = fetch_all(query, "divisions").await?;
    Ok(rows
        .into_iter()
        .map(|r| Division {
            revision: r.revision,
            code: r.code,
            name: r.name,
            name_en: r.name_en,
        })
        .collect())
}

/// Code → newest Chinese name, for printing codes next to names.
pub async fn division_names(store: &Store) -> Result<HashMap<String, String>, StoreError> {
    Ok(divisions(store, None)
        .await?
        .into_iter()
        .map(|d| (d.code, d.name))
        .collect())
}

/// Loads the shipped provinces when their revision has none yet. Returns how many rows it
/// wrote (0 when already there). Hubs racing here write the same rows twice, which collapse.
pub async fn seed_divisions(store: &Store) -> Result<usize, StoreError> {
    let query = store
        .client()
        .query("SELECT count() FROM divisions WHERE revision = ? AND level = 'province'")
        .bind(SHIPPED_REVISION);
    let present: Vec<u64> = fetch_all(query, "count shipped divisions").await?;
    if present.first().copied().unwrap_or(0) > 0 {
        return Ok(0);
    }
    let rows: Vec<Division> = region::provinces()
        .iter()
        .map(|p| Division {
            revision: SHIPPED_REVISION,
            code: p.code.clone(),
            name: p.name.clone(),
            name_en: p.name_en.clone(),
        })
        .collect();
    upsert_divisions(
        store,
        &rows,
        "hub/data/divisions.csv",
        OffsetDateTime::now_utc(),
    )
    .await?;
    tracing::info!(
        revision = SHIPPED_REVISION,
        rows = rows.len(),
        "loaded the shipped division table"
    );
    Ok(rows.len())
}

// === SME counts ===

/// Writes SME counts; a later import of the same (region, year) replaces the figure.
pub async fn upsert_sme_counts(
    store: &Store,
    counts: &[SmeCount],
    source: &str,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let version = version_of(at);
    let rows: Vec<SmeCountInsert<'_>> = counts
        .iter()
        .map(|c| SmeCountInsert {
            region_code: &c.region_code,
            year: c.year,
            sme_count: c.count,
            version,
            imported_at: at,
            source,
        })
        .collect();
    insert::<SmeCountInsert<'_>>(store, "sme_counts", &rows).await
}

/// SME counts of regions starting with `prefix` (digits; empty for all), optionally one year.
pub async fn sme_counts(
    store: &Store,
    prefix: &str,
    year: Option<u16>,
) -> Result<Vec<SmeCount>, StoreError> {
    let query = store
        .client()
        .query(
            "SELECT region_code, year, argMax(sme_count, version) FROM sme_counts
             WHERE substring(region_code, 1, ?) = ? AND (? = 0 OR year = ?)
             GROUP BY region_code, year ORDER BY region_code, year",
        )
        .bind(prefix.len() as u64)
        .bind(prefix)
        .bind(year.unwrap_or(0))
        .bind(year.unwrap_or(0));
    let rows: Vec<SmeCountRead> = fetch_all(query, "sme counts").await?;
    Ok(rows
        .into_iter()
        .map(|r| SmeCount {
            region_code: r.region_code,
            year: r.year,
            count: r.sme_count,
        })
        .collect())
}

// === log ===

/// Appends to `registry_imports`.
pub async fn log_import(store: &Store, entry: &ImportLog) -> Result<(), StoreError> {
    insert::<ImportLog>(store, "registry_imports", std::slice::from_ref(entry)).await
}

// === helpers ===

/// A version number from a time: nanoseconds since 1970.
fn version_of(at: OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp_nanos()).unwrap_or(0)
}

pub(crate) async fn fetch_all<T: RowOwned + RowRead>(
    query: clickhouse::query::Query,
    action: &str,
) -> Result<Vec<T>, StoreError> {
    crate::store::statements::query::<T>(&query);
    match tokio::time::timeout(TIMEOUT, query.fetch_all::<T>()).await {
        Ok(result) => result.map_err(|e| StoreError::from_client(action, e)),
        Err(_) => Err(StoreError::from_client(
            action,
            clickhouse::error::Error::TimedOut,
        )),
    }
}

pub(crate) async fn insert<T>(
    store: &Store,
    table: &str,
    rows: &[T::Value<'_>],
) -> Result<(), StoreError>
where
    T: Row + RowWrite,
{
    if rows.is_empty() {
        return Ok(());
    }
    let action = || format!("insert {} rows into {table}", rows.len());
    crate::store::statements::insert::<T>(table);
    let mut insert = store
        .client()
        .insert::<T>(table)
        .await
        .map_err(|e| StoreError::from_client(action(), e))?
        .with_timeouts(Some(TIMEOUT), Some(TIMEOUT));
    for row in rows {
        insert
            .write(row)
            .await
            .map_err(|e| StoreError::from_client(action(), e))?;
    }
    insert
        .end()
        .await
        .map_err(|e| StoreError::from_client(action(), e))
}
