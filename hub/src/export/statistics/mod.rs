//! The rows of each statistic, produced from the analytics' own SQL builders and functions:
//!
//! - periodic statistics (volume, satisfaction, staff, completeness, missing) read one period
//!   at a time: the detail rows of the requested level come from the view's query with the
//!   area as its key ([`crate::export::Level::sql_key`]), merged with the registry's expected
//!   platforms of that period ([`crate::analytics::sql::expected_by`]), both ordered by key, and
//!   pass through the rollup; so memory is one period's expected keys, whatever the range;
//! - rolling-window statistics (coverage, demo) call the views themselves.

mod measures;
mod periodic;
mod window;

use std::time::Duration;

use clickhouse::query::RowCursor;

use super::names::Names;
use super::table::{BreakdownColumn, Row, Schema};
use super::{ExportError, ExportRequest, Statistic};
use crate::analytics::scope::Scope;
use crate::analytics::volume::VolumeBy;
use crate::config::DemoConfig;
use crate::store::{Store, StoreError};

/// The longest wait for the next row of a streamed query.
const ROW_TIMEOUT: Duration = Duration::from_secs(120);

/// What the producers read with.
pub struct Context<'a> {
    /// ClickHouse.
    pub store: &'a Store,
    /// The caller's scope (every query carries its predicate).
    pub scope: &'a Scope,
    /// The reporting calendar (due times, the registry in force).
    pub calendar: &'a sme_proto::period::Calendar,
    /// Demo gates and weights.
    pub demo: &'a DemoConfig,
    /// Region and platform names.
    pub names: &'a Names,
    /// The checked request.
    pub request: &'a ExportRequest,
}

/// Where produced rows go: the format's writer and the output, flushed as rows pass.
pub trait RowSink {
    /// Writes rows (and may flush bytes to the output).
    fn rows(
        &mut self,
        rows: &mut Vec<Row>,
    ) -> impl std::future::Future<Output = Result<(), ExportError>> + Send;
    /// One unit of work (a period of a statistic) is done.
    fn step(&mut self);
}

/// The volume measures (also the SDMX DSD's).
pub fn volume_columns() -> &'static [super::table::Column] {
    measures::VOLUME_COLUMNS
}

/// The satisfaction measures.
pub fn satisfaction_columns() -> &'static [super::table::Column] {
    measures::SATISFACTION_COLUMNS
}

/// The staff measures.
pub fn staff_columns() -> &'static [super::table::Column] {
    measures::STAFF_COLUMNS
}

/// The completeness measures.
pub fn completeness_columns() -> &'static [super::table::Column] {
    measures::COMPLETENESS_COLUMNS
}

/// Work units of a statistic, for progress: its periods (1 for window statistics).
pub fn units(request: &ExportRequest, stat: Statistic) -> u64 {
    match stat {
        Statistic::Coverage | Statistic::Demo => 1,
        _ => request.filter.periods().len() as u64,
    }
}

/// The table shape of a statistic under the request.
pub fn schema(request: &ExportRequest, stat: Statistic) -> Schema {
    let breakdown = match (stat, request.breakdown) {
        (Statistic::Volume, Some(VolumeBy::Function)) => Some(BreakdownColumn {
            id: "service_function",
            sdmx: "SERVICE_FUNCTION",
            zh: "服务功能",
            en: "service function",
        }),
        (Statistic::Volume, Some(VolumeBy::Industry)) => Some(BreakdownColumn {
            id: "industry",
            sdmx: "INDUSTRY",
            zh: "行业门类",
            en: "industry section",
        }),
        (Statistic::Volume, Some(_)) => Some(BreakdownColumn {
            id: "enterprise_size",
            sdmx: "ENTERPRISE_SIZE",
            zh: "企业规模",
            en: "enterprise size",
        }),
        _ => None,
    };
    let (columns, definitions, periodic) = match stat {
        Statistic::Volume => (
            measures::VOLUME_COLUMNS.to_vec(),
            VOLUME_DEFS.to_vec(),
            true,
        ),
        Statistic::Satisfaction => (
            measures::SATISFACTION_COLUMNS.to_vec(),
            SATISFACTION_DEFS.to_vec(),
            true,
        ),
        Statistic::Staff => (measures::STAFF_COLUMNS.to_vec(), STAFF_DEFS.to_vec(), true),
        Statistic::Completeness => (
            measures::COMPLETENESS_COLUMNS.to_vec(),
            COMPLETENESS_DEFS.to_vec(),
            true,
        ),
        Statistic::Missing => (
            periodic::MISSING_COLUMNS.to_vec(),
            MISSING_DEFS.to_vec(),
            true,
        ),
        Statistic::Coverage => (
            window::COVERAGE_COLUMNS.to_vec(),
            COVERAGE_DEFS.to_vec(),
            false,
        ),
        Statistic::Demo => (window::demo_columns(), DEMO_DEFS.to_vec(), false),
    };
    Schema {
        statistic: stat,
        periodic,
        breakdown,
        columns,
        definitions,
    }
}

/// Produces every row of `stat` into `sink`.
pub async fn produce<S: RowSink + Send>(
    ctx: &Context<'_>,
    stat: Statistic,
    sink: &mut S,
) -> Result<(), ExportError> {
    match stat {
        Statistic::Volume => periodic::volume(ctx, sink).await,
        Statistic::Satisfaction => periodic::satisfaction(ctx, sink).await,
        Statistic::Staff => periodic::staff(ctx, sink).await,
        Statistic::Completeness => periodic::completeness(ctx, sink).await,
        Statistic::Missing => periodic::missing(ctx, sink).await,
        Statistic::Coverage => window::coverage(ctx, sink).await,
        Statistic::Demo => window::demo(ctx, sink).await,
    }
}

