//! What a panel can name: the analytics of the JSON API with their views, each view's metrics
//! and whether its rows are keyed by region, the chart types, and the default-filter keys. The
//! front end implements one adapter per (analytic, view) of this list (`dashboards/src/data/`).

/// One view of an analytic: the table the panel's chart and data table show.
#[derive(Debug, Clone, Copy)]
pub struct ViewSpec {
    /// The view's name (`regions`, `rows` …).
    pub name: &'static str,
    /// Numeric columns a chart can plot.
    pub metrics: &'static [&'static str],
    /// The rows are keyed by region code (a map can draw them); `None`: only with `by=region`.
    pub region_keyed: Option<bool>,
}

/// One analytic of the JSON API, as the dashboards use it.
#[derive(Debug, Clone, Copy)]
pub struct AnalyticSpec {
    /// Name in the definitions.
    pub name: &'static str,
    /// Its views.
    pub views: &'static [ViewSpec],
    /// Accepted values of `by`, empty when the analytic has no `by`.
    pub by: &'static [&'static str],
    /// Period kinds it reads.
    pub period_kinds: &'static [&'static str],
    /// Filter parameters it takes (besides the period range).
    pub filters: &'static [&'static str],
}

const ALL_KINDS: &[&str] = &["month", "quarter", "year"];
const REGIONAL: Option<bool> = Some(true);

/// Every analytic a panel can read.
pub const CATALOGUE: &[AnalyticSpec] = &[
    AnalyticSpec {
        name: "layout",
        views: &[
            ViewSpec {
                name: "regions",
                metrics: &[
                    "platforms_per_10k_smes",
                    "active_platforms",
                    "smes",
                    "enterprises_reached",
                    "reach",
                    "missing_functions",
                    "inflow_share",
                ],
                region_keyed: REGIONAL,
            },
            ViewSpec {
                name: "priorities",
                metrics: &["priority", "density_gap", "missing_functions", "reach_gap"],
                region_keyed: REGIONAL,
            },
            ViewSpec {
                name: "function_gaps",
                metrics: &["regions_without_provider"],
                region_keyed: Some(false),
            },
            ViewSpec {
                name: "headline",
                metrics: &["value"],
                region_keyed: Some(false),
            },
        ],
        by: &[],
        period_kinds: &["month"],
        filters: &["region", "level"],
    },
    AnalyticSpec {
        name: "volume",
        views: &[ViewSpec {
            name: "rows",
            metrics: &[
                "services",
                "free_services",
                "paid_services",
                "free_share",
                "revenue_yuan",
                "person_times",
            ],
            region_keyed: None,
        }],
        by: &[
            "function",
            "region",
            "period",
            "industry",
            "enterprise_size",
        ],
        period_kinds: ALL_KINDS,
        filters: &["region", "function", "industry", "enterprise_size", "level"],
    },
    AnalyticSpec {
        name: "satisfaction",
        views: &[
            ViewSpec {
                name: "rows",
                metrics: &["rate", "mean_score", "responses"],
                region_keyed: None,
            },
            ViewSpec {
                name: "headline",
                metrics: &["value"],
                region_keyed: Some(false),
            },
        ],
        by: &["region", "period"],
        period_kinds: ALL_KINDS,
        filters: &["region", "level"],
    },
    AnalyticSpec {
        name: "staff",
        views: &[
            ViewSpec {
                name: "conditions",
                metrics: &[
                    "w101_share",
                    "w102_share",
                    "w103_share",
                    "degree_share",
                    "service_revenue_share",
                ],
                region_keyed: REGIONAL,
            },
            ViewSpec {
                name: "distribution",
                metrics: &["reports"],
                region_keyed: Some(false),
            },
        ],
        by: &[],
        period_kinds: &["quarter", "year"],
        filters: &["region", "level"],
    },
    AnalyticSpec {
        name: "completeness",
        views: &[
            ViewSpec {
                name: "regions",
                metrics: &["rate", "on_time_rate", "expected", "received", "on_time"],
                region_keyed: REGIONAL,
            },
            ViewSpec {
                name: "missing",
                metrics: &[],
                region_keyed: Some(false),
            },
            ViewSpec {
                name: "headline",
                metrics: &["value"],
                region_keyed: Some(false),
            },
        ],
        by: &[],
        period_kinds: ALL_KINDS,
        filters: &["region"],
    },
    AnalyticSpec {
        name: "platforms",
        views: &[ViewSpec {
            name: "list",
            metrics: &[],
            region_keyed: Some(false),
        }],
        by: &[],
        period_kinds: ALL_KINDS,
        filters: &["region"],
    },
    AnalyticSpec {
        name: "demo_candidates",
        views: &[
            ViewSpec {
                name: "summary",
                metrics: &["value"],
                region_keyed: Some(false),
            },
            ViewSpec {
                name: "candidates",
                metrics: &["score"],
                region_keyed: Some(false),
            },
            ViewSpec {
                name: "gates",
                metrics: &[],
                region_keyed: Some(false),
            },
            ViewSpec {
                name: "components",
                metrics: &[],
                region_keyed: Some(false),
            },
        ],
        by: &[],
        period_kinds: &["month"],
        filters: &["region", "level", "tier"],
    },
    AnalyticSpec {
        name: "history",
        views: &[ViewSpec {
            name: "periods",
            metrics: &[
                "services",
                "free_services",
                "satisfaction_rate",
                "degree_share",
                "service_revenue_share",
            ],
            region_keyed: Some(false),
        }],
        by: &[],
        period_kinds: ALL_KINDS,
        filters: &["platform"],
    },
];

/// Chart types and whether they need a metric.
pub const CHARTS: &[(&str, bool)] = &[
    ("map", true),
    ("bar", true),
    ("hbar", true),
    ("line", true),
    ("stacked_bar", false),
    ("pie", true),
    ("headline", false),
    ("table", false),
];

/// Default-filter keys a panel may set.
pub(super) const DEFAULT_KEYS: &[&str] = &[
    "by",
    "period_kind",
    "function",
    "industry",
    "enterprise_size",
    "level",
    "tier",
];
