//! Where accepted reports and the audit trail live: ClickHouse.
//!
//! [`Store`] wraps a `clickhouse::Client` (HTTP, `RowBinary`, validation off so ClickHouse 18.16
//! works) and knows the schema of [`migrations`]. Writes are batched — one `INSERT` per table
//! per batch — and return only once ClickHouse has the rows. Reads never rely on background
//! merges: see [`migrations`] for how duplicates and revisions are resolved at query time.
//!
//! It logs in with three [`accounts`]: the owner for the migrations only, the ingest account for
//! everything the hub writes ([`Store::client`]), the read-only analytics account for the
//! analytics ([`Store::reader`]).
//!
//! [`embedded::EmbeddedClickHouse`] runs a private server when no URL is configured, and in tests.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use clickhouse::{Client, RowOwned, RowRead, RowWrite};
use sme_proto::v1;
use time::OffsetDateTime;
use uuid::Uuid;

pub mod accounts;
pub mod cluster;
mod ddl;
pub mod embedded;
mod error;
pub mod facts;
pub mod migrations;
mod rows;
pub mod statements;

pub use accounts::{Account, Accounts};
pub use cluster::ClusterOptions;
pub use embedded::{ClusterSpec, EmbeddedClickHouse, EmbeddedOptions};
pub use error::{StoreError, SERVER_NOT_FOUND};

/// Creates `database` if missing and applies every migration it lacks, returning the versions
/// applied by this call (empty when the schema was current).
///
/// `client` must not have a default database set (the database may not exist yet).
/// With `cluster`, every statement is rewritten into local tables plus `Distributed` tables
/// and applied on every node (or `ON CLUSTER`): see [`cluster`].
pub async fn migrate(
    client: &Client,
    database: &str,
    cluster: Option<&ClusterOptions>,
) -> Result<Vec<u32>, StoreError> {
    match cluster {
        Some(cluster) => cluster::migrate(client, database, cluster).await,
        None => ddl::migrate_single(client, database).await,
    }
}

/// Where the store connects. Plain data: the hub's TOML config fills it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickHouseConfig {
    /// HTTP URL, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// Database holding the hub's tables; created if missing. Letters, digits and `_`.
    pub database: String,
    /// Who logs in for which job.
    pub accounts: Accounts,
}

impl ClickHouseConfig {
    /// `url` and `database` with one account for every job (a server with a single user).
    pub fn single(url: impl Into<String>, database: impl Into<String>, account: Account) -> Self {
        Self {
            url: url.into(),
            database: database.into(),
            accounts: Accounts::single(account),
        }
    }
}

/// Less common connection settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Shard the tables over a cluster: local tables plus `Distributed` tables under the
    /// names the queries use (see [`cluster`]). `None`: one server.
    pub cluster: Option<ClusterOptions>,
    /// Longest a query or insert may take before it counts as [`StoreError::Unavailable`].
    pub timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            cluster: None,
            timeout: Duration::from_secs(30),
        }
    }
}

/// A report the hub accepted, ready to store.
#[derive(Debug, Clone)]
pub struct AcceptedReport {
    /// The report as received.
    pub report: v1::Report,
    /// The platform, from its certificate.
    pub platform_id: String,
    /// The platform's 6-digit region code at acceptance.
    pub region_code: String,
    /// When the hub received it; kept to the nanosecond so a replayed receipt is identical.
    pub received_at: OffsetDateTime,
    /// The due time of its period in the calendar in force at acceptance; completeness and
    /// timeliness judge it by this, whatever the calendar says later.
    pub due_at: OffsetDateTime,
    /// Soft-rule flags raised on it.
    pub flags: Vec<v1::FieldViolation>,
}

/// What the original receipt of a stored report said.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReceipt {
    /// The report's id.
    pub report_id: Uuid,
    /// Its platform.
    pub platform_id: String,
    /// Its period.
    pub period: String,
    /// Its revision.
    pub revision: u32,
    /// When it was first received.
    pub received_at: OffsetDateTime,
    /// The flags of the original receipt, in order.
    pub flags: Vec<v1::FieldViolation>,
}

