//! The one DDL executor: runs the migrations of [`super::migrations`] on a single server, and
//! the statements and version records that [`super::cluster`] plans for a cluster.

use clickhouse::{Client, Row};
use serde::Serialize;
use time::OffsetDateTime;

use super::migrations::{latest_version, Migration, MIGRATIONS, SCHEMA_MIGRATIONS};
use super::StoreError;

#[derive(Row, Serialize)]
struct MigrationRow<'a> {
    version: u32,
    name: &'a str,
    #[serde(with = "clickhouse::serde::time::datetime")]
    applied_at: OffsetDateTime,
}

/// Creates `database` if missing and applies every migration it lacks, returning the versions
/// applied by this call (empty when the schema was current).
///
/// `client` must not have a default database set (the database may not exist yet).
pub async fn migrate_single(client: &Client, database: &str) -> Result<Vec<u32>, StoreError> {
    let db = quote_database(database)?;
    let setup = |source| StoreError::Migration {
        version: 0,
        name: "database and schema_migrations",
        source: Box::new(source),
    };
    // `system` always exists, so the client may name a default database for this statement.
    super::statements::ddl("CREATE DATABASE IF NOT EXISTS {db}");
    super::statements::ddl(SCHEMA_MIGRATIONS);
    execute_ddl(
        &client.clone().with_database("system"),
        &format!("CREATE DATABASE IF NOT EXISTS {db}"),
    )
    .await
    .map_err(setup)?;
    let client = client.clone().with_database(database);
    execute_ddl(&client, &schema_migrations_ddl(&db))
        .await
        .map_err(setup)?;

    let applied = applied_versions(&client).await.map_err(setup)?;
    if let Some(newest) = applied.iter().max().filter(|&&v| v > latest_version()) {
        tracing::warn!(
            database,
            schema_version = newest,
            known = latest_version(),
            "the ClickHouse schema is newer than this hub; a newer hub has run against it"
        );
    }
    let mut newly = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let failed = |source| StoreError::Migration {
            version: m.version,
            name: m.name,
            source: Box::new(source),
        };
        for statement in m.statements {
            super::statements::ddl(statement);
            execute_ddl(&client, &statement.replace("{db}", &db))
                .await
                .map_err(failed)?;
        }
        record_version(&client, m).await.map_err(failed)?;
        tracing::info!(
            database,
            version = m.version,
            name = m.name,
            "applied ClickHouse migration"
        );
        newly.push(m.version);
    }
    Ok(newly)
}

/// Records `m` in `schema_migrations` unless another hub finished the same migration meanwhile.
pub(crate) async fn record_version(client: &Client, m: &Migration) -> Result<(), StoreError> {
    if applied_versions(client).await?.contains(&m.version) {
        return Ok(());
    }
    let record = |e| StoreError::from_client("record migration", e);
    super::statements::insert::<MigrationRow>("schema_migrations");
    let mut insert = client
        .insert::<MigrationRow>("schema_migrations")
        .await
        .map_err(record)?;
    let row = MigrationRow {
        version: m.version,
        name: m.name,
        applied_at: OffsetDateTime::now_utc(),
    };
    insert.write(&row).await.map_err(record)?;
    insert.end().await.map_err(record)
}

/// The `schema_migrations` DDL for the quoted database name.
pub(crate) fn schema_migrations_ddl(db: &str) -> String {
    SCHEMA_MIGRATIONS.replace("{db}", db)
}

pub(crate) async fn applied_versions(client: &Client) -> Result<Vec<u32>, StoreError> {
    let query = client.query("SELECT DISTINCT version FROM schema_migrations");
    super::statements::query::<u32>(&query);
    query
        .fetch_all::<u32>()
        .await
        .map_err(|e| StoreError::from_client("read schema_migrations", e))
}

