//! The platform registry and reference data (平台名录与基础数据), kept in ClickHouse so every hub
//! process sees the same (no state only one process knows):
//!
//! | table | what | versions |
//! |---|---|---|
//! | `platforms` | one row per imported version of a platform: credit code, name, region, industry, type, demo level, legal-person status, registered and closed dates, warnings | `ReplacingMergeTree` ordered by `(credit_code, version)`: every version is kept (history), a retried insert of the same version collapses; the current row is `argMax(…, version)` |
//! | `divisions` | province and prefecture codes per `revision` of GB/T 2260 | `ReplacingMergeTree(loaded_at)` by `(revision, code)`; names read with `argMax` |
//! | `sme_counts` | SMEs per region and year (census figures imported by planners) | `ReplacingMergeTree(version)` by `(region_code, year)`; the last import wins |
//! | `registry_imports` | who imported which file when, its hash and counts | plain log |
//!
//! The 34 provincial-level divisions ship as `hub/data/divisions.csv` (revision
//! [`region::SHIPPED_REVISION`]) and are loaded at start-up when that revision has no provinces;
//! prefectures are imported (`scripts/prefectures.sh` builds the file from a public package).
//!
//! # Activity
//!
//! A platform is active on the days `[registered_date, closed_date)` (UTC+8 calendar days): the
//! closing date is the first day it no longer operates. It is *active in a period* when that
//! interval meets the period: registered on or before the period's last day, and not closed on
//! or before its first day. That is what E004 checks and what makes a report *expected*.
//!
//! # Files
//!
//! See [`import`] for the columns of each kind, the checks and the warnings.

pub mod cache;
mod columns;
pub(crate) mod db;
pub mod import;
pub mod region;
pub mod table;

use std::time::Duration;

use sme_proto::period::Period;
use time::{Date, OffsetDateTime};

pub use cache::{Activity, RegistryCache};
pub use db::{
    division_names, divisions, log_import, platform, platform_history, platforms, seed_divisions,
    sme_counts, upsert_divisions, upsert_platforms, upsert_sme_counts, ImportLog,
};
pub use import::{import_file, ImportError, ImportOptions, ImportReport, Kind};

/// `[registry]` settings the services use.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// Refuse reports of platforms that are not registered or not active in the period (E004).
    /// `false` skips the check (a hub without a registry yet).
    pub enforce: bool,
    /// How long the in-process copy of the registry is trusted for platforms found active;
    /// anything else is always checked against ClickHouse.
    pub cache_ttl: Duration,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        Self {
            enforce: true,
            cache_ttl: Duration::from_secs(60),
        }
    }
}

/// Start-up: loads the shipped divisions if missing, and warns when the registry is enforced
/// but empty (every report would be refused with E004).
pub async fn prepare(
    store: &crate::store::Store,
    settings: &RegistrySettings,
) -> Result<(), crate::store::StoreError> {
    seed_divisions(store).await?;
    if settings.enforce {
        let count = RegistryCache::new(store.clone(), Duration::ZERO)
            .count()
            .await?;
        if count == 0 {
            tracing::warn!(
                "the platform registry is empty and [registry] enforce = true: every report will \
                 be refused with E004 until `sme-hub registry import` loads the platforms \
                 (or set [registry] enforce = false)"
            );
        } else {
            tracing::info!(platforms = count, "platform registry loaded");
        }
    }
    Ok(())
}

/// Platform type (平台类型).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PlatformType {
    /// Not given.
    #[default]
    Unspecified,
    /// 综合服务平台: several of the seven functions for the SMEs of a region.
    Comprehensive,
    /// 专业服务平台: one field or industry (testing, design, IP …).
    Specialized,
}

/// Demonstration-platform level (示范平台级别).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum DemoLevel {
    /// Not a demonstration platform.
    #[default]
    None,
    /// 省级示范平台.
    Provincial,
    /// 国家级示范平台.
    National,
}

/// A note on an imported row that does not stop the import (e.g. a region inconsistent with
/// the credit code). Printed at import and stored with the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowWarning {
    /// In English.
    pub en: String,
    /// In Chinese.
    pub zh: String,
}

/// One platform of the registry (the current version, or one being imported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// Unified social credit code: the platform id.
    pub credit_code: String,
    /// Name (平台名称).
    pub name: String,
    /// 6-digit region code the platform is counted under.
    pub region_code: String,
    /// GB/T 4754-2017 section letter A–T, or empty.
    pub industry: String,
    /// Type.
    pub platform_type: PlatformType,
    /// Demonstration level.
    pub level: DemoLevel,
    /// Whether it is an independent legal person (独立法人, §5 basic condition).
    pub independent_legal_person: bool,
    /// First day of operation (UTC+8).
    pub registered: Date,
    /// First day it no longer operates, if closed.
    pub closed: Option<Date>,
    /// Warnings raised when this version was imported.
    pub warnings: Vec<RowWarning>,
    /// When this version was written (set by the store on insert).
    pub updated_at: OffsetDateTime,
    /// Who wrote it.
    pub updated_by: String,
    /// Which file and line it came from.
    pub source: String,
}

