//! Versioned DDL, applied at start-up and recorded in `schema_migrations`.
//!
//! Rules for every statement, so that hubs racing on start-up and restarts after a half-applied
//! migration are harmless:
//! - idempotent: `CREATE … IF NOT EXISTS` (a concurrent creator's "already exists" counts as
//!   success); `ALTER TABLE … ADD COLUMN` (18.16 has no `ADD COLUMN IF NOT EXISTS`) counts a
//!   "column already exists" answer as success (see `ddl::execute_ddl`);
//! - runs on ClickHouse 18.16 (Debian's, what CI installs) and on current releases: no
//!   `LowCardinality`, `DateTime64`, `Map`, `JSON`, column comments or server-side parameters;
//! - `{db}` stands for the escaped database name; nothing else is pasted into SQL.
//!
//! Migrations are never edited once released: add a new version instead.
//!
//! # Schema
//!
//! Accepted reports are spread over three tables that share the key columns `report_id`,
//! `platform_id`, `region_code` (the platform's 6-digit region at acceptance; province and
//! prefecture are `MATERIALIZED` beside it), `period`, `period_kind`, `period_start` (first day
//! of the period in UTC+8) and `revision`:
//!
//! - `reports`: one row per accepted revision, every section but volumes and records, plus the
//!   flags and the exact receipt time so a replayed receipt is identical to the original;
//! - `service_volume`: one row per report and service function;
//! - `service_records`: one row per service record (`record_index` is its position in the report).
//!
//! All three are `ReplacingMergeTree`s ordered by `(platform_id, period, revision, report_id, …)`,
//! so a report written twice (a retried batch, two hubs racing) collapses to one row set when
//! ClickHouse merges. Merges are eventual, so queries never rely on them: the current report of
//! (platform, period) is `argMin(report_id, `[`CURRENT_REPORT_RANK`]`)` over `reports` (highest
//! revision, then the earliest receipt) — the `current_reports` view — and rows of that report
//! are read with `any()` per function/record, or `FINAL`.
//!
//! `reports.receipt_rank` (`MATERIALIZED`, larger for earlier receipts) is the version column of
//! `reports`, so merging keeps the earliest receipt of a report written twice.
//!
//! `audit` is a plain `MergeTree`: every submission, accepted or not, is a fact to keep; so is
//! `certificate_events`, every enrolment and renewal (see `crate::pki::events`).

/// One schema version.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Increasing from 1; recorded in `schema_migrations` once applied.
    pub version: u32,
    /// What it does, for logs and errors.
    pub name: &'static str,
    /// Idempotent statements, run in order; `{db}` is replaced by the escaped database name.
    pub statements: &'static [&'static str],
}

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "reports, service volume and service records",
        statements: &[REPORTS, SERVICE_VOLUME, SERVICE_RECORDS],
    },
    Migration {
        version: 2,
        name: "audit trail",
        statements: &[AUDIT],
    },
    Migration {
        version: 3,
        name: "current_reports view",
        statements: &[CURRENT_REPORTS],
    },
    Migration {
        version: 4,
        name: "registry: platforms, divisions, SME counts, import log",
        statements: &[PLATFORMS, DIVISIONS, SME_COUNTS, REGISTRY_IMPORTS],
    },
    Migration {
        version: 5,
        name: "reopenings of locked periods",
        statements: &[REOPENINGS],
    },
    Migration {
        version: 6,
        name: "reports: due time in force at acceptance, service records left out for size",
        statements: &[REPORTS_DUE_AT, REPORTS_RECORDS_OMITTED],
    },
    Migration {
        version: 7,
        name: "web users, sessions, login attempts and web audit",
        statements: &[USERS, SESSIONS, LOGIN_ATTEMPTS, WEB_AUDIT],
    },
    Migration {
        version: 8,
        name: "report_facts: the current report's figures in one row, for the analytics",
        statements: &[REPORT_FACTS, REPORT_FACTS_BACKFILL],
    },
    Migration {
        version: 9,
        name: "export audit",
        statements: &[EXPORT_AUDIT],
    },
    Migration {
        version: 10,
        name: "certificate events: enrolments and renewals, issued or refused",
        statements: &[CERTIFICATE_EVENTS],
    },
];

