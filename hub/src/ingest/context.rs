//! What the rules need to know from the hub's state (the history-dependent part of
//! `sme_proto::rules::CheckContext`): the registry (E004), the lock of the period for this
//! platform (E012) and the previous period's total services (W201).
//!
//! - **E004**: the certificate's platform must be in the registry and active at some time in the
//!   period (see [`crate::registry`] for "active"). With `[registry] enforce = false` the check is
//!   skipped. With a malformed period (E003) only registration is checked.
//! - **E012**: the calendar lock, extended by reopenings ([`crate::reporting::periods`]).
//! - **W201**: the baseline is the *current* report (highest accepted revision) of the same
//!   platform's previous period of the same kind (May for June, Q1 for Q2, 2025 for 2026). No
//!   report for that period: no baseline, no check.
//!
//! The platform's registry region is returned too: reports are stored under it (falling back to
//! the credit code's characters 3–8 for a platform outside the registry).
//!
//! Cost per report: the registry comes from the hub's copy ([`RegistryCache`]), the lock needs a
//! query only once the calendar lock has passed, and the baseline is asked in batches with other
//! reports' ([`crate::ingest::history`]).

use std::sync::Arc;

use sme_proto::period::{Calendar, Period};
use time::OffsetDateTime;

use crate::ingest::history::TotalsLookup;
use crate::registry::{Activity, RegistryCache, RegistrySettings};
use crate::reporting::periods;
use crate::store::{Store, StoreError};

/// The facts of one submission.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleFacts {
    /// For `CheckContext::platform_active`.
    pub platform_active: Option<bool>,
    /// For `CheckContext::lock`.
    pub lock: Option<OffsetDateTime>,
    /// For `CheckContext::previous_total_services`.
    pub previous_total_services: Option<u64>,
    /// The platform's registry region, when registered.
    pub region_code: Option<String>,
}

/// Looks the facts up. One per hub; shared by all calls.
pub struct FactFinder {
    store: Store,
    calendar: Calendar,
    settings: RegistrySettings,
    registry: Arc<RegistryCache>,
    totals: TotalsLookup,
}

// === impl FactFinder ===

impl FactFinder {
    /// A finder over `store`.
    pub fn new(store: Store, calendar: Calendar, settings: RegistrySettings) -> Self {
        let registry = Arc::new(RegistryCache::new(store.clone(), settings.cache_ttl));
        // Load the registry copy in the background so the first reports need not wait for it.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let registry = registry.clone();
            runtime.spawn(async move { registry.warm().await });
        }
        let totals = TotalsLookup::new(store.clone());
        Self {
            totals,
            store,
            calendar,
            settings,
            registry,
        }
    }

    /// The registry copy (also used for heartbeats).
    pub fn registry(&self) -> &RegistryCache {
        &self.registry
    }

    /// The facts for a report of `platform_id` (from the certificate) for `period` (as sent).
    pub async fn facts(
        &self,
        platform_id: &str,
        period: &str,
        now: OffsetDateTime,
    ) -> Result<RuleFacts, Arc<StoreError>> {
        let Ok(period) = period.parse::<Period>() else {
            let span = self.registry.span(platform_id).await?;
            return Ok(RuleFacts {
                platform_active: (self.settings.enforce && span.is_none()).then_some(false),
                region_code: span.map(|s| s.region_code),
                ..RuleFacts::default()
            });
        };
        let activity = self
            .registry
            .activity(platform_id, period.first_day(), period.last_day())
            .await?;
        let (platform_active, region_code) = match activity {
            Activity::NotRegistered => (false, None),
            Activity::Inactive(span) => (false, Some(span.region_code)),
            Activity::Active(span) => (true, Some(span.region_code)),
        };
        let region = region_code
            .clone()
            .unwrap_or_else(|| sme_proto::credit_code::region_code(platform_id).to_owned());
        // The lock costs a query only once the calendar lock has passed; the baseline is
        // batched with other reports' (history.rs).
        let lock = async {
            periods::effective_lock(
                &self.store,
                &self.calendar,
                platform_id,
                &region,
                &period,
                now,
            )
            .await
            .map_err(Arc::new)
        };
        let previous = async {
            match period.previous() {
                Some(p) => self.totals.total(platform_id, &p.to_string()).await,
                None => Ok(None),
            }
        };
        let (lock, previous_total_services) = tokio::try_join!(lock, previous)?;
        Ok(RuleFacts {
            platform_active: self.settings.enforce.then_some(platform_active),
            lock: Some(lock),
            previous_total_services,
            region_code,
        })
    }
}

/// Σ services of the current report of the period before `period`, if there is one.
pub async fn previous_total_services(
    store: &Store,
    platform_id: &str,
    period: &Period,
) -> Result<Option<u64>, StoreError> {
    let Some(previous) = period.previous() else {
        return Ok(None);
    };
    total_services(store, platform_id, &previous.to_string()).await
}

/// Σ services of the current report of (platform, period), if there is one (one query; the
/// submit path batches these, see [`crate::ingest::history`]).
pub async fn total_services(
    store: &Store,
    platform_id: &str,
    period: &str,
) -> Result<Option<u64>, StoreError> {
    let key = (platform_id.to_owned(), period.to_owned());
    Ok(crate::ingest::history::totals(store, &[&key])
        .await?
        .get(&key)
        .copied())
}
