//! Volume, satisfaction, staff, completeness and the missing platforms, one period at a time.

use clickhouse::query::RowCursor;
use clickhouse::Row as ChRow;
use serde::Deserialize;

use super::measures::{self, Completeness, Satisfaction, Staff, Volume};
use super::{next_row, Context, RowSink};
use crate::analytics::filter::Filter;
use crate::analytics::sql;
use crate::analytics::volume::{self, GroupRow, SlotRow, SumRow, VolumeBy};
use crate::analytics::{completeness, satisfaction, staff};
use crate::export::rollup::{Leaf, Measures, Rollup};
use crate::export::table::{col, Column, Kind, Row, RowKind, Value};
use crate::export::{ExportError, Level};

/// Rows handed to the sink at once.
const FLUSH: usize = 2_048;

pub(crate) const MISSING_COLUMNS: &[Column] = &[col(
    "due_at",
    "截止时间（东八区）",
    "due (UTC+8)",
    Kind::Text,
)];

#[derive(ChRow, Deserialize)]
struct KeyCount {
    key: String,
    n: u64,
}

/// One area's parts, or `None` to skip the row (e.g. a `'total'` row of the query).
type Parts<M> = Option<(String, Vec<(Option<String>, M)>)>;

/// The service volume, per period and area (and breakdown code).
pub(super) async fn volume<S: RowSink + Send>(
    ctx: &Context<'_>,
    sink: &mut S,
) -> Result<(), ExportError> {
    let req = ctx.request;
    let records = req.filter.needs_records()
        || matches!(
            req.breakdown,
            Some(VolumeBy::Industry | VolumeBy::EnterpriseSize)
        );
    let key = req.level.sql_key("region_code", "platform_id");
    let only = req.filter.function();
    each_period(ctx, sink, req.level, |filter| {
        let what = "export volume";
        Ok(match (records, req.breakdown) {
            (false, None) => {
                Detail::Groups(volume::groups_sql(ctx.scope, filter, &key).cursor(ctx.store, what)?)
            }
            (false, Some(_)) => Detail::Slots(
                volume::slots_sql(ctx.scope, filter, &key).cursor(ctx.store, what)?,
                only,
            ),
            (true, dim) => Detail::Records(
                volume::records_sql(ctx.scope, filter, Some(&key), dim).cursor(ctx.store, what)?,
                dim.is_some(),
            ),
        })
    })
    .await
}

/// One period's detail query: the next area with its parts, in key order.
trait PeriodSource<M> {
    /// `Ok(None)` at the end; `Ok(Some(None))` for a row to skip.
    fn next(
        &mut self,
    ) -> impl std::future::Future<Output = Result<Option<Parts<M>>, ExportError>> + Send;
}

/// The volume query of one period, by its shape.
enum Detail {
    Groups(RowCursor<GroupRow>),
    Slots(RowCursor<SlotRow>, Option<u8>),
    Records(RowCursor<SumRow>, bool),
}

fn volume_of(r: &SumRow) -> Volume {
    Volume {
        services: r.services,
        free: r.free_services,
        revenue_fen: r.revenue_fen,
        person_times: r.person_times,
        reported: r.reported,
    }
}

impl PeriodSource<Volume> for Detail {
    async fn next(&mut self) -> Result<Option<Parts<Volume>>, ExportError> {
        Ok(match self {
            Detail::Groups(c) => next_row(c, "export volume").await?.map(|g| {
                if g.key == "total" {
                    return None;
                }
                let parts = if g.reported > 0 {
                    vec![(
                        None,
                        Volume {
                            services: g.services,
                            free: g.free_services,
                            revenue_fen: g.revenue_fen,
                            person_times: g.person_times,
                            reported: g.reported,
                        },
                    )]
                } else {
                    Vec::new()
                };
                Some((g.key, parts))
            }),
            Detail::Slots(c, only) => next_row(c, "export volume").await?.map(|s| {
                let parts = s
                    .functions(*only)
                    .into_iter()
                    .map(|(f, r)| (Some(f.to_string()), volume_of(&r)))
                    .collect();
                Some((s.key, parts))
            }),
            Detail::Records(c, with_dim) => next_row(c, "export volume").await?.map(|r| {
                if *with_dim {
                    let (area, code) = r.key.split_once('|').unwrap_or((&r.key, ""));
                    Some((
                        area.to_owned(),
                        vec![(Some(code.to_owned()), volume_of(&r))],
                    ))
                } else {
                    Some((r.key.clone(), vec![(None, volume_of(&r))]))
                }
            }),
        })
    }
}