pub(crate) const SCHEMA_MIGRATIONS: &str = "CREATE TABLE IF NOT EXISTS {db}.schema_migrations (
    version UInt32,
    name String,
    applied_at DateTime
) ENGINE = MergeTree ORDER BY version";

const REPORTS: &str = "CREATE TABLE IF NOT EXISTS {db}.reports (
    report_id UUID,
    platform_id String,
    region_code String,
    province_code String MATERIALIZED concat(substring(region_code, 1, 2), '0000'),
    prefecture_code String MATERIALIZED concat(substring(region_code, 1, 4), '00'),
    period String,
    period_kind Enum8('month' = 1, 'quarter' = 2, 'year' = 3),
    period_start Date,
    revision UInt32,
    form_version String,
    generated_at DateTime,
    received_at DateTime,
    received_at_nanos UInt32,
    agent_version String,
    has_satisfaction UInt8,
    satisfaction_very_satisfied UInt64,
    satisfaction_satisfied UInt64,
    satisfaction_neutral UInt64,
    satisfaction_dissatisfied UInt64,
    satisfaction_very_dissatisfied UInt64,
    satisfaction_responses UInt64,
    has_staff UInt8,
    total_staff UInt32,
    professional_staff UInt32,
    professional_with_college_degree UInt32,
    professional_with_degree_or_mid_title UInt32,
    senior_title_staff UInt32,
    staff_trained UInt32,
    has_finance UInt8,
    total_revenue_fen Int64,
    service_revenue_fen Int64,
    public_funding_fen Int64,
    total_assets_fen Int64,
    has_disclosures UInt8,
    disclosure_content UInt8,
    disclosure_process UInt8,
    disclosure_standards UInt8,
    disclosure_fees UInt8,
    disclosure_time UInt8,
    has_capacity UInt8,
    floor_area_m2 Float64,
    equipment_count UInt32,
    equipment_value_fen Int64,
    shared_equipment_hours UInt64,
    certifications Array(String),
    partner_universities UInt32,
    partner_research_institutes UInt32,
    partner_associations UInt32,
    partner_service_agencies UInt32,
    has_startups UInt8,
    startups_counselled UInt64,
    registrations_assisted UInt64,
    service_record_count UInt32,
    explanation_rule_ids Array(String),
    explanation_texts Array(String),
    flag_rule_ids Array(String),
    flag_fields Array(String),
    flag_messages_zh Array(String),
    flag_messages_en Array(String),
    receipt_rank UInt32 MATERIALIZED 4294967295 - toUInt32(received_at)
) ENGINE = ReplacingMergeTree(receipt_rank)
PARTITION BY toYear(period_start)
ORDER BY (platform_id, period, revision, report_id)";

const SERVICE_VOLUME: &str = "CREATE TABLE IF NOT EXISTS {db}.service_volume (
    report_id UUID,
    platform_id String,
    region_code String,
    province_code String MATERIALIZED concat(substring(region_code, 1, 2), '0000'),
    prefecture_code String MATERIALIZED concat(substring(region_code, 1, 4), '00'),
    period String,
    period_kind Enum8('month' = 1, 'quarter' = 2, 'year' = 3),
    period_start Date,
    revision UInt32,
    function UInt8,
    services UInt64,
    enterprises_served UInt64,
    free_services UInt64,
    revenue_fen Int64,
    person_times UInt64
) ENGINE = ReplacingMergeTree
PARTITION BY toYear(period_start)
ORDER BY (platform_id, period, revision, report_id, function)";

const SERVICE_RECORDS: &str = "CREATE TABLE IF NOT EXISTS {db}.service_records (
    report_id UUID,
    platform_id String,
    region_code String,
    province_code String MATERIALIZED concat(substring(region_code, 1, 2), '0000'),
    prefecture_code String MATERIALIZED concat(substring(region_code, 1, 4), '00'),
    period String,
    period_kind Enum8('month' = 1, 'quarter' = 2, 'year' = 3),
    period_start Date,
    revision UInt32,
    record_index UInt32,
    record_id String,
    date Date,
    function UInt8,
    enterprise String,
    enterprise_size UInt8,
    industry String,
    enterprise_region String,
    enterprise_province_code String MATERIALIZED concat(substring(enterprise_region, 1, 2), '0000'),
    fee_fen Int64,
    free UInt8,
    satisfaction UInt8,
    person_times UInt64
) ENGINE = ReplacingMergeTree
PARTITION BY toYear(period_start)
ORDER BY (platform_id, period, revision, report_id, record_index)";

