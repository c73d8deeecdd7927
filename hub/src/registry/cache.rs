//! The registry as the submit path needs it (E004), without a ClickHouse query per report.
//!
//! Each hub process keeps a copy of every platform's region and operating dates, reloaded from
//! ClickHouse when older than the TTL. Only an *active* answer is trusted from the copy; a
//! platform missing or inactive there is looked up in ClickHouse before a report is refused,
//! so a platform registered a second ago reports at once. A closure reaches every hub process
//! within one TTL. ClickHouse stays the only source of truth.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use clickhouse::Row;
use serde::Deserialize;
use time::Date;

use super::db::{self, closed_from_stored};
use super::{active_between, Platform};
use crate::store::{Store, StoreError};

/// A platform's operating span and region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Region the platform is counted under.
    pub region_code: String,
    /// First operating day.
    pub registered: Date,
    /// First day not operating.
    pub closed: Option<Date>,
}

/// What the registry says about a platform and a range of days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activity {
    /// Not in the registry.
    NotRegistered,
    /// Registered, but not operating on any of the days.
    Inactive(Span),
    /// Operating on at least one of the days.
    Active(Span),
}

/// See the module docs. Cheap to share behind an `Arc`; clones are not needed.
pub struct RegistryCache {
    store: Store,
    ttl: Duration,
    snapshot: RwLock<Snapshot>,
    reload: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Snapshot {
    loaded_at: Option<Instant>,
    spans: HashMap<String, Span>,
}

#[derive(Row, Deserialize)]
struct SpanRow {
    credit_code: String,
    region_code: String,
    #[serde(with = "clickhouse::serde::time::date")]
    registered: Date,
    #[serde(with = "clickhouse::serde::time::date")]
    closed: Date,
}

// === impl RegistryCache ===

impl RegistryCache {
    /// A cache over `store`'s registry; `ttl` zero disables the copy (always ClickHouse).
    pub fn new(store: Store, ttl: Duration) -> Self {
        Self {
            store,
            ttl,
            snapshot: RwLock::new(Snapshot::default()),
            reload: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether `credit_code` operates on any day of `first..=last`.
    pub async fn activity(
        &self,
        credit_code: &str,
        first: Date,
        last: Date,
    ) -> Result<Activity, StoreError> {
        let judge = |span: Span| {
            if active_between(span.registered, span.closed, first, last) {
                Activity::Active(span)
            } else {
                Activity::Inactive(span)
            }
        };
        if let Some(span) = self.cached(credit_code).await? {
            if let active @ Activity::Active(_) = judge(span) {
                return Ok(active);
            }
        }
        // Missing or inactive in the copy: ask ClickHouse, which may know better.
        Ok(match self.fetch(credit_code).await? {
            Some(span) => judge(span),
            None => Activity::NotRegistered,
        })
    }

    /// The registered span of a platform (copy first, then ClickHouse).
    pub async fn span(&self, credit_code: &str) -> Result<Option<Span>, StoreError> {
        match self.cached(credit_code).await? {
            Some(span) => Ok(Some(span)),
            None => self.fetch(credit_code).await,
        }
    }

    /// Loads the copy now (at start-up), so the first reports do not wait for it. Errors are
    /// left for the first lookup to report.
    pub async fn warm(&self) {
        if let Err(e) = self.cached("").await {
            tracing::debug!(error = %e, "registry copy not loaded yet");
        }
    }

    /// Number of platforms in the registry (from a fresh load).
    pub async fn count(&self) -> Result<usize, StoreError> {
        Ok(load(&self.store).await?.len())
    }

    async fn cached(&self, credit_code: &str) -> Result<Option<Span>, StoreError> {
        if self.ttl.is_zero() {
            return Ok(None);
        }
        if let Some(found) = self.fresh(credit_code) {
            return Ok(found);
        }
        let _one_loader = self.reload.lock().await;
        // Another caller may have reloaded while this one waited.
        if let Some(found) = self.fresh(credit_code) {
            return Ok(found);
        }
        let spans = load(&self.store).await?;
        let found = spans.get(credit_code).cloned();
        *self.snapshot.write().expect("registry cache poisoned") = Snapshot {
            loaded_at: Some(Instant::now()),
            spans,
        };
        Ok(found)
    }

    /// `Some(entry)` when the copy is fresh.
    fn fresh(&self, credit_code: &str) -> Option<Option<Span>> {
        let snapshot = self.snapshot.read().expect("registry cache poisoned");
        snapshot
            .loaded_at
            .filter(|t| t.elapsed() < self.ttl)
            .map(|_| snapshot.spans.get(credit_code).cloned())
    }

    /// Asks ClickHouse, and keeps what it says in the copy (a platform registered after the
    /// last load is then found there until the next).
    async fn fetch(&self, credit_code: &str) -> Result<Option<Span>, StoreError> {
        let span = db::platform(&self.store, credit_code)
            .await?
            .as_ref()
            .map(span_of);
        if let (Some(span), false) = (&span, self.ttl.is_zero()) {
            let mut snapshot = self.snapshot.write().expect("registry cache poisoned");
            if snapshot.loaded_at.is_some() {
                snapshot.spans.insert(credit_code.to_owned(), span.clone());
            }
        }
        Ok(span)
    }
}

fn span_of(p: &Platform) -> Span {
    Span {
        region_code: p.region_code.clone(),
        registered: p.registered,
        closed: p.closed,
    }
}

async fn load(store: &Store) -> Result<HashMap<String, Span>, StoreError> {
    let query = store.client().query(
        "SELECT credit_code, argMax(region_code, version), argMax(registered_date, version),
                argMax(closed_date, version)
         FROM platforms GROUP BY credit_code",
    );
    let rows: Vec<SpanRow> = db::fetch_all(query, "load registry").await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.credit_code,
                Span {
                    region_code: r.region_code,
                    registered: r.registered,
                    closed: closed_from_stored(r.closed),
                },
            )
        })
        .collect())
}