/// One submission in the audit trail, whatever happened to it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// When the hub received it.
    pub received_at: OffsetDateTime,
    /// Platform from the certificate; empty when unauthenticated.
    pub platform_id: String,
    /// Subject of the client certificate; empty when there was none.
    pub cert_subject: String,
    /// Period as sent (possibly malformed).
    pub period: String,
    /// Report id as sent (possibly not a UUID).
    pub report_id: String,
    /// Revision as sent.
    pub revision: u32,
    /// What the hub did.
    pub outcome: AuditOutcome,
    /// gRPC status code of the answer (0 when accepted).
    pub status_code: i32,
    /// Rule ids of the violations or flags.
    pub rule_ids: Vec<String>,
    /// Remote address of the caller.
    pub peer: String,
    /// Which hub instance handled it.
    pub hub_instance: String,
}

/// What the hub did with a submission (the audit table's `outcome` enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditOutcome {
    /// Stored.
    Accepted,
    /// Refused by a hard rule (or a lock, or a revision already taken).
    Rejected,
    /// A repeat of a stored report id; the original receipt was returned.
    Duplicate,
    /// Not stored because the store was unavailable; the agent retries.
    Deferred,
    /// No valid client certificate.
    Unauthenticated,
    /// The certificate's platform may not send this report.
    PermissionDenied,
}

impl AuditOutcome {
    /// The value in the `audit.outcome` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Duplicate => "duplicate",
            Self::Deferred => "deferred",
            Self::Unauthenticated => "unauthenticated",
            Self::PermissionDenied => "permission_denied",
        }
    }

    /// The outcome of an `audit.outcome` value ([`AuditOutcome::as_str`]).
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Accepted,
            Self::Rejected,
            Self::Duplicate,
            Self::Deferred,
            Self::Unauthenticated,
            Self::PermissionDenied,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// Most keys of one [`Store::find_batch`].
pub const MAX_LOOKUP_KEYS: usize = 1_000;

/// What [`Store::find_batch`] looks for: a report id, and the revision slot it would take.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LookupKey {
    pub report_id: Uuid,
    pub platform_id: String,
    pub period: String,
    pub revision: u32,
}

/// What [`Store::find_batch`] found.
#[derive(Debug, Clone, Default)]
pub struct BatchFound {
    /// Stored receipts by report id.
    pub receipts: HashMap<Uuid, StoredReceipt>,
    /// The report accepted as (platform, period, revision).
    pub revisions: HashMap<(String, String, u32), Uuid>,
    /// The highest revision accepted of (platform, period).
    pub current: HashMap<(String, String), u32>,
}

/// One service function's current numbers: `(function, services, enterprises_served,
/// free_services, revenue_fen, person_times)`.
pub type VolumeTotal = (u8, u64, u64, u64, i64, u64);

/// The hub's ClickHouse store. Cheap to clone: clones share the HTTP connection pools.
#[derive(Debug, Clone)]
pub struct Store {
    /// As the ingest account.
    client: Client,
    /// As the analytics account.
    reader: Client,
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    database: String,
    timeout: Duration,
}

// === impl Store ===

impl Store {
    /// Connects, creates the database if missing and applies pending migrations.
    pub async fn connect(cfg: &ClickHouseConfig) -> Result<Store, StoreError> {
        Self::connect_with(cfg, &StoreOptions::default()).await
    }