const AUDIT: &str = "CREATE TABLE IF NOT EXISTS {db}.audit (
    received_at DateTime,
    platform_id String,
    cert_subject String,
    period String,
    report_id String,
    revision UInt32,
    outcome Enum8('accepted' = 1, 'rejected' = 2, 'duplicate' = 3, 'deferred' = 4,
                  'unauthenticated' = 5, 'permission_denied' = 6),
    status_code Int32,
    rule_ids Array(String),
    peer String,
    hub_instance String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (platform_id, period, received_at)";

/// The current revision of every (platform, period); see [`CURRENT_REPORT_RANK`].
const CURRENT_REPORTS: &str = "CREATE VIEW IF NOT EXISTS {db}.current_reports AS
SELECT platform_id, period, argMin(report_id, rank) AS report_id, max(revision) AS revision
FROM (
    SELECT platform_id, period, report_id, revision,
           (-toInt64(revision), received_at, received_at_nanos, report_id) AS rank
    FROM {db}.reports
)
GROUP BY platform_id, period";

/// The platform registry: every imported version of a platform (`version` = nanoseconds of the
/// import), so the history stays; a version written twice collapses. Current row: `argMax(…,
/// version)` per `credit_code` (see `registry`). `closed_date` 1970-01-01 means not closed.
const PLATFORMS: &str = "CREATE TABLE IF NOT EXISTS {db}.platforms (
    credit_code String,
    version UInt64,
    updated_at DateTime,
    name String,
    region_code String,
    province_code String MATERIALIZED concat(substring(region_code, 1, 2), '0000'),
    prefecture_code String MATERIALIZED concat(substring(region_code, 1, 4), '00'),
    industry String,
    platform_type String,
    level Enum8('none' = 1, 'provincial_demo' = 2, 'national_demo' = 3),
    independent_legal_person UInt8,
    registered_date Date,
    closed_date Date,
    warnings_en Array(String),
    warnings_zh Array(String),
    source String,
    updated_by String
) ENGINE = ReplacingMergeTree
ORDER BY (credit_code, version)";

/// Province and prefecture codes (GB/T 2260) per revision of the code list.
const DIVISIONS: &str = "CREATE TABLE IF NOT EXISTS {db}.divisions (
    revision UInt32,
    code String,
    name String,
    name_en String,
    level Enum8('province' = 1, 'prefecture' = 2, 'county' = 3),
    parent_code String,
    loaded_at DateTime,
    source String
) ENGINE = ReplacingMergeTree(loaded_at)
ORDER BY (revision, code)";

/// SMEs per region and census year; the latest import (`version`) wins.
const SME_COUNTS: &str = "CREATE TABLE IF NOT EXISTS {db}.sme_counts (
    region_code String,
    year UInt16,
    sme_count UInt64,
    version UInt64,
    imported_at DateTime,
    source String
) ENGINE = ReplacingMergeTree(version)
ORDER BY (region_code, year)";

/// Who imported which registry file when.
const REGISTRY_IMPORTS: &str = "CREATE TABLE IF NOT EXISTS {db}.registry_imports (
    import_id UUID,
    imported_at DateTime,
    kind String,
    file_name String,
    sha256 String,
    row_count UInt32,
    changed UInt32,
    warnings UInt32,
    imported_by String
) ENGINE = MergeTree
ORDER BY (imported_at, import_id)";

/// Reopenings of locked periods (audit of who, when, why, until); see `periods.rs`. A region
/// reopening covers platforms whose region starts with `region_prefix` (empty: all).
const REOPENINGS: &str = "CREATE TABLE IF NOT EXISTS {db}.reopenings (
    reopening_id UUID,
    reopened_at DateTime,
    period String,
    target Enum8('platform' = 1, 'region' = 2),
    platform_id String,
    region_code String,
    region_prefix String,
    until DateTime,
    by_name String,
    by_region String,
    reason String
) ENGINE = ReplacingMergeTree
ORDER BY (period, reopening_id)";