/// A division code of the reference table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Division {
    /// Revision of the code list (e.g. 2023).
    pub revision: u32,
    /// 6-digit code.
    pub code: String,
    /// Chinese name.
    pub name: String,
    /// English name (may be empty).
    pub name_en: String,
}

/// SMEs in a region in a year (census figures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmeCount {
    /// 6-digit region code.
    pub region_code: String,
    /// Census year.
    pub year: u16,
    /// Number of SMEs.
    pub count: u64,
}

// === impl Platform ===

impl Platform {
    /// A platform registered on `registered` in the region of its credit code, with everything
    /// else unset: what tests and tools start from.
    pub fn new(credit_code: &str, name: &str, registered: Date) -> Self {
        Self {
            credit_code: credit_code.to_owned(),
            name: name.to_owned(),
            region_code: sme_proto::credit_code::region_code(credit_code).to_owned(),
            industry: String::new(),
            platform_type: PlatformType::Unspecified,
            level: DemoLevel::None,
            independent_legal_person: true,
            registered,
            closed: None,
            warnings: Vec::new(),
            updated_at: OffsetDateTime::UNIX_EPOCH,
            updated_by: String::new(),
            source: String::new(),
        }
    }

    /// Whether it operates on `day` (UTC+8): `registered <= day < closed`.
    pub fn active_on(&self, day: Date) -> bool {
        active_between(self.registered, self.closed, day, day)
    }

    /// Whether it operates at any time in `period`.
    pub fn active_in(&self, period: &Period) -> bool {
        active_between(
            self.registered,
            self.closed,
            period.first_day(),
            period.last_day(),
        )
    }
}

/// Whether `[registered, closed)` meets the days `first..=last`.
pub fn active_between(registered: Date, closed: Option<Date>, first: Date, last: Date) -> bool {
    registered <= last && closed.is_none_or(|c| c > first)
}

// === impl PlatformType ===

impl PlatformType {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "",
            Self::Comprehensive => "comprehensive",
            Self::Specialized => "specialized",
        }
    }

    /// From the stored value (unknown → unspecified).
    pub fn from_stored(s: &str) -> Self {
        match s {
            "comprehensive" => Self::Comprehensive,
            "specialized" => Self::Specialized,
            _ => Self::Unspecified,
        }
    }

    /// Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Unspecified => "",
            Self::Comprehensive => "综合",
            Self::Specialized => "专业",
        }
    }
}

// === impl DemoLevel ===

impl DemoLevel {
    /// The stored value (`level Enum8`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Provincial => "provincial_demo",
            Self::National => "national_demo",
        }
    }

    /// Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::None => "无",
            Self::Provincial => "省级示范",
            Self::National => "国家级示范",
        }
    }

    pub(crate) fn code(self) -> i8 {
        match self {
            Self::None => 1,
            Self::Provincial => 2,
            Self::National => 3,
        }
    }

    pub(crate) fn from_code(code: i8) -> Self {
        match code {
            2 => Self::Provincial,
            3 => Self::National,
            _ => Self::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn p(s: &str) -> Period {
        s.parse().unwrap()
    }

    #[test]
    fn active_in_a_period_when_the_operating_days_meet_it() {
        let id = sme_proto::credit_code::make_valid("91110108MA01C0DE8");
        let mut platform = Platform::new(&id, "x", date!(2026 - 05 - 31));
        assert_eq!(platform.region_code, "110108");
        // Registered on the last day of May: expected for May, not for April.
        assert!(platform.active_in(&p("2026-M05")));
        assert!(!platform.active_in(&p("2026-M04")));
        assert!(platform.active_in(&p("2026-Q2")));
        // Closed on 15 June (first day not operating): June yes, July no.
        platform.closed = Some(date!(2026 - 06 - 15));
        assert!(platform.active_in(&p("2026-M06")));
        assert!(!platform.active_in(&p("2026-M07")));
        assert!(platform.active_on(date!(2026 - 06 - 14)));
        assert!(!platform.active_on(date!(2026 - 06 - 15)));
        // Closed on the first day of a period: not active in it.
        platform.closed = Some(date!(2026 - 07 - 01));
        assert!(!platform.active_in(&p("2026-M07")));
        assert!(!platform.active_in(&p("2026-Q3")));
        assert!(platform.active_in(&p("2026-A")));
        // Leap day.
        let leap = Platform::new(&id, "x", date!(2028 - 02 - 29));
        assert!(leap.active_in(&p("2028-M02")));
        assert!(!leap.active_in(&p("2028-M01")));
    }

    #[test]
    fn stored_values_round_trip() {
        for t in [
            PlatformType::Unspecified,
            PlatformType::Comprehensive,
            PlatformType::Specialized,
        ] {
            assert_eq!(PlatformType::from_stored(t.as_str()), t);
        }
        for l in [DemoLevel::None, DemoLevel::Provincial, DemoLevel::National] {
            assert_eq!(DemoLevel::from_code(l.code()), l);
        }
    }
}
