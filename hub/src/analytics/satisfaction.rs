//! Enterprise satisfaction (domain §7.4): satisfaction rate = (very satisfied + satisfied) ÷
//! responses, mean score on the 5-level scale (5 very satisfied … 1 very dissatisfied), by
//! region or period, and the change against the previous range of the same length.
//!
//! Reads the satisfaction sections of the current reports of the filter's one period kind;
//! responses are added across reports (they are counts of answers, not distinct firms).

use clickhouse::Row;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::filter::Filter;
use super::scope::Scope;
use super::sql::{self, Sql};
use super::Coverage;
use crate::store::{Store, StoreError};

/// What the rows are keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SatisfactionBy {
    /// Region one level below the filter's.
    Region,
    /// Period.
    Period,
}

/// Satisfaction of one key.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SatisfactionRow {
    /// Region code or period; `"total"` for the total.
    pub key: String,
    /// Answers (sum of the five counts).
    pub responses: u64,
    /// Very satisfied + satisfied.
    pub satisfied: u64,
    /// Satisfied ÷ responses; `None` without responses.
    pub rate: Option<f64>,
    /// Mean score 1–5; `None` without responses.
    pub mean_score: Option<f64>,
    /// Reports with a satisfaction section behind the row, of those expected.
    pub coverage: Coverage,
}

/// The satisfaction view.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SatisfactionView {
    /// The one period kind read.
    #[schema(value_type = String, example = "month")]
    pub period_kind: &'static str,
    /// First period.
    pub from: String,
    /// Last period.
    pub to: String,
    /// The key of the rows.
    pub by: SatisfactionBy,
    /// By key, ascending.
    pub rows: Vec<SatisfactionRow>,
    /// The whole filter.
    pub total: SatisfactionRow,
    /// The same figures for the range just before (same number of periods).
    pub previous: Option<SatisfactionRow>,
    /// `total.rate − previous.rate` in percentage points ÷ 100; `None` when either has no data.
    pub rate_change: Option<f64>,
}

/// Satisfaction counts of one key (see [`sums_sql`]); `score` = 5 × very satisfied + … + 1
/// × very dissatisfied.
#[derive(Row, Deserialize)]
pub(crate) struct Sums {
    pub(crate) key: String,
    pub(crate) responses: u64,
    pub(crate) satisfied: u64,
    pub(crate) score: u64,
    pub(crate) reported: u64,
}

#[derive(Row, Deserialize)]
struct Count {
    key: String,
    n: u64,
}

/// Satisfaction under `filter`, keyed `by`, with the change against the previous range.
pub async fn satisfaction(
    store: &Store,
    scope: &Scope,
    filter: &Filter,
    by: SatisfactionBy,
) -> Result<SatisfactionView, StoreError> {
    let n = filter.periods().len();
    let prev = back(filter.from(), n).map(|first| {
        let last = back(filter.from(), 1).expect("first exists, so the one before does");
        filter
            .with_periods(first, last)
            .expect("same kind, in order")
    });
    let previous_sums = async {
        match &prev {
            Some(p) => Ok(sums(store, scope, p, None)
                .await?
                .into_iter()
                .next()
                .map(|(row, _)| row)),
            None => Ok(None),
        }
    };
    let (rows, previous) = tokio::try_join!(sums(store, scope, filter, Some(by)), previous_sums)?;
    // Each report and each expected platform-period has one key: the total adds the rows.
    let mut total = empty("total");
    let mut score = 0;
    for (r, s) in &rows {
        total.responses += r.responses;
        total.satisfied += r.satisfied;
        score += s;
        total.coverage.reported += r.coverage.reported;
        total.coverage.expected += r.coverage.expected;
    }
    total.rate = sql::share(total.satisfied, total.responses);
    total.mean_score = (total.responses > 0).then(|| score as f64 / total.responses as f64);
    let rows: Vec<SatisfactionRow> = rows.into_iter().map(|(r, _)| r).collect();
    let rate_change = match (&previous, total.rate) {
        (Some(p), Some(now)) => p.rate.map(|before| now - before),
        _ => None,
    };
    Ok(SatisfactionView {
        period_kind: filter.kind().as_str(),
        from: filter.from().to_string(),
        to: filter.to().to_string(),
        by,
        rows,
        total,
        previous,
        rate_change,
    })
}