/// The due time of the report's period in force when the hub accepted it (UTC). Completeness
/// and timeliness judge a report by it, so editing the calendar later does not rewrite
/// history. Rows stored before this column existed hold 1970-01-01 00:00:00 and are judged by
/// the configured calendar (see `analytics::completeness`).
const REPORTS_DUE_AT: &str =
    "ALTER TABLE {db}.reports ADD COLUMN due_at DateTime DEFAULT toDateTime(0) AFTER received_at_nanos";

/// 1 when the agent left the service records out to keep the report under the size limit
/// (`Report.service_records_omitted`): record-based figures count such reports as "no record
/// detail" and say so.
const REPORTS_RECORDS_OMITTED: &str = "ALTER TABLE {db}.reports ADD COLUMN service_records_omitted UInt8 DEFAULT 0 AFTER service_record_count";

/// Web users (planners, coordinators, admins); see `users/`. Every change is a new row, the
/// highest `version` (nanoseconds) is the user's state, chosen with `argMax` at query time.
const USERS: &str = "CREATE TABLE IF NOT EXISTS {db}.users (
    name String,
    version UInt64,
    role Enum8('planner' = 1, 'coordinator' = 2, 'admin' = 3),
    region_code String,
    password_hash String,
    disabled UInt8,
    updated_at DateTime,
    updated_by String
) ENGINE = ReplacingMergeTree(version)
ORDER BY name";

/// Web sessions: only the SHA-256 of the cookie's token is stored. A touch (idle expiry) or a
/// logout is a new row with a higher `version`.
const SESSIONS: &str = "CREATE TABLE IF NOT EXISTS {db}.sessions (
    token_sha256 String,
    version UInt64,
    user_name String,
    created_at DateTime,
    last_seen_at DateTime,
    expires_at DateTime,
    revoked UInt8,
    address String
) ENGINE = ReplacingMergeTree(version)
ORDER BY token_sha256";

/// Every login attempt, for throttling per account and per address across hub processes.
const LOGIN_ATTEMPTS: &str = "CREATE TABLE IF NOT EXISTS {db}.login_attempts (
    at DateTime,
    user_name String,
    address String,
    success UInt8
) ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (at, user_name)";

/// The web audit: logins, refusals (401, 403, 429) and every state-changing action.
const WEB_AUDIT: &str = "CREATE TABLE IF NOT EXISTS {db}.web_audit (
    at DateTime,
    at_nanos UInt32,
    user_name String,
    role String,
    scope String,
    address String,
    method String,
    path String,
    action String,
    status UInt16,
    detail String,
    hub_instance String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (at, at_nanos)";

/// Every export and every refused export request (see `crate::export::audit`).
const EXPORT_AUDIT: &str = "CREATE TABLE IF NOT EXISTS {db}.export_audit (
    at DateTime,
    at_nanos UInt32,
    user_name String,
    role String,
    scope String,
    channel String,
    address String,
    statistics String,
    format String,
    request String,
    outcome String,
    rows UInt64,
    bytes UInt64,
    sha256 String,
    detail String,
    hub_instance String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (at, at_nanos)";

/// Every enrolment and renewal, issued or refused (see `crate::pki::events`).
const CERTIFICATE_EVENTS: &str = "CREATE TABLE IF NOT EXISTS {db}.certificate_events (
    at DateTime,
    at_nanos UInt32,
    event String,
    outcome String,
    platform_id String,
    serial String,
    previous_serial String,
    not_after DateTime,
    status_code Int32,
    reason String,
    peer String,
    hub_instance String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (platform_id, at, at_nanos)";

