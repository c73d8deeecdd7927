//! A log of the SQL statements the hub sends, so they can be checked on other ClickHouse
//! releases than the one at hand (`scripts/sql_check.py` runs the test suite's log on a current
//! release).
//!
//! Off unless the environment variable [`LOG_VAR`] names a file when the process first sends a
//! statement. Each statement is appended as one JSON line:
//!
//! - `{"kind": "ddl", "sql": …}`: a migration statement as written, `{db}` standing for the
//!   database (single-server schema only; cluster DDL needs a cluster to run);
//! - `{"kind": "query", "sql": …}`: a query with its parameters bound and `?fields` expanded,
//!   exactly as ClickHouse receives it, against the store's database;
//! - `{"kind": "insert", "table": …, "columns": […]}`: the table and columns of a `RowBinary`
//!   insert.
//!
//! Statements that differ only in their literals or in the length of a literal list are
//! written once per process, so the log of a whole test run stays small. Lines are written
//! with one `write` to a file opened for appending, so processes may share a file.

use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

use clickhouse::query::Query;
use clickhouse::Row;
use serde_json::json;

/// The environment variable naming the log file.
pub const LOG_VAR: &str = "SME_HUB_SQL_LOG";

struct Log {
    file: File,
    seen: HashSet<String>,
}

fn log() -> Option<&'static Mutex<Log>> {
    static LOG: OnceLock<Option<Mutex<Log>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let path = std::env::var_os(LOG_VAR)?;
        match File::options().create(true).append(true).open(&path) {
            Ok(file) => Some(Mutex::new(Log {
                file,
                seen: HashSet::new(),
            })),
            Err(e) => {
                tracing::warn!(
                    path = %std::path::Path::new(&path).display(),
                    error = %e,
                    "cannot open the SQL statement log named by {LOG_VAR}; statements are not logged"
                );
                None
            }
        }
    })
    .as_ref()
}

/// Records a migration statement (`{db}` unreplaced).
pub(crate) fn ddl(template: &str) {
    record(
        template.to_owned(),
        || json!({"kind": "ddl", "sql": template}),
    );
}

/// Records `query`, about to be fetched as rows of `T`.
pub(crate) fn query<T: Row>(query: &Query) {
    let Some(_) = log() else { return };
    let mut sql = query.sql_display().to_string();
    if !T::COLUMN_NAMES.is_empty() {
        let fields: Vec<String> = T::COLUMN_NAMES.iter().map(|c| format!("`{c}`")).collect();
        sql = sql.replace("?fields", &fields.join(","));
    }
    record(shape(&sql), || json!({"kind": "query", "sql": sql}));
}

/// Records an insert of rows of `T` into `table`.
pub(crate) fn insert<T: Row>(table: &str) {
    record(
        format!("insert {table} {:?}", T::COLUMN_NAMES),
        || json!({"kind": "insert", "table": table, "columns": T::COLUMN_NAMES}),
    );
}

fn record(key: String, line: impl FnOnce() -> serde_json::Value) {
    let Some(log) = log() else { return };
    let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
    if !log.seen.insert(key) {
        return;
    }
    let mut text = line().to_string();
    text.push('\n');
    if let Err(e) = log.file.write_all(text.as_bytes()) {
        tracing::warn!(error = %e, "cannot append to the SQL statement log ({LOG_VAR})");
    }
}

/// What a statement looks like without its literals: string literals and numbers dropped,
/// `toUUID` calls unwrapped, and runs of list punctuation folded, so that lists of any length
/// look alike.
fn shape(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut in_run = false;
    while let Some(c) = chars.next() {
        let listy = match c {
            '\'' => {
                // Skip to the closing quote; `\'` escapes one.
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '\'' => break,
                        _ => {}
                    }
                }
                true
            }
            '0'..='9' | ' ' | '\n' | '\t' | ',' | '(' | ')' => true,
            _ => false,
        };
        if listy {
            if !in_run {
                out.push('~');
            }
            in_run = true;
        } else {
            in_run = false;
            out.push(c);
        }
    }
    out.replace("toUUID~", "")
}

#[cfg(test)]
mod tests {
    use super::shape;

    #[test]
    fn lists_of_any_length_look_alike() {
        let two = "SELECT * FROM t WHERE id IN (toUUID('a'), toUUID('b')) AND (p, r) IN (('x', 1), ('y', 22))";
        let three = "SELECT * FROM t WHERE id IN (toUUID('a'), toUUID('b'), toUUID('c')) AND (p, r) IN (('x', 1), ('y', 2), ('z', 3))";
        assert_eq!(shape(two), shape(three));
        assert_ne!(shape(two), shape("SELECT * FROM u WHERE id IN ('a')"));
        assert_eq!(shape("a = 'it\\'s'"), shape("a = 'x'"));
    }
}