    /// [`Store::connect`] with explicit options.
    pub async fn connect_with(
        cfg: &ClickHouseConfig,
        options: &StoreOptions,
    ) -> Result<Store, StoreError> {
        let base = Client::default().with_url(&cfg.url).with_validation(false);
        // The owner account is used for the migrations only and dropped with this client.
        let owner = cfg.accounts.owner.apply(base.clone());
        let applied = tokio::time::timeout(
            options.timeout * 4,
            migrate(&owner, &cfg.database, options.cluster.as_ref()),
        )
        .await
        .map_err(|_| StoreError::Unavailable {
            action: format!("migrate database {} at {}", cfg.database, cfg.url),
            source: clickhouse::error::Error::TimedOut,
        })??;
        if !applied.is_empty() {
            tracing::info!(database = %cfg.database, ?applied, "ClickHouse schema migrated");
        }
        drop(owner);
        let session = |account: &Account| {
            let mut client = account.apply(base.clone()).with_database(&cfg.database);
            if options.cluster.is_some() {
                // Inserts return once every shard has its rows (a receipt still means stored),
                // and `IN (SELECT … FROM distributed)` subqueries run once on the initiator, so
                // the single-server SQL answers the same (see `cluster`).
                client = client
                    .with_setting("insert_distributed_sync", "1")
                    .with_setting("distributed_product_mode", "global");
            }
            client
        };
        Ok(Store {
            client: session(&cfg.accounts.ingest),
            reader: session(&cfg.accounts.analytics),
            inner: Arc::new(Inner {
                database: cfg.database.clone(),
                timeout: options.timeout,
            }),
        })
    }

    /// The client of the ingest account, with the store's database as default: for what the
    /// hub writes and the reads that go with the writes. It cannot run DDL or mutations.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The client of the read-only analytics account, with the store's database as default:
    /// for the analytics (web API, dashboards, exports). It cannot write.
    pub fn reader(&self) -> &Client {
        &self.reader
    }

    /// The database the store uses.
    pub fn database(&self) -> &str {
        &self.inner.database
    }

    /// Whether ClickHouse answers the hub now, within `timeout` (for `/readyz`): a query on the
    /// store's database through the connection the writer uses.
    pub async fn probe(&self, timeout: std::time::Duration) -> Result<(), StoreError> {
        let query = self.client.query("SELECT toUInt8(1)");
        statements::query::<u8>(&query);
        match tokio::time::timeout(timeout, query.fetch_all::<u8>()).await {
            Ok(result) => result
                .map(|_| ())
                .map_err(|e| StoreError::from_client("probe", e)),
            Err(_) => Err(StoreError::from_client(
                "probe",
                clickhouse::error::Error::TimedOut,
            )),
        }
    }

    /// The original receipt of `report_id`, if it was accepted. Should it have been written
    /// twice, the earliest receipt wins.
    pub async fn find_receipt(&self, report_id: Uuid) -> Result<Option<StoredReceipt>, StoreError> {
        let query = self
            .client
            .query(
                "SELECT ?fields FROM reports WHERE report_id = toUUID(?) \
                 ORDER BY received_at, received_at_nanos LIMIT 1",
            )
            .bind(report_id.to_string());
        let row: Option<rows::ReceiptRow> = self.fetch_optional("find_receipt", query).await?;
        Ok(row.map(rows::ReceiptRow::into_receipt))
    }

    /// The report already accepted as `revision` of (platform, period), if any (the earliest,
    /// should two have raced).
    pub async fn find_revision(
        &self,
        platform_id: &str,
        period: &str,
        revision: u32,
    ) -> Result<Option<Uuid>, StoreError> {
        let query = self
            .client
            .query(
                "SELECT ?fields FROM reports WHERE platform_id = ? AND period = ? AND revision = ? \
                 ORDER BY received_at, received_at_nanos, report_id LIMIT 1",
            )
            .bind(platform_id)
            .bind(period)
            .bind(revision);
        let row: Option<rows::ReportIdRow> = self.fetch_optional("find_revision", query).await?;
        Ok(row.map(|r| r.report_id))
    }