/// Satisfaction, per period and area.
pub(super) async fn satisfaction<S: RowSink + Send>(
    ctx: &Context<'_>,
    sink: &mut S,
) -> Result<(), ExportError> {
    let key = ctx.request.level.sql_key("region_code", "platform_id");
    each_period(ctx, sink, ctx.request.level, |filter| {
        Ok(SatisfactionSource(
            satisfaction::sums_sql(ctx.scope, filter, &key)
                .cursor(ctx.store, "export satisfaction")?,
        ))
    })
    .await
}

struct SatisfactionSource(RowCursor<satisfaction::Sums>);

impl PeriodSource<Satisfaction> for SatisfactionSource {
    async fn next(&mut self) -> Result<Option<Parts<Satisfaction>>, ExportError> {
        Ok(next_row(&mut self.0, "export satisfaction")
            .await?
            .map(|s| {
                let m = Satisfaction {
                    responses: s.responses,
                    satisfied: s.satisfied,
                    score: s.score,
                    reported: s.reported,
                };
                Some((s.key, vec![(None, m)]))
            }))
    }
}

/// Staff and basic conditions, per period (quarter, year) and area.
pub(super) async fn staff<S: RowSink + Send>(
    ctx: &Context<'_>,
    sink: &mut S,
) -> Result<(), ExportError> {
    let key = ctx.request.level.sql_key("cur_region", "platform_id");
    each_period(ctx, sink, ctx.request.level, |filter| {
        Ok(StaffSource(
            staff::sums_sql(ctx.scope, filter, &key).cursor(ctx.store, "export staff")?,
        ))
    })
    .await
}

struct StaffSource(RowCursor<staff::Sums>);

impl PeriodSource<Staff> for StaffSource {
    async fn next(&mut self) -> Result<Option<Parts<Staff>>, ExportError> {
        Ok(next_row(&mut self.0, "export staff")
            .await?
            .map(|s| Some((s.key.clone(), vec![(None, Staff(s))]))))
    }
}

/// Runs one period after the other: `open` starts the period's detail query, `next` reads
/// the next area from it; expected keys come from the registry, and every area with either
/// passes the rollup in key order.
async fn each_period<S, M, D>(
    ctx: &Context<'_>,
    sink: &mut S,
    level: Level,
    open: impl Fn(&Filter) -> Result<D, ExportError>,
) -> Result<(), ExportError>
where
    S: RowSink + Send,
    M: Measures,
    D: PeriodSource<M>,
{
    let req = ctx.request;
    let periods = req.filter.periods();
    let mut rollup = Rollup::<M>::new(ctx.names, req.filter.region(), level, level);
    let ekey = level.sql_key("cur_region", "credit_code");
    let mut out: Vec<Row> = Vec::new();
    for period in &periods {
        let filter = req.filter.with_periods(*period, *period)?;
        let expected: Vec<KeyCount> = sql::expected_by(ctx.scope, &filter, &ekey)
            .fetch(ctx.store, "export expected")
            .await?;
        let mut detail = open(&filter)?;
        rollup.begin_period(Some(*period));
        let mut expected = expected.into_iter().peekable();
        let mut pending: Option<Leaf<M>> = None;
        loop {
            let item = detail.next().await?;
            let Some(item) = item else { break };
            let Some((key, parts)) = item else { continue };
            match &mut pending {
                Some(leaf) if leaf.key == key => leaf.parts.extend(parts),
                _ => {
                    if let Some(leaf) = pending.take() {
                        push_with_expected(&mut rollup, &mut expected, leaf, &mut out);
                    }
                    pending = Some(Leaf {
                        key,
                        expected: 0,
                        parts,
                    });
                }
            }
            if out.len() >= FLUSH {
                sink.rows(&mut out).await?;
            }
        }
        if let Some(leaf) = pending.take() {
            push_with_expected(&mut rollup, &mut expected, leaf, &mut out);
        }
        for e in expected {
            rollup.push(not_reported(e), &mut out);
        }
        rollup.end_period(&mut out);
        sink.rows(&mut out).await?;
        sink.step();
    }
    if periods.len() > 1 {
        rollup.finish(&mut out);
        sink.rows(&mut out).await?;
    }
    Ok(())
}

