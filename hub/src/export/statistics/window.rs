//! Layout and coverage, and the demo-platform candidates: rolling-window figures, read through
//! the views themselves ([`layout::layout`], [`demo::candidates`]).

use super::{Context, RowSink};
use crate::analytics::demo::{self, Candidate, TierFilter};
use crate::analytics::layout::{self, LayoutRow};
use crate::export::table::{col, Column, Kind, Row, RowKind, Value};
use crate::export::{ExportError, Level};
use crate::registry::region::{self, RegionLevel};

pub(crate) const COVERAGE_COLUMNS: &[Column] = &[
    col(
        "active_platforms",
        "活跃平台数",
        "active platforms",
        Kind::Count,
    ),
    col("smes", "中小企业数", "SMEs", Kind::Count),
    col("sme_year", "中小企业数年份", "SME count year", Kind::Count),
    col(
        "platforms_per_10k_smes",
        "每万户中小企业平台数",
        "platforms per 10 000 SMEs",
        Kind::Decimal,
    ),
    col(
        "enterprises_reached",
        "触达企业数（去重）",
        "firms reached (distinct)",
        Kind::Count,
    ),
    col("reach", "触达率", "reach", Kind::Ratio),
    col(
        "platforms_reported",
        "报送平台数",
        "platforms reported",
        Kind::Count,
    ),
    col(
        "platforms_with_records",
        "报送服务记录的平台数",
        "platforms with records",
        Kind::Count,
    ),
    col(
        "functions_without_provider",
        "无服务的功能",
        "functions without provider",
        Kind::Text,
    ),
    col(
        "firms_located",
        "本地区被服务企业数",
        "firms located here",
        Kind::Count,
    ),
    col(
        "firms_served_from_elsewhere",
        "其中由外地平台服务",
        "of them served from elsewhere",
        Kind::Count,
    ),
    col(
        "inflow_share",
        "跨地区服务占比",
        "cross-region inflow share",
        Kind::Ratio,
    ),
    col(
        "reported",
        "已报送（平台×月）",
        "reports (platform × month)",
        Kind::Count,
    ),
    col(
        "expected",
        "应报送（平台×月）",
        "expected (platform × month)",
        Kind::Count,
    ),
];

fn coverage_values(r: &LayoutRow) -> Vec<Value> {
    let opt = |v: Option<u64>| v.map_or(Value::Null, Value::Count);
    vec![
        Value::Count(r.active_platforms),
        opt(r.smes),
        opt(r.sme_year.map(u64::from)),
        Value::opt_number(r.platforms_per_10k_smes),
        Value::Count(r.enterprises_reached),
        Value::opt_number(r.reach),
        Value::Count(r.platforms_reported),
        Value::Count(r.platforms_with_records),
        Value::Text(
            r.functions_without_provider
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(","),
        ),
        Value::Count(r.firms_located),
        Value::Count(r.firms_served_from_elsewhere),
        Value::opt_number(r.inflow_share),
        Value::Count(r.coverage.reported),
        Value::Count(r.coverage.expected),
    ]
}

fn coverage_row(ctx: &Context<'_>, kind: RowKind, r: &LayoutRow) -> Row {
    Row {
        kind,
        period: None,
        region_code: r.region_code.clone(),
        region_name: if r.region_name.is_empty() {
            ctx.names.region(&r.region_code)
        } else {
            r.region_name.clone()
        },
        platform_id: None,
        platform_name: None,
        breakdown: None,
        values: coverage_values(r),
        reported: r.coverage.reported > 0,
    }
}

