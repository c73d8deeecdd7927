//! The SQL every view shares: a small builder that keeps text and bound values in step, the
//! current accepted report of every (platform, period) under a [`Filter`] and a [`Scope`], and
//! the expected platforms of the registry.
//!
//! Nothing a caller gives is pasted into SQL: values go through `?` placeholders, which the
//! `clickhouse` client escapes. The scope predicate is part of every query built here.

use clickhouse::query::Query;
use clickhouse::{RowOwned, RowRead};

use super::filter::Filter;
use super::scope::Scope;
use crate::registry::db as registry_db;
use crate::store::migrations::CURRENT_REPORT_RANK;
use crate::store::{Store, StoreError};

/// One bound value.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Str(String),
    U64(u64),
    Strs(Vec<String>),
}

/// SQL text with its bound values in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sql {
    text: String,
    params: Vec<Param>,
}

impl Sql {
    pub(crate) fn new(text: &str) -> Sql {
        Sql {
            text: text.to_owned(),
            params: Vec::new(),
        }
    }

    /// Appends literal SQL (never user input).
    pub(crate) fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// Appends `?` bound to `value`.
    pub(crate) fn str(&mut self, value: impl Into<String>) -> &mut Sql {
        self.text.push('?');
        self.params.push(Param::Str(value.into()));
        self
    }

    pub(crate) fn u64(&mut self, value: u64) -> &mut Sql {
        self.text.push('?');
        self.params.push(Param::U64(value));
        self
    }

    pub(crate) fn strs(&mut self, values: Vec<String>) -> &mut Sql {
        self.text.push('?');
        self.params.push(Param::Strs(values));
        self
    }

    /// Appends another fragment with its values.
    pub(crate) fn append(&mut self, other: Sql) -> &mut Sql {
        self.text.push_str(&other.text);
        self.params.extend(other.params);
        self
    }

    /// Appends `scope.predicate(column)`.
    pub(crate) fn scope(&mut self, scope: &Scope, column: &str) -> &mut Sql {
        let (text, values) = scope.predicate(column);
        self.text.push_str(&text);
        self.params.extend(values.into_iter().map(Param::Str));
        self
    }

    /// Appends `startsWith(column, prefix)` for a resolved region (`1 = 1` for the country).
    pub(crate) fn region(&mut self, region: &str, column: &str) -> &mut Sql {
        let prefix = crate::registry::region::prefix(region);
        if prefix.is_empty() {
            self.push("1 = 1")
        } else {
            self.push(&format!("startsWith({column}, "))
                .str(prefix)
                .push(")")
        }
    }

    /// On the read-only analytics account: nothing built here can write.
    fn query(&self, store: &Store) -> Query {
        let mut q = store.reader().query(&self.text);
        for p in &self.params {
            q = match p {
                Param::Str(s) => q.bind(s.as_str()),
                Param::U64(n) => q.bind(*n),
                Param::Strs(v) => q.bind(v.as_slice()),
            };
        }
        q
    }

    /// Streams the rows (exports): nothing is collected, so memory stays that of one block.
    /// `what` names the query in errors; the caller bounds the wait for each row.
    pub(crate) fn cursor<T: clickhouse::Row>(
        &self,
        store: &Store,
        what: &str,
    ) -> Result<clickhouse::query::RowCursor<T>, StoreError> {
        let query = self.query(store);
        crate::store::statements::query::<T>(&query);
        query
            .fetch::<T>()
            .map_err(|e| StoreError::from_client(what, e))
    }

    /// Runs the query; `what` names it in errors.
    pub(crate) async fn fetch<T: RowOwned + RowRead>(
        &self,
        store: &Store,
        what: &str,
    ) -> Result<Vec<T>, StoreError> {
        registry_db::fetch_all(self.query(store), what).await
    }

    #[cfg(test)]
    pub(crate) fn text(&self) -> &str {
        &self.text
    }
}

/// `period_kind = ? AND period_start BETWEEN ? AND ?` of the filter's range (the partition key
/// prunes the rest).
pub(crate) fn period_range(filter: &Filter) -> Sql {
    let mut sql = Sql::new("period_kind = ");
    sql.str(filter.kind().as_str())
        .push(" AND period_start >= toDate(")
        .str(filter.from().first_day().to_string())
        .push(") AND period_start <= toDate(")
        .str(filter.to().first_day().to_string())
        .push(")");
    sql
}

/// `platform_id IN (registry platforms of that level)`, or `1 = 1`.
pub(crate) fn level_predicate(filter: &Filter, column: &str) -> Sql {
    match filter.level() {
        None => Sql::new("1 = 1"),
        Some(level) => {
            let mut sql = Sql::new(&format!(
                "{column} IN (SELECT credit_code FROM ({}) AS lv WHERE cur_level = ",
                registry_db::current_platforms_sql()
            ));
            sql.str(level.as_str()).push(")");
            sql
        }
    }
}