/// The next row of a streamed query, bounded in time.
pub(crate) async fn next_row<T>(
    cursor: &mut RowCursor<T>,
    what: &str,
) -> Result<Option<T>, StoreError>
where
    T: clickhouse::RowOwned + clickhouse::RowRead,
{
    match tokio::time::timeout(ROW_TIMEOUT, cursor.next()).await {
        Ok(r) => r.map_err(|e| StoreError::from_client(what, e)),
        Err(_) => Err(StoreError::from_client(
            what,
            clickhouse::error::Error::TimedOut,
        )),
    }
}

const COMMON_DEFS: [(&str, &str); 3] = [
    (
        "每个（平台，期别）只取当前有效修订版（最高修订号，同号取最早接收），不依赖 ClickHouse 合并；一个数字只读一种期别（月、季、年报不相加）。",
        "One report per (platform, period): the current accepted revision (highest revision, then the earliest receipt); one period kind per figure (month, quarter and year reports are never added together).",
    ),
    (
        "已报送/应报送：数字所依据的当前报表数与名录应报数（平台×期别）；应报平台为各期截止时有效名录中该期内任一时刻在册的平台。未报送为空，不记为零。",
        "reported / expected: the current reports behind a figure and the reports the registry expected (platform × period), the registry as it stood at each period's due time. Nothing reported is an empty cell, never zero.",
    ),
    (
        "小计与合计由下级相加（次数、金额、报表数）；比率由相加后的计数重算，不对比率求平均；地区为报表接收时平台所在地区（应报为名录地区）。",
        "Subtotals and totals add up their rows (counts, money, reports); shares are recomputed from the added counts, never averaged; the region of a figure is the platform's region stored at acceptance (expected: the registry's).",
    ),
];

const VOLUME_DEFS: [(&str, &str); 4] = [
    COMMON_DEFS[0],
    COMMON_DEFS[1],
    COMMON_DEFS[2],
    (
        "服务量取自报表的服务量部分；按行业、企业规模分类或筛选时取自服务记录，只覆盖报送了服务记录的报表。收费服务 = 服务次数 − 公益服务次数；公益服务占比 = 公益 ÷ 服务次数；金额以分存储，以元导出（两位小数）。",
        "Volumes come from the reports' volume sections; by or filtered by industry or enterprise size they come from the service records and cover only the reports that sent them. Paid = services − free; free share = free ÷ services; money is stored in fen and exported in yuan with two decimals.",
    ),
];

const SATISFACTION_DEFS: [(&str, &str); 4] = [
    COMMON_DEFS[0],
    COMMON_DEFS[1],
    COMMON_DEFS[2],
    (
        "满意率 = （非常满意 + 满意）÷ 评价数；平均分按 5（非常满意）至 1（非常不满意）计。",
        "Satisfaction rate = (very satisfied + satisfied) ÷ responses; mean score on 5 (very satisfied) … 1 (very dissatisfied).",
    ),
];

const STAFF_DEFS: [(&str, &str); 4] = [
    COMMON_DEFS[0],
    COMMON_DEFS[1],
    COMMON_DEFS[2],
    (
        "只读季报、年报。W101 学历职称占比 ≥ 50%（无专业人员为不达标）；W102 服务收入 ≥ 营业额的 50%（营业额 > 0 的报表）；W103 五公开齐全。服务收入占比 = Σ服务收入 ÷ Σ营业额。",
        "Quarterly and annual reports only. W101 degree-or-mid-title share of professional staff ≥ 50 % (no professional staff fails); W102 service revenue ≥ 50 % of total revenue (reports with revenue > 0); W103 all five disclosures. Service revenue share = Σ service revenue ÷ Σ total revenue.",
    ),
];

const COMPLETENESS_DEFS: [(&str, &str); 2] = [
    (
        "应报送：该期内任一时刻在册的名录平台；已报送：有至少一份受理报表（多次修订只计一次，报送率不超过 100%）；按时：首次受理在截止时间前（东八区）。",
        "Expected: registry platforms active at any time in the period; received: at least one accepted report (revisions count once, so the rate never exceeds 100 %); on time: the first accepted report arrived by the due time (UTC+8).",
    ),
    COMMON_DEFS[2],
];

const MISSING_DEFS: [(&str, &str); 1] = [(
    "每期应报送而没有受理报表的平台（名录地区、名称）。",
    "Per period, the expected platforms without an accepted report (registry region and name).",
)];

const COVERAGE_DEFS: [(&str, &str); 2] = [
    (
        "截至最后一期的 12 个月。活跃平台为窗口最后一天在册平台；每万户中小企业平台数 = 活跃平台 × 10000 ÷ 中小企业数；触达企业为服务记录中不同企业（跨平台去重，不相加）；触达率 = 触达企业 ÷ 中小企业数；无服务功能为窗口内无任何服务的功能。",
        "The 12 months up to the last period. Active platforms: registry platforms on the window's last day; platforms per 10 000 SMEs = active × 10 000 ÷ SMEs; firms reached: distinct firms in the service records (distinct across platforms, never added); reach = firms reached ÷ SMEs; functions without provider: no service in the window.",
    ),
    (
        "小计为上级地区本身的数字（不是下级相加：不同企业数不能相加）。",
        "Subtotals are the parent region's own figures (not sums of the rows: distinct firms cannot be added).",
    ),
];

const DEMO_DEFS: [(&str, &str); 1] = [(
    "基本条件 B1–B6 与国家示范门槛 N1–N9（阈值见配置），每项列出数值与是否达标（空 = 无数据，视为不达标）；得分 0–100 按配置权重。",
    "Basic conditions B1–B6 and national thresholds N1–N9 (thresholds from the configuration), each with its value and whether it is met (empty = no data, which fails the tier); score 0–100 with the configured weights.",
)];