/// See [`super::facts`]: one row per accepted report, `FINAL` keeps the current one.
const REPORT_FACTS: &str = "CREATE TABLE IF NOT EXISTS {db}.report_facts (
    period_kind Enum8('month' = 1, 'quarter' = 2, 'year' = 3),
    period_start Date,
    platform_id String,
    period String,
    current_rank UInt64,
    report_id UUID,
    revision UInt32,
    region_code String,
    received_at DateTime,
    vol_present Array(UInt8),
    vol_services Array(UInt64),
    vol_free Array(UInt64),
    vol_revenue_fen Array(Int64),
    vol_person_times Array(UInt64),
    vol_enterprises Array(UInt64),
    has_satisfaction UInt8,
    sat_very_satisfied UInt64,
    sat_satisfied UInt64,
    sat_neutral UInt64,
    sat_dissatisfied UInt64,
    sat_very_dissatisfied UInt64,
    service_record_count UInt32,
    service_records_omitted UInt8,
    rec_function Array(UInt8),
    rec_industry Array(String),
    rec_size Array(UInt8),
    rec_services Array(UInt64),
    rec_free Array(UInt64),
    rec_fee_fen Array(Int64),
    rec_person_times Array(UInt64)
) ENGINE = ReplacingMergeTree(current_rank)
PARTITION BY toYear(period_start)
ORDER BY (period_kind, period_start, platform_id)";

/// The facts of every report stored before `report_facts` existed, from the three report
/// tables (child rows deduplicated as the views did), one stored period at a time
/// (`{each_period}`, see `ddl::EACH_PERIOD`). Idempotent in effect: a second run writes rows
/// identical to the first, which `FINAL` collapses. The rank is
/// [`super::facts::CURRENT_RANK_SQL`].
const REPORT_FACTS_BACKFILL: &str = "INSERT INTO {db}.report_facts (period_kind, period_start,
    platform_id, period, current_rank, report_id, revision, region_code, received_at,
    vol_present, vol_services, vol_free, vol_revenue_fen, vol_person_times, vol_enterprises,
    has_satisfaction, sat_very_satisfied, sat_satisfied, sat_neutral, sat_dissatisfied,
    sat_very_dissatisfied, service_record_count, service_records_omitted, rec_function,
    rec_industry, rec_size, rec_services, rec_free, rec_fee_fen, rec_person_times)
SELECT p_kind, p_start, platform_id, period,
       bitOr(bitShiftLeft(toUInt64(revision), 42),
             4398046511103 - (toUInt64(r_at) * 1000 + intDiv(r_nanos, 1000000))),
       report_id, revision, region_code, r_at,
       arrayResize(v_p, 7), arrayResize(v_s, 7), arrayResize(v_f, 7), arrayResize(v_r, 7),
       arrayResize(v_t, 7), arrayResize(v_e, 7),
       has_satisfaction, satisfaction_very_satisfied, satisfaction_satisfied,
       satisfaction_neutral, satisfaction_dissatisfied, satisfaction_very_dissatisfied,
       service_record_count, service_records_omitted,
       c_fn, c_ind, c_size, c_n, c_free, c_fee, c_pt