/// Layout and coverage by province or prefecture. A subtotal is the parent region's own
/// layout row (distinct firms are not added up).
pub(super) async fn coverage<S: RowSink + Send>(
    ctx: &Context<'_>,
    sink: &mut S,
) -> Result<(), ExportError> {
    let req = ctx.request;
    let region = req.filter.region();
    let top = layout::layout(ctx.store, ctx.scope, &req.filter).await?;
    let mut out = Vec::new();
    let nested = region::level(region) == RegionLevel::National && req.level == Level::Prefecture;
    if nested {
        for province in &top.rows {
            let filter = req
                .filter
                .clone()
                .with_region(ctx.scope, &province.region_code)?;
            let view = layout::layout(ctx.store, ctx.scope, &filter).await?;
            for r in &view.rows {
                out.push(coverage_row(ctx, RowKind::Detail(Level::Prefecture), r));
            }
            out.push(coverage_row(
                ctx,
                RowKind::Subtotal(Level::Province),
                province,
            ));
            sink.rows(&mut out).await?;
        }
    } else {
        for r in &top.rows {
            out.push(coverage_row(ctx, RowKind::Detail(req.level), r));
        }
    }
    out.push(coverage_row(ctx, RowKind::Total, &top.total));
    sink.rows(&mut out).await?;
    sink.step();
    Ok(())
}

macro_rules! gate_columns {
    ($($id:literal),*) => {
        &[$(
            col(concat!($id, "_value"), concat!($id, " 数值"), concat!($id, " value"), Kind::Decimal),
            col(concat!($id, "_met"), concat!($id, " 达标（1/0）"), concat!($id, " met (1/0)"), Kind::Count),
        )*]
    };
}

const DEMO_HEAD: &[Column] = &[
    col(
        "registry_level",
        "名录示范级别",
        "registry level",
        Kind::Text,
    ),
    col("tier", "达到层级", "tier", Kind::Text),
    col("score", "得分（0–100）", "score (0-100)", Kind::Decimal),
];
const DEMO_GATES: &[Column] = gate_columns!(
    "B1", "B2", "B3", "B4", "B5", "B6", "N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8", "N9"
);
const DEMO_COMPONENTS: &[Column] = &[
    col(
        "points_smes_served",
        "得分：服务企业",
        "points: SMEs served",
        Kind::Decimal,
    ),
    col(
        "points_satisfaction",
        "得分：满意率",
        "points: satisfaction",
        Kind::Decimal,
    ),
    col(
        "points_functions",
        "得分：功能覆盖",
        "points: functions",
        Kind::Decimal,
    ),
    col(
        "points_growth",
        "得分：增长",
        "points: growth",
        Kind::Decimal,
    ),
    col(
        "points_senior_titles",
        "得分：高级职称",
        "points: senior titles",
        Kind::Decimal,
    ),
    col(
        "points_timeliness",
        "得分：及时性",
        "points: timeliness",
        Kind::Decimal,
    ),
];

/// The demo table's columns.
pub(crate) fn demo_columns() -> Vec<Column> {
    [DEMO_HEAD, DEMO_GATES, DEMO_COMPONENTS].concat()
}

fn demo_values(c: &Candidate) -> Vec<Value> {
    let mut v = vec![
        Value::Text(c.level.clone()),
        Value::Text(c.tier.to_owned()),
        Value::Number(c.score),
    ];
    for g in c.basic.iter().chain(&c.national) {
        v.push(Value::opt_number(g.value));
        v.push(g.met.map_or(Value::Null, |m| Value::Count(u64::from(m))));
    }
    for id in [
        "smes_served",
        "satisfaction",
        "functions",
        "growth",
        "senior_titles",
        "timeliness",
    ] {
        let points = c.components.iter().find(|x| x.id == id).map(|x| x.points);
        v.push(Value::opt_number(points));
    }
    v
}

/// Every assessed platform, highest tier and score first (the view's order).
pub(super) async fn demo<S: RowSink + Send>(
    ctx: &Context<'_>,
    sink: &mut S,
) -> Result<(), ExportError> {
    let req = ctx.request;
    let view = demo::candidates(
        ctx.store,
        ctx.calendar,
        ctx.demo,
        ctx.scope,
        &req.filter,
        TierFilter::All,
        usize::MAX,
    )
    .await?;
    let mut out: Vec<Row> = view
        .candidates
        .iter()
        .map(|c| Row {
            kind: RowKind::Detail(Level::Platform),
            period: None,
            region_name: ctx.names.region(&c.region_code),
            region_code: c.region_code.clone(),
            platform_id: Some(c.credit_code.clone()),
            platform_name: Some(c.name.clone()),
            breakdown: None,
            values: demo_values(c),
            reported: true,
        })
        .collect();
    sink.rows(&mut out).await?;
    sink.step();
    Ok(())
}
