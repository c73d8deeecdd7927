//! Errors of the store, sorted so callers can tell "retry later" from "this is a bug".

use std::path::PathBuf;

/// What [`StoreError::ServerNotFound`] prints: what is wrong and both ways out.
pub const SERVER_NOT_FOUND: &str = "clickhouse-server not found: install it with \"sudo apt-get install clickhouse-server\" (Debian/Ubuntu), or set [clickhouse] url in the hub config to use an existing server";

/// Errors of [`Store`](super::Store), its migrations and the embedded server.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// ClickHouse cannot be reached, timed out, or refused for a transient reason (overload,
    /// memory, too many parts). Nothing was stored; retrying later is right. Callers map this to
    /// gRPC `UNAVAILABLE`.
    #[error("ClickHouse is unavailable ({action}): {source}")]
    Unavailable {
        /// What the store was doing, e.g. "insert into reports".
        action: String,
        /// The client's error.
        #[source]
        source: clickhouse::error::Error,
    },
    /// ClickHouse answered with an error that retrying will not fix (bad SQL, schema mismatch).
    #[error("ClickHouse query failed ({action}): {source}")]
    Query {
        /// What the store was doing, e.g. "find_receipt".
        action: String,
        /// The client's error.
        #[source]
        source: clickhouse::error::Error,
    },
    /// No ClickHouse server binary on this machine.
    #[error("{SERVER_NOT_FOUND}")]
    ServerNotFound {
        /// Where the binary was looked for.
        searched: Vec<PathBuf>,
    },
    /// The embedded ClickHouse server failed to start or stop; the message carries the tail of
    /// its error log.
    #[error("embedded ClickHouse: {0}")]
    Embedded(String),
    /// A schema migration failed. Migrations are idempotent: fix the cause and restart the hub.
    #[error("ClickHouse schema migration {version} ({name}) failed: {source}")]
    Migration {
        /// Version of the failed migration (0: creating the database or the migrations table).
        version: u32,
        /// Its name.
        name: &'static str,
        /// Why.
        #[source]
        source: Box<StoreError>,
    },
    /// A requested feature the store does not have yet, e.g. `ON CLUSTER` migrations.
    #[error("{0}")]
    Unsupported(String),
    /// A configuration value the store cannot use.
    #[error("invalid ClickHouse setting {setting}: {reason}")]
    Config {
        /// The setting, as named in the hub config (e.g. "clickhouse.database").
        setting: &'static str,
        /// What is wrong and what to write instead.
        reason: String,
    },
    /// A report that cannot be turned into rows. The validator rejects such reports before they
    /// reach the store, so this points at a bug upstream; nothing of the batch was written.
    #[error("report {report_id}: field {field} cannot be stored: {reason}")]
    InvalidReport {
        /// The report's id as sent.
        report_id: String,
        /// Path of the field, e.g. `service_records[3].date`.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A file of the embedded server could not be written or read.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was attempted, e.g. "write".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

// === impl StoreError ===

impl StoreError {
    /// True when the operation may succeed if retried later (gRPC `UNAVAILABLE`).
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable { .. } => true,
            Self::Migration { source, .. } => source.is_unavailable(),
            _ => false,
        }
    }

    /// The ClickHouse exception code (`Code: 57` …) of a server-side error, if any.
    pub fn server_code(&self) -> Option<u32> {
        match self {
            Self::Unavailable { source, .. } | Self::Query { source, .. } => server_code(source),
            Self::Migration { source, .. } => source.server_code(),
            _ => None,
        }
    }

    /// Sorts a client error into [`StoreError::Unavailable`] or [`StoreError::Query`].
    pub(crate) fn from_client(action: impl Into<String>, source: clickhouse::error::Error) -> Self {
        let action = action.into();
        if is_transient(&source) {
            Self::Unavailable { action, source }
        } else {
            Self::Query { action, source }
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// ClickHouse exception codes that mean "not now" rather than "never".
const TRANSIENT_CODES: &[u32] = &[
    159, // TIMEOUT_EXCEEDED
    202, // TOO_MANY_SIMULTANEOUS_QUERIES
    203, // NO_FREE_CONNECTION
    209, // SOCKET_TIMEOUT
    210, // NETWORK_ERROR
    241, // MEMORY_LIMIT_EXCEEDED
    242, // TABLE_IS_READ_ONLY
    252, // TOO_MANY_PARTS
    285, // TOO_FEW_LIVE_REPLICAS
    319, // UNKNOWN_STATUS_OF_INSERT
    425, // SYSTEM_ERROR
    999, // KEEPER_EXCEPTION
];

fn is_transient(e: &clickhouse::error::Error) -> bool {
    use clickhouse::error::Error;
    match e {
        Error::Network(_) | Error::TimedOut => true,
        Error::BadResponse(text) => {
            // A proxy in front of ClickHouse answers with a bare status line.
            ["502 ", "503 ", "504 "].iter().any(|s| text.starts_with(s))
                || server_code(e).is_some_and(|c| TRANSIENT_CODES.contains(&c))
        }
        _ => false,
    }
}

/// Parses `Code: 57` out of an error response (both the 18.16 and the current wording).
fn server_code(e: &clickhouse::error::Error) -> Option<u32> {
    let clickhouse::error::Error::BadResponse(text) = e else {
        return None;
    };
    let rest = &text[text.find("Code: ")? + "Code: ".len()..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clickhouse::error::Error;

    #[test]
    fn sorts_client_errors() {
        let refused = Error::Network("connection refused".into());
        assert!(StoreError::from_client("ping", refused).is_unavailable());

        let parts = Error::BadResponse(
            "Code: 252, e.displayText() = DB::Exception: Too many parts (300)".into(),
        );
        let e = StoreError::from_client("insert", parts);
        assert!(e.is_unavailable());
        assert_eq!(e.server_code(), Some(252));

        let syntax = Error::BadResponse("Code: 62. DB::Exception: Syntax error".into());
        let e = StoreError::from_client("select", syntax);
        assert!(!e.is_unavailable());
        assert_eq!(e.server_code(), Some(62));

        let proxy = Error::BadResponse("503 Service Unavailable".into());
        assert!(StoreError::from_client("select", proxy).is_unavailable());
    }

    #[test]
    fn migration_failures_keep_their_cause() {
        let e = StoreError::Migration {
            version: 1,
            name: "reports",
            source: Box::new(StoreError::from_client(
                "create",
                Error::Network("refused".into()),
            )),
        };
        assert!(e.is_unavailable());
    }

    #[test]
    fn not_found_message_is_exact() {
        let e = StoreError::ServerNotFound { searched: vec![] };
        assert_eq!(
            e.to_string(),
            "clickhouse-server not found: install it with \"sudo apt-get install clickhouse-server\" (Debian/Ubuntu), or set [clickhouse] url in the hub config to use an existing server"
        );
    }
}
