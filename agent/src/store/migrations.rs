//! Versioned schema of the local store.
//!
//! Migration `i` (0-based) brings the schema to version `i + 1`; the applied version lives in
//! `PRAGMA user_version`. All pending migrations run in ONE immediate transaction together with the
//! version bump, so a crash leaves either the old or the new schema, never half of one
//! (Corrosion `corro-types/src/sqlite.rs::migrate`). Never edit a released migration: append one.
//!
//! Times are INTEGER unix milliseconds (UTC); dates are `YYYY-MM-DD` text in UTC+8.

pub(crate) const MIGRATIONS: &[&str] = &[V1, V2, V3];

const V1: &str = r#"
-- Key/value facts about this agent: identity, pseudonym key id, last error.
CREATE TABLE meta (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- Every file the agent took in. A content hash imported once is never imported again.
CREATE TABLE imports (
    id          INTEGER PRIMARY KEY,
    path        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('service_records', 'profile')),
    imported_at INTEGER NOT NULL,
    rows        INTEGER NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('imported', 'rejected')),
    detail      TEXT
) STRICT;
CREATE UNIQUE INDEX imports_sha256_imported ON imports (sha256) WHERE outcome = 'imported';

-- The ledger of services (服务记录) as imported. `enterprise` is the HMAC pseudonym; the CHECK
-- makes it impossible to store a clear credit code here by mistake.
CREATE TABLE service_records (
    record_id         TEXT NOT NULL PRIMARY KEY,
    date              TEXT NOT NULL CHECK (date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    function          INTEGER NOT NULL CHECK (function BETWEEN 1 AND 7),
    enterprise        TEXT NOT NULL
                      CHECK (length(enterprise) = 32 AND enterprise NOT GLOB '*[^0-9a-f]*'),
    enterprise_size   INTEGER NOT NULL CHECK (enterprise_size BETWEEN 0 AND 3),
    industry          TEXT NOT NULL CHECK (industry GLOB '[A-T]'),
    enterprise_region TEXT NOT NULL CHECK (enterprise_region GLOB '[0-9][0-9][0-9][0-9][0-9][0-9]'),
    fee_fen           INTEGER NOT NULL CHECK (fee_fen >= 0),
    free              INTEGER NOT NULL CHECK (free IN (0, 1)),
    satisfaction      INTEGER CHECK (satisfaction BETWEEN 1 AND 5),
    person_times      INTEGER NOT NULL CHECK (person_times >= 0),
    source_file       TEXT NOT NULL,
    source_line       INTEGER NOT NULL,
    import_id         INTEGER REFERENCES imports (id),
    imported_at       INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    corrections       INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX service_records_date ON service_records (date);

-- Profile sections (机构概况) per period code, as one JSON document of `store::Profile`.
CREATE TABLE profile_snapshots (
    period      TEXT PRIMARY KEY,
    profile     TEXT NOT NULL,
    source_file TEXT,
    updated_at  INTEGER NOT NULL
) STRICT;

-- Explanations (上报说明) per period and rule.
CREATE TABLE explanations (
    period     TEXT NOT NULL,
    rule_id    TEXT NOT NULL,
    text       TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (period, rule_id)
) STRICT;

-- Build state per period. Every change to a period's inputs bumps change_seq; a build records
-- the change_seq it read, so a change that lands while a report is being built keeps it dirty.
CREATE TABLE periods (
    period            TEXT PRIMARY KEY,
    last_revision     INTEGER,
    last_content_hash TEXT,
    change_seq        INTEGER NOT NULL DEFAULT 0,
    built_seq         INTEGER NOT NULL DEFAULT 0,
    dirty             INTEGER GENERATED ALWAYS AS (change_seq > built_seq) VIRTUAL,
    updated_at        INTEGER NOT NULL
) STRICT;

-- Built reports waiting for (or done with) delivery to the hub.
CREATE TABLE outbox (
    report_id       TEXT PRIMARY KEY,
    period          TEXT NOT NULL,
    revision        INTEGER NOT NULL,
    report          BLOB NOT NULL,
    state           TEXT NOT NULL
                    CHECK (state IN ('pending', 'delivered', 'rejected', 'superseded')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    receipt         BLOB,
    violations      TEXT,
    delivered_at    INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (period, revision)
) STRICT;
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
"#;

/// Periods the report builder held back because the local check found hard-rule errors: what
/// `sme-agent status` shows under "blocked", until a build of the period passes.
const V2: &str = r#"
CREATE TABLE blocked_periods (
    period     TEXT PRIMARY KEY,
    revision   INTEGER NOT NULL,
    violations TEXT NOT NULL,
    checked_at INTEGER NOT NULL
) STRICT;
"#;

/// Corrections (更正): records voided by `sme-agent void`, and the earlier contents of records a
/// later import replaced, so that an old file dropped again cannot silently bring either back.
/// `content_sha` is `store::corrections::content_sha` of the record (everything but provenance).
const V3: &str = r#"
CREATE TABLE voided_records (
    record_id   TEXT PRIMARY KEY,
    date        TEXT NOT NULL,
    content_sha TEXT NOT NULL,
    source_file TEXT NOT NULL,
    voided_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE record_history (
    record_id   TEXT NOT NULL,
    content_sha TEXT NOT NULL,
    source_file TEXT NOT NULL,
    replaced_at INTEGER NOT NULL,
    PRIMARY KEY (record_id, content_sha)
) STRICT;
"#;