/// Runs one idempotent DDL statement. A concurrent creator winning the race between the
/// `IF NOT EXISTS` check and the create ("already exists", codes 57 and 82) is success, and so
/// is an `ADD COLUMN` of a column that is already there (code 44 `ILLEGAL_COLUMN` on 18.16 and
/// current releases, 15 `DUPLICATE_COLUMN` on some): a restart after a half-applied migration
/// or a second hub applying it at the same time.
pub(crate) async fn execute_ddl(client: &Client, sql: &str) -> Result<(), StoreError> {
    if sql.contains(EACH_PERIOD) {
        return execute_each_period(client, sql).await;
    }
    const ALREADY_EXISTS: &[u32] = &[57, 82];
    const COLUMN_EXISTS: &[u32] = &[15, 44];
    match client.query_raw(sql).execute().await {
        Ok(()) => Ok(()),
        Err(e) => {
            let e = StoreError::from_client(first_line(sql), e);
            match e.server_code() {
                Some(code) if ALREADY_EXISTS.contains(&code) => Ok(()),
                Some(code) if COLUMN_EXISTS.contains(&code) && adds_column(sql) => Ok(()),
                _ => Err(e),
            }
        }
    }
}

/// In a data migration (`INSERT INTO {db}.t … SELECT`), stands for one stored period:
/// `period_kind = '…' AND period_start = toDate('…')`. The executor runs the statement once
/// per (kind, start) found in `{db}.reports`, so a backfill over a national data set needs the
/// memory of one period, not of all of them.
pub(crate) const EACH_PERIOD: &str = "{each_period}";

#[derive(clickhouse::Row, serde::Deserialize)]
struct StoredPeriod {
    kind: String,
    start: String,
}

async fn execute_each_period(client: &Client, sql: &str) -> Result<(), StoreError> {
    // `INSERT INTO `db`.table …`: the periods are those of `db`.reports.
    let target = sql.split_whitespace().nth(2).unwrap_or_default();
    let db = target.rsplit_once('.').map_or("", |(db, _)| db);
    let list = format!(
        "SELECT DISTINCT toString(period_kind) AS kind, toString(period_start) AS start
         FROM {db}.reports ORDER BY start, kind"
    );
    let periods: Vec<StoredPeriod> = client
        .query(&list)
        .fetch_all()
        .await
        .map_err(|e| StoreError::from_client(format!("periods to backfill in {db}"), e))?;
    for (i, p) in periods.iter().enumerate() {
        // Both come from the server's own Enum8 and Date: nothing else can be in them.
        let safe = |v: &str| v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !safe(&p.kind) || !safe(&p.start) {
            return Err(StoreError::Embedded(format!(
                "unexpected stored period {:?} {:?} in {db}.reports",
                p.kind, p.start
            )));
        }
        let one = sql.replace(
            EACH_PERIOD,
            &format!(
                "period_kind = '{}' AND period_start = toDate('{}')",
                p.kind, p.start
            ),
        );
        client
            .query_raw(&one)
            .execute()
            .await
            .map_err(|e| StoreError::from_client(first_line(sql), e))?;
        tracing::info!(
            period_kind = p.kind,
            period_start = p.start,
            done = i + 1,
            of = periods.len(),
            "backfilled one period"
        );
    }
    Ok(())
}

/// Whether `sql` is an `ALTER TABLE … ADD COLUMN`.
fn adds_column(sql: &str) -> bool {
    let sql = sql.trim_start();
    sql.starts_with("ALTER TABLE ") && sql.contains(" ADD COLUMN ")
}

fn first_line(sql: &str) -> String {
    sql.lines()
        .next()
        .unwrap_or_default()
        .trim_end_matches(" (")
        .to_owned()
}

/// The database name as a quoted identifier. Only `[A-Za-z_][A-Za-z0-9_]*` is accepted, so the
/// name is safe anywhere in SQL and the same on every server.
pub(crate) fn quote_database(name: &str) -> Result<String, StoreError> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64;
    if valid {
        Ok(format!("`{name}`"))
    } else {
        Err(StoreError::Config {
            setting: "clickhouse.database",
            reason: format!(
                "{name:?} is not a plain identifier; use letters, digits and _ (not first), at \
                 most 64 characters, e.g. \"sme\""
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_plain_identifiers() {
        assert_eq!(quote_database("sme").unwrap(), "`sme`");
        assert_eq!(quote_database("_t1").unwrap(), "`_t1`");
        for bad in ["", "1x", "a-b", "a`b", "sme; DROP", &"x".repeat(65)] {
            let err = quote_database(bad).unwrap_err();
            assert!(err.to_string().contains("clickhouse.database"), "{err}");
        }
    }
}