/// The current accepted report of every (platform, period) in the filter's periods, region and
/// level, inside `scope`: one row with `platform_id`, `period`, `period_start`, `report_id`,
/// `region_code` (the region stored with that report at acceptance) and `extra` columns, each
/// `(expression over reports, alias)` taken from the current report with `argMin(…, rank)`.
///
/// The current report is chosen over every stored row of (platform, period) first (highest
/// revision, then earliest receipt, see [`CURRENT_REPORT_RANK`]); the scope and region
/// predicates then apply to its region, so an older revision stored under another region never
/// stands in. Rows written twice are identical and do not change an `argMin`.
pub(crate) fn current_reports(scope: &Scope, filter: &Filter, extra: &[(&str, &str)]) -> Sql {
    let mut cols = String::new();
    for (expr, alias) in extra {
        cols.push_str(&format!(
            ",\n argMin({expr}, {CURRENT_REPORT_RANK}) AS {alias}"
        ));
    }
    let mut sql = Sql::new(&format!(
        "SELECT platform_id, period, any(period_start) AS cur_period_start,
                argMin(report_id, {CURRENT_REPORT_RANK}) AS cur_report_id,
                argMin(region_code, {CURRENT_REPORT_RANK}) AS cur_region{cols}
         FROM reports WHERE "
    ));
    sql.append(period_range(filter))
        .push(" AND ")
        .append(level_predicate(filter, "platform_id"))
        .push(" GROUP BY platform_id, period HAVING ")
        .scope(scope, "cur_region")
        .push(" AND ")
        .region(filter.region(), "cur_region");
    sql
}

/// The facts (`report_facts`, see [`crate::store::facts`]) of the current accepted report of
/// every (platform, period) in the filter's periods, level, region and `scope`: one row per
/// (platform, period) with the table's columns, so `count()` is reported platform-periods.
///
/// `FINAL` picks the current revision before anything else filters: the inner query filters
/// only on the sorting key (kind, start, platform), which every revision of a (platform,
/// period) shares, and the scope and region apply outside it to the current row's region —
/// an older revision stored under another region never stands in.
pub(crate) fn current_facts(scope: &Scope, filter: &Filter) -> Sql {
    let mut sql = Sql::new("SELECT * FROM (SELECT * FROM report_facts FINAL WHERE ");
    sql.append(period_range(filter))
        .push(" AND ")
        .append(level_predicate(filter, "platform_id"))
        .push(") AS facts WHERE ")
        .scope(scope, "region_code")
        .push(" AND ")
        .region(filter.region(), "region_code");
    sql
}

