//! The figures planners and coordinators see (domain §7), computed once from ClickHouse for the
//! CLI, the web API and the exports alike.
//!
//! Every function takes a [`Scope`] (required; only an authenticated user or the hub's
//! operators yield one) and a [`Filter`], and its SQL always carries the scope's region
//! predicate with bound values. The rules every figure obeys are in `docs/decisions.md`
//! ("Analytics"): the current accepted revision per (platform, period) chosen at query time,
//! one period kind per figure, distinct counts never summed, `reported`/`expected` beside every
//! aggregate, the due time stored at acceptance, the region stored at acceptance.
//!
//! | view | function | reads |
//! |---|---|---|
//! | 1 layout / coverage | [`layout::layout`] | monthly volumes and records, last 12 months / 4 quarters |
//! | 2 service volume | [`volume::volume`] | the filter's kind |
//! | 3 staff and basic conditions | [`staff::staff`] | quarterly or annual |
//! | 4 satisfaction | [`satisfaction::satisfaction`] | the filter's kind |
//! | 5 completeness and timeliness | [`completeness::completeness`] | the filter's kind |
//! | 6 demo-platform candidates | [`demo::candidates`] | annual, quarterly and monthly |
//! | 7 one platform's history | [`platform::history`] | the filter's kind |

use serde::Serialize;

pub mod completeness;
pub mod demo;
pub mod filter;
pub mod layout;
pub mod platform;
pub mod satisfaction;
pub mod scope;
pub(crate) mod sql;
pub mod staff;
pub mod volume;

pub use filter::{EnterpriseSize, Filter, FilterError, FilterParams};
pub use scope::{Role, Scope, ScopeError};

use crate::store::StoreError;

/// Why a view cannot answer: a filter it cannot read, a request outside the scope, or the
/// store. The web maps these to 400, 403 and 503.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// A filter value this view cannot use (e.g. monthly periods for staff).
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// A region or platform outside the caller's scope.
    #[error(transparent)]
    Scope(#[from] ScopeError),
    /// A platform the registry does not know and whose code names a region inside the scope.
    #[error("platform {0} is not in the registry; check the credit code / 平台名录中没有 {0}")]
    UnknownPlatform(String),
    /// ClickHouse failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reports behind an aggregate and reports expected (platform × period; for one period,
/// platforms). `reported == 0` means "no data", never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, utoipa::ToSchema)]
pub struct Coverage {
    /// Current accepted reports that went into the figure.
    pub reported: u64,
    /// Reports the registry expected (platforms active at any time in each period).
    pub expected: u64,
}