    /// [`Store::find_receipt`] and [`Store::find_revision`] for many reports in one query:
    /// the stored receipts of those `report_id`s, the report already accepted as each
    /// (platform, period, revision), the earliest should two have raced, and the highest
    /// revision accepted of each (platform, period).
    ///
    /// The receipt half scans the `report_id` column (it is not a key prefix; 16 bytes a
    /// row); the revision half uses the primary key. At most [`MAX_LOOKUP_KEYS`] keys, so the
    /// query text stays under ClickHouse's `max_query_size`.
    pub async fn find_batch(&self, keys: &[LookupKey]) -> Result<BatchFound, StoreError> {
        assert!(
            keys.len() <= MAX_LOOKUP_KEYS,
            "at most {MAX_LOOKUP_KEYS} keys"
        );
        let mut found = BatchFound::default();
        if keys.is_empty() {
            return Ok(found);
        }
        // A one-element tuple list would read as the tuple itself: repeat the key instead.
        let keys: Vec<&LookupKey> = if keys.len() == 1 {
            vec![&keys[0], &keys[0]]
        } else {
            keys.iter().collect()
        };
        let list = |item: &str| vec![item; keys.len()].join(", ");
        // One round trip: receipts by id, then reports by revision slot, told apart by `hit`.
        let mut query = self
            .client
            .query(&format!(
                "SELECT ?fields FROM (
                     SELECT 1 AS hit, * FROM reports WHERE report_id IN ({})
                     UNION ALL
                     SELECT 2 AS hit, * FROM reports WHERE platform_id IN ({})
                         AND (platform_id, period) IN ({}))",
                list("toUUID(?)"),
                list("?"),
                list("(?, ?)")
            ))
            // Point lookups over few parts: threads cost more than they save.
            .with_setting("max_threads", "1");
        for k in &keys {
            query = query.bind(k.report_id.to_string());
        }
        for k in &keys {
            query = query.bind(k.platform_id.as_str());
        }
        for k in &keys {
            query = query.bind(k.platform_id.as_str()).bind(k.period.as_str());
        }
        let rows: Vec<rows::LookupRow> = self.fetch_all("find_batch", query).await?;
        let (receipts, revisions): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.hit == 1);
        for row in receipts {
            let receipt = row.into_receipt_row().into_receipt();
            match found.receipts.get(&receipt.report_id) {
                Some(seen) if seen.received_at <= receipt.received_at => {}
                _ => {
                    found.receipts.insert(receipt.report_id, receipt);
                }
            }
        }
        let revisions = revisions.into_iter().map(rows::LookupRow::into_receipt_row);
        let mut earliest: HashMap<(String, String, u32), (OffsetDateTime, Uuid)> = HashMap::new();
        for row in revisions {
            let at = row
                .received_at
                .replace_nanosecond(row.received_at_nanos)
                .unwrap_or(row.received_at);
            let current = found
                .current
                .entry((row.platform_id.clone(), row.period.clone()))
                .or_insert(row.revision);
            *current = (*current).max(row.revision);
            let key = (row.platform_id, row.period, row.revision);
            match earliest.get(&key) {
                Some(seen) if *seen <= (at, row.report_id) => {}
                _ => {
                    earliest.insert(key, (at, row.report_id));
                }
            }
        }
        found.revisions = earliest.into_iter().map(|(k, (_, id))| (k, id)).collect();
        Ok(found)
    }

    /// The highest accepted revision of each of `periods` that `platform_id` has in the store.
    pub async fn held_revisions(
        &self,
        platform_id: &str,
        periods: &[String],
    ) -> Result<HashMap<String, u32>, StoreError> {
        if periods.is_empty() {
            return Ok(HashMap::new());
        }
        #[derive(clickhouse::Row, serde::Deserialize)]
        struct Held {
            period: String,
            revision: u32,
        }
        let query = self
            .client
            .query(
                "SELECT period, max(revision) AS revision FROM reports \
                 WHERE platform_id = ? AND has(?, period) GROUP BY period",
            )
            .bind(platform_id)
            .bind(periods);
        let held: Vec<Held> = self.fetch_all("held_revisions", query).await?;
        Ok(held.into_iter().map(|h| (h.period, h.revision)).collect())
    }

    /// Which of `periods` have at least one accepted report of `platform_id`.
    pub async fn received_periods(
        &self,
        platform_id: &str,
        periods: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        if periods.is_empty() {
            return Ok(HashSet::new());
        }
        let query = self
            .client
            .query("SELECT DISTINCT period FROM reports WHERE platform_id = ? AND has(?, period)")
            .bind(platform_id)
            .bind(periods);
        let found: Vec<String> = self.fetch_all("received_periods", query).await?;
        Ok(found.into_iter().collect())
    }

    /// Stores a batch of accepted reports: one `INSERT` per table, returning once ClickHouse
    /// has every row. Nothing is written if a report cannot be converted. Child tables are
    /// written before `reports`, and `report_facts` after it, so a failure part-way leaves no
    /// report that looks complete;
    /// retrying the whole batch is safe (duplicates collapse, see [`migrations`]).
    pub async fn insert_reports(&self, batch: &[AcceptedReport]) -> Result<(), StoreError> {
        let rows = rows::batch_rows(batch)?;
        self.insert_rows::<rows::VolumeRow>("service_volume", &rows.volumes)
            .await?;
        self.insert_rows::<rows::RecordRow>("service_records", &rows.records)
            .await?;
        self.insert_rows::<rows::ReportRow>("reports", &rows.reports)
            .await?;
        // Last: a report is in the analytics' facts only once all its rows are stored.
        self.insert_rows::<facts::FactsRow>("report_facts", &rows.facts)
            .await
    }

    /// Appends entries to the audit trail in one `INSERT`.
    pub async fn insert_audit(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        let rows = rows::audit_rows(entries)?;
        self.insert_rows::<rows::AuditRow>("audit", &rows).await
    }

    /// The current numbers of (platform, period) per service function: those of the highest
    /// accepted revision (earliest receipt on a tie), counted once however often the report was
    /// written. Does not depend on merges having run.
    pub async fn volume_totals(
        &self,
        platform_id: &str,
        period: &str,
    ) -> Result<Vec<VolumeTotal>, StoreError> {
        let sql = format!(
            "SELECT function, any(services), any(enterprises_served), any(free_services),
                    any(revenue_fen), any(person_times)
             FROM service_volume
             WHERE platform_id = ? AND period = ? AND report_id IN (
                 SELECT argMin(report_id, {rank})
                 FROM reports
                 WHERE platform_id = ? AND period = ?
                 GROUP BY platform_id, period)
             GROUP BY function
             ORDER BY function",
            rank = migrations::CURRENT_REPORT_RANK
        );
        let query = self
            .client
            .query(&sql)
            .bind(platform_id)
            .bind(period)
            .bind(platform_id)
            .bind(period);
        self.fetch_all("volume_totals", query).await
    }

    async fn insert_rows<T>(&self, table: &str, rows: &[T::Value<'_>]) -> Result<(), StoreError>
    where
        T: clickhouse::Row + RowWrite,
    {
        if rows.is_empty() {
            return Ok(());
        }
        let action = || {
            format!(
                "insert {} rows into {}.{table}",
                rows.len(),
                self.inner.database
            )
        };
        let timeout = Some(self.inner.timeout);
        statements::insert::<T>(table);
        let mut insert = self
            .client
            .insert::<T>(table)
            .await
            .map_err(|e| StoreError::from_client(action(), e))?
            .with_timeouts(timeout, timeout);
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

    async fn fetch_all<T: RowOwned + RowRead>(
        &self,
        action: &str,
        query: clickhouse::query::Query,
    ) -> Result<Vec<T>, StoreError> {
        statements::query::<T>(&query);
        match tokio::time::timeout(self.inner.timeout, query.fetch_all::<T>()).await {
            Ok(result) => result.map_err(|e| StoreError::from_client(action, e)),
            Err(_) => Err(StoreError::from_client(
                action,
                clickhouse::error::Error::TimedOut,
            )),
        }
    }

    async fn fetch_optional<T: RowOwned + RowRead>(
        &self,
        action: &str,
        query: clickhouse::query::Query,
    ) -> Result<Option<T>, StoreError> {
        statements::query::<T>(&query);
        match tokio::time::timeout(self.inner.timeout, query.fetch_optional::<T>()).await {
            Ok(result) => result.map_err(|e| StoreError::from_client(action, e)),
            Err(_) => Err(StoreError::from_client(
                action,
                clickhouse::error::Error::TimedOut,
            )),
        }
    }
}