FROM (
    SELECT report_id, p_kind, p_start, platform_id, period, revision, region_code,
           r_at, r_nanos, has_satisfaction, satisfaction_very_satisfied, satisfaction_satisfied,
           satisfaction_neutral, satisfaction_dissatisfied, satisfaction_very_dissatisfied,
           service_record_count, service_records_omitted, v_p, v_s, v_f, v_r, v_t, v_e
    FROM (
        SELECT report_id, any(period_kind) AS p_kind, any(period_start) AS p_start,
               any(platform_id) AS platform_id, any(period) AS period,
               any(revision) AS revision, any(region_code) AS region_code,
               min(received_at) AS r_at, argMin(received_at_nanos, received_at) AS r_nanos,
               any(has_satisfaction) AS has_satisfaction,
               any(satisfaction_very_satisfied) AS satisfaction_very_satisfied,
               any(satisfaction_satisfied) AS satisfaction_satisfied,
               any(satisfaction_neutral) AS satisfaction_neutral,
               any(satisfaction_dissatisfied) AS satisfaction_dissatisfied,
               any(satisfaction_very_dissatisfied) AS satisfaction_very_dissatisfied,
               any(service_record_count) AS service_record_count,
               any(service_records_omitted) AS service_records_omitted
        FROM {db}.reports WHERE {each_period} GROUP BY report_id
    ) AS r
    ANY LEFT JOIN (
        SELECT report_id,
               sumForEach(arrayConcat(arrayResize(emptyArrayUInt8(), fn - 1), [toUInt8(1)],
                   arrayResize(emptyArrayUInt8(), 7 - fn))) AS v_p,
               sumForEach(arrayConcat(arrayResize(emptyArrayUInt64(), fn - 1), [s],
                   arrayResize(emptyArrayUInt64(), 7 - fn))) AS v_s,
               sumForEach(arrayConcat(arrayResize(emptyArrayUInt64(), fn - 1), [f],
                   arrayResize(emptyArrayUInt64(), 7 - fn))) AS v_f,
               sumForEach(arrayConcat(arrayResize(emptyArrayInt64(), fn - 1), [rev],
                   arrayResize(emptyArrayInt64(), 7 - fn))) AS v_r,
               sumForEach(arrayConcat(arrayResize(emptyArrayUInt64(), fn - 1), [pt],
                   arrayResize(emptyArrayUInt64(), 7 - fn))) AS v_t,
               sumForEach(arrayConcat(arrayResize(emptyArrayUInt64(), fn - 1), [ent],
                   arrayResize(emptyArrayUInt64(), 7 - fn))) AS v_e
        FROM (
            SELECT report_id, function AS fn, any(services) AS s, any(free_services) AS f,
                   any(revenue_fen) AS rev, any(person_times) AS pt,
                   any(enterprises_served) AS ent
            FROM {db}.service_volume WHERE {each_period} AND function >= 1 AND function <= 7
            GROUP BY report_id, function
        ) AS vf
        GROUP BY report_id
    ) AS v USING report_id
) AS rv
ANY LEFT JOIN (
    SELECT report_id, groupArray(fn) AS c_fn, groupArray(ind) AS c_ind,
           groupArray(size) AS c_size, groupArray(n) AS c_n, groupArray(nf) AS c_free,
           groupArray(fee) AS c_fee, groupArray(pt) AS c_pt
    FROM (
        SELECT report_id, fn, ind, size, toUInt64(count()) AS n, toUInt64(sum(fr)) AS nf,
               sum(fe) AS fee, sum(p) AS pt
        FROM (
            SELECT report_id, record_index, any(function) AS fn, any(industry) AS ind,
                   any(enterprise_size) AS size, any(free) AS fr, any(fee_fen) AS fe,
                   any(person_times) AS p
            FROM {db}.service_records WHERE {each_period} GROUP BY report_id, record_index
        ) AS rec
        GROUP BY report_id, fn, ind, size
    ) AS rc
    GROUP BY report_id
) AS c USING report_id";

/// Orders the accepted reports of one (platform, period): the current one is the `argMin` —
/// highest revision, then earliest receipt, then smallest id (two different reports of one
/// revision can only come from a race; the first received wins, deterministically).
pub const CURRENT_REPORT_RANK: &str =
    "(-toInt64(revision), received_at, received_at_nanos, report_id)";

/// The newest schema version this hub knows.
pub fn latest_version() -> u32 {
    MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_increase_by_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.name);
        }
        assert_eq!(latest_version() as usize, MIGRATIONS.len());
    }

    #[test]
    fn statements_are_idempotent_and_portable() {
        for m in MIGRATIONS {
            for s in m.statements {
                assert!(
                    s.contains("IF NOT EXISTS")
                        || s.contains(" ADD COLUMN ")
                        // A rerun writes identical rows, which `FINAL` collapses.
                        || s.starts_with("INSERT INTO {db}.report_facts "),
                    "{}: {s}",
                    m.name
                );
                assert!(
                    !s.contains("ADD COLUMN IF NOT EXISTS"),
                    "{}: 18.16 has no ADD COLUMN IF NOT EXISTS; execute_ddl accepts an existing column",
                    m.name
                );
                assert!(s.contains("{db}."), "{}: tables must be qualified", m.name);
                for banned in [
                    "LowCardinality",
                    "DateTime64",
                    "Map(",
                    "JSON",
                    "COMMENT",
                    "{name:",
                ] {
                    assert!(
                        !s.contains(banned),
                        "{}: {banned} does not run on 18.16",
                        m.name
                    );
                }
            }
        }
    }
}
