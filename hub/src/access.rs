//! What a web user may read and do, with their [`Scope`] as a required argument: the layer
//! between the JSON API's thin handlers and the data. Every function here checks the region or
//! platform asked for against the scope *before* it reads anything, and answers a request
//! outside it with [`AccessError::Scope`] (403 and audited), never with less data. The
//! analytics functions take the scope themselves (`crate::analytics`).

use std::collections::HashMap;

use sme_proto::period::{Calendar, Period};
use sme_proto::v1;
use time::{Date, OffsetDateTime};

use crate::analytics::completeness::{self, Completeness};
use crate::analytics::{FilterError, Role, Scope, ScopeError, ViewError};
use crate::registry::import::{self, ImportError, ImportOptions, ImportReport, Kind, Rows};
use crate::registry::{self, Platform};
use crate::reporting::periods::{
    self, Coordinator, ReopenError, ReopenRequest, ReopenTarget, Reopening, ReopeningFilter,
};
use crate::store::{Store, StoreError};

/// Why a scoped request is refused.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Outside the caller's scope, or a malformed region.
    #[error(transparent)]
    Scope(#[from] ScopeError),
    /// A platform outside the caller's scope.
    #[error("platform {platform} is not registered within your scope {scope} / 平台 {platform} 不在您的权限范围 {scope} 内")]
    PlatformOutsideScope {
        /// The platform asked for.
        platform: String,
        /// Its region.
        region: String,
        /// The caller's scope.
        scope: String,
    },
    /// The role may not do this.
    #[error("a {role} may not {what} / 当前角色无权执行此操作")]
    Role {
        /// The caller's role.
        role: Role,
        /// What was tried.
        what: &'static str,
    },
    /// No such platform.
    #[error("platform {0} is not in the registry / 平台名录中没有 {0}")]
    UnknownPlatform(String),
    /// The reopening was refused.
    #[error(transparent)]
    Reopen(#[from] ReopenError),
    /// The file was refused.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// ClickHouse failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Completeness of `period` in `region` (default: the whole scope).
pub async fn completeness(
    store: &Store,
    calendar: &Calendar,
    scope: &Scope,
    period: &Period,
    region: Option<&str>,
) -> Result<Completeness, AccessError> {
    let region = scope.resolve(region)?;
    completeness::completeness(store, calendar, scope, period, Some(&region))
        .await
        .map_err(|e| match e {
            ViewError::Scope(s) | ViewError::Filter(FilterError::Scope(s)) => AccessError::Scope(s),
            ViewError::Store(s) => AccessError::Store(s),
            ViewError::UnknownPlatform(p) => AccessError::UnknownPlatform(p),
            ViewError::Filter(f) => AccessError::Scope(ScopeError::Invalid(f.to_string())),
        })
}

/// Current registry versions of the platforms in `region` (default: the whole scope).
pub async fn platforms(
    store: &Store,
    scope: &Scope,
    region: Option<&str>,
) -> Result<Vec<Platform>, AccessError> {
    let region = scope.resolve(region)?;
    let prefix = registry::region::prefix(&region);
    Ok(registry::platforms(store, Some(prefix)).await?)
}

/// One platform: its registry history, the reopenings covering it and its calendar.
#[derive(Debug, Clone)]
pub struct PlatformDetail {
    /// Current version.
    pub platform: Platform,
    /// Every version, newest first.
    pub history: Vec<Platform>,
    /// Reopenings covering it.
    pub reopenings: Vec<Reopening>,
    /// What it may still report, and whether the hub has it.
    pub calendar: Vec<v1::CalendarPeriod>,
}

/// The platform `credit_code`, when its registry region is inside the scope. An unknown
/// platform whose code names a region outside the scope is refused like a known one, so the
/// answer does not tell whether another province's platform exists.
pub async fn platform(
    store: &Store,
    calendar: &Calendar,
    scope: &Scope,
    credit_code: &str,
    now: OffsetDateTime,
) -> Result<PlatformDetail, AccessError> {
    let platform = registry::platform(store, credit_code).await?;
    let region = match &platform {
        Some(p) => p.region_code.clone(),
        None if credit_code.len() == 18 && credit_code.is_ascii() => {
            sme_proto::credit_code::region_code(credit_code).to_owned()
        }
        None => String::new(),
    };
    if !scope.covers(&region) {
        return Err(AccessError::PlatformOutsideScope {
            platform: credit_code.to_owned(),
            region,
            scope: scope.region().to_owned(),
        });
    }
    let platform = platform.ok_or_else(|| AccessError::UnknownPlatform(credit_code.to_owned()))?;
    let history = registry::platform_history(store, credit_code).await?;
    let reopenings = periods::reopenings(
        store,
        &ReopeningFilter {
            platform: Some((credit_code.to_owned(), platform.region_code.clone())),
            ..Default::default()
        },
    )
    .await?;
    let calendar =
        crate::reporting::calendar::platform_calendar(calendar, store, credit_code, now).await?;
    Ok(PlatformDetail {
        platform,
        history,
        reopenings,
        calendar,
    })
}

/// Reopenings recorded within `region` (default: the whole scope), optionally of one period.
pub async fn reopenings(
    store: &Store,
    scope: &Scope,
    region: Option<&str>,
    period: Option<&Period>,
) -> Result<Vec<Reopening>, AccessError> {
    let region = scope.resolve(region)?;
    Ok(periods::reopenings(
        store,
        &ReopeningFilter {
            period: period.map(Period::to_string),
            platform: None,
            region: Some(region),
        },
    )
    .await?)
}

/// What to reopen, from the API.
#[derive(Debug, Clone)]
pub struct Reopen {
    /// A platform or a region.
    pub target: ReopenTarget,
    /// The period.
    pub period: Period,
    /// Why.
    pub reason: String,
    /// Last day accepted (UTC+8).
    pub until: Option<Date>,
}

/// Reopens a locked period: coordinators within their scope, admins anywhere; planners are
/// read-only.
#[allow(clippy::too_many_arguments)]
pub async fn reopen(
    store: &Store,
    calendar: &Calendar,
    scope: &Scope,
    role: Role,
    user_name: &str,
    request: Reopen,
    now: OffsetDateTime,
    default_days: u32,
) -> Result<Reopening, AccessError> {
    if role == Role::Planner {
        return Err(AccessError::Role {
            role,
            what: "reopen periods (coordinators and admins do)",
        });
    }
    match &request.target {
        ReopenTarget::Region(code) => {
            scope.resolve(Some(code))?;
        }
        ReopenTarget::Platform(id) => {
            let platform = registry::platform(store, id)
                .await?
                .ok_or_else(|| AccessError::UnknownPlatform(id.clone()))?;
            if !scope.covers(&platform.region_code) {
                return Err(AccessError::PlatformOutsideScope {
                    platform: id.clone(),
                    region: platform.region_code,
                    scope: scope.region().to_owned(),
                });
            }
        }
    }
    let request = ReopenRequest {
        target: request.target,
        period: request.period,
        by: Coordinator {
            name: user_name.to_owned(),
            region: scope.region().to_owned(),
        },
        reason: request.reason,
        until: request.until,
    };
    Ok(periods::reopen(store, calendar, &request, now, default_days).await?)
}

/// Which kinds of registry file a role may import: coordinators platforms (of their region),
/// planners SME counts, admins everything.
pub fn may_import(role: Role, kind: Kind) -> bool {
    matches!(
        (role, kind),
        (Role::Admin, _) | (Role::Coordinator, Kind::Platforms) | (Role::Planner, Kind::SmeCounts)
    )
}

/// Checks (and unless `options.dry_run`, imports) an uploaded registry file. A platforms file
/// of a coordinator must keep every row inside their scope, both where the platform is now and
/// where the file puts it.
pub async fn import(
    store: &Store,
    scope: &Scope,
    role: Role,
    file_name: &str,
    bytes: &[u8],
    options: &ImportOptions,
    now: OffsetDateTime,
) -> Result<ImportReport, AccessError> {
    let checked =
        import::check(file_name, bytes, options).map_err(|problems| ImportError::Rejected {
            file: file_name.into(),
            problems,
        })?;
    if !may_import(role, checked.kind) {
        return Err(AccessError::Role {
            role,
            what: match checked.kind {
                Kind::Platforms => "import platforms (coordinators and admins do)",
                Kind::Divisions => "import division codes (admins do)",
                Kind::SmeCounts => "import SME counts (planners and admins do)",
            },
        });
    }
    if let Rows::Platforms(rows) = &checked.rows {
        if !scope.is_national() {
            let current: HashMap<String, String> = registry::platforms(store, None)
                .await?
                .into_iter()
                .map(|p| (p.credit_code, p.region_code))
                .collect();
            for row in rows {
                for region in [Some(&row.region_code), current.get(&row.credit_code)]
                    .into_iter()
                    .flatten()
                {
                    if !scope.covers(region) {
                        return Err(AccessError::PlatformOutsideScope {
                            platform: row.credit_code.clone(),
                            region: region.clone(),
                            scope: scope.region().to_owned(),
                        });
                    }
                }
            }
        }
    }
    Ok(import::import_bytes(store, file_name, bytes, options, now).await?)
}