fn not_reported<M>(e: KeyCount) -> Leaf<M> {
    Leaf {
        key: e.key,
        expected: e.n,
        parts: Vec::new(),
    }
}

/// Pushes the expected-only keys before `leaf`, then `leaf` with its expected count.
fn push_with_expected<M: Measures>(
    rollup: &mut Rollup<'_, M>,
    expected: &mut std::iter::Peekable<std::vec::IntoIter<KeyCount>>,
    mut leaf: Leaf<M>,
    out: &mut Vec<Row>,
) {
    while let Some(e) = expected.next_if(|e| e.key < leaf.key) {
        rollup.push(not_reported(e), out);
    }
    if let Some(e) = expected.next_if(|e| e.key == leaf.key) {
        leaf.expected = e.n;
    }
    rollup.push(leaf, out);
}

/// Completeness and timeliness: every expected platform's status, rolled up to the level.
pub(super) async fn completeness<S: RowSink + Send>(
    ctx: &Context<'_>,
    sink: &mut S,
) -> Result<(), ExportError> {
    let req = ctx.request;
    let periods = req.filter.periods();
    let mut rollup =
        Rollup::<Completeness>::new(ctx.names, req.filter.region(), Level::Platform, req.level);
    let mut out = Vec::new();
    for period in &periods {
        let statuses = completeness::platform_statuses(
            ctx.store,
            ctx.calendar,
            ctx.scope,
            period,
            req.filter.region(),
        )
        .await?;
        rollup.begin_period(Some(*period));
        for s in statuses {
            let m = Completeness {
                received: u64::from(s.received),
                on_time: u64::from(s.on_time),
            };
            rollup.push(
                Leaf {
                    key: format!("{}:{}", s.region_code, s.credit_code),
                    expected: 1,
                    parts: vec![(None, m)],
                },
                &mut out,
            );
            if out.len() >= FLUSH {
                sink.rows(&mut out).await?;
            }
        }
        rollup.end_period(&mut out);
        sink.rows(&mut out).await?;
        sink.step();
    }
    if periods.len() > 1 {
        rollup.finish(&mut out);
        sink.rows(&mut out).await?;
    }
    Ok(())
}

/// The expected platforms without an accepted report, per period.
pub(super) async fn missing<S: RowSink + Send>(
    ctx: &Context<'_>,
    sink: &mut S,
) -> Result<(), ExportError> {
    let req = ctx.request;
    let mut out = Vec::new();
    for period in req.filter.periods() {
        let statuses = completeness::platform_statuses(
            ctx.store,
            ctx.calendar,
            ctx.scope,
            &period,
            req.filter.region(),
        )
        .await?;
        let due = ctx.calendar.due_at(&period);
        let due = due
            .to_offset(time::macros::offset!(+8))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        for s in statuses.into_iter().filter(|s| !s.received) {
            out.push(Row {
                kind: RowKind::Detail(Level::Platform),
                period: Some(period),
                region_name: ctx.names.region(&s.region_code),
                region_code: s.region_code,
                platform_id: Some(s.credit_code),
                platform_name: Some(s.name),
                breakdown: None,
                values: vec![Value::Text(due.clone())],
                reported: false,
            });
        }
        sink.rows(&mut out).await?;
        sink.step();
    }
    let _ = measures::COMPLETENESS_COLUMNS;
    Ok(())
}