/// Registry platforms active at any time in each period of the filter, inside `scope`, its
/// region and level: one row per (platform, period) with `credit_code`, `period`, `cur_region`
/// and the registry's `cur_*` columns.
///
/// The registry is taken **as it stood at each period's due time** (the filter's calendar):
/// per platform the latest version imported by then, or its first version when it was
/// imported only later. So a registry import after a period was due (a closure back-dated, a
/// region changed) does not rewrite who was expected for it.
pub(crate) fn expected_platforms(scope: &Scope, filter: &Filter) -> Sql {
    let periods = filter.periods();
    let names: Vec<String> = periods.iter().map(|p| p.to_string()).collect();
    let firsts: Vec<String> = periods.iter().map(|p| p.first_day().to_string()).collect();
    let lasts: Vec<String> = periods.iter().map(|p| p.last_day().to_string()).collect();
    let cutoffs = format!(
        "[{}]",
        periods
            .iter()
            .map(|p| format!(
                "toUInt64({})",
                filter.due_at(p).unix_timestamp_nanos().max(0)
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let periods_join = |sql: &mut Sql, with_cutoff: bool| {
        sql.push(" ARRAY JOIN ")
            .strs(names.clone())
            .push(" AS exp_period, arrayMap(d -> toDate(d), ")
            .strs(firsts.clone())
            .push(") AS exp_first, arrayMap(d -> toDate(d), ")
            .strs(lasts.clone())
            .push(") AS exp_last");
        if with_cutoff {
            sql.push(&format!(", {cutoffs} AS exp_cutoff"));
        }
    };
    // Most platforms have one version, the same for every period: a cheap branch for them,
    // and the per-period choice only for platforms imported more than once.
    let mut sql = Sql::new(
        "SELECT credit_code, exp_period AS period, cur_region, cur_name, cur_level,
                cur_legal_person, cur_registered, cur_closed
         FROM (
             SELECT credit_code, exp_period, exp_first AS first_day, exp_last AS last_day,
                    cur_region, cur_name, cur_level, cur_legal_person, cur_registered, cur_closed
             FROM (
                 SELECT credit_code, any(region_code) AS cur_region, any(name) AS cur_name,
                        any(toString(level)) AS cur_level,
                        any(independent_legal_person) AS cur_legal_person,
                        any(registered_date) AS cur_registered, any(closed_date) AS cur_closed
                 FROM platforms GROUP BY credit_code HAVING uniqExact(version) = 1
             ) AS single",
    );
    periods_join(&mut sql, false);
    sql.push(
        "
             UNION ALL
             SELECT credit_code, exp_period, any(exp_first) AS first_day,
                    any(exp_last) AS last_day,
                    if(countIf(version <= exp_cutoff) > 0,
                       argMaxIf(region_code, version, version <= exp_cutoff),
                       argMin(region_code, version)) AS cur_region,
                    if(countIf(version <= exp_cutoff) > 0,
                       argMaxIf(name, version, version <= exp_cutoff),
                       argMin(name, version)) AS cur_name,
                    if(countIf(version <= exp_cutoff) > 0,
                       argMaxIf(toString(level), version, version <= exp_cutoff),
                       argMin(toString(level), version)) AS cur_level,
                    if(countIf(version <= exp_cutoff) > 0,
                       argMaxIf(independent_legal_person, version, version <= exp_cutoff),
                       argMin(independent_legal_person, version)) AS cur_legal_person,
                    if(countIf(version <= exp_cutoff) > 0,
                       argMaxIf(registered_date, version, version <= exp_cutoff),
                       argMin(registered_date, version)) AS cur_registered,
                    if(countIf(version <= exp_cutoff) > 0,
                       argMaxIf(closed_date, version, version <= exp_cutoff),
                       argMin(closed_date, version)) AS cur_closed
             FROM platforms",
    );
    periods_join(&mut sql, true);
    sql.push(
        " WHERE credit_code IN (
                 SELECT credit_code FROM platforms GROUP BY credit_code
                 HAVING uniqExact(version) > 1)
             GROUP BY credit_code, exp_period
         ) AS reg
         WHERE cur_registered <= last_day
           AND (cur_closed = toDate('1970-01-01') OR cur_closed > first_day) AND ",
    )
    .scope(scope, "cur_region")
    .push(" AND ")
    .region(filter.region(), "cur_region");
    if let Some(level) = filter.level() {
        sql.push(" AND cur_level = ").str(level.as_str());
    }
    sql
}

/// `SELECT key, count() AS n … GROUP BY key` over the expected platforms of the filter
/// ([`expected_platforms`]), `key` an expression over `cur_region`, `credit_code`, `period`:
/// the expected reports of every key, the same in every view and export.
pub(crate) fn expected_by(scope: &Scope, filter: &Filter, key: &str) -> Sql {
    let mut e = Sql::new(&format!("SELECT {key} AS key, count() AS n FROM ("));
    e.append(expected_platforms(scope, filter))
        .push(") AS e GROUP BY key ORDER BY key");
    e
}

/// The column that groups a region one level below `region`: provinces under the country,
/// prefectures under a province, the county itself below.
pub(crate) fn child_region_expr(region: &str, column: &str) -> String {
    use crate::registry::region::{level, RegionLevel};
    match level(region) {
        RegionLevel::National => format!("concat(substring({column}, 1, 2), '0000')"),
        RegionLevel::Province => format!("concat(substring({column}, 1, 4), '00')"),
        RegionLevel::Prefecture | RegionLevel::County => column.to_owned(),
    }
}

/// `n / d`, `None` when nothing is in the denominator ("no data", never 0).
pub(crate) fn share(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::Role;

    #[test]
    fn the_scope_predicate_is_always_in_the_query_and_bound() {
        let gd = Scope::for_user(Role::Coordinator, Some("440000")).unwrap();
        let f = Filter::new(
            &gd,
            "2026-M01".parse().unwrap(),
            "2026-M03".parse().unwrap(),
        )
        .unwrap();
        let sql = current_reports(&gd, &f, &[("satisfaction_responses", "cur_responses")]);
        assert!(
            sql.text().contains("startsWith(cur_region, ?)"),
            "{}",
            sql.text()
        );
        assert!(!sql.text().contains("'44'"), "values are bound, not pasted");
        let sql = expected_platforms(&gd, &f);
        assert!(sql.text().contains("startsWith(cur_region, ?)"));
        let sql = current_facts(&gd, &f);
        let outer = sql.text().rsplit_once(") AS facts").unwrap().1;
        assert!(
            outer.contains("startsWith(region_code, ?)"),
            "{}",
            sql.text()
        );
    }
}