fn back(mut p: sme_proto::period::Period, n: usize) -> Option<sme_proto::period::Period> {
    for _ in 0..n {
        p = p.previous()?;
    }
    Some(p)
}

fn empty(key: &str) -> SatisfactionRow {
    SatisfactionRow {
        key: key.to_owned(),
        responses: 0,
        satisfied: 0,
        rate: None,
        mean_score: None,
        coverage: Coverage::default(),
    }
}

/// The satisfaction sections of the current reports summed per `key` (an expression over the
/// facts' `region_code`, `platform_id`, `period`), as [`Sums`] ordered by key: the view and
/// the exports by area.
pub(crate) fn sums_sql(scope: &Scope, filter: &Filter, key: &str) -> Sql {
    let mut q = Sql::new(&format!(
        "SELECT {key} AS key,
                sum(sat_very_satisfied + sat_satisfied + sat_neutral + sat_dissatisfied
                    + sat_very_dissatisfied) AS responses,
                sum(sat_very_satisfied + sat_satisfied) AS satisfied,
                sum(5 * sat_very_satisfied + 4 * sat_satisfied + 3 * sat_neutral
                    + 2 * sat_dissatisfied + sat_very_dissatisfied) AS score,
                toUInt64(count()) AS reported
         FROM ("
    ));
    q.append(sql::current_facts(scope, filter))
        .push(") AS cur WHERE has_satisfaction = 1 GROUP BY key ORDER BY key");
    q
}

/// The rows keyed `by` (one `'total'` row without), each with its score sum (5 × very
/// satisfied + … + 1 × very dissatisfied).
async fn sums(
    store: &Store,
    scope: &Scope,
    filter: &Filter,
    by: Option<SatisfactionBy>,
) -> Result<Vec<(SatisfactionRow, u64)>, StoreError> {
    let key_of = |column: &str| match by {
        Some(SatisfactionBy::Region) => sql::child_region_expr(filter.region(), column),
        Some(SatisfactionBy::Period) => "period".to_owned(),
        None => "'total'".to_owned(),
    };
    let q = sums_sql(scope, filter, &key_of("region_code"));
    let e = sql::expected_by(scope, filter, &key_of("cur_region"));
    let (sums, expected) = tokio::try_join!(
        q.fetch::<Sums>(store, "satisfaction"),
        e.fetch::<Count>(store, "satisfaction expected"),
    )?;
    let expected: std::collections::HashMap<String, u64> =
        expected.into_iter().map(|c| (c.key, c.n)).collect();
    let mut rows: Vec<(SatisfactionRow, u64)> = sums
        .into_iter()
        .map(|s| {
            let row = SatisfactionRow {
                rate: sql::share(s.satisfied, s.responses),
                mean_score: (s.responses > 0).then(|| s.score as f64 / s.responses as f64),
                coverage: Coverage {
                    reported: s.reported,
                    expected: expected.get(&s.key).copied().unwrap_or(0),
                },
                key: s.key,
                responses: s.responses,
                satisfied: s.satisfied,
            };
            (row, s.score)
        })
        .collect();
    // A key with expected platforms but no report is "no data", listed with rate None.
    for (k, n) in &expected {
        if !rows.iter().any(|(r, _)| &r.key == k) {
            let mut row = empty(k);
            row.coverage.expected = *n;
            rows.push((row, 0));
        }
    }
    rows.sort_by(|a, b| a.0.key.cmp(&b.0.key));
    Ok(rows)
}
